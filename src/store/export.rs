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
//!   [`CSV_COLUMNS`]); a failed or missing sample has one row with an empty
//!   `method`. Eigenvalues and matrices are in the JSONL and NPY exports.
//! * NPY: a directory with `rho_<method>.npy` per method of the manifest,
//!   complex128 of shape (total, d, d), rows of failed or missing samples
//!   (or of a method absent from a record) filled with NaN + NaN·i, and
//!   `index.csv` (`index,id,status,error`) saying which rows are which.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use faer::c64;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::atomic::{
    AtomicWriteError, commit_rename, parent_dir, remove_stale_temps, remove_stale_temps_where,
    temp_path_for,
};
use super::log::{LogError, read_record_at};
use super::record::{MethodMetrics, MethodResult, SampleRecord};
use super::resume::{RecordIndex, ResumeError};
use super::rundir::{Manifest, RunDir, RunDirError};

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
    #[error("could not {action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The output file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
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
                return Err(ExportError::Io {
                    action: "open",
                    path: log_path,
                    source,
                });
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
/// a directory for NPY).
pub fn export(
    dir: &Path,
    format: ExportFormat,
    out: &Path,
    missing: MissingPolicy,
) -> Result<ExportStats, ExportError> {
    export_rescored(dir, format, out, missing, None)
}

/// [`export`], with `rescore` applied to every method result of every ok
/// record before it is written.
pub fn export_rescored(
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
        move |source| ExportError::Io {
            action: "remove stale temporary files in",
            path,
            source,
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

/// A file being written at a temporary path, renamed over its destination
/// by [`TempOut::commit`], removed if dropped uncommitted.
struct TempOut {
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl TempOut {
    /// Creates the temporary file for `dest`, first removing the temporary
    /// files for `dest` that earlier exports left when they were killed.
    fn create(dest: &Path) -> Result<(TempOut, File), ExportError> {
        if let Some(name) = dest.file_name().and_then(|n| n.to_str()) {
            remove_stale_temps(parent_dir(dest), name).map_err(|source| ExportError::Io {
                action: "remove stale temporary files of",
                path: dest.to_path_buf(),
                source,
            })?;
        }
        let tmp = temp_path_for(dest);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|source| ExportError::Io {
                action: "create",
                path: dest.to_path_buf(),
                source,
            })?;
        Ok((
            TempOut {
                tmp,
                dest: dest.to_path_buf(),
                committed: false,
            },
            file,
        ))
    }

    fn commit(mut self, file: File) -> Result<(), ExportError> {
        file.sync_all().map_err(|source| ExportError::Io {
            action: "fsync",
            path: self.dest.clone(),
            source,
        })?;
        drop(file);
        commit_rename(&self.tmp, &self.dest)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for TempOut {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

fn finish_writer(w: BufWriter<File>, path: &Path) -> Result<File, ExportError> {
    w.into_inner().map_err(|e| ExportError::Io {
        action: "write",
        path: path.to_path_buf(),
        source: e.into_error(),
    })
}

/// A d×d row-major matrix serialised as a list of rows.
struct Rows<'a> {
    data: &'a [f64],
    dim: usize,
}

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.dim))?;
        for row in self.data.chunks(self.dim.max(1)) {
            seq.serialize_element(row)?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct JsonMethod<'a> {
    dim: u32,
    rho_re: Rows<'a>,
    rho_im: Rows<'a>,
    #[serde(flatten)]
    metrics: &'a MethodMetrics,
}

/// The methods of a record as a JSON object, in record order.
struct JsonMethods<'a>(&'a [MethodResult]);

impl Serialize for JsonMethods<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for m in self.0 {
            let dim = m.dim as usize;
            map.serialize_entry(
                &m.method,
                &JsonMethod {
                    dim: m.dim,
                    rho_re: Rows {
                        data: &m.rho_re,
                        dim,
                    },
                    rho_im: Rows {
                        data: &m.rho_im,
                        dim,
                    },
                    metrics: &m.metrics,
                },
            )?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct JsonLine<'a> {
    index: u64,
    id: Option<&'a str>,
    status: &'a str,
    error: Option<&'a str>,
    methods: JsonMethods<'a>,
}

/// One record as pretty-printed JSON with the fields of a JSONL export line
/// (`index`, `id`, `status`, `error`, `methods`), keeping only the methods
/// `keep` accepts (`qtomo show --json`).
pub fn sample_json(
    record: &SampleRecord,
    keep: impl Fn(&str) -> bool,
) -> Result<String, serde_json::Error> {
    let methods: Vec<MethodResult> = if record.is_ok() {
        record
            .methods
            .iter()
            .filter(|m| keep(&m.method))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    serde_json::to_string_pretty(&JsonLine {
        index: record.index,
        id: Some(&record.id),
        status: record.status.as_str(),
        error: record.status.error(),
        methods: JsonMethods(&methods),
    })
}

/// Writes the JSONL export of the run in `dir` to the file `out`.
pub fn export_jsonl(
    dir: &Path,
    out: &Path,
    missing: MissingPolicy,
) -> Result<ExportStats, ExportError> {
    jsonl_to_file(Source::open(dir, missing, None)?, out)
}

fn jsonl_to_file(mut source: Source<'_>, out: &Path) -> Result<ExportStats, ExportError> {
    let (temp, file) = TempOut::create(out)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let stats = write_jsonl(&mut source, &mut w, out)?;
    temp.commit(finish_writer(w, out)?)?;
    Ok(stats)
}

/// Writes the JSONL or CSV export of the run in `dir` to `out` (standard
/// output, say) in index order; `name` names the destination in errors.
/// NPY, a directory of files, is refused ([`ExportError::NotStreamable`]).
/// `rescore`, if given, is applied as in [`export_rescored`].
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
    out.flush().map_err(|source| ExportError::Io {
        action: "write",
        path: name.to_path_buf(),
        source,
    })?;
    Ok(stats)
}

/// Writes every row of `source` as JSON lines to `w`.
fn write_jsonl(
    source: &mut Source<'_>,
    w: &mut impl Write,
    out: &Path,
) -> Result<ExportStats, ExportError> {
    source.for_each_row(|row| {
        let line = JsonLine {
            index: row.index(),
            id: row.id(),
            status: row.status(),
            error: row.error(),
            methods: JsonMethods(row.methods()),
        };
        serde_json::to_writer(&mut *w, &line).map_err(|source| ExportError::Json {
            path: out.to_path_buf(),
            source,
        })?;
        w.write_all(b"\n").map_err(|source| ExportError::Io {
            action: "write",
            path: out.to_path_buf(),
            source,
        })
    })
}

/// Columns of the CSV export, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "index",
    "id",
    "status",
    "error",
    "method",
    "dim",
    "trace",
    "purity",
    "von_neumann_entropy",
    "linear_entropy",
    "min_eigenvalue",
    "max_eigenvalue",
    "log_likelihood",
    "gap_bound",
    "gap_floor",
    "iterations",
    "converged",
    "chi2",
    "fidelity",
    "trace_distance",
    "concurrence",
    "negativity",
    "log_negativity",
    "physical",
];

