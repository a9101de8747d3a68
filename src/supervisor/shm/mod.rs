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

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

mod writer;

pub use writer::{MAX_WRITER_SECTIONS, SectionId, SegmentWriter};

use memmap2::{Mmap, MmapOptions};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::mman::{shm_open, shm_unlink};
use nix::sys::stat::Mode;

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

enum SectionData<'a> {
    F64(&'a [f64]),
    Bytes(&'a [u8]),
}

impl SectionData<'_> {
    fn kind(&self) -> SectionKind {
        match self {
            SectionData::F64(_) => SectionKind::F64,
            SectionData::Bytes(_) => SectionKind::Bytes,
        }
    }

    fn byte_len(&self) -> Option<usize> {
        match self {
            SectionData::F64(v) => v.len().checked_mul(size_of::<f64>()),
            SectionData::Bytes(v) => Some(v.len()),
        }
    }

    fn write_to(&self, out: &mut [u8]) {
        match self {
            SectionData::F64(v) => {
                for (dst, x) in out.chunks_exact_mut(size_of::<f64>()).zip(v.iter()) {
                    dst.copy_from_slice(&x.to_ne_bytes());
                }
            }
            SectionData::Bytes(v) => out.copy_from_slice(v),
        }
    }
}

/// Collects named sections, then creates the shared-memory segment.
///
/// The builder borrows the data; nothing is copied until [`build`](Self::build).
#[must_use]
pub struct SegmentBuilder<'a> {
    sections: Vec<(String, SectionData<'a>)>,
}

impl Default for SegmentBuilder<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// Placement of one section, as computed from the builder.
struct Placed {
    offset: usize,
    len: usize,
}

impl<'a> SegmentBuilder<'a> {
    /// An empty builder.
    pub fn new() -> Self {
        Self {
            sections: Vec::new(),
        }
    }

    /// Adds a section of `f64` values.
    pub fn section(mut self, name: &str, data: &'a [f64]) -> Self {
        self.sections
            .push((name.to_owned(), SectionData::F64(data)));
        self
    }

    /// Adds a section of raw bytes.
    pub fn bytes(mut self, name: &str, data: &'a [u8]) -> Self {
        self.sections
            .push((name.to_owned(), SectionData::Bytes(data)));
        self
    }

    fn validate(&self) -> Result<(), ShmError> {
        let mut seen = HashSet::new();
        for (name, _) in &self.sections {
            check_name(name)?;
            if !seen.insert(name.as_str()) {
                return Err(ShmError::DuplicateSection { name: name.clone() });
            }
        }
        Ok(())
    }

    /// Computes the offset of every section and the total length.
    fn layout(&self) -> Result<(Vec<Placed>, usize), ShmError> {
        let header_len = ENTRY_LEN
            .checked_mul(self.sections.len())
            .and_then(|t| t.checked_add(FIXED_HEADER_LEN))
            .ok_or(ShmError::TooLarge)?;
        let mut cursor = header_len;
        let mut placed = Vec::with_capacity(self.sections.len());
        for (_, data) in &self.sections {
            let offset = align_up(cursor).ok_or(ShmError::TooLarge)?;
            let len = data.byte_len().ok_or(ShmError::TooLarge)?;
            cursor = offset.checked_add(len).ok_or(ShmError::TooLarge)?;
            placed.push(Placed { offset, len });
        }
        if u32::try_from(self.sections.len()).is_err() || i64::try_from(cursor).is_err() {
            return Err(ShmError::TooLarge);
        }
        Ok((placed, cursor))
    }

    /// Total length in bytes of the segment this builder would create.
    pub fn encoded_len(&self) -> Result<usize, ShmError> {
        self.validate()?;
        Ok(self.layout()?.1)
    }

