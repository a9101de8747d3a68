//! The supervisor's decisions, as a synchronous state machine.
//!
//! The I/O loop in [`pool`](super::pool) turns everything that happens
//! (IPC messages, reaped children, signals, scoreboard readings, memory
//! readings, the clock) into [`SupervisorEvent`]s and feeds them to
//! [`PoolState::handle_event`], which returns an [`Action`]: a list of
//! [`Effect`]s for the loop to carry out (spawn, dispatch, stop, kill,
//! record a failed sample, tell the observer, finish). Nothing here touches
//! the OS, so the tests below drive it with made-up events and instants.
//!
//! # Worker lifecycle
//!
//! ```text
//! Spawning ──Ready──► Idle ──dispatch──► Busy ──batch empties chunk──► Idle
//!    │                 │                  │
//!    └────────┬────────┴──────────────────┴──► Stopping (Shutdown sent)
//!             └──────────────────────────────► Killing (SIGKILL sent)
//!                              every phase ──reaped──► removed
//! ```
//!
//! A worker holds the samples of its current chunk until they are
//! acknowledged by a [`FromWorker::Batch`](super::ipc::FromWorker::Batch) or
//! seen durable on its scoreboard. When it dies, the sample it was computing
//! (its scoreboard says which) is charged one attempt; the rest go back to
//! the front of the queue uncharged. A sample charged more than `retries`
//! times is recorded as failed with the reason.
//!
//! # Layout
//!
//! * [`SupervisorEvent`] in, [`Action`]/[`Effect`] out.
//! * [`PoolState`]: the machine; [`StateParams`] its knobs.
//! * [`ChunkSizer`]: adaptive chunk size (pure).
//! * [`PauseDetector`]: notices that the loop itself was not scheduled.
//! * [`PoolEvent`]: what the observer is told; [`PoolStatus`]: how a run ends.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::backoff::Backoff;
use super::intensity::RestartIntensity;
use super::ipc::SampleOutcome;
use super::process::ExitOutcome;
use super::scoreboard::Progress;
use super::signals::{ShutdownCounter, ShutdownRequest, SignalEvent};

/// A worker slot's identity, unique within one run (pids can be reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(pub u32);

impl std::fmt::Display for WorkerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "w{}", self.0)
    }
}

/// Something that happened, as seen by the I/O loop.
#[derive(Clone, Debug, PartialEq)]
pub enum SupervisorEvent {
    /// A worker process was started with this pid.
    Spawned {
        /// The slot.
        worker: WorkerId,
        /// Its pid.
        pid: u32,
    },
    /// Starting a worker (spawn or handshake) failed.
    SpawnFailed {
        /// The slot.
        worker: WorkerId,
        /// What went wrong.
        error: String,
    },
    /// The worker said Ready.
    Ready {
        /// The slot.
        worker: WorkerId,
    },
    /// The worker reported finished samples, in order.
    Finished {
        /// The slot.
        worker: WorkerId,
        /// The samples.
        items: Vec<SampleOutcome>,
    },
    /// The worker sent a heartbeat (any message counts as one too).
    Heartbeat {
        /// The slot.
        worker: WorkerId,
    },
    /// A reading of the worker's scoreboard.
    Progress {
        /// The slot.
        worker: WorkerId,
        /// The reading.
        progress: Progress,
    },
    /// A reading of the worker's charged memory, in bytes.
    Memory {
        /// The slot.
        worker: WorkerId,
        /// Bytes charged (anonymous RSS or PSS).
        bytes: u64,
    },
    /// The worker was reaped.
    Exited {
        /// The slot.
        worker: WorkerId,
        /// How it ended.
        outcome: ExitOutcome,
        /// Its scoreboard as it left it.
        progress: Progress,
    },
    /// A signal arrived.
    Signal(SignalEvent),
    /// The supervisor's own loop was not scheduled for `gap` (the process
    /// tree was stopped with SIGSTOP or Ctrl-Z, frozen by a cgroup freezer,
    /// the VM was paused, or the loop was blocked). Nobody could be heard
    /// in that time, so every deadline moves forward by `gap`: a pause is
    /// never counted as worker silence. A worker stopped on its own is
    /// still caught, since the loop keeps running then. See
    /// [`PauseDetector`].
    Paused {
        /// How long the loop was away.
        gap: Duration,
    },
    /// Time passed; check deadlines.
    Tick,
}

/// One thing for the I/O loop to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Start a worker process for this (new) slot.
    Spawn {
        /// The slot.
        worker: WorkerId,
    },
    /// Send a chunk.
    Dispatch {
        /// The slot.
        worker: WorkerId,
        /// Sample indices, in order.
        indices: Vec<u64>,
        /// Attempt number (0 = first) of each index.
        attempts: Vec<u32>,
    },
    /// Ask the worker to finish its current sample and exit.
    Stop {
        /// The slot.
        worker: WorkerId,
    },
    /// SIGKILL the worker's process group.
    Kill {
        /// The slot.
        worker: WorkerId,
    },
    /// Append a failed record for a sample whose retries are exhausted.
    RecordFailed {
        /// The sample.
        index: u64,
        /// Attempts made.
        attempts: u32,
        /// Why it failed.
        reason: String,
    },
    /// Tell the observer.
    Observe(PoolEvent),
    /// The run is over: tear everything down and return.
    Finish(PoolStatus),
}

/// The decision for one event. `#[must_use]`: dropping it loses effects.
#[must_use]
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Nothing to do.
    None,
    /// Carry these out, in order.
    Do(Vec<Effect>),
}

impl Action {
    fn from(effects: Vec<Effect>) -> Self {
        if effects.is_empty() {
            Action::None
        } else {
            Action::Do(effects)
        }
    }

    /// The effects, in order.
    pub fn into_effects(self) -> Vec<Effect> {
        match self {
            Action::None => Vec::new(),
            Action::Do(e) => e,
        }
    }
}

/// What the pool tells its observer.
#[derive(Clone, Debug, PartialEq)]
pub enum PoolEvent {
    /// The initial workers are all up.
    WorkersReady {
        /// How many.
        count: usize,
    },
    /// A sample's ok record is durable.
    SampleDone {
        /// The sample.
        index: u64,
    },
    /// A sample's failed record is durable.
    SampleFailed {
        /// The sample.
        index: u64,
        /// Why.
        reason: String,
    },
    /// A worker died or was killed and will be replaced.
    WorkerRestarted {
        /// Its pid, if it got that far.
        pid: Option<u32>,
        /// Why it went.
        reason: String,
        /// The sample it was working on, if known.
        sample: Option<u64>,
    },
    /// The first shutdown signal: draining.
    Draining,
    /// A status line (SIGUSR1).
    Status(String),
}

