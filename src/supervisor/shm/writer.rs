//! Filling a segment in place, while the data is still being produced.
//!
//! [`SegmentBuilder`](super::SegmentBuilder) copies data that already exists
//! in the process. For the sample counts of a large input that means the
//! input twice in memory while the segment is built: once parsed, once in
//! the segment. A [`SegmentWriter`] instead reserves each section in an
//! unlinked shared-memory object and lets the producer (the input reader)
//! append to it through a writable mapping, so the data exists once, in the
//! segment, from the first sample on.
//!
//! * Reserved room is address space only. A page of the object is
//!   allocated just before it is first written, a few MiB ahead, with
//!   `fallocate`: a full `/dev/shm` is then an error (ENOSPC) and not a
//!   SIGBUS on a write to the mapping.
//! * A section that outgrows its reservation grows in place when it is the
//!   last one; otherwise it moves to the end of the object, a chunk at a
//!   time, and every copied chunk of the old place is freed at once (a
//!   punched hole), so a move never holds the section twice.
//! * [`SegmentWriter::finish`] moves the sections down next to each other
//!   the same way, writes the header, section table and checksum, cuts the
//!   object to its final length, and maps it read-only. The result has the
//!   layout documented in [`super`]; only the order of the payloads may
//!   differ from the order of the table (readers go by the table).
//!
//! As with the builder, the object has no name from the start, so neither
//! an error nor any kill leaves anything in `/dev/shm`; dropping an
//! unfinished writer frees everything.

use std::os::fd::{AsFd, OwnedFd};

use memmap2::{MmapMut, MmapOptions, RemapOptions};
use nix::errno::Errno;
use nix::fcntl::{FallocateFlags, fallocate};
use nix::libc::off_t;

use super::layout::{align_up, check_name, checksum, write_entry, write_header};
use super::segment::NamedObject;
use super::{
    CHECKSUM_OFFSET, ENTRY_LEN, FIXED_HEADER_LEN, SectionKind, Segment, SegmentView, ShmError,
    os_err,
};

/// Where sections start while they are written: a multiple of every page
/// size in use, so that sections never share a page, and room for the
/// largest section table before the first one.
const WRITE_ALIGN: usize = 64 << 10;

/// The most sections one writer holds (their table fits in front of the
/// first section's reserved place).
pub const MAX_WRITER_SECTIONS: usize = (WRITE_ALIGN - FIXED_HEADER_LEN) / ENTRY_LEN;

/// How far ahead of the writes pages are allocated.
const ALLOCATE_AHEAD: usize = 4 << 20;

/// Bytes copied between two hole punches when a section moves.
const MOVE_CHUNK: usize = 4 << 20;

/// A section of a [`SegmentWriter`], as returned by
/// [`reserve`](SegmentWriter::reserve).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionId(usize);

/// One section while it is written.
#[derive(Debug)]
struct Slot {
    name: String,
    kind: SectionKind,
    /// Where it is now (a multiple of `WRITE_ALIGN` until `finish`).
    offset: usize,
    /// Reserved bytes from `offset` (a multiple of `WRITE_ALIGN`).
    cap: usize,
    /// Bytes written.
    len: usize,
    /// Bytes from `offset` known to be allocated in the object.
    allocated: usize,
}

/// A shared-memory segment under construction: sections are reserved,
/// appended to through a writable mapping, then sealed into a read-only
/// [`Segment`] by [`finish`](Self::finish).
#[derive(Debug)]
pub struct SegmentWriter {
    name: String,
    rw: OwnedFd,
    ro: OwnedFd,
    /// The whole object: its length is always the object's length.
    map: MmapMut,
    slots: Vec<Slot>,
    /// `fallocate` allocation works on this file system.
    allocate: bool,
    /// Hole punching works on this file system.
    punch: bool,
    /// A section move failed half-way (no memory left): its data is lost,
    /// and every later call fails.
    broken: bool,
}

fn mmap_err(source: std::io::Error) -> ShmError {
    ShmError::Os { op: "mmap", source }
}

fn to_off(x: usize) -> Result<off_t, ShmError> {
    off_t::try_from(x).map_err(|_| ShmError::TooLarge)
}

/// `x` rounded up to a multiple of `WRITE_ALIGN`.
fn round_up(x: usize) -> Result<usize, ShmError> {
    x.checked_add(WRITE_ALIGN - 1)
        .map(|y| y / WRITE_ALIGN * WRITE_ALIGN)
        .ok_or(ShmError::TooLarge)
}

