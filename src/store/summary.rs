//! `summary.json`: the outcome of a run, written after every run, complete
//! or not.
//!
//! The JSON shape is part of the command-line contract:
//!
//! ```text
//! {"status":"complete"|"interrupted"|"aborted","total":N,"succeeded":..,
//!  "failed":..,"failed_indices":[..],"elapsed_s":..,"samples_per_s":..,
//!  "workers":..,"worker_restarts":..,"methods":[..],"basis":"..","dim":..,
//!  "log_write_errors":..}
//! ```

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::rundir::SUMMARY;
use crate::atomic::{AtomicWriteError, atomic_write};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOutcome {
    /// Every sample has a record (ok or failed).
    Complete,
    /// Stopped by a signal; resumable.
    Interrupted,
    /// Stopped by a fatal error (restart intensity exceeded, I/O error).
    Aborted,
    /// Written by a newer qtomo with a status this build does not know.
    #[serde(other)]
    Unknown,
}

impl RunOutcome {
    /// The name used in `summary.json` (`complete`, `interrupted`,
    /// `aborted`; `unknown` for a status this build does not know).
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Complete => "complete",
            RunOutcome::Interrupted => "interrupted",
            RunOutcome::Aborted => "aborted",
            RunOutcome::Unknown => "unknown",
        }
    }
}

/// Contents of `summary.json`; field names are the contract's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// How the run ended.
    pub status: RunOutcome,
    /// Number of samples in the run.
    pub total: u64,
    /// Samples with an ok record.
    pub succeeded: u64,
    /// Samples whose records are all failures.
    pub failed: u64,
    /// Indices of the failed samples, ascending.
    pub failed_indices: Vec<u64>,
    /// Wall-clock duration of this run (this invocation), seconds.
    pub elapsed_s: f64,
    /// Samples processed per second by this run.
    pub samples_per_s: f64,
    /// Worker processes used.
    pub workers: u32,
    /// Workers killed and replaced during the run.
    pub worker_restarts: u32,
    /// Estimators run.
    pub methods: Vec<String>,
    /// Measurement basis.
    pub basis: String,
    /// Hilbert-space dimension.
    pub dim: u32,
    /// Writes to stderr that failed (a closed pipe, a hung-up terminal) and
    /// were dropped: logging never stops a run. 0 in summaries written
    /// before this field existed.
    #[serde(default)]
    pub log_write_errors: u64,
}

/// Errors reading or writing `summary.json`.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    /// The file could not be read.
    #[error("could not read summary {path}")]
    Read {
        /// The summary file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// The file is not a summary.
    #[error("could not parse summary {path}: expected a qtomo summary.json")]
    Parse {
        /// The summary file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The file could not be written.
    #[error(transparent)]
    Write(#[from] AtomicWriteError),
}

impl Summary {
    /// Writes `dir/summary.json` atomically (temp file, fsync, rename).
    pub fn write(&self, dir: &Path) -> Result<(), SummaryError> {
        let path = dir.join(SUMMARY);
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|source| SummaryError::Parse {
            path: path.clone(),
            source,
        })?;
        bytes.push(b'\n');
        atomic_write(&path, &bytes)?;
        Ok(())
    }

    /// Reads `dir/summary.json`; `Ok(None)` if there is none yet.
    pub fn read(dir: &Path) -> Result<Option<Summary>, SummaryError> {
        let path = dir.join(SUMMARY);
        let bytes = match super::fsutil::read_nofollow(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SummaryError::Read { path, source }),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| SummaryError::Parse { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn summary() -> Summary {
        Summary {
            status: RunOutcome::Interrupted,
            total: 10,
            succeeded: 7,
            failed: 1,
            failed_indices: vec![4],
            elapsed_s: 2.5,
            samples_per_s: 3.2,
            workers: 2,
            worker_restarts: 1,
            methods: vec!["mle".into(), "linear".into()],
            basis: "pauli".into(),
            dim: 4,
            log_write_errors: 0,
        }
    }

    #[test]
    fn json_field_names_are_the_contract() {
        let v = serde_json::to_value(summary()).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected = vec![
            "status",
            "total",
            "succeeded",
            "failed",
            "failed_indices",
            "elapsed_s",
            "samples_per_s",
            "workers",
            "worker_restarts",
            "methods",
            "basis",
            "dim",
            "log_write_errors",
        ];
        let mut keys = keys;
        keys.sort_unstable();
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(v["status"], "interrupted");
        for (s, o) in [
            ("complete", RunOutcome::Complete),
            ("aborted", RunOutcome::Aborted),
            ("paused", RunOutcome::Unknown),
        ] {
            let parsed: RunOutcome = serde_json::from_str(&format!("\"{s}\"")).unwrap();
            assert_eq!(parsed, o);
        }
    }

    #[test]
    fn atomic_write_replaces_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Summary::read(dir.path()).unwrap(), None);
        let mut s = summary();
        s.write(dir.path()).unwrap();
        assert_eq!(Summary::read(dir.path()).unwrap(), Some(s.clone()));
        s.status = RunOutcome::Complete;
        s.write(dir.path()).unwrap();
        assert_eq!(Summary::read(dir.path()).unwrap(), Some(s));
        let entries = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(entries, 1, "no temp files left behind");
        fs::write(dir.path().join(SUMMARY), "[1,2").unwrap();
        let err = Summary::read(dir.path()).unwrap_err();
        assert!(err.to_string().contains("summary.json"), "{err}");
    }
}
