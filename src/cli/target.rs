//! `--target`: the state that fidelity and trace distance are measured
//! against, on `run`, `show` and `export`.
//!
//! A target is a named pure state (`bell-phi+`, `bell-phi-`, `bell-psi+`,
//! `bell-psi-`, `ghz`, `w`) or an NPY file holding a d×d density matrix
//! (complex128 or float64). [`parse`] reads one for a dimension d.
//!
//! The target is not part of a run's fingerprint: it changes no density
//! matrix, only what they are measured against. `run --target` stores it
//! in the run directory (`target.json`, [`store`]); a resume with another
//! `--target` replaces it, one without keeps it, `--fresh` removes it.
//! `show` and `export` compute fidelity and trace distance from the stored
//! states against their own `--target`, else the stored one
//! ([`for_reading`]), so every sample of a directory is always measured
//! against one target, whichever target its records were computed with.

use crate::cli::error::CliError;
use crate::run::job::TargetSpec;
use crate::store::MethodResult;
use crate::tomo::{EigenWorkspace, Target};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The contents of a run directory's `target.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredTarget {
    /// `--target` as it was given: a state's name or the NPY file's path
    /// (for messages; the matrix itself is in `spec`).
    pub given: String,
    /// The state.
    pub spec: TargetSpec,
}

/// Stores `spec` (given on the command line as `given`) as the target of
/// the run directory `dir`. Returns what was stored before, when it was a
/// different target.
pub(crate) fn store(dir: &Path, given: &str, spec: &TargetSpec) -> anyhow::Result<Option<String>> {
    let previous = read_stored(dir)?;
    let stored = StoredTarget {
        given: given.to_string(),
        spec: spec.clone(),
    };
    if previous.as_ref() == Some(&stored) {
        return Ok(None);
    }
    let mut bytes = serde_json::to_vec(&stored).context("encoding the target")?;
    bytes.push(b'\n');
    crate::store::write_target(dir, &bytes)
        .with_context(|| format!("storing the target in {}", dir.display()))?;
    Ok(previous.map(|p| p.given))
}

/// The target `dir` stores, if any.
pub(crate) fn read_stored(dir: &Path) -> anyhow::Result<Option<StoredTarget>> {
    let Some(bytes) = crate::store::read_target(dir)? else {
        return Ok(None);
    };
    let stored = serde_json::from_slice(&bytes).map_err(|e| CliError::BadFile {
        path: dir.join(crate::store::TARGET),
        message: format!("expected the target written by qtomo run --target: {e}"),
    })?;
    Ok(Some(stored))
}

/// The target that `show` and `export` of the run directory `dir` (of
/// dimension `dim`) measure against: `given` (their `--target`), else the
/// one the directory stores, else none (the records' values stand).
pub(crate) fn for_reading(
    dir: &Path,
    given: Option<&str>,
    dim: usize,
) -> anyhow::Result<Option<Target>> {
    let spec = match given {
        Some(t) => parse(t, dim)?,
        None => match read_stored(dir)? {
            Some(stored) => stored.spec,
            None => return Ok(None),
        },
    };
    Ok(Some(spec.build(dim).map_err(CliError::from)?))
}

/// A function that recomputes a stored result's fidelity and trace
/// distance against `target` (dimension `dim`) from its density matrix.
pub(crate) fn rescorer(target: Target, dim: usize) -> impl FnMut(&mut MethodResult) {
    let mut eigen = EigenWorkspace::new(dim);
    move |m| crate::run::job::rescore_target(m, &target, &mut eigen)
}

/// Reads `--target T` for states of dimension `d`: a named state, or the
/// NPY file `T`. A value that is neither says which names exist, or that
/// the file does not exist when it looks like a path.
pub(crate) fn parse(t: &str, d: usize) -> Result<TargetSpec, CliError> {
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
