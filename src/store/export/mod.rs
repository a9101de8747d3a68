//! Exports of a run: JSONL, CSV and NPY.
//!
//! Every export lists every index `0..total` exactly once, in index order,
//! using each index's effective record (latest ok, else latest failed; see
//! [`resume`](super::resume)). An index with no record at all is handled by
//! [`MissingPolicy`]: by default ([`MissingPolicy::Error`]) the export fails
//! naming the first missing index, before anything is written; with
//! [`MissingPolicy::Mark`] (exporting a partial, e.g. interrupted, run) it is
//! listed with status `"missing"`.
//!
//! Exports only read: a torn tail (or an append in flight) is ignored, not
//! truncated, and the run lock is not taken. The log is read twice, first record heads only to find each index's
//! effective record, then one record at a time by offset, so memory stays
//! at a few bytes per sample plus one record. Every output is written to a
//! temporary path next to its destination (`.<name>.qtomo-tmp.<pid>.<n>`),
//! fsynced and renamed into place; temporary files that earlier exports
//! left when they were killed (their pid no longer runs) are removed first.
//!
//! # Formats
//!
//! * JSONL, one line per sample:
//!   `{"index":0,"id":"s0","status":"ok"|"failed"|"missing","error":null|"...",
//!   "methods":{"mle":{"dim":2,"rho_re":[[..],..],"rho_im":[[..],..],"trace":..,
//!   "purity":..,"eigenvalues":[..],...every MethodMetrics field...},"pls":{..}}}`.
//!   Methods appear in the record's order; non-finite numbers become `null`;
//!   `id` is `null` for missing samples.
//! * CSV: one row per sample and method with the scalar metrics (columns
//!   [`CSV_COLUMNS`](csv_table::CSV_COLUMNS)); a failed or missing sample has one row with an empty
//!   `method`. Eigenvalues and matrices are in the JSONL and NPY exports.
//! * NPY: a directory with `rho_<method>.npy` per method of the manifest,
//!   complex128 of shape (total, d, d), rows of failed or missing samples
//!   (or of a method absent from a record) filled with NaN + NaN·i, and
//!   `index.csv` (`index,id,status,error`) saying which rows are which.

//!
//! # Layout
//!
//! This file: the shared part (options, errors, the effective record of
//! each index, temporary outputs). `jsonl`, `csv` and `npy`: one format
//! each (`csv_table` for CSV).

mod csv_table;
mod jsonl;
mod npy;
#[cfg(test)]
mod tests;

use crate::store::PathIoError;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use faer::c64;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::log::{LogError, read_record_at};
use super::record::{BootstrapRecord, GofRecord, MethodMetrics, MethodResult, SampleRecord};
use super::resume::{RecordIndex, ResumeError};
use super::rundir::{Manifest, RunDir, RunDirError};
use crate::atomic::{
    AtomicWriteError, TempFile, parent_dir, remove_stale_temps, remove_stale_temps_where,
};

#[cfg(test)]
use csv_table::CSV_COLUMNS;
use csv_table::csv_to_file;
use csv_table::write_csv;
use jsonl::jsonl_to_file;
pub use jsonl::sample_json;
use jsonl::write_jsonl;
pub use npy::NPY_INDEX;
use npy::npy_to_dir;

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
    /// Scalar metrics, one row per sample and method.
    Csv,
    /// A directory of `.npy` density matrices plus `index.csv`.
    Npy,
}

/// What to do with an index that has no record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingPolicy {
    /// Refuse to export, naming the first missing index.
    #[default]
    Error,
    /// Export it with status `"missing"` (partial runs).
    Mark,
}

/// Counts of what an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExportStats {
    /// Samples written (= the run's total).
    pub total: u64,
    /// Samples with status ok.
    pub ok: u64,
    /// Samples with status failed.
    pub failed: u64,
    /// Samples with status missing.
    pub missing: u64,
}

