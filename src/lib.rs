//! qtomo library.
pub mod io;
pub mod job;
pub mod store;
pub mod supervisor;
pub mod tomo;
