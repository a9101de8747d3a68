//! `qtomo run`: reconstruct every sample of an input into a run directory.
//!
//! Two stages (as in ripgrep's LowArgs/HiArgs): [`RunArgs`] holds what clap
//! parsed, with no I/O; [`RunArgs::into_plan`] reads and checks everything
//! (basis, input, target, shard) *before* anything is written, so a bad input
//! exits 2 and leaves no output directory behind. The input is read straight
//! into the shared-memory segment the workers map ([`SegmentSink`]): the
//! counts are never held twice, so the supervisor's peak memory while
//! reading is about what it holds while the workers run. Then the run
//! directory is opened (lock, fingerprint, resume), the pending samples are
//! executed, and summary.json is written whatever happened.

use crate::cli::duration::{parse_duration, parse_positive_duration};
use crate::cli::error::CliError;
use crate::cli::progress::Progress;
use crate::cli::shard::{self, Shard};
use crate::cli::worker::{SegmentSink, counts_and_ids};
use crate::cli::{basis, exit_codes};
use crate::io::{ColumnMode, InputError, InputFormat, InputOptions, SampleSink};
use crate::job::{Job, MleOptions, Plan};
use crate::sample_ids::SampleIds;
use crate::store::{
    self, Fingerprint, LogWriter, OpenMode, ResumeState, RunOutcome, Summary, SyncPolicy,
};
use crate::supervisor::notify::Notifier;
use crate::supervisor::pool::{PoolConfig, PoolObserver, run_pool_with_signals};
use crate::supervisor::process::RUNNING_EXECUTABLE;
use crate::supervisor::shm::Segment;
use crate::supervisor::signals::{SignalEvent, SignalHandler, SignalHandlerKind};
use crate::supervisor::state::{PoolEvent, PoolStatus};
use crate::tomo::{MeasurementSet, Method};
use anyhow::Context;
use clap::{Args, ValueEnum};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How the input's columns map to projectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Columns {
    /// By header label (any order).
    Labels,
    /// By position, in the basis's label order.
    Positional,
}

/// Arguments of `qtomo run`.
#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Examples:\n  qtomo run examples/bell-drift.csv --out results\n  qtomo run counts.csv --out runs/a --basis james16 --method mle --target bell-phi+ --workers 8\n  qtomo run counts.csv --out runs/a --shard 2/4 --sample-timeout 2m --retries 3\n\nMetrics:\n  fidelity        squared (Jozsa) fidelity (Tr sqrt(sqrt(s) r sqrt(s)))^2; <psi|r|psi> for a pure\n                  target; both clamped to [0, 1]\n  trace_distance  (1/2) ||r - s||_1 to the target\n  negativity      sum of |negative eigenvalues| of the partial transpose r^T_B (not halved);\n                  log_negativity = log2(1 + 2 negativity)\n  entropy         von Neumann entropy in bits\n  physical        trace 1 within 1e-9 and no eigenvalue below -1e-12\n  gap_bound       MLE: certified bound on L_max - L(r), rounding included; converged means\n                  gap_bound <= max(--tol, gap_floor), gap_floor the sample's rounding floor"
)]
pub struct RunArgs {
    /// Input counts: CSV (header of projector labels, optional `sample` id column) or NPY (N×M float64).
    pub input: PathBuf,
    /// Run directory (created; rerunning the same command resumes it).
    #[arg(long)]
    pub out: PathBuf,
    /// Measurement set: pauli, qudit, james16, or a kets CSV file.
    #[arg(long, default_value = "pauli")]
    pub basis: String,
    /// Number of qubits (pauli; inferred from the column count when omitted).
    #[arg(long)]
    pub qubits: Option<usize>,
    /// Dimension (qudit).
    #[arg(long)]
    pub dim: Option<usize>,
    /// Methods, comma-separated: mle, pls, linear.
    #[arg(long, value_delimiter = ',', default_value = "mle,pls,linear")]
    pub method: Vec<Method>,
    /// Worker processes (default: available cores; 0 runs in this process).
    #[arg(long)]
    pub workers: Option<usize>,
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
    /// MLE stopping tolerance: certified log-likelihood gap (or the sample's rounding floor, if larger).
    #[arg(long, default_value_t = MleOptions::default().tol)]
    pub tol: f64,
    /// MLE iteration cap (not converged is a flag, not a failure).
    #[arg(long, default_value_t = MleOptions::default().max_iters)]
    pub max_iters: u32,
}

