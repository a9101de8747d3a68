//! Executing the pending samples: in this process (`--workers 0`) or over
//! a pool of worker processes, each ending with an [`Outcome`].
//!
//! Both executors bind the same [`Job`](super::job::Job) to the same
//! segment ([`super::segment::bind_job`]): in process, this process does
//! it and appends each record itself; in the pool, every worker process
//! does it ([`super::worker`]) and the supervisor
//! ([`run_pool_with_signals`]) only hands out indices, watches health and
//! records the samples that failed for good. [`PoolProgress`] is the
//! pool's observer: it feeds the progress display and names samples.

use super::PoolPolicy;
use super::error::RunError;
use super::outcome::Outcome;
use super::plan::RunPlan;
use super::progress::Progress;
use super::segment::{self, counts_and_ids};
use crate::sample_ids::SampleIds;
use crate::store::{self, LogWriter, SyncPolicy};
use crate::supervisor::notify::Notifier;
use crate::supervisor::pool::{PoolConfig, PoolObserver, run_pool_with_signals};
use crate::supervisor::process::RUNNING_EXECUTABLE;
use crate::supervisor::signals::{SignalEvent, SignalHandler};
use crate::supervisor::state::PoolEvent;
use crate::tomo::parallel::{MAX_THREADS, Threads};
use std::ffi::OsString;
use std::num::NonZeroUsize;
use std::path::Path;

/// Environment variable carrying `--threads-per-worker` (resolved to a
/// number) to a worker process.
pub(crate) const THREADS_ENV: &str = "QTOMO_THREADS_PER_WORKER";

/// How many threads each worker uses for one sample
/// (`--threads-per-worker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ThreadsPerWorker {
    /// Exactly this many (1: every kernel sequential, the default).
    Fixed(NonZeroUsize),
    /// The cores shared out among the workers that will run: see
    /// [`ThreadsPerWorker::resolve`].
    Auto,
}

impl Default for ThreadsPerWorker {
    fn default() -> Self {
        Self::Fixed(NonZeroUsize::MIN)
    }
}

impl ThreadsPerWorker {
    /// The number of threads per worker for a run of `samples` pending
    /// samples with `workers` worker processes (0: in this process) on
    /// `cores` cores. `Auto` is ⌊cores ÷ busy workers⌋, at least 1, where
    /// the busy workers are min(workers, samples) (the pool starts no more
    /// workers than there are samples; in process, 1): with the default
    /// `--workers` (one per core) that is 1 unless the batch has fewer
    /// samples than cores, and then the idle cores go to the samples.
    pub(crate) fn resolve(self, workers: usize, samples: usize, cores: usize) -> NonZeroUsize {
        match self {
            Self::Fixed(n) => n,
            Self::Auto => {
                let busy = workers.min(samples).max(1);
                NonZeroUsize::new((cores / busy).clamp(1, MAX_THREADS)).unwrap_or(NonZeroUsize::MIN)
            }
        }
    }
}

/// How to execute: the pool's knobs from the command line.
#[derive(Debug, Clone)]
pub(crate) struct PoolSettings {
    /// Workers (0 = in this process), timeouts, retries, memory and restart
    /// limits, as the pool takes them.
    pub policy: PoolPolicy,
    /// Threads per worker for one sample.
    pub threads: ThreadsPerWorker,
    /// The arguments a worker process is started with (the hidden
    /// subcommand that leads to [`super::worker::main`]).
    pub worker_args: Vec<OsString>,
}

/// How an execution ended and what it used.
#[derive(Debug)]
pub(crate) struct Executed {
    /// How it ended.
    pub outcome: Outcome,
    /// Most worker processes alive at once (0 in process).
    pub workers: usize,
    /// Workers replaced.
    pub restarts: u32,
}

/// Runs `pending` (indices into the input), appending records to `log`.
pub(crate) fn execute(
    plan: &RunPlan,
    pending: Vec<u64>,
    log: &Path,
    progress: &mut Progress,
    signals: &mut SignalHandler,
    notifier: Option<&Notifier>,
) -> Result<Executed, RunError> {
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let threads = plan
        .pool
        .threads
        .resolve(plan.pool.policy.workers, pending.len(), cores);
    if threads.get() > 1 {
        tracing::info!(
            threads = threads.get(),
            "each worker uses {threads} threads per sample (--threads-per-worker)"
        );
    }
    if plan.pool.policy.workers == 0 || pending.is_empty() {
        let outcome = in_process(plan, &pending, threads, log, progress, signals, notifier)?;
        Ok(Executed {
            outcome,
            workers: 0,
            restarts: 0,
        })
    } else {
        in_pool(plan, pending, threads, log, progress, signals)
    }
}

