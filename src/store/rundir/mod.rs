//! The run directory: its layout, its manifest and how a run opens it.
//!
//! ```text
//! DIR/
//!   run.lock       exclusive flock + holder pid (lock.rs)
//!   manifest.json  what run this directory belongs to (Manifest, atomic)
//!   results.log    framed records, the source of truth (log.rs)
//!   summary.json   written after every run, complete or not (summary.rs)
//!   target.json    the fidelity target the run was last given, if any
//! ```
//!
//! The target is not part of the [`Fingerprint`]: it does not change the
//! density matrices, only the figures of merit measured against it, which
//! `show` and `export` compute from the stored states. `target.json` holds
//! its bytes as the command line wrote them ([`write_target`]); the store
//! does not interpret them.
//!
//! [`open_run`] is what `qtomo run` does before starting workers: take the
//! lock, then
//!
//! * new directory: write the manifest;
//! * existing directory, same [`Fingerprint`]: resume (the log's torn tail,
//!   if any, is truncated, and the [`ResumeState`] says what is left);
//! * existing directory, different fingerprint: refuse with
//!   [`RunDirError::FingerprintMismatch`], listing the differences;
//! * [`OpenMode::Fresh`]: delete `results.log`, `summary.json` and the
//!   exports at their default paths (`results.jsonl`, `results.csv`,
//!   `npy/`), then write the new manifest (in that order, so that a crash in
//!   between can never pair old results with a new manifest).
//!
//! Before anything is created, [`check_run_dir`] refuses an `--out` that is
//! neither missing, empty, nor a run directory (a folder of someone's
//! files, a regular file): a run never writes beside files it does not own.
//!
//! The manifest and the fingerprint are in `manifest`.

mod manifest;
#[cfg(test)]
pub(crate) mod tests;

use crate::store::PathIoError;
use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::format::{FormatVersion, FormatVersionError};
use super::lock::{LockError, RUN_LOCK, RunLock};
use super::log::{LogError, SkippedRegion, TornTail, remove_damage, truncate_torn_tail};
use super::resume::{ResumeError, ResumeState};
use crate::atomic::{AtomicWriteError, atomic_write, sync_dir};

pub(crate) use manifest::unix_now;
pub use manifest::{FileDigest, Fingerprint, Manifest};

/// File name of the results log inside a run directory.
pub const RESULTS_LOG: &str = "results.log";
/// File name of the manifest inside a run directory.
pub const MANIFEST: &str = "manifest.json";
/// File name of the summary inside a run directory.
pub const SUMMARY: &str = "summary.json";
/// File name of the fidelity target a run was last given (`run --target`).
pub const TARGET: &str = "target.json";