/// The smallest `--max-worker-rss` accepted.
pub const MIN_WORKER_RSS: u64 = 16 << 20;

/// The most `--workers` accepted.
pub const MAX_WORKERS: usize = 4096;

/// Everything checked and loaded, nothing written yet.
pub struct RunPlan {
    /// The arguments.
    pub args: RunArgs,
    /// The measurement set.
    pub set: MeasurementSet,
    /// The shared segment: matrices, input counts, sample ids, plan.
    pub segment: Segment,
    /// The number of input samples.
    pub n_samples: usize,
    /// What each worker computes.
    pub plan: Plan,
    /// The shard, if any.
    pub shard: Option<Shard>,
    /// The run's fingerprint.
    pub fingerprint: Fingerprint,
    /// Worker processes (0 = in-process).
    pub workers: usize,
    /// Parsed --max-worker-rss.
    pub max_worker_rss: Option<u64>,
}

impl RunArgs {
    /// Reads and checks every input; writes nothing (the input goes to an
    /// unnamed shared-memory segment, freed with the plan or on an error).
    pub fn into_plan(self) -> Result<RunPlan, CliError> {
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
        // A missing, empty or directory input is reported as such, before
        // anything (such as inferring --qubits) tries to read it.
        crate::io::open_input(&self.input, "one row per sample")?;
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
        let qubits = if self.basis == "pauli" {
            Some(basis::pauli_qubits(
                &self.input,
                self.qubits,
                self.transposed,
                self.columns == Columns::Labels,
            )?)
        } else {
            self.qubits
        };
        let set = basis::resolve(&self.basis, qubits, self.dim, None)?;
        let opts = InputOptions {
            format: InputFormat::Auto,
            transposed: self.transposed,
            columns: match self.columns {
                Columns::Labels => ColumnMode::Labels,
                Columns::Positional => ColumnMode::Positional,
            },
        };
        let storage = |source| InputError::Storage {
            path: self.input.clone(),
            source,
        };
        let mut sink = SegmentSink::new(&set).map_err(|e| storage(e.into()))?;
        crate::io::read_samples_into(&self.input, set.labels(), &opts, &mut sink)?;
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
        let mut methods: Vec<String> = Vec::new();
        for m in &self.method {
            if !methods.iter().any(|x| x == m.name()) {
                methods.push(m.name().to_string());
            }
        }
        let plan = Plan {
            set: set.info().clone(),
            methods: methods.clone(),
            mle: MleOptions {
                tol: self.tol,
                max_iters: self.max_iters,
            },
            target: target.clone(),
            samples: sink.len() as u64,
        };
        let n_samples = sink.len();
        let segment = sink.finish(&plan).map_err(storage)?;
        let mut options = BTreeMap::new();
        options.insert("tol".into(), format!("{:e}", self.tol));
        options.insert("max_iters".into(), self.max_iters.to_string());
        // Files are identified by their contents, never by their paths.
        // The target is no part of the fingerprint: it changes no density
        // matrix, and show and export measure against any target later
        // (it is stored in the run directory instead, see cli::target).
        let mut files = BTreeMap::new();
        files.insert("input".to_string(), digest_file(&self.input)?);
        if basis_is_file(&self.basis) {
            files.insert("basis".to_string(), digest_file(Path::new(&self.basis))?);
        }
        options.insert("transposed".into(), self.transposed.to_string());
        options.insert(
            "columns".into(),
            format!("{:?}", self.columns).to_lowercase(),
        );
        let fingerprint = Fingerprint {
            files,
            input_sha: None,
            basis: set.info().name.clone(),
            dim: set.dim() as u32,
            methods,
            options,
            shard: shard.map(|s| (s.index, s.count)),
        };
        let workers = self
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        Ok(RunPlan {
            args: self,
            set,
            segment,
            n_samples,
            plan,
            shard,
            fingerprint,
            workers,
            max_worker_rss,
        })
    }
}

