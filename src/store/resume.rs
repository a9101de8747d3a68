//! Resume bookkeeping: which samples a run still has to do.
//!
//! [`ResumeState`] keeps one byte per sample index (pending, ok, failed), so
//! building it from a log of a million records takes one pass over the log,
//! decoding only the head of each record ([`RecordHead`]) and never holding
//! a density matrix.
//!
//! # Which record counts
//!
//! An index may have several records (a failed sample retried by a later
//! run, a sample finished twice around a worker restart). The effective
//! record of an index is its **latest ok record if it has one, else its
//! latest failed record**. So a later ok supersedes an earlier failure, and
//! an ok result is never thrown away by a failure recorded after it (the
//! supervisor never retries an ok sample, so that order only arises from
//! races, where the ok result is still a valid result). Export and merge use
//! the same rule.

use crate::store::PathIoError;
use std::io;
use std::path::Path;

#[cfg(test)]
use super::log::ScanResult;
use super::log::{LogError, LogReader, SkippedRegion, TornTail};
use super::record::RecordHead;

const PENDING: u8 = 0;
const OK: u8 = 1;
const FAILED: u8 = 2;

/// Errors building a [`ResumeState`].
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    /// The log could not be read.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A record names a sample the run does not have.
    #[error(
        "the record at byte offset {offset} is for sample {index}, but the run has only {total} samples"
    )]
    IndexOutOfRange {
        /// Byte offset of the record's frame (0 when built from a scan).
        offset: u64,
        /// The record's sample index.
        index: u64,
        /// Number of samples in the run.
        total: u64,
    },
}

/// Where one sample stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexStatus {
    /// No record yet.
    Pending,
    /// Has an ok record.
    Ok,
    /// Has only failed records.
    Failed,
}

/// Per-index progress of a run, one byte per sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeState {
    status: Vec<u8>,
    ok: u64,
    failed: u64,
    records: u64,
}

/// A [`ResumeState`] read from a log, with what the read found at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeScan {
    /// The bookkeeping.
    pub state: ResumeState,
    /// Length of the valid prefix of the log.
    pub valid_len: u64,
    /// The torn tail, if any; truncate it before appending.
    pub torn_tail: Option<TornTail>,
    /// Damaged regions in the middle of the log (their records did not
    /// count); see [`remove_damage`](super::remove_damage).
    pub damaged: Vec<SkippedRegion>,
    /// Length of the log file when it was read.
    pub file_len: u64,
}

impl ResumeState {
    /// A run of `total` samples with nothing done.
    pub fn new(total: u64) -> ResumeState {
        ResumeState {
            status: vec![PENDING; total as usize],
            ok: 0,
            failed: 0,
            records: 0,
        }
    }

    /// Folds in one record. `offset` is only used in the error. Returns
    /// true when this record is now the effective record of its index
    /// (see the module docs).
    pub fn observe(&mut self, index: u64, ok: bool, offset: u64) -> Result<bool, ResumeError> {
        let total = self.total();
        let Some(slot) = self
            .status
            .get_mut(index as usize)
            .filter(|_| index < total)
        else {
            return Err(ResumeError::IndexOutOfRange {
                offset,
                index,
                total,
            });
        };
        self.records += 1;
        let effective = match (*slot, ok) {
            (PENDING, true) => {
                *slot = OK;
                self.ok += 1;
                true
            }
            (PENDING, false) => {
                *slot = FAILED;
                self.failed += 1;
                true
            }
            (FAILED, true) => {
                *slot = OK;
                self.failed -= 1;
                self.ok += 1;
                true
            }
            (FAILED, false) | (OK, true) => true,
            _ => false,
        };
        Ok(effective)
    }

    /// Builds the state from a full scan (for tests, to check
    /// [`ResumeState::from_log`] against).
    #[cfg(test)]
    pub fn from_scan(scan: &ScanResult, total: u64) -> Result<ResumeState, ResumeError> {
        let mut state = ResumeState::new(total);
        for record in &scan.records {
            state.observe(record.index, record.is_ok(), 0)?;
        }
        Ok(state)
    }

