//! Streaming statistics for the report: memory independent of the number
//! of samples.
//!
//! * [`Histogram`]: a fixed number of equal bins over a range that starts
//!   at a metric's nominal range and doubles (merging neighbouring bins)
//!   whenever a value falls outside it, so outliers are never dropped and
//!   no second pass is needed. Quantiles are interpolated inside a bin.
//!   Optionally each bin keeps one representative sample (the one closest
//!   to the bin's centre), which is how the report finds a *median sample*
//!   in one pass.
//! * [`Trend`]: the metric against the sample index, in up to
//!   [`TREND_BINS`] consecutive index ranges, each holding a fine
//!   histogram over the metric's nominal range (values outside it count in
//!   the edge bins, which keeps medians right unless the median itself is
//!   outside). Per range it gives the median and the 10–90 % band, and a
//!   rolling median over [`ROLLING`] neighbouring ranges (the median of all
//!   their samples, not a median of medians).
//! * [`Extremes`]: running arg-min and arg-max.

/// Index ranges of a [`Trend`] (fewer when the run has fewer samples).
pub const TREND_BINS: usize = 200;

/// Fine bins per index range of a [`Trend`].
const TREND_LEVELS: usize = 256;

/// Index ranges in one window of a [`Trend`]'s rolling median (odd).
pub const ROLLING: usize = 9;

/// One sample standing for a histogram bin: its metric value and index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Representative {
    /// The metric value.
    pub value: f64,
    /// The sample index.
    pub index: u64,
}

/// A histogram over a range that grows to take every finite value.
#[derive(Debug, Clone)]
pub struct Histogram {
    lo: f64,
    width: f64,
    counts: Vec<u64>,
    reps: Option<Vec<Option<Representative>>>,
    /// Whether the range is not set yet (set from the first value).
    unanchored: bool,
    finite: u64,
    non_finite: u64,
    min: f64,
    max: f64,
}

