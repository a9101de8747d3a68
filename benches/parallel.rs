//! Parallel efficiency of the worker pool:
//!
//! ```text
//! efficiency = throughput with W workers ÷ (W × single-process in-memory throughput)
//! ```
//!
//! The baseline computes every sample with `Job::compute` in this process,
//! writing nothing. The pool run is the real thing: the `qtomo` binary as
//! W worker processes over one shared segment, appending every record to a
//! results log under flock, wall time from spawn to teardown. Two workloads:
//! 2-qubit Pauli MLE (~60 µs/sample) and 2-qubit linear inversion
//! (microseconds/sample, where dispatch and logging overheads show). Each
//! pool run lasts a few seconds, so the fixed costs of a run (spawning and
//! handshaking the workers, the first one-sample chunk, the last worker
//! finishing alone) are amortised as in a real batch; on a 0.7 s run they
//! cost about two points of efficiency.
//!
//! The machine is shared, so wall-clock efficiency depends on what else is
//! running; the bench also reports CPU efficiency (baseline CPU time per
//! sample ÷ pool CPU time per sample, supervisor and workers together),
//! which shows the pool's own overhead regardless of contention. Last, W
//! threads computing in one process with no pool show what the hardware
//! itself gives W parallel computations; pool ÷ threads is the pool's share
//! of any loss.
//!
//! Environment: `QTOMO_BENCH_WORKERS` (default 2), `QTOMO_BENCH_SCALE`
//! (multiplies the sample counts, default 1).

use std::time::{Duration, Instant};

use qtomo::pool::{
    Job, MleOptions, NoopObserver, Outcome, Plan, PoolConfig, SampleIdTable, SignalHandlerKind,
    build_segment, run_pool,
};
use qtomo::tomo::simulate::{self, StateKind};
use qtomo::tomo::{MeasurementSet, builtin_set};

const DISTINCT: usize = 1024;

fn counts(set: &MeasurementSet, n: usize) -> Vec<f64> {
    let m = set.len();
    let mut base = vec![0.0; DISTINCT * m];
    for i in 0..DISTINCT {
        simulate::simulate_sample(
            set.view(),
            StateKind::RandomMixed,
            1000,
            1,
            i as u64,
            &mut base[i * m..(i + 1) * m],
        )
        .expect("simulate");
    }
    (0..n)
        .flat_map(|i| {
            base[(i % DISTINCT) * m..(i % DISTINCT + 1) * m]
                .iter()
                .copied()
        })
        .collect()
}

fn plan(set: &MeasurementSet, method: &str, n: usize) -> Plan {
    Plan {
        set: set.info().clone(),
        methods: vec![method.to_owned()],
        mle: MleOptions::default(),
        target: None,
        samples: n as u64,
        bootstrap: None,
        sample_models: None,
    }
}