/// Paths of the files of one run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run directory at `root` (nothing is touched on disk).
    pub fn new(root: impl Into<PathBuf>) -> RunDir {
        RunDir { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `results.log`.
    pub fn results_log(&self) -> PathBuf {
        self.root.join(RESULTS_LOG)
    }

    /// `manifest.json`.
    pub fn manifest(&self) -> PathBuf {
        self.root.join(MANIFEST)
    }

    /// `summary.json`.
    pub fn summary(&self) -> PathBuf {
        self.root.join(SUMMARY)
    }

    /// `target.json`.
    pub fn target(&self) -> PathBuf {
        self.root.join(TARGET)
    }
}

/// Errors opening or reading a run directory.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// A file or directory operation failed.
    #[error(transparent)]
    Io(#[from] PathIoError),
    /// The run lock is held or could not be taken.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// `manifest.json` is not a manifest.
    #[error("could not parse manifest {path}: expected a qtomo manifest.json")]
    BadManifest {
        /// The manifest file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The manifest was written by an incompatible qtomo.
    #[error("manifest {path} cannot be read by this build")]
    Version {
        /// The manifest file.
        path: PathBuf,
        /// Why the version is unreadable.
        #[source]
        source: FormatVersionError,
    },
    /// The directory belongs to a run with a different fingerprint.
    #[error(
        "run directory {dir} holds results of a different run ({}); start fresh to discard them or choose another directory",
        .differences.join("; ")
    )]
    FingerprintMismatch {
        /// The run directory.
        dir: PathBuf,
        /// Human-readable differences, "field: recorded -> requested".
        differences: Vec<String>,
    },
    /// The manifest was written before content fingerprints: it cannot show
    /// that the input, basis and target files are unchanged.
    #[error(
        "run directory {dir} was made by an older qtomo whose fingerprint (a CRC-32 of the input) cannot prove that the input, basis and target files are unchanged; rerun with --fresh to start over (its results can still be exported)"
    )]
    LegacyFingerprint {
        /// The run directory.
        dir: PathBuf,
    },
    /// The output directory is neither new, empty, nor a run directory.
    #[error(
        "refusing to use {dir} as a run directory: {reason}; choose a new or empty directory (nothing was written)"
    )]
    NotARunDir {
        /// The directory (or file) given.
        dir: PathBuf,
        /// What is in the way.
        reason: String,
    },
    /// There is a results log but no manifest to say what run it is.
    #[error(
        "run directory {dir} has a results.log but no manifest.json; refusing to guess which run it belongs to"
    )]
    OrphanLog {
        /// The run directory.
        dir: PathBuf,
    },
    /// The manifest could not be written.
    #[error(transparent)]
    Write(#[from] AtomicWriteError),
    /// The results log could not be repaired.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The resume state could not be built.
    #[error(transparent)]
    Resume(#[from] ResumeError),
}

impl RunDirError {
    /// True for refusals caused by what the user asked for (a different
    /// run's directory, a directory that is not a run's, a symbolic link):
    /// the command line exits 2 for these and nothing was written.
    pub fn is_refusal(&self) -> bool {
        match self {
            RunDirError::FingerprintMismatch { .. }
            | RunDirError::LegacyFingerprint { .. }
            | RunDirError::OrphanLog { .. }
            | RunDirError::NotARunDir { .. }
            | RunDirError::BadManifest { .. } => true,
            RunDirError::Io(PathIoError { source, .. }) => {
                super::fsutil::is_symlink_refusal(source)
            }
            RunDirError::Lock(LockError::Symlink { .. }) => true,
            _ => false,
        }
    }
}

/// Whether [`open_run`] may resume an existing directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OpenMode {
    /// Resume a directory with the same fingerprint; refuse a different one.
    #[default]
    Resume,
    /// Discard any previous results and start over (`--fresh`).
    Fresh,
}

/// What [`open_run`] did with the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// The directory had no run; a manifest was written.
    Created,
    /// A run with the same fingerprint is resumed.
    Resumed,
    /// Previous results were discarded.
    Fresh,
}

/// An opened run directory, locked for this process.
#[derive(Debug)]
pub struct OpenRun {
    /// Paths of the directory.
    pub dir: RunDir,
    /// The exclusive run lock, held for as long as this value lives.
    _lock: RunLock,
    /// What was done with the directory.
    pub opened: Opened,
    /// Which samples are done, failed or pending.
    pub resume: ResumeState,
    /// The torn tail that was cut off the log, if there was one.
    pub repaired_tail: Option<TornTail>,
    /// Damaged regions in the middle of the log that were removed (their
    /// samples are pending again and get recomputed).
    pub repaired_damage: Vec<SkippedRegion>,
}

/// The names of the metadata files of a run directory, whose temporary
/// files (`.<name>.qtomo-tmp.<pid>.<n>`) a run may leave behind.
const RUN_FILES: &[&str] = &[RUN_LOCK, MANIFEST, SUMMARY, RESULTS_LOG, TARGET];

/// True for a directory entry a run may leave before its manifest exists:
/// the lock and temporary files of run metadata.
fn is_run_leftover(name: &str) -> bool {
    name == RUN_LOCK
        || RUN_FILES
            .iter()
            .any(|f| crate::atomic::temp_owner(name, f).is_some())
}

