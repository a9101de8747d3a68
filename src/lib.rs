//! qtomo library.
pub mod supervisor;
pub mod tomo;
