//! One streaming pass over a run directory: everything the report shows,
//! in memory independent of the number of samples.
//!
//! The run is read as the exports read it ([`RunReader`]: each index's
//! effective record, in index order, one record at a time), with fidelity
//! and trace distance recomputed against the report's target when there is
//! one. Per method, each metric goes into a [`Histogram`] and the
//! drift-prone ones into a [`Trend`]. The samples to draw are chosen on the
//! way by the *selection metric* of the *primary method* (`mle` when the run
//! has it, else its first method): fidelity to the target, or without a
//! target the log-likelihood (higher is better; purity when the method
//! has no log-likelihoods). Best and worst are a
//! running arg-max and arg-min. The median sample is found in the same
//! pass: the selection histogram (1024 bins) keeps, per bin, the sample
//! closest to the bin's centre, and the median sample is the kept sample
//! closest to the median estimated from the histogram — its metric is
//! within about one bin of the exact median. Only those few records
//! (and each `--sample`) are read again, by index, to draw them.

use std::path::{Path, PathBuf};

use super::metric::Metric;
use super::stats::{Extremes, Histogram, Representative, Trend};
use super::timeaxis::IdTimes;
use super::{ReportError, ReportOptions};
use crate::store::{
    ExportStats, LockProbe, Manifest, MethodResult, RunReader, SampleRecord, Summary,
};
use crate::tomo::{EigenWorkspace, Target};
use faer::c64;

/// Failed samples listed in the report (the first ones by index).
pub const MAX_FAILURES_LISTED: usize = 100;

/// Bins of the selection metric's histogram (see the module doc).
const SELECTION_BINS: usize = 1024;

/// Bins of each metric histogram.
const HISTOGRAM_BINS: usize = 40;

/// Everything the report shows about one run.
#[derive(Debug)]
pub struct ReportData {
    /// The run directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// Its `summary.json`, when there is one.
    pub summary: Option<Summary>,
    /// Why `summary.json` could not be read, when it could not.
    pub summary_error: Option<String>,
    /// Whether a run holds the directory now (`None`: could not be told).
    pub lock: Option<LockProbe>,
    /// Samples ok, failed and missing (no record yet).
    pub counts: ExportStats,
    /// The target's name (as given) and density matrix (row-major Re, Im).
    pub target: Option<TargetView>,
    /// Per method, in the manifest's order.
    pub methods: Vec<MethodStats>,
    /// The method and metric by which samples were picked.
    pub selection: Selection,
    /// The samples to draw: best, median, worst, then each `--sample`.
    pub picks: Vec<Pick>,
    /// When every sample id is a time: `(index, seconds since the epoch)`
    /// anchors for the trends' x axis (see [`timeaxis`](super::timeaxis)).
    pub id_times: Option<Vec<(u64, f64)>>,
    /// The first [`MAX_FAILURES_LISTED`] failed samples: index, id, error.
    pub failures: Vec<(u64, String, String)>,
}

/// The target as the report draws it.
#[derive(Debug, Clone)]
pub struct TargetView {
    /// As given (`bell-phi+`, a file name).
    pub name: String,
    /// Real part of σ, row-major.
    pub re: Vec<f64>,
    /// Imaginary part of σ, row-major.
    pub im: Vec<f64>,
}

/// The statistics of one method over the run.
#[derive(Debug)]
pub struct MethodStats {
    /// The method's name.
    pub name: String,
    /// Samples with a result of this method.
    pub results: u64,
    /// Results whose iterative solver did not meet its bound.
    pub not_converged: u64,
    /// Results that are not density matrices (`physical: false`).
    pub unphysical: u64,
    /// Histograms of the metrics that have values, in [`Metric::ALL`] order.
    pub histograms: Vec<(Metric, Histogram)>,
    /// Trends of the drift metrics that have values.
    pub trends: Vec<(Metric, Trend)>,
}

/// How the drawn samples were chosen.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The primary method.
    pub method: String,
    /// The selection metric.
    pub metric: Metric,
    /// The median of the metric over the run (histogram estimate).
    pub median: Option<f64>,
}

/// One sample to draw.
#[derive(Debug, Clone)]
pub struct Pick {
    /// `best`, `median`, `worst` or `sample`.
    pub role: &'static str,
    /// The sample index.
    pub index: u64,
    /// Its effective record (`None`: no result recorded yet).
    pub record: Option<SampleRecord>,
}

/// Accumulates one method's statistics.
struct MethodAcc {
    stats: MethodStats,
}