impl Histogram {
    /// A histogram of `bins` bins (at least 2, rounded up to even) over
    /// `[lo, hi)` to start with.
    pub fn new(lo: f64, hi: f64, bins: usize) -> Histogram {
        let bins = bins.max(2).next_multiple_of(2);
        let width = if hi > lo {
            (hi - lo) / bins as f64
        } else {
            1.0
        };
        Histogram {
            lo,
            width,
            counts: vec![0; bins],
            reps: None,
            unanchored: false,
            finite: 0,
            non_finite: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// A histogram of `bins` bins whose range is set around the first
    /// value (for metrics without a natural scale, such as the
    /// log-likelihood).
    pub fn unanchored(bins: usize) -> Histogram {
        let mut h = Histogram::new(0.0, 1.0, bins);
        h.unanchored = true;
        h
    }

    /// Also keeps one representative sample per bin (see
    /// [`Histogram::closest_representative`]).
    pub fn with_representatives(mut self) -> Histogram {
        self.reps = Some(vec![None; self.counts.len()]);
        self
    }

    /// Counts `value` of sample `index`; a non-finite value is only counted
    /// as such.
    pub fn add(&mut self, value: f64, index: u64) {
        if !value.is_finite() {
            self.non_finite += 1;
            return;
        }
        if self.unanchored {
            let scale = (value.abs() * 1e-3).max(1e-9);
            self.width = scale;
            self.lo = value - scale * (self.counts.len() / 2) as f64;
            self.unanchored = false;
        }
        // Each doubling at least doubles the span, so a finite value is
        // reached in at most a few thousand steps; the bound is a guard.
        for _ in 0..4096 {
            if value < self.lo {
                self.grow(false);
            } else if value >= self.hi() && self.hi().is_finite() {
                self.grow(true);
            } else {
                break;
            }
        }
        let k = self.bin_of(value);
        self.counts[k] += 1;
        self.finite += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        let centre = self.lo + (k as f64 + 0.5) * self.width;
        if let Some(reps) = self.reps.as_mut() {
            let better = reps[k].is_none_or(|r| (value - centre).abs() < (r.value - centre).abs());
            if better {
                reps[k] = Some(Representative { value, index });
            }
        }
    }

    fn bin_of(&self, value: f64) -> usize {
        let k = ((value - self.lo) / self.width).floor();
        if k.is_nan() || k < 0.0 {
            0
        } else {
            (k as usize).min(self.counts.len() - 1)
        }
    }

    /// The upper end of the current range.
    fn hi(&self) -> f64 {
        self.lo + self.width * self.counts.len() as f64
    }

    /// Doubles the bin width, merging pairs of bins, and extends the range
    /// upwards (`up`) or downwards.
    fn grow(&mut self, up: bool) {
        let n = self.counts.len();
        let half = n / 2;
        let offset = if up { 0 } else { half };
        let merged: Vec<u64> = (0..half)
            .map(|i| self.counts[2 * i] + self.counts[2 * i + 1])
            .collect();
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.counts[offset..offset + half].copy_from_slice(&merged);
        if !up {
            self.lo -= self.width * n as f64;
        }
        self.width *= 2.0;
        let (lo, width) = (self.lo, self.width);
        if let Some(reps) = self.reps.as_mut() {
            let merged: Vec<Option<Representative>> = (0..half)
                .map(|i| {
                    let centre = lo + ((offset + i) as f64 + 0.5) * width;
                    let dist = |r: &Representative| (r.value - centre).abs();
                    match (reps[2 * i], reps[2 * i + 1]) {
                        (Some(a), Some(b)) => Some(if dist(&b) < dist(&a) { b } else { a }),
                        (a, b) => a.or(b),
                    }
                })
                .collect();
            reps.iter_mut().for_each(|r| *r = None);
            reps[offset..offset + half].copy_from_slice(&merged);
        }
    }

    /// Finite values counted.
    pub fn count(&self) -> u64 {
        self.finite
    }

    /// Non-finite values seen (not in any bin).
    pub fn non_finite(&self) -> u64 {
        self.non_finite
    }

    /// Smallest and largest finite value, if any.
    pub fn min_max(&self) -> Option<(f64, f64)> {
        (self.finite > 0).then_some((self.min, self.max))
    }

    /// The bins from the first to the last non-empty one, as
    /// `(lower edge, upper edge, count)`.
    pub fn bins(&self) -> Vec<(f64, f64, u64)> {
        let first = self.counts.iter().position(|&c| c > 0);
        let last = self.counts.iter().rposition(|&c| c > 0);
        let (Some(first), Some(last)) = (first, last) else {
            return Vec::new();
        };
        (first..=last)
            .map(|k| {
                let a = self.lo + k as f64 * self.width;
                (a, a + self.width, self.counts[k])
            })
            .collect()
    }

    /// The q-quantile (0 ≤ q ≤ 1) of the finite values, interpolated
    /// linearly inside its bin and kept within the observed min and max;
    /// `None` when there are none.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.finite == 0 {
            return None;
        }
        let edges: Vec<f64> = (0..=self.counts.len())
            .map(|k| self.lo + k as f64 * self.width)
            .collect();
        quantile_of(&self.counts, &edges, q).map(|v| v.clamp(self.min, self.max))
    }

    /// Among the bins' representatives, the one whose value is closest to
    /// `value` (`None` without representatives or values).
    pub fn closest_representative(&self, value: f64) -> Option<Representative> {
        self.reps
            .as_ref()?
            .iter()
            .flatten()
            .min_by(|a, b| (a.value - value).abs().total_cmp(&(b.value - value).abs()))
            .copied()
    }
}

/// The q-quantile of a histogram with `counts` between `edges`
/// (`counts.len() + 1` of them), interpolated inside its bin.
fn quantile_of(counts: &[u64], edges: &[f64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let want = q.clamp(0.0, 1.0) * total as f64;
    let mut below = 0.0;
    for (k, &c) in counts.iter().enumerate() {
        let c = c as f64;
        if c > 0.0 && below + c >= want {
            let frac = ((want - below) / c).clamp(0.0, 1.0);
            return Some(edges[k] + frac * (edges[k + 1] - edges[k]));
        }
        below += c;
    }
    edges.last().copied()
}

/// One point of a [`Trend`]: an index range and its statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrendPoint {
    /// First sample index of the range.
    pub start: u64,
    /// One past the last sample index of the range.
    pub end: u64,
    /// Samples with a finite value in the range.
    pub count: u64,
    /// Median of the range.
    pub median: f64,
    /// 10th percentile of the range.
    pub p10: f64,
    /// 90th percentile of the range.
    pub p90: f64,
    /// Median of the range and its neighbours ([`ROLLING`] ranges).
    pub rolling_median: f64,
}