/// How a pool run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolStatus {
    /// Every sample has a record.
    Complete,
    /// Stopped by a signal; the rest is pending for a resume.
    Interrupted,
    /// Stopped by a fatal condition (restart intensity).
    Aborted {
        /// Why.
        reason: String,
    },
}

/// Knobs of the state machine (a subset of the pool's configuration).
#[derive(Clone, Debug)]
pub struct StateParams {
    /// Target number of workers.
    pub workers: usize,
    /// A sample computing longer than this is a hang.
    pub sample_timeout: Duration,
    /// Retries per sample after its first attempt.
    pub retries: u32,
    /// How long draining workers get before SIGKILL.
    pub grace: Duration,
    /// Kill a worker charged more than this many bytes.
    pub max_worker_rss: Option<u64>,
    /// Restart intensity: at most this many restarts ...
    pub restart_max: usize,
    /// ... within this window.
    pub restart_window: Duration,
    /// A worker silent for this long is hung.
    pub heartbeat_timeout: Duration,
    /// A worker not Ready within this long is hung.
    pub spawn_timeout: Duration,
    /// Samples in the first chunk of each worker.
    pub initial_chunk: usize,
    /// Work per chunk to aim for.
    pub chunk_target: Duration,
    /// Upper bound on samples per chunk.
    pub max_chunk: usize,
    /// First restart delay (doubles, capped at 2 s).
    pub restart_delay: Duration,
}

/// Notices that the supervisor's loop was not scheduled: two consecutive
/// turns further apart than `threshold` on the monotonic clock (which keeps
/// running while a process is stopped). The I/O loop asks it once per turn
/// and reports a gap as [`SupervisorEvent::Paused`]. Pure.
#[derive(Clone, Debug)]
pub struct PauseDetector {
    last: Instant,
    threshold: Duration,
}

impl PauseDetector {
    /// A detector whose loop last turned at `now`.
    pub fn new(now: Instant, threshold: Duration) -> Self {
        Self {
            last: now,
            threshold,
        }
    }

    /// The loop turns at `now`: the gap since the previous turn, if it is
    /// longer than the threshold.
    pub fn observe(&mut self, now: Instant) -> Option<Duration> {
        let gap = now.saturating_duration_since(self.last);
        self.last = self.last.max(now);
        (gap > self.threshold).then_some(gap)
    }
}

/// Adaptive chunk size: about `target` of work per chunk, at most
/// `sample_timeout / 4` of work, at most a fair share of what is left, at
/// least 1. Pure.
#[derive(Clone, Debug)]
pub struct ChunkSizer {
    ewma_us: Option<f64>,
    initial: usize,
    target: Duration,
    ceiling: Duration,
    max_chunk: usize,
}

impl ChunkSizer {
    /// A sizer with no measurements yet.
    pub fn new(
        initial: usize,
        target: Duration,
        sample_timeout: Duration,
        max_chunk: usize,
    ) -> Self {
        Self {
            ewma_us: None,
            initial: initial.max(1),
            target,
            ceiling: sample_timeout / 4,
            max_chunk: max_chunk.max(1),
        }
    }

    /// Folds in one sample's measured cost.
    pub fn observe(&mut self, elapsed_us: u64) {
        let x = elapsed_us.max(1) as f64;
        self.ewma_us = Some(match self.ewma_us {
            None => x,
            Some(m) => 0.9 * m + 0.1 * x,
        });
    }

    /// The current per-sample cost estimate.
    pub fn cost(&self) -> Option<Duration> {
        self.ewma_us.map(|us| Duration::from_secs_f64(us * 1e-6))
    }

    /// The next chunk size given `queued` samples and `workers` workers.
    pub fn size(&self, queued: usize, workers: usize) -> usize {
        let by_cost = match self.ewma_us {
            None => self.initial,
            Some(us) => {
                let budget = self.target.min(self.ceiling).as_secs_f64() * 1e6;
                (budget / us).floor() as usize
            }
        };
        let fair = queued.div_ceil(workers.max(1));
        by_cost.min(fair).min(self.max_chunk).max(1)
    }
}

/// Why the supervisor killed a worker.
#[derive(Clone, Debug, PartialEq)]
enum KillCause {
    Timeout { index: Option<u64> },
    NoHeartbeat,
    Memory { bytes: u64 },
    SpawnTimeout,
    Shutdown,
}

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Spawning { since: Instant },
    Idle,
    Busy,
    Stopping { deadline: Instant },
    Killing { cause: KillCause },
}

#[derive(Debug)]
struct Worker {
    pid: Option<u32>,
    phase: Phase,
    /// Unacknowledged samples of the current chunk, in order.
    items: VecDeque<(u64, u32)>,
    last_heard: Instant,
    progress: Progress,
    progress_at: Instant,
    acked: u64,
    retiring: bool,
}

/// The supervisor's state. See the module docs.
#[derive(Debug)]
pub struct PoolState {
    p: StateParams,
    target: usize,
    next_id: u32,
    workers: BTreeMap<WorkerId, Worker>,
    queue: VecDeque<(u64, u32)>,
    reasons: HashMap<u64, Vec<String>>,
    sizer: ChunkSizer,
    intensity: RestartIntensity,
    backoff: Backoff,
    spawn_at: Vec<Instant>,
    shutdowns: ShutdownCounter,
    drain_deadline: Option<Instant>,
    announced_ready: bool,
    finished: bool,
    paused_total: Duration,
    /// Samples with an ok record written in this run.
    pub succeeded: u64,
    /// Samples with a failed record written in this run, with the reason.
    pub failed: Vec<(u64, String)>,
    /// Workers replaced after dying or being killed.
    pub restarts: u32,
    /// Most workers alive at once.
    pub peak_workers: usize,
    total: u64,
}

impl PoolState {
    /// A state with `pending` samples queued and no workers.
    pub fn new(p: StateParams, pending: impl IntoIterator<Item = u64>) -> Self {
        let queue: VecDeque<(u64, u32)> = pending.into_iter().map(|i| (i, 0)).collect();
        Self {
            target: p.workers.max(1),
            next_id: 0,
            workers: BTreeMap::new(),
            total: queue.len() as u64,
            queue,
            reasons: HashMap::new(),
            sizer: ChunkSizer::new(
                p.initial_chunk,
                p.chunk_target,
                p.sample_timeout,
                p.max_chunk,
            ),
            intensity: RestartIntensity::new(p.restart_max, p.restart_window),
            backoff: Backoff::new(p.restart_delay, Duration::from_secs(2)),
            spawn_at: Vec::new(),
            shutdowns: ShutdownCounter::new(),
            drain_deadline: None,
            announced_ready: false,
            finished: false,
            paused_total: Duration::ZERO,
            succeeded: 0,
            failed: Vec::new(),
            restarts: 0,
            peak_workers: 0,
            p,
        }
    }

