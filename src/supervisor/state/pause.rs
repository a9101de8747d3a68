//! Detection of a supervisor loop that was not scheduled (a stopped job).

use std::time::{Duration, Instant};

/// Notices that the supervisor's loop was not scheduled: two consecutive
/// turns further apart than `threshold` on the monotonic clock (which keeps
/// running while a process is stopped). The I/O loop asks it once per turn
/// and reports a gap as [`super::SupervisorEvent::Paused`]. Pure.
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
