//! qtomo library.
//!
//! The binary (`bin/qtomo.rs`) calls [`cli::run`]. The rest of the public
//! surface exists for the benches and the integration tests: [`tomo`] (the
//! numerics), [`store`] (run directories and the results log), [`report`]
//! (the HTML report of a run), [`run`] and
//! [`sample_ids`] (a job bound to its data), [`supervisor`] (the pool).
//! `io` (input readers) and `stderr` are internal, except [`kwiat`] (the
//! Kwiat Quantum-Tomography reader), whose per-row scale, background and
//! crosstalk are what a measurement model in the likelihood consumes.
pub(crate) mod atomic;
pub mod cli;
pub(crate) mod io;
pub use io::kwiat;
pub mod report;
pub mod run;
pub mod sample_ids;
pub(crate) mod stderr;
pub mod store;
pub mod supervisor;
pub mod tomo;
