//! qtomo library.
pub mod store;
pub mod tomo;
