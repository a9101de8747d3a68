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

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::atomic::{AtomicWriteError, atomic_write, sync_dir};
use super::format::{FormatVersion, FormatVersionError};
use super::lock::{LockError, RUN_LOCK, RunLock};
use super::log::{LogError, SkippedRegion, TornTail, remove_damage, truncate_torn_tail};
use super::resume::{ResumeError, ResumeState};

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

    /// `run.lock`.
    pub fn lock(&self) -> PathBuf {
        self.root.join(RUN_LOCK)
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
    #[error("could not {action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
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
            RunDirError::Io { source, .. } => super::fsutil::is_symlink_refusal(source),
            RunDirError::Lock(LockError::Symlink { .. }) => true,
            _ => false,
        }
    }
}

/// The content digest of one file that shapes a run's results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// The path the run was given, for messages only: a file moved or
    /// renamed with the same contents is the same file.
    pub path: String,
    /// SHA-256 of the file's contents (streamed), 64 hex digits.
    pub sha256: String,
}

/// Identity of a run: everything that must match for a directory to be
/// resumed rather than refused.
///
/// Files are identified by their *contents* (SHA-256, see [`FileDigest`]),
/// never by name or path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Content digests of every file that shapes results, by role:
    /// `"input"` (the counts), `"basis"` (a custom kets file), `"target"`
    /// (an NPY target state).
    #[serde(default)]
    pub files: BTreeMap<String, FileDigest>,
    /// The input digest of manifests written before content fingerprints
    /// (CRC-32 and length). Never written now; a manifest that has it is
    /// refused for resuming ([`RunDirError::LegacyFingerprint`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_sha: Option<String>,
    /// Measurement basis name (`custom(<file name>)` for a kets file, whose
    /// contents are in `files`).
    pub basis: String,
    /// Hilbert-space dimension.
    pub dim: u32,
    /// Estimators, in the order requested.
    pub methods: Vec<String>,
    /// Every other option that changes results (target state, column mode,
    /// MLE tolerances, ...), as text.
    pub options: BTreeMap<String, String>,
    /// `(i, n)` for shard i of n (Slurm array task), `None` for a whole run.
    pub shard: Option<(u32, u32)>,
}

/// The file role and option under which manifests written before the
/// target left the fingerprint recorded it; [`Fingerprint::diff`] skips it.
const IGNORED_TARGET: &str = "target";

fn shard_text(shard: Option<(u32, u32)>) -> String {
    match shard {
        Some((i, n)) => format!("{i}/{n}"),
        None => "none".to_string(),
    }
}

/// The first 12 hex digits of a digest, for messages.
fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

impl Fingerprint {
    /// Lists what differs from `self` (the recorded run) to `other` (the
    /// requested one), one line per field, e.g. `"basis: pauli -> james16"`
    /// or `"input file in.csv changed since the run started (sha256 ... -> ...)"`.
    /// Empty when the fingerprints are equal (file paths are not compared).
    pub fn diff(&self, other: &Fingerprint) -> Vec<String> {
        let mut out = Vec::new();
        // The target no longer shapes results (show and export measure the
        // stored states against any target), so the target a manifest of
        // an older qtomo recorded is not compared either.
        let roles: std::collections::BTreeSet<&String> = self
            .files
            .keys()
            .chain(other.files.keys())
            .filter(|role| *role != IGNORED_TARGET)
            .collect();
        for role in roles {
            match (self.files.get(role), other.files.get(role)) {
                (Some(a), Some(b)) if a.sha256 != b.sha256 => out.push(format!(
                    "{role} file {} changed since the run started (sha256 {}... -> {}...)",
                    b.path,
                    short(&a.sha256),
                    short(&b.sha256)
                )),
                (Some(a), None) => out.push(format!("{role} file: {} -> (none)", a.path)),
                (None, Some(b)) => out.push(format!("{role} file: (none) -> {}", b.path)),
                _ => {}
            }
        }
        let mut field = |name: &str, a: String, b: String| {
            if a != b {
                out.push(format!("{name}: {a} -> {b}"));
            }
        };
        field("basis", self.basis.clone(), other.basis.clone());
        field("dim", self.dim.to_string(), other.dim.to_string());
        field("methods", self.methods.join(","), other.methods.join(","));
        let keys: std::collections::BTreeSet<&String> = self
            .options
            .keys()
            .chain(other.options.keys())
            .filter(|key| *key != IGNORED_TARGET)
            .collect();
        for key in keys {
            let get = |m: &BTreeMap<String, String>| {
                m.get(key).cloned().unwrap_or_else(|| "(unset)".to_string())
            };
            field(
                &format!("option {key}"),
                get(&self.options),
                get(&other.options),
            );
        }
        field("shard", shard_text(self.shard), shard_text(other.shard));
        out
    }

