//! The byte format of a results log: the 12-byte file header, the 8-byte
//! frame header (payload length, CRC-32 of the payload) and the encoding of
//! a record as a frame. Every reader and writer goes through these.

use std::path::Path;

use super::{FRAME_HEADER_LEN, HEADER_LEN, LOG_MAGIC, LogError, MAX_PAYLOAD_LEN};
use crate::store::format::FormatVersion;
use crate::store::record::SampleRecord;

/// The 12 header bytes of a log in format `version`.
pub(super) fn header_bytes(version: FormatVersion) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(&LOG_MAGIC);
    h[8..].copy_from_slice(&version.0.to_le_bytes());
    h
}

/// Checks the magic and the format version of a file header.
pub(super) fn parse_header(
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

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FrameHeader {
    /// Payload length as stored.
    pub len: u32,
    /// CRC-32 of the payload as stored.
    pub crc: u32,
}

impl FrameHeader {
    /// Decodes the first [`FRAME_HEADER_LEN`] bytes of `bytes`.
    #[track_caller]
    pub fn parse(bytes: &[u8]) -> FrameHeader {
        let word = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        FrameHeader {
            len: word(0),
            crc: word(4),
        }
    }

    /// A length a frame may have: not zero (zero-filled damage), not above
    /// [`MAX_PAYLOAD_LEN`].
    pub fn plausible(&self) -> bool {
        self.len != 0 && self.len <= MAX_PAYLOAD_LEN
    }
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

/// One valid frame returned by [`super::LogReader::next_frame`].
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Byte offset of the frame header in the file.
    pub offset: u64,
    /// The checksummed payload.
    pub payload: &'a [u8],
}
