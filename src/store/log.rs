//! The append-only results log, `results.log`: the source of truth of a run.
//!
//! # Format (version 1)
//!
//! ```text
//! header:  b"QTOMOLOG" (8 bytes) | format version (u32 LE)
//! frame*:  payload length (u32 LE) | crc32 of payload (u32 LE) | payload
//! ```
//!
//! The payload is a [`SampleRecord`] encoded with postcard. Payloads are never
//! empty and never longer than [`MAX_PAYLOAD_LEN`]; a frame claiming a length
//! of zero (e.g. a zero-filled region left by a power cut) is a defect.
//!
//! Every open of the log uses `O_NOFOLLOW`: a `results.log` that is a
//! symbolic link (dangling or not) is refused, never written through.
//!
//! # Writing
//!
//! Several processes may append to one log at once. Each [`LogWriter`] opens
//! the file with `O_APPEND`, builds one whole frame in memory, takes an
//! exclusive `flock` (std [`File::lock`]) on its own handle, writes the frame
//! with one `write_all`, and unlocks. Should the write fail midway (disk
//! full), the writer truncates the partial frame away before unlocking, so a
//! failed append never leaves a damaged frame in front of other writers'
//! frames.
//!
//! Durability: by default ([`SyncPolicy::Interval`] of 1 s) a writer calls
//! `sync_data` after an append when its previous sync is older than one
//! second, and [`LogWriter::flush_sync`] (also run on drop) syncs what is
//! left. A power cut therefore loses at most about one second of results per
//! writer; those samples are simply absent from the log and are recomputed on
//! resume. A process crash (SIGKILL) loses nothing that `write` returned for.
//!
//! # Reading and repair
//!
//! [`LogReader`] walks the frames. A defective frame (short, implausible
//! length, checksum mismatch) is classified by what follows it:
//!
//! * no valid frame anywhere after it: a **torn tail**, the expected result of
//!   a crash or power cut during the last append. [`ScanResult::torn_tail`]
//!   describes it, and [`truncate_torn_tail`] cuts it off before a resumed
//!   run appends again.
//! * a valid frame somewhere after it: a **damaged region** in the middle of
//!   the log ([`SkippedRegion`]: a worker killed mid-append, a flipped bit on
//!   disk). The reader resynchronises on the next valid frame and lists the
//!   region ([`LogReader::skipped`], [`ScanResult::skipped`]); the record
//!   that was there does not count, so its sample is pending again.
//!
//! A frame whose checksum matches but whose payload does not decode as a
//! whole [`SampleRecord`] is damage too ([`FrameDefect::Undecodable`]): it
//! is listed like a damaged region and never counts as a finished sample.
//! Every reader that counts records ([`LogReader::next_head`] as well as
//! [`LogReader::next_record`]) decodes the whole record to decide this, so
//! resume, `status`, export and merge agree on what is done.
//!
//! `status` reports damaged regions; a resumed run ([`open_run`]) logs
//! them, rewrites the log without them ([`remove_damage`]) and recomputes
//! the samples that were lost. Readers that find a region they cannot
//! tolerate report it as [`LogError::Corrupt`] (as [`LogReader::scan_strict`]
//! does).
//!
//! [`open_run`]: super::open_run

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::atomic::{parent_dir, sync_dir, temp_path_for};
use super::format::{FormatVersion, FormatVersionError};
use super::fsutil::{open_nofollow, open_read_nofollow};
use super::record::{RecordHead, SampleRecord};

/// Magic bytes at offset 0 of every results log.
pub const LOG_MAGIC: [u8; 8] = *b"QTOMOLOG";

/// Length of the file header: magic plus u32 version.
pub const HEADER_LEN: u64 = 12;

/// Length of a frame header: u32 length plus u32 checksum.
pub const FRAME_HEADER_LEN: u64 = 8;

/// Largest payload a frame may carry (64 MiB). Larger lengths are treated as
/// damage, which bounds what a corrupted length field can make a reader do.
pub const MAX_PAYLOAD_LEN: u32 = 64 << 20;

/// Frames are written in chunks of about this size by
/// [`LogWriter::append_batch`].
const BATCH_CHUNK: usize = 1 << 20;

/// Errors reading, writing or repairing a results log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// An I/O operation on the log failed.
    #[error("could not {action} results log {path}")]
    Io {
        /// What was being done ("open", "append to", "lock", ...).
        action: &'static str,
        /// The log file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// The file does not start with [`LOG_MAGIC`].
    #[error("{path} is not a qtomo results log: expected magic bytes \"QTOMOLOG\" at offset 0")]
    BadMagic {
        /// The file.
        path: PathBuf,
    },
    /// The log's format version cannot be read by this build.
    #[error("results log {path} cannot be read by this build")]
    Version {
        /// The log file.
        path: PathBuf,
        /// Why the version is unreadable.
        #[source]
        source: FormatVersionError,
    },
    /// Appending would mix frames of two format versions.
    #[error(
        "results log {path} has format version {found}; this build only appends to version {current}"
    )]
    AppendVersion {
        /// The log file.
        path: PathBuf,
        /// Version in the file header.
        found: FormatVersion,
        /// Version this build writes.
        current: FormatVersion,
    },
    /// The file is shorter than its header; a resume truncates it first.
    #[error(
        "results log {path} has a torn header ({len} of 12 bytes); scan and truncate its torn tail before appending"
    )]
    TornHeader {
        /// The log file.
        path: PathBuf,
        /// Length of the file in bytes.
        len: u64,
    },
    /// A damaged frame is followed by valid frames.
    #[error(
        "results log {path} is corrupt at byte offset {offset} ({defect}); a valid frame follows at byte offset {next_valid}"
    )]
    Corrupt {
        /// The log file.
        path: PathBuf,
        /// Byte offset of the damaged frame.
        offset: u64,
        /// What is wrong with it.
        defect: FrameDefect,
        /// Byte offset of the first valid frame after it.
        next_valid: u64,
    },
    /// A frame that validated during a scan no longer does when re-read.
    #[error(
        "the frame at byte offset {offset} of results log {path} no longer validates ({defect}); was the log modified while it was read?"
    )]
    FrameChanged {
        /// The log file.
        path: PathBuf,
        /// Byte offset of the frame.
        offset: u64,
        /// What is wrong with it now.
        defect: FrameDefect,
    },
    /// A frame passed its checksum but its payload is not a record.
    #[error("could not decode the record at byte offset {offset} of results log {path}")]
    Decode {
        /// The log file.
        path: PathBuf,
        /// Byte offset of the frame.
        offset: u64,
        /// The decoding error.
        #[source]
        source: postcard::Error,
    },
    /// A record could not be encoded.
    #[error("could not encode the record of sample {index}")]
    Encode {
        /// The record's sample index.
        index: u64,
        /// The encoding error.
        #[source]
        source: postcard::Error,
    },
    /// A record is larger than a frame may be.
    #[error("the record of sample {index} is {len} bytes, over the {max}-byte frame limit")]
    TooLarge {
        /// The record's sample index.
        index: u64,
        /// Encoded length.
        len: usize,
        /// [`MAX_PAYLOAD_LEN`].
        max: u32,
    },
    /// The file changed between a scan and a truncation.
    #[error(
        "results log {path} changed since it was scanned (expected {expected} bytes, found {found}); is another run writing to it?"
    )]
    ChangedSinceScan {
        /// The log file.
        path: PathBuf,
        /// Length seen by the scan.
        expected: u64,
        /// Length found now.
        found: u64,
    },
}

