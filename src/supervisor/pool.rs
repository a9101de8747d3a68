//! The supervisor's I/O loop: runs a batch over a pool of worker processes.
//!
//! [`run_pool`] owns the OS objects (worker processes, their IPC links and
//! scoreboards, the signal handler, the systemd notifier, the log writer
//! for failed records) and turns what happens into
//! [`SupervisorEvent`]s for the synchronous [`PoolState`]; it then carries
//! out the [`Effect`]s it gets back. Each turn of the loop waits at most
//! [`TICK`] for IPC messages, then collects signals, reaps exited workers,
//! reads scoreboards (and memory, when `--max-worker-rss` is set), and
//! ticks the state machine. A turn that comes much later than the previous
//! one (the whole process tree was stopped, frozen or suspended) is
//! reported first as [`SupervisorEvent::Paused`], so the pause is never
//! taken for worker silence.
//!
//! Workers are spawned from the calling thread, which must be the
//! process's main thread (PR_SET_PDEATHSIG is tied to the spawning thread).
//! Spawning never blocks the loop: the handshake of a new worker is polled
//! once per turn, and the state machine's `Spawning` phase carries its
//! timeout.
//!
//! The loop waits on ipc-channel's receiver set with a timeout of [`TICK`]
//! rather than on every source at once: the receiver set cannot wait on a
//! file descriptor (such as the signal self-pipe) or on a child's exit, so
//! signals, exits and scoreboards are looked at between waits, at most
//! [`TICK`] late.
//!
//! # Layout
//!
//! [`PoolConfig`], [`PoolObserver`], [`run_pool`] (or
//! [`run_pool_with_signals`]) → [`PoolOutcome`] or [`PoolError`].

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use ipc_channel::TrySelectError;
use ipc_channel::ipc::{IpcReceiverSet, IpcSelectionResult, IpcSender};

use super::ipc::{FromWorker, IPC_SERVER_ENV, PendingWorker, ToWorker};
use super::notify::{self, Notifier};
use super::process::{WorkerChild, WorkerCommand, classify};
use super::procmem;
use super::scoreboard::{SCOREBOARD_FD_ENV, Scoreboard};
use super::shm::{SEGMENT_FD_ENV, Segment};
use super::signals::{SignalHandler, SignalHandlerKind};
use super::state::{
    Effect, Outcome, PauseDetector, PoolEvent, PoolPolicy, PoolState, StateParams, SupervisorEvent,
    WorkerId,
};
use super::worker_loop::{HEARTBEAT_ENV, RESULTS_LOG_ENV};
use crate::store::{LogError, LogWriter, SampleRecord, SampleStatus, SyncPolicy};

/// Longest wait for IPC messages in one turn of the loop.
pub const TICK: Duration = Duration::from_millis(20);

/// How a pool run is configured.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// The operator's choices: workers, timeouts, retries, memory and
    /// restart limits.
    pub policy: PoolPolicy,
    /// Interval of worker heartbeats; five missed ones mean a hang.
    pub heartbeat_interval: Duration,
    /// The worker program (normally `supervisor::process::RUNNING_EXECUTABLE`).
    pub worker_program: PathBuf,
    /// The worker's `argv[0]`, when it should differ from the program path
    /// (so `ps` shows `qtomo`, not `/proc/self/exe`).
    pub worker_arg0: Option<OsString>,
    /// Its arguments (normally `["__worker"]`).
    pub worker_args: Vec<OsString>,
    /// Extra environment for workers.
    pub worker_env: Vec<(OsString, OsString)>,
    /// Samples in each worker's first chunk, before costs are measured.
    pub initial_chunk: usize,
    /// Work per chunk to aim for.
    pub chunk_target: Duration,
    /// A worker that has not said Ready within this long is killed. The
    /// IPC handshake is polled once per turn of the loop, which keeps
    /// turning meanwhile.
    pub spawn_timeout: Duration,
    /// Which signal handler to install (`Noop` in tests that signal nothing).
    pub signals: SignalHandlerKind,
}