#[derive(Serialize, Default)]
struct CsvRow<'a> {
    index: u64,
    id: Option<&'a str>,
    status: &'a str,
    error: Option<&'a str>,
    method: Option<&'a str>,
    dim: Option<u32>,
    trace: Option<f64>,
    purity: Option<f64>,
    von_neumann_entropy: Option<f64>,
    linear_entropy: Option<f64>,
    min_eigenvalue: Option<f64>,
    max_eigenvalue: Option<f64>,
    log_likelihood: Option<f64>,
    gap_bound: Option<f64>,
    gap_floor: Option<f64>,
    iterations: Option<u32>,
    converged: Option<bool>,
    chi2: Option<f64>,
    fidelity: Option<f64>,
    trace_distance: Option<f64>,
    concurrence: Option<f64>,
    negativity: Option<f64>,
    log_negativity: Option<f64>,
    physical: Option<bool>,
}

/// Writes the CSV export of the run in `dir` to the file `out`.
pub fn export_csv(
    dir: &Path,
    out: &Path,
    missing: MissingPolicy,
) -> Result<ExportStats, ExportError> {
    csv_to_file(Source::open(dir, missing, None)?, out)
}

fn csv_to_file(mut source: Source<'_>, out: &Path) -> Result<ExportStats, ExportError> {
    let (temp, file) = TempOut::create(out)?;
    let mut buffered = BufWriter::with_capacity(1 << 20, file);
    let stats = write_csv(&mut source, &mut buffered, out)?;
    temp.commit(finish_writer(buffered, out)?)?;
    Ok(stats)
}

