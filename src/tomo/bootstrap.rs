//! Per-sample bootstrap of the figures of merit.
//!
//! Follows B. Efron and R. J. Tibshirani, *An Introduction to the
//! Bootstrap* (Chapman & Hall, 1993): ch. 6 (parametric and nonparametric
//! resampling), ch. 13 (the percentile interval).
//!
//! For one sample with estimate ρ̂ (MLE or PLS), R replicate data sets are
//! drawn and each is reconstructed by the same estimator; the MLE of a
//! replicate starts from ρ̂ (the replicate's maximum is within ~1/√N of
//! it) with Newton steps on ρ̂'s face before any gradient iteration
//! ([`MleParams::warm_start`]): close to the maximum they converge
//! quadratically, where gradient steps would spend some 25 iterations
//! closing the certified gap whatever the start's distance. Measured on
//! two qubits at 1000 shots per setting: 3.3 Newton steps a replicate for
//! Hilbert–Schmidt random states, 5.6 for Haar-random pure ones, 3.4 for
//! a Bell state (2 for most replicates). The metrics' eigensolvers are warm
//! too, each following its matrix from one replicate to the next and reset
//! per sample. Every replicate is certified to the run's tolerance like a
//! sample.
//!
//! For each metric θ the replicates give θ*₁…θ*_R, reported as
//! mean, standard deviation (R − 1 in the denominator) and the 2.5 % and
//! 97.5 % quantiles (linear interpolation between order statistics,
//! "type 7"). [q025, q975] is the 95 % **percentile interval** of θ.
//!
//! # Resampling
//!
//! - **parametric** (the default): from the estimate's predicted
//!   probabilities p_k = Tr(Π_k ρ̂), i.e. data as the fitted state would
//!   produce them. Grouped sets: multinomial per setting with the setting's
//!   observed total N_s (rounded to an integer) and p_k renormalised within
//!   the setting; ungrouped sets: n*_k ~ Poisson(N p_k / Σ_j p_j), the
//!   fitted intensity.
//! - **nonparametric**: from the observed frequencies: multinomial per
//!   setting with n_k/N_s; ungrouped: n*_k ~ Poisson(n_k).
//!
//! A multinomial is drawn as a chain of binomials (outcome by outcome of a
//! setting, with the trials left and the conditional probability).
//!
//! # Reproducibility
//!
//! Replicate r of sample i (its index in the whole input, not in a shard)
//! for method m with seed s draws from ChaCha8 with key
//! SHA-256("qtomo/bootstrap/v1" ‖ s ‖ i ‖ m) (little-endian u64s, then the
//! method's name) on stream r ([`replicate_rng`]). So the numbers depend on
//! nothing but (s, i, m, r): not on the worker, the order of samples, a
//! resume or a shard, and a run gives bit-identical results wherever it is
//! computed.
//!
//! # What the intervals mean, and where they under-cover
//!
//! The percentile interval is an approximate 95 % confidence interval,
//! accurate to first order when the estimator is nearly unbiased with a
//! spread that does not depend much on the state. For full-rank states at
//! moderate counts both hold. For near-pure states the MLE sits on the
//! boundary of the state space: its bias towards mixedness (purity,
//! fidelity) is then of the order of the spread or larger, replicates
//! drawn from ρ̂ repeat that bias rather than correct it, and the interval
//! under-covers. Rigorous regions for that regime: R. Blume-Kohout,
//! "Robust error bars for quantum tomography", arXiv:1202.5270 (2012);
//! P. Faist and R. Renner, PRL 117, 010404 (2016).

use crate::tomo::TomoError;
use crate::tomo::eigen::EigenWorkspace;
use crate::tomo::frame::FrameMap;
use crate::tomo::gof;
use crate::tomo::measurement::{Grouping, SetView};
use crate::tomo::metrics;
use crate::tomo::mle::{MleParams, MleWorkspace};
use crate::tomo::pls::PlsWorkspace;
use crate::tomo::product::ProductScratch;
use crate::tomo::reconstruct::Method;
use crate::tomo::states::Target;
use crate::tomo::states::weighted_outer;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution, Poisson};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// How replicate data sets are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum BootstrapKind {
    /// From the estimate's predicted probabilities (the default).
    #[default]
    Parametric,
    /// From the observed frequencies.
    Nonparametric,
}

