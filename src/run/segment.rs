//! The job's shared-memory segment: both sides of the contract in one file.
//!
//! The supervisor writes, and every worker reads, one read-only segment
//! ([`crate::supervisor::shm`] provides the header, checksum and OS calls;
//! this file decides what goes into it). Its named `sections`:
//!
//! | section | kind | holds |
//! |---|---|---|
//! | `a` | f64 | the projector matrix A (M × d²) |
//! | `pinv` | f64 | its pseudo-inverse A⁺ |
//! | `mle_rows` | f64 | MLE rows (ungrouped sets only; grouped sets use A) |
//! | `counts` | f64 | the N × M counts |
//! | `plan` | bytes | the postcard-encoded [`Plan`] |
//! | `ids_text`, `ids_ends` | bytes | the sample ids ([`SampleIdTable`]) |
//! | `layout` | bytes | this table's version, [`LAYOUT_VERSION`] (u32, little-endian) |
//! | `sample_scale` | f64 | per-sample scales, N × M (only with per-sample models) |
//! | `sample_background` | f64 | per-sample backgrounds, N × M (likewise) |
//!
//! **Per-sample models.** When the samples of a run have their own scale
//! or background ([`super::sample_model`]), `a`, `pinv` and `mle_rows`
//! hold the *base* set (the effects before the per-sample scale, with no
//! background), the plan's
//! [`sample_models`](crate::run::job::Plan::sample_models) names the
//! per-sample sections present, and each holds one row of M values per
//! sample, in sample order. A run-wide model has neither section, and its
//! set's effects are in `a` as before: an ordinary run reads and computes
//! exactly what it did without them.
//!
//! **Versions.** The `layout` section carries [`LAYOUT_VERSION`], raised
//! whenever a section is added or changes meaning (2: the per-sample
//! sections); a worker refuses a segment of another version (e.g. from a
//! supervisor of an older binary, when the binary was replaced mid-run)
//! rather than misread it. The byte format underneath (header, section
//! table, checksum) has its own version in [`crate::supervisor::shm`].
//!
//! Writing side: `SegmentSink` (`qtomo run`: the input read straight into
//! the segment) and [`build_segment`] (from data already in memory, as the
//! benches do). Reading side: `open_inherited` (a worker maps the
//! segment it inherited), `decode_plan`, and `bind_job` (matrices,
//! counts and ids bound into a [`Job`]; the in-process executor binds the
//! supervisor's own segment the same way), with `counts_and_ids`.

use crate::io::{SampleSink, SinkError};
use crate::run::job::{Job, JobError, Plan};
use crate::run::sample_model::{SampleModelParts, SampleModels};
use crate::sample_ids::{SampleIdTable, SampleIds, SampleIdsError};
use crate::supervisor::shm::{
    SEGMENT_FD_ENV, SectionId, SectionKind, Segment, SegmentBuilder, SegmentView, SegmentWriter,
    ShmError,
};
use crate::tomo::{MeasurementSet, SetView, TomoError};

