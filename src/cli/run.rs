//! `qtomo run`: reconstruct every sample of an input into a run directory.
//!
//! Parsing and wiring only; the run itself is [`crate::run`]. Two stages
//! (as in ripgrep's LowArgs/HiArgs): [`RunArgs`] holds what clap parsed,
//! with no I/O; [`RunArgs::into_plan`] checks the flags, resolves
//! `--basis`, and has [`crate::run`] read the input into a plan *before*
//! anything is written, so a bad input exits 2 and leaves no output
//! directory behind. [`run`] then opens the run directory, stores the
//! target, executes, and turns the run's [`Report`] into a message and an
//! exit code.

use crate::cli::basis::{self, SetArgs};
use crate::cli::duration::{parse_duration, parse_positive_duration};
use crate::cli::error::CliError;
use crate::cli::exit_codes;
use crate::cli::shard::{self, Shard};
use crate::io::kwiat::KwiatOptions;
use crate::io::{ColumnMode, InputError, InputFormat, InputOptions};
use crate::run::job::MleOptions;
use crate::run::{
    Ingest, Outcome, PlanError, PlanRequest, PoolPolicy, PoolSettings, Report, RunPlan, Session,
    ThreadsPerWorker,
};
use crate::tomo::Method;
use crate::tomo::bootstrap::{BootstrapKind, BootstrapParams};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How the input's columns map to projectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Columns {
    /// By header label (any order).
    Labels,
    /// By position, in the basis's label order.
    Positional,
}