/// The content digest of a file that shapes results (SHA-256, streamed),
/// recorded in the manifest under its role.
fn digest_file(path: &Path) -> Result<store::FileDigest, CliError> {
    let sha256 = store::sha256_file(path).map_err(|e| CliError::BadFile {
        path: path.to_path_buf(),
        message: format!("cannot read: {e}"),
    })?;
    Ok(store::FileDigest {
        path: path.display().to_string(),
        sha256,
    })
}

/// True when `--basis` names a file rather than a built-in set.
fn basis_is_file(basis: &str) -> bool {
    !matches!(basis, "pauli" | "qudit" | "james16")
}

/// How an execution of the pending samples ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// Every pending sample was attempted.
    Complete,
    /// Stopped by a signal; resumable.
    Interrupted,
    /// Stopped by a fatal condition.
    Aborted(String),
}

/// How often systemd is asked for more start-up time while the input is
/// read, and how much each time (`EXTEND_TIMEOUT_USEC`).
const INGEST_EXTEND_EVERY: Duration = Duration::from_secs(10);
const INGEST_EXTEND_BY: Duration = Duration::from_secs(30);

/// Runs `qtomo run`.
///
/// Signal handlers are installed first, before the input is read, so a
/// SIGTERM during a long ingest exits 75 (nothing written) instead of
/// killing the process. Under systemd, an error is reported as `STATUS=`
/// and every run ends with `STOPPING=1`.
pub fn run(args: RunArgs, quiet: bool) -> anyhow::Result<u8> {
    let mut signals =
        SignalHandler::new(SignalHandlerKind::Standard).context("installing signal handlers")?;
    if signals.hangup_ignored() {
        tracing::info!("SIGHUP is ignored (nohup): a hang-up will not stop this run");
    }
    let notifier = Notifier::from_env().ok().flatten();
    let result = run_with(args, quiet, &mut signals, notifier.as_ref());
    if let Some(n) = &notifier {
        if let Err(e) = &result {
            let _ = n.status(&format!(
                "qtomo: error: {}",
                crate::cli::error::chain_text(e)
            ));
        }
        let _ = n.stopping();
    }
    result
}

/// Reads and checks the input on a helper thread while this (main) thread
/// watches for signals and keeps systemd's start timeout extended.
/// `Ok(None)`: a shutdown signal came first; nothing was written.
fn plan_interruptibly(
    args: RunArgs,
    signals: &mut SignalHandler,
    notifier: Option<&Notifier>,
) -> anyhow::Result<Option<RunPlan>> {
    let ingest = std::thread::Builder::new()
        .name("qtomo-ingest".into())
        .spawn(move || args.into_plan())
        .context("starting the input reader thread")?;
    let mut last_extend: Option<Instant> = None;
    loop {
        if let Some(n) = notifier
            && last_extend.is_none_or(|t| t.elapsed() >= INGEST_EXTEND_EVERY)
        {
            last_extend = Some(Instant::now());
            let _ = n.extend_timeout(INGEST_EXTEND_BY);
            let _ = n.status("reading the input");
        }
        if ingest.is_finished() {
            return match ingest.join() {
                Ok(plan) => Ok(Some(plan?)),
                Err(_) => anyhow::bail!("reading the input failed unexpectedly (panic)"),
            };
        }
        match signals
            .recv_timeout(Duration::from_millis(50))
            .context("waiting for signals")?
        {
            Some(SignalEvent::Shutdown(sig)) => {
                tracing::warn!(
                    signal = sig.name(),
                    "signal received while reading the input: stopping; nothing was written"
                );
                return Ok(None);
            }
            Some(SignalEvent::Status) => tracing::info!("status: reading the input"),
            Some(SignalEvent::AddWorker | SignalEvent::RemoveWorker) | None => {}
        }
    }
}