    /// Builds the state by streaming the log at `path`, decoding only the
    /// head of each record. A missing log is a run with nothing done.
    pub fn from_log(path: &Path, total: u64) -> Result<ResumeScan, ResumeError> {
        let mut reader = match LogReader::open(path) {
            Ok(reader) => reader,
            Err(LogError::Io(PathIoError { source, .. }))
                if source.kind() == io::ErrorKind::NotFound =>
            {
                return Ok(ResumeScan {
                    state: ResumeState::new(total),
                    valid_len: 0,
                    torn_tail: None,
                    damaged: Vec::new(),
                    file_len: 0,
                });
            }
            Err(e) => return Err(e.into()),
        };
        let mut state = ResumeState::new(total);
        while let Some((offset, RecordHead { index, ok, .. })) = reader.next_head()? {
            state.observe(index, ok, offset)?;
        }
        Ok(ResumeScan {
            state,
            valid_len: reader.valid_len(),
            torn_tail: reader.torn_tail(),
            damaged: reader.skipped().to_vec(),
            file_len: reader.file_len(),
        })
    }

    /// Number of samples in the run.
    pub fn total(&self) -> u64 {
        self.status.len() as u64
    }

    /// Samples with an ok record.
    pub fn completed(&self) -> u64 {
        self.ok
    }

    /// Samples whose records are all failures.
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// Samples with no record.
    pub fn pending(&self) -> u64 {
        self.total() - self.ok - self.failed
    }

    /// Valid records seen, duplicates included.
    pub fn records_seen(&self) -> u64 {
        self.records
    }

    /// True when every sample has a record (ok or failed).
    pub fn is_complete(&self) -> bool {
        self.pending() == 0
    }

    /// Where sample `index` stands; `None` outside `0..total`.
    pub fn status(&self, index: u64) -> Option<IndexStatus> {
        self.status.get(index as usize).map(|s| match *s {
            OK => IndexStatus::Ok,
            FAILED => IndexStatus::Failed,
            _ => IndexStatus::Pending,
        })
    }

    /// The failed sample indices, ascending.
    pub fn failed_indices(&self) -> Vec<u64> {
        self.indices_where(|s| s == FAILED).collect()
    }

    /// The indices a run still has to process, ascending: pending ones, plus
    /// failed ones when `retry_failed` is set.
    pub fn to_run(&self, retry_failed: bool) -> impl Iterator<Item = u64> + '_ {
        self.indices_where(move |s| s == PENDING || (retry_failed && s == FAILED))
    }

    /// How many indices [`ResumeState::to_run`] yields.
    pub fn to_run_count(&self, retry_failed: bool) -> u64 {
        self.pending() + if retry_failed { self.failed } else { 0 }
    }

    fn indices_where<'a>(
        &'a self,
        keep: impl Fn(u8) -> bool + 'a,
    ) -> impl Iterator<Item = u64> + 'a {
        self.status
            .iter()
            .enumerate()
            .filter(move |(_, s)| keep(**s))
            .map(|(i, _)| i as u64)
    }
}

/// A [`ResumeState`] plus the byte offset of each index's effective record,
/// for readers that need the records themselves (export, merge) without
/// holding them all in memory: 9 bytes per sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordIndex {
    /// Per-index status.
    pub state: ResumeState,
    offsets: Vec<u64>,
    /// Torn tail seen at the end of the log (left in place: readers do not
    /// repair).
    pub torn_tail: Option<TornTail>,
    /// Damaged regions in the middle of the log, whose records did not count
    /// (left in place: a resumed run repairs them).
    pub damaged: Vec<SkippedRegion>,
}

impl RecordIndex {
    /// Streams the log at `path` (record heads only) and notes where each
    /// index's effective record is. A missing log has no records.
    pub fn from_log(path: &Path, total: u64) -> Result<RecordIndex, ResumeError> {
        let mut index = RecordIndex {
            state: ResumeState::new(total),
            offsets: vec![u64::MAX; total as usize],
            torn_tail: None,
            damaged: Vec::new(),
        };
        let mut reader = match LogReader::open(path) {
            Ok(reader) => reader,
            Err(LogError::Io(PathIoError { source, .. }))
                if source.kind() == io::ErrorKind::NotFound =>
            {
                return Ok(index);
            }
            Err(e) => return Err(e.into()),
        };
        while let Some((offset, head)) = reader.next_head()? {
            if index.state.observe(head.index, head.ok, offset)? {
                index.offsets[head.index as usize] = offset;
            }
        }
        index.torn_tail = reader.torn_tail();
        index.damaged = reader.skipped().to_vec();
        Ok(index)
    }

