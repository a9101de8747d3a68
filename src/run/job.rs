//! The unit of work: one sample's counts in, one [`SampleRecord`] out.
//!
//! This is the one binder of the layers: the numerics of [`crate::tomo`]
//! on one side, the stored form of [`crate::store`] on the other.
//!
//! A [`Plan`] is everything a worker needs besides the large arrays: the
//! measurement set's metadata, the methods, MLE options, the fidelity target
//! and the number of samples. It is small and serialisable, so the
//! supervisor puts it into the shared-memory segment next to A, A⁺, the
//! counts and the sample ids, and every worker builds the same [`Job`] from
//! it (`run::segment::bind_job`). The in-process executor and the worker
//! processes call the same [`Job::compute`], so a sample's result does not
//! depend on where it ran; it is also the one place that sets a computed
//! record's attempt number and `worker_pid` (the only other records are the
//! failed ones the supervisor writes for a sample that crashed or hung its
//! workers, stamped with the attempts made and the supervisor's pid).

use crate::run::sample_model::{SampleModelParts, SampleModels};
use crate::sample_ids::SampleIds;
use crate::store::{BootstrapMetricsRecord, BootstrapRecord, GofRecord, SpreadRecord};
use crate::store::{MethodMetrics, MethodResult, SampleRecord, SampleStatus};
use crate::supervisor::worker_loop::SampleCompute;
use crate::tomo::bootstrap::{
    BootstrapParams, BootstrapSummary, BootstrapWorkspace, Spread, target_tag,
};
use crate::tomo::gof::{boundary_p_value, goodness_of_fit};
use crate::tomo::parallel::Threads;
use crate::tomo::{
    EigenWorkspace, Estimate, Method, MleParams, Reconstructor, SetInfo, SetView, Target,
    TomoError, hermitian,
};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The fidelity target of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TargetSpec {
    /// A named pure state (`bell-phi+`, `ghz`, …).
    Named(String),
    /// A density matrix, row-major real and imaginary parts.
    Matrix {
        /// Dimension.
        dim: usize,
        /// Real parts, row-major.
        re: Vec<f64>,
        /// Imaginary parts, row-major.
        im: Vec<f64>,
    },
}

impl TargetSpec {
    /// Builds the numerical target for dimension `d`.
    pub fn build(&self, d: usize) -> Result<Target, TomoError> {
        match self {
            TargetSpec::Named(name) => Target::named(name, d),
            TargetSpec::Matrix { dim, re, im } => {
                if *dim != d {
                    return Err(TomoError::InvalidTarget(format!(
                        "target has dimension {dim}, the set has {d}"
                    )));
                }
                let m =
                    faer::Mat::from_fn(d, d, |r, c| faer::c64::new(re[r * d + c], im[r * d + c]));
                Target::from_matrix(m.as_ref())
            }
        }
    }
}

/// MLE options carried in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MleOptions {
    /// Certified gap tolerance (log-likelihood units).
    pub tol: f64,
    /// Iteration cap.
    pub max_iters: u32,
}

impl Default for MleOptions {
    fn default() -> Self {
        let p = MleParams::default();
        Self {
            tol: p.tol,
            max_iters: p.max_iters,
        }
    }
}

/// What a run computes, minus the large matrices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The measurement set's metadata.
    pub set: SetInfo,
    /// Methods, by name (`mle`, `pls`, `linear`), in output order.
    pub methods: Vec<String>,
    /// MLE options.
    pub mle: MleOptions,
    /// Fidelity target.
    pub target: Option<TargetSpec>,
    /// Number of samples in the whole input (not just this shard).
    pub samples: u64,
    /// The bootstrap of MLE and PLS, when asked for (`--bootstrap`).
    pub bootstrap: Option<BootstrapParams>,
    /// Per-sample models: the segment's per-sample sections present, `set`
    /// then being the base set (see `run::segment`); `None` for a
    /// run-wide model (or none), the set's effects being every sample's.
    pub sample_models: Option<SampleModelParts>,
}

