//! Atomic replacement of files: the one way qtomo writes a file that a
//! reader (or a crash) must see whole or not at all.
//!
//! [`TempFile`] is a temporary file next to the target; it is fsynced,
//! renamed over the target and the directory fsynced on
//! [`TempFile::commit`], and removed if dropped uncommitted. After a crash
//! the target holds either the old or the new bytes, never a mix, and the
//! rename itself is durable. [`atomic_write`] does this for bytes in
//! memory (metadata files); exports and `simulate` stream into a
//! [`TempFile`]. Temporary names carry the writer's pid, so
//! [`remove_stale_temps`] can tell a killed writer's leftovers.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A failed atomic write; names the file and the step that failed.
#[derive(Debug, thiserror::Error)]
#[error("could not {action} while atomically writing {path}")]
pub struct AtomicWriteError {
    /// What was being done: "create temporary file", "rename", ...
    pub action: &'static str,
    /// The file that was being replaced.
    pub path: PathBuf,
    /// The underlying I/O error.
    #[source]
    pub source: io::Error,
}

/// Distinguishes temporary files of concurrent writers in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The tag in the name of every temporary file qtomo writes:
/// `.<target name>.qtomo-tmp.<pid>.<n>`.
pub const TEMP_TAG: &str = "qtomo-tmp";

/// A temporary path in the same directory as `target` (so that `rename` is
/// atomic), unique within this process and across processes:
/// `.<name>.qtomo-tmp.<pid>.<n>`. The pid lets [`remove_stale_temps`] tell
/// the leftovers of a killed writer from a live writer's file.
pub(crate) fn temp_path_for(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = format!(".{name}.{TEMP_TAG}.{}.{n}", std::process::id());
    match target.parent() {
        Some(dir) => dir.join(tmp),
        None => PathBuf::from(tmp),
    }
}

/// The target name and writer pid of a temporary file name
/// (`.<target>.qtomo-tmp.<pid>.<n>`, or `.<target>.tmp.<pid>.<n>` as
/// written by earlier versions), or `None` if `name` is not one.
pub(crate) fn parse_temp(name: &str) -> Option<(&str, i32)> {
    let rest = name.strip_prefix('.')?;
    let mut parts = rest.rsplitn(3, '.');
    let n = parts.next()?;
    let pid = parts.next()?;
    let stem = parts.next()?;
    n.parse::<u64>().ok()?;
    let pid = pid.parse().ok()?;
    let target = stem
        .strip_suffix(".qtomo-tmp")
        .or_else(|| stem.strip_suffix(".tmp"))?;
    (!target.is_empty()).then_some((target, pid))
}

/// The pid in the name of a temporary file for `target_name`, or `None` if
/// `name` is not one (see [`parse_temp`]).
pub(crate) fn temp_owner(name: &str, target_name: &str) -> Option<i32> {
    parse_temp(name).and_then(|(t, pid)| (t == target_name).then_some(pid))
}

/// True when a process with this pid exists (or may: a pid we may not
/// signal is taken to be alive).
fn process_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

/// Removes, from `dir`, the temporary files for `target_name` left by
/// writers that no longer run (an export or a run killed mid-write), and
/// returns how many it removed. Files of live processes are left alone.
pub(crate) fn remove_stale_temps(dir: &Path, target_name: &str) -> io::Result<usize> {
    remove_stale_temps_where(dir, |t| t == target_name)
}

/// Like [`remove_stale_temps`], for every target name `wanted` accepts.
pub(crate) fn remove_stale_temps_where(
    dir: &Path,
    wanted: impl Fn(&str) -> bool,
) -> io::Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(parse_temp)
            .filter(|(t, _)| wanted(t))
            .map(|(_, pid)| pid)
        else {
            continue;
        };
        if process_alive(pid) {
            continue;
        }
        match fs::remove_file(entry.path()) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Fsyncs a directory so that renames, creations and removals in it are
/// durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A temporary file that becomes `dest` on [`TempFile::commit`], or
/// disappears if dropped first.
///
/// A destination that exists and is neither a regular file nor a
/// directory (`/dev/null`, `/dev/stdout`, a FIFO, a terminal) is written
/// directly instead: renaming a file over it would replace the device
/// (as root, `--out /dev/null` would turn `/dev/null` into a plain file),
/// and "whole or not at all" does not apply to a stream anyway.
#[derive(Debug)]
pub struct TempFile {
    /// `None` when writing straight into a device or pipe.
    tmp: Option<PathBuf>,
    dest: PathBuf,
    committed: bool,
}

