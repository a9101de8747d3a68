//! The run lock: one run per directory at a time.
//!
//! # Protocol
//!
//! [`RunLock::acquire`] takes two non-blocking exclusive `flock`s:
//!
//! 1. on the run directory itself, so that deleting or replacing `run.lock`
//!    while a run holds it cannot let a second run in. (Where the file
//!    system cannot `flock` a directory, e.g. NFS, which emulates `flock`
//!    with POSIX locks that need a writable descriptor, this step is
//!    skipped and step 2 stands alone.)
//! 2. on `run.lock`, which always names a file the running process created
//!    itself: it writes its pid into a new temporary file, locks it, and
//!    then either links it in as `run.lock` (there was none) or, after
//!    taking the lock of the existing `run.lock` and checking that the
//!    name still refers to the file it locked, renames it over that file.
//!    An existing `run.lock` is never written to, let alone truncated, and
//!    a symbolic link there is refused ([`LockError::Symlink`]), never
//!    followed.
//!
//! Every taker checks, once it holds the lock of an open `run.lock`, that
//! the name still refers to that file (same device and inode), and starts
//! over if not; so two runs can never hold locks on two different files both
//! called `run.lock`. The locks belong to the open files, so they are
//! released when the guard is dropped or the process dies, however it dies;
//! a stale pid left in `run.lock` by a killed run is harmless because only
//! the `flock`s count.
//!
//! [`probe`] lets readers such as `status` ask whether a run is active
//! without ever holding an exclusive lock: it takes shared locks for the
//! instant of the check and releases them at once.

use crate::store::PathIoError;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::fsutil::{is_symlink_refusal, open_nofollow};
use crate::atomic::temp_path_for;

/// File name of the lock inside a run directory.
pub const RUN_LOCK: &str = "run.lock";

/// How many times [`RunLock::acquire`] starts over when `run.lock` is
/// replaced under it before giving up.
const ATTEMPTS: usize = 64;

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
    /// `run.lock` is a symbolic link (or not a regular file).
    #[error(
        "{path} is a symbolic link or not a regular file; qtomo never follows or writes through one (remove it if no run is using the directory)"
    )]
    Symlink {
        /// The lock file.
        path: PathBuf,
    },
    /// `run.lock` kept being replaced while the lock was being taken.
    #[error(
        "{path} kept changing while the lock was being taken; is another program replacing it?"
    )]
    Unstable {
        /// The lock file.
        path: PathBuf,
    },
    /// The lock file could not be opened, locked or written.
    #[error(transparent)]
    Io(#[from] PathIoError),
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
    /// The locked `run.lock`, a file this process created.
    _file: File,
    /// The locked directory, where the file system allows it.
    _dir: Option<File>,
}

/// The (device, inode) of a file, to tell whether a name still refers to
/// an open file.
fn identity(meta: &fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// True for the errors by which a file system says it cannot `flock` a
/// directory (rather than that someone holds the lock).
fn dir_lock_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(nix::libc::EBADF | nix::libc::ENOLCK | nix::libc::EINVAL | nix::libc::EOPNOTSUPP)
    )
}

/// Maps an I/O error of `action` on `path` to a [`LockError`]: a refused
/// symlink is [`LockError::Symlink`], anything else [`LockError::Io`].
fn lock_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> LockError + use<> {
    let path = path.to_path_buf();
    move |source: io::Error| {
        if is_symlink_refusal(&source) {
            LockError::Symlink { path }
        } else {
            LockError::Io(PathIoError {
                action,
                path,
                source,
            })
        }
    }
}

impl RunLock {
    /// Takes the exclusive lock on the run directory `dir` without
    /// blocking; see the module docs. Fails with [`LockError::Held`],
    /// naming the holder's pid, if another run has the directory.
    pub fn acquire(dir: &Path) -> Result<RunLock, LockError> {
        let path = dir.join(RUN_LOCK);
        let io = lock_error;
        let dir_file = File::open(dir).map_err(io("open the directory of", &path))?;
        let dir_lock = match dir_file.try_lock() {
            Ok(()) => Some(dir_file),
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    holder_pid: read_pid_at(&path),
                });
            }
            Err(TryLockError::Error(e)) if dir_lock_unsupported(&e) => None,
            Err(TryLockError::Error(e)) => return Err(io("lock the directory of", &path)(e)),
        };

        // Our own lock file, with our pid, locked before anyone can see it.
        let tmp = temp_path_for(&path);
        let mut own = open_nofollow(
            OpenOptions::new().read(true).write(true).create_new(true),
            &tmp,
        )
        .map_err(io("create", &tmp))?;
        let result = (|| {
            own.try_lock().map_err(|e| match e {
                TryLockError::WouldBlock => LockError::Unstable { path: tmp.clone() },
                TryLockError::Error(e) => io("lock", &tmp)(e),
            })?;
            writeln!(own, "{}", std::process::id()).map_err(io("write", &tmp))?;
            own.sync_data().map_err(io("fsync", &tmp))?;
            Self::install(dir, &path, &tmp)
        })();
        // Linked in or renamed over `run.lock`, or failed: the temporary
        // name goes either way.
        let _ = fs::remove_file(&tmp);
        result?;
        Ok(RunLock {
            _file: own,
            _dir: dir_lock,
        })
    }

    /// Makes the locked file at `tmp` the directory's `run.lock`.
    fn install(dir: &Path, path: &Path, tmp: &Path) -> Result<(), LockError> {
        let io = |action| lock_error(action, path);
        for _ in 0..ATTEMPTS {
            let existing = match open_nofollow(OpenOptions::new().read(true).write(true), path) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::hard_link(tmp, path) {
                    Ok(()) => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                    // A file system without hard links: rename instead. It
                    // could replace a run.lock created in between; where
                    // the directory lock is taken, that excludes a rival.
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(nix::libc::EPERM | nix::libc::EOPNOTSUPP | nix::libc::ENOSYS)
                        ) =>
                    {
                        fs::rename(tmp, path).map_err(io("create"))?;
                        return Ok(());
                    }
                    Err(e) => return Err(io("create")(e)),
                },
                Err(e) => return Err(io("open")(e)),
            };
            let meta = existing.metadata().map_err(io("stat"))?;
            if !meta.is_file() {
                return Err(LockError::Symlink {
                    path: path.to_path_buf(),
                });
            }
            match existing.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let mut existing = existing;
                    return Err(LockError::Held {
                        dir: dir.to_path_buf(),
                        holder_pid: read_pid(&mut existing),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io("lock")(e)),
            }
            // We hold the lock of the file we opened: is it still the one
            // called run.lock? If not, someone replaced it; start over.
            match fs::symlink_metadata(path) {
                Ok(now) if identity(&now) == identity(&meta) => {
                    fs::rename(tmp, path).map_err(io("replace"))?;
                    return Ok(());
                }
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io("stat")(e)),
            }
        }
        Err(LockError::Unstable {
            path: path.to_path_buf(),
        })
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

