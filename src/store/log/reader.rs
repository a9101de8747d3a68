//! [`LogReader`]: walks the frames of a log, validating each, and
//! resynchronises past damage (see the module doc of [`super`]).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::frame::{Frame, FrameHeader, parse_header};
use super::{FRAME_HEADER_LEN, FrameDefect, HEADER_LEN, LOG_MAGIC, LogError, TornTail};
use crate::store::fsutil::open_read_nofollow;
use crate::store::record::{RecordHead, SampleRecord};

/// Everything a full scan of a log found (for tests: the code paths that
/// read logs stream them with [`LogReader::next_head`]).
#[cfg(test)]
#[derive(Debug, Clone, PartialEq)]
pub struct ScanResult {
    /// Every valid record, in file order (duplicates included).
    pub records: Vec<SampleRecord>,
    /// Length of the valid prefix of the file (header plus valid frames).
    pub valid_len: u64,
    /// The torn final stretch, if any; see [`super::truncate_torn_tail`].
    pub torn_tail: Option<TornTail>,
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
        parse_header(&header, path)?;
        Ok(LogReader {
            reader,
            path: path.to_path_buf(),
            pos: HEADER_LEN,
            end: len,
            payload: Vec::new(),
            torn_tail: None,
            skipped: Vec::new(),
        })
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
            let header = FrameHeader::parse(&head);
            let (len, stored) = (header.len, header.crc);
            let body = available - FRAME_HEADER_LEN;
            if !header.plausible() {
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

    #[cfg(test)]
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

    #[cfg(test)]
    /// Reads and decodes every record of the log at `path`.
    ///
    /// Holds every record in memory; for bookkeeping over large logs use
    /// [`LogReader::next_head`] (as [`ResumeState::from_log`] does).
    ///
    /// [`ResumeState::from_log`]: crate::store::ResumeState::from_log
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
    let header = FrameHeader::parse(&head);
    let (len, stored) = (header.len, header.crc);
    let corrupt = |defect| LogError::FrameChanged {
        path: path.to_path_buf(),
        offset,
        defect,
    };
    if !header.plausible() {
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
        let header = FrameHeader::parse(&window[i..]);
        let (len, stored) = (header.len, header.crc);
        let payload_start = offset + FRAME_HEADER_LEN;
        if header.plausible() && payload_start + u64::from(len) <= end {
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
