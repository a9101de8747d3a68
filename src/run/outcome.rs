//! How a run ended: the one outcome type of the run level.
//!
//! Both executors (in-process and pool) end with an [`Outcome`]; the pool's
//! state machine reports its own finish as a
//! [`PoolStatus`](crate::supervisor::state::PoolStatus), turned into an
//! [`Outcome`] here in one place. summary.json records the outcome as a
//! [`RunOutcome`] (the stored form, which also reads statuses written by
//! other versions), derived from it by [`Outcome::settle`].

use crate::store::RunOutcome;
use crate::supervisor::state::PoolStatus;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every pending sample was attempted.
    Complete,
    /// Stopped by a signal (or left samples without a record); resumable.
    Interrupted,
    /// Stopped by a fatal condition, with its reason.
    Aborted(String),
}

impl From<PoolStatus> for Outcome {
    fn from(status: PoolStatus) -> Self {
        match status {
            PoolStatus::Complete => Outcome::Complete,
            PoolStatus::Interrupted => Outcome::Interrupted,
            PoolStatus::Aborted { reason } => Outcome::Aborted(reason),
        }
    }
}

impl Outcome {
    /// The outcome once the log has been recounted: an execution that
    /// completed but left a sample of the range without a record is
    /// interrupted (a rerun resumes it).
    pub(crate) fn settle(self, attempted_all: bool) -> Self {
        match self {
            Outcome::Complete if !attempted_all => Outcome::Interrupted,
            other => other,
        }
    }

    /// The status summary.json records.
    pub(crate) fn stored(&self) -> RunOutcome {
        match self {
            Outcome::Complete => RunOutcome::Complete,
            Outcome::Interrupted => RunOutcome::Interrupted,
            Outcome::Aborted(_) => RunOutcome::Aborted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_execution_with_samples_left_is_interrupted() {
        assert_eq!(Outcome::Complete.settle(true), Outcome::Complete);
        assert_eq!(Outcome::Complete.settle(false), Outcome::Interrupted);
        let aborted = Outcome::Aborted("disk full".into());
        assert_eq!(aborted.clone().settle(false), aborted);
        assert_eq!(aborted.stored(), RunOutcome::Aborted);
        assert_eq!(
            Outcome::from(PoolStatus::Interrupted).stored(),
            RunOutcome::Interrupted
        );
    }
}