    /// Byte offset of the effective record of `index`, if it has one.
    pub fn offset(&self, index: u64) -> Option<u64> {
        self.offsets
            .get(index as usize)
            .copied()
            .filter(|&o| o != u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::log::{LogWriter, SyncPolicy};
    use crate::store::record::test_support::record;

    #[test]
    fn later_ok_supersedes_failure_and_ok_is_kept() {
        let mut s = ResumeState::new(6);
        s.observe(0, true, 0).unwrap();
        s.observe(1, false, 0).unwrap();
        s.observe(2, false, 0).unwrap();
        assert!(s.observe(2, true, 0).unwrap()); // retried and fixed
        s.observe(3, true, 0).unwrap();
        assert!(!s.observe(3, false, 0).unwrap()); // a stray failure after an ok
        s.observe(4, false, 0).unwrap();
        s.observe(4, false, 0).unwrap();
        assert_eq!(s.completed(), 3);
        assert_eq!(s.failed(), 2);
        assert_eq!(s.pending(), 1);
        assert_eq!(s.records_seen(), 8);
        assert_eq!(s.failed_indices(), vec![1, 4]);
        assert_eq!(s.to_run(false).collect::<Vec<_>>(), vec![5]);
        assert_eq!(s.to_run(true).collect::<Vec<_>>(), vec![1, 4, 5]);
        assert_eq!(s.to_run_count(true), 3);
        assert_eq!(s.status(2), Some(IndexStatus::Ok));
        assert_eq!(s.status(4), Some(IndexStatus::Failed));
        assert_eq!(s.status(5), Some(IndexStatus::Pending));
        assert_eq!(s.status(6), None);
        assert!(!s.is_complete());
    }

    #[test]
    fn out_of_range_index_is_an_error() {
        let mut s = ResumeState::new(3);
        let err = s.observe(3, true, 99).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("sample 3") && msg.contains("offset 99"),
            "{msg}"
        );
    }

    #[test]
    fn from_log_matches_from_scan_and_reports_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.log");
        let missing = ResumeState::from_log(&path, 10).unwrap();
        assert_eq!(missing.state.pending(), 10);

        let mut w = LogWriter::open(&path, SyncPolicy::OnFlush).unwrap();
        for i in 0..8u64 {
            w.append(&record(i, i % 3 != 0, &["mle"], 2)).unwrap();
        }
        w.append(&record(3, true, &["mle"], 2)).unwrap();
        drop(w);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();

        let by_log = ResumeState::from_log(&path, 10).unwrap();
        let scan = LogReader::scan(&path).unwrap();
        let by_scan = ResumeState::from_scan(&scan, 10).unwrap();
        assert_eq!(by_log.state, by_scan);
        assert_eq!(by_log.valid_len, scan.valid_len);
        assert_eq!(by_log.torn_tail, scan.torn_tail);
        assert!(by_log.torn_tail.is_some());
        // The torn last record (3 ok) does not count: 0 and 3 and 6 failed.
        assert_eq!(by_log.state.failed_indices(), vec![0, 3, 6]);
        assert_eq!(by_log.state.to_run(false).collect::<Vec<_>>(), vec![8, 9]);

        let index = RecordIndex::from_log(&path, 10).unwrap();
        assert_eq!(index.state, by_scan);
        assert_eq!(index.torn_tail, scan.torn_tail);
        assert_eq!(index.offset(8), None);
        let offset = index.offset(4).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let rec = crate::store::log::read_record_at(&file, &path, offset, &mut Vec::new()).unwrap();
        assert_eq!(rec, record(4, true, &["mle"], 2));
    }
}
