//! The exit codes of `qtomo`, in one place.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | complete, every sample ok |
//! | 1 | fatal: restart intensity exceeded, I/O error, internal error |
//! | 2 | usage or input error; nothing was written |
//! | 3 | complete, but some samples failed (listed in summary.json) |
//! | 75 | interrupted by a signal; rerun the same command to resume (EX_TEMPFAIL) |

/// Complete, every sample ok.
pub(crate) const OK: u8 = 0;
/// Fatal error (restart intensity exceeded, I/O error).
pub(crate) const FATAL: u8 = 1;
/// Usage or input error; nothing was written.
pub(crate) const USAGE: u8 = 2;
/// Complete with failed samples.
pub(crate) const FAILED_SAMPLES: u8 = 3;
/// Interrupted by a signal; resumable (sysexits EX_TEMPFAIL).
pub(crate) const INTERRUPTED: u8 = 75;
