//! `qtomo report`: one self-contained HTML page about a run directory.
//!
//! The page has a summary of the run, per method the histograms of its
//! metrics, trends of the drift-prone metrics against the sample index
//! (binned, with a rolling median), density-matrix plots (city plots and
//! Hinton diagrams of Re ρ and Im ρ, the target overlaid) of the best,
//! median and worst samples and of any sample asked for, and the failed
//! samples with their errors. It needs no network and no JavaScript: the
//! plots are inline SVG drawn with `plotters`, the style is inline CSS.
//!
//! The run is read once, streaming ([`gather`]): the statistics are binned
//! and only the few samples to draw are read again, so the report of a
//! run of a million samples takes the time of one pass over its log and
//! its size does not depend on the number of samples.
//!
//! # Layout
//!
//! * `metric.rs`: [`Metric`], what can be plotted and how it is read.
//! * `stats.rs`: streaming [`Histogram`](stats::Histogram),
//!   [`Trend`](stats::Trend) and [`Extremes`](stats::Extremes).
//! * `timeaxis.rs`: sample ids that are timestamps, for the trends' axis.
//! * `gather.rs`: the one pass over the run ([`gather`], [`ReportData`]).
//! * `plots/`: one kind of plot per file, each an SVG string.
//! * `html.rs`: the page ([`html`]).

#![deny(missing_docs)]

mod gather;
mod html;
mod metric;
pub mod plots;
pub mod stats;
pub mod timeaxis;

use std::path::{Path, PathBuf};

pub use gather::{ReportTarget, gather};
pub use html::html;
pub use plots::PlotError;

use crate::atomic::AtomicWriteError;
use crate::store::ExportError;

/// What a report shows besides the defaults.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Samples to draw besides the best, median and worst (`--sample`).
    pub samples: Vec<u64>,
    /// The target to measure fidelity against and to overlay.
    pub target: Option<ReportTarget>,
}

/// Errors making a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The run directory could not be read (or is not one).
    #[error(transparent)]
    Read(#[from] ExportError),
    /// A `--sample` outside the run.
    #[error(
        "--sample {index}: the run in {dir} has {total} samples, so the index must be below {total}"
    )]
    SampleOutOfRange {
        /// The index asked for.
        index: u64,
        /// The run directory.
        dir: PathBuf,
        /// The run's number of samples.
        total: u64,
    },
    /// A plot could not be drawn.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// The page could not be written.
    #[error(transparent)]
    Write(#[from] AtomicWriteError),
}

impl ReportError {
    /// True for mistakes in what was asked (a folder that is not a run
    /// directory, a `--sample` outside the run): exit 2, nothing written.
    pub fn is_refusal(&self) -> bool {
        match self {
            ReportError::Read(e) => e.is_refusal(),
            ReportError::SampleOutOfRange { .. } => true,
            _ => false,
        }
    }
}

/// Statistics of a written report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportStats {
    /// Bytes of HTML.
    pub bytes: usize,
    /// Samples with a result.
    pub ok: u64,
    /// Failed samples.
    pub failed: u64,
    /// Samples without a result yet.
    pub missing: u64,
    /// SVG plots in the page.
    pub plots: usize,
}

/// Reads the run in `dir` and writes its report to `out` (atomically: a
/// temporary file beside it, renamed into place).
pub fn write_report(
    dir: &Path,
    options: &ReportOptions,
    out: &Path,
) -> Result<ReportStats, ReportError> {
    let data = gather(dir, options)?;
    let page = html(&data)?;
    crate::atomic::atomic_write(out, page.as_bytes())?;
    Ok(ReportStats {
        bytes: page.len(),
        ok: data.counts.ok,
        failed: data.counts.failed,
        missing: data.counts.missing,
        plots: page.matches("<svg").count(),
    })
}

/// An error and its causes as one line.
pub(crate) fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}