    /// Writes the complete segment image (header, payloads, checksum) into
    /// `out`, which must be exactly [`encoded_len`](Self::encoded_len) bytes.
    pub fn encode_into(&self, out: &mut [u8]) -> Result<(), ShmError> {
        self.validate()?;
        let (placed, total) = self.layout()?;
        if out.len() != total {
            return Err(ShmError::LengthMismatch {
                header: total as u64,
                actual: out.len() as u64,
            });
        }
        let header_len = FIXED_HEADER_LEN + ENTRY_LEN * self.sections.len();
        out[..header_len].fill(0);
        write_header(out, self.sections.len(), total, header_len)?;
        let mut prev_end = header_len;
        for (i, ((name, data), p)) in self.sections.iter().zip(&placed).enumerate() {
            write_entry(out, i, name, p.offset, p.len, data.kind());
            // Padding between sections is zeroed so the checksum is stable.
            out[prev_end..p.offset].fill(0);
            data.write_to(&mut out[p.offset..p.offset + p.len]);
            prev_end = p.offset + p.len;
        }
        let crc = checksum(out);
        out[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
        Ok(())
    }

    /// Creates the segment: `shm_open` under a fresh name, `shm_unlink` at
    /// once, `ftruncate`, write header and payloads, and map it read-only.
    pub fn build(self) -> Result<Segment, ShmError> {
        self.validate()?;
        let total = self.layout()?.1;
        let named = NamedObject::create()?;
        let name = named.name.clone();
        let (rw, ro) = named.unlink()?;
        let len = i64::try_from(total).map_err(|_| ShmError::TooLarge)?;
        nix::unistd::ftruncate(&rw, len).map_err(os_err("ftruncate"))?;
        {
            // SAFETY: `rw` refers to a segment created just above with
            // O_EXCL and already unlinked: no other process or mapping can
            // reach it, so nothing else modifies it while this mapping lives.
            let mut map = unsafe { MmapOptions::new().len(total).map_mut(&rw) }.map_err(|e| {
                ShmError::Os {
                    op: "mmap",
                    source: e,
                }
            })?;
            self.encode_into(&mut map)?;
        }
        // The writable descriptor is closed here; only `ro` remains.
        drop(rw);
        let view = SegmentView::open_fd(ro.as_fd())?;
        Ok(Segment { name, fd: ro, view })
    }
}

/// Refuses a section name that is empty, too long or contains a NUL.
fn check_name(name: &str) -> Result<(), ShmError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.contains('\0') {
        return Err(ShmError::InvalidName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Writes the fixed header (checksum field left zero) into `out`, whose
/// first `header_len` bytes are zero.
fn write_header(
    out: &mut [u8],
    count: usize,
    total: usize,
    header_len: usize,
) -> Result<(), ShmError> {
    let count = u32::try_from(count).map_err(|_| ShmError::TooLarge)?;
    let header_len = u32::try_from(header_len).map_err(|_| ShmError::TooLarge)?;
    out[0..8].copy_from_slice(&MAGIC);
    out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    out[12..16].copy_from_slice(&count.to_le_bytes());
    out[16..24].copy_from_slice(&(total as u64).to_le_bytes());
    out[28..32].copy_from_slice(&header_len.to_le_bytes());
    Ok(())
}

/// Writes section table entry `i` into `out` (name checked, NUL padding
/// already zero).
fn write_entry(out: &mut [u8], i: usize, name: &str, offset: usize, len: usize, kind: SectionKind) {
    let e = FIXED_HEADER_LEN + i * ENTRY_LEN;
    out[e..e + name.len()].copy_from_slice(name.as_bytes());
    out[e + 40..e + 48].copy_from_slice(&(offset as u64).to_le_bytes());
    out[e + 48..e + 56].copy_from_slice(&(len as u64).to_le_bytes());
    out[e + 56..e + 60].copy_from_slice(&kind.code().to_le_bytes());
}

fn align_up(x: usize) -> Option<usize> {
    Some(x.checked_add(SECTION_ALIGN - 1)? / SECTION_ALIGN * SECTION_ALIGN)
}

/// crc32 over `bytes` with the checksum field treated as zero.
fn checksum(bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[..CHECKSUM_OFFSET]);
    h.update(&[0; 4]);
    h.update(&bytes[CHECKSUM_OFFSET + 4..]);
    h.finalize()
}

/// A shared-memory object between `shm_open` and `shm_unlink`; unlinks on
/// drop so that no error path leaves a name behind.
struct NamedObject {
    name: String,
    rw: Option<OwnedFd>,
}

impl NamedObject {
    fn create() -> Result<Self, ShmError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut last = Errno::EEXIST;
        for _ in 0..16 {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            let name = format!("/qtomo-{}-{:016x}", std::process::id(), h.finish());
            match shm_open(
                name.as_str(),
                OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR,
                Mode::S_IRUSR | Mode::S_IWUSR,
            ) {
                Ok(fd) => return Ok(Self { name, rw: Some(fd) }),
                Err(Errno::EEXIST) => last = Errno::EEXIST,
                Err(e) => return Err(os_err("shm_open")(e)),
            }
        }
        Err(os_err("shm_open")(last))
    }

    /// Opens the read-only descriptor, unlinks the name, returns both fds.
    fn unlink(mut self) -> Result<(OwnedFd, OwnedFd), ShmError> {
        let ro = shm_open(self.name.as_str(), OFlag::O_RDONLY, Mode::empty())
            .map_err(os_err("shm_open(O_RDONLY)"))?;
        let unlinked = shm_unlink(self.name.as_str());
        let rw = self.rw.take();
        // Prevent the Drop impl from unlinking a second time.
        self.name.clear();
        unlinked.map_err(os_err("shm_unlink"))?;
        let rw = rw.ok_or(ShmError::Os {
            op: "shm_open",
            source: std::io::Error::from(Errno::EBADF),
        })?;
        Ok((rw, ro))
    }
}

impl Drop for NamedObject {
    fn drop(&mut self) {
        if !self.name.is_empty() {
            // Best effort on an error path; nothing more can be done here.
            let _ = shm_unlink(self.name.as_str());
        }
    }
}

/// A built shared-memory segment, owned by the supervisor.
///
/// It holds the read-only descriptor and a read-only mapping. Dropping it
/// closes both; the memory is freed when the last worker lets go too.
#[derive(Debug)]
pub struct Segment {
    name: String,
    fd: OwnedFd,
    view: SegmentView,
}

impl Segment {
    /// The name the object had before it was unlinked (for diagnostics and
    /// tests; it no longer exists under `/dev/shm`).
    pub fn unlinked_name(&self) -> &str {
        &self.name
    }