/// Arguments of `qtomo run`.
#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Examples:\n  qtomo run examples/bell-drift.csv --out results\n  qtomo run counts.csv --out runs/a --basis james16 --method mle --target bell-phi+ --workers 8\n  qtomo run counts.csv --out runs/a --shard 2/4 --sample-timeout 2m --retries 3\n  qtomo run seven-qubits.csv --out runs/b --workers 4 --threads-per-worker auto\n\nMetrics:\n  fidelity        squared (Jozsa) fidelity (Tr sqrt(sqrt(s) r sqrt(s)))^2; <psi|r|psi> for a pure\n                  target; both clamped to [0, 1]\n  trace_distance  (1/2) ||r - s||_1 to the target\n  negativity      sum of |negative eigenvalues| of the partial transpose r^T_B (not halved);\n                  log_negativity = log2(1 + 2 negativity)\n  entropy         von Neumann entropy in bits\n  physical        trace 1 within 1e-9 and no eigenvalue below -1e-12\n  gap_bound       MLE: certified bound on L_max - L(r), rounding included; converged means\n                  gap_bound <= max(--tol, gap_floor), gap_floor the sample's rounding floor"
)]
pub(crate) struct RunArgs {
    /// Input counts: CSV (header of projector labels, optional `sample` id column), NPY (N×M
    /// float64), or Kwiat Quantum-Tomography JSON (a .json file, a .jsonl batch, or a directory
    /// of .json files).
    pub input: PathBuf,
    /// Run directory (created; rerunning the same command resumes it).
    #[arg(long)]
    pub out: PathBuf,
    // --basis, --qubits, --dim (shared with simulate).
    #[command(flatten)]
    pub set: SetArgs,
    // --readout, --scale (shared with simulate).
    #[command(flatten)]
    pub model: crate::cli::model::ModelArgs,
    /// Methods, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "mle,pls,linear", value_parser = crate::cli::method::parser())]
    pub method: Vec<Method>,
    /// Worker processes (default: available cores; 0 runs in this process).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Threads each worker uses for one sample (1 to 1024, or auto): for batches with fewer
    /// samples than cores and large d (5 qubits and up). auto = cores / min(workers, samples to
    /// compute), at least 1. Results equal those of 1 thread to rounding; not part of the
    /// run's fingerprint.
    #[arg(long, value_name = "N|auto", default_value = "1", value_parser = parse_threads_per_worker)]
    pub threads_per_worker: ThreadsPerWorker,
    /// A sample still running after this long is killed and retried (e.g. 90s, 10m).
    #[arg(long, default_value = "10m", value_parser = parse_positive_duration)]
    pub sample_timeout: Duration,
    /// Attempts after the first before a sample is recorded as failed.
    #[arg(long, default_value_t = 2)]
    pub retries: u32,
    /// On SIGTERM/SIGINT, how long in-flight samples may finish before workers are killed.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub grace: Duration,
    /// Recycle a worker whose private memory (anonymous RSS/PSS) exceeds this, e.g. 2G.
    #[arg(long)]
    pub max_worker_rss: Option<String>,
    /// More than this many worker restarts within --restart-window aborts the run (exit 1).
    #[arg(long, default_value_t = 10)]
    pub restart_max: usize,
    /// Window for --restart-max.
    #[arg(long, default_value = "60s", value_parser = parse_positive_duration)]
    pub restart_window: Duration,
    /// Run only shard I of N (0-based), e.g. 2/4. Default: from SLURM_ARRAY_TASK_* or JOB_COMPLETION_INDEX.
    #[arg(long, value_parser = shard::parse_shard)]
    pub shard: Option<Shard>,
    /// Number of shards when the index comes from JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs).
    #[arg(long)]
    pub shard_count: Option<u32>,
    /// Fidelity target: bell-phi+, bell-phi-, bell-psi+, bell-psi-, ghz, w, or an NPY file with a d×d density matrix.
    /// Stored in --out for show and export (which may give another); not part of the run's
    /// fingerprint, so a resume may change it (without --target, the stored one stays).
    #[arg(long)]
    pub target: Option<String>,
    /// Discard previous results in --out and start over.
    #[arg(long)]
    pub fresh: bool,
    /// Also retry samples recorded as failed by a previous run.
    #[arg(long)]
    pub retry_failed: bool,
    /// The input has one sample per column instead of per row.
    #[arg(long)]
    pub transposed: bool,
    /// Match count columns by label or by position.
    #[arg(long, value_enum, default_value = "labels")]
    pub columns: Columns,
    /// Kwiat options file (TOML, as Kwiat's package reads it) for a Kwiat JSON input:
    /// do_drift_correction and do_accidental_correction are honoured; method,
    /// do_error_estimation and the minimizer's options are accepted and not used.
    #[arg(long, value_name = "FILE")]
    pub kwiat_conf: Option<PathBuf>,
    /// MLE stopping tolerance: certified log-likelihood gap (or the sample's rounding floor, if larger).
    #[arg(long, default_value_t = MleOptions::default().tol)]
    pub tol: f64,
    /// MLE iteration cap (not converged is a flag, not a failure).
    #[arg(long, default_value_t = MleOptions::default().max_iters)]
    pub max_iters: u32,
    /// Error bars: N bootstrap replicates per sample for mle and pls (mean, std and 95%
    /// percentile interval of each metric). Part of the run's fingerprint.
    #[arg(long, value_name = "N")]
    pub bootstrap: Option<u32>,
    /// How replicates are drawn: from the fitted state (parametric, the default) or from the
    /// observed frequencies (nonparametric). Needs --bootstrap.
    #[arg(long, value_name = "KIND", value_parser = parse_bootstrap_kind)]
    pub bootstrap_kind: Option<BootstrapKind>,
    /// Seed of the bootstrap (default 1); replicate r of sample i depends only on (seed, i, r).
    /// Needs --bootstrap.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// The most `--bootstrap` replicates accepted.
pub(crate) const MAX_BOOTSTRAP: u32 = 1_000_000;

/// Parses `--threads-per-worker`: `auto` or a number of threads from 1 to
/// [`MAX_THREADS`](crate::tomo::parallel::MAX_THREADS).
fn parse_threads_per_worker(s: &str) -> Result<ThreadsPerWorker, String> {
    use crate::tomo::parallel::MAX_THREADS;
    let s = s.trim();
    if s.eq_ignore_ascii_case("auto") {
        return Ok(ThreadsPerWorker::Auto);
    }
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(ThreadsPerWorker::Fixed(
            std::num::NonZeroUsize::new(n).unwrap_or(std::num::NonZeroUsize::MIN),
        )),
        _ => Err(format!(
            "expected a number of threads from 1 to {MAX_THREADS}, or auto"
        )),
    }
}

