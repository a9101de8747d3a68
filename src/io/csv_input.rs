//! Reading sample counts from CSV: one sample per row (optional `sample` id
//! column, then one column per label) or, transposed, one sample per column
//! (label column first, sample ids in the header).

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::io::Read;
use std::path::Path;

use csv::ByteRecord;

use super::cell::{parse_count, parse_text};
use super::csv_text::{checked_line, csv_reader, next_record, read_header};
use super::error::{InputError, Location};
use super::input::{ColumnMode, InputOptions, SampleBatch};
use super::labels::{header_hint, looks_like_data, match_labels, row_preview};

/// The name of the optional id column.
pub(crate) const SAMPLE_COLUMN: &str = "sample";

/// Reads a CSV sample file (see [`super::read_samples`]).
pub(crate) fn read_csv<R: Read>(
    path: &Path,
    reader: R,
    expected: &[String],
    opts: &InputOptions,
) -> Result<SampleBatch, InputError> {
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
        read_by_column(path, reader, expected, opts, names, header_line)
    } else {
        read_by_row(path, reader, expected, opts, names, header_line)
    }
}

/// Records ids and rejects duplicates.
///
/// It keeps only a 64-bit hash of each id, not a copy: for millions of
/// samples a map from every id to its location was the largest allocation
/// of the whole ingest (about 150 bytes per sample, and the heap stayed
/// that large after it was freed). The ids themselves are in the caller's
/// list; when a hash is seen again, the caller finds the earlier equal id
/// there (a real duplicate, reported with both places) or finds none (two
/// ids that merely share a hash, which is accepted).
struct IdRegistry<'p> {
    path: &'p Path,
    hasher: RandomState,
    seen: HashSet<u64>,
}

impl<'p> IdRegistry<'p> {
    fn new(path: &'p Path) -> Self {
        IdRegistry {
            path,
            hasher: RandomState::new(),
            seen: HashSet::new(),
        }
    }

    /// Records `id`, found at `at`. On a repeated hash, `earlier(id)` must
    /// return where an equal id was recorded before, if one was.
    fn insert(
        &mut self,
        id: &str,
        at: impl FnOnce() -> Location,
        earlier: impl FnOnce(&str) -> Option<Location>,
    ) -> Result<(), InputError> {
        if self.seen.insert(self.hasher.hash_one(id)) {
            return Ok(());
        }
        match earlier(id) {
            Some(first) => Err(InputError::DuplicateId {
                path: self.path.to_path_buf(),
                id: id.to_owned(),
                first: Box::new(first),
                at: at(),
            }),
            None => Ok(()),
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

/// One sample per row.
fn read_by_row<R: Read>(
    path: &Path,
    mut reader: csv::Reader<R>,
    expected: &[String],
    opts: &InputOptions,
    names: Vec<String>,
    header_line: u64,
) -> Result<SampleBatch, InputError> {
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

    let mut ids: Vec<String> = Vec::new();
    // The line of each id, for a duplicate's message; only with an id column.
    let mut id_lines: Vec<u64> = Vec::new();
    let mut counts = Vec::new();
    let mut registry = IdRegistry::new(path);
    let mut record = ByteRecord::new();
    while next_record(path, &mut reader, &mut record)? {
        let line = checked_line(path, &record, names.len())?;
        let base = counts.len();
        counts.resize(base + m, 0.0);
        for (i, field) in record.iter().enumerate() {
            let at = || Location::Cell {
                line,
                column: i as u64 + 1,
                name: column_name(i),
            };
            match outcome[i] {
                Some(k) => counts[base + k] = parse_count(path, field, at)?,
                None => {
                    let id = parse_text(path, field, "a sample id", at)?;
                    registry.insert(&id, at, |id| {
                        let k = ids.iter().position(|x| x == id)?;
                        Some(Location::Cell {
                            line: id_lines[k],
                            column: i as u64 + 1,
                            name: column_name(i),
                        })
                    })?;
                    ids.push(id);
                    id_lines.push(line);
                }
            }
        }
        if id_column.is_none() {
            ids.push(ids.len().to_string());
        }
    }
    if ids.is_empty() {
        return Err(InputError::NoSamples {
            path: path.to_path_buf(),
            what: "row",
        });
    }
    Ok(SampleBatch {
        n_samples: ids.len(),
        ids,
        counts,
        n_outcomes: m,
    })
}

/// One sample per column: the first column holds labels, the header row
/// holds sample ids.
fn read_by_column<R: Read>(
    path: &Path,
    mut reader: csv::Reader<R>,
    expected: &[String],
    opts: &InputOptions,
    names: Vec<String>,
    header_line: u64,
) -> Result<SampleBatch, InputError> {
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
    let n = names.len() - 1;
    let mut registry = IdRegistry::new(path);
    for (i, id) in names.iter().enumerate().skip(1) {
        let at = || Location::Cell {
            line: header_line,
            column: i as u64 + 1,
            name: None,
        };
        if id.is_empty() {
            return Err(InputError::EmptyField {
                path: path.to_path_buf(),
                at: at(),
                expected: "a sample id",
            });
        }
        registry.insert(id, at, |id| {
            let k = names[1..i].iter().position(|x| x == id)?;
            Some(Location::Cell {
                line: header_line,
                column: k as u64 + 2,
                name: None,
            })
        })?;
    }
    if n == 0 {
        return Err(InputError::NoSamples {
            path: path.to_path_buf(),
            what: "sample column",
        });
    }

    // Rows as found: label, its location, and n counts.
    let mut labels: Vec<(String, Location)> = Vec::new();
    let mut rows: Vec<f64> = Vec::new();
    let mut record = ByteRecord::new();
    while next_record(path, &mut reader, &mut record)? {
        let line = checked_line(path, &record, names.len())?;
        let label_at = || Location::Cell {
            line,
            column: 1,
            name: None,
        };
        let label = parse_text(path, &record[0], "a label", label_at)?;
        for (i, field) in record.iter().enumerate().skip(1) {
            let at = || Location::Cell {
                line,
                column: i as u64 + 1,
                name: Some(format!("label '{label}', sample '{}'", names[i])),
            };
            rows.push(parse_count(path, field, at)?);
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
    let mut counts = vec![0.0; n * m];
    for (r, &k) in outcome.iter().enumerate() {
        for s in 0..n {
            counts[s * m + k] = rows[r * n + s];
        }
    }
    Ok(SampleBatch {
        ids: names.into_iter().skip(1).collect(),
        counts,
        n_samples: n,
        n_outcomes: m,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(line: u64) -> Location {
        Location::Cell {
            line,
            column: 1,
            name: None,
        }
    }

    /// A repeated hash is a duplicate only if the caller finds an equal id
    /// earlier; otherwise (two ids sharing a hash) it is accepted.
    #[test]
    fn registry_reports_only_real_duplicates() {
        let path = Path::new("ids.csv");
        let mut r = IdRegistry::new(path);
        assert!(r.insert("a", || cell(2), |_| panic!("new id")).is_ok());
        assert!(
            r.insert("a", || cell(3), |_| None).is_ok(),
            "hash collision"
        );
        let err = r
            .insert("a", || cell(4), |_| Some(cell(2)))
            .expect_err("duplicate");
        let InputError::DuplicateId { first, at, id, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!(
            (id.as_str(), first.line(), at.line()),
            ("a", Some(2), Some(4))
        );
    }
}