impl LogError {
    fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LogError + 'a {
        move |source| LogError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What is wrong with a frame that failed validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameDefect {
    /// The file is shorter than its 12-byte header.
    #[error("truncated file header: {available} of 12 bytes")]
    TruncatedFileHeader {
        /// Bytes present.
        available: u64,
    },
    /// Fewer than 8 bytes of frame header before the end of the file.
    #[error("truncated frame header: {available} of 8 bytes")]
    TruncatedHeader {
        /// Bytes present.
        available: u64,
    },
    /// Length zero or above [`MAX_PAYLOAD_LEN`].
    #[error("implausible payload length {len}")]
    ImplausibleLength {
        /// Length field as stored.
        len: u32,
    },
    /// The payload runs past the end of the file.
    #[error(
        "payload of {expected} bytes runs past the end of the file ({available} bytes present)"
    )]
    TruncatedPayload {
        /// Length field as stored.
        expected: u32,
        /// Payload bytes present.
        available: u64,
    },
    /// The payload does not match its checksum.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// Checksum field as stored.
        stored: u32,
        /// Checksum of the bytes present.
        computed: u32,
    },
    /// The checksum matches but the payload is not a whole record.
    #[error("checksum matches but the record does not decode")]
    Undecodable,
}

/// A damaged final stretch of the log with no valid frame after it: the
/// remains of an append interrupted by a crash or power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TornTail {
    /// Byte offset where the torn stretch starts (= the valid length).
    pub offset: u64,
    /// Number of bytes from `offset` to the end of the file.
    pub len: u64,
    /// What is wrong with the frame at `offset`.
    pub defect: FrameDefect,
}

/// When a [`LogWriter`] calls `sync_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// After every append: at most one record lost on power cut, slowest.
    EveryRecord,
    /// After an append when the last sync is older than the interval. The
    /// check runs on append, so a writer that goes idle should call
    /// [`LogWriter::flush_sync`] (dropping the writer also syncs).
    Interval(Duration),
    /// Only in [`LogWriter::flush_sync`] and on drop.
    OnFlush,
}

impl Default for SyncPolicy {
    /// One second: a power cut loses at most about a second of results.
    fn default() -> Self {
        SyncPolicy::Interval(Duration::from_secs(1))
    }
}

/// Appends framed records to a results log; safe to use from several
/// processes (and several handles in one process) at once.
#[derive(Debug)]
pub struct LogWriter {
    file: File,
    path: PathBuf,
    policy: SyncPolicy,
    last_sync: Instant,
    unsynced: bool,
    buf: Vec<u8>,
}

impl LogWriter {
    /// Opens `path` for appending, creating it with a header if it does not
    /// exist or is empty.
    ///
    /// An existing log must carry the current format version and a whole
    /// header; a log with a torn tail should be repaired with
    /// [`truncate_torn_tail`] first (appending after a torn frame would turn
    /// it into corruption).
    pub fn open(path: &Path, policy: SyncPolicy) -> Result<LogWriter, LogError> {
        let file = open_nofollow(
            OpenOptions::new().read(true).append(true).create(true),
            path,
        )
        .map_err(LogError::io("open", path))?;
        file.lock().map_err(LogError::io("lock", path))?;
        let checked = Self::init_header(&file, path);
        let unlocked = file.unlock().map_err(LogError::io("unlock", path));
        let created = checked?;
        unlocked?;
        if created {
            sync_dir(parent_dir(path)).map_err(LogError::io("fsync the directory of", path))?;
        }
        Ok(LogWriter {
            file,
            path: path.to_path_buf(),
            policy,
            last_sync: Instant::now(),
            unsynced: false,
            buf: Vec::new(),
        })
    }

    /// Writes the header into an empty file, or checks an existing one.
    /// Called with the lock held. Returns true when the header was written.
    fn init_header(mut file: &File, path: &Path) -> Result<bool, LogError> {
        let len = file.metadata().map_err(LogError::io("stat", path))?.len();
        if len == 0 {
            file.write_all(&header_bytes(FormatVersion::CURRENT))
                .map_err(LogError::io("write the header of", path))?;
            file.sync_data().map_err(LogError::io("fsync", path))?;
            return Ok(true);
        }
        if len < HEADER_LEN {
            return Err(LogError::TornHeader {
                path: path.to_path_buf(),
                len,
            });
        }
        let mut header = [0u8; HEADER_LEN as usize];
        file.read_exact_at(&mut header, 0)
            .map_err(LogError::io("read the header of", path))?;
        let version = parse_header(&header, path)?;
        if version != FormatVersion::CURRENT {
            return Err(LogError::AppendVersion {
                path: path.to_path_buf(),
                found: version,
                current: FormatVersion::CURRENT,
            });
        }
        Ok(false)
    }