/// Why a segment could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// The plan could not be encoded.
    #[error("encoding the plan")]
    EncodePlan(#[source] postcard::Error),
    /// The segment could not be created.
    #[error("building the shared-memory segment")]
    Build(#[source] ShmError),
    /// The inherited segment could not be mapped or failed verification.
    #[error("mapping the shared segment")]
    Map(#[source] ShmError),
    /// A section is missing or has the wrong kind.
    #[error(transparent)]
    Section(#[from] ShmError),
    /// The plan section does not decode.
    #[error("decoding the plan from the shared segment")]
    DecodePlan(#[source] postcard::Error),
    /// The sample ids are malformed.
    #[error("reading the sample ids from the shared segment")]
    Ids(#[source] SampleIdsError),
    /// The matrices do not fit the plan's measurement set.
    #[error("binding the shared matrices")]
    Bind(#[source] TomoError),
    /// The plan cannot be bound to the counts and ids.
    #[error("preparing the job")]
    Job(#[source] JobError),
    /// The segment's section table is of another version.
    #[error(
        "the shared segment has layout version {found}, this qtomo reads {expected} (was the \
         binary replaced while the run was going?)"
    )]
    Layout {
        /// The version found.
        found: u32,
        /// The version this build reads.
        expected: u32,
    },
}

/// The segment's section names.
pub(crate) mod sections {
    /// The projector matrix A.
    pub const A: &str = "a";
    /// Its pseudo-inverse.
    pub const PINV: &str = "pinv";
    /// MLE rows (only for ungrouped sets; grouped sets use A).
    pub const MLE_ROWS: &str = "mle_rows";
    /// The N×M counts.
    pub const COUNTS: &str = "counts";
    /// The postcard-encoded [`Plan`](crate::run::job::Plan).
    pub const PLAN: &str = "plan";
    /// The sample ids' bytes, back to back ([`SampleIdTable`](crate::sample_ids::SampleIdTable)).
    pub const IDS_TEXT: &str = "ids_text";
    /// Their end offsets, little-endian u64.
    pub const IDS_ENDS: &str = "ids_ends";
    /// The layout version ([`super::LAYOUT_VERSION`]), little-endian u32.
    pub const LAYOUT: &str = "layout";
    /// Per-sample scales, N×M (per-sample models only).
    pub const SAMPLE_SCALE: &str = "sample_scale";
    /// Per-sample backgrounds, N×M (per-sample models only).
    pub const SAMPLE_BACKGROUND: &str = "sample_background";
}

/// The version of the section table this build writes and reads (see the
/// module doc): 1 before per-sample models, 2 with them.
pub const LAYOUT_VERSION: u32 = 2;

/// The per-sample rows of a segment built in memory ([`build_segment_with_models`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SampleModelRows<'a> {
    /// N×M scales, if the samples have their own.
    pub scale: Option<&'a [f64]>,
    /// N×M backgrounds, if the samples have their own.
    pub background: Option<&'a [f64]>,
}

/// Builds the read-only segment workers map: A, A⁺, MLE rows (ungrouped
/// sets only), the N×M counts, the encoded plan and the sample ids.
pub fn build_segment(
    set: &MeasurementSet,
    counts: &[f64],
    plan: &Plan,
    ids: &SampleIdTable,
) -> Result<Segment, SegmentError> {
    build_segment_with_models(set, counts, plan, ids, SampleModelRows::default())
}

/// [`build_segment`] with per-sample models: `set` is the base set and
/// `models` the N×M rows the plan's `sample_models` names.
pub fn build_segment_with_models(
    set: &MeasurementSet,
    counts: &[f64],
    plan: &Plan,
    ids: &SampleIdTable,
    models: SampleModelRows<'_>,
) -> Result<Segment, SegmentError> {
    let plan_bytes = postcard::to_stdvec(plan).map_err(SegmentError::EncodePlan)?;
    let layout = LAYOUT_VERSION.to_le_bytes();
    let mut builder = SegmentBuilder::new()
        .section(sections::A, set.a())
        .section(sections::PINV, set.pinv())
        .section(sections::COUNTS, counts)
        .bytes(sections::PLAN, &plan_bytes)
        .bytes(sections::IDS_TEXT, ids.text_bytes())
        .bytes(sections::IDS_ENDS, ids.end_bytes())
        .bytes(sections::LAYOUT, &layout);
    if !set.info().is_grouped() {
        builder = builder.section(sections::MLE_ROWS, set.mle_rows());
    }
    if let Some(rows) = models.scale {
        builder = builder.section(sections::SAMPLE_SCALE, rows);
    }
    if let Some(rows) = models.background {
        builder = builder.section(sections::SAMPLE_BACKGROUND, rows);
    }
    builder.build().map_err(SegmentError::Build)
}

/// The segment of `qtomo run`, filled while the input is read: the
/// reader hands each sample to this sink, which appends its counts and id
/// to the segment's sections directly, so the supervisor never holds the
/// counts (or the ids) anywhere else. [`finish`](Self::finish) adds the
/// set's matrices and the plan and seals the same layout
/// [`build_segment`] writes. With per-sample models the reader also
/// hands over each sample's scale and background rows
/// ([`begin_sample_models`](Self::begin_sample_models)).
#[derive(Debug)]
pub(crate) struct SegmentSink {
    writer: SegmentWriter,
    counts: SectionId,
    ids_text: SectionId,
    ids_ends: SectionId,
    /// The per-sample scale and background sections, once begun.
    models: Option<(Option<SectionId>, Option<SectionId>)>,
    /// Samples whose model rows are written.
    model_rows: usize,
    n_outcomes: usize,
    samples: usize,
    /// End offset of the last id in the id text.
    text_end: u64,
}

/// Room reserved for the growing sections before the input's size is
/// known (they grow as needed).
const INITIAL_ROOM: usize = 1 << 20;

impl SegmentSink {
    /// A segment ready for samples of `n_outcomes` counts.
    pub(crate) fn new(n_outcomes: usize) -> Result<Self, ShmError> {
        let mut writer = SegmentWriter::new()?;
        let counts = writer.reserve(sections::COUNTS, SectionKind::F64, INITIAL_ROOM)?;
        let ids_ends = writer.reserve(sections::IDS_ENDS, SectionKind::Bytes, INITIAL_ROOM)?;
        let ids_text = writer.reserve(sections::IDS_TEXT, SectionKind::Bytes, INITIAL_ROOM)?;
        Ok(Self {
            writer,
            counts,
            ids_text,
            ids_ends,
            models: None,
            model_rows: 0,
            n_outcomes,
            samples: 0,
            text_end: 0,
        })
    }

    /// Starts the per-sample model sections: a scale section when `scale`
    /// is given, a background section when `background` is, each first
    /// filled with that row (M values) for every sample pushed so far.
    /// From then on, [`push_sample_model`](Self::push_sample_model) adds
    /// each later sample's rows.
    pub(crate) fn begin_sample_models(
        &mut self,
        scale: Option<&[f64]>,
        background: Option<&[f64]>,
    ) -> Result<(), SinkError> {
        if self.models.is_some() {
            return Err("per-sample model sections begun twice".into());
        }
        let mut begin = |name: &str, row: Option<&[f64]>| -> Result<Option<SectionId>, SinkError> {
            let Some(row) = row else { return Ok(None) };
            if row.len() != self.n_outcomes {
                return Err(format!(
                    "a model row of {} values for {} outcomes",
                    row.len(),
                    self.n_outcomes
                )
                .into());
            }
            let id = self.writer.reserve(
                name,
                SectionKind::F64,
                self.samples.max(1).saturating_mul(size_of_val(row)),
            )?;
            for _ in 0..self.samples {
                self.writer.push_f64(id, row)?;
            }
            Ok(Some(id))
        };
        let scale = begin(sections::SAMPLE_SCALE, scale)?;
        let background = begin(sections::SAMPLE_BACKGROUND, background)?;
        self.models = Some((scale, background));
        self.model_rows = self.samples;
        Ok(())
    }

    /// Appends the model rows of the next sample (the one about to be
    /// pushed, or the one just pushed): one row for each section begun.
    pub(crate) fn push_sample_model(
        &mut self,
        scale: Option<&[f64]>,
        background: Option<&[f64]>,
    ) -> Result<(), SinkError> {
        let Some((scale_id, background_id)) = self.models else {
            return Err("per-sample model rows before the sections were begun".into());
        };
        for (id, row) in [(scale_id, scale), (background_id, background)] {
            match (id, row) {
                (Some(id), Some(row)) if row.len() == self.n_outcomes => {
                    self.writer.push_f64(id, row)?;
                }
                (None, None) => {}
                _ => {
                    return Err("a per-sample model row that does not fit its section".into());
                }
            }
        }
        self.model_rows += 1;
        Ok(())
    }

    /// Adds complete per-sample sections (N×M each) after the last sample
    /// was read: a `--scale` or `--background` of shape (N, M).
    pub(crate) fn add_sample_models(
        &mut self,
        scale: Option<&[f64]>,
        background: Option<&[f64]>,
    ) -> Result<(), SinkError> {
        let want = self.samples.saturating_mul(self.n_outcomes);
        if [scale, background]
            .iter()
            .flatten()
            .any(|r| r.len() != want)
        {
            return Err(format!(
                "per-sample model rows that are not {} samples × {} outcomes",
                self.samples, self.n_outcomes
            )
            .into());
        }
        if self.models.is_some() {
            return Err("per-sample model sections begun twice".into());
        }
        let scale = scale
            .map(|r| self.writer.add_f64(sections::SAMPLE_SCALE, r))
            .transpose()?;
        let background = background
            .map(|r| self.writer.add_f64(sections::SAMPLE_BACKGROUND, r))
            .transpose()?;
        self.models = Some((scale, background));
        self.model_rows = self.samples;
        Ok(())
    }

    /// Which per-sample sections this segment carries, if any.
    pub(crate) fn sample_model_parts(&self) -> Option<SampleModelParts> {
        self.models.map(|(scale, background)| SampleModelParts {
            scale: scale.is_some(),
            background: background.is_some(),
        })
    }

    /// Adds `set`'s matrices (the run's set; the base set with per-sample
    /// models) and the encoded plan, and seals the segment for the
    /// workers.
    pub(crate) fn finish(
        mut self,
        set: &MeasurementSet,
        plan: &Plan,
    ) -> Result<Segment, SinkError> {
        if self.models.is_some() && self.model_rows != self.samples {
            return Err(format!(
                "per-sample model rows for {} of {} samples",
                self.model_rows, self.samples
            )
            .into());
        }
        if set.len() != self.n_outcomes {
            return Err(format!(
                "a set of {} measurements for samples of {} counts",
                set.len(),
                self.n_outcomes
            )
            .into());
        }
        self.writer.add_f64(sections::A, set.a())?;
        self.writer.add_f64(sections::PINV, set.pinv())?;
        if !set.info().is_grouped() {
            self.writer.add_f64(sections::MLE_ROWS, set.mle_rows())?;
        }
        let plan_bytes = postcard::to_stdvec(plan)?;
        self.writer.add_bytes(sections::PLAN, &plan_bytes)?;
        self.writer
            .add_bytes(sections::LAYOUT, &LAYOUT_VERSION.to_le_bytes())?;
        Ok(self.writer.finish()?)
    }
}

impl SampleSink for SegmentSink {
    fn expect(&mut self, samples: usize, id_bytes: usize) -> Result<(), SinkError> {
        // Address space only. A bound the process cannot map (RLIMIT_AS)
        // is not an error: the sections grow as samples come instead.
        let counts = samples
            .saturating_mul(self.n_outcomes)
            .saturating_mul(size_of::<f64>());
        let _ = self.writer.reserve_total(self.counts, counts);
        let _ = self
            .writer
            .reserve_total(self.ids_ends, samples.saturating_mul(size_of::<u64>()));
        let _ = self.writer.reserve_total(self.ids_text, id_bytes);
        Ok(())
    }

    fn push(&mut self, id: Option<&str>, counts: &[f64]) -> Result<(), SinkError> {
        if counts.len() != self.n_outcomes {
            return Err(format!(
                "a sample of {} counts for {} outcomes",
                counts.len(),
                self.n_outcomes
            )
            .into());
        }
        let mut buf = [0u8; 20];
        let id = id.unwrap_or_else(|| crate::io::decimal(self.samples, &mut buf));
        self.writer.push_bytes(self.ids_text, id.as_bytes())?;
        self.text_end += id.len() as u64;
        self.writer
            .push_bytes(self.ids_ends, &self.text_end.to_le_bytes())?;
        self.writer.push_f64(self.counts, counts)?;
        self.samples += 1;
        Ok(())
    }

    fn len(&self) -> usize {
        self.samples
    }

    fn id(&self, index: usize) -> Option<&str> {
        crate::sample_ids::id_at(
            self.writer.bytes(self.ids_text),
            self.writer.bytes(self.ids_ends),
            index,
        )
    }

    fn counts_mut(&mut self) -> Result<&mut [f64], SinkError> {
        Ok(self.writer.f64_mut(self.counts)?)
    }
}

/// The counts and sample ids in a segment built by [`build_segment`] or
/// [`SegmentSink`].
pub(crate) fn counts_and_ids(seg: &SegmentView) -> Result<(&[f64], SampleIds<'_>), SegmentError> {
    let counts = seg.f64_section(sections::COUNTS)?;
    let ids = SampleIds::from_parts(
        seg.bytes_section(sections::IDS_TEXT)?,
        seg.bytes_section(sections::IDS_ENDS)?,
    )
    .map_err(SegmentError::Ids)?;
    Ok((counts, ids))
}

/// The worker's side, first step: maps the segment this process inherited
/// from the supervisor, read-only (verifying magic, version and checksum).
pub(crate) fn open_inherited() -> Result<SegmentView, SegmentError> {
    SegmentView::open_inherited(SEGMENT_FD_ENV).map_err(SegmentError::Map)
}

/// Decodes the [`Plan`] a segment carries.
pub(crate) fn decode_plan(seg: &SegmentView) -> Result<Plan, SegmentError> {
    postcard::from_bytes(seg.bytes_section(sections::PLAN)?).map_err(SegmentError::DecodePlan)
}

/// The layout version a segment carries (1 for a segment without a
/// `layout` section, written before versions were recorded).
pub(crate) fn layout_version(seg: &SegmentView) -> u32 {
    match seg.bytes_section(sections::LAYOUT) {
        Ok(b) if b.len() == 4 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        Ok(_) => 0,
        Err(_) => 1,
    }
}

/// Binds `plan` to the segment's matrices, counts and ids: the [`Job`]
/// that computes every sample. Workers and the in-process executor both
/// come here, so a sample's result does not depend on where it ran.
pub(crate) fn bind_job<'a>(seg: &'a SegmentView, plan: &'a Plan) -> Result<Job<'a>, SegmentError> {
    let found = layout_version(seg);
    if found != LAYOUT_VERSION {
        return Err(SegmentError::Layout {
            found,
            expected: LAYOUT_VERSION,
        });
    }
    let a = seg.f64_section(sections::A)?;
    let pinv = seg.f64_section(sections::PINV)?;
    let mle_rows = match seg.f64_section(sections::MLE_ROWS) {
        Ok(rows) => rows,
        Err(_) => a,
    };
    let (counts, ids) = counts_and_ids(seg)?;
    let view = SetView::new(&plan.set, a, pinv, mle_rows).map_err(SegmentError::Bind)?;
    let mut job = Job::new(plan, view, counts, ids).map_err(SegmentError::Job)?;
    if let Some(parts) = plan.sample_models {
        let rows = |wanted: bool, name: &str| -> Result<Option<&'a [f64]>, SegmentError> {
            wanted
                .then(|| seg.f64_section(name))
                .transpose()
                .map_err(SegmentError::from)
        };
        let models = SampleModels::new(
            view,
            counts.len() / view.len().max(1),
            rows(parts.scale, sections::SAMPLE_SCALE)?,
            rows(parts.background, sections::SAMPLE_BACKGROUND)?,
            plan.bootstrap.is_some_and(|b| b.replicates > 0),
        )
        .map_err(SegmentError::Bind)?;
        job.set_sample_models(models);
    }
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{InputOptions, read_samples, read_samples_into};
    use crate::run::job::MleOptions;
    use std::io::Write;

    fn plan_for(set: &MeasurementSet, samples: usize) -> Plan {
        Plan {
            set: set.info().clone(),
            methods: vec!["linear".into()],
            mle: MleOptions::default(),
            target: None,
            samples: samples as u64,
            bootstrap: None,
            sample_models: None,
        }
    }

    /// Reads `path` into a segment and checks it holds what
    /// `read_samples` returns, in the layout the workers read.
    fn same_as_read_samples(path: &std::path::Path, set: &MeasurementSet) {
        let want = read_samples(path, set.labels(), &InputOptions::default()).expect("read");
        let mut sink = SegmentSink::new(set.len()).expect("sink");
        read_samples_into(path, set.labels(), &InputOptions::default(), &mut sink)
            .expect("read into the segment");
        let seg = sink
            .finish(set, &plan_for(set, want.n_samples))
            .expect("finish");
        let view = seg.view();
        let (counts, ids) = counts_and_ids(view).expect("sections");
        assert_eq!(counts, &want.counts[..]);
        assert_eq!(ids.len(), want.ids.len());
        assert!((0..ids.len()).all(|i| ids.get(i) == Some(want.ids[i].as_str())));
        assert_eq!(view.f64_section(sections::A).expect("A"), set.a());
        let plan: Plan = postcard::from_bytes(view.bytes_section(sections::PLAN).expect("plan"))
            .expect("plan decodes");
        assert_eq!(plan.samples, want.n_samples as u64);
    }

    /// Both sides of the contract: a job bound to a segment (as a worker
    /// binds it) computes what a job bound to the set in memory computes,
    /// and stamps the attempt and this process's id.
    #[test]
    fn a_job_bound_to_the_segment_computes_what_the_set_in_memory_does() {
        for (name, qubits, dim) in [("pauli", Some(1), None), ("qudit", None, Some(3))] {
            let set = crate::tomo::builtin_set(name, qubits, dim).expect("set");
            let m = set.len();
            let counts: Vec<f64> = (0..3 * m).map(|i| f64::from((i % 7) as u8) + 1.0).collect();
            let ids = SampleIdTable::new(["a", "b", "c"]);
            let mut plan = plan_for(&set, 3);
            plan.methods = vec!["mle".into(), "pls".into(), "linear".into()];
            let seg = build_segment(&set, &counts, &plan, &ids).expect("segment");
            let decoded = decode_plan(seg.view()).expect("plan decodes");
            assert_eq!(decoded, plan);
            let mut from_segment = bind_job(seg.view(), &decoded).expect("bind");
            let (_, seg_ids) = counts_and_ids(seg.view()).expect("sections");
            let mut in_memory = Job::new(&plan, set.view(), &counts, seg_ids).expect("job");
            for i in 0..3 {
                let mut a = from_segment.compute(i, 2);
                let mut b = in_memory.compute(i, 2);
                assert_eq!((a.attempts, a.worker_pid), (2, std::process::id()));
                assert_eq!(a.id, ["a", "b", "c"][i as usize]);
                a.elapsed_us = 0;
                b.elapsed_us = 0;
                assert_eq!(a, b, "{name} sample {i}");
            }
        }
    }

    /// Per-sample models through the segment: a job bound to a segment
    /// with scale and background rows computes for each sample what a job
    /// over that sample's own set computes, and builds one set per
    /// distinct model (rows of ones and zeros use the base set).
    #[test]
    fn a_per_sample_segment_computes_each_sample_under_its_own_set() {
        use crate::tomo::model::MeasurementModel;
        let set = crate::tomo::builtin_set("james16", None, None).expect("set");
        let m = set.len();
        let n = 4;
        let counts: Vec<f64> = (0..n * m)
            .map(|i| f64::from((i % 13) as u8) * 40.0 + 30.0)
            .collect();
        let scale: Vec<f64> = (0..n * m)
            .map(|x| {
                if x / m == 1 {
                    1.0
                } else {
                    0.8 + 0.03 * (x % m) as f64
                }
            })
            .collect();
        let background: Vec<f64> = (0..n * m)
            .map(|x| match x / m {
                1 => 0.0,
                3 => 2.0,
                _ => 5.0 + (x % 3) as f64,
            })
            .collect();
        let ids = SampleIdTable::new(["a", "b", "c", "d"]);
        let mut plan = plan_for(&set, n);
        plan.methods = vec!["mle".into(), "pls".into(), "linear".into()];
        plan.sample_models = Some(SampleModelParts {
            scale: true,
            background: true,
        });
        let rows = SampleModelRows {
            scale: Some(&scale),
            background: Some(&background),
        };
        let seg = build_segment_with_models(&set, &counts, &plan, &ids, rows).expect("segment");
        let mut job = bind_job(seg.view(), &plan).expect("bind");
        for i in 0..n {
            let row = |v: &[f64]| v[i * m..(i + 1) * m].to_vec();
            let model = MeasurementModel {
                block_map: None,
                scale: (i != 1).then(|| row(&scale)),
                background: (i != 1).then(|| row(&background)),
            };
            let own = model.apply(&set).expect("own set");
            let mut one_plan = plan_for(&own, 1);
            one_plan.methods = plan.methods.clone();
            let one_ids = SampleIdTable::new([["a", "b", "c", "d"][i]]);
            let one = build_segment(&own, &counts[i * m..(i + 1) * m], &one_plan, &one_ids)
                .expect("segment of one");
            let mut alone = bind_job(one.view(), &one_plan).expect("bind one");
            let mut a = job.compute(i as u64, 1);
            let mut b = alone.compute(0, 1);
            assert_eq!(a.index, i as u64);
            (a.index, a.elapsed_us, b.elapsed_us) = (0, 0, 0);
            assert_eq!(a, b, "sample {i}");
        }
        assert_eq!(job.sample_sets_built(), 3, "sample 1 uses the base set");
        // A plan naming sections the segment does not have is refused.
        let plain = build_segment(&set, &counts, &plan, &ids).expect("segment");
        assert!(bind_job(plain.view(), &plan).is_err());
    }

    /// A segment of another layout version (here one written before
    /// versions were recorded, without a `layout` section) is refused by
    /// the worker's side, naming both versions.
    #[test]
    fn a_segment_of_another_layout_version_is_refused() {
        let set = crate::tomo::builtin_set("pauli", Some(1), None).expect("set");
        let plan = plan_for(&set, 1);
        let plan_bytes = postcard::to_stdvec(&plan).expect("plan");
        let ids = SampleIdTable::new(["a"]);
        let seg = SegmentBuilder::new()
            .section(sections::A, set.a())
            .section(sections::PINV, set.pinv())
            .section(sections::COUNTS, &[1.0; 6])
            .bytes(sections::PLAN, &plan_bytes)
            .bytes(sections::IDS_TEXT, ids.text_bytes())
            .bytes(sections::IDS_ENDS, ids.end_bytes())
            .build()
            .expect("segment");
        assert_eq!(layout_version(seg.view()), 1);
        let Err(e) = bind_job(seg.view(), &plan) else {
            panic!("a version 1 segment was bound");
        };
        let text = e.to_string();
        assert!(
            text.contains("layout version 1, this qtomo reads 2"),
            "{text}"
        );
    }

    #[test]
    fn the_input_read_into_the_segment_is_the_input() {
        let set = crate::tomo::builtin_set("pauli", Some(1), None).expect("set");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut csv = String::from("Z:1,sample,X:0,X:1,Y:0,Y:1,Z:0\n");
        for i in 0..5000 {
            csv.push_str(&format!("{},id-{i},{i},1,2.5,0,{}\n", i % 7, i % 3));
        }
        let path = dir.path().join("in.csv");
        std::fs::write(&path, csv).expect("write");
        same_as_read_samples(&path, &set);

        let counts: Vec<f64> = (0..6000).map(|i| f64::from(i % 11)).collect();
        let path = dir.path().join("in.npy");
        crate::io::write_samples_npy(&path, 1000, 6, &counts).expect("write npy");
        same_as_read_samples(&path, &set);
    }

    /// From a pipe the size is unknown: the sections start small and grow
    /// as the samples come.
    #[test]
    fn a_pipe_of_unknown_size_grows_the_segment() {
        let set = crate::tomo::builtin_set("pauli", Some(1), None).expect("set");
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("in.csv");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        let n = 60_000;
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&fifo)
                    .expect("open fifo");
                writeln!(f, "X:0,X:1,Y:0,Y:1,Z:0,Z:1").expect("header");
                for i in 0..n {
                    writeln!(f, "{i},1,2,3,4,5").expect("row");
                }
            })
        };
        let mut sink = SegmentSink::new(set.len()).expect("sink");
        read_samples_into(&fifo, set.labels(), &InputOptions::default(), &mut sink)
            .expect("read the pipe");
        writer.join().expect("writer");
        let seg = sink.finish(&set, &plan_for(&set, n)).expect("finish");
        let (counts, ids) = counts_and_ids(seg.view()).expect("sections");
        assert_eq!(counts.len(), n * 6);
        assert_eq!(ids.get(n - 1), Some("59999"));
        assert_eq!(counts[(n - 1) * 6], 59_999.0);
    }
}
