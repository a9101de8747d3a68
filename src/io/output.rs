//! Writing sample files for simulated data in the input formats
//! ([`write_samples_csv`], [`write_samples_npy`]), atomically: the data go
//! to a temporary file in the same directory, which is synced and then
//! renamed over the target, so a reader never sees a half-written file.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use ndarray::ArrayView2;
use ndarray_npy::WriteNpyExt;

use super::csv_input::SAMPLE_COLUMN;
use super::error::OutputError;

/// Writes a CSV sample file readable by [`super::read_samples`]: header
/// `sample,<labels>`, then one row per sample (`ids[i]`, then row `i` of
/// the row-major `counts_row_major`, `ids.len() × labels.len()`).
///
/// Numbers are written in Rust's shortest round-trip form, so reading the
/// file back gives the same `f64`s. Labels and ids must be non-empty and
/// distinct, counts finite and non-negative (checked before anything is
/// created). Replaces `path` atomically.
pub fn write_samples_csv(
    path: &Path,
    labels: &[String],
    ids: &[String],
    counts_row_major: &[f64],
) -> Result<(), OutputError> {
    check_csv(path, labels, ids, counts_row_major)?;
    write_atomically(path, |out| {
        write_csv_rows(out, path, labels, ids, counts_row_major)
    })
}

/// Writes the same CSV as [`write_samples_csv`] to `out` (standard output,
/// say) instead of a file, after the same checks; `name` names the
/// destination in errors.
pub fn write_samples_csv_to(
    out: impl Write,
    name: &Path,
    labels: &[String],
    ids: &[String],
    counts_row_major: &[f64],
) -> Result<(), OutputError> {
    check_csv(name, labels, ids, counts_row_major)?;
    write_csv_rows(out, name, labels, ids, counts_row_major)
}

fn check_csv(
    path: &Path,
    labels: &[String],
    ids: &[String],
    counts_row_major: &[f64],
) -> Result<(), OutputError> {
    check_table(path, labels.len(), ids.len(), counts_row_major)?;
    check_names(path, "label", labels)?;
    check_names(path, "sample id", ids)?;
    if labels.iter().any(|l| l == SAMPLE_COLUMN) {
        return Err(OutputError::Shape {
            path: path.to_path_buf(),
            detail: format!("a label may not be '{SAMPLE_COLUMN}' (the id column)"),
        });
    }
    Ok(())
}

fn write_csv_rows(
    out: impl Write,
    path: &Path,
    labels: &[String],
    ids: &[String],
    counts_row_major: &[f64],
) -> Result<(), OutputError> {
    {
        let csv_err = |source| OutputError::Csv {
            path: path.to_path_buf(),
            source,
        };
        let mut writer = csv::Writer::from_writer(out);
        writer
            .write_record(std::iter::once(SAMPLE_COLUMN).chain(labels.iter().map(String::as_str)))
            .map_err(csv_err)?;
        let m = labels.len();
        let mut number = String::new();
        for (i, id) in ids.iter().enumerate() {
            writer.write_field(id).map_err(csv_err)?;
            for &v in &counts_row_major[i * m..(i + 1) * m] {
                number.clear();
                std::fmt::Write::write_fmt(&mut number, format_args!("{v}")).map_err(|_| {
                    OutputError::Io {
                        path: path.to_path_buf(),
                        source: std::io::Error::other("formatting a number failed"),
                    }
                })?;
                writer.write_field(&number).map_err(csv_err)?;
            }
            writer.write_record(None::<&[u8]>).map_err(csv_err)?;
        }
        writer.flush().map_err(|source| OutputError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Writes an NPY sample file readable by [`super::read_samples`]: a
/// float64 `n_samples × n_outcomes` array (ids are the row numbers). The
/// same checks and atomic replacement as [`write_samples_csv`].
pub fn write_samples_npy(
    path: &Path,
    n_samples: usize,
    n_outcomes: usize,
    counts_row_major: &[f64],
) -> Result<(), OutputError> {
    check_table(path, n_outcomes, n_samples, counts_row_major)?;
    let view = ArrayView2::from_shape((n_samples, n_outcomes), counts_row_major).map_err(|e| {
        OutputError::Shape {
            path: path.to_path_buf(),
            detail: e.to_string(),
        }
    })?;
    write_atomically(path, |out| {
        view.write_npy(out).map_err(|source| OutputError::Npy {
            path: path.to_path_buf(),
            source,
        })
    })
}

fn check_table(path: &Path, m: usize, n: usize, counts: &[f64]) -> Result<(), OutputError> {
    if n.checked_mul(m) != Some(counts.len()) {
        return Err(OutputError::Shape {
            path: path.to_path_buf(),
            detail: format!(
                "{} counts do not form {n} samples × {m} outcomes",
                counts.len()
            ),
        });
    }
    if let Some(idx) = counts.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
        return Err(OutputError::InvalidCount {
            path: path.to_path_buf(),
            sample: idx / m,
            outcome: idx % m,
            value: counts[idx],
        });
    }
    Ok(())
}

fn check_names(path: &Path, what: &str, names: &[String]) -> Result<(), OutputError> {
    let mut seen = HashSet::with_capacity(names.len());
    for name in names {
        if name.trim().is_empty() || name.trim() != name {
            return Err(OutputError::Shape {
                path: path.to_path_buf(),
                detail: format!("{what} {name:?} is empty or has surrounding spaces"),
            });
        }
        if !seen.insert(name.as_str()) {
            return Err(OutputError::Shape {
                path: path.to_path_buf(),
                detail: format!("duplicate {what} {name:?}"),
            });
        }
    }
    Ok(())
}

/// Runs `write` on a buffered temporary file, then syncs it and renames it
/// to `path`. The temporary file is removed on any failure. Errors name
/// `path`, the file the user asked for, never the temporary one.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&File>) -> Result<(), OutputError>,
) -> Result<(), OutputError> {
    let io_err = |source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let (temp, file) = crate::atomic::TempFile::create(path).map_err(|e| io_err(e.source))?;
    let mut out = BufWriter::new(&file);
    write(&mut out)?;
    out.flush().map_err(io_err)?;
    drop(out);
    temp.commit(file).map_err(|e| io_err(e.source))
}