    /// The log file this writer appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record as one frame, under the exclusive lock, then syncs
    /// if the [`SyncPolicy`] says so.
    pub fn append(&mut self, record: &SampleRecord) -> Result<(), LogError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let encoded = encode_frame(record, &mut buf);
        let written = encoded.and_then(|()| self.write_locked(&[&buf]));
        self.buf = buf;
        written?;
        self.after_write()
    }

    /// Appends many records while holding the lock once, writing whole
    /// frames in chunks of about 1 MiB. Used by merge and by tests and
    /// benchmarks that build large logs.
    pub fn append_batch<'a, I>(&mut self, records: I) -> Result<(), LogError>
    where
        I: IntoIterator<Item = &'a SampleRecord>,
    {
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        let mut cur = Vec::with_capacity(BATCH_CHUNK);
        for record in records {
            encode_frame(record, &mut cur)?;
            if cur.len() >= BATCH_CHUNK {
                chunks.push(std::mem::replace(&mut cur, Vec::with_capacity(BATCH_CHUNK)));
            }
        }
        if !cur.is_empty() {
            chunks.push(cur);
        }
        let slices: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        self.write_locked(&slices)?;
        self.after_write()
    }

    /// Appends already framed bytes (whole frames only) under the lock.
    pub(crate) fn append_framed(&mut self, frames: &[u8]) -> Result<(), LogError> {
        self.write_locked(&[frames])?;
        self.after_write()
    }

    /// Takes the lock, writes each chunk with `write_all`, and on failure
    /// truncates the file back to its length before the failed chunk.
    fn write_locked(&mut self, chunks: &[&[u8]]) -> Result<(), LogError> {
        let path = &self.path;
        self.file.lock().map_err(LogError::io("lock", path))?;
        let result = (|| {
            let mut good_len = self
                .file
                .metadata()
                .map_err(LogError::io("stat", path))?
                .len();
            for chunk in chunks {
                if let Err(source) = self.file.write_all(chunk) {
                    // Do not leave a partial frame in front of other
                    // writers' frames; best effort, the write error wins.
                    let _ = self.file.set_len(good_len);
                    return Err(LogError::Io {
                        action: "append to",
                        path: path.clone(),
                        source,
                    });
                }
                good_len += chunk.len() as u64;
            }
            Ok(())
        })();
        let unlocked = self.file.unlock().map_err(LogError::io("unlock", path));
        result?;
        unlocked
    }

    fn after_write(&mut self) -> Result<(), LogError> {
        self.unsynced = true;
        let due = match self.policy {
            SyncPolicy::EveryRecord => true,
            SyncPolicy::Interval(every) => self.last_sync.elapsed() >= every,
            SyncPolicy::OnFlush => false,
        };
        if due { self.flush_sync() } else { Ok(()) }
    }

    /// Makes every record appended so far durable (`sync_data`).
    pub fn flush_sync(&mut self) -> Result<(), LogError> {
        if self.unsynced {
            self.file
                .sync_data()
                .map_err(LogError::io("fsync", &self.path))?;
            self.unsynced = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        if self.unsynced {
            // Best effort; callers that need to know call flush_sync.
            let _ = self.file.sync_data();
        }
    }
}

/// The 12 header bytes of a log in format `version`.
fn header_bytes(version: FormatVersion) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(&LOG_MAGIC);
    h[8..].copy_from_slice(&version.0.to_le_bytes());
    h
}

fn parse_header(
    header: &[u8; HEADER_LEN as usize],
    path: &Path,
) -> Result<FormatVersion, LogError> {
    if header[..8] != LOG_MAGIC {
        return Err(LogError::BadMagic {
            path: path.to_path_buf(),
        });
    }
    let version = FormatVersion(u32::from_le_bytes([
        header[8], header[9], header[10], header[11],
    ]));
    version
        .check_readable_by(FormatVersion::CURRENT)
        .map_err(|source| LogError::Version {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(version)
}

/// Appends the frame of `record` (header, then postcard payload) to `buf`.
pub(crate) fn encode_frame(record: &SampleRecord, buf: &mut Vec<u8>) -> Result<(), LogError> {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; FRAME_HEADER_LEN as usize]);
    if let Err(source) = postcard::to_io(record, &mut *buf) {
        buf.truncate(start);
        return Err(LogError::Encode {
            index: record.index,
            source,
        });
    }
    let payload_start = start + FRAME_HEADER_LEN as usize;
    let len = buf.len() - payload_start;
    if len > MAX_PAYLOAD_LEN as usize {
        buf.truncate(start);
        return Err(LogError::TooLarge {
            index: record.index,
            len,
            max: MAX_PAYLOAD_LEN,
        });
    }
    let crc = crc32fast::hash(&buf[payload_start..]);
    buf[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
    buf[start + 4..payload_start].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Appends a frame around an already encoded payload to `buf`.
pub(crate) fn frame_payload(payload: &[u8], buf: &mut Vec<u8>) {
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    buf.extend_from_slice(payload);
}

fn plausible_len(len: u32) -> bool {
    len != 0 && len <= MAX_PAYLOAD_LEN
}

/// One valid frame returned by [`LogReader::next_frame`].
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Byte offset of the frame header in the file.
    pub offset: u64,
    /// The checksummed payload.
    pub payload: &'a [u8],
}

/// Everything a full scan of a log found.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanResult {
    /// Every valid record, in file order (duplicates included).
    pub records: Vec<SampleRecord>,
    /// Length of the valid prefix of the file (header plus valid frames).
    pub valid_len: u64,
    /// The torn final stretch, if any; see [`truncate_torn_tail`].
    pub torn_tail: Option<TornTail>,
    /// Format version from the header.
    pub version: FormatVersion,
    /// Damaged regions in the middle of the log that were skipped.
    pub skipped: Vec<SkippedRegion>,
}

/// Reads the frames of a results log sequentially, validating each.
///
/// The reader sees the file as it was when opened: frames appended later
/// are not read, and an append in progress at that moment shows up as a
/// torn tail (harmless for read-only uses such as `status`).
#[derive(Debug)]
pub struct LogReader {
    reader: BufReader<File>,
    path: PathBuf,
    version: FormatVersion,
    pos: u64,
    end: u64,
    payload: Vec<u8>,
    torn_tail: Option<TornTail>,
    skipped: Vec<SkippedRegion>,
}

