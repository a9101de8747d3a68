//! The one error type for an I/O operation on a named file, shared by every
//! error enum of the store (each has an `Io` variant wrapping it).

use std::io;
use std::path::{Path, PathBuf};

/// An I/O operation on `path` failed: "could not {action} {path}".
#[derive(Debug, thiserror::Error)]
#[error("could not {action} {}", path.display())]
pub struct PathIoError {
    /// What was being done ("open", "append to", "fsync", ...).
    pub action: &'static str,
    /// The file or directory.
    pub path: PathBuf,
    /// The underlying I/O error.
    #[source]
    pub source: io::Error,
}

impl PathIoError {
    /// A `map_err` adapter: `file.lock().map_err(PathIoError::at("lock", path))`.
    pub fn at<'a, E: From<PathIoError>>(
        action: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(io::Error) -> E + 'a {
        move |source| {
            E::from(PathIoError {
                action,
                path: path.to_path_buf(),
                source,
            })
        }
    }
}
