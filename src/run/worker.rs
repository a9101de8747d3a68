//! The worker process's entry: `qtomo __worker`, started by the pool.
//!
//! The supervisor ([`run_pool`](crate::supervisor::pool::run_pool)) starts
//! this binary with the shared segment's descriptor, a scoreboard, an IPC
//! server name and the results log path in its environment. [`main`] maps
//! the segment read-only, binds the [`Job`](super::job::Job) it describes
//! ([`super::segment`]), and hands it to
//! [`serve_worker`], which computes each sample it is sent and appends the
//! records to the log.

use crate::run::execute::THREADS_ENV;
use crate::run::segment::{self, SegmentError};
use crate::supervisor::worker_loop::{EXIT_LOG_FAILED, RESULTS_LOG_ENV, WorkerError, serve_worker};
use crate::tomo::parallel::{Threads, ThreadsError};
use std::num::NonZeroUsize;

/// Why a worker could not start or serve.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WorkerMainError {
    /// Not started by `qtomo run`.
    #[error("{RESULTS_LOG_ENV} is not set (qtomo __worker is started by qtomo run)")]
    NoLog,
    /// The segment could not be read.
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// The thread count in the environment is not a positive number.
    #[error("{THREADS_ENV}={value:?}: expected a positive number of threads")]
    BadThreads {
        /// The value found.
        value: String,
    },
    /// The threads for one sample could not be started.
    #[error(transparent)]
    Threads(#[from] ThreadsError),
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
    job.set_threads(threads_from_env()?);
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

/// The threads for one sample that the supervisor resolved
/// (`--threads-per-worker`), from [`THREADS_ENV`]; one without it. The
/// pool's threads are started here, after the signal dispositions the
/// worker inherited and before [`serve_worker`] installs its own, which
/// are process-wide: any thread may run the SIGTERM handler (it only sets a
/// flag), and no thread blocks signals.
fn threads_from_env() -> Result<Threads, WorkerMainError> {
    let Some(value) = std::env::var_os(THREADS_ENV) else {
        return Ok(Threads::sequential());
    };
    let value = value.to_string_lossy().into_owned();
    let n = value
        .parse::<NonZeroUsize>()
        .map_err(|_| WorkerMainError::BadThreads { value })?;
    Ok(Threads::new(n)?)
}