    /// The supervisor's own read-only view of the segment.
    pub fn view(&self) -> &SegmentView {
        &self.view
    }

    /// Total length of the segment in bytes.
    pub fn len(&self) -> usize {
        self.view.len()
    }

    /// Always false: a segment holds at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// A fresh close-on-exec duplicate of the read-only descriptor, to be
    /// handed to exactly one child with
    /// [`WorkerCommand::inherit_fd`](super::process::WorkerCommand::inherit_fd),
    /// which clears close-on-exec only in that child.
    pub fn fd_for_child(&self) -> Result<OwnedFd, ShmError> {
        self.fd.try_clone().map_err(|e| ShmError::Os {
            op: "dup",
            source: e,
        })
    }
}

impl AsFd for Segment {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Descriptor numbers already claimed by [`SegmentView::open_inherited`] in
/// this process, so that a number is never turned into two owners.
static CLAIMED: Mutex<Option<HashSet<RawFd>>> = Mutex::new(None);

/// A section table entry, validated against the mapping.
#[derive(Clone, Debug)]
struct Entry {
    name: String,
    offset: usize,
    len: usize,
    kind: SectionKind,
}

/// A verified, read-only mapping of a segment.
#[derive(Debug)]
pub struct SegmentView {
    map: Mmap,
    entries: Vec<Entry>,
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn read_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

impl SegmentView {
    /// Maps the segment behind `fd` read-only and verifies magic, version,
    /// lengths, section table and checksum. The descriptor may be closed
    /// afterwards; the mapping stays valid.
    pub fn open_fd(fd: BorrowedFd<'_>) -> Result<Self, ShmError> {
        let stat = nix::sys::stat::fstat(fd).map_err(os_err("fstat"))?;
        let actual = u64::try_from(stat.st_size).map_err(|_| ShmError::TooLarge)?;
        let len = usize::try_from(actual).map_err(|_| ShmError::TooLarge)?;
        if len < FIXED_HEADER_LEN {
            return Err(ShmError::TooShort { len });
        }
        // SAFETY: the mapping is read-only. The segment is filled completely
        // before any view of it exists and its only writable descriptor is
        // closed at the end of `SegmentBuilder::build` and
        // `SegmentWriter::finish`, before any view is opened; the object has no
        // name, so no other process can open it for writing. The contents
        // therefore do not change while this mapping lives.
        let map = unsafe { MmapOptions::new().len(len).map(&fd) }.map_err(|e| ShmError::Os {
            op: "mmap",
            source: e,
        })?;
        let entries = Self::verify(&map, actual)?;
        Ok(Self { map, entries })
    }