impl PoolConfig {
    /// Defaults for `program args...`: the default [`PoolPolicy`], 1 s
    /// heartbeats, 10 s to start a worker.
    pub fn new(worker_program: PathBuf, worker_args: Vec<OsString>) -> Self {
        Self {
            policy: PoolPolicy::default(),
            heartbeat_interval: Duration::from_secs(1),
            worker_program,
            worker_arg0: None,
            worker_args,
            worker_env: Vec::new(),
            initial_chunk: 1,
            chunk_target: Duration::from_millis(100),
            spawn_timeout: Duration::from_secs(10),
            signals: SignalHandlerKind::Standard,
        }
    }

    /// A worker silent for this long is hung: five missed heartbeats and a
    /// second.
    pub fn heartbeat_timeout(&self) -> Duration {
        self.heartbeat_interval
            .saturating_mul(5)
            .saturating_add(Duration::from_secs(1))
    }

    /// A turn of the loop that comes later than this after the previous one
    /// means the supervisor itself was not running (the process tree was
    /// stopped or frozen): a quarter of the heartbeat limit, at most 1 s. A
    /// normal turn takes about `TICK`.
    pub fn pause_threshold(&self) -> Duration {
        (self.heartbeat_timeout() / 4).min(Duration::from_secs(1))
    }

    fn state_params(&self) -> StateParams {
        StateParams {
            policy: PoolPolicy {
                workers: self.policy.workers.max(1),
                ..self.policy.clone()
            },
            heartbeat_timeout: self.heartbeat_timeout(),
            spawn_timeout: self.spawn_timeout,
            initial_chunk: self.initial_chunk,
            chunk_target: self.chunk_target,
            max_chunk: 1 << 16,
            restart_delay: Duration::from_millis(50),
        }
    }
}

/// Progress callbacks, e.g. for a progress bar or systemd STATUS=.
pub trait PoolObserver {
    /// The id of a sample, for the failed records the supervisor writes.
    fn sample_id(&mut self, index: u64) -> String {
        index.to_string()
    }

