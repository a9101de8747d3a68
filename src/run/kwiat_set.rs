//! The measurement set of a Kwiat input, with its measurement model.
//!
//! A Kwiat file fixes every detail of the likelihood Quantum-Tomography
//! fits, μ_k = I·c_k·Tr(M′_k ρ) + a_k (see `io::kwiat`'s `convert` module
//! for where c_k, M′_k and a_k come from). qtomo fits the same model
//! exactly (Poisson, not the package's Gaussian approximation) by turning
//! it into a [`MeasurementModel`] ([`kwiat_model`]) on an ungrouped set
//! ([`kwiat_plain_set`]):
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
//! The crosstalk is the run's: every sample of a batch must carry the
//! same (it makes the base set's effects). The scale and the accidentals
//! may differ from sample to sample (each file has its own integration
//! times, efficiencies and singles): when they do, the run's set is the
//! base set ([`kwiat_plain_set`]) and each sample's rows go into the
//! segment ([`sample_rows`], [`crate::run::sample_model`]), so every
//! sample is fitted under its own model, exactly as if it ran alone. A
//! batch whose samples share one model keeps it in the set, as a single
//! file does.

use crate::io::kwiat::{KwiatRows, KwiatSample};
use crate::tomo::measurement::{Grouping, MeasurementSet};
use crate::tomo::model::MeasurementModel;
use crate::tomo::{TomoError, hermitian};

/// Relative difference below which two samples' model vectors are equal.
const SAME: f64 = 1e-12;

/// The base set of `rows`: the projectors mixed by `sample`'s crosstalk,
/// before its scale, without its background.
pub(crate) fn kwiat_plain_set(
    name: &str,
    rows: &KwiatRows,
    sample: &KwiatSample,
) -> Result<MeasurementSet, TomoError> {
    match sample.mixing_crosstalk(rows) {
        None => MeasurementSet::from_kets(name, rows.labels.clone(), &rows.kets, None),
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
            MeasurementSet::from_rows(name, d, rows.labels.clone(), Grouping::Ungrouped, a)
        }
    }
}

/// The scale and background `sample` needs on top of its base set: the
/// scale when it varies across rows (a common factor goes into the free
/// intensity), the accidentals when there are any.
pub(crate) fn kwiat_model(sample: &KwiatSample) -> MeasurementModel {
    MeasurementModel {
        block_map: None,
        scale: sample.scale_varies().then(|| sample.scale.clone()),
        background: sample.has_background().then(|| sample.background.clone()),
    }
}

/// `sample`'s rows for the per-sample sections: its scale (all ones when
/// it needs none) and its background (all zeros when it has none), so
/// that the worker builds for it exactly the set a run of it alone
/// builds: [`kwiat_model`] applied to [`kwiat_plain_set`].
pub(crate) fn sample_rows(sample: &KwiatSample) -> (Vec<f64>, Vec<f64>) {
    let m = sample.counts.len();
    let model = kwiat_model(sample);
    (
        model.scale.unwrap_or_else(|| vec![1.0; m]),
        model.background.unwrap_or_else(|| vec![0.0; m]),
    )
}

/// True when `a` and `b` need the same scale and background (their
/// [`kwiat_model`]s agree to a relative 1e-12).
pub(crate) fn same_model(a: &KwiatSample, b: &KwiatSample) -> bool {
    let (x, y) = (kwiat_model(a), kwiat_model(b));
    let same = |u: &Option<Vec<f64>>, v: &Option<Vec<f64>>| match (u, v) {
        (None, None) => true,
        (Some(u), Some(v)) => !differs(u, v),
        _ => false,
    };
    same(&x.scale, &y.scale) && same(&x.background, &y.background)
}

/// True when two vectors differ beyond a relative [`SAME`].
fn differs(a: &[f64], b: &[f64]) -> bool {
    a.len() != b.len()
        || a.iter()
            .zip(b)
            .any(|(x, y)| (x - y).abs() > SAME * x.abs().max(y.abs()))
}

/// Why `sample`'s crosstalk differs from `first`'s (the batch's first
/// sample), or `None` when they share it: the crosstalk is the run's.
pub(crate) fn crosstalk_differs(first: &KwiatSample, sample: &KwiatSample) -> Option<String> {
    let same_crosstalk = match (&first.crosstalk, &sample.crosstalk) {
        (None, None) => true,
        (Some(a), Some(b)) => !differs(a, b),
        _ => false,
    };
    (!same_crosstalk).then(|| "its crosstalk matrix differs from the first sample's".into())
}
