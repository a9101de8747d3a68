//! The worker side of the pool: receive chunks, compute samples, append
//! their records to the results log, report back.
//!
//! [`serve_worker`] runs in a worker process started by
//! [`run_pool`](super::pool::run_pool). For each sample of a chunk it marks
//! the sample on its [`scoreboard`](super::scoreboard) (so the supervisor
//! knows exactly which sample a crash or hang happened in), computes the
//! record with the caller's [`SampleCompute`], and buffers it. The buffer is
//! appended to the log (one flock for the lot) and acknowledged with one
//! [`FromWorker::Batch`] every [`FLUSH_INTERVAL`] of work and at the end of
//! each chunk, so microsecond samples are not dominated by syscalls.
//!
//! A helper thread sends [`FromWorker::Heartbeat`] every heartbeat interval
//! and forwards supervisor messages; a `Shutdown` message, a SIGTERM, or a
//! closed channel makes the worker finish its current sample, flush, and
//! return. SIGINT and SIGHUP are ignored: the supervisor coordinates
//! shutdown (the worker is in its own process group, so a terminal's Ctrl-C
//! or hang-up does not reach it anyway).
//!
//! # Layout
//!
//! [`SampleCompute`] (what the caller provides), [`serve_worker`],
//! [`WorkerError`], and the environment variables the pool sets.

use crate::store::PathIoError;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::ipc::{FromWorker, LinkError, SampleOutcome, ToWorker, WorkerEndpoint};
use super::scoreboard::{SCOREBOARD_FD_ENV, ScoreboardError, ScoreboardWriter};
use crate::store::{LogError, LogWriter, SampleRecord, SyncPolicy};

/// Environment variable carrying the results log path to a worker.
pub const RESULTS_LOG_ENV: &str = "QTOMO_RESULTS_LOG";

/// Exit code of a worker that could not write the results log (sysexits
/// EX_IOERR). A restart cannot help with a full disk, so the supervisor
/// stops the run on it instead of replacing the worker.
pub const EXIT_LOG_FAILED: i32 = 74;

/// Environment variable carrying the heartbeat interval (milliseconds).
pub const HEARTBEAT_ENV: &str = "QTOMO_HEARTBEAT_MS";

/// How much work a worker buffers before appending and acknowledging.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(20);

/// How often a worker's helper thread syncs the results log to disk.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// Records buffered at most before a flush.
const MAX_BUFFERED: usize = 4096;

/// Computes one sample; implemented by the job (numerics) on top of the
/// shared segment.
pub trait SampleCompute {
    /// Reconstructs sample `index`; `attempt` is the attempt number, 1 on
    /// the first try. The record it returns is complete (its `attempts` and
    /// `worker_pid` included) and is appended as it is. A bad sample is a
    /// record with a failed status, not an error.
    fn compute(&mut self, index: u64, attempt: u32) -> SampleRecord;
}