    /// Something happened.
    fn event(&mut self, event: &PoolEvent) {
        let _ = event;
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct NoopObserver;

impl PoolObserver for NoopObserver {}

/// How a pool run ended and what it did. The results log is the source of
/// truth; these counts cover this run only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolOutcome {
    /// Complete, interrupted or aborted.
    pub status: Outcome,
    /// Samples with an ok record written by this run.
    pub succeeded: u64,
    /// Samples with a failed record written by this run, with reasons.
    pub failed: Vec<(u64, String)>,
    /// Workers replaced.
    pub worker_restarts: u32,
    /// Most workers alive at once.
    pub peak_workers: usize,
}

/// Fatal errors of the pool itself (not of samples or workers).
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The signal handler could not be installed or read.
    #[error("signal handling failed")]
    Signals(#[from] super::signals::SignalError),
    /// The IPC receiver set failed.
    #[error("ipc failed")]
    Ipc(#[source] std::io::Error),
    /// The supervisor's own log writer failed.
    #[error("writing to the results log {path:?} failed")]
    Log {
        /// The log.
        path: PathBuf,
        /// The error.
        #[source]
        source: LogError,
    },
    /// Waiting for a worker failed.
    #[error("waiting for a worker failed")]
    Process(#[from] super::process::ProcessError),
}

/// A worker process, from its spawn on.
struct Live {
    child: WorkerChild,
    /// Where work is sent; `None` until the handshake is done, and after
    /// a shutdown was sent at teardown.
    tx: Option<IpcSender<ToWorker>>,
    scoreboard: Scoreboard,
    /// The handshake still awaited (polled once per turn of the loop).
    handshake: Option<PendingWorker>,
}

struct Runtime<'a> {
    cfg: &'a PoolConfig,
    segment: &'a Segment,
    log_path: &'a Path,
    live: HashMap<WorkerId, Live>,
    receivers: IpcReceiverSet,
    by_receiver: HashMap<u64, WorkerId>,
    notifier: Option<Notifier>,
    failed_log: Option<LogWriter>,
}

/// Runs `pending` sample indices over a pool of worker processes sharing
/// `segment`; workers append to `log_path`. Returns when every sample has
/// a record, on a shutdown signal (after draining), or when the restart
/// intensity is exceeded. See the module docs.
pub fn run_pool(
    cfg: &PoolConfig,
    segment: &Segment,
    pending: Vec<u64>,
    log_path: &Path,
    observer: &mut dyn PoolObserver,
) -> Result<PoolOutcome, PoolError> {
    let mut signals = SignalHandler::new(cfg.signals)?;
    run_pool_with_signals(cfg, segment, pending, log_path, observer, &mut signals)
}

/// [`run_pool`] with a signal handler the caller installed earlier (and
/// `cfg.signals` unused): a signal that arrived before the pool started,
/// e.g. while the input was read, is acted on at once.
pub fn run_pool_with_signals(
    cfg: &PoolConfig,
    segment: &Segment,
    pending: Vec<u64>,
    log_path: &Path,
    observer: &mut dyn PoolObserver,
    signals: &mut SignalHandler,
) -> Result<PoolOutcome, PoolError> {
    let notifier = match Notifier::from_env() {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "NOTIFY_SOCKET is set but unusable; not notifying systemd");
            None
        }
    };
    let watchdog = notify::watchdog_interval();
    let mut rt = Runtime {
        cfg,
        segment,
        log_path,
        live: HashMap::new(),
        receivers: IpcReceiverSet::new().map_err(PoolError::Ipc)?,
        by_receiver: HashMap::new(),
        notifier,
        failed_log: None,
    };
    let mut state = PoolState::new(cfg.state_params(), pending);
    let now = Instant::now();
    let first = state.start(now).into_effects();
    let mut finish = rt.apply(&mut state, first, observer)?;
    let mut last_scan = now;
    let mut last_mem = now;
    let mut last_status = now;
    let mut last_watchdog = now;
    let mut pauses = PauseDetector::new(now, cfg.pause_threshold());
    while finish.is_none() {
        let mut events = Vec::new();
        match rt.receivers.try_select_timeout(TICK) {
            Ok(results) => {
                for r in results {
                    match r {
                        IpcSelectionResult::MessageReceived(id, msg) => {
                            let Some(&worker) = rt.by_receiver.get(&id) else {
                                continue;
                            };
                            match msg.to::<FromWorker>() {
                                Ok(m) => events.push(message_event(worker, m)),
                                Err(e) => {
                                    tracing::warn!(%worker, error = %e, "undecodable worker message")
                                }
                            }
                        }
                        IpcSelectionResult::ChannelClosed(id) => {
                            rt.by_receiver.remove(&id);
                        }
                    }
                }
            }
            Err(TrySelectError::Empty) => {}
            Err(TrySelectError::IoError(e)) => return Err(PoolError::Ipc(e)),
        }
        if rt.by_receiver.is_empty() {
            // No receivers to wait on: wait on signals instead.
            if let Some(ev) = signals.recv_timeout(TICK)? {
                events.push(SupervisorEvent::Signal(ev));
            }
        }
        while let Some(ev) = signals.try_recv() {
            events.push(SupervisorEvent::Signal(ev));
        }
        rt.poll_handshakes(&mut events)?;
        let now = Instant::now();
        // Before anything heard in this turn: if the loop itself was away
        // (a stopped or frozen process tree), nobody was silent meanwhile.
        if let Some(gap) = pauses.observe(now) {
            events.insert(0, SupervisorEvent::Paused { gap });
        }
        // Reap.
        let mut exited = Vec::new();
        for (&id, live) in rt.live.iter_mut() {
            if let Some(st) = live.child.try_reap()? {
                exited.push((id, classify(st), live.scoreboard.read()));
            }
        }
        for (worker, outcome, progress) in exited {
            let unshaken = rt
                .live
                .remove(&worker)
                .filter(|live| live.handshake.is_some());
            events.push(if let Some(live) = unshaken {
                // A broken install or environment: say so, not just "exited".
                let pid = live.child.pid();
                SupervisorEvent::SpawnFailed {
                    worker,
                    error: format!(
                        "the worker (pid {pid}) {} before its handshake",
                        outcome.describe()
                    ),
                }
            } else {
                SupervisorEvent::Exited {
                    worker,
                    outcome,
                    progress,
                }
            });
        }
        if now.duration_since(last_scan) >= Duration::from_millis(100) {
            last_scan = now;
            for (&worker, live) in &rt.live {
                events.push(SupervisorEvent::Progress {
                    worker,
                    progress: live.scoreboard.read(),
                });
            }
        }
        if cfg.policy.max_worker_rss.is_some()
            && now.duration_since(last_mem) >= Duration::from_millis(100)
        {
            last_mem = now;
            for (&worker, live) in &rt.live {
                if let Ok(m) = procmem::read_memory(live.child.pid().as_raw() as u32) {
                    events.push(SupervisorEvent::Memory {
                        worker,
                        bytes: m.charged(),
                    });
                }
            }
        }
        events.push(SupervisorEvent::Tick);
        for ev in events {
            let fx = state.handle_event(ev, now).into_effects();
            if let Some(f) = rt.apply(&mut state, fx, observer)? {
                finish = Some(f);
                break;
            }
        }
        if let Some(n) = &rt.notifier {
            if now.duration_since(last_status) >= Duration::from_secs(1) {
                last_status = now;
                let _ = n.status(&state.status_line());
            }
            if let Some(w) = watchdog
                && now.duration_since(last_watchdog) >= w
            {
                last_watchdog = now;
                let _ = n.watchdog();
            }
        }
    }
    let status = finish.unwrap_or(Outcome::Interrupted);
    rt.teardown(&status);
    if let Some(n) = &rt.notifier {
        let _ = n.status(&format!("{}; {:?}", state.status_line(), status));
    }
    tracing::info!(status = ?status, line = %state.status_line(), "pool finished");
    Ok(PoolOutcome {
        status,
        succeeded: state.succeeded,
        failed: std::mem::take(&mut state.failed),
        worker_restarts: state.restarts,
        peak_workers: state.peak_workers,
    })
}