/// A metric against the sample index, binned (see the module doc).
#[derive(Debug, Clone)]
pub struct Trend {
    total: u64,
    ranges: usize,
    lo: f64,
    hi: f64,
    counts: Vec<u32>,
}

impl Trend {
    /// A trend over sample indices `0..total` of a metric whose values
    /// are expected in `[lo, hi]`.
    pub fn new(total: u64, lo: f64, hi: f64) -> Trend {
        let ranges = (total.min(TREND_BINS as u64) as usize).max(1);
        let (lo, hi) = if hi > lo { (lo, hi) } else { (lo, lo + 1.0) };
        Trend {
            total: total.max(1),
            ranges,
            lo,
            hi,
            counts: vec![0; ranges * TREND_LEVELS],
        }
    }

    fn range_of(&self, index: u64) -> usize {
        let r = (u128::from(index) * self.ranges as u128 / u128::from(self.total)) as usize;
        r.min(self.ranges - 1)
    }

    /// Counts `value` of sample `index` (non-finite values are skipped).
    pub fn add(&mut self, index: u64, value: f64) {
        if !value.is_finite() {
            return;
        }
        let level = ((value - self.lo) / (self.hi - self.lo) * TREND_LEVELS as f64).floor();
        let level = if level < 0.0 {
            0
        } else {
            (level as usize).min(TREND_LEVELS - 1)
        };
        let r = self.range_of(index);
        let c = &mut self.counts[r * TREND_LEVELS + level];
        *c = c.saturating_add(1);
    }

    /// First sample index of range `r`.
    fn start_of(&self, r: usize) -> u64 {
        (u128::from(self.total) * r as u128).div_ceil(self.ranges as u128) as u64
    }

    /// The points of the non-empty ranges, in index order.
    pub fn points(&self) -> Vec<TrendPoint> {
        let edges: Vec<f64> = (0..=TREND_LEVELS)
            .map(|k| self.lo + (self.hi - self.lo) * k as f64 / TREND_LEVELS as f64)
            .collect();
        let range = |r: usize| -> Vec<u64> {
            self.counts[r * TREND_LEVELS..(r + 1) * TREND_LEVELS]
                .iter()
                .map(|&c| u64::from(c))
                .collect()
        };
        let half = ROLLING / 2;
        let mut out = Vec::new();
        for r in 0..self.ranges {
            let here = range(r);
            let count: u64 = here.iter().sum();
            let (Some(median), Some(p10), Some(p90)) = (
                quantile_of(&here, &edges, 0.5),
                quantile_of(&here, &edges, 0.1),
                quantile_of(&here, &edges, 0.9),
            ) else {
                continue;
            };
            let mut window = vec![0u64; TREND_LEVELS];
            for w in r.saturating_sub(half)..(r + half + 1).min(self.ranges) {
                for (acc, c) in window.iter_mut().zip(range(w)) {
                    *acc += c;
                }
            }
            out.push(TrendPoint {
                start: self.start_of(r),
                end: self.start_of(r + 1),
                count,
                median,
                p10,
                p90,
                rolling_median: quantile_of(&window, &edges, 0.5).unwrap_or(median),
            });
        }
        out
    }

    /// The number of samples of the run (the trend's x range).
    pub fn total(&self) -> u64 {
        self.total
    }
}

/// Running arg-min and arg-max of a metric over samples.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Extremes {
    /// The smallest finite value seen and its sample.
    pub min: Option<Representative>,
    /// The largest finite value seen and its sample.
    pub max: Option<Representative>,
}

