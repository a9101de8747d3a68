//! Resume bookkeeping over a large results log.
//!
//! Writes a 1,000,000-record log (999,000 ok, 1,000 failed; dimension-1
//! records, so the file stays near 100 MB) and times building the resume
//! state from it, as `qtomo run` does when it resumes a run directory.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use qtomo::results::{
    LogWriter, MethodMetrics, MethodResult, RecordIndex, ResumeState, SampleRecord, SampleStatus,
    SyncPolicy,
};

const TOTAL: u64 = 1_000_000;

fn tiny_record(index: u64) -> SampleRecord {
    let ok = index % 1000 != 999;
    SampleRecord {
        index,
        id: format!("s{index}"),
        status: if ok {
            SampleStatus::Ok
        } else {
            SampleStatus::Failed {
                reason: "all counts zero".to_string(),
            }
        },
        attempts: 1,
        worker_pid: 1000 + (index % 8) as u32,
        elapsed_us: 250,
        methods: if ok {
            vec![MethodResult {
                method: "linear".to_string(),
                dim: 1,
                rho_re: vec![1.0],
                rho_im: vec![0.0],
                metrics: MethodMetrics {
                    trace: 1.0,
                    purity: 1.0,
                    eigenvalues: vec![1.0],
                    von_neumann_entropy: 0.0,
                    linear_entropy: 0.0,
                    log_likelihood: Some(-1.5),
                    gap_bound: None,
                    iterations: None,
                    converged: None,
                    chi2: Some(0.1),
                    fidelity: None,
                    concurrence: None,
                    negativity: None,
                    physical: true,
                    gap_floor: None,
                    trace_distance: None,
                    log_negativity: None,
                },
                gof: None,
                bootstrap: None,
                bootstrap_target: None,
            }]
        } else {
            Vec::new()
        },
    }
}

fn resume(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let path = dir.path().join("results.log");
    let mut writer = LogWriter::open(&path, SyncPolicy::OnFlush).expect("open the log");
    let mut batch = Vec::with_capacity(10_000);
    for index in 0..TOTAL {
        batch.push(tiny_record(index));
        if batch.len() == batch.capacity() {
            writer.append_batch(&batch).expect("append a batch");
            batch.clear();
        }
    }
    writer.append_batch(&batch).expect("append the last batch");
    writer.flush_sync().expect("fsync the log");
    drop(writer);
    let bytes = std::fs::metadata(&path).expect("stat the log").len();
    eprintln!("resume bench: {TOTAL} records, {bytes} bytes");

    let mut group = c.benchmark_group("resume");
    group.sample_size(10);
    group.bench_function("resume_state_from_log_1m", |b| {
        b.iter(|| {
            let scan = ResumeState::from_log(black_box(&path), TOTAL).expect("scan the log");
            assert_eq!(scan.state.completed(), 999_000);
            assert_eq!(scan.state.failed(), 1_000);
            scan
        })
    });
    group.bench_function("record_index_from_log_1m", |b| {
        b.iter(|| RecordIndex::from_log(black_box(&path), TOTAL).expect("index the log"))
    });
    group.finish();
}

criterion_group!(benches, resume);
criterion_main!(benches);