impl SegmentWriter {
    /// Creates an empty, already unlinked shared-memory object to write
    /// sections into.
    pub fn new() -> Result<Self, ShmError> {
        let (name, rw, ro) = NamedObject::create_unlinked()?;
        nix::unistd::ftruncate(&rw, to_off(WRITE_ALIGN)?).map_err(os_err("ftruncate"))?;
        // SAFETY: `rw` refers to an object created just above with O_EXCL
        // and already unlinked: no other process or mapping can reach it,
        // so nothing else modifies it while this mapping lives. It is
        // WRITE_ALIGN bytes long, as mapped.
        let map = unsafe { MmapOptions::new().len(WRITE_ALIGN).map_mut(&rw) }.map_err(mmap_err)?;
        Ok(Self {
            name,
            rw,
            ro,
            map,
            slots: Vec::new(),
            allocate: true,
            punch: true,
            broken: false,
        })
    }

    /// Reserves room for a section of about `capacity` bytes (address
    /// space only; nothing is allocated until it is written). The section
    /// may grow past it.
    pub fn reserve(
        &mut self,
        name: &str,
        kind: SectionKind,
        capacity: usize,
    ) -> Result<SectionId, ShmError> {
        self.check_usable()?;
        check_name(name)?;
        if self.slots.iter().any(|s| s.name == name) {
            return Err(ShmError::DuplicateSection {
                name: name.to_owned(),
            });
        }
        if self.slots.len() >= MAX_WRITER_SECTIONS {
            return Err(ShmError::TooLarge);
        }
        let offset = self.map.len();
        let cap = round_up(capacity.max(1))?;
        self.set_size(offset.checked_add(cap).ok_or(ShmError::TooLarge)?)?;
        self.slots.push(Slot {
            name: name.to_owned(),
            kind,
            offset,
            cap,
            len: 0,
            allocated: 0,
        });
        Ok(SectionId(self.slots.len() - 1))
    }

    /// Makes sure section `id` has room for `capacity` bytes in all
    /// (address space only), so that it is not moved while it fills up to
    /// that.
    pub fn reserve_total(&mut self, id: SectionId, capacity: usize) -> Result<(), ShmError> {
        self.check_usable()?;
        let s = self.slot(id)?;
        if capacity > s.cap {
            self.grow(id.0, capacity)?;
        }
        Ok(())
    }

    /// Adds a complete `f64` section.
    pub fn add_f64(&mut self, name: &str, values: &[f64]) -> Result<SectionId, ShmError> {
        let bytes = size_of_val(values);
        let id = self.reserve(name, SectionKind::F64, bytes)?;
        self.push_f64(id, values)?;
        Ok(id)
    }

    /// Adds a complete byte section.
    pub fn add_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<SectionId, ShmError> {
        let id = self.reserve(name, SectionKind::Bytes, bytes.len())?;
        self.push_bytes(id, bytes)?;
        Ok(id)
    }

    /// Appends `values` to the `f64` section `id`.
    pub fn push_f64(&mut self, id: SectionId, values: &[f64]) -> Result<(), ShmError> {
        self.expect_kind(id, SectionKind::F64)?;
        let at = self.extend(id, size_of_val(values))?;
        let out = &mut self.map[at..at + size_of_val(values)];
        for (dst, x) in out.chunks_exact_mut(size_of::<f64>()).zip(values) {
            dst.copy_from_slice(&x.to_ne_bytes());
        }
        Ok(())
    }