/// Errors exporting a run.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The run directory could not be read.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// The directory has no manifest.
    #[error("{dir} is not a run directory: expected a manifest.json in it")]
    NoManifest {
        /// The directory.
        dir: PathBuf,
    },
    /// The log could not be indexed.
    #[error(transparent)]
    Resume(#[from] ResumeError),
    /// A record could not be read.
    #[error(transparent)]
    Log(#[from] LogError),
    /// Some index has no record and missing ones are not allowed.
    #[error(
        "run {dir} has no record for sample {index} ({count} samples missing); finish the run, or export it as it is with --partial (missing samples marked)"
    )]
    Missing {
        /// The run directory.
        dir: PathBuf,
        /// First missing index.
        index: u64,
        /// Number of missing indices.
        count: u64,
    },
    /// A record does not fit the manifest.
    #[error("record of sample {index}, method {method}: {what}")]
    BadRecord {
        /// The sample index.
        index: u64,
        /// The method.
        method: String,
        /// What was expected and found.
        what: String,
    },
    /// An output file could not be written.
    #[error(transparent)]
    Io(#[from] PathIoError),
    /// A JSONL line could not be written.
    #[error("could not write JSON lines to {path}")]
    Json {
        /// The output file.
        path: PathBuf,
        /// The serialisation error.
        #[source]
        source: serde_json::Error,
    },
    /// A CSV row could not be written.
    #[error("could not write CSV to {path}")]
    Csv {
        /// The output file.
        path: PathBuf,
        /// The CSV error.
        #[source]
        source: csv::Error,
    },
    /// An NPY header could not be written.
    #[error("could not write NPY file {path}")]
    Npy {
        /// The output file.
        path: PathBuf,
        /// The NPY error.
        #[source]
        source: ndarray_npy::WriteNpyError,
    },
    /// The array would not fit in memory addressing.
    #[error("{total} matrices of dimension {dim} are too large for one NPY file")]
    TooLarge {
        /// Samples.
        total: u64,
        /// Dimension.
        dim: u32,
    },
    /// NPY was asked for on standard output.
    #[error(
        "--format npy writes a directory of files and cannot go to standard output; give --out DIR (jsonl and csv can use --out -)"
    )]
    NotStreamable,
    /// The finished output could not be renamed into place.
    #[error(transparent)]
    Commit(#[from] AtomicWriteError),
}

impl ExportError {
    /// True for mistakes in what was asked: a directory that is not a run
    /// directory (or one refused as another run's), NPY to standard
    /// output, or a complete export of an unfinished run without
    /// `--partial`. These are usage errors: exit 2, nothing written, and
    /// the same command succeeds once it is corrected (or once the run is
    /// finished). An exit 1 would read as a fault of the run itself.
    pub fn is_refusal(&self) -> bool {
        match self {
            ExportError::NoManifest { .. }
            | ExportError::NotStreamable
            | ExportError::Missing { .. } => true,
            ExportError::RunDir(e) => e.is_refusal(),
            _ => false,
        }
    }
}

/// One exported sample: its effective record, or nothing.
enum Row {
    Present(SampleRecord),
    Missing(u64),
}

impl Row {
    fn index(&self) -> u64 {
        match self {
            Row::Present(r) => r.index,
            Row::Missing(i) => *i,
        }
    }

    fn id(&self) -> Option<&str> {
        match self {
            Row::Present(r) => Some(&r.id),
            Row::Missing(_) => None,
        }
    }

    fn status(&self) -> &'static str {
        match self {
            Row::Present(r) => r.status.as_str(),
            Row::Missing(_) => "missing",
        }
    }

    fn error(&self) -> Option<&str> {
        match self {
            Row::Present(r) => r.status.error(),
            Row::Missing(_) => Some("no result recorded"),
        }
    }

    fn methods(&self) -> &[MethodResult] {
        match self {
            Row::Present(r) if r.is_ok() => &r.methods,
            _ => &[],
        }
    }
}

/// Recomputes values of each exported method result before it is written
/// (the target metrics of `export --target`, from the stored density
/// matrix). The store knows no numerics: the caller supplies this.
pub type Rescore<'a> = &'a mut dyn FnMut(&mut MethodResult);

/// The run being exported: manifest, record index and an open log.
struct Source<'r> {
    manifest: Manifest,
    index: RecordIndex,
    log: Option<File>,
    log_path: PathBuf,
    rescore: Option<Rescore<'r>>,
}