/// CPU seconds (user + system) of this process or of its reaped children.
fn cpu_seconds(who: i32) -> f64 {
    let mut ru = std::mem::MaybeUninit::<nix::libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole rusage into the pointer it is given,
    // which points to a properly sized and aligned buffer.
    let rc = unsafe { nix::libc::getrusage(who, ru.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage");
    // SAFETY: initialised by the successful call above (and zeroed before).
    let ru = unsafe { ru.assume_init() };
    let tv = |t: nix::libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn cpu_now() -> (f64, f64) {
    (
        cpu_seconds(nix::libc::RUSAGE_SELF),
        cpu_seconds(nix::libc::RUSAGE_CHILDREN),
    )
}

/// Samples per second and CPU seconds per sample, computed in this
/// process, nothing written.
fn in_memory(set: &MeasurementSet, plan: &Plan, counts: &[f64], ids: &SampleIdTable) -> (f64, f64) {
    let mut job = Job::new(plan, set.view(), counts, ids.ids()).expect("job");
    let n = plan.samples;
    let c0 = cpu_now().0;
    let t = Instant::now();
    for i in 0..n {
        std::hint::black_box(job.compute(i, 1));
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    (rate, (cpu_now().0 - c0) / n as f64)
}

/// Samples per second of `threads` threads in this process, each computing
/// its share of the samples in memory: what the hardware gives W parallel
/// computations with no pool at all (cores sharing caches, memory and a
/// power budget slow each other down).
fn threaded(
    set: &MeasurementSet,
    plan: &Plan,
    counts: &[f64],
    ids: &SampleIdTable,
    threads: usize,
) -> f64 {
    let n = plan.samples;
    let t = Instant::now();
    std::thread::scope(|s| {
        for w in 0..threads as u64 {
            s.spawn(move || {
                let mut job = Job::new(plan, set.view(), counts, ids.ids()).expect("job");
                for i in (w..n).step_by(threads) {
                    std::hint::black_box(job.compute(i, 1));
                }
            });
        }
    });
    n as f64 / t.elapsed().as_secs_f64()
}

/// Samples per second and CPU seconds per sample (supervisor + workers)
/// through the pool with `workers` processes.
fn pooled(
    set: &MeasurementSet,
    plan: &Plan,
    counts: &[f64],
    ids: &SampleIdTable,
    workers: usize,
) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("results.log");
    let segment = build_segment(set, counts, plan, ids).expect("segment");
    let mut cfg = PoolConfig::new(env!("CARGO_BIN_EXE_qtomo").into(), vec!["__worker".into()]);
    cfg.policy.workers = workers;
    cfg.signals = SignalHandlerKind::Noop;
    let n = plan.samples;
    let (s0, c0) = cpu_now();
    let t = Instant::now();
    let out = run_pool(&cfg, &segment, (0..n).collect(), &log, &mut NoopObserver).expect("pool");
    let rate = n as f64 / t.elapsed().as_secs_f64();
    let (s1, c1) = cpu_now();
    assert_eq!(out.status, Outcome::Complete);
    assert_eq!(out.succeeded, n);
    (rate, ((s1 - s0) + (c1 - c0)) / n as f64)
}

fn main() {
    // One thread per computation, as in a worker.
    qtomo::tomo::parallel::sequential_by_default();
    // `cargo bench` passes --bench; `cargo test --benches` does not: then
    // only a tiny smoke run happens.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let workers: usize = std::env::var("QTOMO_BENCH_WORKERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let scale: f64 = std::env::var("QTOMO_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if smoke { 0.01 } else { 1.0 });
    let set = builtin_set("pauli", Some(2), None).expect("pauli set");
    println!("parallel efficiency, {workers} workers, 2-qubit Pauli");
    for (method, base_n) in [("mle", 100_000.0), ("linear", 400_000.0)] {
        let n = ((base_n * scale) as usize).max(100);
        let counts = counts(&set, n);
        let plan = plan(&set, method, n);
        let ids = SampleIdTable::new((0..n).map(|i| i.to_string()));
        // Best of 3 for each side: the machine is shared.
        let (mut single, mut single_cpu) = (0.0f64, f64::MAX);
        let (mut pool, mut pool_cpu) = (0.0f64, f64::MAX);
        let mut threads = 0.0f64;
        for _ in 0..if smoke { 1 } else { 3 } {
            let (r, c) = in_memory(&set, &plan, &counts, &ids);
            single = single.max(r);
            single_cpu = single_cpu.min(c);
            threads = threads.max(threaded(&set, &plan, &counts, &ids, workers));
            let (r, c) = pooled(&set, &plan, &counts, &ids, workers);
            pool = pool.max(r);
            pool_cpu = pool_cpu.min(c);
            std::thread::sleep(Duration::from_millis(200));
        }
        let eff = pool / (workers as f64 * single);
        println!(
            "{method:>6}: n={n:>7}  single {single:>9.0}/s ({:.2} µs/sample)  pool {pool:>9.0}/s  \
             efficiency {eff:.3}  (CPU efficiency {:.3}; {workers} threads, no pool: {:.3}, \
             pool/threads {:.3})",
            1e6 / single,
            single_cpu / pool_cpu,
            threads / (workers as f64 * single),
            pool / threads,
        );
    }
}