impl BootstrapKind {
    /// The name used on the command line and in outputs.
    pub fn name(self) -> &'static str {
        match self {
            BootstrapKind::Parametric => "parametric",
            BootstrapKind::Nonparametric => "nonparametric",
        }
    }
}

impl fmt::Display for BootstrapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BootstrapKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "parametric" => Ok(BootstrapKind::Parametric),
            "nonparametric" => Ok(BootstrapKind::Nonparametric),
            _ => Err(format!(
                "unknown bootstrap kind '{s}'; expected parametric or nonparametric"
            )),
        }
    }
}

/// What to bootstrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapParams {
    /// Replicates per sample and method (R).
    pub replicates: u32,
    /// How replicates are drawn.
    pub kind: BootstrapKind,
    /// The run's seed.
    pub seed: u64,
}

/// The spread of one metric over the replicates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// Mean of the replicate values.
    pub mean: f64,
    /// Standard deviation (denominator R − 1; 0 for one replicate).
    pub std: f64,
    /// 2.5 % quantile.
    pub q025: f64,
    /// 97.5 % quantile.
    pub q975: f64,
}

/// The spread of every bootstrapped metric; `None` where the metric does
/// not apply (no target; not two qubits) or no replicate succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BootstrapMetrics {
    /// Fidelity to the target.
    pub fidelity: Option<Spread>,
    /// Purity Tr ρ².
    pub purity: Option<Spread>,
    /// Von Neumann entropy (bits).
    pub entropy: Option<Spread>,
    /// Linear entropy 1 − Tr ρ².
    pub linear_entropy: Option<Spread>,
    /// Concurrence (two qubits).
    pub concurrence: Option<Spread>,
    /// Negativity (two qubits).
    pub negativity: Option<Spread>,
    /// Trace distance to the target.
    pub trace_distance: Option<Spread>,
}

/// The bootstrap of one method on one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BootstrapSummary {
    /// How the replicates were drawn.
    pub kind: BootstrapKind,
    /// Replicates drawn (R).
    pub replicates: u32,
    /// Replicates whose reconstruction failed (e.g. all counts zero); they
    /// are left out of the spreads.
    pub failed: u32,
    /// The spreads.
    pub metrics: BootstrapMetrics,
    /// The parametric-bootstrap p-value of the sample's G² (MLE with
    /// parametric replicates only): (1 + #{G²* ≥ G²}) / (1 + R_ok), with
    /// G²* each replicate's G² at its own MLE. Unlike the χ² p-value it
    /// needs no interior assumption, so it stays calibrated for near-pure
    /// states (see [`crate::tomo::gof`]).
    pub g2_p_value: Option<f64>,
}

/// Number of bootstrapped metrics (the fields of [`BootstrapMetrics`]).
const N_METRICS: usize = 7;

/// The random generator of replicate `replicate` of sample `index` for
/// `method` (see the module doc).
pub fn replicate_rng(seed: u64, index: u64, method: Method, replicate: u32) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::from_seed(sample_key(seed, index, method));
    rng.set_stream(u64::from(replicate));
    rng
}

/// The ChaCha8 key of sample `index` for `method`.
fn sample_key(seed: u64, index: u64, method: Method) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"qtomo/bootstrap/v1");
    h.update(seed.to_le_bytes());
    h.update(index.to_le_bytes());
    h.update(method.name().as_bytes());
    h.finalize().into()
}

/// A 64-bit tag of a target state (the first 8 bytes of the SHA-256 of its
/// density matrix's coordinates), stored with bootstrapped target metrics
/// so that a later, different target does not reuse them.
pub fn target_tag(target: &Target) -> u64 {
    let coords = match target {
        Target::Pure(psi) => crate::tomo::states::pure_coords(psi),
        Target::Mixed { sigma, .. } => sigma.clone(),
    };
    let mut h = Sha256::new();
    h.update(b"qtomo/target/v1");
    for v in coords {
        // Rounded so that the same state from a name or from a file with
        // 12 significant digits gets the same tag.
        h.update(((v * 1e12).round() as i64).to_le_bytes());
    }
    let digest = h.finalize();
    let mut tag = [0u8; 8];
    tag.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(tag)
}