    /// Appends `bytes` to the byte section `id`.
    pub fn push_bytes(&mut self, id: SectionId, bytes: &[u8]) -> Result<(), ShmError> {
        self.expect_kind(id, SectionKind::Bytes)?;
        let at = self.extend(id, bytes.len())?;
        self.map[at..at + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }

    /// What section `id` holds so far.
    pub fn bytes(&self, id: SectionId) -> &[u8] {
        match self.slots.get(id.0) {
            Some(s) => &self.map[s.offset..s.offset + s.len],
            None => &[],
        }
    }

    /// What the `f64` section `id` holds so far, to change in place.
    pub fn f64_mut(&mut self, id: SectionId) -> Result<&mut [f64], ShmError> {
        self.expect_kind(id, SectionKind::F64)?;
        let s = &self.slots[id.0];
        let bytes = &mut self.map[s.offset..s.offset + s.len];
        let ptr = bytes.as_mut_ptr();
        if ptr.align_offset(align_of::<f64>()) != 0 || !s.len.is_multiple_of(size_of::<f64>()) {
            return Err(ShmError::Misaligned {
                name: s.name.clone(),
            });
        }
        // SAFETY: `ptr` is aligned for f64 and the range is a whole number
        // of f64s (both checked), inside the mapping (`bytes` is a slice of
        // it); every bit pattern is a valid f64; the slice mutably borrows
        // `self`, which owns the mapping, so it cannot be remapped or
        // aliased while the slice lives.
        Ok(unsafe { std::slice::from_raw_parts_mut(ptr.cast::<f64>(), s.len / size_of::<f64>()) })
    }

    /// The slot of section `id`.
    fn slot(&self, id: SectionId) -> Result<&Slot, ShmError> {
        self.slots.get(id.0).ok_or_else(|| ShmError::NoSuchSection {
            name: format!("#{}", id.0),
        })
    }

    fn expect_kind(&self, id: SectionId, kind: SectionKind) -> Result<(), ShmError> {
        self.check_usable()?;
        let s = self.slot(id)?;
        if s.kind != kind {
            return Err(ShmError::WrongKind {
                name: s.name.clone(),
                expected: kind,
                found: s.kind,
            });
        }
        Ok(())
    }

    fn check_usable(&self) -> Result<(), ShmError> {
        if self.broken {
            return Err(ShmError::BadSectionEntry {
                entry: 0,
                reason: "a section was lost when the segment could not grow",
            });
        }
        Ok(())
    }

    /// Makes room for `extra` more bytes in section `id`, allocated in the
    /// object; returns the offset to write them at.
    fn extend(&mut self, id: SectionId, extra: usize) -> Result<usize, ShmError> {
        let i = id.0;
        let needed = self.slots[i]
            .len
            .checked_add(extra)
            .ok_or(ShmError::TooLarge)?;
        if needed > self.slots[i].cap {
            self.grow(i, needed)?;
        }
        let s = &self.slots[i];
        if needed > s.allocated {
            let upto = needed
                .max(s.allocated.saturating_add(ALLOCATE_AHEAD))
                .min(s.cap);
            let (from, offset) = (s.allocated, s.offset);
            self.allocate_range(offset + from, upto - from)?;
            self.slots[i].allocated = upto;
        }
        let s = &mut self.slots[i];
        let at = s.offset + s.len;
        s.len = needed;
        Ok(at)
    }

    /// Gives slot `i` room for at least `needed` bytes.
    fn grow(&mut self, i: usize, needed: usize) -> Result<(), ShmError> {
        let s = &self.slots[i];
        let cap = round_up(needed.max(s.cap.saturating_mul(2)))?;
        if s.offset + s.cap == self.map.len() {
            // The last section: the object grows under it.
            let end = s.offset.checked_add(cap).ok_or(ShmError::TooLarge)?;
            self.set_size(end)?;
        } else {
            let to = self.map.len();
            self.set_size(to.checked_add(cap).ok_or(ShmError::TooLarge)?)?;
            if let Err(e) = self.move_slot(i, to) {
                self.broken = true;
                return Err(e);
            }
        }
        self.slots[i].cap = cap;
        Ok(())
    }

    /// Moves slot `i`'s data to `dst`, which is either at or below its
    /// place or past its reserved room, a chunk at a time; each copied
    /// chunk of the old place that the new place does not cover is freed at
    /// once, and so is the room allocated ahead there.
    fn move_slot(&mut self, i: usize, dst: usize) -> Result<(), ShmError> {
        let (src, len, allocated) = {
            let s = &self.slots[i];
            (s.offset, s.len, s.allocated)
        };
        if dst == src {
            return Ok(());
        }
        // A forward copy is right for a move down, even overlapping, and
        // for a move up past the old place; never for a short move up.
        if dst > src && dst < src + self.slots[i].cap {
            return Err(ShmError::BadSectionEntry {
                entry: i,
                reason: "section moved up into its own reserved room",
            });
        }
        let mut done = 0;
        while done < len {
            let k = MOVE_CHUNK.min(len - done);
            self.allocate_range(dst + done, k)?;
            self.map.copy_within(src + done..src + done + k, dst + done);
            // The copied chunk, less what the new place covers.
            let end = src + done + k;
            let start = if dst < src {
                (src + done).max(dst + len)
            } else {
                src + done
            };
            if start < end {
                self.punch_range(start, end - start);
            }
            done += k;
        }
        if allocated > len {
            // Room allocated ahead at the old place (the new place ends
            // below it when moving down, and lies past it when moving up).
            self.punch_range(src + len, allocated - len);
        }
        let s = &mut self.slots[i];
        s.offset = dst;
        s.allocated = len;
        Ok(())
    }

    /// Allocates `[start, start + len)` in the object, so that writing
    /// there cannot fail for lack of memory. Where the file system cannot,
    /// this is skipped (writes then allocate as they fault).
    fn allocate_range(&mut self, start: usize, len: usize) -> Result<(), ShmError> {
        if !self.allocate || len == 0 {
            return Ok(());
        }
        match fallocate(
            &self.rw,
            FallocateFlags::empty(),
            to_off(start)?,
            to_off(len)?,
        ) {
            Ok(()) => Ok(()),
            // Not supported here, or refused by a seccomp filter that
            // answers EPERM: pages are then allocated as they are written.
            Err(Errno::EOPNOTSUPP | Errno::ENOSYS | Errno::EPERM) => {
                self.allocate = false;
                Ok(())
            }
            Err(e) => Err(os_err("fallocate")(e)),
        }
    }

    /// Frees `[start, start + len)` of the object (reads as zeros after).
    /// Only memory is at stake: a failure is ignored.
    fn punch_range(&mut self, start: usize, len: usize) {
        if !self.punch || len == 0 {
            return;
        }
        let (Ok(start), Ok(len)) = (to_off(start), to_off(len)) else {
            return;
        };
        let mode = FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE;
        if fallocate(&self.rw, mode, start, len).is_err() {
            self.punch = false;
        }
    }

    /// Sets the object's length and maps all of it.
    fn set_size(&mut self, size: usize) -> Result<(), ShmError> {
        let len = to_off(size)?;
        let truncate = |rw: &OwnedFd| nix::unistd::ftruncate(rw, len).map_err(os_err("ftruncate"));
        let remap = |map: &mut MmapMut| {
            // SAFETY: the object is at least `size` bytes long whenever the
            // mapping is (it is lengthened before the mapping grows and
            // shortened after it shrinks), so no byte past its end is ever
            // mapped; the mapping may move, but `&mut self` guarantees that
            // no reference into it exists.
            unsafe { map.remap(size, RemapOptions::new().may_move(true)) }.map_err(|e| {
                ShmError::Os {
                    op: "mremap",
                    source: e,
                }
            })
        };
        if size >= self.map.len() {
            truncate(&self.rw)?;
            if let Err(e) = remap(&mut self.map) {
                // Back to the mapped length (address space may be limited,
                // RLIMIT_AS); the writer stays usable.
                let _ = to_off(self.map.len()).map(|old| nix::unistd::ftruncate(&self.rw, old));
                return Err(e);
            }
            Ok(())
        } else {
            remap(&mut self.map)?;
            truncate(&self.rw)
        }
    }

    /// Seals the segment: moves the sections next to each other, writes
    /// the header, section table and checksum, cuts the object to its
    /// length, closes the writable descriptor and maps it read-only.
    pub fn finish(mut self) -> Result<Segment, ShmError> {
        self.check_usable()?;
        let n = self.slots.len();
        let header_len = FIXED_HEADER_LEN + ENTRY_LEN * n;
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| self.slots[i].offset);
        // Every slot starts at or above its final place: the table fits
        // below the first reserved place, and each slot lies past all the
        // room reserved for the slots before it.
        let mut cursor = header_len;
        for i in order {
            let dst = align_up(cursor).ok_or(ShmError::TooLarge)?;
            self.move_slot(i, dst)?;
            self.allocate_range(cursor, dst - cursor)?;
            self.map[cursor..dst].fill(0);
            cursor = dst + self.slots[i].len;
        }
        let total = cursor;
        self.allocate_range(0, header_len)?;
        {
            let out = &mut self.map[..header_len];
            out.fill(0);
            write_header(out, n, total, header_len)?;
            for (i, s) in self.slots.iter().enumerate() {
                write_entry(out, i, &s.name, s.offset, s.len, s.kind);
            }
        }
        self.set_size(total)?;
        let crc = checksum(&self.map);
        self.map[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
        let SegmentWriter {
            name, rw, ro, map, ..
        } = self;
        // Unmapped before the read-only view maps it: one mapping at a time
        // keeps the supervisor's resident size at one copy.
        drop(map);
        // The writable descriptor is closed here; only `ro` remains.
        drop(rw);
        let view = SegmentView::open_fd(ro.as_fd())?;
        Ok(Segment::sealed(name, ro, view))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes of the object allocated in memory (tmpfs counts pages).
    fn allocated(w: &SegmentWriter) -> u64 {
        let st = nix::sys::stat::fstat(&w.rw).expect("fstat");
        u64::try_from(st.st_blocks).expect("blocks") * 512
    }

    fn on_dev_shm(name: &str) -> bool {
        let leaf = name.trim_start_matches('/');
        std::fs::read_dir("/dev/shm")
            .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy() == leaf))
            .unwrap_or(false)
    }