/// Checks that `root` may be used as a run directory: it does not exist,
/// or is an empty directory, or holds a manifest (a run directory, checked
/// further by the caller), or only what a run leaves before writing its
/// manifest. Anything else (a file, a directory of other files) is refused
/// with [`RunDirError::NotARunDir`] before anything is written.
pub fn check_run_dir(root: &Path) -> Result<(), RunDirError> {
    check_out_dir(root, &[])
}

/// [`check_run_dir`], also accepting the files named in `also` in a
/// directory without manifest (what a crashed merge leaves).
pub(crate) fn check_out_dir(root: &Path, also: &[&str]) -> Result<(), RunDirError> {
    let refuse = |reason: String| RunDirError::NotARunDir {
        dir: root.to_path_buf(),
        reason,
    };
    match fs::metadata(root) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(refuse("it exists and is not a directory".into())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // A dangling symbolic link is not a missing directory.
            return match fs::symlink_metadata(root) {
                Ok(_) => Err(refuse("it is a symbolic link to nothing".into())),
                Err(_) => Ok(()),
            };
        }
        Err(source) => {
            return Err(RunDirError::Io(PathIoError {
                action: "inspect",
                path: root.to_path_buf(),
                source,
            }));
        }
    }
    let entries = fs::read_dir(root).map_err(|source| {
        RunDirError::Io(PathIoError {
            action: "list",
            path: root.to_path_buf(),
            source,
        })
    })?;
    let mut foreign = Vec::new();
    let mut has_manifest = false;
    for entry in entries {
        let entry = entry.map_err(|source| {
            RunDirError::Io(PathIoError {
                action: "list",
                path: root.to_path_buf(),
                source,
            })
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == MANIFEST {
            has_manifest = true;
        } else if !is_run_leftover(&name) && !also.contains(&name.as_str()) {
            foreign.push(name);
        }
    }
    if has_manifest || foreign.is_empty() {
        return Ok(());
    }
    if foreign.iter().any(|n| n == RESULTS_LOG) {
        return Err(RunDirError::OrphanLog {
            dir: root.to_path_buf(),
        });
    }
    foreign.sort();
    let shown: Vec<&str> = foreign.iter().take(3).map(String::as_str).collect();
    let more = foreign.len().saturating_sub(shown.len());
    Err(refuse(format!(
        "it is not empty and not a qtomo run directory (no manifest.json; it holds {}{})",
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )))
}

/// Removes what earlier runs wrote in `root` (`--fresh`): the results log,
/// the summary, exports at their default paths, and stale temporary files.
/// The manifest is replaced by the caller; nothing else is touched.
fn remove_previous_run(dir: &RunDir) -> Result<(), RunDirError> {
    let root = dir.root();
    for path in [dir.results_log(), dir.summary(), dir.target()] {
        remove_if_exists(&path)?;
    }
    for name in ["results.jsonl", "results.csv"] {
        remove_if_exists(&root.join(name))?;
        remove_stale(root, name)?;
    }
    let npy = root.join("npy");
    match fs::symlink_metadata(&npy) {
        Ok(meta) if meta.is_dir() => {
            let entries = fs::read_dir(&npy).map_err(|source| {
                RunDirError::Io(PathIoError {
                    action: "list",
                    path: npy.clone(),
                    source,
                })
            })?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let ours = name == "index.csv"
                    || (name.starts_with("rho_") && name.ends_with(".npy"))
                    || (name.starts_with('.') && name.contains(".qtomo-tmp."));
                if ours {
                    remove_if_exists(&entry.path())?;
                }
            }
            // Left in place if it holds anything else.
            let _ = fs::remove_dir(&npy);
        }
        Ok(_) => remove_if_exists(&npy)?,
        Err(_) => {}
    }
    Ok(())
}