/// Parses `--bootstrap-kind`.
fn parse_bootstrap_kind(s: &str) -> Result<BootstrapKind, String> {
    s.parse()
}

/// The bootstrap asked for, checked: `--bootstrap N` with N in
/// 1..=[`MAX_BOOTSTRAP`], and a method it applies to; `--bootstrap-kind`
/// and `--seed` only with it.
fn bootstrap_params(
    replicates: Option<u32>,
    kind: Option<BootstrapKind>,
    seed: Option<u64>,
    methods: &[Method],
) -> Result<Option<BootstrapParams>, CliError> {
    let Some(replicates) = replicates else {
        if kind.is_some() || seed.is_some() {
            let flag = if kind.is_some() {
                "--bootstrap-kind"
            } else {
                "--seed"
            };
            return Err(CliError::Usage(format!(
                "{flag} applies to the bootstrap only: add --bootstrap N"
            )));
        }
        return Ok(None);
    };
    if !(1..=MAX_BOOTSTRAP).contains(&replicates) {
        return Err(CliError::Usage(format!(
            "--bootstrap {replicates}: expected a number of replicates from 1 to {MAX_BOOTSTRAP}"
        )));
    }
    if !methods
        .iter()
        .any(|m| matches!(m, Method::Mle | Method::Pls))
    {
        return Err(CliError::Usage(
            "--bootstrap applies to mle and pls: add one of them to --method".into(),
        ));
    }
    Ok(Some(BootstrapParams {
        replicates,
        kind: kind.unwrap_or_default(),
        seed: seed.unwrap_or(1),
    }))
}

/// The smallest `--max-worker-rss` accepted.
pub(crate) const MIN_WORKER_RSS: u64 = 16 << 20;

/// The most `--workers` accepted.
pub(crate) const MAX_WORKERS: usize = 4096;