/// A damaged stretch in the middle of a log that the reader skipped because
/// a valid frame follows it.
///
/// The usual cause is a worker killed (SIGKILL, OOM killer) in the middle of
/// a large append: the kernel releases its flock, and the next worker's
/// frame lands after the partial one. The partial record never counted, so
/// its sample is simply computed again; no finished sample is lost. A bit
/// flip on disk shows up the same way and has the same effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkippedRegion {
    /// Byte offset where the damage starts.
    pub offset: u64,
    /// Number of bytes skipped.
    pub len: u64,
    /// What was wrong with the frame at `offset`.
    pub defect: FrameDefect,
}

impl LogReader {
    /// Opens a log and checks its header.
    ///
    /// An empty file is an empty log. A file shorter than the header whose
    /// bytes are a prefix of a valid header is an empty log with a torn tail
    /// at offset 0.
    pub fn open(path: &Path) -> Result<LogReader, LogError> {
        let file = open_read_nofollow(path).map_err(LogError::io("open", path))?;
        let len = file.metadata().map_err(LogError::io("stat", path))?.len();
        let mut reader = BufReader::with_capacity(1 << 20, file);
        if len < HEADER_LEN {
            let mut partial = vec![0u8; len as usize];
            reader
                .read_exact(&mut partial)
                .map_err(LogError::io("read the header of", path))?;
            let magic_len = partial.len().min(LOG_MAGIC.len());
            if partial[..magic_len] != LOG_MAGIC[..magic_len] {
                return Err(LogError::BadMagic {
                    path: path.to_path_buf(),
                });
            }
            let torn_tail = (len > 0).then_some(TornTail {
                offset: 0,
                len,
                defect: FrameDefect::TruncatedFileHeader { available: len },
            });
            return Ok(LogReader {
                reader,
                path: path.to_path_buf(),
                version: FormatVersion::CURRENT,
                pos: 0,
                end: 0,
                payload: Vec::new(),
                torn_tail,
                skipped: Vec::new(),
            });
        }
        let mut header = [0u8; HEADER_LEN as usize];
        reader
            .read_exact(&mut header)
            .map_err(LogError::io("read the header of", path))?;
        let version = parse_header(&header, path)?;
        Ok(LogReader {
            reader,
            path: path.to_path_buf(),
            version,
            pos: HEADER_LEN,
            end: len,
            payload: Vec::new(),
            torn_tail: None,
            skipped: Vec::new(),
        })
    }

    /// The format version in the header.
    pub fn version(&self) -> FormatVersion {
        self.version
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Length of the valid prefix read so far (header plus valid frames).
    pub fn valid_len(&self) -> u64 {
        self.pos
    }

    /// Damaged regions skipped so far (see [`SkippedRegion`]).
    pub fn skipped(&self) -> &[SkippedRegion] {
        &self.skipped
    }

    /// The torn tail, once [`LogReader::next_frame`] has reached it.
    pub fn torn_tail(&self) -> Option<TornTail> {
        self.torn_tail
    }

    /// Returns the next valid frame, `None` at the end of the log or at a
    /// torn tail (see [`LogReader::torn_tail`]), or [`LogError::Corrupt`]
    /// for a damaged frame followed by a valid one.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, LogError> {
        if self.torn_tail.is_some() || self.pos >= self.end {
            return Ok(None);
        }
        let offset = self.pos;
        let available = self.end - offset;
        let defect = if available < FRAME_HEADER_LEN {
            FrameDefect::TruncatedHeader { available }
        } else {
            let mut head = [0u8; FRAME_HEADER_LEN as usize];
            self.reader
                .read_exact(&mut head)
                .map_err(LogError::io("read", &self.path))?;
            let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
            let stored = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            let body = available - FRAME_HEADER_LEN;
            if !plausible_len(len) {
                FrameDefect::ImplausibleLength { len }
            } else if u64::from(len) > body {
                FrameDefect::TruncatedPayload {
                    expected: len,
                    available: body,
                }
            } else {
                self.payload.resize(len as usize, 0);
                self.reader
                    .read_exact(&mut self.payload)
                    .map_err(LogError::io("read", &self.path))?;
                let computed = crc32fast::hash(&self.payload);
                if computed == stored {
                    self.pos = offset + FRAME_HEADER_LEN + u64::from(len);
                    return Ok(Some(Frame {
                        offset,
                        payload: &self.payload,
                    }));
                }
                FrameDefect::ChecksumMismatch { stored, computed }
            }
        };
        match find_valid_frame(self.reader.get_ref(), offset + 1, self.end, &self.path)? {
            Some(next_valid) => {
                // Resynchronise on the next valid frame (see SkippedRegion).
                self.skipped.push(SkippedRegion {
                    offset,
                    len: next_valid - offset,
                    defect,
                });
                self.reader
                    .seek(SeekFrom::Start(next_valid))
                    .map_err(LogError::io("seek", &self.path))?;
                self.pos = next_valid;
                self.next_frame()
            }
            None => {
                self.torn_tail = Some(TornTail {
                    offset,
                    len: available,
                    defect,
                });
                Ok(None)
            }
        }
    }

    /// Returns the next valid record, fully decoded, with its offset. A
    /// frame whose payload does not decode is listed as damage
    /// ([`FrameDefect::Undecodable`]) and skipped.
    pub fn next_record(&mut self) -> Result<Option<(u64, SampleRecord)>, LogError> {
        loop {
            let Some(frame) = self.next_frame()? else {
                return Ok(None);
            };
            let (offset, len) = (frame.offset, frame.payload.len() as u64);
            match postcard::from_bytes::<SampleRecord>(frame.payload) {
                Ok(record) => return Ok(Some((offset, record))),
                Err(_) => self.undecodable(offset, len),
            }
        }
    }

    /// Returns the bookkeeping head of the next valid record, with its
    /// offset. The whole record is decoded to check it (a frame whose
    /// payload does not decode is listed as damage and skipped), but only
    /// the head is returned.
    pub fn next_head(&mut self) -> Result<Option<(u64, RecordHead)>, LogError> {
        loop {
            let Some(frame) = self.next_frame()? else {
                return Ok(None);
            };
            let (offset, len) = (frame.offset, frame.payload.len() as u64);
            let head = RecordHead::decode(frame.payload)
                .ok()
                .filter(|_| postcard::from_bytes::<SampleRecord>(frame.payload).is_ok());
            match head {
                Some(head) => return Ok(Some((offset, head))),
                None => self.undecodable(offset, len),
            }
        }
    }

