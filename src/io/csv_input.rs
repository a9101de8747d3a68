//! Reading sample counts from CSV: one sample per row (optional `sample` id
//! column, then one column per label) or, transposed, one sample per column
//! (label column first, sample ids in the header).
//!
//! Every row goes to the [`SampleSink`] as soon as its cells are checked;
//! nothing proportional to the input is kept here. Duplicate ids are found
//! after the last row (or before reporting an error further down the file,
//! so that the first problem in file order is the one reported) from a
//! sorted list of id hashes, 8 bytes per sample and freed at once, instead
//! of a hash set of every id held through the whole read.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::io::Read;
use std::path::Path;

use csv::ByteRecord;

use super::cell::{parse_count, parse_text, parse_text_ref};
use super::csv_text::{checked_line, csv_reader, line_of, next_record, read_header};
use super::error::{InputError, Location};
use super::labels::{header_hint, looks_like_data, match_labels, row_preview};
use super::options::{ColumnMode, InputOptions};
use super::sink::{SampleSink, SinkError, decimal_bytes};

/// The name of the optional id column.
pub(crate) const SAMPLE_COLUMN: &str = "sample";

/// Reads a CSV sample file (see [`super::read_samples`]) into `sink`,
/// which must be empty. `len` is the file's length, if known.
pub(crate) fn read_csv<R: Read, S: SampleSink>(
    path: &Path,
    reader: R,
    len: Option<u64>,
    expected: &[String],
    opts: &InputOptions,
    sink: &mut S,
) -> Result<(), InputError> {
    let mut reader = csv_reader(path, reader);
    let header = read_header(path, &mut reader)?;
    let Some((names, header_line)) = header.filter(|(n, _)| n.iter().any(|s| !s.is_empty())) else {
        return Err(InputError::EmptyFile {
            path: path.to_path_buf(),
            what: if opts.transposed {
                "one row per label"
            } else {
                "one row per sample"
            },
        });
    };
    if opts.transposed {
        read_by_column(path, reader, expected, opts, names, header_line, sink)
    } else {
        read_by_row(path, reader, len, expected, opts, names, header_line, sink)
    }
}

fn storage(path: &Path, source: SinkError) -> InputError {
    InputError::Storage {
        path: path.to_path_buf(),
        source,
    }
}

/// The first id, in input order, that repeats an earlier one, as
/// `(first, repeat)`: the smallest `repeat` whose id equals an earlier id,
/// and the first index holding that id. `id(i)` is id `i` of `0..n`.
///
/// The hashes of all ids are sorted to find the few that occur twice
/// (equal ids, or different ids sharing a hash); only ids with such a hash
/// are then compared.
fn first_duplicate<'a>(n: usize, id: impl Fn(usize) -> &'a str) -> Option<(usize, usize)> {
    let hasher = RandomState::new();
    let mut hashes: Vec<u64> = (0..n).map(|i| hasher.hash_one(id(i))).collect();
    hashes.sort_unstable();
    let repeated: HashSet<u64> = hashes
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    drop(hashes);
    if repeated.is_empty() {
        return None;
    }
    let mut first_of: HashMap<&str, usize> = HashMap::new();
    for i in 0..n {
        let s = id(i);
        if repeated.contains(&hasher.hash_one(s)) {
            match first_of.entry(s) {
                Entry::Occupied(first) => return Some((*first.get(), i)),
                Entry::Vacant(slot) => {
                    slot.insert(i);
                }
            }
        }
    }
    None
}

/// The line each data row starts on, kept compactly: only rows that do not
/// start on the line after the previous row's (after blank lines, or a
/// quoted field spanning lines) are recorded.
#[derive(Debug, Default)]
struct RowLines {
    breaks: Vec<(usize, u64)>,
    last: Option<u64>,
}

impl RowLines {
    /// Row `row` (0-based, in order) starts on `line`.
    fn push(&mut self, row: usize, line: u64) {
        if self.last.map(|l| l + 1) != Some(line) {
            self.breaks.push((row, line));
        }
        self.last = Some(line);
    }