impl RunArgs {
    /// Reads and checks every input; writes nothing (the input goes to an
    /// unnamed shared-memory segment, freed with the plan or on an error).
    pub(crate) fn into_plan(self) -> Result<RunPlan, CliError> {
        if self.method.is_empty() {
            return Err(CliError::Usage(
                "--method needs at least one of mle, pls, linear".into(),
            ));
        }
        if !(self.tol > 0.0 && self.tol.is_finite()) {
            return Err(CliError::Usage(format!(
                "--tol must be a positive number, got {}",
                self.tol
            )));
        }
        let bootstrap =
            bootstrap_params(self.bootstrap, self.bootstrap_kind, self.seed, &self.method)?;
        // A Kwiat input: a directory, or a file named *.json / *.jsonl.
        let kwiat = crate::io::kwiat::layout(&self.input).is_some();
        // A missing, empty or directory input is reported as such, before
        // anything (such as inferring --qubits) tries to read it.
        if !(kwiat && self.input.is_dir()) {
            crate::io::open_input(&self.input, "one row per sample")?;
        }
        let max_worker_rss = self
            .max_worker_rss
            .as_deref()
            .map(crate::supervisor::procmem::parse_size)
            .transpose()
            .map_err(|e| CliError::Usage(format!("--max-worker-rss: {e}")))?;
        if let Some(bytes) = max_worker_rss
            && bytes < MIN_WORKER_RSS
        {
            return Err(CliError::Usage(format!(
                "--max-worker-rss {}: must be at least 16M (a worker's own baseline is a few MiB; \
                 below that every worker would be recycled at once)",
                self.max_worker_rss.as_deref().unwrap_or_default().trim()
            )));
        }
        if let Some(w) = self.workers
            && w > MAX_WORKERS
        {
            return Err(CliError::Usage(format!(
                "--workers {w}: at most {MAX_WORKERS} worker processes (0 runs in this process)"
            )));
        }
        let (set, ingest, input_options, extra_files, model_files, model) = if kwiat {
            self.check_kwiat_flags()?;
            if !self.model.is_empty() {
                return Err(CliError::Usage(
                    "--readout, --scale and --background apply to CSV and NPY inputs; a Kwiat \
                     JSON input cannot be combined with them yet"
                        .into(),
                ));
            }
            let opts = match &self.kwiat_conf {
                Some(path) => {
                    let opts = crate::io::kwiat::read_options(path).map_err(InputError::from)?;
                    for key in &opts.ignored {
                        crate::say_warn!(
                            "{}: option '{key}' is not one Kwiat's package reads; ignored (qtomo honours do_drift_correction and do_accidental_correction)",
                            path.display()
                        );
                    }
                    opts
                }
                None => KwiatOptions::default(),
            };
            let (set, ingest, model) = Ingest::read_kwiat(&self.input, &opts)?;
            let extra: Vec<(&'static str, PathBuf)> = self
                .kwiat_conf
                .iter()
                .map(|p| ("kwiat_conf", p.clone()))
                .collect();
            (
                set,
                ingest,
                vec![("input_format", "kwiat".to_string())],
                extra,
                Vec::new(),
                model,
            )
        } else {
            if let Some(conf) = &self.kwiat_conf {
                return Err(CliError::Usage(format!(
                    "--kwiat-conf {}: applies to a Kwiat JSON input only (a .json or .jsonl file, or a directory of .json files); {} is none",
                    conf.display(),
                    self.input.display()
                )));
            }
            let qubits = if self.set.basis == "pauli" {
                Some(basis::pauli_qubits(
                    &self.input,
                    self.set.qubits,
                    self.transposed,
                    self.columns == Columns::Labels,
                )?)
            } else {
                self.set.qubits
            };
            let set = basis::resolve(
                &self.set.basis,
                qubits,
                self.set.dim,
                None,
                !self.model.is_empty(),
            )?;
            let model = self.model.resolve(set)?;
            let set = model.set;
            let opts = InputOptions {
                format: InputFormat::Auto,
                transposed: self.transposed,
                columns: match self.columns {
                    Columns::Labels => ColumnMode::Labels,
                    Columns::Positional => ColumnMode::Positional,
                },
            };
            let mut ingest = Ingest::read(&self.input, &set, &opts)?;
            if let Some(rows) = &model.per_sample {
                let whose = format!("the {} samples of {}", ingest.len(), self.input.display());
                rows.check_samples(ingest.len(), &whose, set.len())?;
                ingest.add_sample_models(
                    &self.input,
                    rows.scale.as_deref(),
                    rows.background.as_deref(),
                )?;
            }
            let input_options = vec![
                ("transposed", self.transposed.to_string()),
                ("columns", format!("{:?}", self.columns).to_lowercase()),
            ];
            (
                set,
                ingest,
                input_options,
                Vec::new(),
                model.files,
                model.description,
            )
        };
        let target = self
            .target
            .as_deref()
            .map(|t| crate::cli::target::parse(t, set.dim()))
            .transpose()?;
        if let Some(t) = &target {
            t.build(set.dim())?;
        }
        let shard = match self.shard {
            Some(s) => Some(s),
            None => shard::shard_from_env(|k| std::env::var(k).ok(), self.shard_count)
                .map_err(CliError::Usage)?,
        };
        let total = ingest.len() as u64;
        let request = PlanRequest {
            basis_file: basis_is_file(&self.set.basis).then(|| PathBuf::from(&self.set.basis)),
            out: self.out,
            methods: self.method,
            mle: MleOptions {
                tol: self.tol,
                max_iters: self.max_iters,
            },
            bootstrap,
            model_files,
            model,
            target: self.target.zip(target),
            shard: shard.map(|s| ((s.index, s.count), s.range(total))),
            fresh: self.fresh,
            retry_failed: self.retry_failed,
            extra_files,
            input_options,
            pool: PoolSettings {
                policy: PoolPolicy {
                    workers: self.workers.unwrap_or_else(|| {
                        std::thread::available_parallelism().map_or(1, |n| n.get())
                    }),
                    max_worker_rss,
                    sample_timeout: self.sample_timeout,
                    retries: self.retries,
                    grace: self.grace,
                    restart_max: self.restart_max,
                    restart_window: self.restart_window,
                },
                threads: self.threads_per_worker,
                worker_args: crate::cli::worker_args(),
            },
            input: self.input,
        };
        RunPlan::new(set, ingest, request).map_err(|e| match e {
            PlanError::Input(e) => CliError::Input(e),
            PlanError::Unreadable { path, source } => CliError::BadFile {
                path,
                message: format!("cannot read: {source}"),
            },
        })
    }
}

impl RunArgs {
    /// Refuses the options that describe a CSV or NPY input's measurements
    /// or layout: a Kwiat file defines its own.
    fn check_kwiat_flags(&self) -> Result<(), CliError> {
        let input = self.input.display();
        let refuse = |flag: String| {
            Err(CliError::Usage(format!(
                "{flag}: {input} is a Kwiat JSON input, which defines its own measurements (measurement_states and data); drop {flag}"
            )))
        };
        if self.set.basis != "pauli" {
            return refuse(format!("--basis {}", self.set.basis));
        }
        if let Some(n) = self.set.qubits {
            return refuse(format!("--qubits {n}"));
        }
        if let Some(d) = self.set.dim {
            return refuse(format!("--dim {d}"));
        }
        if self.transposed {
            return refuse("--transposed".into());
        }
        if self.columns == Columns::Positional {
            return refuse("--columns positional".into());
        }
        Ok(())
    }
}

/// True when `--basis` names a file rather than a built-in set.
fn basis_is_file(basis: &str) -> bool {
    !matches!(basis, "pauli" | "qudit" | "james16")
}

/// Runs `qtomo run`: plan, open, execute, conclude; the exit code.
pub(crate) fn run(args: RunArgs, quiet: bool) -> anyhow::Result<u8> {
    let mut session = Session::start()?;
    let result = run_with(args, quiet, &mut session);
    let error = result.as_ref().err().map(crate::cli::error::chain_text);
    session.end(error.as_deref());
    result
}

/// [`run`] within its session.
fn run_with(args: RunArgs, quiet: bool, session: &mut Session) -> anyhow::Result<u8> {
    let Some(plan) = session.plan(move || args.into_plan())? else {
        crate::say_warn!("interrupted while reading the input; nothing was written");
        return Ok(exit_codes::INTERRUPTED);
    };
    let plan = plan?;
    let resumed = crate::run::open(&plan)?;
    if let (Some(given), Some(spec)) = (&plan.target_given, &plan.job.target)
        && let Some(previous) = crate::cli::target::store(&plan.out, given, spec)?
    {
        tracing::info!(
            previous = %previous,
            target = %given,
            "fidelity target changed: show and export measure every sample against the new one"
        );
    }
    let report = session.execute(&plan, &resumed, quiet)?;
    exit_code(&report, &plan.out, quiet)
}

/// The message and exit code of a finished run.
fn exit_code(report: &Report, out: &Path, quiet: bool) -> anyhow::Result<u8> {
    let out = out.display();
    let failed = report.failed;
    if report.summary_kept {
        crate::say_warn!(
            "nothing to compute: every sample already has a record; summary.json left as it was ({out})"
        );
        return Ok(if failed == 0 {
            exit_codes::OK
        } else {
            exit_codes::FAILED_SAMPLES
        });
    }
    let succeeded = report.succeeded;
    match &report.outcome {
        Outcome::Aborted(reason) => {
            anyhow::bail!(
                "run aborted: {reason}; {succeeded} samples are saved in {out}, rerun the same command to resume"
            )
        }
        Outcome::Interrupted => {
            crate::say_warn!(
                "interrupted: {succeeded} of {} samples done; rerun the same command to resume ({out})",
                report.total
            );
            Ok(exit_codes::INTERRUPTED)
        }
        Outcome::Complete if failed > 0 => {
            crate::say_warn!(
                "complete with {failed} failed samples (see {out}/summary.json; rerun with --retry-failed to retry them); results in {out}"
            );
            Ok(exit_codes::FAILED_SAMPLES)
        }
        Outcome::Complete => {
            if !quiet {
                crate::say!(
                    "complete: {succeeded} samples in {:.1} s; results in {out} ({} export {out} --format jsonl)",
                    report.elapsed_s,
                    crate::cli::program_name()
                );
            }
            Ok(exit_codes::OK)
        }
    }
}
