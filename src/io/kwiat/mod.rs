//! Kwiat Quantum-Tomography 1.2 JSON input: the data files of the Kwiat
//! group's tomography package and web tool (photonic qubits, one or two
//! detectors per qubit), with the package's TOML options file.
//!
//! A `.json` file is one sample; a `.jsonl` file (one such object per
//! line) or a directory of `.json` files (sorted by name) is a batch, whose
//! samples must all have the same measurements. Each sample becomes a
//! [`KwiatSample`] (counts, and per row the scale and accidental
//! background of the measurement model) over the batch's [`KwiatRows`]
//! (the measured kets); every problem is a located [`KwiatError`].
//!
//! # Layout
//!
//! * `error` — [`KwiatError`] and [`Origin`] (file, `.jsonl` line).
//! * `complex` — Python complex-number strings (`"0.5-0.5j"`).
//! * `json` — the document's shape and the checks of every field.
//! * `options` — the TOML options file: [`read_options`], [`KwiatOptions`].
//! * `convert` — the package's semantics: rows, scale, accidentals,
//!   crosstalk (the formulas are in its module doc).
//! * `batch` — one file, `.jsonl` or directory: [`read_batch`],
//!   [`for_each_sample`], and the check that a batch shares its rows.

mod batch;
mod complex;
mod convert;
mod error;
mod json;
mod options;

#[cfg(test)]
mod tests;

use faer::c64;

#[cfg(test)]
pub use batch::KwiatLayout;
pub use batch::{KwiatBatch, batch_files, for_each_sample, layout, read_batch};
pub use error::{KwiatError, Origin};
#[cfg(test)]
pub use options::parse_options;
pub use options::{KwiatOptions, read_options};

/// The measurements a Kwiat file defines: one row per `data` entry, in
/// file order.
#[derive(Debug, Clone, PartialEq)]
pub struct KwiatRows {
    /// `n_qubits`.
    pub n_qubits: usize,
    /// `n_detectors_per_qubit` (1 or 2).
    pub detectors_per_qubit: usize,
    /// One label per row: the entry's state names (`HV`; joined by commas
    /// when a state name is longer than one character; `#2` on a repeat).
    pub labels: Vec<String>,
    /// One unit ket per row, 2ⁿ entries, qubit 1 the most significant
    /// factor (see the `convert` module for how the package builds them).
    pub kets: Vec<Vec<c64>>,
    /// The setting (simultaneous measurement) of each row: with two
    /// detectors per qubit the rows of one setting are the 2ⁿ outputs of
    /// the same beam splitters; with one, each row is its own setting.
    pub setting: Vec<usize>,
    /// The outcome pattern of each row within its setting (bit q, qubit 1
    /// most significant: 0 the first entry's state, 1 its orthogonal
    /// partner); always 0 with one detector per qubit.
    pub outcome: Vec<usize>,
    /// For each setting, the kets of all its 2ⁿ outcome patterns (what
    /// crosstalk mixes: M′_k = Σ_l C_kl Π_l / Σ_l C_kl).
    pub setting_kets: Vec<Vec<Vec<c64>>>,
}

impl KwiatRows {
    /// The number of rows M.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no rows (never for rows read from a file).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The dimension 2ⁿ.
    pub fn dim(&self) -> usize {
        1 << self.n_qubits
    }
}