/// Scratch memory for bootstrapping samples of one set.
pub struct BootstrapWorkspace {
    mle: MleWorkspace,
    pls: PlsWorkspace,
    eigen: MetricSolvers,
    frame: FrameMap,
    /// Projector indices of each setting (one group of all for ungrouped sets).
    settings: Vec<Vec<usize>>,
    /// Trials of each setting (grouped sets).
    trials: Vec<u64>,
    /// Drawing probabilities (grouped) or Poisson means (ungrouped).
    weights: Vec<f64>,
    /// Scratch of the product computations (product sets).
    scratch: ProductScratch,
    counts: Vec<f64>,
    /// τ̂: the estimate in the MLE frame, every MLE replicate's start.
    start: Vec<f64>,
    rho: Vec<f64>,
    values: [Vec<f64>; N_METRICS],
}

impl BootstrapWorkspace {
    /// Allocates scratch memory for the set.
    pub fn new(set: SetView<'_>) -> Self {
        let m = set.len();
        let n = set.info.coord_len();
        let settings = match &set.info.grouping {
            Grouping::Settings {
                settings,
                setting_of,
            } => {
                let mut groups = vec![Vec::new(); settings.len()];
                for (k, &s) in setting_of.iter().enumerate() {
                    groups[s as usize].push(k);
                }
                groups
            }
            Grouping::Ungrouped => vec![(0..m).collect()],
        };
        Self {
            mle: MleWorkspace::new(set),
            pls: PlsWorkspace::new(set),
            eigen: MetricSolvers::new(set.dim()),
            frame: FrameMap::new(set.dim()),
            trials: vec![0; settings.len()],
            settings,
            weights: vec![0.0; m],
            scratch: ProductScratch::default(),
            counts: vec![0.0; m],
            start: vec![0.0; n],
            rho: vec![0.0; n],
            values: Default::default(),
        }
    }

