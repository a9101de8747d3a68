//! [`LogWriter`]: appends whole frames under an exclusive `flock`, truncating
//! a partial frame away on failure, and syncs by [`SyncPolicy`].

use crate::store::PathIoError;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::frame::{encode_frame, header_bytes, parse_header};
use super::{HEADER_LEN, LogError};
use crate::atomic::{parent_dir, sync_dir};
use crate::store::format::FormatVersion;
use crate::store::fsutil::open_nofollow;
use crate::store::record::SampleRecord;

/// Frames are written in chunks of about this size by
/// [`LogWriter::append_batch`].
const BATCH_CHUNK: usize = 1 << 20;

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
    /// `store::log::truncate_torn_tail` first (appending after a torn frame would turn
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
                    return Err(LogError::Io(PathIoError {
                        action: "append to",
                        path: path.clone(),
                        source,
                    }));
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