/// One sample of a Kwiat batch: its counts and, per row, the model's
/// coefficients, μ_k = I · `scale[k]` · Tr(M′_k ρ) + `background[k]`.
#[derive(Debug, Clone, PartialEq)]
pub struct KwiatSample {
    /// The sample's id: the file name in a directory batch or for a single
    /// file; `None` in a `.jsonl` batch (the sample's 0-based number).
    pub id: Option<String>,
    /// Where it came from.
    pub origin: Origin,
    /// The n-fold coincidence count of each row.
    pub counts: Vec<f64>,
    /// c_k = `integration_time[k]` · `relative_intensity[k]` ·
    /// `efficiency[k]`.
    pub scale: Vec<f64>,
    /// a_k: the accidental coincidences expected in row k (all zero
    /// without `do_accidental_correction`).
    pub background: Vec<f64>,
    /// Integration time of each row, s.
    pub integration_time: Vec<f64>,
    /// Relative intensity (drift) of each row.
    pub relative_intensity: Vec<f64>,
    /// Relative detector efficiency of each row.
    pub efficiency: Vec<f64>,
    /// The crosstalk matrix C as given (2ⁿ×2ⁿ, row-major; the Kronecker
    /// product when given per qubit), if any.
    pub crosstalk: Option<Vec<f64>>,
    /// `do_drift_correction` (no effect on the numbers; see
    /// [`KwiatOptions::drift_correction`]).
    pub drift_correction: bool,
}

/// Relative spread below which a row scale counts as constant.
const CONSTANT: f64 = 1e-12;

impl KwiatSample {
    /// The smallest and largest row scale.
    fn scale_range(&self) -> (f64, f64) {
        self.scale
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(lo, hi), &c| {
                (lo.min(c), hi.max(c))
            })
    }

    /// True when the row scales differ (beyond rounding): the model then
    /// needs them, where a common factor goes into the free intensity.
    pub fn scale_varies(&self) -> bool {
        let (lo, hi) = self.scale_range();
        hi - lo > CONSTANT * hi
    }

    /// True when some row expects accidental coincidences.
    pub fn has_background(&self) -> bool {
        self.background.iter().any(|&a| a > 0.0)
    }

    /// The crosstalk matrix when it mixes the recorded outcomes (with one
    /// detector per qubit only row 0 is recorded); `None` when there is none
    /// or it only scales each outcome (which normalisation undoes).
    pub fn mixing_crosstalk(&self, rows: &KwiatRows) -> Option<&[f64]> {
        self.first_mixing_row(rows)?;
        self.crosstalk.as_deref()
    }

    /// The first recorded row of the crosstalk matrix with an off-diagonal
    /// entry.
    fn first_mixing_row(&self, rows: &KwiatRows) -> Option<usize> {
        let c = self.crosstalk.as_deref()?;
        let d = rows.dim();
        let used = if rows.detectors_per_qubit == 1 { 1 } else { d };
        (0..used).find(|&k| (0..d).any(|l| l != k && c[k * d + l] != 0.0))
    }

    /// Why this sample needs a measurement model beyond plain Poisson
    /// counts with a free intensity: a scale that varies across rows, a
    /// non-zero background, or a crosstalk matrix that mixes outcomes.
    /// `None` when the plain model is exact for it.
    pub fn model_needed(&self, rows: &KwiatRows) -> Option<String> {
        if self.scale_varies() {
            let (lo, hi) = self.scale_range();
            let parts: Vec<&str> = [
                ("integration times", &self.integration_time),
                ("relative intensities", &self.relative_intensity),
                ("relative efficiencies", &self.efficiency),
            ]
            .iter()
            .filter(|(_, v)| v.iter().any(|&x| (x - v[0]).abs() > CONSTANT * v[0].abs()))
            .map(|(name, _)| *name)
            .collect();
            return Some(format!(
                "the rows' scale (integration time × relative intensity × efficiency) varies from {lo} to {hi} ({} differ)",
                parts.join(", ")
            ));
        }
        if let Some((k, a)) = self.background.iter().enumerate().find(|(_, a)| **a > 0.0) {
            return Some(format!(
                "accidental correction gives a non-zero background (row {} '{}': {a} expected accidental coincidences)",
                k + 1,
                rows.labels.get(k).map_or("", String::as_str)
            ));
        }
        if let (Some(k), Some(c)) = (self.first_mixing_row(rows), &self.crosstalk) {
            let d = rows.dim();
            let row = &c[k * d..(k + 1) * d];
            return Some(format!(
                "the crosstalk matrix mixes outcomes (row {k}: {row:?})"
            ));
        }
        None
    }
}
