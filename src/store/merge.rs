//! Merging shard run directories (Slurm array tasks) into one run directory.
//!
//! [`merge`] checks that every shard's manifest describes the same run
//! except for its `shard` field, refuses any sample index recorded by two
//! shards, and writes a new run directory: a manifest with `shard: None`, a
//! `results.log` holding each index's effective record in index order
//! (frames copied verbatim, checksums re-verified), a `summary.json`, and
//! the shards' `target.json` when they all store the same one.
//! The merged directory is an ordinary run directory: `status` and `export`
//! read it.
//!
//! Every check comes before anything is written: a merge with samples
//! missing ([`MergeError::Incomplete`], naming the gaps and their shards)
//! or of shards that overlap or belong to different runs writes nothing.
//! The output is built in a temporary directory beside it
//! (`.<name>.qtomo-tmp.<pid>.<n>`) and renamed into place complete, so a
//! merge that fails or is killed never leaves a half output that blocks
//! the next merge (the temporary directory of a killed merge is removed
//! by the next merge into the same place). An output directory that
//! already has a manifest is refused.

use crate::store::PathIoError;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::lock::{LockError, probe};
use super::log::{LogError, LogWriter, SyncPolicy, frame_payload, read_payload_at};
use super::resume::{RecordIndex, ResumeError, ResumeState};
use super::rundir::{Manifest, RunDir, RunDirError, unix_now};
use super::summary::{RunOutcome, Summary, SummaryError};
use crate::atomic::{AtomicWriteError, temp_path_for};

/// Errors merging shards.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// No shard directories were given.
    #[error("nothing to merge: expected at least one shard directory")]
    NoShards,
    /// A shard has no manifest.
    #[error("{dir} is not a run directory: expected a manifest.json in it")]
    NoManifest {
        /// The shard directory.
        dir: PathBuf,
    },
    /// A shard's manifest differs from the first shard's.
    #[error("shard {dir} is from a different run than {reference} ({})", .differences.join("; "))]
    ManifestMismatch {
        /// The differing shard.
        dir: PathBuf,
        /// The first shard, used as reference.
        reference: PathBuf,
        /// "field: reference value -> this shard's value".
        differences: Vec<String>,
    },
    /// A shard is still being written by a run.
    #[error("shard {dir} is still in use by {}; wait for it to finish", match .holder_pid { Some(p) => format!("process {p}"), None => "another process".to_string() })]
    ShardInUse {
        /// The shard directory.
        dir: PathBuf,
        /// The run's pid, if recorded.
        holder_pid: Option<u32>,
    },
    /// Two shards both have a record for one index.
    #[error("sample {index} is recorded in both {first} and {second}; shards must not overlap")]
    Overlap {
        /// The sample index.
        index: u64,
        /// The first shard holding it.
        first: PathBuf,
        /// The second shard holding it.
        second: PathBuf,
    },
    /// Some samples have no result in any shard; nothing was written.
    #[error(
        "{missing} of {total} samples have no result in the shards given: {gaps}; finish those shards (rerun them to resume) and merge again (nothing was written)"
    )]
    Incomplete {
        /// Samples without a result.
        missing: u64,
        /// Samples in the run.
        total: u64,
        /// Which index ranges are missing and which shards should hold them.
        gaps: String,
    },
    /// The output directory already holds a run.
    #[error(
        "output directory {dir} already holds a run (it has a manifest.json); choose an empty directory"
    )]
    OutputExists {
        /// The output directory.
        dir: PathBuf,
    },
    /// A manifest could not be read or written.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// The output lock could not be taken.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// A shard's log could not be indexed.
    #[error(transparent)]
    Resume(#[from] ResumeError),
    /// A log could not be read or written.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A summary could not be read or written.
    #[error(transparent)]
    Summary(#[from] SummaryError),
    /// The merged log could not be renamed into place.
    #[error(transparent)]
    Commit(#[from] AtomicWriteError),
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] PathIoError),
}