impl MethodAcc {
    fn new(name: &str, manifest: &Manifest, has_target: bool) -> MethodAcc {
        let dim = manifest.dim as usize;
        let wanted = |m: &Metric| has_target || *m != Metric::Fidelity;
        MethodAcc {
            stats: MethodStats {
                name: name.to_string(),
                results: 0,
                not_converged: 0,
                unphysical: 0,
                histograms: Metric::ALL
                    .iter()
                    .filter(|m| wanted(m))
                    .map(|&m| {
                        let (lo, hi) = m.nominal_range(dim);
                        (m, Histogram::new(lo, hi, HISTOGRAM_BINS))
                    })
                    .collect(),
                trends: Metric::TRENDS
                    .iter()
                    .filter(|m| wanted(m))
                    .map(|&m| {
                        let (lo, hi) = m.nominal_range(dim);
                        (m, Trend::new(manifest.total, lo, hi))
                    })
                    .collect(),
            },
        }
    }

    fn add(&mut self, index: u64, r: &MethodResult) {
        let s = &mut self.stats;
        s.results += 1;
        s.not_converged += u64::from(r.metrics.converged == Some(false));
        s.unphysical += u64::from(!r.metrics.physical);
        for (m, h) in &mut s.histograms {
            if let Some(v) = m.value(r) {
                h.add(v, index);
            }
        }
        for (m, t) in &mut s.trends {
            if let Some(v) = m.value(r) {
                t.add(index, v);
            }
        }
    }

    fn finish(mut self) -> MethodStats {
        self.stats
            .histograms
            .retain(|(_, h)| h.count() + h.non_finite() > 0);
        self.stats.trends.retain(|(_, t)| !t.points().is_empty());
        self.stats
    }
}

