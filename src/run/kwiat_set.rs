//! The measurement set of a Kwiat input, with its measurement model.
//!
//! A Kwiat file fixes every detail of the likelihood Quantum-Tomography
//! fits, μ_k = I·c_k·Tr(M′_k ρ) + a_k (see `io::kwiat`'s `convert` module
//! for where c_k, M′_k and a_k come from). qtomo fits the same model
//! exactly (Poisson, not the package's Gaussian approximation) by turning
//! it into a [`MeasurementModel`] on an ungrouped set:
//!
//! - crosstalk: the effect of row k is M′_k = Σ_l C_{p l} Π_{s,l} / Σ_l C_{p l},
//!   p the row's outcome pattern and Π_{s,l} the projectors of all 2ⁿ
//!   patterns of its setting s (with one detector per qubit only pattern
//!   0 is recorded, so only row 0 of C is used), as the package normalises
//!   it;
//! - the scale c_k (integration time × relative intensity × efficiency)
//!   multiplies the effect;
//! - the accidentals a_k are the affine model's background.
//!
//! The model is the run's: every sample of a batch must carry the same
//! scale, background and crosstalk (a per-sample model is not supported).

use crate::io::kwiat::{KwiatRows, KwiatSample};
use crate::tomo::measurement::{Grouping, MeasurementSet};
use crate::tomo::model::MeasurementModel;
use crate::tomo::{TomoError, hermitian};

/// Relative difference below which two samples' model vectors are equal.
const SAME: f64 = 1e-12;

/// The set of `rows` under the model of `sample`.
pub(crate) fn kwiat_set(
    name: &str,
    rows: &KwiatRows,
    sample: &KwiatSample,
) -> Result<MeasurementSet, TomoError> {
    let plain = match sample.mixing_crosstalk(rows) {
        None => MeasurementSet::from_kets(name, rows.labels.clone(), &rows.kets, None)?,
        Some(c) => {
            let d = rows.dim();
            let n = d * d;
            let mut a = vec![0.0; rows.len() * n];
            for (k, out) in a.chunks_exact_mut(n).enumerate() {
                let pattern = &c[rows.outcome[k] * d..(rows.outcome[k] + 1) * d];
                let sum: f64 = pattern.iter().sum();
                if !(sum > 0.0 && sum.is_finite()) {
                    return Err(TomoError::InvalidModel(format!(
                        "crosstalk row {} sums to {sum}; expected a positive sum",
                        rows.outcome[k]
                    )));
                }
                for (l, &w) in pattern.iter().enumerate() {
                    if w != 0.0 {
                        hermitian::accumulate_outer(
                            w / sum,
                            &rows.setting_kets[rows.setting[k]][l],
                            out,
                        );
                    }
                }
            }
            MeasurementSet::from_rows(name, d, rows.labels.clone(), Grouping::Ungrouped, a)?
        }
    };
    let model = MeasurementModel {
        block_map: None,
        scale: sample.scale_varies().then(|| sample.scale.clone()),
        background: sample.has_background().then(|| sample.background.clone()),
    };
    model.apply(&plain)
}

/// Why `sample` needs another model than `first` (the batch's first
/// sample), or `None` when they share it.
pub(crate) fn model_differs(first: &KwiatSample, sample: &KwiatSample) -> Option<String> {
    let differs = |a: &[f64], b: &[f64]| {
        a.len() != b.len()
            || a.iter()
                .zip(b)
                .any(|(x, y)| (x - y).abs() > SAME * x.abs().max(y.abs()))
    };
    if differs(&first.scale, &sample.scale) {
        return Some("its rows' scales (integration time × relative intensity × efficiency) differ from the first sample's".into());
    }
    if differs(&first.background, &sample.background) {
        return Some("its accidental backgrounds differ from the first sample's".into());
    }
    let same_crosstalk = match (&first.crosstalk, &sample.crosstalk) {
        (None, None) => true,
        (Some(a), Some(b)) => !differs(a, b),
        _ => false,
    };
    (!same_crosstalk).then(|| "its crosstalk matrix differs from the first sample's".into())
}
