//! Turning `--basis`, `--qubits` and `--dim` into a measurement set.

use crate::cli::error::CliError;
use crate::tomo::{MeasurementSet, builtin_set};
use std::path::Path;

/// Builds the set named by `basis` (pauli, qudit, james16, or a kets CSV
/// file). For `pauli` without `--qubits`, the number of qubits is inferred
/// from `n_columns` (the input's count columns, 6^n for n qubits).
pub fn resolve(
    basis: &str,
    qubits: Option<usize>,
    dim: Option<usize>,
    n_columns: Option<usize>,
) -> Result<MeasurementSet, CliError> {
    check_size_options(basis, qubits, dim)?;
    match basis {
        "pauli" => {
            let n = match qubits {
                Some(n) => n,
                None => infer_qubits(n_columns).ok_or_else(|| {
                    CliError::Usage(format!(
                        "--basis pauli needs --qubits N (could not infer it: the input has {} count columns, expected 6^N)",
                        n_columns.map_or("an unknown number of".to_string(), |c| c.to_string())
                    ))
                })?,
            };
            Ok(builtin_set("pauli", Some(n), None)?)
        }
        "qudit" => {
            let d = dim.ok_or_else(|| CliError::Usage("--basis qudit needs --dim D".into()))?;
            Ok(builtin_set("qudit", None, Some(d))?)
        }
        "james16" => Ok(builtin_set("james16", None, None)?),
        file => {
            let path = Path::new(file);
            if !path.exists() {
                return Err(CliError::Usage(format!(
                    "unknown basis '{file}': expected pauli, qudit, james16 or the path of a kets CSV file"
                )));
            }
            let table = crate::io::read_kets_csv(path)?;
            let name = format!(
                "custom({})",
                path.file_name()
                    .map_or(file.into(), |f| f.to_string_lossy())
            );
            MeasurementSet::from_kets(&name, table.labels, &table.kets, table.settings).map_err(
                |e| CliError::BadFile {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                },
            )
        }
    }
}

/// Refuses `--qubits` with a basis other than `pauli` and `--dim` with one
/// other than `qudit`: the basis fixes its own size, and the option would
/// be silently ignored.
pub fn check_size_options(
    basis: &str,
    qubits: Option<usize>,
    dim: Option<usize>,
) -> Result<(), CliError> {
    if let Some(n) = qubits
        && basis != "pauli"
    {
        return Err(CliError::Usage(format!(
            "--qubits {n} applies only to --basis pauli; --basis {basis} has its own size (drop --qubits)"
        )));
    }
    if let Some(d) = dim
        && basis != "qudit"
    {
        return Err(CliError::Usage(format!(
            "--dim {d} applies only to --basis qudit; --basis {basis} has its own size (drop --dim)"
        )));
    }
    Ok(())
}

/// The number of qubits for `--basis pauli` without `--qubits`, from the
/// count columns of `input`'s first line; the error names the file.
pub fn infer_pauli_qubits(input: &Path) -> Result<usize, CliError> {
    let columns = count_columns(input);
    infer_qubits(columns).ok_or_else(|| CliError::BadFile {
        path: input.to_path_buf(),
        message: match columns {
            Some(c) => format!(
                "cannot infer --qubits for --basis pauli: line 1 has {c} count columns, expected 6^N (6, 36, 216, ...); check the header row or pass --qubits N"
            ),
            None => "cannot infer --qubits for --basis pauli from this file; pass --qubits N".into(),
        },
    })
}

/// n such that 6^n = columns.
fn infer_qubits(columns: Option<usize>) -> Option<usize> {
    let c = columns?;
    (1..=6).find(|&n| 6usize.pow(n as u32) == c)
}

/// Number of count columns in a CSV header (all columns except `sample`)
/// or an NPY header; `None` if the file cannot be read here (the real
/// reader reports why).
pub fn count_columns(path: &Path) -> Option<usize> {
    use std::io::BufRead;
    if path.extension().is_some_and(|e| e == "npy") {
        return crate::io::npy_column_count(path);
    }
    let file = std::fs::File::open(path).ok()?;
    let mut line = String::new();
    std::io::BufReader::new(file).read_line(&mut line).ok()?;
    let line = line.trim_start_matches('\u{feff}');
    let cols = line
        .trim()
        .split(',')
        .filter(|c| c.trim() != "sample" && !c.trim().is_empty())
        .count();
    (cols > 0).then_some(cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_qubits_from_columns() {
        assert_eq!(infer_qubits(Some(36)), Some(2));
        assert_eq!(infer_qubits(Some(216)), Some(3));
        assert_eq!(infer_qubits(Some(16)), None);
        assert!(resolve("pauli", None, None, Some(16)).is_err());
        assert_eq!(resolve("pauli", None, None, Some(36)).unwrap().dim(), 4);
        assert!(
            resolve("nonsense", None, None, None)
                .unwrap_err()
                .to_string()
                .contains("unknown basis")
        );
        assert!(resolve("qudit", None, None, None).is_err());
    }
}
