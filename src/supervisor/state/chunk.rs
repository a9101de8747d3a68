//! How many samples to hand a worker at once.

use std::time::Duration;

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
