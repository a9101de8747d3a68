//! Opening the run directory: lock, fingerprint check, resume state,
//! repairs reported, and which samples of the range are still pending.

use super::error::RunError;
use super::plan::RunPlan;
use crate::store::{self, OpenMode, OpenRun, ResumeState};
use std::time::Instant;

/// An open run directory and the samples this invocation still has to run.
pub(crate) struct Resumed {
    /// The directory, its lock and its resume state.
    pub open: OpenRun,
    /// The samples of the plan's range without a record (or, with
    /// `--retry-failed`, with a failed one), in index order.
    pub pending: Vec<u64>,
    /// When the directory was opened: the run's clock starts here.
    pub started: Instant,
}

/// Opens (or creates) `plan.out` for this plan: refuses a directory made
/// from other input or options unless `--fresh`, repairs a damaged log
/// (and warns about what it removed), and lists the pending samples.
pub(crate) fn open(plan: &RunPlan) -> Result<Resumed, RunError> {
    let started = Instant::now();
    let mode = if plan.fresh {
        OpenMode::Fresh
    } else {
        OpenMode::Resume
    };
    let open = store::open_run(&plan.out, plan.fingerprint.clone(), plan.n_samples, mode).map_err(
        |source| RunError::OpenDir {
            dir: plan.out.clone(),
            hint: match &source {
                store::RunDirError::FingerprintMismatch { .. } => {
                    "; rerun with --fresh to discard the previous results, or choose another --out"
                }
                _ => "",
            },
            source,
        },
    )?;
    if !open.repaired_damage.is_empty() {
        let bytes: u64 = open.repaired_damage.iter().map(|r| r.len).sum();
        let regions: Vec<String> = open
            .repaired_damage
            .iter()
            .map(|r| format!("{} bytes at byte offset {} ({})", r.len, r.offset, r.defect))
            .collect();
        tracing::warn!(
            regions = open.repaired_damage.len(),
            bytes,
            "results.log was damaged: removed {} damaged region(s): {}; the samples recorded there are recomputed",
            open.repaired_damage.len(),
            regions.join("; ")
        );
    }
    if let Some(tail) = &open.repaired_tail {
        tracing::warn!(
            offset = tail.offset,
            bytes = tail.len,
            "truncated a torn record at the end of the results log (an interrupted write); that sample will be recomputed"
        );
    }
    let pending = plan
        .range
        .clone()
        .filter(|&i| needs_run(&open.resume, i, plan.retry_failed))
        .collect();
    Ok(Resumed {
        open,
        pending,
        started,
    })
}

/// Whether sample `i` still has to run.
fn needs_run(state: &ResumeState, i: u64, retry_failed: bool) -> bool {
    match state.status(i) {
        Some(store::IndexStatus::Ok) => false,
        Some(store::IndexStatus::Failed) => retry_failed,
        _ => true,
    }
}
