//! One worker slot as the state machine sees it: its phase and why it was
//! killed.

use std::collections::VecDeque;
use std::time::Instant;

use crate::supervisor::scoreboard::Progress;

/// Why the supervisor killed a worker.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum KillCause {
    Timeout { index: Option<u64> },
    NoHeartbeat,
    Memory { bytes: u64 },
    SpawnTimeout,
    Shutdown,
}

/// Where a worker is in its lifecycle (see the diagram in [`super`]).
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Phase {
    Spawning { since: Instant },
    Idle,
    Busy,
    Stopping { deadline: Instant },
    Killing { cause: KillCause },
}

/// A worker slot.
#[derive(Debug)]
pub(super) struct Worker {
    /// Known once the worker said Ready.
    pub(super) pid: Option<u32>,
    pub(super) phase: Phase,
    /// Unacknowledged samples of the current chunk, in order.
    pub(super) items: VecDeque<(u64, u32)>,
    pub(super) last_heard: Instant,
    pub(super) progress: Progress,
    pub(super) progress_at: Instant,
    pub(super) acked: u64,
    pub(super) retiring: bool,
}
