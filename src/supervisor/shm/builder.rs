//! [`SegmentBuilder`]: a segment from data the supervisor already holds.

use std::collections::HashSet;
use std::os::fd::AsFd;

use memmap2::MmapOptions;

use super::layout::{align_up, check_name, checksum, write_entry, write_header};
use super::segment::NamedObject;
use super::{
    CHECKSUM_OFFSET, ENTRY_LEN, FIXED_HEADER_LEN, SectionKind, Segment, SegmentView, ShmError,
    os_err,
};

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

    #[cfg(test)]
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
        let (name, rw, ro) = NamedObject::create_unlinked()?;
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
        Ok(Segment::sealed(name, ro, view))
    }
}