fn message_event(worker: WorkerId, m: FromWorker) -> SupervisorEvent {
    match m {
        FromWorker::Ready { .. } => SupervisorEvent::Ready { worker },
        FromWorker::Heartbeat { .. } => SupervisorEvent::Heartbeat { worker },
        FromWorker::Batch { items } => SupervisorEvent::Finished { worker, items },
    }
}

impl Runtime<'_> {
    /// Carries out effects; returns the final status on `Finish`.
    fn apply(
        &mut self,
        state: &mut PoolState,
        effects: Vec<Effect>,
        observer: &mut dyn PoolObserver,
    ) -> Result<Option<Outcome>, PoolError> {
        let mut queue: std::collections::VecDeque<Effect> = effects.into();
        while let Some(e) = queue.pop_front() {
            match e {
                Effect::Spawn { worker } => {
                    let ev = match self.spawn(worker) {
                        Ok(pid) => SupervisorEvent::Spawned { worker, pid },
                        Err(error) => SupervisorEvent::SpawnFailed { worker, error },
                    };
                    queue.extend(state.handle_event(ev, Instant::now()).into_effects());
                }
                Effect::Dispatch {
                    worker,
                    indices,
                    attempts,
                } => {
                    if let Some(tx) = self.live.get(&worker).and_then(|l| l.tx.as_ref()) {
                        // A failed send means the worker is dying; its exit
                        // will be reaped and its samples requeued.
                        if let Err(e) = tx.send(ToWorker::Chunk {
                            indices,
                            attempt: attempts,
                        }) {
                            tracing::warn!(%worker, error = %e, "could not send a chunk");
                        }
                    }
                }
                Effect::Stop { worker } => {
                    if let Some(tx) = self.live.get(&worker).and_then(|l| l.tx.as_ref()) {
                        let _ = tx.send(ToWorker::Shutdown);
                    }
                }
                Effect::Kill { worker } => {
                    if let Some(l) = self.live.get(&worker)
                        && let Err(e) = l.child.kill_group(nix::sys::signal::Signal::SIGKILL)
                    {
                        tracing::error!(%worker, error = %e, "could not kill a worker");
                    }
                }
                Effect::RecordFailed {
                    index,
                    attempts,
                    reason,
                } => {
                    let record = SampleRecord {
                        index,
                        id: observer.sample_id(index),
                        status: SampleStatus::Failed { reason },
                        attempts,
                        worker_pid: std::process::id(),
                        elapsed_us: 0,
                        methods: Vec::new(),
                    };
                    let path = self.log_path;
                    let err = |source| PoolError::Log {
                        path: path.to_path_buf(),
                        source,
                    };
                    if self.failed_log.is_none() {
                        self.failed_log =
                            Some(LogWriter::open(path, SyncPolicy::EveryRecord).map_err(err)?);
                    }
                    if let Some(w) = self.failed_log.as_mut() {
                        w.append(&record).map_err(err)?;
                    }
                }
                Effect::Observe(ev) => {
                    if let Some(n) = &self.notifier {
                        match &ev {
                            PoolEvent::WorkersReady { .. } => {
                                let _ = n.ready();
                            }
                            PoolEvent::Draining => {
                                let _ = n.stopping();
                                let _ = n.extend_timeout(
                                    self.cfg.policy.grace + Duration::from_secs(10),
                                );
                            }
                            _ => {}
                        }
                    }
                    if let PoolEvent::Status(line) = &ev {
                        tracing::info!(status = %line, "status");
                    }
                    observer.event(&ev);
                }
                Effect::Finish(status) => return Ok(Some(status)),
            }
        }
        Ok(None)
    }

    fn spawn(&mut self, worker: WorkerId) -> Result<u32, String> {
        let pending = PendingWorker::new().map_err(|e| e.to_string())?;
        let scoreboard = Scoreboard::new().map_err(|e| e.to_string())?;
        let seg_fd = self.segment.fd_for_child().map_err(|e| e.to_string())?;
        let sb_fd = scoreboard.fd_for_child().map_err(|e| e.to_string())?;
        let mut cmd = WorkerCommand::new(&self.cfg.worker_program);
        if let Some(name) = &self.cfg.worker_arg0 {
            cmd = cmd.arg0(name);
        }
        let mut cmd = cmd
            .args(&self.cfg.worker_args)
            .env(IPC_SERVER_ENV, pending.server_name())
            .env(RESULTS_LOG_ENV, self.log_path)
            .env(
                HEARTBEAT_ENV,
                self.cfg.heartbeat_interval.as_millis().to_string(),
            )
            .stdin(Stdio::null())
            .inherit_fd(seg_fd, SEGMENT_FD_ENV)
            .inherit_fd(sb_fd, SCOREBOARD_FD_ENV);
        for (k, v) in &self.cfg.worker_env {
            cmd = cmd.env(k, v);
        }
        let child = cmd.spawn().map_err(|e| e.to_string())?;
        let pid = child.pid().as_raw() as u32;
        // The handshake completes in a later turn (see `poll_handshakes`);
        // a worker that never completes it is killed by the state
        // machine's spawn timeout, one that dies first is reaped.
        self.live.insert(
            worker,
            Live {
                child,
                tx: None,
                scoreboard,
                handshake: Some(pending),
            },
        );
        Ok(pid)
    }

    /// Completes the handshakes that have arrived, without waiting. A
    /// handshake that fails (a hello from another pid, another protocol)
    /// is reported as a failed spawn and its process killed.
    fn poll_handshakes(&mut self, events: &mut Vec<SupervisorEvent>) -> Result<(), PoolError> {
        for (&worker, live) in self.live.iter_mut() {
            let Some(pending) = live.handshake.as_mut() else {
                continue;
            };
            let pid = live.child.pid().as_raw() as u32;
            match pending.try_accept(pid) {
                Ok(None) => {}
                Ok(Some(link)) => {
                    live.handshake = None;
                    let id = self.receivers.add(link.rx).map_err(PoolError::Ipc)?;
                    self.by_receiver.insert(id, worker);
                    live.tx = Some(link.tx);
                    tracing::info!(%worker, pid, "worker started");
                }
                Err(e) => {
                    live.handshake = None;
                    if let Err(kill) = live.child.kill_group(nix::sys::signal::Signal::SIGKILL) {
                        tracing::error!(%worker, error = %kill, "could not kill a worker");
                    }
                    events.push(SupervisorEvent::SpawnFailed {
                        worker,
                        error: e.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Ends every remaining worker: politely after a complete run, at once
    /// otherwise.
    fn teardown(&mut self, status: &Outcome) {
        if *status == Outcome::Complete {
            for live in self.live.values_mut() {
                if let Some(tx) = live.tx.take() {
                    let _ = tx.send(ToWorker::Shutdown);
                }
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            for live in self.live.values_mut() {
                let left = deadline.saturating_duration_since(Instant::now());
                let _ = live.child.wait_timeout(left);
            }
        }
        for (worker, mut live) in self.live.drain() {
            if let Err(e) = super::process::terminate_with_grace(&mut live.child, Duration::ZERO) {
                tracing::error!(%worker, error = %e, "could not end a worker");
            }
        }
    }
}
