//! Reading inputs for `qtomo run` and writing sample files.
//!
//! [`read_samples`] reads the per-sample counts (CSV or NPY, see the
//! command-line contract in DESIGN.md) into a [`SampleBatch`] whose columns
//! follow the measurement set's labels; [`read_kets_csv`] reads a custom
//! measurement set given as kets. Both validate the whole file before
//! returning and report problems as an [`InputError`] that names the file,
//! the 1-based line and column, and what was expected. Nothing here writes
//! except [`write_samples_csv`] / [`write_samples_npy`], which produce files
//! in the same formats (atomically) for simulated data.
//!
//! # Layout
//!
//! * `error` — [`InputError`], [`OutputError`], [`Location`] and the label
//!   diff carried by a header mismatch.
//! * `input` — [`read_samples`], [`read_samples_into`], [`InputOptions`],
//!   [`SampleBatch`]; picks the format.
//! * `sink` — [`SampleSink`]: where a reader puts each sample as soon as it
//!   is checked (a vector, or the shared segment of `qtomo run`).
//! * `source` — opening a file: not found / directory / empty checks, format
//!   sniffing bytes.
//! * `csv_text` — CSV tokenizing shared by the sample and ket readers.
//! * `csv_input` — CSV samples, by row or transposed.
//! * `npy_input` — NPY samples.
//! * `labels` — matching header names to labels; edit-distance suggestions.
//! * `cell` — parsing and validating one number or text cell.
//! * `kets` — [`read_kets_csv`] and [`KetTable`].
//! * `model_file` — the float64 NPY arrays of a measurement model
//!   (`--readout`, `--scale`).
//! * `output` — [`write_samples_csv`], [`write_samples_npy`].
//! * `kwiat` — Kwiat Quantum-Tomography JSON data and TOML options
//!   ([`kwiat::for_each_sample`]).

mod cell;
mod csv_input;
mod csv_text;
mod error;
mod input;
mod kets;
pub mod kwiat;
mod labels;
pub mod model_file;
mod npy_input;
mod options;
mod output;
mod sink;
mod source;

#[cfg(test)]
mod tests;

#[cfg(test)]
pub use error::Location;
pub use error::{InputError, OutputError};
#[cfg(test)]
pub use input::read_samples;
pub use input::read_samples_into;
pub use kets::read_kets_csv;
pub use npy_input::check_npy_size;
pub use options::{ColumnMode, InputFormat, InputOptions};
pub use output::{write_samples_csv, write_samples_csv_to, write_samples_npy};
#[cfg(test)]
pub use sink::SampleBatch;
pub(crate) use sink::decimal;
pub use sink::{SampleSink, SinkError};
pub(crate) use source::open_input;

pub use csv_text::sniff_delimiter;
pub use npy_input::npy_shape;