    /// The line row `row` starts on.
    fn line(&self, row: usize) -> u64 {
        let k = self.breaks.partition_point(|&(r, _)| r <= row);
        match k.checked_sub(1).and_then(|k| self.breaks.get(k)) {
            Some(&(r, line)) => line + (row - r) as u64,
            None => 0,
        }
    }
}

fn missing_header(
    path: &Path,
    line: u64,
    leading: Option<&str>,
    expected: &[String],
    names: &[String],
) -> InputError {
    InputError::MissingHeader {
        path: path.to_path_buf(),
        at: Location::Line { line },
        expected: header_hint(leading, expected),
        found: row_preview(names),
    }
}

/// The rows read so far, for locating a duplicate id.
struct IdColumn<'n> {
    /// 0-based field of the ids.
    field: usize,
    names: &'n [String],
    lines: RowLines,
}

impl IdColumn<'_> {
    fn cell(&self, line: u64) -> Location {
        Location::Cell {
            line,
            column: self.field as u64 + 1,
            name: Some(format!("column '{}'", self.names[self.field])),
        }
    }

    /// The first duplicate among the rows in `sink`, or else between them
    /// and `current` (the id of the row being read, on `line`), as an
    /// error.
    fn duplicate<S: SampleSink>(
        &self,
        path: &Path,
        sink: &S,
        current: Option<(&str, u64)>,
    ) -> Option<InputError> {
        let id = |i: usize| sink.id(i).unwrap_or_default();
        let (first, id, at) = match first_duplicate(sink.len(), id) {
            Some((first, repeat)) => (first, id(repeat), self.lines.line(repeat)),
            None => {
                let (current, line) = current?;
                let first = (0..sink.len()).find(|&i| id(i) == current)?;
                (first, current, line)
            }
        };
        Some(InputError::DuplicateId {
            path: path.to_path_buf(),
            id: id.to_owned(),
            first: Box::new(self.cell(self.lines.line(first))),
            at: self.cell(at),
        })
    }
}

/// `e`, unless a duplicate id comes before it in the file: an error further
/// down than a duplicate is reported after it, as a reader that checked
/// the ids row by row would. `current`: the id of the row `e` is on, if it
/// was read before the failing cell, and its line.
fn first_error<S: SampleSink>(
    path: &Path,
    e: InputError,
    sink: &S,
    ids: &Option<IdColumn<'_>>,
    current: Option<(&str, u64)>,
) -> InputError {
    match ids {
        Some(ids) => ids.duplicate(path, sink, current).unwrap_or(e),
        None => e,
    }
}