    /// Starts the run: spawns the initial workers (or finishes at once when
    /// nothing is pending).
    pub fn start(&mut self, now: Instant) -> Action {
        if self.queue.is_empty() {
            self.finished = true;
            return Action::Do(vec![Effect::Finish(PoolStatus::Complete)]);
        }
        let n = self.target.min(self.queue.len());
        self.target = n;
        let effects = (0..n).map(|_| self.new_worker(now)).collect();
        Action::Do(effects)
    }

    /// The pid of a worker slot, once spawned.
    pub fn pid(&self, worker: WorkerId) -> Option<u32> {
        self.workers.get(&worker).and_then(|w| w.pid)
    }

    /// Whether the state is draining after a first shutdown signal.
    pub fn draining(&self) -> bool {
        self.drain_deadline.is_some()
    }

    /// The number of worker slots alive.
    pub fn live_workers(&self) -> usize {
        self.workers.len()
    }

    /// One line on progress, for logs, SIGUSR1 and systemd STATUS=.
    pub fn status_line(&self) -> String {
        let done = self.succeeded + self.failed.len() as u64;
        let busy = self
            .workers
            .values()
            .filter(|w| w.phase == Phase::Busy)
            .count();
        let cost = self
            .sizer
            .cost()
            .map(|c| format!(", {:.3} ms/sample", c.as_secs_f64() * 1e3))
            .unwrap_or_default();
        format!(
            "{done}/{} samples ({} ok, {} failed), {} workers ({busy} busy), {} restarts{cost}{}",
            self.total,
            self.succeeded,
            self.failed.len(),
            self.workers.len(),
            self.restarts,
            if self.draining() { ", draining" } else { "" }
        )
    }

    fn new_worker(&mut self, now: Instant) -> Effect {
        let id = WorkerId(self.next_id);
        self.next_id += 1;
        self.workers.insert(
            id,
            Worker {
                pid: None,
                phase: Phase::Spawning { since: now },
                items: VecDeque::new(),
                last_heard: now,
                progress: Progress::default(),
                progress_at: now,
                acked: 0,
                retiring: false,
            },
        );
        self.peak_workers = self.peak_workers.max(self.workers.len());
        Effect::Spawn { worker: id }
    }

    /// Decides what to do about `ev`, which happened at `now`.
    pub fn handle_event(&mut self, ev: SupervisorEvent, now: Instant) -> Action {
        if self.finished {
            return Action::None;
        }
        let mut fx = Vec::new();
        match ev {
            SupervisorEvent::Spawned { worker, pid } => {
                if let Some(w) = self.workers.get_mut(&worker) {
                    w.pid = Some(pid);
                    w.last_heard = now;
                }
            }
            SupervisorEvent::SpawnFailed { worker, error } => {
                tracing::error!(%worker, %error, "failed to start a worker");
                let outcome = ExitOutcome::Code(-1);
                self.on_exit(
                    worker,
                    outcome,
                    Progress::default(),
                    Some(error),
                    now,
                    &mut fx,
                );
            }
            SupervisorEvent::Ready { worker } => {
                if let Some(w) = self.workers.get_mut(&worker) {
                    w.last_heard = now;
                    if matches!(w.phase, Phase::Spawning { .. }) {
                        w.phase = Phase::Idle;
                        w.progress_at = now;
                    }
                }
                if !self.announced_ready
                    && self
                        .workers
                        .values()
                        .filter(|w| !matches!(w.phase, Phase::Spawning { .. }))
                        .count()
                        >= self.target
                {
                    self.announced_ready = true;
                    fx.push(Effect::Observe(PoolEvent::WorkersReady {
                        count: self.target,
                    }));
                }
                self.feed(worker, now, &mut fx);
            }
            SupervisorEvent::Finished { worker, items } => {
                self.on_finished(worker, items, now, &mut fx);
            }
            SupervisorEvent::Heartbeat { worker } => {
                if let Some(w) = self.workers.get_mut(&worker) {
                    w.last_heard = now;
                }
            }
            SupervisorEvent::Progress { worker, progress } => {
                if let Some(w) = self.workers.get_mut(&worker) {
                    if progress.started != w.progress.started
                        || progress.durable != w.progress.durable
                    {
                        w.progress_at = now;
                    }
                    w.progress = progress;
                }
            }
            SupervisorEvent::Memory { worker, bytes } => {
                if let (Some(limit), Some(w)) = (self.p.max_worker_rss, self.workers.get(&worker))
                    && bytes > limit
                    && !matches!(w.phase, Phase::Killing { .. })
                {
                    tracing::warn!(%worker, pid = %OrDash(w.pid), bytes, limit, sample = %OrDash(w.progress.current),
                        "worker over --max-worker-rss; killing it");
                    self.kill(worker, KillCause::Memory { bytes }, &mut fx);
                }
            }
            SupervisorEvent::Exited {
                worker,
                outcome,
                progress,
            } => {
                self.on_exit(worker, outcome, progress, None, now, &mut fx);
            }
            SupervisorEvent::Signal(sig) => self.on_signal(sig, now, &mut fx),
            SupervisorEvent::Paused { gap } => self.on_paused(gap),
            SupervisorEvent::Tick => self.on_tick(now, &mut fx),
        }
        self.check_done(&mut fx);
        Action::from(fx)
    }

    fn on_finished(
        &mut self,
        worker: WorkerId,
        items: Vec<SampleOutcome>,
        now: Instant,
        fx: &mut Vec<Effect>,
    ) {
        let Some(w) = self.workers.get_mut(&worker) else {
            return;
        };
        w.last_heard = now;
        w.progress_at = now;
        for item in items {
            w.acked += 1;
            if let Some(pos) = w.items.iter().position(|&(i, _)| i == item.index) {
                w.items.remove(pos);
            }
            self.sizer.observe(item.elapsed_us);
            self.reasons.remove(&item.index);
            match item.failed {
                None => {
                    self.succeeded += 1;
                    fx.push(Effect::Observe(PoolEvent::SampleDone { index: item.index }));
                }
                Some(reason) => {
                    self.failed.push((item.index, reason.clone()));
                    fx.push(Effect::Observe(PoolEvent::SampleFailed {
                        index: item.index,
                        reason,
                    }));
                }
            }
        }
        self.backoff.reset();
        if w.items.is_empty() && w.phase == Phase::Busy {
            w.phase = Phase::Idle;
            self.feed(worker, now, fx);
        }
    }

