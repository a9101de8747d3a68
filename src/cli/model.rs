//! `--readout`, `--scale` and `--background`: the measurement model of `run` and
//! `simulate` (see [`crate::tomo::model`] for what each does).
//!
//! The files are read and checked here, each error naming its file and
//! the shape it expected; the model is then applied to the set once, before
//! the input is read, so the segment, the workers and every estimator see
//! the effects. A Pauli set of 3 or 4 qubits, a product set without a model,
//! is built dense when a model is given.
//!
//! A `--scale` or `--background` of shape (N, M) gives each sample its own
//! row: the set is then the base set (readout and any run-wide scale
//! applied) and the rows go into the segment after the input is read
//! ([`PerSampleRows`], [`crate::run::sample_model`]).

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
    /// ungrouped set (Poisson, free intensity): float64 NPY of shape (M,), or (N, M) (one row per
    /// sample, each sample fitted or simulated under its own). Part of the fingerprint.
    #[arg(long, value_name = "FILE.npy")]
    pub scale: Option<PathBuf>,
    /// Expected background (accidental) counts a_k ≥ 0 per measurement for an ungrouped set:
    /// μ_k = I·c_k·Tr(E_k ρ) + a_k. Float64 NPY of shape (M,), or (N, M) (one row per sample).
    /// Part of the fingerprint.
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
    /// The per-sample rows, when `--scale` or `--background` has shape
    /// (N, M); `set` is then the base set (see [`crate::run::sample_model`]).
    pub per_sample: Option<PerSampleRows>,
}

/// The per-sample part of a model: N×M rows of scales and backgrounds.
pub(crate) struct PerSampleRows {
    /// N, the rows of the (N, M) file(s).
    pub samples: usize,
    /// N×M scales, if any (a run-wide scale is folded into the base set).
    pub scale: Option<Vec<f64>>,
    /// N×M backgrounds, if any (a run-wide one repeated on every row).
    pub background: Option<Vec<f64>>,
    /// The (N, M) file and its role, for errors.
    pub file: (&'static str, PathBuf),
}

impl PerSampleRows {
    /// The set of sample `i`: its rows applied to the `base` set (a row of
    /// ones is no scale, of zeros no background, as in a run).
    pub(crate) fn sample_set(
        &self,
        base: &MeasurementSet,
        i: usize,
    ) -> Result<MeasurementSet, CliError> {
        let m = base.len();
        let row = |v: &Option<Vec<f64>>, neutral: f64| {
            v.as_ref()
                .map(|v| v[i * m..(i + 1) * m].to_vec())
                .filter(|r| r.iter().any(|&x| x != neutral))
        };
        let model = MeasurementModel {
            block_map: None,
            scale: row(&self.scale, 1.0),
            background: row(&self.background, 0.0),
        };
        Ok(model.apply(base)?)
    }

    /// Checks that there is one row per sample: `samples` of them,
    /// described as `whose` (`the 5 samples of d.csv`, `--samples 5`);
    /// a located error naming the file and both accepted shapes otherwise.
    pub(crate) fn check_samples(
        &self,
        samples: usize,
        whose: &str,
        m: usize,
    ) -> Result<(), CliError> {
        if self.samples == samples {
            return Ok(());
        }
        let (role, path) = &self.file;
        Err(CliError::BadFile {
            path: path.clone(),
            message: format!(
                "(--{role}) shape ({}, {m}): {} rows for {whose}; expected ({m},) (one value per \
                 measurement) or ({samples}, {m}) (one row per sample)",
                self.samples, self.samples,
            ),
        })
    }
}

/// A `--scale` or `--background` array: one row for the run, or one per sample.
enum Rows {
    /// Shape (M,).
    RunWide(Vec<f64>),
    /// Shape (N, M): N and the N×M values.
    PerSample(usize, Vec<f64>),
}

impl ModelArgs {
    /// True when no model option was given.
    pub(crate) fn is_empty(&self) -> bool {
        self.readout.is_none() && self.scale.is_none() && self.background.is_none()
    }