fn run_with(
    args: RunArgs,
    quiet: bool,
    signals: &mut SignalHandler,
    notifier: Option<&Notifier>,
) -> anyhow::Result<u8> {
    let Some(plan) = plan_interruptibly(args, signals, notifier)? else {
        crate::say_warn!("interrupted while reading the input; nothing was written");
        return Ok(exit_codes::INTERRUPTED);
    };
    let start = Instant::now();
    let total = plan.n_samples as u64;
    let mode = if plan.args.fresh {
        OpenMode::Fresh
    } else {
        OpenMode::Resume
    };
    let open =
        store::open_run(&plan.args.out, plan.fingerprint.clone(), total, mode).map_err(|e| {
            let hint = match &e {
                store::RunDirError::FingerprintMismatch { .. } => {
                    "; rerun with --fresh to discard the previous results, or choose another --out"
                }
                _ => "",
            };
            anyhow::Error::new(e).context(format!(
                "cannot use run directory {}{hint}",
                plan.args.out.display()
            ))
        })?;
    if !open.repaired_damage.is_empty() {
        let bytes: u64 = open.repaired_damage.iter().map(|r| r.len).sum();
        let regions: Vec<String> = open
            .repaired_damage
            .iter()
            .map(|r| format!("{} bytes at byte offset {} ({})", r.len, r.offset, r.defect))
            .collect();
        tracing::warn!(
            regions = open.repaired_damage.len(),
            bytes,
            "results.log was damaged: removed {} damaged region(s): {}; the samples recorded there are recomputed",
            open.repaired_damage.len(),
            regions.join("; ")
        );
    }
    if let Some(tail) = &open.repaired_tail {
        tracing::warn!(
            offset = tail.offset,
            bytes = tail.len,
            "truncated a torn record at the end of the results log (an interrupted write); that sample will be recomputed"
        );
    }
    if let (Some(given), Some(spec)) = (&plan.args.target, &plan.plan.target)
        && let Some(previous) = crate::cli::target::store(&plan.args.out, given, spec)?
    {
        tracing::info!(
            previous = %previous,
            target = %given,
            "fidelity target changed: show and export measure every sample against the new one"
        );
    }
    let range = plan.shard.map_or(0..total, |s| s.range(total));
    let pending: Vec<u64> = range
        .clone()
        .filter(|&i| needs_run(&open.resume, i, plan.args.retry_failed))
        .collect();
    tracing::info!(
        dir = %plan.args.out.display(),
        opened = ?open.opened,
        samples = range.end - range.start,
        pending = pending.len(),
        basis = %plan.set.info().name,
        cond = plan.set.cond(),
        "run started"
    );
    let planned = pending.len();
    let mut progress = Progress::new(planned as u64, quiet);
    let (ending, workers, restarts) = if plan.workers == 0 || pending.is_empty() {
        (
            execute_in_process(
                &plan,
                &pending,
                &open.dir.results_log(),
                &mut progress,
                signals,
                notifier,
            )?,
            0,
            0,
        )
    } else {
        execute_pool(
            &plan,
            pending,
            &open.dir.results_log(),
            &mut progress,
            signals,
        )?
    };
    progress.finish();
    // The log is the truth: recount this shard from it.
    let state = ResumeState::from_log(&open.dir.results_log(), total)
        .context("re-reading the results log")?
        .state;
    let mut succeeded = 0;
    let mut failed_indices = Vec::new();
    for i in range.clone() {
        match state.status(i) {
            Some(store::IndexStatus::Ok) => succeeded += 1,
            Some(store::IndexStatus::Failed) => failed_indices.push(i),
            _ => {}
        }
    }
    let attempted_all = succeeded + failed_indices.len() as u64 == range.end - range.start;
    let status = match (&ending, attempted_all) {
        (Ending::Aborted(_), _) => RunOutcome::Aborted,
        (Ending::Interrupted, _) | (_, false) => RunOutcome::Interrupted,
        (Ending::Complete, true) => RunOutcome::Complete,
    };
    let elapsed = start.elapsed().as_secs_f64();
    // Nothing was computed: the summary of the run that did the work (its
    // time, rate, workers) stays, if it says the same.
    let nothing_to_compute = planned == 0 && matches!(ending, Ending::Complete);
    if nothing_to_compute
        && status == RunOutcome::Complete
        && let Ok(Some(previous)) = Summary::read(&plan.args.out)
        && previous.status == RunOutcome::Complete
        && previous.total == range.end - range.start
        && previous.failed_indices == failed_indices
    {
        crate::say_warn!(
            "nothing to compute: every sample already has a record; summary.json left as it was ({})",
            plan.args.out.display()
        );
        return Ok(if failed_indices.is_empty() {
            exit_codes::OK
        } else {
            exit_codes::FAILED_SAMPLES
        });
    }
    let summary = Summary {
        status,
        total: range.end - range.start,
        succeeded,
        failed: failed_indices.len() as u64,
        failed_indices: failed_indices.clone(),
        elapsed_s: elapsed,
        // Over the samples this invocation processed, not those it planned:
        // an interrupted run stops early.
        samples_per_s: if elapsed > 0.0 {
            progress.done() as f64 / elapsed
        } else {
            0.0
        },
        workers: workers as u32,
        worker_restarts: restarts,
        methods: plan.plan.methods.clone(),
        basis: plan.set.info().name.clone(),
        dim: plan.set.dim() as u32,
        log_write_errors: crate::stderr::write_errors(),
    };
    if let Err(e) = summary.write(&plan.args.out) {
        // On an abort (e.g. a full disk) the abort's reason is the message
        // that matters; a summary that cannot be written is secondary.
        if let Ending::Aborted(reason) = &ending {
            tracing::error!("could not write summary.json: {e:#}");
            anyhow::bail!("run aborted: {reason}");
        }
        return Err(anyhow::Error::new(e).context("writing summary.json"));
    }
    let out = plan.args.out.display();
    match (ending, status) {
        (Ending::Aborted(reason), _) => {
            anyhow::bail!(
                "run aborted: {reason}; {succeeded} samples are saved in {out}, rerun the same command to resume"
            )
        }
        (_, RunOutcome::Interrupted) => {
            crate::say_warn!(
                "interrupted: {succeeded} of {} samples done; rerun the same command to resume ({out})",
                summary.total
            );
            Ok(exit_codes::INTERRUPTED)
        }
        _ if !failed_indices.is_empty() => {
            crate::say_warn!(
                "complete with {} failed samples (see {out}/summary.json; rerun with --retry-failed to retry them); results in {out}",
                failed_indices.len()
            );
            Ok(exit_codes::FAILED_SAMPLES)
        }
        _ => {
            if !quiet {
                crate::say!(
                    "complete: {succeeded} samples in {:.1} s; results in {out} ({} export {out} --format jsonl)",
                    elapsed,
                    crate::cli::program_name()
                );
            }
            Ok(exit_codes::OK)
        }
    }
}

