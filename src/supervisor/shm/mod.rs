//! A read-only POSIX shared-memory segment of named sections, shared by the
//! supervisor with its workers.
//!
//! The supervisor builds the segment once with [`SegmentBuilder`] (from data
//! it holds) or [`SegmentWriter`] (filled in place while the input is read,
//! so that the counts are never held twice); workers map it read-only with
//! [`SegmentView`]. The segment has no name on the file system: it is
//! `shm_unlink`ed as soon as its descriptors are held, before anything is
//! written to it, so nothing under `/dev/shm` survives any exit
//! path of the supervisor, SIGKILL included. It lives exactly as long as some
//! process holds a descriptor or a mapping of it. (The only window is between
//! two consecutive syscalls, `shm_open` and `shm_unlink`, before the object is
//! sized: a SIGKILL landing exactly there leaks an empty object.)
//!
//! The segment handed to workers is a separate `O_RDONLY` descriptor opened
//! before the unlink, so a worker cannot map it writable even by mistake; the
//! read-write descriptor used to fill the segment is closed inside `build`
//! (or [`SegmentWriter::finish`]).
//!
//! # Layout
//!
//! All header integers are little-endian. Section payloads are written in the
//! host's native byte order: a segment is only ever read on the host that
//! wrote it.
//!
//! ```text
//! offset  size  field
//! 0       8     magic  b"QTOMOSHM"
//! 8       4     format version (u32, FORMAT_VERSION)
//! 12      4     section count n (u32)
//! 16      8     total length in bytes (u64), header and payload
//! 24      4     crc32 of bytes [0, total length) with this field zeroed
//! 28      4     header length (u32) = 32 + 64 n
//! 32      64 n  section table, one 64-byte entry per section:
//!                 name   [u8; 40], UTF-8, NUL padded
//!                 offset u64, a multiple of 64
//!                 length u64, in bytes
//!                 kind   u32 (1 = f64, 2 = bytes)
//!                 reserved u32 (0)
//! ...           payloads, each starting at its 64-byte aligned offset
//! ```
//!
//! # Passing the segment to a worker
//!
//! [`Segment::fd_for_child`] returns a fresh close-on-exec duplicate of the
//! read-only descriptor. Hand it to
//! [`WorkerCommand::inherit_fd`](super::process::WorkerCommand::inherit_fd)
//! with an environment variable name such as [`SEGMENT_FD_ENV`]: the
//! close-on-exec flag is cleared only in that child, after fork, and the
//! variable carries the descriptor number. The worker calls
//! [`SegmentView::open_inherited`] with the same variable name.
//!
//! # Files
//!
//! `layout`: the byte format, encoded and verified without touching the
//! OS. `segment`: the OS side (shm_open, mmap, inherited descriptors) and
//! [`SegmentView`]. `builder` and `writer`: the two ways to fill a segment.

mod builder;
mod layout;
mod segment;
#[cfg(test)]
mod tests;
mod writer;

pub use builder::SegmentBuilder;
pub use segment::{Segment, SegmentView, forbid_new_segments};
pub use writer::{SectionId, SegmentWriter};

use nix::errno::Errno;

/// Magic bytes at offset 0 of every segment.
pub const MAGIC: [u8; 8] = *b"QTOMOSHM";

/// Version of the segment layout written by this build.
pub const FORMAT_VERSION: u32 = 1;

/// Conventional environment variable carrying the inherited segment
/// descriptor number to a worker.
pub const SEGMENT_FD_ENV: &str = "QTOMO_SHM_FD";

/// Maximum length in bytes of a section name.
pub const MAX_NAME_LEN: usize = 40;

/// Alignment in bytes of every section payload.
pub const SECTION_ALIGN: usize = 64;

const FIXED_HEADER_LEN: usize = 32;
const ENTRY_LEN: usize = 64;
const CHECKSUM_OFFSET: usize = 24;

/// What a section holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionKind {
    /// Native-endian `f64` values.
    F64,
    /// Raw bytes.
    Bytes,
}

impl SectionKind {
    fn code(self) -> u32 {
        match self {
            SectionKind::F64 => 1,
            SectionKind::Bytes => 2,
        }
    }

    fn from_code(code: u32) -> Option<Self> {
        match code {
            1 => Some(SectionKind::F64),
            2 => Some(SectionKind::Bytes),
            _ => None,
        }
    }
}

impl std::fmt::Display for SectionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SectionKind::F64 => f.write_str("f64"),
            SectionKind::Bytes => f.write_str("bytes"),
        }
    }
}

/// Errors from building, opening or reading a shared-memory segment.
#[derive(Debug, thiserror::Error)]
pub enum ShmError {
    /// A section name is empty, too long or contains a NUL byte.
    #[error("invalid section name {name:?} (1 to {MAX_NAME_LEN} bytes, no NUL)")]
    InvalidName {
        /// The rejected name.
        name: String,
    },
    /// Two sections share a name.
    #[error("duplicate section name {name:?}")]
    DuplicateSection {
        /// The repeated name.
        name: String,
    },
    /// The segment would not fit the address space or the header fields.
    #[error("segment too large")]
    TooLarge,
    /// A system call on the segment failed.
    #[error("{op} failed for shared-memory segment")]
    Os {
        /// The failing operation (`shm_open`, `ftruncate`, ...).
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The process is stopping: no new segment ([`forbid_new_segments`]).
    #[error("no new shared-memory segment: the process is stopping")]
    Stopping,
    /// The mapped object is shorter than a header.
    #[error("segment of {len} bytes is too short for a header")]
    TooShort {
        /// Length of the mapped object.
        len: usize,
    },
    /// The magic bytes do not match.
    #[error("segment has bad magic bytes")]
    BadMagic,
    /// The segment was written by an incompatible format version.
    #[error("segment format version {found} is not supported (expected {expected})")]
    UnsupportedVersion {
        /// Version found in the header.
        found: u32,
        /// Version this build understands.
        expected: u32,
    },
    /// The header's lengths disagree with the object or with each other.
    #[error("segment header says {header} bytes but the object has {actual}")]
    LengthMismatch {
        /// Length recorded in the header.
        header: u64,
        /// Length of the mapped object.
        actual: u64,
    },
    /// The stored checksum does not match the contents.
    #[error("segment checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    ChecksumMismatch {
        /// Checksum stored in the header.
        stored: u32,
        /// Checksum computed over the mapped bytes.
        computed: u32,
    },
    /// A section table entry is malformed.
    #[error("section table entry {entry} is malformed: {reason}")]
    BadSectionEntry {
        /// Index of the entry in the table.
        entry: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No section has the requested name.
    #[error("no section named {name:?}")]
    NoSuchSection {
        /// The requested name.
        name: String,
    },
    /// The section exists but holds another kind of data.
    #[error("section {name:?} holds {found}, not {expected}")]
    WrongKind {
        /// The requested name.
        name: String,
        /// The kind asked for.
        expected: SectionKind,
        /// The kind stored.
        found: SectionKind,
    },
    /// The section's payload is not suitably aligned or sized for its kind.
    #[error("section {name:?} is misaligned for its element type")]
    Misaligned {
        /// The section name.
        name: String,
    },
    /// The inherited descriptor named by an environment variable is unusable.
    #[error("inherited segment descriptor from ${var} is unusable: {reason}")]
    Inherited {
        /// The environment variable consulted.
        var: String,
        /// Why it is unusable.
        reason: String,
    },
}

fn os_err(op: &'static str) -> impl FnOnce(Errno) -> ShmError {
    move |e| ShmError::Os {
        op,
        source: std::io::Error::from(e),
    }
}