    /// Lists the frame at `offset` (payload of `len` bytes) as damage.
    fn undecodable(&mut self, offset: u64, len: u64) {
        self.skipped.push(SkippedRegion {
            offset,
            len: FRAME_HEADER_LEN + len,
            defect: FrameDefect::Undecodable,
        });
    }

    /// Length of the file as it was when the reader opened it.
    pub fn file_len(&self) -> u64 {
        self.end.max(self.torn_tail.map_or(0, |t| t.offset + t.len))
    }

    /// Like [`LogReader::scan`], but the first damaged region in the
    /// middle of the log is an error ([`LogError::Corrupt`]) rather than
    /// skipped; a torn tail is still only reported.
    pub fn scan_strict(path: &Path) -> Result<ScanResult, LogError> {
        let scan = LogReader::scan(path)?;
        if let Some(region) = scan.skipped.first() {
            return Err(LogError::Corrupt {
                path: path.to_path_buf(),
                offset: region.offset,
                defect: region.defect,
                next_valid: region.offset + region.len,
            });
        }
        Ok(scan)
    }

    /// Reads and decodes every record of the log at `path`.
    ///
    /// Holds every record in memory; for bookkeeping over large logs use
    /// [`LogReader::next_head`] (as [`ResumeState::from_log`] does).
    ///
    /// [`ResumeState::from_log`]: super::ResumeState::from_log
    pub fn scan(path: &Path) -> Result<ScanResult, LogError> {
        let mut reader = LogReader::open(path)?;
        let mut records = Vec::new();
        while let Some((_, record)) = reader.next_record()? {
            records.push(record);
        }
        Ok(ScanResult {
            records,
            valid_len: reader.valid_len(),
            torn_tail: reader.torn_tail(),
            version: reader.version(),
            skipped: reader.skipped.clone(),
        })
    }
}

/// Reads the checksummed payload of the frame at `offset` (an offset
/// returned by [`LogReader`]) into `scratch`.
pub(crate) fn read_payload_at(
    file: &File,
    path: &Path,
    offset: u64,
    scratch: &mut Vec<u8>,
) -> Result<(), LogError> {
    let mut head = [0u8; FRAME_HEADER_LEN as usize];
    file.read_exact_at(&mut head, offset)
        .map_err(LogError::io("read", path))?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let stored = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let corrupt = |defect| LogError::FrameChanged {
        path: path.to_path_buf(),
        offset,
        defect,
    };
    if !plausible_len(len) {
        return Err(corrupt(FrameDefect::ImplausibleLength { len }));
    }
    scratch.resize(len as usize, 0);
    file.read_exact_at(scratch, offset + FRAME_HEADER_LEN)
        .map_err(LogError::io("read", path))?;
    let computed = crc32fast::hash(scratch);
    if computed != stored {
        return Err(corrupt(FrameDefect::ChecksumMismatch { stored, computed }));
    }
    Ok(())
}

/// Reads and decodes the record whose frame starts at `offset` (an offset
/// returned by [`LogReader`]), re-checking its checksum.
pub(crate) fn read_record_at(
    file: &File,
    path: &Path,
    offset: u64,
    scratch: &mut Vec<u8>,
) -> Result<SampleRecord, LogError> {
    read_payload_at(file, path, offset, scratch)?;
    postcard::from_bytes(scratch).map_err(|source| LogError::Decode {
        path: path.to_path_buf(),
        offset,
        source,
    })
}

/// Searches `[from, end)` for the first offset holding a valid frame: a
/// plausible length that fits, a matching checksum and a decodable record
/// head. Reads through a sliding window, so memory stays bounded.
fn find_valid_frame(
    file: &File,
    from: u64,
    end: u64,
    path: &Path,
) -> Result<Option<u64>, LogError> {
    const WINDOW: u64 = 1 << 20;
    let mut window: Vec<u8> = Vec::new();
    let mut window_start = from;
    let mut scratch: Vec<u8> = Vec::new();
    let mut offset = from;
    while offset + FRAME_HEADER_LEN < end {
        let window_end = window_start + window.len() as u64;
        if offset + FRAME_HEADER_LEN > window_end {
            window_start = offset;
            let n = WINDOW.min(end - offset) as usize;
            window.resize(n, 0);
            file.read_exact_at(&mut window, offset)
                .map_err(LogError::io("read", path))?;
        }
        let window_end = window_start + window.len() as u64;
        let i = (offset - window_start) as usize;
        let len = u32::from_le_bytes([window[i], window[i + 1], window[i + 2], window[i + 3]]);
        let stored =
            u32::from_le_bytes([window[i + 4], window[i + 5], window[i + 6], window[i + 7]]);
        let payload_start = offset + FRAME_HEADER_LEN;
        if plausible_len(len) && payload_start + u64::from(len) <= end {
            let payload_end = payload_start + u64::from(len);
            let payload: &[u8] = if payload_end <= window_end {
                &window
                    [(payload_start - window_start) as usize..(payload_end - window_start) as usize]
            } else {
                scratch.resize(len as usize, 0);
                file.read_exact_at(&mut scratch, payload_start)
                    .map_err(LogError::io("read", path))?;
                &scratch
            };
            if crc32fast::hash(payload) == stored && RecordHead::decode(payload).is_ok() {
                return Ok(Some(offset));
            }
        }
        offset += 1;
    }
    Ok(None)
}

