//! `qtomo __worker`: the hidden subcommand a pool worker process runs.
//!
//! The supervisor ([`run_pool`](crate::supervisor::pool::run_pool)) starts
//! this binary with the shared segment's descriptor, a scoreboard, an IPC
//! server name and the results log path in its environment. The worker maps
//! the segment read-only (verifying magic, version and checksum), decodes
//! the plan, binds a [`Job`] to the mapped matrices and counts, and serves
//! chunks until told to stop.

use anyhow::Context;

use crate::job::{Job, Plan};
use crate::sample_ids::{SampleIdTable, SampleIds};
use crate::store::SampleRecord;
use crate::supervisor::shm::{SEGMENT_FD_ENV, Segment, SegmentBuilder, SegmentView};
use crate::supervisor::worker_loop::{
    EXIT_LOG_FAILED, RESULTS_LOG_ENV, SampleCompute, WorkerError, serve_worker,
};
use crate::tomo::{MeasurementSet, SetView};

/// Segment section names shared with `cli::run`.
pub mod sections {
    /// The projector matrix A.
    pub const A: &str = "a";
    /// Its pseudo-inverse.
    pub const PINV: &str = "pinv";
    /// MLE rows (only for ungrouped sets; grouped sets use A).
    pub const MLE_ROWS: &str = "mle_rows";
    /// The N×M counts.
    pub const COUNTS: &str = "counts";
    /// The postcard-encoded [`Plan`](crate::job::Plan).
    pub const PLAN: &str = "plan";
    /// The sample ids' bytes, back to back ([`SampleIdTable`](crate::sample_ids::SampleIdTable)).
    pub const IDS_TEXT: &str = "ids_text";
    /// Their end offsets, little-endian u64.
    pub const IDS_ENDS: &str = "ids_ends";
}

/// Builds the read-only segment workers map: A, A⁺, MLE rows (ungrouped
/// sets only), the N×M counts, the encoded plan and the sample ids.
pub fn build_segment(
    set: &MeasurementSet,
    counts: &[f64],
    plan: &Plan,
    ids: &SampleIdTable,
) -> anyhow::Result<Segment> {
    let plan_bytes = postcard::to_stdvec(plan).context("encoding the plan")?;
    let mut builder = SegmentBuilder::new()
        .section(sections::A, set.a())
        .section(sections::PINV, set.pinv())
        .section(sections::COUNTS, counts)
        .bytes(sections::PLAN, &plan_bytes)
        .bytes(sections::IDS_TEXT, ids.text_bytes())
        .bytes(sections::IDS_ENDS, ids.end_bytes());
    if !set.info().is_grouped() {
        builder = builder.section(sections::MLE_ROWS, set.mle_rows());
    }
    builder
        .build()
        .context("building the shared-memory segment")
}

struct Compute<'a>(Job<'a>);

impl SampleCompute for Compute<'_> {
    fn compute(&mut self, index: u64, attempt: u32) -> SampleRecord {
        self.0.compute(index, attempt + 1)
    }
}

/// Runs the worker; returns the exit code.
pub fn run() -> anyhow::Result<u8> {
    crate::supervisor::process::name_process_after_arg0();
    #[cfg(feature = "fault-injection")]
    crate::supervisor::fault::Faults::from_env().at_start();
    let log = std::env::var_os(RESULTS_LOG_ENV).with_context(|| {
        format!("{RESULTS_LOG_ENV} is not set (qtomo __worker is started by qtomo run)")
    })?;
    let seg = SegmentView::open_inherited(SEGMENT_FD_ENV).context("mapping the shared segment")?;
    let plan: Plan = postcard::from_bytes(seg.bytes_section(sections::PLAN)?)
        .context("decoding the plan from the shared segment")?;
    let a = seg.f64_section(sections::A)?;
    let pinv = seg.f64_section(sections::PINV)?;
    let mle_rows = match seg.f64_section(sections::MLE_ROWS) {
        Ok(rows) => rows,
        Err(_) => a,
    };
    let counts = seg.f64_section(sections::COUNTS)?;
    let view = SetView::new(&plan.set, a, pinv, mle_rows).context("binding the shared matrices")?;
    let ids = SampleIds::from_parts(
        seg.bytes_section(sections::IDS_TEXT)?,
        seg.bytes_section(sections::IDS_ENDS)?,
    )
    .context("reading the sample ids from the shared segment")?;
    let job = Job::new(&plan, view, counts, ids).context("preparing the job")?;
    match serve_worker(&mut Compute(job), std::path::Path::new(&log)) {
        Ok(()) => Ok(0),
        Err(e @ WorkerError::Log { .. }) => {
            crate::say_error!(
                "qtomo: worker {}: error: {:#}",
                std::process::id(),
                anyhow::Error::new(e)
            );
            Ok(EXIT_LOG_FAILED as u8)
        }
        Err(e) => Err(anyhow::Error::new(e).context("serving the supervisor")),
    }
}
