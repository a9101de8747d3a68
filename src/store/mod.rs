//! The durable store: results log, run directory, resume, export and merge.
//!
//! The results log is the source of truth of a run. Workers append one
//! framed, checksummed record per sample ([`SampleRecord`]) under an
//! exclusive `flock`; everything else (resume bookkeeping, status, exports,
//! merged shards) is derived from the log. A crash at any moment leaves at
//! worst a torn final frame, which the next resume truncates; metadata
//! files are replaced atomically (temp file, fsync, rename, fsync dir).
//! Damage anywhere else in the log (a flipped bit, a frame cut short by a
//! killed worker, a record that does not decode) is skipped by readers,
//! reported by `status`, and removed by the next resume, which recomputes
//! the samples that were lost.
//!
//! This module knows nothing about processes, signals or the command line:
//! the supervisor and the CLI call it.
//!
//! A run, in calls:
//!
//! 1. [`open_run`] takes the [`RunLock`], writes or checks the [`Manifest`]
//!    (refusing a directory made by a run with a different [`Fingerprint`]
//!    unless [`OpenMode::Fresh`]), truncates a torn tail and returns the
//!    [`ResumeState`]: which indices are done, failed or pending.
//! 2. Each worker opens a [`LogWriter`] and [`LogWriter::append`]s records.
//! 3. The supervisor writes a [`Summary`] at the end, complete or not.
//! 4. [`RunStatus::read`], [`export`] and [`merge`] read the directory.
//!
//! # Layout
//!
//! * `format.rs`: [`FormatVersion`], the on-disk format version and its
//!   compatibility check.
//! * `record.rs`: [`SampleRecord`] and its parts; [`RecordHead`], the cheap
//!   prefix decode of the bookkeeping fields.
//! * `log.rs`: the `results.log` format, [`LogWriter`] (flock'd appends,
//!   [`SyncPolicy`]), [`LogReader`] (validation, torn tail vs damaged
//!   regions), [`truncate_torn_tail`], [`remove_damage`].
//! * `resume.rs`: [`ResumeState`] (one byte per index) and [`RecordIndex`]
//!   (plus the offset of each index's effective record).
//! * `atomic.rs`: [`atomic_write`] for metadata files.
//! * `fsutil.rs`: opening files without following symbolic links
//!   ([`SymlinkRefused`]) and streamed SHA-256 digests ([`sha256_file`]).
//! * `lock.rs`: [`RunLock`] (exclusive, names its holder) and [`probe`].
//! * `rundir.rs`: [`RunDir`] paths, [`Manifest`], [`Fingerprint`],
//!   [`open_run`], the stored target ([`read_target`], [`write_target`]).
//! * `summary.rs`: `summary.json` ([`Summary`], [`RunOutcome`]).
//! * `status.rs`: [`RunStatus`], progress while a run is writing.
//! * `export.rs`: JSONL, CSV and NPY exports ([`export`]), and
//!   [`RunReader`], the same reading for other whole-run readers (the report).
//! * `merge.rs`: combining shard directories ([`merge`]).

#![deny(missing_docs)]

mod export;
mod format;
mod fsutil;
mod lock;
mod log;
mod merge;
mod path_io;
mod record;
mod resume;
mod rundir;
mod status;
mod summary;

pub use export::{
    ExportError, ExportFormat, ExportStats, MissingPolicy, Rescore, RunReader, export,
    export_to_writer, sample_json,
};
pub use fsutil::{
    SymlinkRefused, is_symlink_refusal, open_read_nofollow, sha256_file, sha256_reader,
};
pub use lock::{LockProbe, probe};
pub use log::{LogError, LogReader, LogWriter, SyncPolicy};
pub use merge::{MergeError, merge};
pub use path_io::PathIoError;
pub use record::{
    BootstrapMetricsRecord, BootstrapRecord, GofRecord, MethodMetrics, MethodResult, SampleRecord,
    SampleStatus, SpreadRecord,
};
pub use resume::{IndexStatus, RecordIndex, ResumeError, ResumeState};
pub use rundir::{
    FileDigest, Fingerprint, Manifest, OpenMode, OpenRun, RunDir, RunDirError, TARGET, open_run,
    read_target, write_target,
};
pub use status::{RunStatus, StatusError};
pub use summary::{RunOutcome, Summary, SummaryError};
