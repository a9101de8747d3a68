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
//! * [`PoolEvent`]: what the observer is told; [`Outcome`]: how a run ends.
//!
//! Files: `events` (what goes in and out), `chunk`, `pause`,
//! `worker` (a slot's phase and kill causes), this file (the machine).

mod chunk;
mod events;
mod pause;
#[cfg(test)]
mod tests;
mod worker;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::backoff::Backoff;
use super::intensity::RestartIntensity;
use super::ipc::SampleOutcome;
use super::process::ExitOutcome;
use super::scoreboard::Progress;
use super::signals::{ShutdownCounter, ShutdownRequest, SignalEvent};

pub use chunk::ChunkSizer;
pub use events::{Action, Effect, Outcome, PoolEvent, PoolPolicy, StateParams, SupervisorEvent};
pub use pause::PauseDetector;
use worker::{KillCause, Phase, Worker};

/// A worker slot's identity, unique within one run (pids can be reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(pub u32);

impl std::fmt::Display for WorkerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "w{}", self.0)
    }
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
            target: p.policy.workers.max(1),
            next_id: 0,
            workers: BTreeMap::new(),
            total: queue.len() as u64,
            queue,
            reasons: HashMap::new(),
            sizer: ChunkSizer::new(
                p.initial_chunk,
                p.chunk_target,
                p.policy.sample_timeout,
                p.max_chunk,
            ),
            intensity: RestartIntensity::new(p.policy.restart_max, p.policy.restart_window),
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
            return Action::Do(vec![Effect::Finish(Outcome::Complete)]);
        }
        let n = self.target.min(self.queue.len());
        self.target = n;
        let effects = (0..n).map(|_| self.new_worker(now)).collect();
        Action::Do(effects)
    }

    /// Whether the state is draining after a first shutdown signal.
    pub fn draining(&self) -> bool {
        self.drain_deadline.is_some()
    }

    #[cfg(test)]
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
                if let (Some(limit), Some(w)) =
                    (self.p.policy.max_worker_rss, self.workers.get(&worker))
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
                deadline: now + self.p.policy.grace,
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
            fx.push(Effect::Finish(Outcome::Aborted(reason)));
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
                format!(
                    "timed out after {} s",
                    fmt_secs(self.p.policy.sample_timeout)
                )
            }
            (Some(KillCause::Timeout { index: None }), _) => {
                format!(
                    "worker made no progress for {} s",
                    fmt_secs(self.p.policy.sample_timeout)
                )
            }
            (Some(KillCause::NoHeartbeat), _) => format!(
                "worker sent no heartbeat for {} s",
                fmt_secs(self.p.heartbeat_timeout)
            ),
            (Some(KillCause::Memory { bytes }), _) => format!(
                "worker exceeded --max-worker-rss ({} MiB > {} MiB)",
                bytes >> 20,
                self.p.policy.max_worker_rss.unwrap_or(0) >> 20
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
            if attempts > self.p.policy.retries {
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
            fx.push(Effect::Finish(Outcome::Aborted(reason)));
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
                    tracing::warn!(signal = ?s, grace = ?self.p.policy.grace,
                        "shutdown requested: no new work, in-flight samples get the grace period");
                    self.drain_deadline = Some(now + self.p.policy.grace);
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
                                    deadline: now + self.p.policy.grace,
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
                    fx.push(Effect::Finish(Outcome::Interrupted));
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

    #[cfg(test)]
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
                    if stalled > self.p.policy.sample_timeout {
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
                fx.push(Effect::Finish(Outcome::Interrupted));
            }
            return;
        }
        let holding = self.workers.values().any(|w| !w.items.is_empty());
        if self.queue.is_empty() && !holding {
            self.finished = true;
            fx.push(Effect::Finish(Outcome::Complete));
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
