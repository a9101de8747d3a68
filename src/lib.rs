//! qtomo library.
pub mod io;
pub mod tomo;
