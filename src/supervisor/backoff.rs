//! Capped exponential delays between worker restarts.
//!
//! [`Backoff`] is an endless `Iterator<Item = Duration>`: `initial`,
//! `initial × factor`, `initial × factor²`, ... never exceeding `max`. It is
//! pure (no clock, no randomness); call [`Backoff::reset`] after a worker
//! has run healthily for a while.
//!
//! # Layout
//!
//! One type, [`Backoff`], and its tests.

use std::time::Duration;

/// Capped exponential backoff. See the module docs.
#[derive(Clone, Debug, PartialEq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    factor: f64,
    next: Duration,
}

impl Backoff {
    /// Doubling delays from `initial`, capped at `max` (`initial` itself is
    /// capped too).
    pub fn new(initial: Duration, max: Duration) -> Self {
        let initial = initial.min(max);
        Self {
            initial,
            max,
            factor: 2.0,
            next: initial,
        }
    }

    #[cfg(test)]
    /// Uses `factor` instead of 2. Factors below 1 (or NaN) are taken as 1.
    #[must_use]
    pub fn with_factor(mut self, factor: f64) -> Self {
        self.factor = if factor >= 1.0 { factor } else { 1.0 };
        self
    }

    /// Starts again from the initial delay.
    pub fn reset(&mut self) {
        self.next = self.initial;
    }

    #[cfg(test)]
    /// The delay the next call to `next()` returns.
    pub fn peek(&self) -> Duration {
        self.next
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let current = self.next;
        let grown = current.as_secs_f64() * self.factor;
        self.next = if grown.is_finite() && grown < self.max.as_secs_f64() {
            Duration::from_secs_f64(grown)
        } else {
            self.max
        };
        Some(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn doubles_then_caps() {
        let got: Vec<_> = Backoff::new(100 * MS, 1000 * MS).take(7).collect();
        assert_eq!(
            got,
            [
                100 * MS,
                200 * MS,
                400 * MS,
                800 * MS,
                1000 * MS,
                1000 * MS,
                1000 * MS
            ]
        );
    }

    #[test]
    fn reset_and_factor() {
        let mut b = Backoff::new(10 * MS, Duration::from_secs(1)).with_factor(3.0);
        assert_eq!(b.next(), Some(10 * MS));
        assert_eq!(b.next(), Some(30 * MS));
        assert_eq!(b.peek(), 90 * MS);
        b.reset();
        assert_eq!(b.next(), Some(10 * MS));
        let mut flat = Backoff::new(5 * MS, Duration::from_secs(1)).with_factor(0.5);
        assert_eq!(flat.nth(10), Some(5 * MS));
    }

    #[test]
    fn never_overflows() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::MAX).with_factor(1e300);
        assert_eq!(b.next(), Some(Duration::from_secs(1)));
        assert_eq!(b.next(), Some(Duration::MAX));
        assert_eq!(b.next(), Some(Duration::MAX));
        assert_eq!(
            Backoff::new(Duration::from_secs(9), Duration::from_secs(2)).next(),
            Some(Duration::from_secs(2))
        );
    }
}