    /// The sample indices this run covers out of `total`: everything, or
    /// for shard i of n the range `[floor(i*total/n), floor((i+1)*total/n))`.
    pub fn sample_range(&self, total: u64) -> std::ops::Range<u64> {
        match self.shard {
            Some((i, n)) if n > 0 => {
                let at = |k: u64| ((u128::from(k) * u128::from(total)) / u128::from(n)) as u64;
                at(u64::from(i))..at(u64::from(i) + 1).min(total)
            }
            _ => 0..total,
        }
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (role, file) in &self.files {
            write!(f, "{role} sha256 {} ", short(&file.sha256))?;
        }
        write!(
            f,
            "basis {} dim {} methods {} shard {}",
            self.basis,
            self.dim,
            self.methods.join(","),
            shard_text(self.shard)
        )
    }
}

/// Contents of `manifest.json`: what run a directory belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Store format version of the directory.
    pub format_version: FormatVersion,
    /// Identity of the run.
    pub fingerprint: Fingerprint,
    /// Number of samples (indices `0..total`).
    pub total: u64,
    /// Basis name (copied from the fingerprint for readers).
    pub basis: String,
    /// Hilbert-space dimension (copied from the fingerprint).
    pub dim: u32,
    /// Estimators (copied from the fingerprint).
    pub methods: Vec<String>,
    /// Creation time, seconds since the Unix epoch.
    pub created: u64,
}

impl Manifest {
    /// A manifest for a new run of `total` samples, created now.
    pub fn new(fingerprint: Fingerprint, total: u64) -> Manifest {
        Manifest {
            format_version: FormatVersion::CURRENT,
            basis: fingerprint.basis.clone(),
            dim: fingerprint.dim,
            methods: fingerprint.methods.clone(),
            fingerprint,
            total,
            created: unix_now(),
        }
    }

