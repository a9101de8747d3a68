//! qtomo library.
pub mod io;
pub mod supervisor;
pub mod tomo;
