//! The worker process's entry: `qtomo __worker`, started by the pool.
//!
//! The supervisor ([`run_pool`](crate::supervisor::pool::run_pool)) starts
//! this binary with the shared segment's descriptor, a scoreboard, an IPC
//! server name and the results log path in its environment. [`main`] maps
//! the segment read-only, binds the [`Job`](super::job::Job) it describes
//! ([`super::segment`]), and hands it to
//! [`serve_worker`], which computes each sample it is sent and appends the
//! records to the log.

use crate::run::segment::{self, SegmentError};
use crate::supervisor::worker_loop::{EXIT_LOG_FAILED, RESULTS_LOG_ENV, WorkerError, serve_worker};

/// Why a worker could not start or serve.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WorkerMainError {
    /// Not started by `qtomo run`.
    #[error("{RESULTS_LOG_ENV} is not set (qtomo __worker is started by qtomo run)")]
    NoLog,
    /// The segment could not be read.
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// Serving the supervisor failed (other than the log).
    #[error("serving the supervisor")]
    Serve(#[source] WorkerError),
}

/// Runs the worker; returns its exit code ([`EXIT_LOG_FAILED`] when the
/// results log cannot be written: a restart would not help).
pub(crate) fn main() -> Result<u8, WorkerMainError> {
    crate::supervisor::process::name_process_after_arg0();
    #[cfg(feature = "fault-injection")]
    crate::supervisor::fault::Faults::from_env().at_start();
    let log = std::env::var_os(RESULTS_LOG_ENV).ok_or(WorkerMainError::NoLog)?;
    let seg = segment::open_inherited()?;
    let plan = segment::decode_plan(&seg)?;
    let mut job = segment::bind_job(&seg, &plan)?;
    match serve_worker(&mut job, std::path::Path::new(&log)) {
        Ok(()) => Ok(0),
        Err(e @ WorkerError::Log { .. }) => {
            crate::say_error!(
                "qtomo: worker {}: error: {:#}",
                std::process::id(),
                anyhow::Error::new(e)
            );
            Ok(EXIT_LOG_FAILED as u8)
        }
        Err(e) => Err(WorkerMainError::Serve(e)),
    }
}