    /// Reads `dir/manifest.json`; `Ok(None)` if it does not exist.
    pub fn read(dir: &Path) -> Result<Option<Manifest>, RunDirError> {
        let path = dir.join(MANIFEST);
        let bytes = match super::fsutil::read_nofollow(&path) {
            Ok(bytes) => bytes,
            // No such directory, or a file where the directory should be:
            // either way there is no manifest.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(None);
            }
            Err(source) => {
                return Err(RunDirError::Io {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|source| RunDirError::BadManifest {
                path: path.clone(),
                source,
            })?;
        manifest
            .format_version
            .check_readable_by(FormatVersion::CURRENT)
            .map_err(|source| RunDirError::Version { path, source })?;
        Ok(Some(manifest))
    }

    /// Writes `dir/manifest.json` atomically.
    pub fn write(&self, dir: &Path) -> Result<(), RunDirError> {
        let mut bytes =
            serde_json::to_vec_pretty(self).map_err(|source| RunDirError::BadManifest {
                path: dir.join(MANIFEST),
                source,
            })?;
        bytes.push(b'\n');
        atomic_write(&dir.join(MANIFEST), &bytes)?;
        Ok(())
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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
    /// The exclusive run lock; keep it for the whole run.
    pub lock: RunLock,
    /// The manifest in force (the recorded one when resuming).
    pub manifest: Manifest,
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
            .any(|f| super::atomic::temp_owner(name, f).is_some())
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
            return Err(RunDirError::Io {
                action: "inspect",
                path: root.to_path_buf(),
                source,
            });
        }
    }
    let entries = fs::read_dir(root).map_err(|source| RunDirError::Io {
        action: "list",
        path: root.to_path_buf(),
        source,
    })?;
    let mut foreign = Vec::new();
    let mut has_manifest = false;
    for entry in entries {
        let entry = entry.map_err(|source| RunDirError::Io {
            action: "list",
            path: root.to_path_buf(),
            source,
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
            let entries = fs::read_dir(&npy).map_err(|source| RunDirError::Io {
                action: "list",
                path: npy.clone(),
                source,
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
    super::atomic::remove_stale_temps(root, name)
        .map(|_| ())
        .map_err(|source| RunDirError::Io {
            action: "remove stale temporary files in",
            path: root.to_path_buf(),
            source,
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
    fs::create_dir_all(root).map_err(|source| RunDirError::Io {
        action: "create run directory",
        path: root.to_path_buf(),
        source,
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
            sync_dir(root).map_err(|source| RunDirError::Io {
                action: "fsync",
                path: root.to_path_buf(),
                source,
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
        lock,
        manifest,
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
        Err(source) => Err(RunDirError::Io {
            action: "read",
            path,
            source,
        }),
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
        Err(source) => Err(RunDirError::Io {
            action: "remove",
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::log::{LogWriter, SyncPolicy};
    use crate::store::record::test_support::record;

    pub(crate) fn fingerprint() -> Fingerprint {
        Fingerprint {
            files: BTreeMap::from([(
                "input".to_string(),
                FileDigest {
                    path: "in.csv".into(),
                    sha256: "ab12".repeat(16),
                },
            )]),
            input_sha: None,
            basis: "pauli".into(),
            dim: 4,
            methods: vec!["mle".into(), "pls".into()],
            options: BTreeMap::from([("retries".to_string(), "3".to_string())]),
            shard: None,
        }
    }

    #[test]
    fn diff_lists_each_difference() {
        let a = fingerprint();
        assert!(a.diff(&a).is_empty());
        let mut b = a.clone();
        b.basis = "james16".into();
        b.options.insert("columns".into(), "positional".into());
        b.options.insert("retries".into(), "5".into());
        b.shard = Some((1, 4));
        assert_eq!(
            a.diff(&b),
            vec![
                "basis: pauli -> james16",
                "option columns: (unset) -> positional",
                "option retries: 3 -> 5",
                "shard: none -> 1/4",
            ]
        );
    }

    /// Manifests of older runs recorded the target; it is not compared.
    #[test]
    fn diff_ignores_a_recorded_target() {
        let a = fingerprint();
        let mut b = a.clone();
        b.options.insert("target".into(), "bell-phi+".into());
        b.files.insert(
            "target".into(),
            FileDigest {
                path: "sigma.npy".into(),
                sha256: "cd34".repeat(16),
            },
        );
        assert!(a.diff(&b).is_empty(), "{:?}", a.diff(&b));
        assert!(b.diff(&a).is_empty());
    }

    #[test]
    fn create_resume_refuse_and_fresh() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("run");
        let run = open_run(&root, fingerprint(), 10, OpenMode::Resume).unwrap();
        assert_eq!(run.opened, Opened::Created);
        assert_eq!(run.resume.pending(), 10);
        let manifest = Manifest::read(&root).unwrap().unwrap();
        assert_eq!(manifest, run.manifest);
        assert_eq!(manifest.basis, "pauli");

        // A second opener is refused while the first holds the lock.
        let err = open_run(&root, fingerprint(), 10, OpenMode::Resume).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("process {}", std::process::id())),
            "{err}"
        );

        let mut w = LogWriter::open(&run.dir.results_log(), SyncPolicy::OnFlush).unwrap();
        for i in 0..4 {
            w.append(&record(i, i != 2, &["mle", "pls"], 4)).unwrap();
        }
        drop(w);
        // Simulate a crash mid-append: a torn tail.
        let log = run.dir.results_log();
        let bytes = fs::read(&log).unwrap();
        fs::write(&log, &bytes[..bytes.len() - 10]).unwrap();
        drop(run);

        let run = open_run(&root, fingerprint(), 10, OpenMode::Resume).unwrap();
        assert_eq!(run.opened, Opened::Resumed);
        assert_eq!(run.manifest, manifest);
        assert_eq!(run.resume.completed(), 2);
        assert_eq!(run.resume.failed_indices(), vec![2]);
        assert!(run.repaired_tail.is_some());
        assert!(fs::metadata(&log).unwrap().len() < bytes.len() as u64 - 10);
        drop(run);

        let mut other = fingerprint();
        other.basis = "james16".into();
        let err = open_run(&root, other.clone(), 10, OpenMode::Resume).unwrap_err();
        match &err {
            RunDirError::FingerprintMismatch { differences, .. } => {
                assert_eq!(differences, &vec!["basis: pauli -> james16".to_string()]);
            }
            e => panic!("expected mismatch, got {e:?}"),
        }
        assert!(err.to_string().contains("basis: pauli -> james16"), "{err}");
        // Refusal changed nothing.
        assert_eq!(Manifest::read(&root).unwrap().unwrap(), manifest);

        fs::write(run_dir(&root).summary(), "{}").unwrap();
        let run = open_run(&root, other, 10, OpenMode::Fresh).unwrap();
        assert_eq!(run.opened, Opened::Fresh);
        assert_eq!(run.resume.pending(), 10);
        assert!(!log.exists());
        assert!(!run.dir.summary().exists());
        assert_eq!(Manifest::read(&root).unwrap().unwrap().basis, "james16");
    }

    fn run_dir(root: &Path) -> RunDir {
        RunDir::new(root)
    }

    #[test]
    fn changed_file_contents_are_named_and_paths_ignored() {
        let a = fingerprint();
        let mut moved = a.clone();
        moved.files.get_mut("input").unwrap().path = "elsewhere/in.csv".into();
        assert!(a.diff(&moved).is_empty(), "a moved file is the same file");
        let mut changed = a.clone();
        changed.files.get_mut("input").unwrap().sha256 = "cd34".repeat(16);
        changed.files.insert(
            "basis".into(),
            FileDigest {
                path: "kets.csv".into(),
                sha256: "ef56".repeat(16),
            },
        );
        assert_eq!(
            a.diff(&changed),
            vec![
                "basis file: (none) -> kets.csv",
                "input file in.csv changed since the run started (sha256 ab12ab12ab12... -> cd34cd34cd34...)",
            ]
        );
    }

    #[test]
    fn a_manifest_with_the_old_crc_fingerprint_is_refused_for_resuming() {
        let tmp = tempfile::tempdir().unwrap();
        drop(open_run(tmp.path(), fingerprint(), 3, OpenMode::Resume).unwrap());
        // Rewrite the manifest as the CRC-32 era wrote it.
        let path = tmp.path().join(MANIFEST);
        let mut json: serde_json::Value =
            serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        let fp = json["fingerprint"].as_object_mut().unwrap();
        fp.remove("files");
        fp.insert("input_sha".into(), "crc32:1234abcd:len:99".into());
        fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
        // Readers still read it; a resume is refused, --fresh starts over.
        assert_eq!(Manifest::read(tmp.path()).unwrap().unwrap().total, 3);
        let err = open_run(tmp.path(), fingerprint(), 3, OpenMode::Resume).unwrap_err();
        assert!(
            matches!(err, RunDirError::LegacyFingerprint { .. }),
            "{err}"
        );
        assert!(err.is_refusal());
        assert!(err.to_string().contains("--fresh"), "{err}");
        let run = open_run(tmp.path(), fingerprint(), 3, OpenMode::Fresh).unwrap();
        assert_eq!(run.manifest.fingerprint.input_sha, None);
    }

    #[test]
    fn shard_ranges_cover_the_input_once() {
        let mut fp = fingerprint();
        assert_eq!(fp.sample_range(10), 0..10);
        let mut next = 0;
        for i in 0..4 {
            fp.shard = Some((i, 4));
            let r = fp.sample_range(10);
            assert_eq!(r.start, next);
            next = r.end;
        }
        assert_eq!(next, 10);
    }

    #[test]
    fn only_a_missing_empty_or_run_directory_is_accepted() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(check_run_dir(&tmp.path().join("missing")).is_ok());
        assert!(check_run_dir(tmp.path()).is_ok());
        // What a run leaves before its manifest exists is still a run's.
        fs::write(tmp.path().join(RUN_LOCK), b"").unwrap();
        fs::write(tmp.path().join(".manifest.json.qtomo-tmp.1.0"), b"").unwrap();
        assert!(check_run_dir(tmp.path()).is_ok());
        fs::write(tmp.path().join("thesis.tex"), b"x").unwrap();
        let err = check_run_dir(tmp.path()).unwrap_err();
        assert!(err.is_refusal());
        assert!(err.to_string().contains("thesis.tex"), "{err}");
        let file = tmp.path().join("thesis.tex");
        let err = check_run_dir(&file).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
        assert!(matches!(
            open_run(tmp.path(), fingerprint(), 3, OpenMode::Fresh),
            Err(RunDirError::NotARunDir { .. })
        ));
        assert_eq!(fs::read(&file).unwrap(), b"x");
    }

    #[test]
    fn orphan_log_and_bad_manifest_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(RESULTS_LOG), b"").unwrap();
        assert!(matches!(
            open_run(tmp.path(), fingerprint(), 3, OpenMode::Resume),
            Err(RunDirError::OrphanLog { .. })
        ));
        fs::write(tmp.path().join(MANIFEST), b"{not json").unwrap();
        let err = open_run(tmp.path(), fingerprint(), 3, OpenMode::Resume).unwrap_err();
        assert!(matches!(err, RunDirError::BadManifest { .. }));
        assert!(err.to_string().contains("manifest.json"), "{err}");
    }
}
