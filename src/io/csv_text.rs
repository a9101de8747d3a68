//! CSV tokenizing shared by the sample and ket readers: reader settings,
//! record iteration with line numbers, and header decoding.

use std::io::Read;
use std::path::Path;

use csv::{ByteRecord, Reader, ReaderBuilder, Trim};

use super::cell::decode;
use super::error::{InputError, Location};

/// A CSV reader over `reader`: no implicit header (headers are located and
/// checked by the callers), ragged rows allowed (reported by the callers
/// with their line), fields trimmed, blank lines skipped. Tab-separated
/// when `path` ends in `.tsv`.
pub(crate) fn csv_reader<R: Read>(path: &Path, reader: R) -> Reader<R> {
    let tsv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(Trim::All)
        .delimiter(if tsv { b'\t' } else { b',' })
        .from_reader(reader)
}

/// Reads the next record into `record`; `false` at end of file.
pub(crate) fn next_record<R: Read>(
    path: &Path,
    reader: &mut Reader<R>,
    record: &mut ByteRecord,
) -> Result<bool, InputError> {
    reader.read_byte_record(record).map_err(|e| {
        let source = match e.into_kind() {
            csv::ErrorKind::Io(io) => io,
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{other:?}")),
        };
        InputError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// The 1-based line on which `record` starts.
pub(crate) fn line_of(record: &ByteRecord) -> u64 {
    record.position().map_or(0, |p| p.line())
}

/// The record's line, after checking it has as many fields as the header.
pub(crate) fn checked_line(
    path: &Path,
    record: &ByteRecord,
    expected: usize,
) -> Result<u64, InputError> {
    let line = line_of(record);
    if record.len() != expected {
        return Err(InputError::WrongFieldCount {
            path: path.to_path_buf(),
            at: Location::Line { line },
            expected,
            found: record.len(),
        });
    }
    Ok(line)
}

/// Reads the first record as header names (a leading UTF-8 byte-order mark
/// is dropped). `None` when the file has no records at all.
pub(crate) fn read_header<R: Read>(
    path: &Path,
    reader: &mut Reader<R>,
) -> Result<Option<(Vec<String>, u64)>, InputError> {
    let mut record = ByteRecord::new();
    if !next_record(path, reader, &mut record)? {
        return Ok(None);
    }
    let line = line_of(&record);
    let mut names = Vec::with_capacity(record.len());
    for (i, field) in record.iter().enumerate() {
        let field = if i == 0 {
            field.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(field)
        } else {
            field
        };
        let at = || Location::Cell {
            line,
            column: i as u64 + 1,
            name: None,
        };
        names.push(decode(path, field, at)?.trim().to_owned());
    }
    Ok(Some((names, line)))
}
