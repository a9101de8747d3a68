//! qtomo library.
pub mod tomo;