/// Rewrites the log at `path` without the damaged regions `damaged` and
/// without the torn tail `tail` (both as found by a scan of a file of
/// `scanned_len` bytes), keeping every valid frame byte for byte.
///
/// The new log is written to a temporary file next to it, fsynced and
/// renamed over it, so a crash leaves either the old or the new log. Call it
/// only while holding the run lock; like [`truncate_torn_tail`] it takes the
/// writers' lock on the file and refuses with [`LogError::ChangedSinceScan`]
/// if the file length no longer matches the scan.
pub fn remove_damage(
    path: &Path,
    damaged: &[SkippedRegion],
    tail: Option<&TornTail>,
    scanned_len: u64,
) -> Result<(), LogError> {
    let file = open_nofollow(OpenOptions::new().read(true).write(true), path)
        .map_err(LogError::io("open", path))?;
    file.lock().map_err(LogError::io("lock", path))?;
    let result = (|| {
        let found = file.metadata().map_err(LogError::io("stat", path))?.len();
        if found != scanned_len {
            return Err(LogError::ChangedSinceScan {
                path: path.to_path_buf(),
                expected: scanned_len,
                found,
            });
        }
        let mut keep = Vec::new();
        let mut pos = 0;
        let mut regions = damaged.to_vec();
        regions.sort_by_key(|r| r.offset);
        for r in &regions {
            if r.offset > pos {
                keep.push(pos..r.offset);
            }
            pos = pos.max(r.offset + r.len);
        }
        let end = tail.map_or(scanned_len, |t| t.offset);
        if end > pos {
            keep.push(pos..end);
        }
        let tmp = temp_path_for(path);
        let copied = copy_ranges(&file, &tmp, &keep).map_err(LogError::io("rewrite", path));
        if copied.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        copied?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            LogError::Io {
                action: "replace",
                path: path.to_path_buf(),
                source: e,
            }
        })?;
        sync_dir(parent_dir(path)).map_err(LogError::io("fsync the directory of", path))
    })();
    let unlocked = file.unlock().map_err(LogError::io("unlock", path));
    result?;
    unlocked
}

/// Writes the byte ranges `keep` of `src` to a new file `dest`, fsynced.
fn copy_ranges(src: &File, dest: &Path, keep: &[std::ops::Range<u64>]) -> io::Result<()> {
    let mut out = open_nofollow(OpenOptions::new().write(true).create_new(true), dest)?;
    let mut buf = vec![0u8; 1 << 20];
    for range in keep {
        let mut at = range.start;
        while at < range.end {
            let n = ((range.end - at) as usize).min(buf.len());
            src.read_exact_at(&mut buf[..n], at)?;
            out.write_all(&buf[..n])?;
            at += n as u64;
        }
    }
    out.sync_all()
}