impl<'r> Source<'r> {
    fn open(
        dir: &Path,
        missing: MissingPolicy,
        rescore: Option<Rescore<'r>>,
    ) -> Result<Source<'r>, ExportError> {
        let manifest = Manifest::read(dir)?.ok_or_else(|| ExportError::NoManifest {
            dir: dir.to_path_buf(),
        })?;
        let log_path = RunDir::new(dir).results_log();
        let index = RecordIndex::from_log(&log_path, manifest.total)?;
        if missing == MissingPolicy::Error
            && let Some(first) = index.state.to_run(false).next()
        {
            return Err(ExportError::Missing {
                dir: dir.to_path_buf(),
                index: first,
                count: index.state.pending(),
            });
        }
        let log = match super::fsutil::open_read_nofollow(&log_path) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(ExportError::Io(PathIoError {
                    action: "open",
                    path: log_path,
                    source,
                }));
            }
        };
        Ok(Source {
            manifest,
            index,
            log,
            log_path,
            rescore,
        })
    }

    /// Calls `f` with every row in index order (rescored, if asked).
    fn for_each_row(
        &mut self,
        mut f: impl FnMut(&Row) -> Result<(), ExportError>,
    ) -> Result<ExportStats, ExportError> {
        let mut stats = ExportStats::default();
        let mut scratch = Vec::new();
        for i in 0..self.manifest.total {
            let row = match (self.index.offset(i), &self.log) {
                (Some(offset), Some(log)) => {
                    let mut record = read_record_at(log, &self.log_path, offset, &mut scratch)?;
                    check_record(&record, self.manifest.dim)?;
                    if let (Some(rescore), true) = (self.rescore.as_mut(), record.is_ok()) {
                        record.methods.iter_mut().for_each(&mut *rescore);
                    }
                    Row::Present(record)
                }
                _ => Row::Missing(i),
            };
            match &row {
                Row::Present(r) if r.is_ok() => stats.ok += 1,
                Row::Present(_) => stats.failed += 1,
                Row::Missing(_) => stats.missing += 1,
            }
            stats.total += 1;
            f(&row)?;
        }
        Ok(stats)
    }
}

/// Reads a run directory the way every export does, for other readers of
/// a whole run (`qtomo report`): each index's effective record (latest ok,
/// else latest failed) in index order, one record in memory at a time, and
/// any one index's effective record on demand. Reading takes no lock and
/// ignores a torn tail or an append in flight, so it works on a run that
/// is still going (missing indices are reported as `None`).
pub struct RunReader<'r> {
    source: Source<'r>,
    scratch: Vec<u8>,
}

impl<'r> RunReader<'r> {
    /// Opens the run in `dir`, with `rescore` applied to every method
    /// result of every ok record read (as [`export`] does).
    /// Missing indices are allowed.
    pub fn open(dir: &Path, rescore: Option<Rescore<'r>>) -> Result<RunReader<'r>, ExportError> {
        Ok(RunReader {
            source: Source::open(dir, MissingPolicy::Mark, rescore)?,
            scratch: Vec::new(),
        })
    }

    /// The run's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.source.manifest
    }

    /// Calls `f(index, record)` for every index `0..total` in order, with
    /// its effective record or `None` when it has none yet.
    pub fn for_each(
        &mut self,
        mut f: impl FnMut(u64, Option<&SampleRecord>),
    ) -> Result<ExportStats, ExportError> {
        self.source.for_each_row(|row| {
            match row {
                Row::Present(r) => f(r.index, Some(r)),
                Row::Missing(i) => f(*i, None),
            }
            Ok(())
        })
    }

    /// The effective record of `index` (rescored), or `None` when it has
    /// none (or is out of range).
    pub fn record(&mut self, index: u64) -> Result<Option<SampleRecord>, ExportError> {
        let (Some(offset), Some(log)) = (self.source.index.offset(index), &self.source.log) else {
            return Ok(None);
        };
        let mut record = read_record_at(log, &self.source.log_path, offset, &mut self.scratch)?;
        check_record(&record, self.source.manifest.dim)?;
        if let (Some(rescore), true) = (self.source.rescore.as_mut(), record.is_ok()) {
            record.methods.iter_mut().for_each(&mut *rescore);
        }
        Ok(Some(record))
    }
}

fn check_record(record: &SampleRecord, dim: u32) -> Result<(), ExportError> {
    for m in &record.methods {
        let n = (m.dim as usize) * (m.dim as usize);
        let what = if m.dim != dim {
            Some(format!(
                "expected dimension {dim} (from the manifest), found {}",
                m.dim
            ))
        } else if m.rho_re.len() != n || m.rho_im.len() != n {
            Some(format!(
                "expected {n} matrix entries for dimension {dim}, found {} real and {} imaginary",
                m.rho_re.len(),
                m.rho_im.len()
            ))
        } else {
            None
        };
        if let Some(what) = what {
            return Err(ExportError::BadRecord {
                index: record.index,
                method: m.method.clone(),
                what,
            });
        }
    }
    Ok(())
}

