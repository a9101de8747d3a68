//! Why a run stopped with an error (rather than with an [`Outcome`]).
//!
//! Each variant names the step that failed and carries the cause as its
//! source, so the command line prints the chain once and finds the exit
//! code in it (a refused run directory is a usage error, exit 2; the rest
//! exit 1).
//!
//! [`Outcome`]: super::outcome::Outcome

use std::path::PathBuf;

/// A run's fatal error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    /// The signal handlers could not be installed.
    #[error("installing signal handlers")]
    InstallSignals(#[source] crate::supervisor::signals::SignalError),
    /// The signal handler could not be read.
    #[error("waiting for signals")]
    WaitSignals(#[source] crate::supervisor::signals::SignalError),
    /// The input reader thread could not be started.
    #[error("starting the input reader thread")]
    IngestThread(#[source] std::io::Error),
    /// The input reader thread panicked.
    #[error("reading the input failed unexpectedly (panic)")]
    IngestPanicked,
    /// The run directory could not be opened, or was refused.
    #[error("cannot use run directory {}{hint}", dir.display())]
    OpenDir {
        /// `--out`.
        dir: PathBuf,
        /// What to do about it, when there is something (`; rerun with …`).
        hint: &'static str,
        /// Why.
        #[source]
        source: crate::store::RunDirError,
    },
    /// The job could not be bound to the segment.
    #[error(transparent)]
    Segment(#[from] super::segment::SegmentError),
    /// The results log could not be opened (in-process execution).
    #[error("opening the results log")]
    OpenLog(#[source] crate::store::LogError),
    /// The threads of `--threads-per-worker` could not be started
    /// (in-process execution).
    #[error("starting the threads of --threads-per-worker")]
    Threads(#[source] crate::tomo::parallel::ThreadsError),
    /// The running executable could not be found for the workers.
    #[error("locating the qtomo executable for workers")]
    LocateExe(#[source] std::io::Error),
    /// The pool itself failed.
    #[error("running the worker pool")]
    Pool(#[source] crate::supervisor::pool::PoolError),
    /// The results log could not be read back for the summary.
    #[error("re-reading the results log")]
    Reread(#[source] crate::store::ResumeError),
    /// summary.json could not be written.
    #[error("writing summary.json")]
    Summary(#[source] crate::store::SummaryError),
    /// The run aborted and its summary could not be written either (the
    /// abort's reason is the message that matters).
    #[error("run aborted: {reason}")]
    AbortedWithoutSummary {
        /// Why the run aborted.
        reason: String,
    },
}