impl Plan {
    /// The methods, parsed.
    pub fn parsed_methods(&self) -> Result<Vec<Method>, String> {
        self.methods.iter().map(|m| m.parse()).collect()
    }
}

/// Why a plan cannot be bound to its arrays.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobError {
    /// The counts are not samples × outcomes long.
    #[error("counts hold {found} values, expected {samples} samples × {outcomes} outcomes")]
    CountsLength {
        /// Samples in the plan.
        samples: u64,
        /// Outcomes per sample.
        outcomes: usize,
        /// Values found.
        found: usize,
    },
    /// There is not one id per sample.
    #[error("{found} sample ids for {samples} samples")]
    IdCount {
        /// Samples in the plan.
        samples: u64,
        /// Ids found.
        found: usize,
    },
    /// The methods or the target are invalid.
    #[error(transparent)]
    Tomo(#[from] TomoError),
}

/// A plan bound to its matrices and counts, with scratch memory for every estimator.
pub struct Job<'a> {
    view: SetView<'a>,
    counts: &'a [f64],
    ids: SampleIds<'a>,
    methods: Vec<Method>,
    params: MleParams,
    target: Option<Target>,
    reconstructor: Reconstructor,
    bootstrap: Option<(BootstrapParams, BootstrapWorkspace)>,
    /// Each sample's own set, when the samples have their own models;
    /// `view` is then the base set, used for samples without one.
    sample_models: Option<SampleModels<'a>>,
    threads: Threads,
    pid: u32,
}

impl<'a> Job<'a> {
    /// Binds a plan to the set's matrices, the N×M counts and the N sample ids.
    pub fn new(
        plan: &Plan,
        view: SetView<'a>,
        counts: &'a [f64],
        ids: SampleIds<'a>,
    ) -> Result<Self, JobError> {
        let m = view.len();
        let n = usize::try_from(plan.samples).unwrap_or(usize::MAX);
        if n.checked_mul(m) != Some(counts.len()) {
            return Err(JobError::CountsLength {
                samples: plan.samples,
                outcomes: m,
                found: counts.len(),
            });
        }
        if ids.len() != n {
            return Err(JobError::IdCount {
                samples: plan.samples,
                found: ids.len(),
            });
        }
        let methods = plan.parsed_methods().map_err(TomoError::InvalidSet)?;
        let target = plan
            .target
            .as_ref()
            .map(|t| t.build(view.dim()))
            .transpose()?;
        let params = MleParams {
            tol: plan.mle.tol,
            max_iters: plan.mle.max_iters,
            ..MleParams::default()
        };
        Ok(Self {
            view,
            counts,
            ids,
            methods,
            params,
            target,
            reconstructor: Reconstructor::new(view),
            bootstrap: plan
                .bootstrap
                .filter(|b| b.replicates > 0)
                .map(|b| (b, BootstrapWorkspace::new(view))),
            sample_models: None,
            threads: Threads::sequential(),
            pid: std::process::id(),
        })
    }

    /// Gives every sample its own set from `models` (per-sample scales and
    /// backgrounds over the job's set, which is then the base set).
    pub(crate) fn set_sample_models(&mut self, models: SampleModels<'a>) {
        self.sample_models = Some(models);
    }

    /// How many per-sample sets this job built so far (0 without
    /// per-sample models).
    pub fn sample_sets_built(&self) -> u64 {
        self.sample_models.as_ref().map_or(0, SampleModels::built)
    }

    /// Computes every later sample with `threads` (`--threads-per-worker`;
    /// sequential until this is called). Results equal the sequential ones
    /// to rounding ([`crate::tomo::parallel`]).
    pub fn set_threads(&mut self, threads: Threads) {
        self.threads = threads;
    }

    /// Reconstructs sample `index` (attempt number `attempt`, from 1). A
    /// sample the numerics reject becomes a failed record, never a panic.
    /// The record carries `attempt` and this process's id (`worker_pid`).
    /// With one thread (the default) it runs on the calling thread; with
    /// more, on the pool of [`Job::set_threads`], the caller waiting.
    pub fn compute(&mut self, index: u64, attempt: u32) -> SampleRecord {
        let threads = self.threads.clone();
        threads.install(|| self.compute_here(index, attempt))
    }

