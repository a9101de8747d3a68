//! Where the sample readers put what they read, as they read it.
//!
//! A reader validates the input cell by cell and hands each sample to a
//! [`SampleSink`] at once, so the sink decides where the counts live. For
//! [`read_samples`](super::read_samples) that is a plain vector
//! ([`VecSink`]); for `qtomo run` it is the shared-memory segment the
//! workers map, filled in place (`run::segment::SegmentSink`), so a large input is
//! never held twice.

#[cfg(test)]
use crate::sample_ids::SampleIdTable;

/// Why a sink could not take a sample (e.g. the shared-memory segment
/// could not grow): not a fault of the input.
pub type SinkError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Receives the samples of one input, in input order.
///
/// Counts are in the order of the expected labels: every call to
/// [`push`](Self::push) passes exactly as many as there are labels.
pub trait SampleSink {
    /// A hint, given once before the first sample when the input's size
    /// bounds them: at most `samples` samples, whose ids take at most
    /// `id_bytes` bytes in all, will follow. More is allowed, only slower.
    fn expect(&mut self, samples: usize, id_bytes: usize) -> Result<(), SinkError>;

    /// Appends a sample: its id (`None`: its 0-based number in the input,
    /// in decimal) and its counts.
    fn push(&mut self, id: Option<&str>, counts: &[f64]) -> Result<(), SinkError>;

    /// The number of samples appended.
    fn len(&self) -> usize;

    /// True before the first sample.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id of sample `index`, if appended.
    fn id(&self, index: usize) -> Option<&str>;

    /// The counts appended so far, row-major (samples × labels), to fill in
    /// or reorder in place.
    fn counts_mut(&mut self) -> Result<&mut [f64], SinkError>;
}

/// `n` in decimal, in `buf`.
pub(crate) fn decimal(n: usize, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

/// The bytes that the decimal numbers `0..n` take in all.
pub(crate) fn decimal_bytes(n: usize) -> usize {
    let mut total = 0usize;
    let mut digits = 1;
    let mut low = 0usize;
    while low < n {
        let high = low.saturating_mul(10).max(10).min(n);
        total = total.saturating_add((high - low).saturating_mul(digits));
        low = high;
        digits += 1;
    }
    total
}

/// The counts of a batch of samples, columns in the order of the expected
/// labels.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SampleBatch {
    /// One id per sample: the `sample` column, or the 0-based sample number
    /// as a string when the file has none (always so for NPY).
    pub ids: Vec<String>,
    /// Row-major `n_samples × n_outcomes` counts, each finite and
    /// non-negative. An all-zero row is allowed here; it fails later, per
    /// sample.
    pub counts: Vec<f64>,
    /// Number of samples (at least 1).
    pub n_samples: usize,
    /// Number of outcomes (the number of expected labels).
    pub n_outcomes: usize,
}

#[cfg(test)]
impl SampleBatch {
    /// The counts of sample `i` (0-based), in expected-label order.
    ///
    /// # Panics
    ///
    /// If `i >= self.n_samples`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.counts[i * self.n_outcomes..(i + 1) * self.n_outcomes]
    }
}

/// A sink that keeps everything in this process's memory (for tests of
/// the readers).
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct VecSink {
    n_outcomes: usize,
    counts: Vec<f64>,
    ids: SampleIdTable,
}

#[cfg(test)]
impl VecSink {
    /// An empty sink for samples of `n_outcomes` counts.
    pub(crate) fn new(n_outcomes: usize) -> Self {
        Self {
            n_outcomes,
            ..Self::default()
        }
    }

    /// The samples read, as a batch.
    pub(crate) fn into_batch(self) -> SampleBatch {
        let view = self.ids.ids();
        let ids = (0..view.len())
            .map(|i| view.get(i).unwrap_or_default().to_owned())
            .collect();
        SampleBatch {
            n_samples: view.len(),
            ids,
            counts: self.counts,
            n_outcomes: self.n_outcomes,
        }
    }
}

#[cfg(test)]
impl SampleSink for VecSink {
    fn expect(&mut self, _samples: usize, _id_bytes: usize) -> Result<(), SinkError> {
        // A bound can be twice the real size; a vector would commit it.
        Ok(())
    }

    fn push(&mut self, id: Option<&str>, counts: &[f64]) -> Result<(), SinkError> {
        debug_assert_eq!(counts.len(), self.n_outcomes);
        let mut buf = [0u8; 20];
        let index = self.ids.len();
        self.ids
            .push(id.unwrap_or_else(|| decimal(index, &mut buf)));
        self.counts.extend_from_slice(counts);
        Ok(())
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    fn id(&self, index: usize) -> Option<&str> {
        crate::sample_ids::id_at(self.ids.text_bytes(), self.ids.end_bytes(), index)
    }

    fn counts_mut(&mut self) -> Result<&mut [f64], SinkError> {
        Ok(&mut self.counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        let mut buf = [0u8; 20];
        assert_eq!(decimal(0, &mut buf), "0");
        assert_eq!(decimal(1_234_567, &mut buf), "1234567");
        assert_eq!(decimal(usize::MAX, &mut buf), usize::MAX.to_string());
        for n in [0, 1, 9, 10, 11, 99, 100, 12_345] {
            let want: usize = (0..n).map(|i| i.to_string().len()).sum();
            assert_eq!(decimal_bytes(n), want, "{n}");
        }
    }

    #[test]
    fn vec_sink_numbers_samples_without_ids() {
        let mut sink = VecSink::new(2);
        sink.push(None, &[1.0, 2.0]).expect("push");
        sink.push(Some("x"), &[3.0, 4.0]).expect("push");
        sink.push(None, &[5.0, 6.0]).expect("push");
        assert_eq!(sink.id(2), Some("2"));
        sink.counts_mut().expect("counts")[0] = 9.0;
        let b = sink.into_batch();
        assert_eq!(b.ids, ["0", "x", "2"]);
        assert_eq!(b.counts, [9.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!((b.n_samples, b.n_outcomes), (3, 2));
    }
}
