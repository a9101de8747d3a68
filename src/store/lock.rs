//! The run lock, `run.lock`: one run per directory at a time.
//!
//! [`RunLock::acquire`] takes a non-blocking exclusive `flock` (std
//! [`File::try_lock`]) on `run.lock` and writes the holder's pid into it.
//! The lock belongs to the open file, so it is released when the guard is
//! dropped or the process dies, however it dies; a stale pid left in the file
//! by a killed run is harmless because only the `flock` counts.
//!
//! [`probe`] lets readers such as `status` ask whether a run is active
//! without ever holding the exclusive lock: it takes a shared lock for the
//! instant of the check and releases it at once.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// File name of the lock inside a run directory.
pub const RUN_LOCK: &str = "run.lock";

/// Errors taking the run lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error("run directory {dir} is in use by {}", holder_text(.holder_pid))]
    Held {
        /// The run directory.
        dir: PathBuf,
        /// Pid written by the holder, if it could be read.
        holder_pid: Option<u32>,
    },
    /// The lock file could not be opened, locked or written.
    #[error("could not {action} lock file {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The lock file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
}

fn holder_text(pid: &Option<u32>) -> String {
    match pid {
        Some(pid) => format!("process {pid}"),
        None => "another process (pid not yet recorded)".to_string(),
    }
}

/// Guard for the exclusive run lock; released on drop.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    /// Takes the exclusive lock on `dir/run.lock` without blocking and
    /// records this process's pid in it. Fails with [`LockError::Held`],
    /// naming the holder's pid, if another run has the directory.
    pub fn acquire(dir: &Path) -> Result<RunLock, LockError> {
        let path = dir.join(RUN_LOCK);
        let io = |action| {
            let path = path.clone();
            move |source| LockError::Io {
                action,
                path,
                source,
            }
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io("open"))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    holder_pid: read_pid(&mut file),
                });
            }
            Err(TryLockError::Error(source)) => return Err(io("lock")(source)),
        }
        file.set_len(0).map_err(io("truncate"))?;
        file.seek(SeekFrom::Start(0)).map_err(io("seek"))?;
        writeln!(file, "{}", std::process::id()).map_err(io("write"))?;
        file.sync_data().map_err(io("fsync"))?;
        Ok(RunLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Clear the pid so readers do not report a finished run; the flock
        // itself goes away with the file handle. Best effort.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// What [`probe`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockProbe {
    /// True when a run holds the exclusive lock.
    pub held: bool,
    /// Pid recorded in the lock file by the holder, if any.
    pub holder_pid: Option<u32>,
}

/// Checks, without waiting and without creating anything, whether a run
/// holds `dir/run.lock`. Holds a shared lock only for the instant of the
/// check.
pub fn probe(dir: &Path) -> Result<LockProbe, LockError> {
    let path = dir.join(RUN_LOCK);
    let mut file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(LockProbe {
                held: false,
                holder_pid: None,
            });
        }
        Err(source) => {
            return Err(LockError::Io {
                action: "open",
                path,
                source,
            });
        }
    };
    let held = match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(TryLockError::WouldBlock) => true,
        Err(TryLockError::Error(source)) => {
            return Err(LockError::Io {
                action: "lock",
                path,
                source,
            });
        }
    };
    Ok(LockProbe {
        held,
        holder_pid: if held { read_pid(&mut file) } else { None },
    })
}

/// Reads the pid written by the holder; `None` if absent or unreadable.
fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_fails_naming_the_holder_pid() {
        let dir = tempfile::tempdir().unwrap();
        let lock = RunLock::acquire(dir.path()).unwrap();
        let err = RunLock::acquire(dir.path()).unwrap_err();
        let me = std::process::id();
        match &err {
            LockError::Held { holder_pid, .. } => assert_eq!(*holder_pid, Some(me)),
            other => panic!("expected Held, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains(&format!("process {me}")), "{msg}");
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");

        let seen = probe(dir.path()).unwrap();
        assert_eq!(
            seen,
            LockProbe {
                held: true,
                holder_pid: Some(me)
            }
        );

        drop(lock);
        assert!(!probe(dir.path()).unwrap().held);
        let again = RunLock::acquire(dir.path()).unwrap();
        assert_eq!(again.path(), dir.path().join(RUN_LOCK));
    }

    #[test]
    fn probe_of_a_fresh_directory_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!probe(dir.path()).unwrap().held);
        assert!(!dir.path().join(RUN_LOCK).exists());
    }
}