/// Cuts a torn tail found by a scan off the log, so that appends can go on.
///
/// Call it only while holding the run lock ([`RunLock`]): it refuses with
/// [`LogError::ChangedSinceScan`] if the file length no longer matches the
/// scan, which is what a concurrent writer would cause.
///
/// [`RunLock`]: super::RunLock
pub fn truncate_torn_tail(path: &Path, tail: &TornTail) -> Result<(), LogError> {
    let file =
        open_nofollow(OpenOptions::new().write(true), path).map_err(LogError::io("open", path))?;
    file.lock().map_err(LogError::io("lock", path))?;
    let result = (|| {
        let found = file.metadata().map_err(LogError::io("stat", path))?.len();
        let expected = tail.offset + tail.len;
        if found != expected {
            return Err(LogError::ChangedSinceScan {
                path: path.to_path_buf(),
                expected,
                found,
            });
        }
        file.set_len(tail.offset)
            .map_err(LogError::io("truncate", path))?;
        file.sync_all().map_err(LogError::io("fsync", path))
    })();
    let unlocked = file.unlock().map_err(LogError::io("unlock", path));
    result?;
    unlocked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record::test_support::record;
    use std::fs;

    const METHODS: &[&str] = &["mle", "pls", "linear"];

    fn write_log(path: &Path, records: &[SampleRecord]) -> Vec<u64> {
        let mut w = LogWriter::open(path, SyncPolicy::OnFlush).unwrap();
        let mut ends = vec![fs::metadata(path).unwrap().len()];
        for r in records {
            w.append(r).unwrap();
            ends.push(fs::metadata(path).unwrap().len());
        }
        w.flush_sync().unwrap();
        ends
    }

    fn sample_records(n: u64) -> Vec<SampleRecord> {
        (0..n)
            .map(|i| record(i, i % 4 != 3, METHODS, 1 + (i as u32 % 4)))
            .collect()
    }

    #[test]
    fn frame_round_trip_and_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.log");
        let records = sample_records(20);
        let ends = write_log(&path, &records);
        let bytes = fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"QTOMOLOG");
        assert_eq!(
            &bytes[8..12],
            &crate::store::FormatVersion::CURRENT.0.to_le_bytes()
        );
        let len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(bytes[16..20].try_into().unwrap());
        assert_eq!(crc, crc32fast::hash(&bytes[20..20 + len]));
        assert_eq!(20 + len as u64, ends[1]);

        let scan = LogReader::scan(&path).unwrap();
        assert_eq!(scan.records, records);
        assert_eq!(scan.valid_len, bytes.len() as u64);
        assert_eq!(scan.torn_tail, None);
        assert_eq!(scan.version, FormatVersion::CURRENT);

        // Reopening appends after the existing frames.
        let more = record(20, true, METHODS, 2);
        let mut w = LogWriter::open(&path, SyncPolicy::EveryRecord).unwrap();
        w.append(&more).unwrap();
        let scan = LogReader::scan(&path).unwrap();
        assert_eq!(scan.records.len(), 21);
        assert_eq!(scan.records[20], more);
    }

    #[test]
    fn batch_append_matches_single_appends() {
        let dir = tempfile::tempdir().unwrap();
        let records = sample_records(50);
        let a = dir.path().join("a.log");
        write_log(&a, &records);
        let b = dir.path().join("b.log");
        let mut w = LogWriter::open(&b, SyncPolicy::default()).unwrap();
        w.append_batch(&records).unwrap();
        w.flush_sync().unwrap();
        assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());
    }

    #[test]
    fn torn_tail_at_every_offset_of_last_record() {
        let dir = tempfile::tempdir().unwrap();
        let full = dir.path().join("full.log");
        let records = sample_records(5);
        let ends = write_log(&full, &records);
        let bytes = fs::read(&full).unwrap();
        let (last_start, last_end) = (ends[4], ends[5]);
        let cut_path = dir.path().join("cut.log");
        for cut in last_start..last_end {
            fs::write(&cut_path, &bytes[..cut as usize]).unwrap();
            let scan = LogReader::scan(&cut_path).unwrap();
            assert_eq!(scan.records, records[..4], "cut at {cut}");
            assert_eq!(scan.valid_len, last_start, "cut at {cut}");
            if cut == last_start {
                assert_eq!(scan.torn_tail, None);
                continue;
            }
            let tail = scan.torn_tail.expect("torn tail flagged");
            assert_eq!(tail.offset, last_start);
            assert_eq!(tail.len, cut - last_start);
            truncate_torn_tail(&cut_path, &tail).unwrap();
            assert_eq!(fs::metadata(&cut_path).unwrap().len(), last_start);
            // Appending after the repair gives a clean log again.
            let mut w = LogWriter::open(&cut_path, SyncPolicy::OnFlush).unwrap();
            w.append(&records[4]).unwrap();
            drop(w);
            let scan = LogReader::scan(&cut_path).unwrap();
            assert_eq!(scan.records, records, "cut at {cut}");
            assert_eq!(scan.torn_tail, None);
        }
    }

    #[test]
    fn torn_header_is_an_empty_log_with_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.log");
        let header = header_bytes(FormatVersion::CURRENT);
        for cut in 0..HEADER_LEN as usize {
            fs::write(&path, &header[..cut]).unwrap();
            let scan = LogReader::scan(&path).unwrap();
            assert!(scan.records.is_empty());
            assert_eq!(scan.valid_len, 0);
            assert_eq!(
                scan.torn_tail.map(|t| t.len),
                (cut > 0).then_some(cut as u64)
            );
            if cut > 0 {
                assert!(matches!(
                    LogWriter::open(&path, SyncPolicy::OnFlush),
                    Err(LogError::TornHeader { .. })
                ));
                truncate_torn_tail(&path, &scan.torn_tail.unwrap()).unwrap();
            }
            let mut w = LogWriter::open(&path, SyncPolicy::OnFlush).unwrap();
            w.append(&record(0, true, METHODS, 1)).unwrap();
            drop(w);
            assert_eq!(LogReader::scan(&path).unwrap().records.len(), 1);
        }
    }

    #[test]
    fn checksum_failing_final_frame_is_torn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.log");
        let records = sample_records(3);
        let ends = write_log(&path, &records);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        fs::write(&path, &bytes).unwrap();
        let scan = LogReader::scan(&path).unwrap();
        assert_eq!(scan.records, records[..2]);
        let tail = scan.torn_tail.unwrap();
        assert_eq!(tail.offset, ends[2]);
        assert!(matches!(tail.defect, FrameDefect::ChecksumMismatch { .. }));
    }

    #[test]
    fn zero_filled_tail_is_torn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.log");
        let records = sample_records(3);
        let ends = write_log(&path, &records);
        let mut bytes = fs::read(&path).unwrap();
        bytes.extend_from_slice(&[0u8; 4096]);
        fs::write(&path, &bytes).unwrap();
        let scan = LogReader::scan(&path).unwrap();
        assert_eq!(scan.records, records);
        let tail = scan.torn_tail.unwrap();
        assert_eq!(tail.offset, ends[3]);
        assert_eq!(tail.defect, FrameDefect::ImplausibleLength { len: 0 });
    }

    #[test]
    fn mid_file_damage_is_skipped_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.log");
        let records = sample_records(5);
        let ends = write_log(&path, &records);
        let pristine = fs::read(&path).unwrap();
        let indices = |scan: &ScanResult| scan.records.iter().map(|r| r.index).collect::<Vec<_>>();

        // A flipped payload byte in frame 2: record 2 is dropped, the rest read.
        let mut bytes = pristine.clone();
        bytes[ends[2] as usize + 20] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        let scan = LogReader::scan(&path).unwrap();
        assert_eq!(
            indices(&scan),
            [
                records[0].index,
                records[1].index,
                records[3].index,
                records[4].index
            ]
        );
        assert_eq!(scan.skipped.len(), 1);
        assert_eq!(scan.skipped[0].offset, ends[2]);
        assert_eq!(scan.skipped[0].len, ends[3] - ends[2]);
        assert!(matches!(
            scan.skipped[0].defect,
            FrameDefect::ChecksumMismatch { .. }
        ));
        assert!(scan.torn_tail.is_none());
        assert_eq!(scan.valid_len, bytes.len() as u64);

        // A length field blown up past the end of the file in frame 1.
        let mut bytes = pristine.clone();
        bytes[ends[1] as usize..ends[1] as usize + 4]
            .copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
        fs::write(&path, &bytes).unwrap();
        let scan = LogReader::scan(&path).unwrap();
        assert_eq!(scan.records.len(), 4);
        assert_eq!(scan.skipped[0].offset, ends[1]);

        // A frame cut short (a writer killed mid-append) before valid ones.
        let mut bytes = pristine[..ends[3] as usize - 7].to_vec();
        bytes.extend_from_slice(&pristine[ends[3] as usize..]);
        fs::write(&path, &bytes).unwrap();
        let scan = LogReader::scan(&path).unwrap();
        assert_eq!(
            indices(&scan),
            [
                records[0].index,
                records[1].index,
                records[3].index,
                records[4].index
            ]
        );
        assert_eq!(scan.skipped[0].offset, ends[2]);
        assert_eq!(scan.skipped[0].len, ends[3] - 7 - ends[2]);
    }

    #[test]
    fn an_undecodable_record_is_damage_and_remove_damage_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.log");
        let records = sample_records(5);
        let ends = write_log(&path, &records);
        let pristine = fs::read(&path).unwrap();
        // Frame 2 loses the last byte of its payload; its length and
        // checksum are rewritten to match, so only decoding can tell.
        let (start, end) = (ends[2] as usize, ends[3] as usize);
        let payload = &pristine[start + 8..end - 1];
        let mut bytes = pristine[..start].to_vec();
        frame_payload(payload, &mut bytes);
        bytes.extend_from_slice(&pristine[end..]);
        bytes.extend_from_slice(&[9, 9, 9]); // and a torn tail
        fs::write(&path, &bytes).unwrap();

        let scan = LogReader::scan(&path).unwrap();
        let kept: Vec<u64> = scan.records.iter().map(|r| r.index).collect();
        assert_eq!(kept, [0, 1, 3, 4]);
        assert_eq!(
            scan.skipped,
            vec![SkippedRegion {
                offset: ends[2],
                len: ends[3] - ends[2] - 1,
                defect: FrameDefect::Undecodable,
            }]
        );
        let mut reader = LogReader::open(&path).unwrap();
        let mut heads = Vec::new();
        while let Some((_, head)) = reader.next_head().unwrap() {
            heads.push(head.index);
        }
        assert_eq!(heads, kept);
        assert_eq!(reader.skipped(), &scan.skipped[..]);
        assert_eq!(reader.file_len(), bytes.len() as u64);
        assert!(matches!(
            LogReader::scan_strict(&path),
            Err(LogError::Corrupt { offset, .. }) if offset == ends[2]
        ));

        remove_damage(
            &path,
            &scan.skipped,
            scan.torn_tail.as_ref(),
            bytes.len() as u64,
        )
        .unwrap();
        let mut expected = pristine[..start].to_vec();
        expected.extend_from_slice(&pristine[end..]);
        assert_eq!(fs::read(&path).unwrap(), expected);
        let scan = LogReader::scan_strict(&path).unwrap();
        assert!(scan.skipped.is_empty() && scan.torn_tail.is_none());
        assert_eq!(scan.records.len(), 4);
        // Only the log is left: no temporary file.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        // A log that changed since the scan is not rewritten.
        assert!(matches!(
            remove_damage(&path, &[], None, 1),
            Err(LogError::ChangedSinceScan { .. })
        ));
    }

    #[test]
    fn bad_magic_and_newer_version_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.log");
        fs::write(&path, b"NOTALOG-at-all-really").unwrap();
        let err = LogReader::scan(&path).unwrap_err();
        assert!(matches!(err, LogError::BadMagic { .. }));
        assert!(err.to_string().contains("results.log"), "{err}");
        assert!(matches!(
            LogWriter::open(&path, SyncPolicy::OnFlush),
            Err(LogError::BadMagic { .. })
        ));

        fs::write(&path, header_bytes(FormatVersion(99))).unwrap();
        assert!(matches!(
            LogReader::scan(&path),
            Err(LogError::Version { .. })
        ));
        assert!(matches!(
            LogWriter::open(&path, SyncPolicy::OnFlush),
            Err(LogError::Version { .. })
        ));
    }

    #[test]
    fn truncate_refuses_when_file_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.log");
        let ends = write_log(&path, &sample_records(2));
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let tail = LogReader::scan(&path).unwrap().torn_tail.unwrap();
        assert_eq!(tail.offset, ends[1]);
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            truncate_torn_tail(&path, &tail),
            Err(LogError::ChangedSinceScan { .. })
        ));
    }

    #[test]
    fn threads_with_separate_handles_append_whole_frames() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.log");
        let threads = 4u64;
        let per = 300u64;
        std::thread::scope(|s| {
            for t in 0..threads {
                let path = &path;
                s.spawn(move || {
                    let mut w = LogWriter::open(path, SyncPolicy::OnFlush).unwrap();
                    for k in 0..per {
                        let i = t * per + k;
                        w.append(&record(i, true, METHODS, 1 + (i % 8) as u32))
                            .unwrap();
                    }
                });
            }
        });
        let scan = LogReader::scan(&path).unwrap();
        assert_eq!(scan.torn_tail, None);
        let mut seen: Vec<u64> = scan.records.iter().map(|r| r.index).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..threads * per).collect::<Vec<_>>());
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: 96,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x5107e),
            failure_persistence: None,
            ..proptest::test_runner::Config::default()
        })]

        /// Whatever happens to the last frame (cut anywhere, one byte
        /// damaged), a scan recovers every earlier record and never calls
        /// it corruption.
        #[test]
        fn damaged_last_frame_never_loses_earlier_records(
            n in 1u64..6,
            dim in 1u32..5,
            keep in 0.0f64..=1.0,
            flip in proptest::option::of((0.0f64..1.0, 1u8..=255)),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("results.log");
            let records: Vec<_> = (0..n).map(|i| record(i, i != 1, METHODS, dim)).collect();
            let ends = write_log(&path, &records);
            let mut bytes = fs::read(&path).unwrap();
            let (start, end) = (ends[n as usize - 1] as usize, ends[n as usize] as usize);
            let cut = start + ((end - start) as f64 * keep) as usize;
            bytes.truncate(cut);
            let damaged = match flip {
                Some((at, mask)) if cut > start => {
                    let i = start + ((cut - start) as f64 * at) as usize;
                    bytes[i] ^= mask;
                    true
                }
                _ => false,
            };
            fs::write(&path, &bytes).unwrap();
            let scan = LogReader::scan(&path).unwrap();
            if cut == end && !damaged {
                proptest::prop_assert_eq!(&scan.records, &records);
                proptest::prop_assert_eq!(scan.torn_tail, None);
            } else {
                proptest::prop_assert_eq!(&scan.records[..], &records[..n as usize - 1]);
                proptest::prop_assert_eq!(scan.valid_len, start as u64);
                proptest::prop_assert_eq!(scan.torn_tail.map(|t| t.offset), (cut > start).then_some(start as u64));
            }
        }
    }

    const CHILD_ENV: &str = "QTOMO_STORE_TEST_APPEND_CHILD";

    /// Child half of `processes_append_concurrently`: does nothing unless
    /// the parent test set the environment variable.
    #[test]
    fn append_child_process() {
        let Ok(spec) = std::env::var(CHILD_ENV) else {
            return;
        };
        let (path, first) = spec.split_once(':').unwrap();
        let first: u64 = first.parse().unwrap();
        let mut w = LogWriter::open(Path::new(path), SyncPolicy::OnFlush).unwrap();
        for i in first..first + 500 {
            w.append(&record(i, i % 7 != 0, METHODS, 1 + (i % 6) as u32))
                .unwrap();
        }
        w.flush_sync().unwrap();
    }

    #[test]
    fn processes_append_concurrently() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.log");
        let exe = std::env::current_exe().unwrap();
        let children: Vec<_> = [0u64, 500, 1000]
            .iter()
            .map(|first| {
                std::process::Command::new(&exe)
                    .args([
                        "--exact",
                        "store::log::tests::append_child_process",
                        "--test-threads=1",
                    ])
                    .env(CHILD_ENV, format!("{}:{first}", path.display()))
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut child in children {
            assert!(child.wait().unwrap().success());
        }
        let scan = LogReader::scan(&path).unwrap();
        assert_eq!(scan.torn_tail, None);
        let mut seen: Vec<u64> = scan.records.iter().map(|r| r.index).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..1500).collect::<Vec<_>>());
        for r in &scan.records {
            assert_eq!(
                *r,
                record(r.index, r.index % 7 != 0, METHODS, 1 + (r.index % 6) as u32)
            );
        }
    }
}
