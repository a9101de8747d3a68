//! Turning `--basis`, `--qubits` and `--dim` into a measurement set.

use crate::cli::error::CliError;
use crate::cli::probe::Probe;
use crate::tomo::sets::pauli::MAX_QUBITS;
use crate::tomo::sets::product_kets::from_local_kets;
use crate::tomo::{MeasurementSet, builtin_set};
use clap::Args;
use std::path::Path;

/// The measurement set options shared by `run` and `simulate`.
#[derive(Debug, Clone, Args)]
pub(crate) struct SetArgs {
    /// Measurement set: pauli, qudit, james16, or a kets CSV file.
    #[arg(long, default_value = "pauli")]
    pub basis: String,
    /// Number of qubits (pauli; when omitted, run infers it from the input's columns and simulate uses 2).
    #[arg(long)]
    pub qubits: Option<usize>,
    /// Dimension (qudit).
    #[arg(long)]
    pub dim: Option<usize>,
}

/// Builds the set named by `basis` (pauli, qudit, james16, or a kets CSV
/// file). For `pauli` without `--qubits`, the number of qubits is inferred
/// from `n_columns` (the input's count columns, 6^n for n qubits).
/// With `dense`, a kets file is always built as a dense set (a measurement
/// model needs the rows), never as a product set.
pub(crate) fn resolve(
    basis: &str,
    qubits: Option<usize>,
    dim: Option<usize>,
    n_columns: Option<usize>,
    dense: bool,
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
                return Err(CliError::Usage(if looks_like_path(file) {
                    format!(
                        "--basis {file}: no such file (expected pauli, qudit, james16 or the path of a kets CSV file)"
                    )
                } else {
                    format!(
                        "unknown basis '{file}': expected pauli, qudit, james16 or the path of a kets CSV file (there is no file named '{file}' either)"
                    )
                }));
            }
            let table = crate::io::read_kets_csv(path)?;
            let name = format!(
                "custom({})",
                path.file_name()
                    .map_or(file.into(), |f| f.to_string_lossy())
            );
            let built = if dense {
                let kets = table.kets();
                MeasurementSet::from_kets(&name, table.labels, &kets, table.settings)
            } else {
                from_local_kets(
                    &name,
                    table.labels,
                    table.settings,
                    &table.subsystem_dims,
                    &table.local,
                )
            };
            built.map_err(|e| CliError::BadFile {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
        }
    }
}

