//! CSV tokenizing shared by the sample and ket readers: reader settings,
//! record iteration with line numbers, and header decoding.

use std::io::Read;
use std::path::Path;

use csv::{ByteRecord, Reader, ReaderBuilder, Trim};

use super::cell::decode;
use super::error::{InputError, Location};

/// A CSV reader over `reader`: no implicit header (headers are located and
/// checked by the callers), ragged rows allowed (reported by the callers
/// with their line), fields trimmed, blank lines skipped. The delimiter is
/// [`sniff_delimiter`]'s.
pub(crate) fn csv_reader<R: Read>(path: &Path, reader: R) -> Reader<R> {
    ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(Trim::All)
        .delimiter(sniff_delimiter(path))
        .from_reader(reader)
}

/// The delimiters a text input may use, in order of preference.
pub const DELIMITERS: [u8; 3] = [b',', b'\t', b';'];

/// How much of a file [`sniff_delimiter`] looks at.
const SNIFF_BYTES: u64 = 64 << 10;

/// The field delimiter of the text file at `path`: a tab for `*.tsv`;
/// otherwise whichever of comma, tab and semicolon occurs most often in
/// its first non-blank line (within the first 64 KiB), a comma on a tie or
/// when there is none. Spreadsheets export semicolon-separated files where
/// the comma is the decimal mark, and tab-separated ones under any name.
/// Only a regular file is looked at (a pipe must not lose bytes to the
/// look); anything else is comma-separated.
pub fn sniff_delimiter(path: &Path) -> u8 {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"))
    {
        return b'\t';
    }
    let mut head = Vec::new();
    let read = std::fs::metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_file)
        .and_then(|_| std::fs::File::open(path).ok())
        .map(|f| f.take(SNIFF_BYTES).read_to_end(&mut head));
    if !matches!(read, Some(Ok(_))) {
        return b',';
    }
    let first_line = head
        .split(|&b| b == b'\n')
        .find(|line| line.iter().any(|b| !b.is_ascii_whitespace()))
        .unwrap_or_default();
    let count = |d: u8| first_line.iter().filter(|&&b| b == d).count();
    let mut best = (b',', count(b','));
    for d in &DELIMITERS[1..] {
        let n = count(*d);
        if n > best.1 {
            best = (*d, n);
        }
    }
    best.0
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delimiter_is_sniffed_from_the_first_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).expect("write");
            p
        };
        assert_eq!(
            sniff_delimiter(&write("c.csv", "\n sample,a,b\n1;2;3\n")),
            b','
        );
        assert_eq!(
            sniff_delimiter(&write("s.csv", "sample;a;b\n1,5;2;3\n")),
            b';'
        );
        assert_eq!(sniff_delimiter(&write("t.csv", "sample\ta\tb\n")), b'\t');
        assert_eq!(sniff_delimiter(&write("t.tsv", "sample,a,b\n")), b'\t');
        assert_eq!(sniff_delimiter(&write("p.csv", "sample|a|b\n")), b',');
        assert_eq!(sniff_delimiter(&dir.path().join("missing.csv")), b',');
        assert_eq!(sniff_delimiter(dir.path()), b',');
    }
}