/// Errors that end a worker.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The IPC link to the supervisor could not be set up or used.
    #[error("ipc link to the supervisor failed")]
    Link(#[from] LinkError),
    /// The scoreboard could not be opened.
    #[error("worker scoreboard unusable")]
    Scoreboard(#[from] ScoreboardError),
    /// The results log could not be opened or appended to.
    #[error("results log {path:?} failed")]
    Log {
        /// The log.
        path: PathBuf,
        /// The error.
        #[source]
        source: LogError,
    },
    /// A signal handler could not be installed.
    #[error("failed to install the worker's signal handling")]
    Signals(#[source] std::io::Error),
    /// A helper thread could not be started.
    #[error("failed to start the worker's helper thread")]
    Thread(#[source] std::io::Error),
}

/// The heartbeat interval the pool asked for (default 1 s).
pub fn heartbeat_from_env() -> Duration {
    std::env::var(HEARTBEAT_ENV)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(1))
}

enum Inbox {
    Msg(ToWorker),
    Gone,
}

/// Serves the supervisor until it says Shutdown, sends SIGTERM, or goes
/// away. See the module docs.
pub fn serve_worker(job: &mut dyn SampleCompute, log_path: &Path) -> Result<(), WorkerError> {
    // Ctrl-C and a hang-up are the supervisor's to act on: it
    // drains the workers itself.
    for sig in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGHUP,
    ] {
        // SAFETY: SIG_IGN installs no handler code.
        unsafe { nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigIgn) }
            .map_err(|e| WorkerError::Signals(e.into()))?;
    }
    let term = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&term))
        .map_err(WorkerError::Signals)?;

    let endpoint = WorkerEndpoint::connect_from_env()?;
    let scoreboard = ScoreboardWriter::open_inherited(SCOREBOARD_FD_ENV)?;
    let log_err = |source| WorkerError::Log {
        path: log_path.to_path_buf(),
        source,
    };
    // Appends never wait for the disk: a helper thread syncs the log once
    // per SYNC_INTERVAL (a power cut loses at most about that much, as with
    // the store's default policy), and dropping the writer syncs at exit.
    let mut log = LogWriter::open(log_path, SyncPolicy::OnFlush).map_err(log_err)?;
    let sync_file = crate::store::open_read_nofollow(log_path).map_err(|source| {
        log_err(LogError::Io(PathIoError {
            action: "open for syncing",
            path: log_path.to_path_buf(),
            source,
        }))
    })?;
    std::thread::Builder::new()
        .name("qtomo-worker-sync".into())
        .spawn(move || {
            loop {
                std::thread::sleep(SYNC_INTERVAL);
                if let Err(e) = sync_file.sync_data() {
                    crate::say_error!("qtomo worker: syncing the results log failed: {e}");
                }
            }
        })
        .map_err(WorkerError::Thread)?;
    #[cfg(feature = "fault-injection")]
    let faults = super::fault::Faults::from_env();

    let WorkerEndpoint { rx, tx } = endpoint;
    let pid = std::process::id();
    let (inbox_tx, inbox) = mpsc::channel::<Inbox>();
    std::thread::Builder::new()
        .name("qtomo-worker-rx".into())
        .spawn(move || {
            loop {
                match rx.recv() {
                    Ok(m) => {
                        if inbox_tx.send(Inbox::Msg(m)).is_err() {
                            return;
                        }
                    }
                    Err(_) => {
                        let _ = inbox_tx.send(Inbox::Gone);
                        return;
                    }
                }
            }
        })
        .map_err(WorkerError::Thread)?;
    let beat_tx = tx.clone();
    let interval = heartbeat_from_env();
    std::thread::Builder::new()
        .name("qtomo-worker-heartbeat".into())
        .spawn(move || {
            while beat_tx.send(FromWorker::Heartbeat { pid }).is_ok() {
                std::thread::sleep(interval);
            }
        })
        .map_err(WorkerError::Thread)?;

    let send = |m: FromWorker| tx.send(m).map_err(|source| LinkError::Send { source });
    send(FromWorker::Ready { pid })?;

    let mut records: Vec<SampleRecord> = Vec::new();
    let mut outcomes: Vec<SampleOutcome> = Vec::new();
    let mut stop = false;
    let mut backlog: Vec<ToWorker> = Vec::new();
    while !stop {
        let msg = match backlog.pop() {
            Some(m) => m,
            None => loop {
                if term.load(Ordering::Relaxed) {
                    return Ok(());
                }
                match inbox.recv_timeout(Duration::from_millis(200)) {
                    Ok(Inbox::Msg(m)) => break m,
                    Ok(Inbox::Gone) | Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                }
            },
        };
        let (indices, attempts) = match msg {
            ToWorker::Shutdown => return Ok(()),
            ToWorker::Chunk { indices, attempt } => (indices, attempt),
        };
        let mut since_flush = Instant::now();
        for (k, &index) in indices.iter().enumerate() {
            // The protocol counts earlier attempts; the record, attempts made.
            let earlier = attempts.get(k).copied().unwrap_or(0);
            scoreboard.begin(index);
            #[cfg(feature = "fault-injection")]
            faults.before_sample(index, earlier);
            let start = Instant::now();
            let record = job.compute(index, earlier + 1);
            scoreboard.end();
            outcomes.push(SampleOutcome {
                index,
                elapsed_us: start.elapsed().as_micros() as u64,
                failed: record.status.error().map(str::to_owned),
            });
            records.push(record);
            // Between samples: anything from the supervisor or a signal?
            while let Ok(m) = inbox.try_recv() {
                match m {
                    Inbox::Msg(ToWorker::Shutdown) | Inbox::Gone => stop = true,
                    Inbox::Msg(chunk) => backlog.insert(0, chunk),
                }
            }
            stop |= term.load(Ordering::Relaxed);
            let last = k + 1 == indices.len();
            if last
                || stop
                || records.len() >= MAX_BUFFERED
                || since_flush.elapsed() >= FLUSH_INTERVAL
            {
                log.append_batch(&records).map_err(log_err)?;
                scoreboard.add_durable(records.len() as u64);
                records.clear();
                send(FromWorker::Batch {
                    items: std::mem::take(&mut outcomes),
                })?;
                since_flush = Instant::now();
            }
            if stop {
                break;
            }
        }
    }
    Ok(())
}
