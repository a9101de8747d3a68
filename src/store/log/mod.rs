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
//!
//! # Layout of this module
//!
//! - [`frame`]: the byte format — file header, frame header, encoding;
//! - [`writer`]: [`LogWriter`], appends under `flock`;
//! - [`reader`]: [`LogReader`], validation and resynchronisation;
//! - [`repair`]: cutting torn tails and removing damaged regions.

mod frame;
mod reader;
mod repair;
#[cfg(test)]
mod tests;
mod writer;

use crate::store::PathIoError;
use std::io;
use std::path::{Path, PathBuf};

use super::format::{FormatVersion, FormatVersionError};

pub(crate) use frame::frame_payload;
#[cfg(test)]
pub use reader::ScanResult;
pub use reader::{LogReader, SkippedRegion};
pub(crate) use reader::{read_payload_at, read_record_at};
pub use repair::{remove_damage, truncate_torn_tail};
pub use writer::{LogWriter, SyncPolicy};

/// Magic bytes at offset 0 of every results log.
pub const LOG_MAGIC: [u8; 8] = *b"QTOMOLOG";

/// Length of the file header: magic plus u32 version.
pub const HEADER_LEN: u64 = 12;

/// Length of a frame header: u32 length plus u32 checksum.
pub const FRAME_HEADER_LEN: u64 = 8;

/// Largest payload a frame may carry (64 MiB). Larger lengths are treated as
/// damage, which bounds what a corrupted length field can make a reader do.
pub const MAX_PAYLOAD_LEN: u32 = 64 << 20;

/// Errors reading, writing or repairing a results log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// An I/O operation on the log failed.
    #[error(transparent)]
    Io(#[from] PathIoError),
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
        move |source| {
            LogError::Io(PathIoError {
                action,
                path: path.to_path_buf(),
                source,
            })
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