impl TempFile {
    /// Creates a fresh temporary file next to `dest` (see
    /// [`temp_path_for`]) and returns it open for writing.
    pub fn create(dest: &Path) -> Result<(TempFile, File), AtomicWriteError> {
        let special = fs::metadata(dest).is_ok_and(|m| !m.is_file() && !m.is_dir());
        if special {
            let file = OpenOptions::new()
                .write(true)
                .open(dest)
                .map_err(|source| AtomicWriteError {
                    action: "open for writing",
                    path: dest.to_path_buf(),
                    source,
                })?;
            let direct = TempFile {
                tmp: None,
                dest: dest.to_path_buf(),
                committed: false,
            };
            return Ok((direct, file));
        }
        let tmp = temp_path_for(dest);
        // create_new is O_CREAT|O_EXCL: it refuses any existing path at
        // `tmp`, a symbolic link included.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|source| AtomicWriteError {
                action: "create temporary file",
                path: dest.to_path_buf(),
                source,
            })?;
        let temp = TempFile {
            tmp: Some(tmp),
            dest: dest.to_path_buf(),
            committed: false,
        };
        Ok((temp, file))
    }

    /// Fsyncs `file` (the one [`TempFile::create`] returned, written),
    /// renames it over the destination and fsyncs the directory. On failure
    /// the temporary file is removed and the destination left as it was.
    pub fn commit(mut self, file: File) -> Result<(), AtomicWriteError> {
        let dest = self.dest.clone();
        let err = move |action: &'static str| {
            let path = dest.clone();
            move |source: io::Error| AtomicWriteError {
                action,
                path,
                source,
            }
        };
        let Some(tmp) = self.tmp.clone() else {
            // Written straight into a device or pipe: nothing to rename.
            drop(file);
            self.committed = true;
            return Ok(());
        };
        file.sync_all().map_err(err("fsync temporary file"))?;
        drop(file);
        fs::rename(&tmp, &self.dest).map_err(err("rename temporary file"))?;
        self.committed = true;
        sync_dir(parent_dir(&self.dest)).map_err(err("fsync directory"))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let (false, Some(tmp)) = (self.committed, &self.tmp) {
            // Best effort: an error being returned is the one that matters.
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Replaces `path` with `bytes` atomically and durably (a `TempFile`
/// written at once). On failure `path` is left untouched.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), AtomicWriteError> {
    let (temp, mut file) = TempFile::create(path)?;
    file.write_all(bytes).map_err(|source| AtomicWriteError {
        action: "write temporary file",
        path: path.to_path_buf(),
        source,
    })?;
    temp.commit(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_or_device_is_written_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        // A FIFO gets the bytes and stays a FIFO: the path /dev/null and
        // other devices take (as root a rename would replace /dev/null with
        // a plain file; not tested on it, so a regression cannot break the
        // machine).
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(fifo).unwrap())
        };
        atomic_write(&fifo, b"through the pipe").unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file"
        );
    }

    #[test]
    fn replaces_contents_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.json");
        atomic_write(&path, b"first").unwrap();
        atomic_write(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("meta.json")]);
    }

    #[test]
    fn stale_temps_of_dead_writers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // A pid that has exited: a child we started and reaped.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let me = std::process::id();
        for name in [
            format!(".results.jsonl.tmp.{dead}.0"),
            format!(".results.jsonl.qtomo-tmp.{dead}.3"),
            format!(".results.jsonl.qtomo-tmp.{me}.0"),
            format!(".results.csv.tmp.{dead}.0"),
            "results.jsonl".to_string(),
        ] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        assert_eq!(remove_stale_temps(dir.path(), "results.jsonl").unwrap(), 2);
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                format!(".results.csv.tmp.{dead}.0"),
                format!(".results.jsonl.qtomo-tmp.{me}.0"),
                "results.jsonl".to_string(),
            ]
        );
        assert_eq!(
            parse_temp(".rho_mle.npy.qtomo-tmp.7.2"),
            Some(("rho_mle.npy", 7))
        );
        assert_eq!(parse_temp(".x.tmp.7.2"), Some(("x", 7)));
        assert_eq!(parse_temp("x.tmp.7.2"), None);
        assert_eq!(parse_temp(".qtomo-tmp.7.2"), None);
        assert_eq!(temp_owner(".a.qtomo-tmp.12.0", "a"), Some(12));
        assert_eq!(temp_owner(".a.qtomo-tmp.x.0", "a"), None);
        assert_eq!(temp_owner(".ab.qtomo-tmp.12.0", "a"), None);
    }

    #[test]
    fn failure_names_path_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-subdir").join("meta.json");
        let err = atomic_write(&path, b"x").unwrap_err();
        assert!(err.to_string().contains("meta.json"), "{err}");
        assert_eq!(err.action, "create temporary file");
    }
}