/// Whether sample `i` still has to run.
fn needs_run(state: &ResumeState, i: u64, retry_failed: bool) -> bool {
    match state.status(i) {
        Some(store::IndexStatus::Ok) => false,
        Some(store::IndexStatus::Failed) => retry_failed,
        _ => true,
    }
}

/// Runs the pending samples sequentially in this process (`--workers 0`),
/// stopping between samples on a shutdown signal.
fn execute_in_process(
    plan: &RunPlan,
    pending: &[u64],
    log: &Path,
    progress: &mut Progress,
    signals: &mut SignalHandler,
    notifier: Option<&Notifier>,
) -> anyhow::Result<Ending> {
    let view = plan.set.view();
    let (counts, ids) = counts_and_ids(plan.segment.view())?;
    let mut job = Job::new(&plan.plan, view, counts, ids).context("preparing the job")?;
    let mut writer =
        LogWriter::open(log, SyncPolicy::default()).context("opening the results log")?;
    if let Some(n) = notifier {
        let _ = n.ready();
    }
    for &i in pending {
        while let Some(ev) = signals.try_recv() {
            match ev {
                SignalEvent::Shutdown(sig) => {
                    tracing::warn!(?sig, "signal received: stopping after the current sample");
                    if let Some(n) = notifier {
                        let _ = n.stopping();
                    }
                    if let Err(e) = writer.flush_sync() {
                        return Ok(log_failed(e));
                    }
                    return Ok(Ending::Interrupted);
                }
                SignalEvent::Status => tracing::info!("status: {}", progress.line()),
                _ => {}
            }
        }
        let record = job.compute(i, 1);
        let ok = record.is_ok();
        if let Some(reason) = record.status.error() {
            tracing::warn!(index = i, id = %record.id, reason, "sample failed");
        }
        if let Err(e) = writer.append(&record) {
            return Ok(log_failed(e));
        }
        progress.sample(ok);
    }
    if let Err(e) = writer.flush_sync() {
        return Ok(log_failed(e));
    }
    Ok(Ending::Complete)
}

