//! What the run level does with how a run ended.
//!
//! Both executors (in-process and pool) end with the one [`Outcome`] type,
//! which the pool's state machine finishes with. summary.json records it
//! as a [`RunOutcome`] (the stored form, which also reads statuses written
//! by other versions), derived from it by [`Outcome::stored`] once
//! [`Outcome::settle`] has checked the log.

use crate::store::RunOutcome;
pub(crate) use crate::supervisor::state::Outcome;

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
        assert_eq!(Outcome::Interrupted.stored(), RunOutcome::Interrupted);
    }
}