/// Writes every row of `source` as CSV (header first) to `out_w`.
fn write_csv(
    source: &mut Source<'_>,
    out_w: &mut impl Write,
    out: &Path,
) -> Result<ExportStats, ExportError> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(out_w);
    let csv_err = |source| ExportError::Csv {
        path: out.to_path_buf(),
        source,
    };
    w.write_record(CSV_COLUMNS).map_err(csv_err)?;
    let stats = source.for_each_row(|row| {
        let base = CsvRow {
            index: row.index(),
            id: row.id(),
            status: row.status(),
            error: row.error(),
            ..CsvRow::default()
        };
        if row.methods().is_empty() {
            return w.serialize(&base).map_err(csv_err);
        }
        for m in row.methods() {
            let k = &m.metrics;
            let min = k.eigenvalues.iter().copied().reduce(f64::min);
            let max = k.eigenvalues.iter().copied().reduce(f64::max);
            w.serialize(CsvRow {
                method: Some(&m.method),
                dim: Some(m.dim),
                trace: Some(k.trace),
                purity: Some(k.purity),
                von_neumann_entropy: Some(k.von_neumann_entropy),
                linear_entropy: Some(k.linear_entropy),
                min_eigenvalue: min,
                max_eigenvalue: max,
                log_likelihood: k.log_likelihood,
                gap_bound: k.gap_bound,
                gap_floor: k.gap_floor,
                iterations: k.iterations,
                converged: k.converged,
                chi2: k.chi2,
                fidelity: k.fidelity,
                trace_distance: k.trace_distance,
                concurrence: k.concurrence,
                negativity: k.negativity,
                log_negativity: k.log_negativity,
                physical: Some(k.physical),
                ..base
            })
            .map_err(csv_err)?;
        }
        Ok(())
    })?;
    w.flush().map_err(|source| ExportError::Io {
        action: "write",
        path: out.to_path_buf(),
        source,
    })?;
    Ok(stats)
}

/// File name of the row index written next to the NPY arrays.
pub const NPY_INDEX: &str = "index.csv";

/// Writes the NPY export of the run in `dir` into the directory `out_dir`
/// (created if needed): `rho_<method>.npy` per method and `index.csv`.
pub fn export_npy(
    dir: &Path,
    out_dir: &Path,
    missing: MissingPolicy,
) -> Result<ExportStats, ExportError> {
    npy_to_dir(Source::open(dir, missing, None)?, out_dir)
}

