//! Per-sample measurement models: a batch whose samples each have their
//! own scale c_k and accidental background a_k (a Kwiat batch of files
//! with their own integration times, efficiencies and singles; `--scale`
//! or `--background` of shape (N, M)).
//!
//! The run's set is then the *base* set: the effects before the scale
//! (the plain projectors, mixed by a run-wide crosstalk or readout; a
//! run-wide scale already folded in), with no background. The segment
//! carries the N×M rows of scales and backgrounds next to the counts
//! ([`super::segment`]), and [`SampleModels`] turns row i into sample i's
//! own set, [`MeasurementModel::apply_to_rows`] on the base rows: exactly
//! the set a run of that sample alone builds, so its estimate is the same.
//!
//! Conventions of a row: a scale row of all ones is no scale, a
//! background row of all zeros is no background (the plain Poisson
//! likelihood, which is the affine one with a = 0). A sample with neither
//! uses the base set and the job's own workspaces.
//!
//! Building a set costs O(M·d²) plus an SVD of the M×d² rows and the
//! workspaces' allocation, negligible against an MLE for the small sets
//! models allow (d ≤ 16 with a background). Consecutive samples often
//! share a model (a batch of files from one session), so the last few
//! sets are kept, keyed by the rows' bits.

use crate::tomo::bootstrap::BootstrapWorkspace;
use crate::tomo::model::MeasurementModel;
use crate::tomo::{MeasurementSet, Reconstructor, SetView, TomoError};
use serde::{Deserialize, Serialize};

/// Which per-sample parts a run's segment carries (in its [`Plan`]).
///
/// [`Plan`]: super::job::Plan
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleModelParts {
    /// An N×M section of scales c_k, one row per sample.
    pub scale: bool,
    /// An N×M section of backgrounds a_k, one row per sample.
    pub background: bool,
}

/// How many sample sets a worker keeps.
const CACHE: usize = 4;

/// One sample model's set and the workspaces bound to it.
pub(crate) struct SampleSet {
    /// The bits of the scale row then the background row: the key.
    key: Vec<u64>,
    /// The sample's set (effects and background).
    pub set: MeasurementSet,
    /// The estimators' scratch memory for it.
    pub reconstructor: Reconstructor,
    /// The bootstrap's, when the plan asks for one.
    pub bootstrap: Option<BootstrapWorkspace>,
}

/// The per-sample models of a job: the base set's view, the N×M rows,
/// and the last few sets built from them.
pub(crate) struct SampleModels<'a> {
    base: SetView<'a>,
    scale: Option<&'a [f64]>,
    background: Option<&'a [f64]>,
    bootstrap: bool,
    /// Most recently used first.
    cache: Vec<SampleSet>,
    /// Sets built so far (for tests and the cost measurement).
    built: u64,
}

impl<'a> SampleModels<'a> {
    /// The models of the N samples: `scale` and `background` are N×M
    /// rows (or absent), over the `base` set. `bootstrap`: each sample
    /// set gets a bootstrap workspace too.
    pub(crate) fn new(
        base: SetView<'a>,
        samples: usize,
        scale: Option<&'a [f64]>,
        background: Option<&'a [f64]>,
        bootstrap: bool,
    ) -> Result<Self, TomoError> {
        let want = samples.checked_mul(base.len());
        for (name, rows) in [("scale", scale), ("background", background)] {
            if let Some(rows) = rows
                && Some(rows.len()) != want
            {
                return Err(TomoError::InvalidModel(format!(
                    "the per-sample {name} section holds {} values, expected {samples} samples × \
                     {} measurements",
                    rows.len(),
                    base.len()
                )));
            }
        }
        Ok(Self {
            base,
            scale,
            background,
            bootstrap,
            cache: Vec::with_capacity(CACHE),
            built: 0,
        })
    }