    /// Sections appended in small pieces, outgrowing tiny reservations
    /// (moved to the end, or grown in place when last), read back exactly
    /// through the sealed segment.
    #[test]
    fn sections_written_piecewise_read_back_exactly() {
        let mut w = SegmentWriter::new().expect("writer");
        assert!(!on_dev_shm(&w.name), "the object has no name");
        let a: Vec<f64> = (0..37).map(|i| f64::from(i) * 0.5 - 3.0).collect();
        w.add_f64("A", &a).expect("A");
        let counts = w.reserve("counts", SectionKind::F64, 8).expect("counts");
        let text = w.reserve("text", SectionKind::Bytes, 1).expect("text");
        let mut want_counts = Vec::new();
        let mut want_text = Vec::new();
        for i in 0..200_000u32 {
            let row = [f64::from(i), f64::from(i) + 0.25, -0.0];
            w.push_f64(counts, &row).expect("push counts");
            want_counts.extend_from_slice(&row);
            let id = format!("s{i}");
            w.push_bytes(text, id.as_bytes()).expect("push text");
            want_text.extend_from_slice(id.as_bytes());
        }
        w.f64_mut(counts).expect("counts")[1] = 42.0;
        want_counts[1] = 42.0;
        w.add_bytes("plan", b"plan\x00").expect("plan");
        assert!(matches!(
            w.push_bytes(counts, b"x"),
            Err(ShmError::WrongKind { .. })
        ));
        assert!(matches!(
            w.reserve("A", SectionKind::Bytes, 1),
            Err(ShmError::DuplicateSection { .. })
        ));
        let seg = w.finish().expect("finish");
        let v = seg.view();
        assert_eq!(v.f64_section("A").expect("A"), &a[..]);
        let got = v.f64_section("counts").expect("counts");
        assert_eq!(got.len(), want_counts.len());
        assert!(
            got.iter()
                .zip(&want_counts)
                .all(|(x, y)| x.to_bits() == y.to_bits())
        );
        assert_eq!(v.bytes_section("text").expect("text"), &want_text[..]);
        assert_eq!(v.bytes_section("plan").expect("plan"), b"plan\x00");
        let names: Vec<_> = v.sections().map(|(n, _)| n).collect();
        assert_eq!(names, ["A", "counts", "text", "plan"]);
        // Sealed to its exact length, and still nameless.
        let st = nix::sys::stat::fstat(seg.as_fd()).expect("fstat");
        assert_eq!(st.st_size as usize, seg.len());
        assert!(!on_dev_shm(seg.unlinked_name()));
    }

