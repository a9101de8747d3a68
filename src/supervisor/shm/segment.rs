//! The OS side of a segment: the unlinked shared-memory object
//! ([`Segment`]), its descriptors for children, and read-only mappings
//! ([`SegmentView`]).

use std::hash::{BuildHasher, Hasher};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use memmap2::{Mmap, MmapOptions};

use crate::supervisor::inherit::take_inherited_fd;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::mman::{shm_open, shm_unlink};
use nix::sys::stat::Mode;

use super::layout::{self, Entry};
use super::{FIXED_HEADER_LEN, SectionKind, ShmError, os_err};

/// Whether this process may still give a segment a name, under the lock
/// that every name's whole life (`shm_open` to `shm_unlink`) holds: once
/// [`forbid_new_segments`] has returned, this process has no name in
/// /dev/shm and will make none, so it may exit from any thread.
static NAMES_ALLOWED: Mutex<bool> = Mutex::new(true);

/// Waits for any segment name of this process to be unlinked and refuses
/// new segments ([`ShmError::Stopping`]) from then on. For a process that
/// is about to exit while another thread may be creating a segment (a
/// signal during the input's ingest): without it, the exit can fall
/// between that thread's `shm_open` and `shm_unlink` and leave the name
/// behind.
pub fn forbid_new_segments() {
    *NAMES_ALLOWED.lock().unwrap_or_else(PoisonError::into_inner) = false;
}

/// A shared-memory object between `shm_open` and `shm_unlink`; unlinks on
/// drop so that no error path leaves a name behind.
pub(super) struct NamedObject {
    pub(super) name: String,
    pub(super) rw: Option<OwnedFd>,
}

impl NamedObject {
    /// A fresh object, already unlinked: its name, read-write and
    /// read-only descriptors. The name exists only while [`NAMES_ALLOWED`]
    /// is held, and not at all once [`forbid_new_segments`] was called.
    pub(super) fn create_unlinked() -> Result<(String, OwnedFd, OwnedFd), ShmError> {
        let allowed = NAMES_ALLOWED.lock().unwrap_or_else(PoisonError::into_inner);
        if !*allowed {
            return Err(ShmError::Stopping);
        }
        let named = Self::create()?;
        let name = named.name.clone();
        #[cfg(feature = "fault-injection")]
        crate::supervisor::fault::while_a_segment_is_named();
        let (rw, ro) = named.unlink()?;
        drop(allowed);
        Ok((name, rw, ro))
    }

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
    /// A filled segment: the name it had, its read-only descriptor and a
    /// verified view of it (for [`super::SegmentBuilder`] and
    /// [`super::SegmentWriter`]).
    pub(super) fn sealed(name: String, fd: OwnedFd, view: SegmentView) -> Self {
        Self { name, fd, view }
    }

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
    /// [`WorkerCommand::inherit_fd`](crate::supervisor::process::WorkerCommand::inherit_fd),
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

impl AsRawFd for Segment {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A verified, read-only mapping of a segment.
#[derive(Debug)]
pub struct SegmentView {
    map: Mmap,
    pub(super) entries: Vec<Entry>,
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
        let entries = layout::verify(&map, actual)?;
        Ok(Self { map, entries })
    }

    /// Opens the segment whose descriptor number a parent put in the
    /// environment variable `var` (see [`super::SEGMENT_FD_ENV`]). The descriptor
    /// is taken over, mapped, and closed; calling this twice for the same
    /// number in one process is an error.
    pub fn open_inherited(var: &str) -> Result<Self, ShmError> {
        let owned = take_inherited_fd(var).map_err(|reason| ShmError::Inherited {
            var: var.to_owned(),
            reason,
        })?;
        Self::open_fd(owned.as_fd())
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