    /// Row `i` of `rows`, M values.
    fn row(&self, rows: Option<&'a [f64]>, i: usize) -> Option<&'a [f64]> {
        let m = self.base.len();
        rows.map(|r| &r[i * m..(i + 1) * m])
    }

    /// The model of sample `i` (empty when its scale row is all ones and
    /// its background row all zeros).
    pub(crate) fn model_of(&self, i: usize) -> MeasurementModel {
        let scale = self
            .row(self.scale, i)
            .filter(|r| r.iter().any(|&c| c != 1.0));
        let background = self
            .row(self.background, i)
            .filter(|r| r.iter().any(|&a| a != 0.0));
        MeasurementModel {
            block_map: None,
            scale: scale.map(<[f64]>::to_vec),
            background: background.map(<[f64]>::to_vec),
        }
    }

    /// The set of sample `i` with its workspaces, built (or found among
    /// the last few); `None` when the sample's model is empty and the
    /// base set is its set. An index past the rows is an error.
    pub(crate) fn set_for(&mut self, i: usize) -> Result<Option<&mut SampleSet>, TomoError> {
        let m = self.base.len();
        let n = self
            .scale
            .or(self.background)
            .map_or(0, |r| r.len() / m.max(1));
        if i >= n {
            return Err(TomoError::InvalidModel(format!(
                "sample {i} has no per-sample model row ({n} rows)"
            )));
        }
        let model = self.model_of(i);
        if model.is_empty() {
            return Ok(None);
        }
        let key: Vec<u64> = model
            .scale
            .iter()
            .flatten()
            .chain([f64::NAN].iter())
            .chain(model.background.iter().flatten())
            .map(|v| v.to_bits())
            .collect();
        let at = match self.cache.iter().position(|s| s.key == key) {
            Some(at) => at,
            None => {
                let set = model.apply_to_rows(self.base.info, self.base.a)?;
                let view = set.view();
                let entry = SampleSet {
                    key,
                    reconstructor: Reconstructor::new(view),
                    bootstrap: self.bootstrap.then(|| BootstrapWorkspace::new(view)),
                    set,
                };
                self.built += 1;
                if self.cache.len() == CACHE {
                    self.cache.pop();
                }
                self.cache.push(entry);
                self.cache.len() - 1
            }
        };
        // Most recently used first.
        self.cache[..=at].rotate_right(1);
        Ok(self.cache.first_mut())
    }

    /// How many sample sets were built so far.
    pub(crate) fn built(&self) -> u64 {
        self.built
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_ones_and_zeros_are_no_model_and_sets_are_reused() {
        let set = crate::tomo::builtin_set("james16", None, None).expect("set");
        let m = set.len();
        let mut scale = vec![1.0; 3 * m];
        let mut background = vec![0.0; 3 * m];
        for k in 0..m {
            scale[m + k] = 1.0 + 0.01 * k as f64;
            scale[2 * m + k] = 1.0 + 0.01 * k as f64;
            background[2 * m + k] = 5.0;
        }
        let mut models =
            SampleModels::new(set.view(), 3, Some(&scale), Some(&background), false).expect("new");
        assert!(models.model_of(0).is_empty());
        assert!(models.set_for(0).expect("sample 0").is_none());
        let one = models.set_for(1).expect("sample 1").expect("own set");
        assert!(one.set.info().background().is_none());
        let want = MeasurementModel {
            block_map: None,
            scale: Some(scale[m..2 * m].to_vec()),
            background: None,
        }
        .apply(&set)
        .expect("apply");
        assert_eq!(one.set.a(), want.a());
        assert_eq!(one.set.mle_rows(), want.mle_rows());
        let two = models.set_for(2).expect("sample 2").expect("own set");
        assert_eq!(two.set.info().background(), Some(&background[2 * m..]));
        models.set_for(1).expect("again");
        assert_eq!(models.built(), 2, "sample 1's set is reused");
        assert!(models.set_for(3).is_err());
    }
}