    /// A section that moves frees its old place as it goes: what the
    /// object holds in memory stays close to what was written.
    #[test]
    fn moving_a_section_frees_its_old_place() {
        let mut w = SegmentWriter::new().expect("writer");
        let big = w.reserve("big", SectionKind::Bytes, 1).expect("big");
        // A second section after it: `big` can only grow by moving.
        let small = w.reserve("small", SectionKind::Bytes, 1).expect("small");
        w.push_bytes(small, b"s").expect("small");
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..24 {
            w.push_bytes(big, &chunk).expect("push");
            w.push_bytes(small, b"s").expect("small");
        }
        let written = 24u64 << 20;
        let held = allocated(&w);
        assert!(
            held <= written + (2 * ALLOCATE_AHEAD + 4 * WRITE_ALIGN) as u64,
            "{held} bytes held for {written} written"
        );
        let seg = w.finish().expect("finish");
        assert_eq!(
            seg.view().bytes_section("big").expect("big").len(),
            24 << 20
        );
        assert!(
            seg.view()
                .bytes_section("big")
                .expect("big")
                .iter()
                .all(|&b| b == 7)
        );
        assert_eq!(
            seg.view().bytes_section("small").expect("small"),
            &[b's'; 25]
        );
        let st = nix::sys::stat::fstat(seg.as_fd()).expect("fstat");
        let held = u64::try_from(st.st_blocks).expect("blocks") * 512;
        assert!(
            held <= seg.len() as u64 + WRITE_ALIGN as u64,
            "{held} bytes held for a {}-byte segment",
            seg.len()
        );
    }

    /// An unfinished writer, dropped (an input error), leaves nothing.
    #[test]
    fn a_dropped_writer_leaves_nothing() {
        let mut w = SegmentWriter::new().expect("writer");
        let id = w.reserve("x", SectionKind::F64, 1 << 30).expect("reserve");
        w.push_f64(id, &[1.0; 1000]).expect("push");
        let name = w.name.clone();
        drop(w);
        assert!(!on_dev_shm(&name));
    }
}
