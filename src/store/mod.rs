//! store (work in progress)
mod atomic;
mod export;
mod format;
mod lock;
mod log;
mod merge;
mod record;
mod resume;
mod rundir;
mod status;
mod summary;

pub use atomic::*;
pub use export::*;
pub use format::*;
pub use lock::*;
pub use log::*;
pub use merge::*;
pub use record::*;
pub use resume::*;
pub use rundir::*;
pub use status::*;
pub use summary::*;
