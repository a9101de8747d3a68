//! qtomo library.
pub mod cli;
pub mod io;
pub mod job;
pub mod sample_ids;
pub mod store;
pub mod supervisor;
pub mod tomo;