/// Removes the stale temporary files for `name` in `root`.
fn remove_stale(root: &Path, name: &str) -> Result<(), RunDirError> {
    crate::atomic::remove_stale_temps(root, name)
        .map(|_| ())
        .map_err(|source| {
            RunDirError::Io(PathIoError {
                action: "remove stale temporary files in",
                path: root.to_path_buf(),
                source,
            })
        })
}

/// Opens (creating if needed) the run directory `root` for a run with this
/// fingerprint and sample count; see the module docs for the rules.
pub fn open_run(
    root: &Path,
    fingerprint: Fingerprint,
    total: u64,
    mode: OpenMode,
) -> Result<OpenRun, RunDirError> {
    check_run_dir(root)?;
    fs::create_dir_all(root).map_err(|source| {
        RunDirError::Io(PathIoError {
            action: "create run directory",
            path: root.to_path_buf(),
            source,
        })
    })?;
    let dir = RunDir::new(root);
    let lock = RunLock::acquire(root)?;
    for name in RUN_FILES {
        remove_stale(root, name)?;
    }
    let existing = Manifest::read(root)?;
    let requested = Manifest::new(fingerprint, total);

    let (manifest, opened) = match (existing, mode) {
        (_, OpenMode::Fresh) => {
            remove_previous_run(&dir)?;
            sync_dir(root).map_err(|source| {
                RunDirError::Io(PathIoError {
                    action: "fsync",
                    path: root.to_path_buf(),
                    source,
                })
            })?;
            requested.write(root)?;
            (requested, Opened::Fresh)
        }
        (None, OpenMode::Resume) => {
            if dir.results_log().exists() {
                return Err(RunDirError::OrphanLog {
                    dir: root.to_path_buf(),
                });
            }
            requested.write(root)?;
            (requested, Opened::Created)
        }
        (Some(recorded), OpenMode::Resume) => {
            if recorded.fingerprint.input_sha.is_some() && recorded.fingerprint.files.is_empty() {
                return Err(RunDirError::LegacyFingerprint {
                    dir: root.to_path_buf(),
                });
            }
            let mut differences = recorded.fingerprint.diff(&requested.fingerprint);
            if recorded.total != requested.total {
                differences.push(format!("total: {} -> {}", recorded.total, requested.total));
            }
            if !differences.is_empty() {
                return Err(RunDirError::FingerprintMismatch {
                    dir: root.to_path_buf(),
                    differences,
                });
            }
            (recorded, Opened::Resumed)
        }
    };

    let scan = ResumeState::from_log(&dir.results_log(), manifest.total)?;
    if !scan.damaged.is_empty() {
        remove_damage(
            &dir.results_log(),
            &scan.damaged,
            scan.torn_tail.as_ref(),
            scan.file_len,
        )?;
    } else if let Some(tail) = &scan.torn_tail {
        truncate_torn_tail(&dir.results_log(), tail)?;
    }
    Ok(OpenRun {
        dir,
        _lock: lock,
        opened,
        resume: scan.state,
        repaired_tail: scan.torn_tail,
        repaired_damage: scan.damaged,
    })
}

/// The bytes of `dir/target.json`, the target the run was last given;
/// `Ok(None)` when it has none. Never follows a symbolic link.
pub fn read_target(dir: &Path) -> Result<Option<Vec<u8>>, RunDirError> {
    let path = dir.join(TARGET);
    match super::fsutil::read_nofollow(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(RunDirError::Io(PathIoError {
            action: "read",
            path,
            source,
        })),
    }
}

/// Replaces `dir/target.json` with `bytes` atomically (a run given
/// `--target`; the caller holds the run lock).
pub fn write_target(dir: &Path, bytes: &[u8]) -> Result<(), RunDirError> {
    atomic_write(&dir.join(TARGET), bytes)?;
    Ok(())
}

fn remove_if_exists(path: &Path) -> Result<(), RunDirError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(RunDirError::Io(PathIoError {
            action: "remove",
            path: path.to_path_buf(),
            source,
        })),
    }
}
