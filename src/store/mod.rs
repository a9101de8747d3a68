//! store (work in progress)
mod atomic;
mod format;
mod log;
mod record;
mod resume;

pub use atomic::*;
pub use format::*;
pub use log::*;
pub use record::*;
pub use resume::*;