    /// [`Job::compute`] on the current thread.
    fn compute_here(&mut self, index: u64, attempt: u32) -> SampleRecord {
        let start = Instant::now();
        let m = self.view.len();
        let i = index as usize;
        let Self {
            view,
            counts,
            methods,
            params,
            target,
            reconstructor,
            bootstrap,
            sample_models,
            ..
        } = self;
        let work = SampleWork {
            methods,
            params,
            target: target.as_ref(),
            row: &counts[i * m..(i + 1) * m],
            index,
        };
        let result = match sample_models.as_mut().map(|s| s.set_for(i)).transpose() {
            Err(e) => Err(e),
            // The sample's own set, with its own workspaces.
            Ok(Some(Some(own))) => {
                let boot = match (bootstrap.as_ref(), own.bootstrap.as_mut()) {
                    (Some((p, _)), Some(ws)) => Some((p, ws)),
                    _ => None,
                };
                work.estimate(own.set.view(), &mut own.reconstructor, boot)
            }
            // The run's set (a run-wide model, or a sample without one).
            Ok(_) => {
                let boot = bootstrap.as_mut().map(|(p, ws)| (&*p, ws));
                work.estimate(*view, reconstructor, boot)
            }
        };
        let (status, methods) = match result {
            Ok(methods) => (SampleStatus::Ok, methods),
            Err(e) => (
                SampleStatus::Failed {
                    reason: e.to_string(),
                },
                Vec::new(),
            ),
        };
        SampleRecord {
            index,
            id: self.ids.get(i).unwrap_or_default().to_owned(),
            status,
            attempts: attempt,
            worker_pid: self.pid,
            elapsed_us: start.elapsed().as_micros() as u64,
            methods,
        }
    }
}

/// One sample's work, whatever set it is reconstructed under.
struct SampleWork<'w> {
    methods: &'w [Method],
    params: &'w MleParams,
    target: Option<&'w Target>,
    /// The sample's counts.
    row: &'w [f64],
    index: u64,
}

impl SampleWork<'_> {
    /// Every method's stored result for the sample under `view`, with the
    /// goodness of fit (MLE) and the bootstrap (MLE, PLS; `boot` when the
    /// plan asks for it), all under the same set.
    fn estimate(
        &self,
        view: SetView<'_>,
        reconstructor: &mut Reconstructor,
        mut boot: Option<(&BootstrapParams, &mut BootstrapWorkspace)>,
    ) -> Result<Vec<MethodResult>, TomoError> {
        let estimates =
            reconstructor.run(view, self.row, self.methods, self.params, self.target)?;
        estimates
            .iter()
            .map(|e| self.method_result_with_errors(view, e, boot.as_mut()))
            .collect()
    }

    /// The stored form of one estimate, with its goodness of fit (MLE)
    /// and bootstrap (MLE, PLS; when the plan asks for it).
    fn method_result_with_errors(
        &self,
        view: SetView<'_>,
        e: &Estimate,
        boot: Option<&mut (&BootstrapParams, &mut BootstrapWorkspace)>,
    ) -> Result<MethodResult, TomoError> {
        let mut out = method_result(e, view.dim());
        if e.method == Method::Mle {
            let g = goodness_of_fit(view, self.row, &e.rho);
            out.gof = Some(GofRecord {
                g2: g.g2,
                dof: g.dof,
                p_value: g.p_value,
                p_value_bootstrap: None,
                p_value_boundary: boundary_p_value(g.g2, g.dof, &e.metrics.eigenvalues),
            });
        }
        if let Some((params, ws)) = boot
            && matches!(e.method, Method::Mle | Method::Pls)
        {
            let summary = ws.run(
                view,
                self.row,
                &e.rho,
                e.method,
                self.params,
                self.target,
                params,
                self.index,
            )?;
            out.bootstrap = Some(bootstrap_record(&summary));
            if let Some(g) = &mut out.gof {
                g.p_value_bootstrap = summary.g2_p_value;
            }
            out.bootstrap_target = self.target.map(target_tag);
        }
        Ok(out)
    }
}