    /// Gives an idle worker its next chunk, or stops it if it is not needed.
    fn feed(&mut self, worker: WorkerId, now: Instant, fx: &mut Vec<Effect>) {
        let live = self.workers.len();
        let Some(w) = self.workers.get_mut(&worker) else {
            return;
        };
        if w.phase != Phase::Idle {
            return;
        }
        if self.drain_deadline.is_some() || w.retiring {
            w.phase = Phase::Stopping {
                deadline: now + self.p.grace,
            };
            fx.push(Effect::Stop { worker });
            return;
        }
        if self.queue.is_empty() {
            return;
        }
        let n = self.sizer.size(self.queue.len(), live);
        let chunk: Vec<(u64, u32)> = self.queue.drain(..n.min(self.queue.len())).collect();
        w.items = chunk.iter().copied().collect();
        w.phase = Phase::Busy;
        w.progress_at = now;
        fx.push(Effect::Dispatch {
            worker,
            indices: chunk.iter().map(|c| c.0).collect(),
            attempts: chunk.iter().map(|c| c.1).collect(),
        });
    }

    fn kill(&mut self, worker: WorkerId, cause: KillCause, fx: &mut Vec<Effect>) {
        if let Some(w) = self.workers.get_mut(&worker) {
            if matches!(w.phase, Phase::Killing { .. }) {
                return;
            }
            w.phase = Phase::Killing { cause };
            fx.push(Effect::Kill { worker });
        }
    }

    fn on_exit(
        &mut self,
        worker: WorkerId,
        outcome: ExitOutcome,
        progress: Progress,
        spawn_error: Option<String>,
        now: Instant,
        fx: &mut Vec<Effect>,
    ) {
        let Some(mut w) = self.workers.remove(&worker) else {
            return;
        };
        // Records the worker made durable but never acknowledged.
        let unacked_durable = progress.durable.saturating_sub(w.acked);
        for _ in 0..unacked_durable {
            if let Some((index, _)) = w.items.pop_front() {
                self.reasons.remove(&index);
                self.succeeded += 1;
                fx.push(Effect::Observe(PoolEvent::SampleDone { index }));
            }
        }
        let cause = match &w.phase {
            Phase::Killing { cause } => Some(cause.clone()),
            _ => None,
        };
        let expected = match (&w.phase, &cause) {
            (Phase::Stopping { .. }, _) => outcome == ExitOutcome::Ok,
            (_, Some(KillCause::Shutdown)) => true,
            _ => false,
        };
        if expected || self.drain_deadline.is_some() {
            tracing::info!(%worker, pid = %OrDash(w.pid), %outcome, "worker exited");
            // Unstarted samples go back to the queue (they stay pending in
            // the log for a resume if we are draining).
            for item in w.items.into_iter().rev() {
                self.queue.push_front(item);
            }
            return;
        }
        if outcome == ExitOutcome::Code(super::worker_loop::EXIT_LOG_FAILED) {
            // The results log cannot be written (disk full, I/O error): a
            // replacement would fail the same way. Stop; the log stays valid.
            for item in w.items.into_iter().rev() {
                self.queue.push_front(item);
            }
            self.finished = true;
            let reason = "a worker could not write the results log (disk full or I/O error, see its message above); \
                          the log is valid: free space and rerun the same command to resume"
                .to_string();
            tracing::error!(%worker, pid = %OrDash(w.pid), %reason, "aborting the run");
            fx.push(Effect::Finish(PoolStatus::Aborted { reason }));
            return;
        }
        let blamed = match &cause {
            Some(KillCause::Timeout { index }) => *index,
            _ => progress
                .current
                .filter(|c| w.items.iter().any(|&(i, _)| i == *c)),
        };
        let reason = match (&cause, spawn_error) {
            (_, Some(e)) => format!("worker could not be started: {e}"),
            (Some(KillCause::Timeout { index: Some(_) }), _) => {
                format!("timed out after {} s", fmt_secs(self.p.sample_timeout))
            }
            (Some(KillCause::Timeout { index: None }), _) => {
                format!(
                    "worker made no progress for {} s",
                    fmt_secs(self.p.sample_timeout)
                )
            }
            (Some(KillCause::NoHeartbeat), _) => format!(
                "worker sent no heartbeat for {} s",
                fmt_secs(self.p.heartbeat_timeout)
            ),
            (Some(KillCause::Memory { bytes }), _) => format!(
                "worker exceeded --max-worker-rss ({} MiB > {} MiB)",
                bytes >> 20,
                self.p.max_worker_rss.unwrap_or(0) >> 20
            ),
            (Some(KillCause::SpawnTimeout), _) => format!(
                "worker not ready within {} s",
                fmt_secs(self.p.spawn_timeout)
            ),
            (Some(KillCause::Shutdown), _) | (None, _) => format!("worker {outcome}"),
        };
        tracing::warn!(%worker, pid = %OrDash(w.pid), sample = %OrDash(blamed), %reason, "worker lost; replacing it");
        fx.push(Effect::Observe(PoolEvent::WorkerRestarted {
            pid: w.pid,
            reason: reason.clone(),
            sample: blamed,
        }));
        self.restarts += 1;
        // Requeue in order; the blamed sample is charged one attempt.
        let mut back = Vec::new();
        for (index, attempt) in w.items.drain(..) {
            if Some(index) != blamed {
                back.push((index, attempt));
                continue;
            }
            let reasons = self.reasons.entry(index).or_default();
            reasons.push(reason.clone());
            let attempts = attempt + 1;
            if attempts > self.p.retries {
                let text = final_reason(reasons);
                self.reasons.remove(&index);
                tracing::error!(sample = index, attempts, reason = %text, "sample failed; retries exhausted");
                self.failed.push((index, text.clone()));
                fx.push(Effect::RecordFailed {
                    index,
                    attempts,
                    reason: text.clone(),
                });
                fx.push(Effect::Observe(PoolEvent::SampleFailed {
                    index,
                    reason: text,
                }));
            } else {
                back.push((index, attempts));
            }
        }
        for item in back.into_iter().rev() {
            self.queue.push_front(item);
        }
        if let Err(e) = self.intensity.record(now) {
            self.finished = true;
            let reason = format!("restart intensity exceeded: {e}; last: {reason}");
            tracing::error!(%reason, "aborting the run");
            fx.push(Effect::Finish(PoolStatus::Aborted { reason }));
            return;
        }
        if self.workers.len() + self.spawn_at.len() < self.target {
            let delay = self.backoff.next().unwrap_or_default();
            self.spawn_at.push(now + delay);
        }
    }

