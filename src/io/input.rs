//! The entry point for `qtomo run` inputs: [`read_samples`], its options and
//! the [`SampleBatch`] it returns. Picks the format and hands off to the CSV
//! or NPY reader.

use std::path::Path;

use super::error::InputError;
use super::options::{InputFormat, InputOptions};
#[cfg(test)]
use super::sink::SampleBatch;
use super::sink::SampleSink;
#[cfg(test)]
use super::sink::VecSink;
use super::source::{NPY_MAGIC, open_input};
use super::{csv_input, npy_input};

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