/// The stored form of a bootstrap summary.
fn bootstrap_record(s: &BootstrapSummary) -> BootstrapRecord {
    let r = |x: Option<Spread>| {
        x.map(|x| SpreadRecord {
            mean: x.mean,
            std: x.std,
            q025: x.q025,
            q975: x.q975,
        })
    };
    let m = &s.metrics;
    BootstrapRecord {
        kind: s.kind.name().to_string(),
        replicates: s.replicates,
        failed: s.failed,
        metrics: BootstrapMetricsRecord {
            fidelity: r(m.fidelity),
            purity: r(m.purity),
            entropy: r(m.entropy),
            linear_entropy: r(m.linear_entropy),
            concurrence: r(m.concurrence),
            negativity: r(m.negativity),
            trace_distance: r(m.trace_distance),
        },
    }
}

impl SampleCompute for Job<'_> {
    fn compute(&mut self, index: u64, attempt: u32) -> SampleRecord {
        Job::compute(self, index, attempt)
    }
}

/// Converts one estimate into the stored form.
pub(crate) fn method_result(e: &Estimate, d: usize) -> MethodResult {
    let rho = hermitian::matrix_from_coords(&e.rho);
    let mut rho_re = Vec::with_capacity(d * d);
    let mut rho_im = Vec::with_capacity(d * d);
    for r in 0..d {
        for c in 0..d {
            rho_re.push(rho[(r, c)].re);
            rho_im.push(rho[(r, c)].im);
        }
    }
    let m = &e.metrics;
    MethodResult {
        method: e.method.name().to_string(),
        dim: d as u32,
        rho_re,
        rho_im,
        metrics: MethodMetrics {
            trace: m.trace,
            purity: m.purity,
            eigenvalues: m.eigenvalues.clone(),
            von_neumann_entropy: m.von_neumann_entropy,
            linear_entropy: m.linear_entropy,
            log_likelihood: m.log_likelihood,
            gap_bound: e.mle.map(|i| i.gap_bound),
            iterations: e.mle.map(|i| i.iterations),
            converged: e.mle.map(|i| i.converged),
            chi2: Some(m.chi2),
            fidelity: m.fidelity,
            concurrence: m.concurrence,
            negativity: m.negativity,
            physical: m.physical,
            gap_floor: e.mle.map(|i| i.gap_floor),
            trace_distance: m.trace_distance,
            log_negativity: m.log_negativity,
        },
        gof: None,
        bootstrap: None,
        bootstrap_target: None,
    }
}

/// Measures a stored result against `target` after the run: its fidelity
/// and trace distance are recomputed from its density matrix, replacing
/// whatever it holds (`show`/`export --target`, or the target a run
/// directory stores). `eigen` must be for the result's dimension; a
/// result of another dimension, or one the eigensolver cannot take, gets
/// no target metrics (`None`) rather than wrong ones.
pub(crate) fn rescore_target(m: &mut MethodResult, target: &Target, eigen: &mut EigenWorkspace) {
    let d = m.dim as usize;
    let values = (target.dim() == d
        && eigen.dim() == d
        && m.rho_re.len() == d * d
        && m.rho_im.len() == d * d)
        .then(|| {
            let rho = faer::Mat::from_fn(d, d, |r, c| {
                faer::c64::new(m.rho_re[r * d + c], m.rho_im[r * d + c])
            });
            crate::tomo::metrics::target_metrics(target, &hermitian::coords_of(rho.as_ref()), eigen)
                .ok()
        })
        .flatten();
    m.metrics.fidelity = values.map(|v| v.0);
    m.metrics.trace_distance = values.map(|v| v.1);
    // The bootstrap's target metrics stand only for the target they were
    // computed against: a different one clears them (they cannot be
    // recomputed without the replicates).
    let tag = target_tag(target);
    if let Some(b) = &mut m.bootstrap
        && m.bootstrap_target != Some(tag)
    {
        b.metrics.fidelity = None;
        b.metrics.trace_distance = None;
    }
}