    fn on_signal(&mut self, sig: SignalEvent, now: Instant, fx: &mut Vec<Effect>) {
        match sig {
            SignalEvent::Shutdown(s) => match self.shutdowns.record(s) {
                ShutdownRequest::Once(_) => {
                    tracing::warn!(signal = ?s, grace = ?self.p.grace,
                        "shutdown requested: no new work, in-flight samples get the grace period");
                    self.drain_deadline = Some(now + self.p.grace);
                    self.spawn_at.clear();
                    fx.push(Effect::Observe(PoolEvent::Draining));
                    let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
                    for id in ids {
                        let Some(w) = self.workers.get_mut(&id) else {
                            continue;
                        };
                        match w.phase {
                            Phase::Spawning { .. } => self.kill(id, KillCause::Shutdown, fx),
                            Phase::Idle | Phase::Busy => {
                                w.phase = Phase::Stopping {
                                    deadline: now + self.p.grace,
                                };
                                fx.push(Effect::Stop { worker: id });
                            }
                            Phase::Stopping { .. } | Phase::Killing { .. } => {}
                        }
                    }
                }
                ShutdownRequest::Twice(_) => {
                    tracing::warn!(signal = ?s, "second shutdown signal: killing workers now");
                    let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
                    for id in ids {
                        self.kill(id, KillCause::Shutdown, fx);
                    }
                    self.finished = true;
                    fx.push(Effect::Finish(PoolStatus::Interrupted));
                }
            },
            SignalEvent::Status => {
                fx.push(Effect::Observe(PoolEvent::Status(self.status_line())));
            }
            SignalEvent::AddWorker => {
                if self.drain_deadline.is_none() {
                    self.target += 1;
                    tracing::info!(target = self.target, "SIGTTIN: adding a worker");
                    let e = self.new_worker(now);
                    fx.push(e);
                }
            }
            SignalEvent::RemoveWorker => {
                if self.target <= 1 || self.drain_deadline.is_some() {
                    return;
                }
                self.target -= 1;
                tracing::info!(target = self.target, "SIGTTOU: removing a worker");
                if self.spawn_at.pop().is_some() {
                    return;
                }
                let idle = self
                    .workers
                    .iter()
                    .find(|(_, w)| w.phase == Phase::Idle && !w.retiring)
                    .map(|(id, _)| *id);
                let pick = idle.or_else(|| {
                    self.workers
                        .iter()
                        .find(|(_, w)| {
                            !w.retiring && matches!(w.phase, Phase::Busy | Phase::Spawning { .. })
                        })
                        .map(|(id, _)| *id)
                });
                if let Some(id) = pick
                    && let Some(w) = self.workers.get_mut(&id)
                {
                    w.retiring = true;
                    if w.phase == Phase::Idle {
                        self.feed(id, now, fx);
                    }
                }
            }
        }
    }

    /// Moves every deadline and "last heard" instant forward by `gap`.
    fn on_paused(&mut self, gap: Duration) {
        let shift = |t: &mut Instant| {
            if let Some(later) = t.checked_add(gap) {
                *t = later;
            }
        };
        tracing::warn!(
            paused_s = format_args!("{:.1}", gap.as_secs_f64()),
            "the supervisor was not scheduled (process tree stopped, frozen or suspended?); \
             worker deadlines re-armed, the pause does not count as worker silence"
        );
        self.paused_total = self.paused_total.saturating_add(gap);
        for w in self.workers.values_mut() {
            shift(&mut w.last_heard);
            shift(&mut w.progress_at);
            match &mut w.phase {
                Phase::Spawning { since } => shift(since),
                Phase::Stopping { deadline } => shift(deadline),
                Phase::Idle | Phase::Busy | Phase::Killing { .. } => {}
            }
        }
        if let Some(d) = &mut self.drain_deadline {
            shift(d);
        }
        for t in &mut self.spawn_at {
            shift(t);
        }
    }

    /// Total time the supervisor's loop was found paused
    /// ([`SupervisorEvent::Paused`]) in this run.
    pub fn paused_total(&self) -> Duration {
        self.paused_total
    }

    fn on_tick(&mut self, now: Instant, fx: &mut Vec<Effect>) {
        if self.drain_deadline.is_none() {
            let due = self.spawn_at.iter().filter(|&&t| t <= now).count();
            self.spawn_at.retain(|&t| t > now);
            for _ in 0..due {
                let e = self.new_worker(now);
                fx.push(e);
            }
        }
        if let Some(deadline) = self.drain_deadline
            && now >= deadline
        {
            let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
            for id in ids {
                if let Some(w) = self.workers.get(&id) {
                    tracing::warn!(worker = %id, pid = %OrDash(w.pid), sample = %OrDash(w.progress.current),
                        "grace period over; killing worker");
                }
                self.kill(id, KillCause::Shutdown, fx);
            }
            return;
        }
        let mut kills = Vec::new();
        for (&id, w) in &self.workers {
            let silent = now.saturating_duration_since(w.last_heard);
            let stalled = now.saturating_duration_since(w.progress_at);
            match &w.phase {
                Phase::Spawning { since } => {
                    if now.saturating_duration_since(*since) > self.p.spawn_timeout {
                        kills.push((id, KillCause::SpawnTimeout));
                    }
                }
                Phase::Busy => {
                    if stalled > self.p.sample_timeout {
                        kills.push((
                            id,
                            KillCause::Timeout {
                                index: w.progress.current,
                            },
                        ));
                    } else if silent > self.p.heartbeat_timeout {
                        kills.push((id, KillCause::NoHeartbeat));
                    }
                }
                Phase::Idle => {
                    if silent > self.p.heartbeat_timeout {
                        kills.push((id, KillCause::NoHeartbeat));
                    }
                }
                Phase::Stopping { deadline } => {
                    if now >= *deadline {
                        kills.push((id, KillCause::Shutdown));
                    }
                }
                Phase::Killing { .. } => {}
            }
        }
        for (id, cause) in kills {
            if let Some(w) = self.workers.get(&id) {
                tracing::warn!(worker = %id, pid = %OrDash(w.pid), sample = %OrDash(w.progress.current), cause = ?cause,
                    "worker unhealthy; killing it");
            }
            self.kill(id, cause, fx);
        }
    }

