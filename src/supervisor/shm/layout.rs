//! The byte format of a segment (see the table in [`super`]): writing the
//! header and section table, and verifying them. Pure: no OS calls.

use super::{
    CHECKSUM_OFFSET, ENTRY_LEN, FIXED_HEADER_LEN, FORMAT_VERSION, MAGIC, MAX_NAME_LEN,
    SECTION_ALIGN, SectionKind, ShmError,
};

/// Refuses a section name that is empty, too long or contains a NUL.
pub(super) fn check_name(name: &str) -> Result<(), ShmError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.contains('\0') {
        return Err(ShmError::InvalidName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Writes the fixed header (checksum field left zero) into `out`, whose
/// first `header_len` bytes are zero.
pub(super) fn write_header(
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
pub(super) fn write_entry(
    out: &mut [u8],
    i: usize,
    name: &str,
    offset: usize,
    len: usize,
    kind: SectionKind,
) {
    let e = FIXED_HEADER_LEN + i * ENTRY_LEN;
    out[e..e + name.len()].copy_from_slice(name.as_bytes());
    out[e + 40..e + 48].copy_from_slice(&(offset as u64).to_le_bytes());
    out[e + 48..e + 56].copy_from_slice(&(len as u64).to_le_bytes());
    out[e + 56..e + 60].copy_from_slice(&kind.code().to_le_bytes());
}

pub(super) fn align_up(x: usize) -> Option<usize> {
    Some(x.checked_add(SECTION_ALIGN - 1)? / SECTION_ALIGN * SECTION_ALIGN)
}

/// crc32 over `bytes` with the checksum field treated as zero.
pub(super) fn checksum(bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[..CHECKSUM_OFFSET]);
    h.update(&[0; 4]);
    h.update(&bytes[CHECKSUM_OFFSET + 4..]);
    h.finalize()
}

/// A section table entry, validated against the mapping.
#[derive(Clone, Debug)]
pub(super) struct Entry {
    pub(super) name: String,
    pub(super) offset: usize,
    pub(super) len: usize,
    pub(super) kind: SectionKind,
}

pub(super) fn read_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

pub(super) fn read_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Checks magic, version, lengths, checksum and section table of the
/// segment bytes `b` (of file length `actual`); returns the table.
pub(super) fn verify(b: &[u8], actual: u64) -> Result<Vec<Entry>, ShmError> {
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