impl MergeError {
    /// True for mistakes in the command (no shards, a directory that is
    /// not a run directory, shards that overlap or belong to different
    /// runs, an output that already holds a run or other files): a usage
    /// error, exit 2, nothing written.
    pub fn is_refusal(&self) -> bool {
        match self {
            MergeError::NoShards
            | MergeError::NoManifest { .. }
            | MergeError::ManifestMismatch { .. }
            | MergeError::Overlap { .. }
            | MergeError::OutputExists { .. } => true,
            MergeError::RunDir(e) => e.is_refusal(),
            _ => false,
        }
    }
}

/// What [`merge`] produced.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeReport {
    /// The merged manifest.
    pub manifest: Manifest,
    /// The merged summary.
    pub summary: Summary,
    /// Indices no shard has a record for.
    pub missing: u64,
    /// True when the shards store different fidelity targets (or only some
    /// store one): the merged directory then stores none, and `show` and
    /// `export` need `--target` for target metrics.
    pub targets_differ: bool,
}

/// Merges the run directories `shard_dirs` into a new run directory
/// `out_dir`; see the module docs.
pub fn merge(shard_dirs: &[PathBuf], out_dir: &Path) -> Result<MergeReport, MergeError> {
    let Some(reference_dir) = shard_dirs.first() else {
        return Err(MergeError::NoShards);
    };
    let mut manifests = Vec::with_capacity(shard_dirs.len());
    for dir in shard_dirs {
        let manifest =
            Manifest::read(dir)?.ok_or_else(|| MergeError::NoManifest { dir: dir.clone() })?;
        let lock = probe(dir)?;
        if lock.held {
            return Err(MergeError::ShardInUse {
                dir: dir.clone(),
                holder_pid: lock.holder_pid,
            });
        }
        manifests.push(manifest);
    }
    let reference = &manifests[0];
    for (dir, manifest) in shard_dirs.iter().zip(&manifests).skip(1) {
        let mut differences = unsharded(reference).diff(&unsharded(manifest));
        if manifest.total != reference.total {
            differences.push(format!("total: {} -> {}", reference.total, manifest.total));
        }
        if !differences.is_empty() {
            return Err(MergeError::ManifestMismatch {
                dir: dir.clone(),
                reference: reference_dir.clone(),
                differences,
            });
        }
    }
    let total = reference.total;

    // Which shard owns each index.
    const NONE: u32 = u32::MAX;
    let mut owner = vec![NONE; total as usize];
    let mut indexes = Vec::with_capacity(shard_dirs.len());
    for (s, dir) in shard_dirs.iter().enumerate() {
        let index = RecordIndex::from_log(&RunDir::new(dir).results_log(), total)?;
        for i in 0..total {
            if index.offset(i).is_some() {
                let o = &mut owner[i as usize];
                if *o != NONE {
                    return Err(MergeError::Overlap {
                        index: i,
                        first: shard_dirs[*o as usize].clone(),
                        second: dir.clone(),
                    });
                }
                *o = s as u32;
            }
        }
        indexes.push(index);
    }

    // Every sample must have a result: a merge with samples missing writes
    // nothing, so that merging again once the shards are finished works.
    let missing: u64 = owner.iter().filter(|&&o| o == NONE).count() as u64;
    if missing > 0 {
        return Err(MergeError::Incomplete {
            missing,
            total,
            gaps: describe_gaps(&owner, NONE, shard_dirs, &manifests),
        });
    }

    // What an older merge that crashed left (a log and a summary without a
    // manifest) may be replaced; anything else in the way is refused before
    // anything is written.
    super::rundir::check_out_dir(
        out_dir,
        &[super::rundir::RESULTS_LOG, super::rundir::SUMMARY],
    )?;
    let out = RunDir::new(out_dir);
    if out.manifest().exists() {
        return Err(MergeError::OutputExists {
            dir: out_dir.to_path_buf(),
        });
    }

    // The merged directory is built beside its final place under a
    // temporary name and renamed into place complete, so a merge that
    // fails or is killed never leaves a half output behind.
    let parent = crate::atomic::parent_dir(out_dir).to_path_buf();
    fs::create_dir_all(&parent).map_err(|source| {
        MergeError::Io(PathIoError {
            action: "create directory",
            path: parent.clone(),
            source,
        })
    })?;
    remove_stale_merge_dirs(out_dir);
    let tmp_dir = temp_path_for(out_dir);
    fs::create_dir(&tmp_dir).map_err(|source| {
        MergeError::Io(PathIoError {
            action: "create directory",
            path: tmp_dir.clone(),
            source,
        })
    })?;
    let built =
        write_merged(&tmp_dir, shard_dirs, &manifests, &owner, &indexes).and_then(|report| {
            replace_leftovers(out_dir)?;
            fs::rename(&tmp_dir, out_dir).map_err(|source| {
                MergeError::Io(PathIoError {
                    action: "move the merged directory into place at",
                    path: out_dir.to_path_buf(),
                    source,
                })
            })?;
            crate::atomic::sync_dir(&parent).map_err(|source| {
                MergeError::Io(PathIoError {
                    action: "fsync directory",
                    path: parent.clone(),
                    source,
                })
            })?;
            Ok(report)
        });
    if built.is_err() {
        // Best effort: nothing of a failed merge stays behind.
        let _ = fs::remove_dir_all(&tmp_dir);
    }
    built
}

