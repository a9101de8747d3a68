//! Progress of a run directory, readable while a run is writing to it.
//!
//! [`RunStatus::read`] never takes the exclusive run lock: it reads the
//! manifest and `summary.json`, streams the heads of the log records as they
//! are at that moment (an append in flight shows as a few torn bytes and is
//! not counted), and asks [`probe`] whether a run holds the lock (a shared
//! lock held for an instant).
//!
//! # Rate and ETA
//!
//! While a run is active the rate is estimated from record timing: over the
//! last [`RATE_WINDOW`] records, `distinct workers / mean seconds per
//! sample`. It ignores dispatch overhead and so errs optimistic for
//! microsecond samples, but needs no state outside the log. The ETA is
//! `pending / rate`. When no run is active the rate is the last summary's
//! `samples_per_s` and there is no ETA.

use crate::store::PathIoError;
use std::collections::{HashSet, VecDeque};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::Serialize;

use super::lock::{LockError, probe};
use super::log::{LogError, LogReader};
use super::resume::{IndexStatus, ResumeError, ResumeState};
use super::rundir::{Manifest, RunDir, RunDirError};
use super::summary::{Summary, SummaryError};

/// Number of most recent records the rate estimate looks at.
pub const RATE_WINDOW: usize = 512;

/// Errors reading the status of a run directory.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The directory has no manifest.
    #[error("{dir} is not a run directory: expected a manifest.json in it")]
    NoManifest {
        /// The directory.
        dir: PathBuf,
    },
    /// The manifest could not be read.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// The log could not be read.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A record does not fit the run.
    #[error(transparent)]
    Resume(#[from] ResumeError),
    /// The lock could not be probed.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The summary could not be read.
    #[error(transparent)]
    Summary(#[from] SummaryError),
    /// The log's metadata could not be read.
    #[error(transparent)]
    Io(#[from] PathIoError),
}

impl StatusError {
    /// True when the directory given is not a run directory (or holds
    /// another run's refused files): a usage error, exit 2.
    pub fn is_refusal(&self) -> bool {
        match self {
            StatusError::NoManifest { .. } => true,
            StatusError::RunDir(e) => e.is_refusal(),
            _ => false,
        }
    }
}

/// One damaged region of a results log, as `status` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DamagedRegion {
    /// Byte offset where the damage starts.
    pub offset: u64,
    /// Length in bytes.
    pub bytes: u64,
    /// What is wrong there.
    pub defect: String,
}

/// A snapshot of a run directory's progress (serialisable for
/// `status --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunStatus {
    /// The run directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// Samples in the run: the shard's range for a shard directory.
    pub total: u64,
    /// Samples with an ok record.
    pub done: u64,
    /// Samples whose records are all failures.
    pub failed: u64,
    /// Samples with no record yet.
    pub pending: u64,
    /// Valid records in the log, duplicates included.
    pub records: u64,
    /// True when a run holds the directory's lock.
    pub running: bool,
    /// Pid of that run, if it recorded one.
    pub holder_pid: Option<u32>,
    /// Samples per second (see the module docs), if known.
    pub rate_per_s: Option<f64>,
    /// Estimated seconds to finish, while running.
    pub eta_s: Option<f64>,
    /// Size of the results log in bytes.
    pub log_bytes: u64,
    /// Bytes after the last valid frame (an append in flight, or the remains
    /// of a crash that the next resume truncates).
    pub torn_bytes: u64,
    /// Damaged regions in the middle of the log (their records do not
    /// count; the next run removes them and recomputes their samples).
    pub damaged_regions: u64,
    /// Bytes in those regions.
    pub damaged_bytes: u64,
    /// Each damaged region.
    pub damage: Vec<DamagedRegion>,
    /// Last modification of the results log, seconds since the Unix epoch.
    pub last_write_unix_s: Option<u64>,
    /// The last run's summary, if one was written and could be read.
    pub summary: Option<Summary>,
    /// Why `summary.json` could not be read, when it is damaged.
    pub summary_error: Option<String>,
}