    fn check_done(&mut self, fx: &mut Vec<Effect>) {
        if self.finished {
            return;
        }
        if self.drain_deadline.is_some() {
            if self.workers.is_empty() {
                self.finished = true;
                fx.push(Effect::Finish(PoolStatus::Interrupted));
            }
            return;
        }
        let holding = self.workers.values().any(|w| !w.items.is_empty());
        if self.queue.is_empty() && !holding {
            self.finished = true;
            fx.push(Effect::Finish(PoolStatus::Complete));
        }
    }
}

/// A log field that may be missing (a pid not known yet, no sample to
/// blame): the value, or `-`.
struct OrDash<T>(Option<T>);

impl<T: std::fmt::Display> std::fmt::Display for OrDash<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(i) => write!(f, "{i}"),
            None => f.write_str("-"),
        }
    }
}

fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s:.1}")
    }
}

/// "worker killed by SIGSEGV on 3 attempts", or the distinct reasons.
fn final_reason(reasons: &[String]) -> String {
    let n = reasons.len();
    match reasons.first() {
        None => "retries exhausted".to_owned(),
        Some(first) if reasons.iter().all(|r| r == first) => {
            if n == 1 {
                first.clone()
            } else {
                format!("{first} on {n} attempts")
            }
        }
        Some(_) => format!("failed on {n} attempts: {}", reasons.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(workers: usize) -> StateParams {
        StateParams {
            workers,
            sample_timeout: Duration::from_secs(60),
            retries: 2,
            grace: Duration::from_secs(10),
            max_worker_rss: Some(100 << 20),
            restart_max: 5,
            restart_window: Duration::from_secs(60),
            heartbeat_timeout: Duration::from_secs(10),
            spawn_timeout: Duration::from_secs(10),
            initial_chunk: 2,
            chunk_target: Duration::from_millis(100),
            max_chunk: 1000,
            restart_delay: Duration::ZERO,
        }
    }

    fn effects(a: Action) -> Vec<Effect> {
        a.into_effects()
    }

    fn up(s: &mut PoolState, t: Instant, n: u32) -> Vec<Effect> {
        let mut out = effects(s.start(t));
        for i in 0..n {
            let w = WorkerId(i);
            out.extend(effects(s.handle_event(
                SupervisorEvent::Spawned {
                    worker: w,
                    pid: 100 + i,
                },
                t,
            )));
            out.extend(effects(
                s.handle_event(SupervisorEvent::Ready { worker: w }, t),
            ));
        }
        out
    }

    fn done(index: u64) -> SampleOutcome {
        SampleOutcome {
            index,
            elapsed_us: 1000,
            failed: None,
        }
    }

    #[test]
    fn clean_run_dispatches_everything_and_completes() {
        let t = Instant::now();
        let mut s = PoolState::new(params(2), 0..4);
        let fx = up(&mut s, t, 2);
        assert_eq!(
            fx[0],
            Effect::Spawn {
                worker: WorkerId(0)
            }
        );
        assert!(fx.contains(&Effect::Observe(PoolEvent::WorkersReady { count: 2 })));
        assert!(fx.contains(&Effect::Dispatch {
            worker: WorkerId(0),
            indices: vec![0, 1],
            attempts: vec![0, 0]
        }));
        // Guided scheduling: a fair share of what is left at each dispatch.
        assert!(fx.contains(&Effect::Dispatch {
            worker: WorkerId(1),
            indices: vec![2],
            attempts: vec![0]
        }));
        let fx = effects(s.handle_event(
            SupervisorEvent::Finished {
                worker: WorkerId(0),
                items: vec![done(0), done(1)],
            },
            t,
        ));
        assert_eq!(
            fx.last(),
            Some(&Effect::Dispatch {
                worker: WorkerId(0),
                indices: vec![3],
                attempts: vec![0]
            })
        );
        let fx = effects(s.handle_event(
            SupervisorEvent::Finished {
                worker: WorkerId(1),
                items: vec![done(2)],
            },
            t,
        ));
        assert!(!fx.iter().any(|e| matches!(e, Effect::Finish(_))));
        let fx = effects(s.handle_event(
            SupervisorEvent::Finished {
                worker: WorkerId(0),
                items: vec![done(3)],
            },
            t,
        ));
        assert_eq!(fx.last(), Some(&Effect::Finish(PoolStatus::Complete)));
        assert_eq!(s.succeeded, 4);
        // Finished: further events change nothing.
        assert_eq!(s.handle_event(SupervisorEvent::Tick, t), Action::None);
    }

    #[test]
    fn crash_charges_only_the_sample_in_progress() {
        let t = Instant::now();
        let mut s = PoolState::new(params(1), 0..3);
        up(&mut s, t, 1);
        let fx = effects(s.handle_event(
            SupervisorEvent::Exited {
                worker: WorkerId(0),
                outcome: ExitOutcome::Signal(11),
                progress: Progress {
                    current: Some(1),
                    started: 2,
                    durable: 1,
                },
            },
            t,
        ));
        // Sample 0 was durable though unacknowledged: done, not retried.
        assert!(fx.contains(&Effect::Observe(PoolEvent::SampleDone { index: 0 })));
        assert!(fx.iter().any(|e| matches!(
            e,
            Effect::Observe(PoolEvent::WorkerRestarted {
                sample: Some(1),
                ..
            })
        )));
        assert_eq!(s.restarts, 1);
        // The replacement is spawned on the next tick (zero backoff here).
        let fx = effects(s.handle_event(SupervisorEvent::Tick, t));
        assert_eq!(
            fx,
            vec![Effect::Spawn {
                worker: WorkerId(1)
            }]
        );
        let fx = effects(s.handle_event(
            SupervisorEvent::Ready {
                worker: WorkerId(1),
            },
            t,
        ));
        assert!(fx.contains(&Effect::Dispatch {
            worker: WorkerId(1),
            indices: vec![1, 2],
            attempts: vec![1, 0]
        }));
    }

    #[test]
    fn poison_sample_fails_after_retries_with_reason() {
        let t = Instant::now();
        let mut p = params(1);
        p.initial_chunk = 1;
        let mut s = PoolState::new(p, [7]);
        up(&mut s, t, 1);
        let mut all = Vec::new();
        for attempt in 0..3u32 {
            let w = WorkerId(attempt);
            if attempt > 0 {
                all.extend(effects(s.handle_event(SupervisorEvent::Tick, t)));
                all.extend(effects(
                    s.handle_event(SupervisorEvent::Ready { worker: w }, t),
                ));
            }
            all.extend(effects(s.handle_event(
                SupervisorEvent::Exited {
                    worker: w,
                    outcome: ExitOutcome::Signal(11),
                    progress: Progress {
                        current: Some(7),
                        started: 1,
                        durable: 0,
                    },
                },
                t,
            )));
        }
        assert!(all.contains(&Effect::RecordFailed {
            index: 7,
            attempts: 3,
            reason: "worker killed by SIGSEGV on 3 attempts".into()
        }));
        assert_eq!(all.last(), Some(&Effect::Finish(PoolStatus::Complete)));
        assert_eq!(s.failed.len(), 1);
    }

    #[test]
    fn hung_sample_is_killed_and_named_in_the_reason() {
        let t = Instant::now();
        let mut p = params(1);
        p.retries = 0;
        p.sample_timeout = Duration::from_secs(2);
        let mut s = PoolState::new(p, [0, 1]);
        up(&mut s, t, 1);
        let pr = Progress {
            current: Some(0),
            started: 1,
            durable: 0,
        };
        let _ = s.handle_event(
            SupervisorEvent::Progress {
                worker: WorkerId(0),
                progress: pr,
            },
            t,
        );
        let later = t + Duration::from_secs(1);
        let _ = s.handle_event(
            SupervisorEvent::Heartbeat {
                worker: WorkerId(0),
            },
            later,
        );
        assert_eq!(s.handle_event(SupervisorEvent::Tick, later), Action::None);
        let later = t + Duration::from_secs(3);
        let _ = s.handle_event(
            SupervisorEvent::Heartbeat {
                worker: WorkerId(0),
            },
            later,
        );
        let fx = effects(s.handle_event(SupervisorEvent::Tick, later));
        assert_eq!(
            fx,
            vec![Effect::Kill {
                worker: WorkerId(0)
            }]
        );
        let fx = effects(s.handle_event(
            SupervisorEvent::Exited {
                worker: WorkerId(0),
                outcome: ExitOutcome::Signal(9),
                progress: pr,
            },
            later,
        ));
        assert!(fx.contains(&Effect::RecordFailed {
            index: 0,
            attempts: 1,
            reason: "timed out after 2 s".into()
        }));
    }

    #[test]
    fn memory_hog_is_killed() {
        let t = Instant::now();
        let mut s = PoolState::new(params(1), 0..2);
        up(&mut s, t, 1);
        assert_eq!(
            s.handle_event(
                SupervisorEvent::Memory {
                    worker: WorkerId(0),
                    bytes: 1 << 20
                },
                t
            ),
            Action::None
        );
        let fx = effects(s.handle_event(
            SupervisorEvent::Memory {
                worker: WorkerId(0),
                bytes: 200 << 20,
            },
            t,
        ));
        assert_eq!(
            fx,
            vec![Effect::Kill {
                worker: WorkerId(0)
            }]
        );
    }

    #[test]
    fn restart_intensity_aborts() {
        let t = Instant::now();
        let mut p = params(1);
        p.restart_max = 2;
        p.retries = 100;
        let mut s = PoolState::new(p, 0..10);
        up(&mut s, t, 1);
        let mut last = Vec::new();
        for i in 0..3 {
            let w = WorkerId(i);
            if i > 0 {
                let _ = s.handle_event(SupervisorEvent::Tick, t);
            }
            last = effects(s.handle_event(
                SupervisorEvent::Exited {
                    worker: w,
                    outcome: ExitOutcome::Code(101),
                    progress: Progress::default(),
                },
                t,
            ));
        }
        assert!(
            matches!(last.last(), Some(Effect::Finish(PoolStatus::Aborted { reason })) if reason.contains("restart intensity"))
        );
    }

    #[test]
    fn first_signal_drains_second_kills() {
        let t = Instant::now();
        let mut s = PoolState::new(params(2), 0..100);
        up(&mut s, t, 2);
        let sig = SignalEvent::Shutdown(super::super::signals::ShutdownSignal::Terminate);
        let fx = effects(s.handle_event(SupervisorEvent::Signal(sig), t));
        assert!(fx.contains(&Effect::Observe(PoolEvent::Draining)));
        assert!(fx.contains(&Effect::Stop {
            worker: WorkerId(0)
        }));
        assert!(fx.contains(&Effect::Stop {
            worker: WorkerId(1)
        }));
        // A drained worker exits cleanly: no restart, not finished yet.
        let fx = effects(s.handle_event(
            SupervisorEvent::Exited {
                worker: WorkerId(0),
                outcome: ExitOutcome::Ok,
                progress: Progress::default(),
            },
            t,
        ));
        assert!(fx.is_empty(), "{fx:?}");
        assert_eq!(s.restarts, 0);
        let fx = effects(s.handle_event(SupervisorEvent::Signal(sig), t));
        assert_eq!(
            fx,
            vec![
                Effect::Kill {
                    worker: WorkerId(1)
                },
                Effect::Finish(PoolStatus::Interrupted)
            ]
        );
    }

    #[test]
    fn drain_ends_when_last_worker_exits_or_grace_expires() {
        let t = Instant::now();
        let mut s = PoolState::new(params(1), 0..100);
        up(&mut s, t, 1);
        let sig = SignalEvent::Shutdown(super::super::signals::ShutdownSignal::Interrupt);
        let _ = s.handle_event(SupervisorEvent::Signal(sig), t);
        let fx = effects(s.handle_event(SupervisorEvent::Tick, t + Duration::from_secs(11)));
        assert_eq!(
            fx,
            vec![Effect::Kill {
                worker: WorkerId(0)
            }]
        );
        let fx = effects(s.handle_event(
            SupervisorEvent::Exited {
                worker: WorkerId(0),
                outcome: ExitOutcome::Signal(9),
                progress: Progress::default(),
            },
            t + Duration::from_secs(11),
        ));
        assert_eq!(fx, vec![Effect::Finish(PoolStatus::Interrupted)]);
    }

    #[test]
    fn ttin_adds_and_ttou_retires() {
        let t = Instant::now();
        let mut s = PoolState::new(params(1), 0..100);
        up(&mut s, t, 1);
        let fx = effects(s.handle_event(SupervisorEvent::Signal(SignalEvent::AddWorker), t));
        assert_eq!(
            fx,
            vec![Effect::Spawn {
                worker: WorkerId(1)
            }]
        );
        let _ = s.handle_event(
            SupervisorEvent::Ready {
                worker: WorkerId(1),
            },
            t,
        );
        assert_eq!(s.live_workers(), 2);
        let _ = s.handle_event(SupervisorEvent::Signal(SignalEvent::RemoveWorker), t);
        // Worker 0 is busy: it retires when its chunk is done.
        let fx = effects(s.handle_event(
            SupervisorEvent::Finished {
                worker: WorkerId(0),
                items: vec![done(0), done(1)],
            },
            t,
        ));
        assert!(fx.contains(&Effect::Stop {
            worker: WorkerId(0)
        }));
        let fx = effects(s.handle_event(
            SupervisorEvent::Exited {
                worker: WorkerId(0),
                outcome: ExitOutcome::Ok,
                progress: Progress::default(),
            },
            t,
        ));
        assert!(
            !fx.iter()
                .any(|e| matches!(e, Effect::Observe(PoolEvent::WorkerRestarted { .. })))
        );
        assert_eq!(s.live_workers(), 1);
    }

    /// A pause of the whole tree longer than both the heartbeat limit and
    /// the sample timeout: nobody is killed, and the deadlines count again
    /// from the end of the pause.
    #[test]
    fn a_paused_tree_kills_nobody() {
        let t = Instant::now();
        let mut s = PoolState::new(params(2), 0..100);
        up(&mut s, t, 2);
        for w in 0..2 {
            let _ = s.handle_event(
                SupervisorEvent::Progress {
                    worker: WorkerId(w),
                    progress: Progress {
                        current: Some(u64::from(w)),
                        started: 1,
                        durable: 0,
                    },
                },
                t,
            );
        }
        // Stopped at t + 0.5 s for 90 s (heartbeats 10 s, samples 60 s).
        let back = t + Duration::from_millis(90_500);
        let gap = Duration::from_secs(90);
        let fx = effects(s.handle_event(SupervisorEvent::Paused { gap }, back));
        assert!(fx.is_empty(), "{fx:?}");
        assert_eq!(s.handle_event(SupervisorEvent::Tick, back), Action::None);
        assert_eq!(s.paused_total(), gap);
        // Still silent 9 s after the pause: within the heartbeat limit.
        let later = back + Duration::from_secs(9);
        assert_eq!(s.handle_event(SupervisorEvent::Tick, later), Action::None);
        // Silent 11 s after the pause: now that is a hang.
        let later = back + Duration::from_secs(11);
        let fx = effects(s.handle_event(SupervisorEvent::Tick, later));
        assert_eq!(
            fx,
            vec![
                Effect::Kill {
                    worker: WorkerId(0)
                },
                Effect::Kill {
                    worker: WorkerId(1)
                }
            ]
        );
        assert_eq!(s.restarts, 0, "nothing was reaped yet");
    }

    /// Only one worker is stopped: the supervisor's loop runs on, reports
    /// no pause, and the stopped worker is killed as hung.
    #[test]
    fn a_single_stopped_worker_is_still_killed() {
        let t = Instant::now();
        let mut s = PoolState::new(params(2), 0..100);
        up(&mut s, t, 2);
        let mut detector = PauseDetector::new(t, Duration::from_secs(1));
        let mut killed = Vec::new();
        for step in 1..=120u64 {
            let now = t + Duration::from_millis(100 * step);
            assert_eq!(detector.observe(now), None);
            let _ = s.handle_event(
                SupervisorEvent::Heartbeat {
                    worker: WorkerId(1),
                },
                now,
            );
            killed.extend(effects(s.handle_event(SupervisorEvent::Tick, now)));
        }
        assert_eq!(
            killed,
            vec![Effect::Kill {
                worker: WorkerId(0)
            }]
        );
        let fx = effects(s.handle_event(
            SupervisorEvent::Exited {
                worker: WorkerId(0),
                outcome: ExitOutcome::Signal(9),
                progress: Progress::default(),
            },
            t + Duration::from_secs(12),
        ));
        assert!(fx.iter().any(|e| matches!(
            e,
            Effect::Observe(PoolEvent::WorkerRestarted { reason, .. })
                if reason == "worker sent no heartbeat for 10 s"
        )));
    }

    /// A pause while draining does not eat the grace period.
    #[test]
    fn a_pause_while_draining_keeps_the_grace_period() {
        let t = Instant::now();
        let mut s = PoolState::new(params(1), 0..100);
        up(&mut s, t, 1);
        let sig = SignalEvent::Shutdown(super::super::signals::ShutdownSignal::Terminate);
        let _ = s.handle_event(SupervisorEvent::Signal(sig), t);
        let back = t + Duration::from_secs(30);
        let _ = s.handle_event(
            SupervisorEvent::Paused {
                gap: Duration::from_secs(30),
            },
            back,
        );
        assert_eq!(
            s.handle_event(SupervisorEvent::Tick, back + Duration::from_secs(9)),
            Action::None
        );
        let fx = effects(s.handle_event(SupervisorEvent::Tick, back + Duration::from_secs(11)));
        assert_eq!(
            fx,
            vec![Effect::Kill {
                worker: WorkerId(0)
            }]
        );
    }

    #[test]
    fn pause_detector_reports_only_long_gaps() {
        let t = Instant::now();
        let mut d = PauseDetector::new(t, Duration::from_secs(1));
        assert_eq!(d.observe(t + Duration::from_millis(20)), None);
        assert_eq!(d.observe(t + Duration::from_millis(1000)), None);
        assert_eq!(
            d.observe(t + Duration::from_millis(11_000)),
            Some(Duration::from_secs(10))
        );
        assert_eq!(d.observe(t + Duration::from_millis(11_020)), None);
        // An instant from the past (events carry their own clocks) is no gap.
        assert_eq!(d.observe(t), None);
        assert_eq!(d.observe(t + Duration::from_millis(11_040)), None);
    }

    #[test]
    fn chunk_size_adapts_to_cost() {
        let mut c = ChunkSizer::new(
            1,
            Duration::from_millis(100),
            Duration::from_secs(60),
            100_000,
        );
        assert_eq!(c.size(1000, 2), 1);
        c.observe(10);
        assert_eq!(c.size(1_000_000, 2), 10_000);
        assert_eq!(c.size(1000, 2), 500, "fair share of what is left");
        let mut slow = ChunkSizer::new(
            1,
            Duration::from_millis(100),
            Duration::from_secs(1),
            100_000,
        );
        slow.observe(500_000);
        assert_eq!(slow.size(1000, 2), 1, "slow samples go one at a time");
    }
}