/// Runs the pending samples sequentially in this process (`--workers 0`),
/// stopping between samples on a shutdown signal.
fn in_process(
    plan: &RunPlan,
    pending: &[u64],
    threads: NonZeroUsize,
    log: &Path,
    progress: &mut Progress,
    signals: &mut SignalHandler,
    notifier: Option<&Notifier>,
) -> Result<Outcome, RunError> {
    let mut job = segment::bind_job(plan.segment.view(), &plan.job)?;
    job.set_threads(Threads::new(threads).map_err(RunError::Threads)?);
    let mut writer = LogWriter::open(log, SyncPolicy::default()).map_err(RunError::OpenLog)?;
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
                    return Ok(Outcome::Interrupted);
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
    Ok(Outcome::Complete)
}

/// The in-process run stops when the results log cannot be written (a
/// full disk, an I/O error), naming the OS error as the pool does.
fn log_failed(e: store::LogError) -> Outcome {
    let reason = format!(
        "the results log could not be written: {:#}; the log is valid: free space and rerun the same command to resume",
        anyhow::Error::new(e)
    );
    tracing::error!(%reason, "aborting the run");
    Outcome::Aborted(reason)
}

/// The pool's observer: forwards its events to the progress display and
/// names samples for the failed records the supervisor writes.
struct PoolProgress<'a> {
    /// The bar or status lines.
    progress: &'a mut Progress,
    /// The sample ids, from the segment.
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
/// plan's read-only segment.
fn in_pool(
    plan: &RunPlan,
    pending: Vec<u64>,
    threads: NonZeroUsize,
    log: &Path,
    progress: &mut Progress,
    signals: &mut SignalHandler,
) -> Result<Executed, RunError> {
    let segment = &plan.segment;
    let (_, ids) = counts_and_ids(segment.view())?;
    let mut cfg = pool_config(&plan.pool)?;
    cfg.worker_env
        .push((THREADS_ENV.into(), threads.get().to_string().into()));
    let mut observer = PoolProgress { progress, ids };
    let outcome = run_pool_with_signals(&cfg, segment, pending, log, &mut observer, signals)
        .map_err(RunError::Pool)?;
    Ok(Executed {
        outcome: outcome.status,
        workers: outcome.peak_workers,
        restarts: outcome.worker_restarts,
    })
}

/// The pool's configuration for `settings`.
fn pool_config(settings: &PoolSettings) -> Result<PoolConfig, RunError> {
    // Workers exec the running image, not the file at its path: a binary
    // upgraded on disk mid-run must not compute half of a run's records.
    let exe = std::env::current_exe().map_err(RunError::LocateExe)?;
    let running = Path::new(RUNNING_EXECUTABLE);
    let mut cfg = if running.exists() {
        let mut cfg = PoolConfig::new(running.to_path_buf(), settings.worker_args.clone());
        cfg.worker_arg0 = Some(exe.into_os_string());
        cfg
    } else {
        PoolConfig::new(exe, settings.worker_args.clone())
    };
    cfg.policy = settings.policy.clone();
    #[cfg(feature = "fault-injection")]
    if let Some(interval) = crate::supervisor::fault::heartbeat_override() {
        cfg.heartbeat_interval = interval;
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(k: usize) -> NonZeroUsize {
        NonZeroUsize::new(k).unwrap()
    }

    #[test]
    fn fixed_threads_are_taken_as_given() {
        let t = ThreadsPerWorker::Fixed(n(3));
        assert_eq!(t.resolve(64, 4, 64), n(3));
        assert_eq!(ThreadsPerWorker::default().resolve(0, 1, 64), n(1));
    }

    #[test]
    fn auto_shares_the_cores_among_the_busy_workers() {
        let auto = ThreadsPerWorker::Auto;
        // The case: 4 samples, 64 workers on 64 cores.
        assert_eq!(auto.resolve(64, 4, 64), n(16));
        // As many samples as workers: one thread each, as without it.
        assert_eq!(auto.resolve(64, 1000, 64), n(1));
        assert_eq!(auto.resolve(2, 1000, 2), n(1));
        // Fewer workers than cores asked for: the rest of the cores.
        assert_eq!(auto.resolve(2, 1000, 8), n(4));
        // In process (--workers 0): one busy worker.
        assert_eq!(auto.resolve(0, 3, 8), n(8));
        // More workers than cores: still one thread.
        assert_eq!(auto.resolve(16, 100, 2), n(1));
        assert_eq!(auto.resolve(1, 1, 100_000), n(MAX_THREADS));
    }
}