impl RunStatus {
    /// Reads the status of the run directory `dir`.
    pub fn read(dir: &Path) -> Result<RunStatus, StatusError> {
        let manifest = Manifest::read(dir)?.ok_or_else(|| StatusError::NoManifest {
            dir: dir.to_path_buf(),
        })?;
        let lock = probe(dir)?;
        // A damaged summary is reported, not fatal: the log is the truth,
        // and the next run rewrites the summary.
        let (summary, summary_error) = match Summary::read(dir) {
            Ok(summary) => (summary, None),
            Err(e) => (None, Some(error_chain(&e))),
        };
        let log_path = RunDir::new(dir).results_log();
        let mut state = ResumeState::new(manifest.total);
        let mut recent: VecDeque<(u32, u64)> = VecDeque::with_capacity(RATE_WINDOW);
        let (mut log_bytes, mut torn_bytes, mut last_write_unix_s) = (0, 0, None);
        let mut damage = Vec::new();
        match LogReader::open(&log_path) {
            Ok(mut reader) => {
                while let Some((offset, head)) = reader.next_head()? {
                    state.observe(head.index, head.ok, offset)?;
                    if recent.len() == RATE_WINDOW {
                        recent.pop_front();
                    }
                    recent.push_back((head.worker_pid, head.elapsed_us));
                }
                torn_bytes = reader.torn_tail().map_or(0, |t| t.len);
                damage = reader
                    .skipped()
                    .iter()
                    .map(|r| DamagedRegion {
                        offset: r.offset,
                        bytes: r.len,
                        defect: r.defect.to_string(),
                    })
                    .collect();
                let meta = fs::symlink_metadata(&log_path).map_err(|source| {
                    StatusError::Io(PathIoError {
                        action: "stat",
                        path: log_path.clone(),
                        source,
                    })
                })?;
                log_bytes = meta.len();
                last_write_unix_s = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map(|d| d.as_secs());
            }
            Err(LogError::Io(PathIoError { source, .. }))
                if source.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        // A shard directory covers only its range of the input.
        let range = manifest.fingerprint.sample_range(manifest.total);
        let (mut done, mut failed) = (0u64, 0u64);
        for i in range.clone() {
            match state.status(i) {
                Some(IndexStatus::Ok) => done += 1,
                Some(IndexStatus::Failed) => failed += 1,
                _ => {}
            }
        }
        let total = range.end - range.start;
        let pending = total - done - failed;
        let (rate_per_s, eta_s) = if lock.held {
            let rate = rate_from_timing(&recent);
            (rate, rate.map(|r| pending as f64 / r))
        } else {
            (summary.as_ref().map(|s| s.samples_per_s), None)
        };
        Ok(RunStatus {
            dir: dir.to_path_buf(),
            total,
            manifest,
            done,
            failed,
            pending,
            records: state.records_seen(),
            running: lock.held,
            holder_pid: lock.holder_pid,
            rate_per_s,
            eta_s,
            log_bytes,
            torn_bytes,
            damaged_regions: damage.len() as u64,
            damaged_bytes: damage.iter().map(|r| r.bytes).sum(),
            damage,
            last_write_unix_s,
            summary,
            summary_error,
        })
    }
}

/// An error and its sources, as one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Distinct workers over mean seconds per sample, from recent records.
fn rate_from_timing(recent: &VecDeque<(u32, u64)>) -> Option<f64> {
    if recent.is_empty() {
        return None;
    }
    let workers = recent
        .iter()
        .map(|(pid, _)| pid)
        .collect::<HashSet<_>>()
        .len();
    let mean_us = recent.iter().map(|(_, us)| *us as f64).sum::<f64>() / recent.len() as f64;
    (mean_us > 0.0).then(|| workers as f64 * 1e6 / mean_us)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::lock::RunLock;
    use crate::store::log::{LogWriter, SyncPolicy};
    use crate::store::record::test_support::record;
    use crate::store::rundir::{OpenMode, open_run, tests::fingerprint};
    use crate::store::summary::RunOutcome;

    #[test]
    fn reports_progress_lock_holder_rate_and_eta_while_running() {
        let tmp = tempfile::tempdir().unwrap();
        let run = open_run(tmp.path(), fingerprint(), 100, OpenMode::Resume).unwrap();
        let mut w = LogWriter::open(&run.dir.results_log(), SyncPolicy::OnFlush).unwrap();
        for i in 0..40u64 {
            let mut r = record(i, i % 10 != 9, &["mle"], 2);
            r.worker_pid = 1000 + (i % 4) as u32; // four workers
            r.elapsed_us = 2_000_000; // 2 s per sample
            w.append(&r).unwrap();
        }
        // An append in flight: a partial frame at the end.
        fs::OpenOptions::new()
            .append(true)
            .open(run.dir.results_log())
            .and_then(|mut f| io::Write::write_all(&mut f, &[7, 0, 0]))
            .unwrap();

        let st = RunStatus::read(tmp.path()).unwrap();
        assert_eq!((st.total, st.done, st.failed, st.pending), (100, 36, 4, 60));
        assert!(st.running);
        assert_eq!(st.holder_pid, Some(std::process::id()));
        let rate = st.rate_per_s.unwrap();
        assert!((rate - 2.0).abs() < 1e-9, "{rate}");
        assert!((st.eta_s.unwrap() - 30.0).abs() < 1e-9);
        assert_eq!(st.torn_bytes, 3);
        assert!(st.last_write_unix_s.is_some());
        // Reading status did not disturb the running lock.
        assert!(RunLock::acquire(tmp.path()).is_err());
        let json = serde_json::to_value(&st).unwrap();
        assert_eq!(json["done"], 36);
        drop(run);

        let st = RunStatus::read(tmp.path()).unwrap();
        assert!(!st.running);
        assert_eq!(st.eta_s, None);
        assert_eq!(st.rate_per_s, None);
    }

    #[test]
    fn idle_directory_uses_the_summary_rate() {
        let tmp = tempfile::tempdir().unwrap();
        drop(open_run(tmp.path(), fingerprint(), 5, OpenMode::Resume).unwrap());
        Summary {
            status: RunOutcome::Interrupted,
            total: 5,
            succeeded: 0,
            failed: 0,
            failed_indices: vec![],
            elapsed_s: 1.0,
            samples_per_s: 12.5,
            workers: 1,
            worker_restarts: 0,
            methods: vec!["mle".into()],
            basis: "pauli".into(),
            dim: 4,
            log_write_errors: 0,
        }
        .write(tmp.path())
        .unwrap();
        let st = RunStatus::read(tmp.path()).unwrap();
        assert_eq!(st.pending, 5);
        assert_eq!(st.log_bytes, 0);
        assert_eq!(st.rate_per_s, Some(12.5));
        assert_eq!(st.summary.unwrap().status, RunOutcome::Interrupted);
    }

    #[test]
    fn not_a_run_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let err = RunStatus::read(tmp.path()).unwrap_err();
        assert!(err.to_string().contains("manifest.json"), "{err}");
    }
}