/// One sample per row.
#[allow(clippy::too_many_arguments)]
fn read_by_row<R: Read, S: SampleSink>(
    path: &Path,
    mut reader: csv::Reader<R>,
    len: Option<u64>,
    expected: &[String],
    opts: &InputOptions,
    names: Vec<String>,
    header_line: u64,
    sink: &mut S,
) -> Result<(), InputError> {
    let m = expected.len();
    if looks_like_data(&names, expected) {
        return Err(missing_header(
            path,
            header_line,
            Some(SAMPLE_COLUMN),
            expected,
            &names,
        ));
    }
    let id_column = match opts.columns {
        ColumnMode::Labels => names.iter().position(|n| n == SAMPLE_COLUMN),
        ColumnMode::Positional => (names[0] == SAMPLE_COLUMN).then_some(0),
    };
    // outcome[i] = Some(k): field i holds the count of expected label k.
    let outcome: Vec<Option<usize>> = match opts.columns {
        ColumnMode::Labels => {
            let found: Vec<(String, Location)> = names
                .iter()
                .enumerate()
                .filter(|&(i, _)| Some(i) != id_column)
                .map(|(i, n)| {
                    let at = Location::Cell {
                        line: header_line,
                        column: i as u64 + 1,
                        name: None,
                    };
                    (n.clone(), at)
                })
                .collect();
            let at = Location::Line { line: header_line };
            let mut mapping = match_labels(path, &found, expected, "column", at)?.into_iter();
            (0..names.len())
                .map(|i| {
                    if Some(i) == id_column {
                        None
                    } else {
                        mapping.next()
                    }
                })
                .collect()
        }
        ColumnMode::Positional => {
            let offset = usize::from(id_column.is_some());
            if names.len() - offset != m {
                return Err(InputError::WrongOutcomeCount {
                    path: path.to_path_buf(),
                    at: Location::Line { line: header_line },
                    what: "count columns (after the optional 'sample' column)",
                    expected: m,
                    found: names.len() - offset,
                });
            }
            (0..names.len()).map(|i| i.checked_sub(offset)).collect()
        }
    };
    let column_name = |i: usize| Some(format!("column '{}'", names[i]));
    if let Some(len) = len {
        // A row has at least one byte per field, a separator between
        // fields and a line end.
        let fields = names.len().max(1) as u64;
        let rows = usize::try_from(len / (2 * fields) + 1).unwrap_or(usize::MAX);
        let id_bytes = match id_column {
            Some(_) => usize::try_from(len).unwrap_or(usize::MAX),
            None => decimal_bytes(rows),
        };
        sink.expect(rows, id_bytes).map_err(|e| storage(path, e))?;
    }

    let mut ids = id_column.map(|field| IdColumn {
        field,
        names: &names,
        lines: RowLines::default(),
    });
    let mut row = vec![0.0; m];
    let mut record = ByteRecord::new();
    loop {
        match next_record(path, &mut reader, &mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(first_error(path, e, sink, &ids, None)),
        }
        let line = line_of(&record);
        if let Err(e) = checked_line(path, &record, names.len()) {
            return Err(first_error(path, e, sink, &ids, None));
        }
        let mut id = None;
        for (i, field) in record.iter().enumerate() {
            let at = || Location::Cell {
                line,
                column: i as u64 + 1,
                name: column_name(i),
            };
            let cell = match outcome[i] {
                Some(k) => parse_count(path, field, at).map(|v| row[k] = v),
                None => parse_text_ref(path, field, "a sample id", at).map(|t| id = Some(t)),
            };
            if let Err(e) = cell {
                return Err(first_error(path, e, sink, &ids, id.map(|id| (id, line))));
            }
        }
        if let Some(ids) = &mut ids {
            ids.lines.push(sink.len(), line);
        }
        sink.push(id, &row).map_err(|e| storage(path, e))?;
    }
    if sink.is_empty() {
        return Err(InputError::NoSamples {
            path: path.to_path_buf(),
            what: "row",
        });
    }
    match ids.and_then(|ids| ids.duplicate(path, sink, None)) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// One sample per column: the first column holds labels, the header row
/// holds sample ids. The samples go to the sink first, with zero counts;
/// each label row is written into them as it is read, at the row's
/// position, and the counts of each sample are put in label order once
/// every label is known.
fn read_by_column<R: Read, S: SampleSink>(
    path: &Path,
    mut reader: csv::Reader<R>,
    expected: &[String],
    opts: &InputOptions,
    names: Vec<String>,
    header_line: u64,
    sink: &mut S,
) -> Result<(), InputError> {
    let m = expected.len();
    if expected.contains(&names[0]) || names.iter().all(|n| n.parse::<f64>().is_ok()) {
        return Err(missing_header(
            path,
            header_line,
            Some("label,<sample ids>"),
            &[],
            &names,
        ));
    }
    let ids = &names[1..];
    let n = ids.len();
    let header_cell = |field: usize| Location::Cell {
        line: header_line,
        column: field as u64 + 1,
        name: None,
    };
    // The first empty or repeated id, in header order.
    let empty = ids.iter().position(String::is_empty);
    match first_duplicate(n, |i| ids[i].as_str()) {
        Some((first, repeat)) if empty.is_none_or(|e| repeat < e) => {
            return Err(InputError::DuplicateId {
                path: path.to_path_buf(),
                id: ids[repeat].clone(),
                first: Box::new(header_cell(first + 1)),
                at: header_cell(repeat + 1),
            });
        }
        _ => {}
    }
    if let Some(e) = empty {
        return Err(InputError::EmptyField {
            path: path.to_path_buf(),
            at: header_cell(e + 1),
            expected: "a sample id",
        });
    }
    if n == 0 {
        return Err(InputError::NoSamples {
            path: path.to_path_buf(),
            what: "sample column",
        });
    }
    let id_bytes = ids.iter().map(String::len).sum();
    sink.expect(n, id_bytes).map_err(|e| storage(path, e))?;
    let zeros = vec![0.0; m];
    for id in ids {
        sink.push(Some(id), &zeros).map_err(|e| storage(path, e))?;
    }

    // Labels as found, with their locations; row r's counts are at
    // position r of each sample until the labels are matched.
    let mut labels: Vec<(String, Location)> = Vec::new();
    let mut record = ByteRecord::new();
    while next_record(path, &mut reader, &mut record)? {
        let line = checked_line(path, &record, names.len())?;
        let label_at = || Location::Cell {
            line,
            column: 1,
            name: None,
        };
        let label = parse_text(path, &record[0], "a label", label_at)?;
        let r = labels.len();
        let counts = sink.counts_mut().map_err(|e| storage(path, e))?;
        for (i, field) in record.iter().enumerate().skip(1) {
            let at = || Location::Cell {
                line,
                column: i as u64 + 1,
                name: Some(format!("label '{label}', sample '{}'", names[i])),
            };
            let value = parse_count(path, field, at)?;
            // A row past the m-th is checked but not kept: the labels
            // cannot match then, which is reported below.
            if r < m {
                counts[(i - 1) * m + r] = value;
            }
        }
        labels.push((label, label_at()));
    }
    if labels.is_empty() {
        return Err(InputError::NoSamples {
            path: path.to_path_buf(),
            what: "label row",
        });
    }
    let outcome: Vec<usize> = match opts.columns {
        ColumnMode::Labels => match_labels(path, &labels, expected, "row label", Location::File)?,
        ColumnMode::Positional => {
            if labels.len() != m {
                return Err(InputError::WrongOutcomeCount {
                    path: path.to_path_buf(),
                    at: Location::File,
                    what: "label rows",
                    expected: m,
                    found: labels.len(),
                });
            }
            (0..m).collect()
        }
    };
    // Matched labels are a permutation of the m expected ones.
    if m > 0 && outcome.iter().enumerate().any(|(r, &k)| r != k) {
        let counts = sink.counts_mut().map_err(|e| storage(path, e))?;
        let mut found = vec![0.0; m];
        for sample in counts.chunks_exact_mut(m) {
            found.copy_from_slice(sample);
            for (r, &k) in outcome.iter().enumerate() {
                sample[k] = found[r];
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_duplicate_is_the_earliest_repeat() {
        let ids = ["a", "b", "c", "b", "a", "c"];
        assert_eq!(first_duplicate(ids.len(), |i| ids[i]), Some((1, 3)));
        assert_eq!(first_duplicate(3, |i| ids[i]), None);
        assert_eq!(first_duplicate(0, |i| ids[i]), None);
        let many: Vec<String> = (0..10_000).map(|i| format!("s{i}")).collect();
        assert_eq!(first_duplicate(many.len(), |i| &many[i]), None);
    }

    #[test]
    fn row_lines_record_only_jumps() {
        let mut lines = RowLines::default();
        for (row, line) in [(0, 2), (1, 3), (2, 5), (3, 6), (4, 9)] {
            lines.push(row, line);
        }
        assert_eq!(lines.breaks.len(), 3);
        let got: Vec<u64> = (0..5).map(|r| lines.line(r)).collect();
        assert_eq!(got, [2, 3, 5, 6, 9]);
    }
}