impl Extremes {
    /// Takes `value` of sample `index` into account (first one wins ties;
    /// non-finite values are ignored).
    pub fn add(&mut self, value: f64, index: u64) {
        if !value.is_finite() {
            return;
        }
        let rep = Representative { value, index };
        if self.min.is_none_or(|m| value < m.value) {
            self.min = Some(rep);
        }
        if self.max.is_none_or(|m| value > m.value) {
            self.max = Some(rep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_grows_to_take_outliers_and_keeps_every_count() {
        let mut h = Histogram::new(0.0, 1.0, 10);
        for (i, v) in [0.05, 0.15, 0.95, 1.7, -0.3, f64::NAN]
            .into_iter()
            .enumerate()
        {
            h.add(v, i as u64);
        }
        assert_eq!(h.count(), 5);
        assert_eq!(h.non_finite(), 1);
        let bins = h.bins();
        assert_eq!(bins.iter().map(|b| b.2).sum::<u64>(), 5);
        assert!(
            bins[0].0 <= -0.3 && bins.last().unwrap().1 > 1.7,
            "{bins:?}"
        );
        assert_eq!(h.min_max(), Some((-0.3, 1.7)));
    }

    #[test]
    fn histogram_quantiles_are_within_a_bin_of_the_exact_ones() {
        let mut h = Histogram::new(0.0, 1.0, 100).with_representatives();
        let values: Vec<f64> = (0..10_001).map(|i| (i as f64 / 10_000.0).powi(2)).collect();
        for (i, v) in values.iter().enumerate() {
            h.add(*v, i as u64);
        }
        let median = h.quantile(0.5).unwrap();
        assert!((median - 0.25).abs() < 0.01, "{median}");
        let rep = h.closest_representative(median).unwrap();
        assert!((rep.value - 0.25).abs() < 0.01, "{rep:?}");
        assert_eq!(values[rep.index as usize], rep.value);
        assert_eq!(h.quantile(0.0), Some(0.0));
        assert_eq!(h.quantile(1.0), Some(1.0));
    }

    #[test]
    fn unanchored_histogram_centres_on_its_first_value() {
        let mut h = Histogram::unanchored(64).with_representatives();
        for (i, v) in [-1234.5, -1250.0, -1100.0, -90_000.0]
            .into_iter()
            .enumerate()
        {
            h.add(v, i as u64);
        }
        assert_eq!(h.count(), 4);
        assert_eq!(h.min_max(), Some((-90_000.0, -1100.0)));
        assert!(h.closest_representative(-1234.0).is_some());
    }

    #[test]
    fn trend_shows_a_drift_and_its_rolling_median() {
        let total = 10_000;
        let mut t = Trend::new(total, 0.0, 1.0);
        for i in 0..total {
            // Drifts from 0.9 to 0.5, with noise spread evenly over ±0.05.
            let noise = ((i * 7919) % 101) as f64 / 100.0 - 0.5;
            let v = 0.9 - 0.4 * i as f64 / total as f64 + 0.1 * noise;
            t.add(i, v);
        }
        let p = t.points();
        assert_eq!(p.len(), TREND_BINS);
        assert_eq!(p[0].start, 0);
        assert_eq!(p.last().unwrap().end, total);
        assert_eq!(p.iter().map(|x| x.count).sum::<u64>(), total);
        assert!((p[0].median - 0.9).abs() < 0.01, "{:?}", p[0]);
        assert!((p[199].median - 0.5).abs() < 0.01, "{:?}", p[199]);
        assert!(p[100].p10 < p[100].median && p[100].median < p[100].p90);
        assert!((p[100].rolling_median - p[100].median).abs() < 0.01);
    }

    #[test]
    fn trend_of_a_few_samples_has_one_point_each() {
        let mut t = Trend::new(3, 0.0, 1.0);
        t.add(0, 0.2);
        t.add(2, 0.8);
        let p = t.points();
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].start, p[0].end, p[1].start, p[1].end), (0, 1, 2, 3));
    }

    #[test]
    fn extremes_track_arg_min_and_max() {
        let mut e = Extremes::default();
        for (i, v) in [0.5, 0.1, f64::NAN, 0.9, 0.1].into_iter().enumerate() {
            e.add(v, i as u64);
        }
        assert_eq!(e.min.map(|r| r.index), Some(1));
        assert_eq!(e.max.map(|r| r.index), Some(3));
    }
}
