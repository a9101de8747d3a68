//! `--target`: the state that fidelity and trace distance are measured
//! against, on `run`, `show` and `export`.
//!
//! A target is a named pure state (`bell-phi+`, `bell-phi-`, `bell-psi+`,
//! `bell-psi-`, `ghz`, `w`) or an NPY file holding a d×d density matrix
//! (complex128 or float64). [`parse`] reads one for a dimension d.

use crate::cli::error::CliError;
use crate::job::TargetSpec;
use std::path::Path;

/// Reads `--target T` for states of dimension `d`: a named state, or the
/// NPY file `T`. A value that is neither says which names exist, or that
/// the file does not exist when it looks like a path.
pub fn parse(t: &str, d: usize) -> Result<TargetSpec, CliError> {
    if crate::tomo::states::NAMED_STATES.contains(&t) {
        return Ok(TargetSpec::Named(t.to_string()));
    }
    let path = Path::new(t);
    let names = crate::tomo::states::NAMED_STATES.join(", ");
    if !path.exists() {
        return Err(CliError::Usage(if crate::cli::basis::looks_like_path(t) {
            format!(
                "--target {t}: no such file (expected one of {names} or an NPY file with a {d}×{d} density matrix)"
            )
        } else {
            format!(
                "unknown target '{t}': expected one of {names} or an NPY file with a {d}×{d} density matrix (there is no file named '{t}' either)"
            )
        }));
    }
    let bad = |message: String| CliError::BadFile {
        path: path.to_path_buf(),
        message,
    };
    if path.is_dir() {
        return Err(bad(format!(
            "is a directory; expected an NPY file with a {d}×{d} density matrix"
        )));
    }
    use ndarray_npy::ReadNpyExt;
    crate::io::check_npy_size(path)?;
    let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let (re, im) = match ndarray::Array2::<faer::c64>::read_npy(&file) {
        Ok(a) => (
            a.iter().map(|c| c.re).collect::<Vec<_>>(),
            a.iter().map(|c| c.im).collect(),
        ),
        Err(_) => {
            let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot read: {e}")))?;
            let a = ndarray::Array2::<f64>::read_npy(file).map_err(|e| {
                bad(format!(
                    "expected a {d}×{d} complex128 or float64 NPY array: {e}"
                ))
            })?;
            (a.iter().copied().collect(), vec![0.0; a.len()])
        }
    };
    if re.len() != d * d {
        return Err(bad(format!(
            "expected a {d}×{d} matrix, found {} entries",
            re.len()
        )));
    }
    Ok(TargetSpec::Matrix { dim: d, re, im })
}
