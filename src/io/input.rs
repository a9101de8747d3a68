//! The entry point for `qtomo run` inputs: [`read_samples`], its options and
//! the [`SampleBatch`] it returns. Picks the format and hands off to the CSV
//! or NPY reader.

use std::path::Path;

use super::error::InputError;
use super::sink::SampleSink;
#[cfg(test)]
use super::sink::VecSink;
use super::source::{NPY_MAGIC, open_input};
use super::{csv_input, npy_input};

/// Which file format to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputFormat {
    /// NPY if the file starts with the NPY magic bytes or is named `*.npy`,
    /// CSV otherwise.
    #[default]
    Auto,
    /// Comma-separated text (tab-separated when the file is named `*.tsv`).
    Csv,
    /// A NumPy `.npy` array.
    Npy,
}

/// How CSV columns are matched to the expected labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColumnMode {
    /// By header name, in any order.
    #[default]
    Labels,
    /// By position: the header is still required, but its names are
    /// ignored; the count columns (after an optional first `sample` column)
    /// are taken in the order of the expected labels and their number must
    /// match. NPY input is always positional.
    Positional,
}

/// Options for [`read_samples`] (the `--format`, `--transposed` and
/// `--columns` flags of `qtomo run`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InputOptions {
    /// The file format.
    pub format: InputFormat,
    /// One sample per column instead of per row. In CSV the first column
    /// holds the labels and the header row holds the sample ids; an NPY
    /// array is read as outcomes × samples.
    pub transposed: bool,
    /// How columns (rows, when transposed) are matched to labels.
    pub columns: ColumnMode,
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

/// Reads the sample counts of `path`, mapping its columns to
/// `expected_labels` (which must be distinct).
///
/// CSV: a header row, then one sample per row. A column named `sample`
/// holds the ids (with [`ColumnMode::Labels`] it may be anywhere, with
/// [`ColumnMode::Positional`] only first); every other column must be one
/// of the expected labels, each exactly once. Fields are trimmed, blank
/// lines skipped, a UTF-8 byte-order mark ignored; `*.tsv` is tab-separated.
///
/// Validates everything up front: on any problem (missing file, directory,
/// empty file, missing header, unknown or missing labels, a malformed row,
/// a negative, NaN, infinite or non-numeric count, a duplicate id, no
/// samples) it returns an [`InputError`] naming the file and, where it
/// applies, the 1-based line and column. Never writes anything.
#[cfg(test)]
pub fn read_samples(
    path: &Path,
    expected_labels: &[String],
    opts: &InputOptions,
) -> Result<SampleBatch, InputError> {
    let mut sink = VecSink::new(expected_labels.len());
    read_samples_into(path, expected_labels, opts, &mut sink)?;
    Ok(sink.into_batch())
}

/// Reads the sample counts of `path` as [`read_samples`] does, handing
/// each sample to `sink` as soon as it is read and checked instead of
/// collecting them, so that they can go straight to where they will be
/// used (the shared segment of `qtomo run`).
///
/// On an error the sink may hold the samples before it; the caller drops
/// them. A sink that cannot take a sample ends the read with
/// [`InputError::Storage`].
pub fn read_samples_into<S: SampleSink>(
    path: &Path,
    expected_labels: &[String],
    opts: &InputOptions,
    sink: &mut S,
) -> Result<(), InputError> {
    let source = open_input(path, "one row per sample")?;
    let format = match opts.format {
        InputFormat::Auto => {
            let npy_name = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
            if source.head.starts_with(NPY_MAGIC) || npy_name {
                InputFormat::Npy
            } else {
                InputFormat::Csv
            }
        }
        explicit => explicit,
    };
    match format {
        InputFormat::Npy => npy_input::read_npy(path, source.reader, expected_labels, opts, sink),
        InputFormat::Csv | InputFormat::Auto => {
            csv_input::read_csv(path, source.reader, source.len, expected_labels, opts, sink)
        }
    }
}
