//! From parsed options to a plan: the measurement set, the input read
//! straight into the shared segment, the job's [`Plan`], the fingerprint.
//! Nothing is written to the run directory here.
//!
//! The command line resolves `--basis` to a [`MeasurementSet`] and reads
//! the input with [`Ingest::read`]: each sample goes into the segment the
//! workers will map ([`super::segment`]), so the counts are never held
//! twice and the supervisor's peak memory while reading is about what it
//! holds while the workers run. [`RunPlan::new`] then seals the segment
//! with the plan and fingerprints the run by the *contents* of the files
//! that shape its results (SHA-256, streamed), never their paths.

use super::execute::PoolSettings;
use super::job::{MleOptions, Plan, TargetSpec};
use super::kwiat_set::{crosstalk_differs, kwiat_model, kwiat_plain_set, same_model, sample_rows};
use super::segment::SegmentSink;
use crate::io::kwiat::{self, KwiatError, KwiatOptions};
use crate::io::{InputError, InputOptions, SampleSink, SinkError};
use crate::store::{self, Fingerprint};
use crate::supervisor::shm::Segment;
use crate::tomo::bootstrap::BootstrapParams;
use crate::tomo::{MeasurementSet, Method, TomoError};
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A plan that cannot be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PlanError {
    /// The segment could not be sealed (an input error of kind storage).
    #[error(transparent)]
    Input(#[from] InputError),
    /// A file that shapes the results could not be read for its digest.
    #[error("{}: cannot read: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The input, read into a new segment, before the plan seals it.
pub(crate) struct Ingest {
    /// The segment being filled.
    sink: SegmentSink,
}

impl Ingest {
    /// Reads every sample of `input`, in the order of `set`'s labels, into
    /// a new shared-memory segment (which gets `set`'s matrices when the
    /// plan seals it).
    pub(crate) fn read(
        input: &Path,
        set: &MeasurementSet,
        opts: &InputOptions,
    ) -> Result<Self, InputError> {
        let mut sink = SegmentSink::new(set.len()).map_err(|e| InputError::Storage {
            path: input.to_path_buf(),
            source: e.into(),
        })?;
        crate::io::read_samples_into(input, set.labels(), opts, &mut sink)?;
        Ok(Self { sink })
    }

    /// Adds per-sample models to the samples read: `scale` and
    /// `background` of N×M values each (N the samples read, M the
    /// outcomes), one row per sample, over the base set the plan will be
    /// sealed with. The caller has checked their shapes (an error here is
    /// a storage error of `input`).
    pub(crate) fn add_sample_models(
        &mut self,
        input: &Path,
        scale: Option<&[f64]>,
        background: Option<&[f64]>,
    ) -> Result<(), InputError> {
        self.sink
            .add_sample_models(scale, background)
            .map_err(|source| InputError::Storage {
                path: input.to_path_buf(),
                source,
            })
    }

    /// Reads a Kwiat Quantum-Tomography input (one `.json` file, a
    /// `.jsonl` batch or a directory of `.json` files) into a new segment:
    /// its rows become an ungrouped set (Poisson counts with a free
    /// intensity, as the package fits them) under the measurement model
    /// the file defines (scales, accidentals, crosstalk; see
    /// [`super::kwiat_set`]), its coincidence counts the samples.
    ///
    /// When every sample needs the same scale and accidentals, the set
    /// carries them (as for one file). When they differ (each file with
    /// its own integration times, efficiencies, singles), the returned
    /// set is the base set (the crosstalk-mixed projectors) and every
    /// sample's scale and background rows go into the segment, so each is
    /// fitted under its own model ([`super::sample_model`]); the returned
    /// description says so (`None` for a run-wide model). The crosstalk
    /// is the run's: a sample whose crosstalk differs from the first
    /// sample's is refused, naming it.
    pub(crate) fn read_kwiat(
        input: &Path,
        opts: &KwiatOptions,
    ) -> Result<(MeasurementSet, Self, Option<String>), InputError> {
        /// What the batch's first sample fixed.
        struct First {
            /// The first sample (its model and crosstalk).
            sample: kwiat::KwiatSample,
            /// Its set, model applied: the run's set while every sample
            /// shares its model.
            set: MeasurementSet,
            /// The base set (crosstalk only).
            base: MeasurementSet,
            sink: SegmentSink,
            /// Some sample's scale or background differs from the first's.
            per_sample: bool,
        }
        let mut state: Option<First> = None;
        let storage = |source: SinkError| InputError::Storage {
            path: input.to_path_buf(),
            source,
        };
        let semantics = |sample: &kwiat::KwiatSample, detail: String| {
            InputError::from(KwiatError::Semantics {
                path: sample.origin.path.clone(),
                line: sample.origin.line,
                detail,
            })
        };
        kwiat::for_each_sample(input, opts, |rows, sample| {
            let first = match state.as_mut() {
                Some(first) => first,
                None => {
                    let name = format!(
                        "kwiat({} qubit{}, {} detector{} per qubit)",
                        rows.n_qubits,
                        if rows.n_qubits == 1 { "" } else { "s" },
                        rows.detectors_per_qubit,
                        if rows.detectors_per_qubit == 1 {
                            ""
                        } else {
                            "s"
                        },
                    );
                    let cannot =
                        |e: TomoError| format!("its measurements cannot determine a state: {e}");
                    let base = kwiat_plain_set(&name, rows, &sample)
                        .map_err(|e| semantics(&sample, cannot(e)))?;
                    let set = kwiat_model(&sample)
                        .apply(&base)
                        .map_err(|e| semantics(&sample, cannot(e)))?;
                    let sink = SegmentSink::new(set.len()).map_err(|e| storage(e.into()))?;
                    state.insert(First {
                        sample: sample.clone(),
                        set,
                        base,
                        sink,
                        per_sample: false,
                    })
                }
            };
            if let Some(detail) = crosstalk_differs(&first.sample, &sample) {
                return Err(InputError::from(KwiatError::NeedsModel {
                    path: sample.origin.path.clone(),
                    line: sample.origin.line,
                    detail,
                }));
            }
            if !first.per_sample && !same_model(&first.sample, &sample) {
                // From here on every sample carries its own rows; those
                // read so far share the first sample's.
                let (scale, background) = sample_rows(&first.sample);
                first
                    .sink
                    .begin_sample_models(Some(&scale), Some(&background))
                    .map_err(storage)?;
                first.per_sample = true;
            }
            if first.per_sample {
                kwiat_model(&sample)
                    .check_vectors(first.base.info())
                    .map_err(|e| semantics(&sample, format!("its measurement model: {e}")))?;
                let (scale, background) = sample_rows(&sample);
                first
                    .sink
                    .push_sample_model(Some(&scale), Some(&background))
                    .map_err(storage)?;
            }
            first
                .sink
                .push(sample.id.as_deref(), &sample.counts)
                .map_err(storage)
        })?;
        match state {
            Some(first) if first.per_sample => {
                let n = first.sink.len();
                let m = first.base.len();
                let description =
                    format!("kwiat: scale: per sample ({n}×{m}); background: per sample ({n}×{m})");
                Ok((first.base, Self { sink: first.sink }, Some(description)))
            }
            Some(first) => Ok((first.set, Self { sink: first.sink }, None)),
            None => Err(InputError::from(KwiatError::NoSamples {
                path: input.to_path_buf(),
                what: "at least one sample",
            })),
        }
    }

    /// The number of samples read.
    pub(crate) fn len(&self) -> usize {
        self.sink.len()
    }
}

/// What the command line decided, beyond the set and the input.
pub(crate) struct PlanRequest {
    /// The input file (its contents are fingerprinted).
    pub input: PathBuf,
    /// A custom basis file (its contents are fingerprinted), if any.
    pub basis_file: Option<PathBuf>,
    /// The run directory.
    pub out: PathBuf,
    /// Methods in the order asked for (repeats are dropped).
    pub methods: Vec<Method>,
    /// MLE options.
    pub mle: MleOptions,
    /// The bootstrap (`--bootstrap`, `--bootstrap-kind`, `--seed`), if any.
    pub bootstrap: Option<BootstrapParams>,
    /// The measurement model's files by role (`readout`, `scale`; their
    /// contents are fingerprinted).
    pub model_files: Vec<(&'static str, PathBuf)>,
    /// The measurement model's description (see `cli::model`), for the
    /// fingerprint and `show`; `None` without a model.
    pub model: Option<String>,
    /// The fidelity target: as given (for target.json) and as a state.
    pub target: Option<(String, TargetSpec)>,
    /// Shard `(i, n)`, if any, with its index range of the input.
    pub shard: Option<((u32, u32), Range<u64>)>,
    /// Start over (`--fresh`).
    pub fresh: bool,
    /// Retry samples recorded as failed.
    pub retry_failed: bool,
    /// Other files that shape results, by role (e.g. `kwiat_conf`): their
    /// contents are fingerprinted.
    pub extra_files: Vec<(&'static str, PathBuf)>,
    /// Options of the input reading that shape results, for the
    /// fingerprint (`transposed`, `columns`).
    pub input_options: Vec<(&'static str, String)>,
    /// How to execute.
    pub pool: PoolSettings,
}

/// Everything checked and loaded, nothing written yet.
pub(crate) struct RunPlan {
    /// The run directory.
    pub out: PathBuf,
    /// Start over (`--fresh`).
    pub fresh: bool,
    /// Retry samples recorded as failed.
    pub retry_failed: bool,
    /// `--target` as given, when one was.
    pub target_given: Option<String>,
    /// The measurement set.
    pub set: MeasurementSet,
    /// The shared segment: matrices, input counts, sample ids, plan.
    pub segment: Segment,
    /// The number of input samples.
    pub n_samples: u64,
    /// The samples this process runs (the shard's range, or all).
    pub range: Range<u64>,
    /// What each sample's job computes.
    pub job: Plan,
    /// The run's fingerprint.
    pub fingerprint: Fingerprint,
    /// How to execute.
    pub pool: PoolSettings,
}

impl RunPlan {
    /// Seals the ingested input with the job's plan and fingerprints the
    /// run.
    pub(crate) fn new(
        set: MeasurementSet,
        ingest: Ingest,
        request: PlanRequest,
    ) -> Result<Self, PlanError> {
        let mut methods: Vec<String> = Vec::new();
        for m in &request.methods {
            if !methods.iter().any(|x| x == m.name()) {
                methods.push(m.name().to_string());
            }
        }
        let n_samples = ingest.len() as u64;
        let (target_given, target) = request.target.unzip();
        let job = Plan {
            set: set.info().clone(),
            methods: methods.clone(),
            mle: request.mle,
            target,
            samples: n_samples,
            bootstrap: request.bootstrap,
            sample_models: ingest.sink.sample_model_parts(),
        };
        let segment = ingest
            .sink
            .finish(&set, &job)
            .map_err(|source| InputError::Storage {
                path: request.input.clone(),
                source,
            })?;
        let mut options = BTreeMap::new();
        options.insert("tol".into(), format!("{:e}", request.mle.tol));
        options.insert("max_iters".into(), request.mle.max_iters.to_string());
        // The bootstrap shapes results: its size, kind and seed are in the
        // fingerprint (absent without --bootstrap, so a run without one
        // resumes a directory made before the bootstrap existed in the
        // same way as ever).
        if let Some(b) = &request.bootstrap {
            options.insert("bootstrap".into(), b.replicates.to_string());
            options.insert("bootstrap_kind".into(), b.kind.name().into());
            options.insert("seed".into(), b.seed.to_string());
        }
        // Files are identified by their contents, never by their paths.
        // The target is no part of the fingerprint: it changes no density
        // matrix, and show and export measure against any target later
        // (it is stored in the run directory instead, see cli::target).
        let mut files = BTreeMap::new();
        files.insert("input".to_string(), digest_input(&request.input)?);
        for (role, path) in &request.extra_files {
            files.insert((*role).to_string(), digest_file(path)?);
        }
        if let Some(basis) = &request.basis_file {
            files.insert("basis".to_string(), digest_file(basis)?);
        }
        // The measurement model shapes every estimate: its files by
        // content, its kind as an option (absent without a model, so a run
        // without one resumes a directory made before models existed).
        for (role, path) in &request.model_files {
            files.insert((*role).to_string(), digest_file(path)?);
        }
        if let Some(model) = &request.model {
            options.insert("model".into(), model.clone());
        }
        for (key, value) in request.input_options {
            options.insert(key.into(), value);
        }
        let (shard, range) = match request.shard {
            Some((shard, range)) => (Some(shard), range),
            None => (None, 0..n_samples),
        };
        let fingerprint = Fingerprint {
            files,
            input_sha: None,
            basis: set.info().name.clone(),
            dim: set.dim() as u32,
            methods,
            options,
            shard,
        };
        Ok(Self {
            out: request.out,
            fresh: request.fresh,
            retry_failed: request.retry_failed,
            target_given,
            set,
            segment,
            n_samples,
            range,
            job,
            fingerprint,
            pool: request.pool,
        })
    }
}

/// The content digest of the input: of the file, or for a directory
/// batch (Kwiat `.json` files) the SHA-256 of its files' digests in batch
/// order, so that contents and order count and names do not.
fn digest_input(path: &Path) -> Result<store::FileDigest, PlanError> {
    if !path.is_dir() {
        return digest_file(path);
    }
    let files = kwiat::batch_files(path).map_err(|e| PlanError::Input(e.into()))?;
    let mut listing = String::new();
    for file in &files {
        listing.push_str(&digest_file(file)?.sha256);
        listing.push('\n');
    }
    digest(path, store::sha256_reader(listing.as_bytes()))
}

/// The content digest of a file that shapes results (SHA-256, streamed),
/// recorded in the manifest under its role.
fn digest_file(path: &Path) -> Result<store::FileDigest, PlanError> {
    digest(path, store::sha256_file(path))
}

/// `path`'s digest record, from the SHA-256 computed of it.
fn digest(path: &Path, sha256: std::io::Result<String>) -> Result<store::FileDigest, PlanError> {
    let sha256 = sha256.map_err(|source| PlanError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(store::FileDigest {
        path: path.display().to_string(),
        sha256,
    })
}
