//! What the state machine takes in ([`SupervisorEvent`]) and gives out
//! ([`Action`], [`Effect`], [`PoolEvent`], [`Outcome`]), and its knobs.

use std::time::Duration;

use super::WorkerId;
use crate::supervisor::ipc::SampleOutcome;
use crate::supervisor::process::ExitOutcome;
use crate::supervisor::scoreboard::Progress;
use crate::supervisor::signals::SignalEvent;

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
    /// [`super::PauseDetector`].
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
    Finish(Outcome),
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
    pub(super) fn from(effects: Vec<Effect>) -> Self {
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

/// How a run ended: the one outcome type of a run, whether its samples
/// ran in the pool (whose state machine finishes with it) or in process
/// (`run::execute`). summary.json stores it as a `store::RunOutcome`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every pending sample was attempted.
    Complete,
    /// Stopped by a signal (or left samples without a record); the rest is
    /// pending for a resume.
    Interrupted,
    /// Stopped by a fatal condition (restart intensity, a failed write),
    /// with its reason.
    Aborted(String),
}

/// The operator's choices for a pool (`qtomo run`'s flags): how many
/// workers, and when a sample, a worker or the whole run is given up on.
/// Carried unchanged from the command line through the pool's
/// configuration into the state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolPolicy {
    /// Number of worker processes (`--workers`; 0 runs in process).
    pub workers: usize,
    /// A sample computing longer than this is a hang (`--sample-timeout`).
    pub sample_timeout: Duration,
    /// Retries per sample after its first attempt (`--retries`).
    pub retries: u32,
    /// Time in-flight samples get after the first shutdown signal, before
    /// SIGKILL (`--grace`).
    pub grace: Duration,
    /// Kill a worker charged more than this many bytes of private memory
    /// (`--max-worker-rss`).
    pub max_worker_rss: Option<u64>,
    /// Restart intensity: more than this many restarts ...
    pub restart_max: usize,
    /// ... within this window abort the run.
    pub restart_window: Duration,
}

impl Default for PoolPolicy {
    /// One worker per available core, 10 min sample timeout, 2 retries,
    /// 30 s grace, no memory limit, at most 10 restarts in 60 s.
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            sample_timeout: Duration::from_secs(600),
            retries: 2,
            grace: Duration::from_secs(30),
            max_worker_rss: None,
            restart_max: 10,
            restart_window: Duration::from_secs(60),
        }
    }
}

/// Knobs of the state machine: the operator's policy and the pool's
/// derived timings.
#[derive(Clone, Debug)]
pub struct StateParams {
    /// The operator's choices.
    pub policy: PoolPolicy,
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
