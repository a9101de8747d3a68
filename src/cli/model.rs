//! `--readout`, `--scale` and `--background`: the measurement model of `run` and
//! `simulate` (see [`crate::tomo::model`] for what each does).
//!
//! The files are read and checked here, each error naming its file and
//! the shape it expected; the model is then applied to the set once, before
//! the input is read, so the segment, the workers and every estimator see
//! the effects. A Pauli set of 3 or 4 qubits, a product set without a model,
//! is built dense when a model is given.

use crate::cli::error::CliError;
use crate::io::model_file::{self, ModelArray};
use crate::tomo::model::{BlockMap, MeasurementModel};
use crate::tomo::{Grouping, MeasurementSet};
use clap::Args;
use std::path::{Path, PathBuf};

/// The most qubits of a Pauli set with a measurement model (dense: at 4
/// qubits A is 1296×256).
pub(crate) const MODEL_MAX_PAULI_QUBITS: usize = 4;

/// The measurement-model options shared by `run` and `simulate`.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct ModelArgs {
    /// Readout assignment: float64 NPY, shape (n, 2, 2) (one matrix per qubit, qubit 1 first) or
    /// (D, D) (one matrix for a setting's D outcomes, e.g. crosstalk); A[measured, prepared],
    /// columns summing to 1. Applied to the effects, not the counts. Part of the fingerprint.
    #[arg(long, value_name = "FILE.npy")]
    pub readout: Option<PathBuf>,
    /// Per-measurement scale c_k > 0 (integration time × relative intensity × efficiency) for an
    /// ungrouped set (Poisson, free intensity): float64 NPY of shape (M,). Part of the fingerprint.
    #[arg(long, value_name = "FILE.npy")]
    pub scale: Option<PathBuf>,
    /// Expected background (accidental) counts a_k ≥ 0 per measurement for an ungrouped set:
    /// μ_k = I·c_k·Tr(E_k ρ) + a_k. Float64 NPY of shape (M,). Part of the fingerprint.
    #[arg(long, value_name = "FILE.npy")]
    pub background: Option<PathBuf>,
}

/// A model resolved against its set: the set with the model applied and
/// what the fingerprint records of it.
pub(crate) struct ResolvedModel {
    /// The set whose rows are the effects.
    pub set: MeasurementSet,
    /// The model's files by role (`readout`, `scale`), for content digests.
    pub files: Vec<(&'static str, PathBuf)>,
    /// A one-line description (`readout per-qubit (2 qubits); scale (16,)`),
    /// recorded in the fingerprint and shown by `show`; `None` without a model.
    pub description: Option<String>,
}

impl ModelArgs {
    /// True when no model option was given.
    pub(crate) fn is_empty(&self) -> bool {
        self.readout.is_none() && self.scale.is_none() && self.background.is_none()
    }