/// Refuses `--qubits` with a basis other than `pauli` and `--dim` with one
/// other than `qudit`: the basis fixes its own size, and the option would
/// be silently ignored.
pub(crate) fn check_size_options(
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

/// Whether a `--basis` or `--target` value that is no built-in name was
/// meant as a file: it has a directory part or an extension.
pub(crate) fn looks_like_path(value: &str) -> bool {
    let path = Path::new(value);
    path.extension().is_some() || path.components().count() > 1
}

/// The number of qubits for `--basis pauli`, from the input's count
/// columns (see [`crate::cli::probe`]):
///
/// * `--qubits` given: it stands, unless the header's labels are Pauli
///   labels of another number of qubits (with `by_label`), which is
///   refused in one short sentence naming both;
/// * not given: n when there are 6ⁿ count columns, or when the header's
///   labels are all Pauli labels of n qubits (the reader then names the
///   missing and unexpected ones); otherwise an error that suggests the
///   basis the header's labels (or the number of columns) fit.
pub(crate) fn pauli_qubits(
    input: &Path,
    given: Option<usize>,
    transposed: bool,
    by_label: bool,
) -> Result<usize, CliError> {
    let bad = |message: String| CliError::BadFile {
        path: input.to_path_buf(),
        message,
    };
    let Some(probe) = crate::cli::probe::probe(input, transposed) else {
        return given.ok_or_else(|| {
            bad("cannot infer --qubits for --basis pauli from this file; pass --qubits N".into())
        });
    };
    let labelled = probe
        .names
        .as_deref()
        .filter(|_| by_label)
        .and_then(crate::cli::probe::pauli_label_qubits);
    let count = probe.count;
    match (given, labelled) {
        (Some(q), Some(n)) if q != n => {
            let example = probe
                .names
                .as_ref()
                .and_then(|names| names.first())
                .cloned()
                .unwrap_or_default();
            let expects = if (1..=MAX_QUBITS).contains(&q) {
                format!(
                    "{} labels such as '{}'",
                    6usize.pow(q as u32),
                    crate::tomo::sets::pauli::labels(q)[0]
                )
            } else {
                format!("1 to {MAX_QUBITS} qubits")
            };
            Err(CliError::Usage(format!(
                "{}: the header's {count} count columns are labelled for {n} qubit{} (e.g. '{example}'), but --qubits {q} expects {expects}; pass --qubits {n}, or leave it out to infer it",
                probe.site(input),
                if n == 1 { "" } else { "s" }
            )))
        }
        (Some(q), None) => match probe.names.as_deref().filter(|_| by_label) {
            // A header of another set's labels: say which, not every label.
            Some(names)
                if crate::cli::probe::is_james16(names)
                    || crate::cli::probe::qudit_label_dim(names).is_some() =>
            {
                Err(CliError::Usage(format!(
                    "{}: --qubits {q} is for --basis pauli, but {} (and without --qubits)",
                    probe.site(input),
                    not_inferred(&probe)
                )))
            }
            _ => Ok(q),
        },
        (Some(q), _) => Ok(q),
        (None, _) => infer_qubits(Some(count)).or(labelled).ok_or_else(|| {
            CliError::Usage(format!("{}: {}", probe.site(input), not_inferred(&probe)))
        }),
    }
}

/// Why `--qubits` could not be inferred, with the basis the columns
/// suggest, or what to check.
fn not_inferred(probe: &Probe) -> String {
    let Probe {
        count,
        place,
        names,
        delimiter,
        ..
    } = probe;
    // A CSV header's line is in the message's `path:line:` already.
    let place = if probe.line.is_some() {
        "the header"
    } else {
        place.as_str()
    };
    let columns = format!(
        "{place} has {count} count column{}",
        if *count == 1 { "" } else { "s" }
    );
    let head = format!(
        "cannot infer --qubits for --basis pauli: {columns}, expected 6^N (6, 36, 216, ...)"
    );
    let shown = |names: &[String]| {
        let mut s: Vec<&str> = names.iter().take(4).map(String::as_str).collect();
        if names.len() > 4 {
            s.push("...");
        }
        s.join(", ")
    };
    if let Some(names) = names {
        if !names.is_empty() && names.iter().all(|n| n.parse::<f64>().is_ok()) {
            return format!(
                "expected a header row naming the columns (sample,X:0,X:1,...), found what looks like a data row ({})",
                shown(names)
            );
        }
        if crate::cli::probe::is_james16(names) {
            return format!(
                "the header's labels ({}) are the james16 set's: pass --basis james16",
                shown(names)
            );
        }
        if let Some(d) = crate::cli::probe::qudit_label_dim(names) {
            return format!(
                "the header's labels ({}) are qudit labels: pass --basis qudit --dim {d}",
                shown(names)
            );
        }
        if *count == 1 {
            let used = match delimiter {
                Some(b'\t') => "tab",
                Some(b';') => "semicolon",
                _ => "comma",
            };
            return format!(
                "{head}; its fields were split at {used}s: qtomo reads fields separated by commas, semicolons or tabs (whichever the header line uses most); check the delimiter and the header row"
            );
        }
    }
    let by_count = match count {
        16 => Some("--basis james16 (16 projectors) or --basis qudit --dim 4".to_string()),
        c => (2..=crate::tomo::sets::qudit::MAX_DIM)
            .find(|d| d * d == *c)
            .map(|d| format!("--basis qudit --dim {d}")),
    };
    match by_count {
        Some(basis) => format!("{head}; {count} columns fit {basis}"),
        None => format!("{head}; check the header row, or pass --qubits N or another --basis"),
    }
}

/// n such that 6^n = columns.
fn infer_qubits(columns: Option<usize>) -> Option<usize> {
    let c = columns?;
    (1..=MAX_QUBITS).find(|&n| 6usize.pow(n as u32) == c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_qubits_from_columns() {
        assert_eq!(infer_qubits(Some(36)), Some(2));
        assert_eq!(infer_qubits(Some(216)), Some(3));
        assert_eq!(infer_qubits(Some(16)), None);
        assert!(resolve("pauli", None, None, Some(16), false).is_err());
        assert_eq!(
            resolve("pauli", None, None, Some(36), false).unwrap().dim(),
            4
        );
        assert!(
            resolve("nonsense", None, None, None, false)
                .unwrap_err()
                .to_string()
                .contains("unknown basis")
        );
        assert!(resolve("qudit", None, None, None, false).is_err());
    }

    /// A 3-qubit Pauli kets file with per-subsystem columns and settings.
    fn pauli3_kets_file(dir: &Path) -> String {
        let mut text = String::from("label,setting");
        for q in 1..=3 {
            text.push_str(&format!(",q{q}_re0,q{q}_im0,q{q}_re1,q{q}_im1"));
        }
        text.push('\n');
        for label in crate::tomo::sets::pauli::labels(3) {
            let (setting, bits) = label.split_once(':').expect("pauli label");
            text.push_str(&format!("{label},{setting}"));
            for (b, bit) in setting.chars().zip(bits.chars()) {
                let ket = crate::tomo::sets::pauli::one_qubit_ket(b, usize::from(bit == '1'));
                for z in ket {
                    text.push_str(&format!(",{:?},{:?}", z.re, z.im));
                }
            }
            text.push('\n');
        }
        let path = dir.join("pauli3.kets.csv");
        std::fs::write(&path, text).expect("write kets file");
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn a_kets_file_is_a_product_set_unless_a_model_needs_it_dense() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = pauli3_kets_file(dir.path());
        let product = resolve(&file, None, None, None, false).expect("product");
        assert!(product.info().product.is_some() && product.a().is_empty());
        assert_eq!(product.info().name, "custom(pauli3.kets.csv)");
        let dense = resolve(&file, None, None, None, true).expect("dense");
        assert!(dense.info().product.is_none());
        assert_eq!((dense.len(), dense.a().len()), (216, 216 * 64));
        assert_eq!(dense.labels(), product.labels());
    }
}