    /// Bootstraps `method` (MLE or PLS) on sample `index` with counts
    /// `sample`, whose estimate by that method has coordinates `estimate`.
    /// `params` are the MLE options of the run. Linear inversion is not
    /// bootstrapped (an error).
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &mut self,
        set: SetView<'_>,
        sample: &[f64],
        estimate: &[f64],
        method: Method,
        params: &MleParams,
        target: Option<&Target>,
        boot: &BootstrapParams,
        index: u64,
    ) -> Result<BootstrapSummary, TomoError> {
        if method == Method::Linear {
            return Err(TomoError::InvalidSet(
                "the bootstrap takes mle or pls, not linear".into(),
            ));
        }
        self.prepare(set, sample, estimate, boot.kind);
        self.eigen.reset();
        if method == Method::Mle {
            self.frame.to_frame(set, estimate, &mut self.start)?;
        }
        self.values.iter_mut().for_each(Vec::clear);
        // G² is calibrated by replicates drawn from the fitted model.
        let g2_observed = (method == Method::Mle && boot.kind == BootstrapKind::Parametric)
            .then(|| gof::g2(set, sample, estimate))
            .filter(|g| g.is_finite());
        // Every MLE replicate starts from the sample's estimate, near its
        // own maximum: Newton steps first.
        let params = MleParams {
            warm_start: true,
            ..params.clone()
        };
        let (mut exceed, mut ok) = (0u32, 0u32);
        let mut failed = 0u32;
        for r in 0..boot.replicates {
            let mut rng = replicate_rng(boot.seed, index, method, r);
            self.draw(set, &mut rng)?;
            match self.replicate(set, method, &params, target) {
                Ok(m) if record_values(&mut self.values, &m) => {
                    ok += 1;
                    if let Some(g) = g2_observed
                        && gof::g2(set, &self.counts, &self.rho) >= g
                    {
                        exceed += 1;
                    }
                }
                _ => failed += 1,
            }
        }
        Ok(BootstrapSummary {
            kind: boot.kind,
            replicates: boot.replicates,
            failed,
            metrics: self.spreads(),
            g2_p_value: g2_observed.map(|_| f64::from(exceed + 1) / f64::from(ok + 1)),
        })
    }

    /// Sets the drawing weights and the trials per setting.
    fn prepare(&mut self, set: SetView<'_>, sample: &[f64], estimate: &[f64], kind: BootstrapKind) {
        match kind {
            BootstrapKind::Parametric => {
                set.predict(estimate, &mut self.weights, &mut self.scratch);
                self.weights.iter_mut().for_each(|w| *w = w.max(0.0));
            }
            BootstrapKind::Nonparametric => self.weights.copy_from_slice(sample),
        }
        if set.info.is_grouped() {
            for (members, trials) in self.settings.iter().zip(&mut self.trials) {
                let total: f64 = members.iter().map(|&k| sample[k]).sum();
                *trials = total.round() as u64;
            }
        } else if kind == BootstrapKind::Parametric && set.info.background().is_some() {
            // The affine model's means I·p_k + a_k at the fitted intensity.
            self.weights = crate::tomo::metrics::expected_counts(set, sample, &self.weights);
        } else if kind == BootstrapKind::Parametric {
            let total: f64 = sample.iter().sum();
            let g: f64 = self.weights.iter().sum();
            let scale = if g > 0.0 { total / g } else { 0.0 };
            self.weights.iter_mut().for_each(|w| *w *= scale);
        }
    }

    /// Draws one replicate's counts into `self.counts`.
    fn draw(&mut self, set: SetView<'_>, rng: &mut ChaCha8Rng) -> Result<(), TomoError> {
        if !set.info.is_grouped() {
            for (c, &lambda) in self.counts.iter_mut().zip(&self.weights) {
                *c = if lambda > 0.0 {
                    Poisson::new(lambda)
                        .map_err(|e| TomoError::InvalidSet(format!("poisson({lambda}): {e}")))?
                        .sample(rng)
                } else {
                    0.0
                };
            }
            return Ok(());
        }
        for (members, &trials) in self.settings.iter().zip(&self.trials) {
            let mut remaining = trials;
            let mut mass: f64 = members.iter().map(|&k| self.weights[k]).sum();
            for (i, &k) in members.iter().enumerate() {
                let n = if i + 1 == members.len() {
                    if mass > 0.0 { remaining } else { 0 }
                } else if remaining == 0 || mass.is_nan() || mass <= 0.0 {
                    0
                } else {
                    let q = (self.weights[k] / mass).clamp(0.0, 1.0);
                    draw_binomial(remaining, q, rng)?
                };
                self.counts[k] = n as f64;
                remaining -= n;
                mass -= self.weights[k];
            }
        }
        Ok(())
    }

    /// Reconstructs the replicate in `self.counts` and returns its metrics.
    fn replicate(
        &mut self,
        set: SetView<'_>,
        method: Method,
        params: &MleParams,
        target: Option<&Target>,
    ) -> Result<ReplicateMetrics, TomoError> {
        match method {
            Method::Mle => {
                crate::tomo::counts::validate(set.info, &self.counts)?;
                self.mle
                    .solve_from_frame(set, &self.counts, &self.start, params, &mut self.rho)?;
            }
            _ => self.pls.estimate(set, &self.counts, &mut self.rho, None)?,
        }
        replicate_metrics(set, &self.rho, target, &mut self.eigen)
    }

    /// The spreads of the values collected.
    fn spreads(&mut self) -> BootstrapMetrics {
        let [f, p, e, le, c, n, t] = &mut self.values;
        BootstrapMetrics {
            fidelity: spread(f),
            purity: spread(p),
            entropy: spread(e),
            linear_entropy: spread(le),
            concurrence: spread(c),
            negativity: spread(n),
            trace_distance: spread(t),
        }
    }
}

/// One eigensolver per matrix a replicate's metrics decompose, each
/// warm-started from the same matrix of the replicate before
/// ([`EigenWorkspace::warm`]) and reset at the start of every sample, so
/// that a sample's bootstrap depends on nothing else.
struct MetricSolvers {
    state: EigenWorkspace,
    concurrence: EigenWorkspace,
    negativity: EigenWorkspace,
    target: EigenWorkspace,
}