/// Writes the merged log, summary and manifest into the new directory `dir`.
fn write_merged(
    dir: &Path,
    shard_dirs: &[PathBuf],
    manifests: &[Manifest],
    owner: &[u32],
    indexes: &[RecordIndex],
) -> Result<MergeReport, MergeError> {
    let reference = &manifests[0];
    let total = reference.total;
    let out = RunDir::new(dir);
    let logs = shard_dirs
        .iter()
        .map(|dir| {
            let path = RunDir::new(dir).results_log();
            match super::fsutil::open_read_nofollow(&path) {
                Ok(f) => Ok((Some(f), path)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((None, path)),
                Err(source) => Err(MergeError::Io(PathIoError {
                    action: "open",
                    path,
                    source,
                })),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut writer = LogWriter::open(&out.results_log(), SyncPolicy::OnFlush)?;
    let mut state = ResumeState::new(total);
    let mut chunk = Vec::with_capacity(1 << 20);
    let mut payload = Vec::new();
    for i in 0..total {
        let Some(&s) = owner.get(i as usize) else {
            continue;
        };
        let (Some((file, path)), Some(index)) = (logs.get(s as usize), indexes.get(s as usize))
        else {
            continue;
        };
        let (Some(file), Some(offset)) = (file, index.offset(i)) else {
            continue;
        };
        read_payload_at(file, path, offset, &mut payload)?;
        frame_payload(&payload, &mut chunk);
        let ok = index.state.status(i) == Some(super::resume::IndexStatus::Ok);
        state.observe(i, ok, offset)?;
        if chunk.len() >= 1 << 20 {
            writer.append_framed(&chunk)?;
            chunk.clear();
        }
    }
    if !chunk.is_empty() {
        writer.append_framed(&chunk)?;
    }
    writer.flush_sync()?;
    drop(writer);

    // Summary from the merged bookkeeping and the shards' summaries.
    let mut elapsed_s: f64 = 0.0;
    let (mut workers, mut worker_restarts) = (0u32, 0u32);
    for dir in shard_dirs {
        if let Some(s) = Summary::read(dir)? {
            elapsed_s = elapsed_s.max(s.elapsed_s);
            workers += s.workers;
            worker_restarts += s.worker_restarts;
        }
    }
    let done = state.completed() + state.failed();
    let summary = Summary {
        status: if state.is_complete() {
            RunOutcome::Complete
        } else {
            RunOutcome::Interrupted
        },
        total,
        succeeded: state.completed(),
        failed: state.failed(),
        failed_indices: state.failed_indices(),
        elapsed_s,
        samples_per_s: if elapsed_s > 0.0 {
            done as f64 / elapsed_s
        } else {
            0.0
        },
        workers,
        worker_restarts,
        methods: reference.methods.clone(),
        basis: reference.basis.clone(),
        dim: reference.dim,
        log_write_errors: 0,
    };
    summary.write(dir)?;

    // The shards' target, when they agree on it (it is not part of the
    // fingerprint, so shards may have been given different ones).
    let targets = shard_dirs
        .iter()
        .map(|d| super::rundir::read_target(d))
        .collect::<Result<Vec<_>, _>>()?;
    let targets_differ = targets.iter().any(|t| t != &targets[0]);
    if let (false, Some(Some(target))) = (targets_differ, targets.first()) {
        super::rundir::write_target(dir, target)?;
    }

    let mut manifest = reference.clone();
    manifest.fingerprint.shard = None;
    manifest.created = unix_now();
    manifest.write(dir)?;
    Ok(MergeReport {
        manifest,
        summary,
        missing: state.pending(),
        targets_differ,
    })
}

/// Empties an existing output directory of what an older merge that
/// crashed left in it (checked by `check_out_dir` to be nothing else), so
/// that the merged directory can be renamed over it.
fn replace_leftovers(out_dir: &Path) -> Result<(), MergeError> {
    let io_err = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| {
            MergeError::Io(PathIoError {
                action,
                path,
                source,
            })
        }
    };
    let entries = match fs::read_dir(out_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("list", out_dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err("list", out_dir))?;
        let path = entry.path();
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", &path)(e)),
        }
    }
    Ok(())
}

/// Removes the temporary directories of merges into `out_dir` that were
/// killed (their process is gone). Best effort.
fn remove_stale_merge_dirs(out_dir: &Path) {
    let Some(name) = out_dir.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let Ok(entries) = fs::read_dir(crate::atomic::parent_dir(out_dir)) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name
            .to_str()
            .and_then(|n| crate::atomic::temp_owner(n, name))
        else {
            continue;
        };
        let alive = pid > 0
            && !matches!(
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
                Err(nix::errno::Errno::ESRCH)
            );
        if !alive && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Describes the samples without a result, for [`MergeError::Incomplete`]:
/// each gap as a range of indices and the shard that should have it (and
/// whether that shard was given), at most a few gaps.
fn describe_gaps(
    owner: &[u32],
    none: u32,
    shard_dirs: &[PathBuf],
    manifests: &[Manifest],
) -> String {
    const SHOWN: usize = 5;
    let total = owner.len() as u64;
    let count = manifests
        .first()
        .and_then(|m| m.fingerprint.shard)
        .map(|(_, n)| n);
    // Where shard i of n starts (see `Fingerprint::sample_range`); the
    // shard holding index k is the last one starting at or before k.
    let starts: Vec<u64> = count.map_or_else(Vec::new, |n| {
        (0..n)
            .map(|i| ((u128::from(i) * u128::from(total)) / u128::from(n)) as u64)
            .collect()
    });
    let shard_of = |k: u64| -> Option<u32> {
        let after = starts.partition_point(|&s| s <= k);
        after.checked_sub(1).map(|i| i as u32)
    };
    let mut gaps: Vec<(u64, u64, Option<u32>)> = Vec::new();
    let mut k = 0u64;
    while k < total {
        if owner[k as usize] != none {
            k += 1;
            continue;
        }
        let shard = shard_of(k);
        let start = k;
        while k < total && owner[k as usize] == none && shard_of(k) == shard {
            k += 1;
        }
        gaps.push((start, k, shard));
    }
    let mut parts: Vec<String> = gaps
        .iter()
        .take(SHOWN)
        .map(|&(start, end, shard)| {
            let range = if end - start == 1 {
                format!("sample {start}")
            } else {
                format!("samples {start}..{}", end - 1)
            };
            match (shard, count) {
                (Some(i), Some(n)) => {
                    let given = shard_dirs
                        .iter()
                        .zip(manifests)
                        .find(|(_, m)| m.fingerprint.shard == Some((i, n)));
                    match given {
                        Some((dir, _)) => {
                            format!("{range} (shard {i}/{n}, {}: unfinished)", dir.display())
                        }
                        None => format!("{range} (shard {i}/{n}: not given)"),
                    }
                }
                _ => range,
            }
        })
        .collect();
    if gaps.len() > SHOWN {
        parts.push(format!("and {} more gaps", gaps.len() - SHOWN));
    }
    parts.join(", ")
}

fn unsharded(m: &Manifest) -> super::rundir::Fingerprint {
    let mut f = m.fingerprint.clone();
    f.shard = None;
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::lock::RunLock;
    use crate::store::log::LogReader;
    use crate::store::record::test_support::record;
    use crate::store::rundir::{OpenMode, open_run, tests::fingerprint};

    const METHODS: &[&str] = &["mle", "pls"];

    /// Shard `s` of `n` over `total` samples: indices i with i % n == s,
    /// every 5th one failed; returns the shard directory.
    fn shard(root: &Path, s: u32, n: u32, total: u64, extra: &[u64]) -> PathBuf {
        let dir = root.join(format!("shard{s}"));
        let mut fp = fingerprint();
        fp.shard = Some((s, n));
        let run = open_run(&dir, fp, total, OpenMode::Resume).unwrap();
        let mut w = LogWriter::open(&run.dir.results_log(), SyncPolicy::OnFlush).unwrap();
        for i in (0..total)
            .filter(|i| i % u64::from(n) == u64::from(s))
            .chain(extra.iter().copied())
        {
            w.append(&record(i, i % 5 != 4, METHODS, 2)).unwrap();
        }
        Summary {
            status: RunOutcome::Complete,
            total,
            succeeded: 0,
            failed: 0,
            failed_indices: vec![],
            elapsed_s: 1.0 + f64::from(s),
            samples_per_s: 0.0,
            workers: 2,
            worker_restarts: s,
            methods: vec![],
            basis: String::new(),
            dim: 2,
            log_write_errors: 0,
        }
        .write(&dir)
        .unwrap();
        dir
    }

    #[test]
    fn merges_disjoint_shards_in_index_order() {
        let tmp = tempfile::tempdir().unwrap();
        let shards: Vec<PathBuf> = (0..3).map(|s| shard(tmp.path(), s, 3, 20, &[])).collect();
        let out = tmp.path().join("merged");
        let report = merge(&shards, &out).unwrap();
        assert_eq!(report.missing, 0);
        assert_eq!(report.manifest.fingerprint.shard, None);
        assert_eq!(report.summary.status, RunOutcome::Complete);
        assert_eq!(report.summary.succeeded, 16);
        assert_eq!(report.summary.failed_indices, vec![4, 9, 14, 19]);
        assert_eq!(report.summary.elapsed_s, 3.0);
        assert_eq!(report.summary.workers, 6);
        assert_eq!(report.summary.worker_restarts, 3);

        let scan = LogReader::scan(&out.join("results.log")).unwrap();
        let expected: Vec<_> = (0..20).map(|i| record(i, i % 5 != 4, METHODS, 2)).collect();
        assert_eq!(scan.records, expected);
        assert_eq!(Manifest::read(&out).unwrap().unwrap(), report.manifest);
        assert_eq!(Summary::read(&out).unwrap().unwrap(), report.summary);

        // The merged directory resumes as an unsharded run.
        let run = open_run(&out, fingerprint(), 20, OpenMode::Resume).unwrap();
        assert!(run.resume.is_complete());
        drop(run);

        // Merging into it again is refused.
        assert!(matches!(
            merge(&shards, &out),
            Err(MergeError::OutputExists { .. })
        ));
    }

    #[test]
    fn missing_samples_write_nothing_and_name_the_shard() {
        let tmp = tempfile::tempdir().unwrap();
        let s0 = shard(tmp.path(), 0, 2, 10, &[]);
        let out = tmp.path().join("out");
        let err = merge(std::slice::from_ref(&s0), &out).unwrap_err();
        match &err {
            MergeError::Incomplete { missing, total, .. } => {
                assert_eq!((*missing, *total), (5, 10));
            }
            e => panic!("expected incomplete, got {e:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("5 of 10 samples"), "{msg}");
        assert!(msg.contains("nothing was written"), "{msg}");
        assert!(!out.exists(), "an incomplete merge writes nothing");
        let leftovers: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn leftovers_of_a_crashed_merge_are_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let a = shard(tmp.path(), 0, 1, 4, &[]);
        let out = tmp.path().join("out");
        fs::create_dir(&out).unwrap();
        fs::write(out.join("results.log"), b"half").unwrap();
        fs::write(out.join("summary.json"), b"{").unwrap();
        let report = merge(std::slice::from_ref(&a), &out).unwrap();
        assert_eq!(report.summary.total, 4);
        let scan = LogReader::scan(&out.join("results.log")).unwrap();
        assert_eq!(scan.records.len(), 4);
    }

    #[test]
    fn overlap_is_refused_naming_index_and_both_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let a = shard(tmp.path(), 0, 2, 10, &[]);
        let b = shard(tmp.path(), 1, 2, 10, &[6]);
        let out = tmp.path().join("out");
        let err = merge(&[a.clone(), b.clone()], &out).unwrap_err();
        match &err {
            MergeError::Overlap {
                index,
                first,
                second,
            } => {
                assert_eq!(*index, 6);
                assert_eq!(first, &a);
                assert_eq!(second, &b);
            }
            e => panic!("expected overlap, got {e:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains("sample 6") && msg.contains("shard0") && msg.contains("shard1"),
            "{msg}"
        );
        assert!(!out.join("manifest.json").exists());
    }

    #[test]
    fn manifest_mismatch_names_dir_and_field() {
        let tmp = tempfile::tempdir().unwrap();
        let a = shard(tmp.path(), 0, 2, 10, &[]);
        let b = tmp.path().join("other");
        let mut fp = fingerprint();
        fp.basis = "james16".into();
        fp.shard = Some((1, 2));
        drop(open_run(&b, fp, 10, OpenMode::Resume).unwrap());
        let err = merge(&[a, b.clone()], &tmp.path().join("out")).unwrap_err();
        assert!(matches!(&err, MergeError::ManifestMismatch { dir, .. } if *dir == b));
        let msg = err.to_string();
        assert!(
            msg.contains("basis: pauli -> james16") && msg.contains("other"),
            "{msg}"
        );
    }

    #[test]
    fn an_output_directory_of_other_files_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let a = shard(tmp.path(), 0, 1, 4, &[]);
        let out = tmp.path().join("out");
        fs::create_dir(&out).unwrap();
        fs::write(out.join("thesis.tex"), b"x").unwrap();
        let err = merge(std::slice::from_ref(&a), &out).unwrap_err();
        assert!(
            matches!(&err, MergeError::RunDir(e) if e.is_refusal()),
            "{err:?}"
        );
        assert_eq!(fs::read_dir(&out).unwrap().count(), 1);
    }

    #[test]
    fn shard_in_use_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let a = shard(tmp.path(), 0, 1, 4, &[]);
        let _held = RunLock::acquire(&a).unwrap();
        let err = merge(std::slice::from_ref(&a), &tmp.path().join("out")).unwrap_err();
        assert!(matches!(err, MergeError::ShardInUse { .. }), "{err:?}");
    }
}