    /// Opens the segment whose descriptor number a parent put in the
    /// environment variable `var` (see [`SEGMENT_FD_ENV`]). The descriptor
    /// is taken over, mapped, and closed; calling this twice for the same
    /// number in one process is an error.
    pub fn open_inherited(var: &str) -> Result<Self, ShmError> {
        let bad = |reason: String| ShmError::Inherited {
            var: var.to_owned(),
            reason,
        };
        let value = std::env::var(var).map_err(|e| bad(e.to_string()))?;
        let raw: RawFd = value
            .trim()
            .parse()
            .map_err(|_| bad(format!("{value:?} is not a descriptor number")))?;
        if raw < 3 {
            return Err(bad(format!("descriptor {raw} is a standard stream")));
        }
        // SAFETY: F_GETFD only reads the descriptor flags of `raw`; an
        // unknown number yields EBADF and touches nothing.
        let flags = unsafe { nix::libc::fcntl(raw, nix::libc::F_GETFD) };
        if flags < 0 {
            return Err(bad(format!("descriptor {raw} is not open")));
        }
        {
            let mut claimed = CLAIMED
                .lock()
                .map_err(|_| bad("descriptor registry poisoned".to_owned()))?;
            if !claimed.get_or_insert_with(HashSet::new).insert(raw) {
                return Err(bad(format!("descriptor {raw} was already taken over")));
            }
        }
        // SAFETY: `raw` is open (checked above), it was passed to this
        // process for this purpose by its parent, and the registry above
        // guarantees it is turned into an owner only once in this process.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        Self::open_fd(owned.as_fd())
    }