fn npy_to_dir(mut source: Source<'_>, out_dir: &Path) -> Result<ExportStats, ExportError> {
    fs::create_dir_all(out_dir).map_err(|source| ExportError::Io {
        action: "create directory",
        path: out_dir.to_path_buf(),
        source,
    })?;
    let total = source.manifest.total;
    let dim = source.manifest.dim;
    let d2 = u64::from(dim) * u64::from(dim);
    if total
        .checked_mul(d2)
        .and_then(|n| n.checked_mul(16))
        .is_none_or(|bytes| bytes > isize::MAX as u64)
    {
        return Err(ExportError::TooLarge { total, dim });
    }

    struct NpyOut {
        method: String,
        path: PathBuf,
        temp: TempOut,
        w: BufWriter<File>,
    }
    let mut arrays = Vec::new();
    for method in &source.manifest.methods {
        let path = out_dir.join(format!("rho_{method}.npy"));
        let (temp, file) = TempOut::create(&path)?;
        ndarray_npy::write_zeroed_npy::<c64, _>(
            &file,
            (total as usize, dim as usize, dim as usize),
        )
        .map_err(|source| ExportError::Npy {
            path: path.clone(),
            source,
        })?;
        // write_zeroed_npy writes the header, sizes the file (sparse zeros)
        // and leaves the cursor at the start of the data, where the rows are
        // then streamed in index order: no N×d×d array in memory.
        arrays.push(NpyOut {
            method: method.clone(),
            path,
            temp,
            w: BufWriter::with_capacity(1 << 20, file),
        });
    }
    let index_path = out_dir.join(NPY_INDEX);
    let (index_temp, index_file) = TempOut::create(&index_path)?;
    let mut index_csv = csv::Writer::from_writer(BufWriter::new(index_file));
    let csv_err = |source| ExportError::Csv {
        path: index_path.clone(),
        source,
    };
    index_csv
        .write_record(["index", "id", "status", "error"])
        .map_err(csv_err)?;

    let nan = {
        let mut v = Vec::with_capacity(d2 as usize * 16);
        for _ in 0..2 * d2 {
            v.extend_from_slice(&f64::NAN.to_le_bytes());
        }
        v
    };
    let mut bytes = Vec::with_capacity(d2 as usize * 16);
    let stats = source.for_each_row(|row| {
        let index = row.index().to_string();
        index_csv
            .write_record([
                index.as_str(),
                row.id().unwrap_or(""),
                row.status(),
                row.error().unwrap_or(""),
            ])
            .map_err(csv_err)?;
        for out in &mut arrays {
            let chunk: &[u8] = match row.methods().iter().find(|m| m.method == out.method) {
                Some(m) => {
                    bytes.clear();
                    for (re, im) in m.rho_re.iter().zip(&m.rho_im) {
                        bytes.extend_from_slice(&re.to_le_bytes());
                        bytes.extend_from_slice(&im.to_le_bytes());
                    }
                    &bytes
                }
                None => &nan,
            };
            out.w.write_all(chunk).map_err(|source| ExportError::Io {
                action: "write",
                path: out.path.clone(),
                source,
            })?;
        }
        Ok(())
    })?;
    for out in arrays {
        let file = finish_writer(out.w, &out.path)?;
        out.temp.commit(file)?;
    }
    let inner = index_csv.into_inner().map_err(|e| ExportError::Io {
        action: "write",
        path: index_path.clone(),
        source: e.into_error(),
    })?;
    index_temp.commit(finish_writer(inner, &index_path)?)?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::log::{LogWriter, SyncPolicy};
    use crate::store::record::test_support::record;
    use crate::store::rundir::{OpenMode, open_run, tests::fingerprint};
    use ndarray::Array3;
    use ndarray_npy::ReadNpyExt;

    const METHODS: &[&str] = &["mle", "pls"];

    /// A run of 6 samples, dim 4: 0,1,3,5 ok; 2 failed then fixed by a
    /// retry; 4 failed; optionally 5 missing.
    fn make_run(dir: &Path, with_last: bool) -> Vec<SampleRecord> {
        let run = open_run(dir, fingerprint(), 6, OpenMode::Resume).unwrap();
        let mut w = LogWriter::open(&run.dir.results_log(), SyncPolicy::OnFlush).unwrap();
        let mut effective = Vec::new();
        for i in [3u64, 0, 2, 1, 4, 5] {
            if i == 5 && !with_last {
                continue;
            }
            let r = record(i, i != 2 && i != 4, METHODS, 4);
            w.append(&r).unwrap();
            effective.push(r);
        }
        let fixed = record(2, true, METHODS, 4);
        w.append(&fixed).unwrap();
        effective.retain(|r| r.index != 2);
        effective.push(fixed);
        effective.sort_by_key(|r| r.index);
        effective
    }

    /// serde_json's default float parser may be off by one ulp.
    fn close(v: &serde_json::Value, x: f64) {
        let y = v.as_f64().unwrap();
        assert!((y - x).abs() <= 4.0 * f64::EPSILON * x.abs(), "{y} vs {x}");
    }

    #[test]
    fn jsonl_lists_every_index_in_order_with_the_contract_shape() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        let expected = make_run(&run, true);
        let out = tmp.path().join("out.jsonl");
        let stats = export_jsonl(&run, &out, MissingPolicy::Error).unwrap();
        assert_eq!(
            stats,
            ExportStats {
                total: 6,
                ok: 5,
                failed: 1,
                missing: 0
            }
        );
        let text = fs::read_to_string(&out).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 6);
        for (line, rec) in lines.iter().zip(&expected) {
            assert_eq!(line["index"], rec.index);
            assert_eq!(line["id"], rec.id.as_str());
            assert_eq!(line["status"], rec.status.as_str());
            match rec.status.error() {
                None => assert!(line["error"].is_null()),
                Some(e) => assert_eq!(line["error"], e),
            }
            let methods = line["methods"].as_object().unwrap();
            assert_eq!(methods.len(), rec.methods.len());
            for m in &rec.methods {
                let j = &methods[&m.method];
                let re = j["rho_re"].as_array().unwrap();
                assert_eq!(re.len(), 4);
                close(&re[1][2], m.rho_re[6]);
                close(&j["rho_im"][3][0], m.rho_im[12]);
                close(&j["purity"], m.metrics.purity);
                assert_eq!(j["physical"], m.metrics.physical);
                assert_eq!(j["converged"], serde_json::json!(m.metrics.converged));
                assert!(j.get("gap_bound").is_some());
                assert!(j.get("fidelity").is_some());
            }
        }
        // Methods keep the record's order in the text.
        let first = text.lines().next().unwrap();
        assert!(first.find("\"mle\"").unwrap() < first.find("\"pls\"").unwrap());
        assert!(
            text.lines()
                .nth(4)
                .unwrap()
                .contains("\"error\":\"all counts zero")
        );
    }

    #[test]
    fn missing_index_is_refused_or_marked() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        make_run(&run, false);
        let out = tmp.path().join("out.jsonl");
        let err = export_jsonl(&run, &out, MissingPolicy::Error).unwrap_err();
        assert!(matches!(
            err,
            ExportError::Missing {
                index: 5,
                count: 1,
                ..
            }
        ));
        assert!(err.to_string().contains("sample 5"), "{err}");
        assert!(!out.exists(), "nothing written on refusal");

        let stats = export_jsonl(&run, &out, MissingPolicy::Mark).unwrap();
        assert_eq!(stats.missing, 1);
        let last: serde_json::Value =
            serde_json::from_str(fs::read_to_string(&out).unwrap().lines().last().unwrap())
                .unwrap();
        assert_eq!(last["index"], 5);
        assert_eq!(last["status"], "missing");
        assert!(last["id"].is_null());
    }

    #[test]
    fn csv_has_one_row_per_sample_and_method() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        let expected = make_run(&run, true);
        let out = tmp.path().join("out.csv");
        export_csv(&run, &out, MissingPolicy::Error).unwrap();
        let mut r = csv::Reader::from_path(&out).unwrap();
        let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(header, CSV_COLUMNS);
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 5 * 2 + 1);
        assert_eq!(&rows[0][0], "0");
        assert_eq!(&rows[0][4], "mle");
        assert_eq!(&rows[1][4], "pls");
        let purity: f64 = rows[0][7].parse().unwrap();
        assert_eq!(purity, expected[0].methods[0].metrics.purity);
        let failed = rows.iter().find(|row| &row[2] == "failed").unwrap();
        assert_eq!(&failed[0], "4");
        assert_eq!(&failed[4], "");
        assert!(failed[3].starts_with("all counts zero"));
    }

    #[test]
    fn npy_arrays_read_back_with_nan_rows_for_failures() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        let expected = make_run(&run, true);
        let out = tmp.path().join("npy");
        export_npy(&run, &out, MissingPolicy::Error).unwrap();
        for (k, method) in METHODS.iter().enumerate() {
            let file = File::open(out.join(format!("rho_{method}.npy"))).unwrap();
            let a = Array3::<c64>::read_npy(file).unwrap();
            assert_eq!(a.shape(), &[6, 4, 4]);
            for rec in &expected {
                let i = rec.index as usize;
                if rec.is_ok() {
                    let m = &rec.methods[k];
                    for r in 0..4 {
                        for c in 0..4 {
                            assert_eq!(
                                a[[i, r, c]],
                                c64::new(m.rho_re[r * 4 + c], m.rho_im[r * 4 + c])
                            );
                        }
                    }
                } else {
                    assert!(
                        a.index_axis(ndarray::Axis(0), i)
                            .iter()
                            .all(|z| z.re.is_nan() && z.im.is_nan())
                    );
                }
            }
        }
        let index = fs::read_to_string(out.join(NPY_INDEX)).unwrap();
        let lines: Vec<&str> = index.lines().collect();
        assert_eq!(lines[0], "index,id,status,error");
        assert_eq!(lines.len(), 7);
        assert!(lines[5].starts_with("4,s4,failed,all counts zero"));
        assert_eq!(lines[1], "0,s0,ok,");
        let leftovers: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn export_of_a_directory_without_manifest_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let err = export(
            tmp.path(),
            ExportFormat::Csv,
            &tmp.path().join("x.csv"),
            MissingPolicy::Mark,
        )
        .unwrap_err();
        assert!(matches!(err, ExportError::NoManifest { .. }));
        assert!(err.to_string().contains("manifest.json"), "{err}");
    }
}
