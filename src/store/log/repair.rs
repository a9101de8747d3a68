//! Repairs of a results log, each under the writers' lock and only if the
//! file is still as a scan found it: cutting a torn tail, and rewriting the
//! log without its damaged regions.

use crate::store::PathIoError;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::reader::SkippedRegion;
use super::{LogError, TornTail};
use crate::atomic::{parent_dir, sync_dir, temp_path_for};
use crate::store::fsutil::open_nofollow;

/// Rewrites the log at `path` without the damaged regions `damaged` and
/// without the torn tail `tail` (both as found by a scan of a file of
/// `scanned_len` bytes), keeping every valid frame byte for byte.
///
/// The new log is written to a temporary file next to it, fsynced and
/// renamed over it, so a crash leaves either the old or the new log. Call it
/// only while holding the run lock; like [`truncate_torn_tail`] it takes the
/// writers' lock on the file and refuses with [`LogError::ChangedSinceScan`]
/// if the file length no longer matches the scan.
pub fn remove_damage(
    path: &Path,
    damaged: &[SkippedRegion],
    tail: Option<&TornTail>,
    scanned_len: u64,
) -> Result<(), LogError> {
    let file = open_nofollow(OpenOptions::new().read(true).write(true), path)
        .map_err(LogError::io("open", path))?;
    file.lock().map_err(LogError::io("lock", path))?;
    let result = (|| {
        let found = file.metadata().map_err(LogError::io("stat", path))?.len();
        if found != scanned_len {
            return Err(LogError::ChangedSinceScan {
                path: path.to_path_buf(),
                expected: scanned_len,
                found,
            });
        }
        let mut keep = Vec::new();
        let mut pos = 0;
        let mut regions = damaged.to_vec();
        regions.sort_by_key(|r| r.offset);
        for r in &regions {
            if r.offset > pos {
                keep.push(pos..r.offset);
            }
            pos = pos.max(r.offset + r.len);
        }
        let end = tail.map_or(scanned_len, |t| t.offset);
        if end > pos {
            keep.push(pos..end);
        }
        let tmp = temp_path_for(path);
        let copied = copy_ranges(&file, &tmp, &keep).map_err(LogError::io("rewrite", path));
        if copied.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        copied?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            LogError::Io(PathIoError {
                action: "replace",
                path: path.to_path_buf(),
                source: e,
            })
        })?;
        sync_dir(parent_dir(path)).map_err(LogError::io("fsync the directory of", path))
    })();
    let unlocked = file.unlock().map_err(LogError::io("unlock", path));
    result?;
    unlocked
}

/// Writes the byte ranges `keep` of `src` to a new file `dest`, fsynced.
fn copy_ranges(src: &File, dest: &Path, keep: &[std::ops::Range<u64>]) -> io::Result<()> {
    let mut out = open_nofollow(OpenOptions::new().write(true).create_new(true), dest)?;
    let mut buf = vec![0u8; 1 << 20];
    for range in keep {
        let mut at = range.start;
        while at < range.end {
            let n = ((range.end - at) as usize).min(buf.len());
            src.read_exact_at(&mut buf[..n], at)?;
            out.write_all(&buf[..n])?;
            at += n as u64;
        }
    }
    out.sync_all()
}

/// Cuts a torn tail found by a scan off the log, so that appends can go on.
///
/// Call it only while holding the run lock ([`RunLock`]): it refuses with
/// [`LogError::ChangedSinceScan`] if the file length no longer matches the
/// scan, which is what a concurrent writer would cause.
///
/// [`RunLock`]: crate::store::RunLock
pub fn truncate_torn_tail(path: &Path, tail: &TornTail) -> Result<(), LogError> {
    let file =
        open_nofollow(OpenOptions::new().write(true), path).map_err(LogError::io("open", path))?;
    file.lock().map_err(LogError::io("lock", path))?;
    let result = (|| {
        let found = file.metadata().map_err(LogError::io("stat", path))?.len();
        let expected = tail.offset + tail.len;
        if found != expected {
            return Err(LogError::ChangedSinceScan {
                path: path.to_path_buf(),
                expected,
                found,
            });
        }
        file.set_len(tail.offset)
            .map_err(LogError::io("truncate", path))?;
        file.sync_all().map_err(LogError::io("fsync", path))
    })();
    let unlocked = file.unlock().map_err(LogError::io("unlock", path));
    result?;
    unlocked
}