impl MetricSolvers {
    fn new(d: usize) -> Self {
        Self {
            state: EigenWorkspace::warm(d),
            concurrence: EigenWorkspace::warm(d),
            negativity: EigenWorkspace::warm(d),
            // ρ − σ is not close to the last replicate's (its eigenvectors
            // are those of the noise): warm-started Jacobi gains nothing
            // there, and at d = 8 costs more than faer's solver.
            target: if d <= crate::tomo::eigen::SMALL_PATH_MAX_DIM {
                EigenWorkspace::warm(d)
            } else {
                EigenWorkspace::new(d)
            },
        }
    }

    fn reset(&mut self) {
        self.state.reset();
        self.concurrence.reset();
        self.negativity.reset();
        self.target.reset();
    }
}

/// The bootstrapped metrics of a replicate's estimate, computed as
/// [`metrics::compute`] does but without what the bootstrap does not
/// report (log-likelihood, χ², log-negativity), in the order of
/// [`BootstrapMetrics`]'s fields.
fn replicate_metrics(
    set: SetView<'_>,
    rho: &[f64],
    target: Option<&Target>,
    eigen: &mut MetricSolvers,
) -> Result<ReplicateMetrics, TomoError> {
    let purity = crate::tomo::hermitian::dot(rho, rho);
    let entropy_of = |vals: &[f64]| {
        vals.iter()
            .filter(|&&l| l > 0.0)
            .map(|&l| -l * l.log2())
            .sum::<f64>()
            .max(0.0)
    };
    let (entropy, concurrence, negativity) = if metrics::is_two_qubit(set) {
        let (vals, vecs) = eigen.state.decompose_coords(rho)?;
        let entropy = entropy_of(vals);
        let sqrt_rho = weighted_outer(vals, vecs, f64::sqrt);
        let c = metrics::concurrence(&sqrt_rho, rho, &mut eigen.concurrence)?;
        let n = metrics::negativity(rho, &mut eigen.negativity)?;
        (entropy, Some(c), Some(n))
    } else {
        (entropy_of(eigen.state.eigenvalues(rho)?), None, None)
    };
    let (fidelity, trace_distance) = match target {
        Some(t) => {
            let (f, d) = metrics::target_metrics(t, rho, &mut eigen.target)?;
            (Some(f), Some(d))
        }
        None => (None, None),
    };
    Ok([
        fidelity,
        Some(purity),
        Some(entropy),
        Some(1.0 - purity),
        concurrence,
        negativity,
        trace_distance,
    ])
}

/// One replicate's values, in the order of [`BootstrapMetrics`]'s fields.
type ReplicateMetrics = [Option<f64>; N_METRICS];

/// Binomial(n, q) with the edge cases that need no generator.
fn draw_binomial(n: u64, q: f64, rng: &mut impl Rng) -> Result<u64, TomoError> {
    if q <= 0.0 {
        return Ok(0);
    }
    if q >= 1.0 {
        return Ok(n);
    }
    Ok(Binomial::new(n, q)
        .map_err(|e| TomoError::InvalidSet(format!("binomial({n}, {q}): {e}")))?
        .sample(rng))
}

/// Appends a replicate's metrics to the value lists; false (nothing
/// appended) when a metric that applies is not finite.
fn record_values(values: &mut [Vec<f64>; N_METRICS], row: &ReplicateMetrics) -> bool {
    if row.iter().flatten().any(|v| !v.is_finite()) {
        return false;
    }
    for (list, v) in values.iter_mut().zip(row) {
        if let Some(v) = v {
            list.push(*v);
        }
    }
    true
}

/// Mean, standard deviation and 2.5 %/97.5 % quantiles of `values`
/// (sorted in place); `None` when empty.
pub fn spread(values: &mut [f64]) -> Option<Spread> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let std = if n > 1 {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    values.sort_by(f64::total_cmp);
    Some(Spread {
        mean,
        std,
        q025: quantile(values, 0.025),
        q975: quantile(values, 0.975),
    })
}

/// The q-quantile of sorted values by linear interpolation between order
/// statistics (Hyndman–Fan type 7, numpy's default).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 1 {
        return sorted[0];
    }
    let h = (n - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

#[cfg(test)]
mod tests;