    fn verify(b: &[u8], actual: u64) -> Result<Vec<Entry>, ShmError> {
        if b[0..8] != MAGIC {
            return Err(ShmError::BadMagic);
        }
        let version = read_u32(b, 8);
        if version != FORMAT_VERSION {
            return Err(ShmError::UnsupportedVersion {
                found: version,
                expected: FORMAT_VERSION,
            });
        }
        let total = read_u64(b, 16);
        if total != actual {
            return Err(ShmError::LengthMismatch {
                header: total,
                actual,
            });
        }
        let stored = read_u32(b, CHECKSUM_OFFSET);
        let computed = checksum(b);
        if stored != computed {
            return Err(ShmError::ChecksumMismatch { stored, computed });
        }
        let count = read_u32(b, 12) as usize;
        let header_len = read_u32(b, 28) as usize;
        let expected_header = count
            .checked_mul(ENTRY_LEN)
            .and_then(|t| t.checked_add(FIXED_HEADER_LEN));
        if expected_header != Some(header_len) || header_len > b.len() {
            return Err(ShmError::LengthMismatch {
                header: header_len as u64,
                actual,
            });
        }
        let mut entries = Vec::with_capacity(count);
        for i in 0..count {
            let e = FIXED_HEADER_LEN + i * ENTRY_LEN;
            let bad = |reason| ShmError::BadSectionEntry { entry: i, reason };
            let raw_name = &b[e..e + MAX_NAME_LEN];
            let end = raw_name
                .iter()
                .position(|&c| c == 0)
                .unwrap_or(MAX_NAME_LEN);
            let name = std::str::from_utf8(&raw_name[..end])
                .map_err(|_| bad("name is not UTF-8"))?
                .to_owned();
            let offset = usize::try_from(read_u64(b, e + 40)).map_err(|_| bad("offset"))?;
            let len = usize::try_from(read_u64(b, e + 48)).map_err(|_| bad("length"))?;
            let kind = SectionKind::from_code(read_u32(b, e + 56)).ok_or(bad("unknown kind"))?;
            if offset % SECTION_ALIGN != 0 {
                return Err(bad("offset is not 64-byte aligned"));
            }
            if offset < header_len || offset.checked_add(len).is_none_or(|end| end > b.len()) {
                return Err(bad("payload lies outside the segment"));
            }
            entries.push(Entry {
                name,
                offset,
                len,
                kind,
            });
        }
        Ok(entries)
    }

    fn entry(&self, name: &str, kind: SectionKind) -> Result<&Entry, ShmError> {
        let e = self
            .entries
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| ShmError::NoSuchSection {
                name: name.to_owned(),
            })?;
        if e.kind != kind {
            return Err(ShmError::WrongKind {
                name: name.to_owned(),
                expected: kind,
                found: e.kind,
            });
        }
        Ok(e)
    }