/// The in-process run stops when the results log cannot be written (a
/// full disk, an I/O error), naming the OS error as the pool does.
fn log_failed(e: store::LogError) -> Ending {
    let reason = format!(
        "the results log could not be written: {:#}; the log is valid: free space and rerun the same command to resume",
        anyhow::Error::new(e)
    );
    tracing::error!(%reason, "aborting the run");
    Ending::Aborted(reason)
}

/// Forwards pool events to the progress display.
struct PoolProgress<'a> {
    progress: &'a mut Progress,
    ids: SampleIds<'a>,
}

impl PoolObserver for PoolProgress<'_> {
    fn sample_id(&mut self, index: u64) -> String {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.ids.get(i))
            .map_or_else(|| index.to_string(), str::to_owned)
    }

    fn event(&mut self, event: &PoolEvent) {
        match event {
            PoolEvent::SampleDone { .. } => self.progress.sample(true),
            PoolEvent::SampleFailed { index, reason } => {
                tracing::warn!(index, reason = %reason, "sample failed");
                self.progress.sample(false);
            }
            PoolEvent::WorkerRestarted { .. } => self.progress.restart(),
            PoolEvent::Status(line) => tracing::info!("status: {line}; {}", self.progress.line()),
            PoolEvent::WorkersReady { .. } | PoolEvent::Draining => {}
        }
    }
}

/// Runs the pending samples over a pool of worker processes sharing the
/// plan's read-only segment; returns how it ended, the peak worker count
/// and the number of worker restarts.
fn execute_pool(
    plan: &RunPlan,
    pending: Vec<u64>,
    log: &Path,
    progress: &mut Progress,
    signals: &mut SignalHandler,
) -> anyhow::Result<(Ending, usize, u32)> {
    let segment = &plan.segment;
    let (_, ids) = counts_and_ids(segment.view())?;
    // Workers exec the running image, not the file at its path: a binary
    // upgraded on disk mid-run must not compute half of a run's records.
    let exe = std::env::current_exe().context("locating the qtomo executable for workers")?;
    let running = Path::new(RUNNING_EXECUTABLE);
    let mut cfg = if running.exists() {
        let mut cfg = PoolConfig::new(running.to_path_buf(), crate::cli::worker_args());
        cfg.worker_arg0 = Some(exe.into_os_string());
        cfg
    } else {
        PoolConfig::new(exe, crate::cli::worker_args())
    };
    cfg.workers = plan.workers;
    cfg.max_worker_rss = plan.max_worker_rss;
    cfg.sample_timeout = plan.args.sample_timeout;
    cfg.retries = plan.args.retries;
    cfg.grace = plan.args.grace;
    cfg.restart_max = plan.args.restart_max;
    cfg.restart_window = plan.args.restart_window;
    #[cfg(feature = "fault-injection")]
    if let Some(interval) = crate::supervisor::fault::heartbeat_override() {
        cfg.heartbeat_interval = interval;
    }
    let mut observer = PoolProgress { progress, ids };
    let outcome = run_pool_with_signals(&cfg, segment, pending, log, &mut observer, signals)
        .context("running the worker pool")?;
    let ending = match outcome.status {
        PoolStatus::Complete => Ending::Complete,
        PoolStatus::Interrupted => Ending::Interrupted,
        PoolStatus::Aborted { reason } => Ending::Aborted(reason),
    };
    Ok((ending, outcome.peak_workers, outcome.worker_restarts))
}
