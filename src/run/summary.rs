//! The end of a run: recount its range from the results log (the log is
//! the truth), settle the [`Outcome`], and write `summary.json`, whatever
//! happened.

use super::error::RunError;
use super::execute::Executed;
use super::outcome::Outcome;
use super::plan::RunPlan;
use crate::store::{self, ResumeState, RunOutcome, Summary};
use std::path::Path;
use std::time::Instant;

/// What a finished run reports to the command line.
#[derive(Debug)]
pub(crate) struct Report {
    /// How it ended, settled against the log.
    pub outcome: Outcome,
    /// Samples in the run's range.
    pub total: u64,
    /// Of those, with an ok record.
    pub succeeded: u64,
    /// Of those, with a failed record.
    pub failed: u64,
    /// Seconds this invocation took (from the opened run directory on).
    pub elapsed_s: f64,
    /// Nothing was left to compute, and the summary of the run that did
    /// the work was kept as it was.
    pub summary_kept: bool,
}

/// Recounts the range from `log`, writes summary.json (or keeps the one
/// there when nothing was computed and it says the same), and reports.
/// `done` is the number of samples this invocation processed, since
/// `started`.
pub(crate) fn conclude(
    plan: &RunPlan,
    log: &Path,
    executed: Executed,
    planned: usize,
    done: u64,
    started: Instant,
) -> Result<Report, RunError> {
    let range = plan.range.clone();
    let total = range.end - range.start;
    let state = ResumeState::from_log(log, plan.n_samples)
        .map_err(RunError::Reread)?
        .state;
    let mut succeeded = 0;
    let mut failed_indices = Vec::new();
    for i in range {
        match state.status(i) {
            Some(store::IndexStatus::Ok) => succeeded += 1,
            Some(store::IndexStatus::Failed) => failed_indices.push(i),
            _ => {}
        }
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    let attempted_all = succeeded + failed_indices.len() as u64 == total;
    let outcome = executed.outcome.settle(attempted_all);
    let report = Report {
        outcome,
        total,
        succeeded,
        failed: failed_indices.len() as u64,
        elapsed_s,
        summary_kept: false,
    };
    // Nothing was computed: the summary of the run that did the work (its
    // time, rate, workers) stays, if it says the same.
    if planned == 0
        && report.outcome == Outcome::Complete
        && let Ok(Some(previous)) = Summary::read(&plan.out)
        && previous.status == RunOutcome::Complete
        && previous.total == total
        && previous.failed_indices == failed_indices
    {
        return Ok(Report {
            summary_kept: true,
            ..report
        });
    }
    let summary = Summary {
        status: report.outcome.stored(),
        total,
        succeeded,
        failed: report.failed,
        failed_indices,
        elapsed_s,
        // Over the samples this invocation processed, not those it planned:
        // an interrupted run stops early.
        samples_per_s: if elapsed_s > 0.0 {
            done as f64 / elapsed_s
        } else {
            0.0
        },
        workers: executed.workers as u32,
        worker_restarts: executed.restarts,
        methods: plan.job.methods.clone(),
        basis: plan.set.info().name.clone(),
        dim: plan.set.dim() as u32,
        log_write_errors: crate::stderr::write_errors(),
    };
    if let Err(e) = summary.write(&plan.out) {
        // On an abort (e.g. a full disk) the abort's reason is the message
        // that matters; a summary that cannot be written is secondary.
        if let Outcome::Aborted(reason) = report.outcome {
            tracing::error!("could not write summary.json: {e:#}");
            return Err(RunError::AbortedWithoutSummary { reason });
        }
        return Err(RunError::Summary(e));
    }
    Ok(report)
}