/// Reads the run in `dir` once and gathers the report's data.
pub fn gather(dir: &Path, options: &ReportOptions) -> Result<ReportData, ReportError> {
    let target = options.target.as_ref();
    let mut scorer = target.map(Scorer::new);
    let mut rescore = |m: &mut MethodResult| {
        if let Some(s) = scorer.as_mut() {
            s.rescore(m);
        }
    };
    let rescore: Option<crate::store::Rescore<'_>> = target.is_some().then_some(&mut rescore);
    let mut reader = RunReader::open(dir, rescore)?;
    let manifest = reader.manifest().clone();
    for &index in &options.samples {
        if index >= manifest.total {
            return Err(ReportError::SampleOutOfRange {
                index,
                dir: dir.to_path_buf(),
                total: manifest.total,
            });
        }
    }
    let primary = manifest
        .methods
        .iter()
        .find(|m| *m == "mle")
        .or(manifest.methods.first())
        .cloned()
        .unwrap_or_default();
    let metric = if target.is_some() {
        Metric::Fidelity
    } else {
        Metric::LogLikelihood
    };
    let mut selection = if metric == Metric::Fidelity {
        Histogram::new(0.0, 1.0, SELECTION_BINS)
    } else {
        Histogram::unanchored(SELECTION_BINS)
    }
    .with_representatives();
    let mut extremes = Extremes::default();
    // Without log-likelihoods (a linear-only run of unphysical states),
    // samples are picked by purity instead.
    let mut by_purity = Histogram::new(0.0, 1.0, SELECTION_BINS).with_representatives();
    let mut purity_extremes = Extremes::default();
    let mut accs: Vec<MethodAcc> = manifest
        .methods
        .iter()
        .map(|m| MethodAcc::new(m, &manifest, target.is_some()))
        .collect();
    let mut failures = Vec::new();
    let mut id_times = IdTimes::default();
    let total = manifest.total;
    let counts = reader.for_each(|index, record| {
        let Some(record) = record else { return };
        id_times.add(index, total, &record.id);
        if let Some(reason) = record.status.error() {
            if failures.len() < MAX_FAILURES_LISTED {
                failures.push((index, record.id.clone(), reason.to_string()));
            }
            return;
        }
        for m in &record.methods {
            if let Some(acc) = accs.iter_mut().find(|a| a.stats.name == m.method) {
                acc.add(index, m);
            }
            if m.method == primary
                && let Some(v) = metric.value(m)
            {
                selection.add(v, index);
                extremes.add(v, index);
            }
            if m.method == primary {
                by_purity.add(m.metrics.purity, index);
                purity_extremes.add(m.metrics.purity, index);
            }
        }
    })?;
    let (metric, selection, extremes) = if selection.count() == 0 && by_purity.count() > 0 {
        (Metric::Purity, by_purity, purity_extremes)
    } else {
        (metric, selection, extremes)
    };
    let median = selection.quantile(0.5);
    let chosen: [(&'static str, Option<Representative>); 3] = [
        ("best", extremes.max),
        (
            "median",
            median.and_then(|m| selection.closest_representative(m)),
        ),
        ("worst", extremes.min),
    ];
    let mut picks = Vec::new();
    for (role, rep) in chosen {
        if let Some(rep) = rep {
            picks.push(Pick {
                role,
                index: rep.index,
                record: reader.record(rep.index)?,
            });
        }
    }
    for &index in &options.samples {
        picks.push(Pick {
            role: "sample",
            index,
            record: reader.record(index)?,
        });
    }
    let (summary, summary_error) = match Summary::read(dir) {
        Ok(s) => (s, None),
        Err(e) => (None, Some(crate::report::error_text(&e))),
    };
    let target = target.map(|t| {
        let (re, im) = t.target.density_matrix();
        TargetView {
            name: t.name.clone(),
            re,
            im,
        }
    });
    Ok(ReportData {
        dir: dir.to_path_buf(),
        manifest,
        summary,
        summary_error,
        lock: crate::store::probe(dir).ok(),
        counts,
        target,
        methods: accs.into_iter().map(MethodAcc::finish).collect(),
        selection: Selection {
            method: primary,
            metric,
            median,
        },
        picks,
        id_times: id_times.finish(),
        failures,
    })
}

/// Recomputes the fidelity of stored results against the report's target,
/// as `show` and `export` compute it but cheaper where that is exact:
///
/// * a pure target: ⟨ψ|ρ|ψ⟩
///   ([`fidelity_to_pure`](crate::tomo::metrics::fidelity_to_pure));
/// * a matrix target of rank one: the same for a physical ρ (for an
///   unphysical one, export's √ρ of the clipped eigenvalues differs, so
///   the full computation);
/// * a mixed one-qubit target: F = Tr ρσ + 2√(det ρ det σ)
///   ([`fidelity_qubit`](crate::tomo::metrics::fidelity_qubit)) when ρ is
///   positive semidefinite, else the full computation;
/// * any other mixed target: the full computation through √ρ.
///
/// The report shows no trace distance, so it is left unset.
struct Scorer {
    kind: ScorerKind,
    /// The target and a workspace, for the full computation.
    target: Target,
    eigen: EigenWorkspace,
}

/// Which shortcut a [`Scorer`] takes.
enum ScorerKind {
    /// A pure target: |ψ⟩.
    Pure(Vec<c64>),
    /// A matrix target of rank one: |ψ⟩.
    RankOne(Vec<c64>),
    /// A mixed one-qubit target: Re σ, Im σ.
    Qubit(Vec<f64>, Vec<f64>),
    /// Anything else.
    Full,
}

impl Scorer {
    fn new(t: &ReportTarget) -> Scorer {
        let d = t.target.dim();
        let kind = match (&t.target, t.target.as_pure()) {
            (Target::Pure(psi), _) => ScorerKind::Pure(psi.clone()),
            (_, Some(psi)) => ScorerKind::RankOne(psi),
            (_, None) if d == 2 => {
                let (re, im) = t.target.density_matrix();
                ScorerKind::Qubit(re, im)
            }
            _ => ScorerKind::Full,
        };
        Scorer {
            kind,
            target: t.target.clone(),
            eigen: EigenWorkspace::new(d),
        }
    }

    fn rescore(&mut self, m: &mut MethodResult) {
        let d = self.target.dim();
        let fits = m.rho_re.len() == d * d && m.rho_im.len() == d * d;
        let quick = match &self.kind {
            _ if !fits => None,
            ScorerKind::Pure(psi) => Some(crate::tomo::metrics::fidelity_to_pure(
                psi, &m.rho_re, &m.rho_im,
            )),
            ScorerKind::RankOne(psi) if m.metrics.physical => Some(
                crate::tomo::metrics::fidelity_to_pure(psi, &m.rho_re, &m.rho_im),
            ),
            ScorerKind::Qubit(re, im) => {
                crate::tomo::metrics::fidelity_qubit((&m.rho_re, &m.rho_im), (re, im))
            }
            _ => None,
        };
        m.metrics.fidelity = match quick {
            Some(f) => Some(f),
            None if fits => mixed_fidelity(&self.target, &mut self.eigen, m),
            None => None,
        };
        m.metrics.trace_distance = None;
    }
}

/// The fidelity of a stored result to a mixed target (the Jozsa form,
/// through √ρ, as [`metrics::fidelity`](crate::tomo::metrics::fidelity)
/// computes it for `show` and `export`), `None` if it cannot be computed.
fn mixed_fidelity(target: &Target, eigen: &mut EigenWorkspace, m: &MethodResult) -> Option<f64> {
    let d = m.dim as usize;
    if target.dim() != d || eigen.dim() != d || m.rho_re.len() != d * d || m.rho_im.len() != d * d {
        return None;
    }
    let rho = faer::Mat::from_fn(d, d, |r, c| {
        c64::new(m.rho_re[r * d + c], m.rho_im[r * d + c])
    });
    let coords = crate::tomo::hermitian::coords_of(rho.as_ref());
    let (vals, vecs) = eigen.decompose_coords(&coords).ok()?;
    let sqrt_rho = crate::tomo::states::weighted_outer(vals, vecs, f64::sqrt);
    crate::tomo::metrics::fidelity(target, &coords, &sqrt_rho).ok()
}

/// The report's target: its name as given and the state.
#[derive(Debug, Clone)]
pub struct ReportTarget {
    /// As given on the command line or stored by `run --target`.
    pub name: String,
    /// The state.
    pub target: Target,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MethodMetrics;
    use rand::SeedableRng;

    fn result(rho: &faer::Mat<c64>) -> MethodResult {
        let d = rho.nrows();
        MethodResult {
            method: "mle".into(),
            dim: d as u32,
            rho_re: (0..d * d).map(|k| rho[(k / d, k % d)].re).collect(),
            rho_im: (0..d * d).map(|k| rho[(k / d, k % d)].im).collect(),
            metrics: MethodMetrics {
                trace: 1.0,
                purity: 0.0,
                eigenvalues: Vec::new(),
                von_neumann_entropy: 0.0,
                linear_entropy: 0.0,
                log_likelihood: None,
                gap_bound: None,
                iterations: None,
                converged: None,
                chi2: None,
                fidelity: None,
                concurrence: None,
                negativity: None,
                physical: true,
                gap_floor: None,
                trace_distance: None,
                log_negativity: None,
            },
            gof: None,
            bootstrap: None,
            bootstrap_target: None,
        }
    }

    /// The report's fidelity is the one `show` and `export` compute, for
    /// a pure, a rank-one matrix and a mixed target.
    #[test]
    fn scorer_fidelity_matches_the_exports() {
        use crate::tomo::{hermitian, states};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let psi = states::named_state("bell-phi+", 4).expect("bell");
        let sigma = states::hilbert_schmidt_mixed(4, &mut rng);
        let targets = [
            Target::Pure(psi.clone()),
            Target::from_matrix(hermitian::matrix_from_coords(&states::pure_coords(&psi)).as_ref())
                .expect("rank one"),
            Target::from_matrix(hermitian::matrix_from_coords(&sigma).as_ref()).expect("mixed"),
        ];
        let qubit = states::hilbert_schmidt_mixed(2, &mut rng);
        let qubit =
            Target::from_matrix(hermitian::matrix_from_coords(&qubit).as_ref()).expect("qubit");
        let targets = targets.into_iter().chain([qubit]);
        for target in targets {
            let d = target.dim();
            let mut scorer = Scorer::new(&ReportTarget {
                name: "t".into(),
                target: target.clone(),
            });
            let mut eigen = EigenWorkspace::new(d);
            // A negative eigenvalue along the target: export's √ρ clips it.
            let diagonal: &[f64] = if d == 2 {
                &[1.1, -0.1]
            } else {
                &[-0.1, 0.5, 0.3, 0.3]
            };
            let unphysical = faer::Mat::from_fn(d, d, |r, c| {
                c64::new(if r == c { diagonal[r] } else { 0.0 }, 0.0)
            });
            let random = (0..10).map(|_| {
                hermitian::matrix_from_coords(&states::hilbert_schmidt_mixed(d, &mut rng))
            });
            let states: Vec<faer::Mat<c64>> = random.chain([unphysical]).collect();
            for (k, rho) in states.iter().enumerate() {
                let physical = k < 10;
                let mut ours = result(rho);
                ours.metrics.physical = physical;
                scorer.rescore(&mut ours);
                let mut theirs = result(rho);
                crate::run::job::rescore_target(&mut theirs, &target, &mut eigen);
                let (a, b) = (
                    ours.metrics.fidelity.unwrap(),
                    theirs.metrics.fidelity.unwrap(),
                );
                assert!((a - b).abs() < 1e-9, "{a} vs {b}");
            }
        }
    }
}
