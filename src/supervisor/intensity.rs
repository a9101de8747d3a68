//! Erlang-style restart intensity: more than `max_restarts` restarts within
//! a sliding `window` means something is systematically wrong, and the run
//! should abort (exit 1) instead of letting systemd or the supervisor loop.
//!
//! Pure: the caller passes the current [`Instant`], so tests use made-up
//! instants.
//!
//! # Layout
//!
//! [`RestartIntensity`] and its error [`IntensityExceeded`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Too many restarts within the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{restarts} worker restarts within {window:?} exceed the limit of {max_restarts}")]
pub struct IntensityExceeded {
    /// Restarts counted within the window, including the one just recorded.
    pub restarts: usize,
    /// The allowed number of restarts.
    pub max_restarts: usize,
    /// The window length.
    pub window: Duration,
}

/// Sliding-window restart counter. See the module docs.
#[derive(Clone, Debug)]
pub struct RestartIntensity {
    max_restarts: usize,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl RestartIntensity {
    /// Allows at most `max_restarts` restarts in any `window`.
    pub fn new(max_restarts: usize, window: Duration) -> Self {
        Self {
            max_restarts,
            window,
            recent: VecDeque::with_capacity(max_restarts.saturating_add(1).min(1024)),
        }
    }

    /// Records a restart at `now`. Errors when this restart makes more than
    /// `max_restarts` within the last `window` (a restart exactly `window`
    /// ago still counts). Instants must not go backwards.
    pub fn record(&mut self, now: Instant) -> Result<(), IntensityExceeded> {
        while let Some(&oldest) = self.recent.front() {
            if now.saturating_duration_since(oldest) > self.window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        self.recent.push_back(now);
        if self.recent.len() > self.max_restarts {
            return Err(IntensityExceeded {
                restarts: self.recent.len(),
                max_restarts: self.max_restarts,
                window: self.window,
            });
        }
        Ok(())
    }

    #[cfg(test)]
    /// Restarts currently counted (as of the last `record`).
    pub fn recent(&self) -> usize {
        self.recent.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn allows_up_to_max_in_window() {
        let t0 = Instant::now();
        let mut r = RestartIntensity::new(3, 10 * S);
        assert_eq!(r.record(t0), Ok(()));
        assert_eq!(r.record(t0 + S), Ok(()));
        assert_eq!(r.record(t0 + 2 * S), Ok(()));
        let e = r.record(t0 + 3 * S).expect_err("fourth within 10 s");
        assert_eq!(e.restarts, 4);
        assert_eq!(e.max_restarts, 3);
        assert_eq!(e.window, 10 * S);
    }

    #[test]
    fn old_restarts_slide_out() {
        let t0 = Instant::now();
        let mut r = RestartIntensity::new(2, 10 * S);
        r.record(t0).expect("1");
        r.record(t0 + 5 * S).expect("2");
        // t0 is exactly 10 s old: still inside the window.
        assert!(r.record(t0 + 10 * S).is_err());
        let mut r = RestartIntensity::new(2, 10 * S);
        r.record(t0).expect("1");
        r.record(t0 + 5 * S).expect("2");
        // Just past the window, t0 no longer counts.
        r.record(t0 + 10 * S + Duration::from_millis(1)).expect("3");
        assert_eq!(r.recent(), 2);
        // Steady restarts slower than the limit go on forever.
        let mut r = RestartIntensity::new(1, 10 * S);
        for i in 0..100 {
            r.record(t0 + 11 * S * i).expect("spaced restarts");
        }
    }

    #[test]
    fn zero_allows_nothing() {
        let mut r = RestartIntensity::new(0, S);
        assert!(r.record(Instant::now()).is_err());
    }
}