    /// The `f64` section called `name`.
    pub fn f64_section(&self, name: &str) -> Result<&[f64], ShmError> {
        let e = self.entry(name, SectionKind::F64)?;
        let bytes = &self.map[e.offset..e.offset + e.len];
        let ptr = bytes.as_ptr();
        if e.len % size_of::<f64>() != 0 || ptr.align_offset(align_of::<f64>()) != 0 {
            return Err(ShmError::Misaligned {
                name: name.to_owned(),
            });
        }
        // SAFETY: `ptr` is aligned for f64 (checked), the range lies inside
        // the mapping (checked in `verify`) and is a whole number of f64s
        // (checked); every bit pattern is a valid f64; the mapping is
        // read-only and unchanging, and the slice borrows `self`, which owns
        // the mapping.
        Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<f64>(), e.len / size_of::<f64>()) })
    }

    /// The byte section called `name`.
    pub fn bytes_section(&self, name: &str) -> Result<&[u8], ShmError> {
        let e = self.entry(name, SectionKind::Bytes)?;
        Ok(&self.map[e.offset..e.offset + e.len])
    }

    /// Names and kinds of all sections, in table order.
    pub fn sections(&self) -> impl Iterator<Item = (&str, SectionKind)> {
        self.entries.iter().map(|e| (e.name.as_str(), e.kind))
    }

    /// Total length of the mapping in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Always false: a verified segment holds at least its header.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl AsRawFd for Segment {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::testutil::{ChildRole, child_role, run_child};
    use std::io::Write;

    fn sample() -> (Vec<f64>, Vec<f64>, Vec<u8>) {
        let a: Vec<f64> = (0..37).map(|i| i as f64 * 0.5 - 3.0).collect();
        let counts: Vec<f64> = (0..101).map(|i| (i * i) as f64).collect();
        let plan = b"plan-bytes\x00\xff".to_vec();
        (a, counts, plan)
    }

    fn build_sample(a: &[f64], counts: &[f64], plan: &[u8]) -> Segment {
        SegmentBuilder::new()
            .section("A", a)
            .section("counts", counts)
            .bytes("plan", plan)
            .build()
            .expect("build segment")
    }

    #[test]
    fn round_trip_within_process() {
        let (a, counts, plan) = sample();
        let seg = build_sample(&a, &counts, &plan);
        let v = seg.view();
        assert_eq!(v.f64_section("A").expect("A"), &a[..]);
        assert_eq!(v.f64_section("counts").expect("counts"), &counts[..]);
        assert_eq!(v.bytes_section("plan").expect("plan"), &plan[..]);
        // A second, independent mapping through a duplicate descriptor.
        let dup = seg.fd_for_child().expect("dup");
        let v2 = SegmentView::open_fd(dup.as_fd()).expect("open dup");
        drop(dup);
        assert_eq!(v2.f64_section("A").expect("A"), &a[..]);
        assert!(matches!(
            v.f64_section("plan"),
            Err(ShmError::WrongKind { .. })
        ));
        assert!(matches!(
            v.bytes_section("nope"),
            Err(ShmError::NoSuchSection { .. })
        ));
        let names: Vec<_> = v.sections().map(|(n, _)| n).collect();
        assert_eq!(names, ["A", "counts", "plan"]);
    }

    #[test]
    fn sections_are_aligned() {
        let (a, counts, plan) = sample();
        let seg = build_sample(&a, &counts, &plan);
        for e in &seg.view().entries {
            assert_eq!(e.offset % SECTION_ALIGN, 0, "{}", e.name);
        }
    }

    #[test]
    fn no_dev_shm_entry_survives_build() {
        let (a, counts, plan) = sample();
        let seg = build_sample(&a, &counts, &plan);
        let leaf = seg.unlinked_name().trim_start_matches('/').to_owned();
        assert!(leaf.starts_with(&format!("qtomo-{}-", std::process::id())));
        let listing: Vec<String> = std::fs::read_dir("/dev/shm")
            .expect("read /dev/shm")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !listing.contains(&leaf),
            "{leaf} still listed in /dev/shm: {listing:?}"
        );
        // The segment is still perfectly usable without its name.
        assert_eq!(seg.view().f64_section("A").expect("A"), &a[..]);
    }

    #[test]
    fn rejects_bad_names() {
        let x = [1.0];
        let long = "x".repeat(MAX_NAME_LEN + 1);
        assert!(matches!(
            SegmentBuilder::new().section(&long, &x).build(),
            Err(ShmError::InvalidName { .. })
        ));
        assert!(matches!(
            SegmentBuilder::new()
                .section("a", &x)
                .bytes("a", b"")
                .build(),
            Err(ShmError::DuplicateSection { .. })
        ));
    }

    fn encoded_file(mutate: impl FnOnce(&mut Vec<u8>)) -> std::fs::File {
        let (a, counts, plan) = sample();
        let b = SegmentBuilder::new()
            .section("A", &a)
            .section("counts", &counts)
            .bytes("plan", &plan);
        let mut buf = vec![0; b.encoded_len().expect("len")];
        b.encode_into(&mut buf).expect("encode");
        mutate(&mut buf);
        let mut f = tempfile::tempfile().expect("tempfile");
        f.write_all(&buf).expect("write");
        f
    }

    #[test]
    fn corrupted_byte_is_detected() {
        // Sanity: the unmodified image verifies.
        let f = encoded_file(|_| {});
        SegmentView::open_fd(f.as_fd()).expect("clean image opens");
        // One flipped bit in the payload.
        let f = encoded_file(|b| {
            let last = b.len() - 3;
            b[last] ^= 0x10;
        });
        assert!(matches!(
            SegmentView::open_fd(f.as_fd()),
            Err(ShmError::ChecksumMismatch { .. })
        ));
        // One flipped bit in the section table.
        let f = encoded_file(|b| b[FIXED_HEADER_LEN + 41] ^= 1);
        assert!(matches!(
            SegmentView::open_fd(f.as_fd()),
            Err(ShmError::ChecksumMismatch { .. })
        ));
        let f = encoded_file(|b| b[0] = b'X');
        assert!(matches!(
            SegmentView::open_fd(f.as_fd()),
            Err(ShmError::BadMagic)
        ));
        let f = encoded_file(|b| b[8] = 9);
        assert!(matches!(
            SegmentView::open_fd(f.as_fd()),
            Err(ShmError::UnsupportedVersion { found: 9, .. })
        ));
        let f = encoded_file(|b| b.truncate(b.len() - 1));
        assert!(matches!(
            SegmentView::open_fd(f.as_fd()),
            Err(ShmError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn fd_reaches_only_the_child_it_is_given_to() {
        use crate::supervisor::process::WorkerCommand;
        use std::time::Duration;
        let (a, counts, plan) = sample();
        let seg = build_sample(&a, &counts, &plan);
        let probe = |fd: RawFd| format!("test -e /proc/$$/fd/{fd}");
        // Not passed: close-on-exec keeps the segment out of the child.
        let mut c = WorkerCommand::new("/bin/sh")
            .arg("-c")
            .arg(probe(seg.as_raw_fd()))
            .spawn()
            .expect("spawn");
        let st = c.wait_timeout(Duration::from_secs(10)).expect("wait");
        assert_eq!(st.and_then(|s| s.code()), Some(1), "segment fd leaked");
        // Passed explicitly: present under the number in the variable.
        let fd = seg.fd_for_child().expect("dup");
        let mut c = WorkerCommand::new("/bin/sh")
            .arg("-c")
            .arg(format!(
                "{} && test \"${SEGMENT_FD_ENV}\" = {}",
                probe(fd.as_raw_fd()),
                fd.as_raw_fd()
            ))
            .inherit_fd(fd, SEGMENT_FD_ENV)
            .spawn()
            .expect("spawn");
        let st = c.wait_timeout(Duration::from_secs(10)).expect("wait");
        assert_eq!(
            st.and_then(|s| s.code()),
            Some(0),
            "segment fd not inherited"
        );
    }

    /// Child side of [`child_reads_same_data`]; a no-op in a normal run.
    #[test]
    fn child_entry_shm_reader() {
        if child_role() != Some(ChildRole::ShmReader) {
            return;
        }
        let v = SegmentView::open_inherited(SEGMENT_FD_ENV).expect("open inherited");
        let a = v.f64_section("A").expect("A");
        let counts = v.f64_section("counts").expect("counts");
        let plan = v.bytes_section("plan").expect("plan");
        let sum: f64 = a.iter().chain(counts).sum();
        println!(
            "QTOMO-CHILD a_len={} counts_len={} sum={sum} plan={plan:?}",
            a.len(),
            counts.len()
        );
        // A second take-over of the same number must be refused.
        assert!(matches!(
            SegmentView::open_inherited(SEGMENT_FD_ENV),
            Err(ShmError::Inherited { .. })
        ));
    }

    #[test]
    fn child_reads_same_data() {
        let (a, counts, plan) = sample();
        let seg = build_sample(&a, &counts, &plan);
        let fd = seg.fd_for_child().expect("fd for child");
        let out = run_child(
            ChildRole::ShmReader,
            "supervisor::shm::tests::child_entry_shm_reader",
            |cmd| cmd.inherit_fd(fd, SEGMENT_FD_ENV),
        );
        let sum: f64 = a.iter().chain(&counts).sum();
        let expected = format!(
            "a_len={} counts_len={} sum={sum} plan={plan:?}",
            a.len(),
            counts.len()
        );
        assert!(
            out.lines.iter().any(|l| l == &expected),
            "expected {expected:?} in child output {out:?}"
        );
    }
}
