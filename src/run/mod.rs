//! One run, from plan to summary: what `qtomo run` does once its
//! arguments are parsed.
//!
//! # Layout
//!
//! * `plan.rs`: from parsed options to a plan: the input read into the
//!   segment, the job's plan sealed into it, the fingerprint.
//! * [`segment`]: the segment's layout, both sides of the shared-memory
//!   contract (what the supervisor writes, what a worker reads).
//! * [`job`]: the unit of work, one sample's counts in, one record out.
//! * [`sample_model`]: per-sample measurement models, each sample's own
//!   set built from the base set and its rows of the segment.
//! * `resume.rs`: opening the run directory and finding the pending samples.
//! * `execute.rs`: executing them in process or over the worker pool.
//! * `session.rs`: the process-wide part of a run: signal handlers, systemd
//!   notifications, reading the input interruptibly, execute then conclude.
//! * `worker.rs`: the worker process's entry (`qtomo __worker`).
//! * `outcome.rs`: how a run ended: the one `Outcome` type (which the
//!   pool's state machine also finishes with), settled against the log and
//!   turned into its stored form.
//! * `summary.rs`: recounting from the log and writing summary.json.
//! * `progress.rs`: the progress bar or status lines; `error.rs`: why a run
//!   stopped with an error.
//!
//! # One sample, from the command line to the log
//!
//! 1. `bin/qtomo.rs` calls `cli::run()`, which parses; `cli/run.rs`
//!    resolves `--basis` to a set and reads the input with `Ingest::read`:
//!    sample *i*'s counts and id go straight into the segment
//!    (`SegmentSink`); `RunPlan::new` seals the segment with the job's
//!    [`Plan`](job::Plan) and fingerprints the run.
//! 2. `resume::open` opens the run directory (lock, fingerprint, repair);
//!    *i* is pending if the log holds no record of it.
//! 3. `Session::execute` hands the pending indices to `execute`. With
//!    `--workers 0`, this process binds the job to the segment
//!    (`segment::bind_job`), calls [`Job::compute`](job::Job::compute)
//!    for *i* and appends the record to `results.log`. Otherwise the
//!    supervisor (`supervisor::pool`) sends *i* in a chunk over IPC to a
//!    worker process: `qtomo __worker` → `worker::main` maps the segment,
//!    binds the same job, and `supervisor::worker_loop::serve_worker`
//!    calls `Job::compute` (which runs `tomo` and sets the record's attempt
//!    number and `worker_pid`) and appends the record under the log's
//!    flock, then acknowledges it.
//! 4. `summary::conclude` recounts the range from the log (the truth),
//!    writes summary.json and returns a `Report`; `cli/run.rs` turns it
//!    into a message and an exit code.

mod error;
mod execute;
pub mod job;
mod kwiat_set;
mod outcome;
mod plan;
mod progress;
mod resume;
pub mod sample_model;
pub mod segment;
mod session;
mod summary;
mod worker;

pub(crate) use crate::supervisor::state::PoolPolicy;
pub(crate) use execute::{PoolSettings, ThreadsPerWorker};
pub(crate) use outcome::Outcome;
pub(crate) use plan::{Ingest, PlanError, PlanRequest, RunPlan};
pub(crate) use resume::open;
pub(crate) use session::Session;
pub(crate) use summary::Report;
pub(crate) use worker::main as worker_main;
