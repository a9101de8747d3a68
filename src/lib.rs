//! qtomo library.
//!
//! The binary (`bin/qtomo.rs`) calls [`cli::run`]. The public library
//! surface is small, and each part exists for a named user:
//!
//! - [`tomo`]: the numerics (measurement sets, estimators, certificates,
//!   simulation), used by the benches and the integration tests;
//! - [`results`]: the results log and its records, for `benches/resume.rs`;
//! - [`pool`]: a job bound to its data and the worker pool driven below the
//!   command line, for `benches/parallel.rs`;
//! - [`kwiat`]: the Kwiat Quantum-Tomography reader, for
//!   `tests/integration/kwiat.rs`, which scores qtomo's and Kwiat's
//!   estimates on the rows it reads.
//!
//! Everything else (`io`, `store`, `run`, `supervisor`, `report`, …) is
//! internal to the crate.
pub(crate) mod atomic;
pub mod cli;
pub(crate) mod io;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod sample_ids;
pub(crate) mod stderr;
pub(crate) mod store;
pub(crate) mod supervisor;
pub mod tomo;

/// The results log and its records, as `benches/resume.rs` writes and
/// rescans them.
pub mod results {
    pub use crate::store::{
        LogWriter, MethodMetrics, MethodResult, RecordIndex, ResumeState, SampleRecord,
        SampleStatus, SyncPolicy,
    };
}

/// A job bound to its data and the worker pool, as `benches/parallel.rs`
/// drives them without the command line.
pub mod pool {
    pub use crate::run::job::{Job, MleOptions, Plan};
    pub use crate::run::segment::build_segment;
    pub use crate::sample_ids::SampleIdTable;
    pub use crate::supervisor::pool::{NoopObserver, PoolConfig, run_pool};
    pub use crate::supervisor::signals::SignalHandlerKind;
    pub use crate::supervisor::state::{Outcome, PoolPolicy};
}

/// The Kwiat Quantum-Tomography JSON reader, as `tests/integration/kwiat.rs`
/// uses it to score both packages' estimates on the same rows.
pub mod kwiat {
    pub use crate::io::kwiat::{KwiatBatch, KwiatOptions, read_batch, read_options};
}