    /// Reads the model files and applies the model to `set`. With an
    /// (N, M) `--scale` or `--background`, the set returned is the base
    /// set and the rows are in `per_sample`; the caller checks N against
    /// the input.
    pub(crate) fn resolve(&self, set: MeasurementSet) -> Result<ResolvedModel, CliError> {
        if self.is_empty() {
            return Ok(ResolvedModel {
                set,
                files: Vec::new(),
                description: None,
                per_sample: None,
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
        let mut scale = None;
        if let Some(path) = &self.scale {
            let array = model_file::read_model_array(path, "--scale").map_err(file_error)?;
            let rows = per_measurement(&set, path, &array, "--scale", true)?;
            parts.push(describe("scale", &rows, &array));
            scale = Some((rows, path));
            files.push(("scale", path.clone()));
        }
        let mut background = None;
        if let Some(path) = &self.background {
            let array = model_file::read_model_array(path, "--background").map_err(file_error)?;
            let rows = per_measurement(&set, path, &array, "--background", false)?;
            parts.push(describe("background", &rows, &array));
            background = Some((rows, path));
            files.push(("background", path.clone()));
        }
        let description = Some(parts.join("; "));
        let per_sample_n = |r: &Option<(Rows, &PathBuf)>| match r {
            Some((Rows::PerSample(n, _), path)) => Some((*n, (*path).clone())),
            _ => None,
        };
        let (scale_n, background_n) = (per_sample_n(&scale), per_sample_n(&background));
        let Some((samples, file)) = scale_n
            .clone()
            .map(|(n, p)| (n, ("scale", p)))
            .or(background_n.clone().map(|(n, p)| (n, ("background", p))))
        else {
            // A run-wide model: the set's effects are every sample's.
            model.scale = scale.map(|(r, _)| r.into_vec());
            model.background = background.map(|(r, _)| r.into_vec());
            return Ok(ResolvedModel {
                set: model.apply(&set)?,
                files,
                description,
                per_sample: None,
            });
        };
        if let (Some((a, _)), Some((b, path))) = (&scale_n, &background_n)
            && a != b
        {
            return Err(CliError::BadFile {
                path: path.clone(),
                message: format!(
                    "(--background) {b} rows, the --scale file has {a}; both give one row per \
                     sample"
                ),
            });
        }
        // Per sample: the base set carries the readout and a run-wide
        // scale; the per-sample rows the rest (a run-wide background on
        // every row).
        let m = set.len();
        let mut sample_scale = None;
        if let Some((rows, _)) = scale {
            match rows {
                Rows::RunWide(v) => model.scale = Some(v),
                Rows::PerSample(_, v) => sample_scale = Some(v),
            }
        }
        let sample_background = background.map(|(rows, _)| match rows {
            Rows::RunWide(v) => v.repeat(samples),
            Rows::PerSample(_, v) => v,
        });
        let base = model.apply(&set)?;
        // Sample 0's model checks what the values alone cannot (the
        // background's dimension limit, the rank).
        MeasurementModel {
            block_map: None,
            scale: sample_scale.as_ref().map(|v| v[..m].to_vec()),
            background: sample_background.as_ref().map(|v| v[..m].to_vec()),
        }
        .apply(&base)?;
        Ok(ResolvedModel {
            set: base,
            files,
            description,
            per_sample: Some(PerSampleRows {
                samples,
                scale: sample_scale,
                background: sample_background,
                file,
            }),
        })
    }
}

impl Rows {
    /// The values, whatever the shape.
    fn into_vec(self) -> Vec<f64> {
        match self {
            Rows::RunWide(v) | Rows::PerSample(_, v) => v,
        }
    }
}

/// The description of a `--scale` or `--background` part: `scale (16,)`
/// for one row (as before per-sample models, so fingerprints stay), `scale:
/// per sample (5×16)` for one row per sample.
fn describe(role: &str, rows: &Rows, array: &ModelArray) -> String {
    match rows {
        Rows::RunWide(_) => format!("{role} {}", array.shape_text()),
        Rows::PerSample(n, v) => format!("{role}: per sample ({n}×{})", v.len() / (*n).max(1)),
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
/// the rows; larger product sets are refused, naming the limit. (A kets
/// file is built dense when a model is given: see
/// [`crate::cli::basis::resolve`].)
fn dense_for_model(set: MeasurementSet) -> Result<MeasurementSet, CliError> {
    let Some(spec) = &set.info().product else {
        return Ok(set);
    };
    let n = spec.factors.len();
    if !set.info().name.starts_with("pauli(") {
        return Err(CliError::Usage(format!(
            "--readout and --scale need the dense projector matrix, and set '{}' is a product set",
            set.info().name
        )));
    }
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

/// The values of a per-measurement array (`--scale`, `--background`):
/// shape (M,) for the run or (N, M) for one row per sample, every value
/// > 0 (`positive`) or ≥ 0, for an ungrouped set.
fn per_measurement(
    set: &MeasurementSet,
    path: &Path,
    array: &ModelArray,
    role: &str,
    positive: bool,
) -> Result<Rows, CliError> {
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
    let rows = match array.shape.as_slice() {
        [len] if *len == m => None,
        [n, len] if *len == m && *n >= 1 => Some(*n),
        _ => {
            return Err(bad(format!(
                "shape {}; expected ({m},) (one value per measurement) or (N, {m}) (one row per \
                 sample, N the input's samples) for set '{}'",
                array.shape_text(),
                set.info().name
            )));
        }
    };
    let wrong = |c: f64| !c.is_finite() || if positive { c <= 0.0 } else { c < 0.0 };
    if let Some(at) = array.values.iter().position(|&c| wrong(c)) {
        let (i, k) = (at / m, at % m);
        let entry = match rows {
            None => format!("[{k}]"),
            Some(_) => format!("[{i}, {k}]"),
        };
        return Err(bad(format!(
            "entry {entry} (measurement '{}') is {}; expected a finite value {}",
            set.labels()[k],
            array.values[at],
            if positive { "> 0" } else { "≥ 0" }
        )));
    }
    Ok(match rows {
        None => Rows::RunWide(array.values.clone()),
        Some(n) => Rows::PerSample(n, array.values.clone()),
    })
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