    /// Reads the model files and applies the model to `set`.
    pub(crate) fn resolve(&self, set: MeasurementSet) -> Result<ResolvedModel, CliError> {
        if self.is_empty() {
            return Ok(ResolvedModel {
                set,
                files: Vec::new(),
                description: None,
            });
        }
        let set = dense_for_model(set)?;
        let mut model = MeasurementModel::default();
        let mut files = Vec::new();
        let mut parts = Vec::new();
        if let Some(path) = &self.readout {
            let array = model_file::read_model_array(path, "--readout").map_err(file_error)?;
            let (map, what) = readout_map(&set, path, &array)?;
            model.block_map = Some(map);
            files.push(("readout", path.clone()));
            parts.push(format!("readout {what}"));
        }
        if let Some(path) = &self.scale {
            let array = model_file::read_model_array(path, "--scale").map_err(file_error)?;
            model.scale = Some(per_measurement(&set, path, &array, "--scale", true)?);
            files.push(("scale", path.clone()));
            parts.push(format!("scale {}", array.shape_text()));
        }
        if let Some(path) = &self.background {
            let array = model_file::read_model_array(path, "--background").map_err(file_error)?;
            model.background = Some(per_measurement(&set, path, &array, "--background", false)?);
            files.push(("background", path.clone()));
            parts.push(format!("background {}", array.shape_text()));
        }
        let set = model.apply(&set)?;
        Ok(ResolvedModel {
            set,
            files,
            description: Some(parts.join("; ")),
        })
    }
}

/// A located error for a model file.
fn file_error(e: model_file::ModelFileError) -> CliError {
    CliError::BadFile {
        path: e.path,
        message: format!("({}) {}", e.role, e.message),
    }
}

/// A Pauli product set (3 or 4 qubits) rebuilt dense, since a model needs
/// the rows; larger product sets are refused, naming the limit.
fn dense_for_model(set: MeasurementSet) -> Result<MeasurementSet, CliError> {
    let Some(spec) = &set.info().product else {
        return Ok(set);
    };
    let n = spec.factors.len();
    if n <= MODEL_MAX_PAULI_QUBITS {
        return Ok(crate::tomo::sets::pauli::pauli_dense(n)?);
    }
    Err(CliError::Usage(format!(
        "--readout and --scale support Pauli sets up to {MODEL_MAX_PAULI_QUBITS} qubits \
         (the model's effects need the dense projector matrix); this set has {n}"
    )))
}

/// The outcomes per setting of a grouped set (all settings must agree;
/// [`MeasurementModel::apply`] checks each).
fn outcomes_per_setting(set: &MeasurementSet) -> Option<usize> {
    match &set.info().grouping {
        Grouping::Settings { setting_of, .. } => {
            let first = *setting_of.first()?;
            Some(setting_of.iter().filter(|&&s| s == first).count())
        }
        Grouping::Ungrouped => None,
    }
}

/// The block map of a `--readout` array: (n, 2, 2) per qubit or (D, D),
/// D the outcomes of a setting, columns summing to 1.
fn readout_map(
    set: &MeasurementSet,
    path: &Path,
    array: &ModelArray,
) -> Result<(BlockMap, String), CliError> {
    let bad = |message: String| CliError::BadFile {
        path: path.to_path_buf(),
        message: format!("(--readout) {message}"),
    };
    let Some(outcomes) = outcomes_per_setting(set) else {
        return Err(bad(format!(
            "set '{}' is not grouped into settings, so a readout matrix has no outcomes to act \
             on; use a grouped set (pauli, or a kets file with a setting column)",
            set.info().name
        )));
    };
    let qubits = outcomes
        .is_power_of_two()
        .then(|| outcomes.trailing_zeros() as usize);
    let expected = match qubits {
        Some(n) => format!(
            "({n}, 2, 2) (one 2×2 matrix per qubit) or ({outcomes}, {outcomes}) (one matrix per setting)"
        ),
        None => format!("({outcomes}, {outcomes}) (one matrix per setting)"),
    };
    let (map, what) = match array.shape.as_slice() {
        [n, 2, 2] if Some(*n) == qubits => {
            let mats: Vec<[f64; 4]> = array
                .values
                .chunks_exact(4)
                .map(|c| [c[0], c[1], c[2], c[3]])
                .collect();
            for (q, a) in mats.iter().enumerate() {
                for j in 0..2 {
                    let sum = a[j] + a[2 + j];
                    if (sum - 1.0).abs() > crate::tomo::model::STOCHASTIC_TOL {
                        return Err(bad(format!(
                            "the matrix of qubit {} ([{q}, :, :]): column {j} (prepared {j}) sums \
                             to {sum}; every column of A[measured, prepared] must sum to 1",
                            q + 1
                        )));
                    }
                }
            }
            (
                BlockMap::per_qubit(&mats).map_err(|e| bad(e.to_string()))?,
                format!("per-qubit ({n} qubits)"),
            )
        }
        [a, b] if *a == outcomes && *b == outcomes => (
            BlockMap::full(outcomes, array.values.clone()).map_err(|e| bad(e.to_string()))?,
            format!("full ({outcomes}×{outcomes})"),
        ),
        _ => {
            return Err(bad(format!(
                "shape {}; expected {expected} for set '{}'",
                array.shape_text(),
                set.info().name
            )));
        }
    };
    if !map.is_stochastic() {
        let mut worst = (0, 1.0f64);
        for j in 0..map.size() {
            let sum: f64 = (0..map.size()).map(|k| map.entry(k, j)).sum();
            if (sum - 1.0).abs() > (worst.1 - 1.0).abs() {
                worst = (j, sum);
            }
        }
        return Err(bad(format!(
            "column {} (prepared outcome {}) sums to {}; every column of A[measured, prepared] \
             must sum to 1 (within {:e})",
            worst.0,
            worst.0,
            worst.1,
            crate::tomo::model::STOCHASTIC_TOL
        )));
    }
    Ok((map, what))
}

/// The vector of a per-measurement array (`--scale`, `--background`):
/// shape (M,), every value > 0 (`positive`) or ≥ 0, for an ungrouped set.
fn per_measurement(
    set: &MeasurementSet,
    path: &Path,
    array: &ModelArray,
    role: &str,
    positive: bool,
) -> Result<Vec<f64>, CliError> {
    let m = set.len();
    let bad = |message: String| CliError::BadFile {
        path: path.to_path_buf(),
        message: format!("({role}) {message}"),
    };
    if set.info().is_grouped() {
        return Err(bad(format!(
            "set '{}' is grouped into settings (multinomial counts); per-measurement scales and \
             backgrounds apply to ungrouped sets (Poisson counts with a free intensity: qudit, \
             james16, a kets file without a setting column)",
            set.info().name
        )));
    }
    match array.shape.as_slice() {
        [len] if *len == m => {}
        [_, len] if *len == m => {
            return Err(bad(format!(
                "shape {}: per-sample values are not supported by this version; give one value \
                 per measurement, shape ({m},)",
                array.shape_text()
            )));
        }
        _ => {
            return Err(bad(format!(
                "shape {}; expected ({m},), one value per measurement of set '{}'",
                array.shape_text(),
                set.info().name
            )));
        }
    }
    let wrong = |c: f64| if positive { c <= 0.0 } else { c < 0.0 };
    if let Some(k) = array.values.iter().position(|&c| wrong(c)) {
        return Err(bad(format!(
            "entry [{k}] (measurement '{}') is {}; expected a value {}",
            set.labels()[k],
            array.values[k],
            if positive { "> 0" } else { "≥ 0" }
        )));
    }
    Ok(array.values.clone())
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};
    use clap::Parser;

    #[test]
    fn model_flags_parse_for_run_and_simulate() {
        let cli = Cli::try_parse_from([
            "qtomo",
            "run",
            "in.csv",
            "--out",
            "d",
            "--readout",
            "r.npy",
            "--scale",
            "t.npy",
            "--background",
            "b.npy",
        ])
        .unwrap();
        let Command::Run(a) = cli.command else {
            panic!("not run")
        };
        assert_eq!(a.model.readout.as_deref(), Some("r.npy".as_ref()));
        assert_eq!(a.model.scale.as_deref(), Some("t.npy".as_ref()));
        assert_eq!(a.model.background.as_deref(), Some("b.npy".as_ref()));
        let cli =
            Cli::try_parse_from(["qtomo", "simulate", "--out", "d.csv", "--readout", "r.npy"])
                .unwrap();
        let Command::Simulate(s) = cli.command else {
            panic!("not simulate")
        };
        assert_eq!(s.model.readout.as_deref(), Some("r.npy".as_ref()));
        assert!(s.model.background.is_none());
    }
}