/// Exports the run in `dir` in `format` to `out` (a file for JSONL and CSV,
/// a directory for NPY); `rescore`, if given, is applied to every method
/// result of every ok record before it is written.
pub fn export(
    dir: &Path,
    format: ExportFormat,
    out: &Path,
    missing: MissingPolicy,
    rescore: Option<Rescore<'_>>,
) -> Result<ExportStats, ExportError> {
    // Nothing is touched in a folder that is not a run directory.
    if Manifest::read(dir)?.is_none() {
        return Err(ExportError::NoManifest {
            dir: dir.to_path_buf(),
        });
    }
    remove_stale_default_exports(dir)?;
    let source = Source::open(dir, missing, rescore)?;
    match format {
        ExportFormat::Jsonl => jsonl_to_file(source, out),
        ExportFormat::Csv => csv_to_file(source, out),
        ExportFormat::Npy => npy_to_dir(source, out),
    }
}

/// Removes the temporary files that killed exports to the default paths
/// of the run directory `dir` left behind (`results.jsonl`, `results.csv`,
/// `npy/rho_*.npy`, `npy/index.csv`), whatever format is exported now.
fn remove_stale_default_exports(dir: &Path) -> Result<(), ExportError> {
    let err = |path: PathBuf| {
        move |source| {
            ExportError::Io(PathIoError {
                action: "remove stale temporary files in",
                path,
                source,
            })
        }
    };
    remove_stale_temps_where(dir, |t| t == "results.jsonl" || t == "results.csv")
        .map_err(err(dir.to_path_buf()))?;
    let npy = dir.join("npy");
    if fs::symlink_metadata(&npy).is_ok_and(|m| m.is_dir()) {
        remove_stale_temps_where(&npy, |t| {
            t == NPY_INDEX || (t.starts_with("rho_") && t.ends_with(".npy"))
        })
        .map_err(err(npy))?;
    }
    Ok(())
}

/// Creates the temporary file for `dest`, first removing the temporary
/// files for `dest` that earlier exports left when they were killed.
fn create_temp(dest: &Path) -> Result<(TempFile, File), ExportError> {
    if let Some(name) = dest.file_name().and_then(|n| n.to_str()) {
        remove_stale_temps(parent_dir(dest), name).map_err(|source| {
            ExportError::Io(PathIoError {
                action: "remove stale temporary files of",
                path: dest.to_path_buf(),
                source,
            })
        })?;
    }
    Ok(TempFile::create(dest)?)
}

fn finish_writer(w: BufWriter<File>, path: &Path) -> Result<File, ExportError> {
    w.into_inner().map_err(|e| {
        ExportError::Io(PathIoError {
            action: "write",
            path: path.to_path_buf(),
            source: e.into_error(),
        })
    })
}

/// Writes the JSONL or CSV export of the run in `dir` to `out` (standard
/// output, say) in index order; `name` names the destination in errors.
/// NPY, a directory of files, is refused ([`ExportError::NotStreamable`]).
/// `rescore`, if given, is applied as in [`export`].
pub fn export_to_writer(
    dir: &Path,
    format: ExportFormat,
    out: &mut impl Write,
    name: &Path,
    missing: MissingPolicy,
    rescore: Option<Rescore<'_>>,
) -> Result<ExportStats, ExportError> {
    if format == ExportFormat::Npy {
        return Err(ExportError::NotStreamable);
    }
    if Manifest::read(dir)?.is_none() {
        return Err(ExportError::NoManifest {
            dir: dir.to_path_buf(),
        });
    }
    let mut source = Source::open(dir, missing, rescore)?;
    let stats = match format {
        ExportFormat::Csv => write_csv(&mut source, &mut *out, name)?,
        _ => write_jsonl(&mut source, &mut *out, name)?,
    };
    out.flush().map_err(|source| {
        ExportError::Io(PathIoError {
            action: "write",
            path: name.to_path_buf(),
            source,
        })
    })?;
    Ok(stats)
}