/// Whether someone holds an exclusive lock on `file`, found by taking a
/// shared lock for an instant.
fn held_by_other(file: &File) -> io::Result<bool> {
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            Ok(false)
        }
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Checks, without waiting and without creating anything, whether a run
/// holds the directory `dir`. Holds shared locks only for the instant of
/// the check; never follows a `run.lock` symbolic link.
pub fn probe(dir: &Path) -> Result<LockProbe, LockError> {
    let path = dir.join(RUN_LOCK);
    let err = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| {
            LockError::Io(PathIoError {
                action,
                path,
                source,
            })
        }
    };
    let dir_held = match File::open(dir) {
        Ok(d) => match held_by_other(&d) {
            Ok(held) => held,
            Err(e) if dir_lock_unsupported(&e) => false,
            Err(e) => return Err(err("lock the directory of", &path)(e)),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(err("open the directory of", &path)(e)),
    };
    let mut file = match super::fsutil::open_read_nofollow(&path) {
        Ok(file) => Some(file),
        Err(e) if e.kind() == io::ErrorKind::NotFound || is_symlink_refusal(&e) => None,
        Err(source) => return Err(err("open", &path)(source)),
    };
    let file_held = match &file {
        Some(f) => held_by_other(f).map_err(err("lock", &path))?,
        None => false,
    };
    let held = dir_held || file_held;
    Ok(LockProbe {
        held,
        holder_pid: match (held, file.as_mut()) {
            (true, Some(f)) => read_pid(f),
            _ => None,
        },
    })
}

/// Reads the pid written by the holder; `None` if absent or unreadable.
fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(64).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// Reads the pid in the `run.lock` at `path` (never through a link).
fn read_pid_at(path: &Path) -> Option<u32> {
    read_pid(&mut super::fsutil::open_read_nofollow(path).ok()?)
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
        let _again = RunLock::acquire(dir.path()).unwrap();
        assert!(probe(dir.path()).unwrap().held);
        // Only run.lock is left: no temporary files.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(RUN_LOCK)]);
    }

    #[test]
    fn deleting_or_replacing_run_lock_does_not_let_a_second_run_in() {
        let dir = tempfile::tempdir().unwrap();
        let _lock = RunLock::acquire(dir.path()).unwrap();
        fs::remove_file(dir.path().join(RUN_LOCK)).unwrap();
        assert!(matches!(
            RunLock::acquire(dir.path()),
            Err(LockError::Held { .. })
        ));
        fs::write(dir.path().join(RUN_LOCK), b"1\n").unwrap();
        assert!(matches!(
            RunLock::acquire(dir.path()),
            Err(LockError::Held { .. })
        ));
        assert!(probe(dir.path()).unwrap().held);
    }

    #[test]
    fn a_run_lock_symlink_is_refused_and_its_target_kept() {
        let dir = tempfile::tempdir().unwrap();
        let precious = dir.path().join("thesis.tex");
        fs::write(&precious, b"chapter 1").unwrap();
        let run = dir.path().join("run");
        fs::create_dir(&run).unwrap();
        std::os::unix::fs::symlink(&precious, run.join(RUN_LOCK)).unwrap();
        let err = RunLock::acquire(&run).unwrap_err();
        assert!(matches!(err, LockError::Symlink { .. }), "{err:?}");
        assert_eq!(fs::read(&precious).unwrap(), b"chapter 1");
        assert!(!probe(&run).unwrap().held);
    }

    #[test]
    fn a_stale_run_lock_is_replaced_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("other");
        fs::write(&other, b"keep me").unwrap();
        // A hard link: writing into run.lock would change `other`.
        fs::hard_link(&other, dir.path().join(RUN_LOCK)).unwrap();
        let _lock = RunLock::acquire(dir.path()).unwrap();
        assert_eq!(fs::read(&other).unwrap(), b"keep me");
        let pid: u32 = fs::read_to_string(dir.path().join(RUN_LOCK))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(pid, std::process::id());
    }

    #[test]
    fn probe_of_a_fresh_directory_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!probe(dir.path()).unwrap().held);
        assert!(!dir.path().join(RUN_LOCK).exists());
    }
}
