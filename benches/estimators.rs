//! Per-sample time of linear inversion, PLS and MLE for Pauli tomography on
//! 1–5 qubits, single thread, on simulated Hilbert–Schmidt random states with
//! 1000 shots per setting. Scratch memory is allocated once per set, as in a
//! worker. `QTOMO_BENCH_MAX_QUBITS` caps the qubit range (default 5).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use qtomo::tomo::simulate::{self, StateKind};
use qtomo::tomo::{LinearWorkspace, MleParams, MleWorkspace, PlsWorkspace, builtin_set};
use std::hint::black_box;
use std::time::Duration;

const SAMPLES: u64 = 16;

fn estimators(c: &mut Criterion) {
    // One thread, as in a worker (faer's rayon feature would use every core).
    qtomo::tomo::parallel::sequential_by_default();
    let max_qubits: usize = std::env::var("QTOMO_BENCH_MAX_QUBITS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let mut group = c.benchmark_group("per_sample");
    for n in 1..=max_qubits {
        let set = builtin_set("pauli", Some(n), None).expect("pauli set");
        let view = set.view();
        let (m, dd) = (set.len(), set.dim() * set.dim());
        let mut counts = vec![0.0; SAMPLES as usize * m];
        for i in 0..SAMPLES {
            let row = &mut counts[i as usize * m..(i as usize + 1) * m];
            simulate::simulate_sample(view, StateKind::RandomMixed, 1000, 1, i, row)
                .expect("simulate");
        }
        let sample = |i: u64| &counts[(i % SAMPLES) as usize * m..((i % SAMPLES) as usize + 1) * m];
        if n >= 4 {
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(if n == 5 { 20 } else { 8 }));
        } else {
            group
                .sample_size(30)
                .measurement_time(Duration::from_secs(3));
        }
        let mut lin = LinearWorkspace::new(view);
        let mut rho = vec![0.0; dd];
        let mut i = 0u64;
        group.bench_with_input(BenchmarkId::new("linear", n), &n, |b, _| {
            b.iter(|| {
                i += 1;
                lin.estimate(view, sample(i), &mut rho).expect("linear");
                black_box(&rho);
            })
        });
        let mut pls = PlsWorkspace::new(view);
        group.bench_with_input(BenchmarkId::new("pls", n), &n, |b, _| {
            b.iter(|| {
                i += 1;
                pls.estimate(view, sample(i), &mut rho, None).expect("pls");
                black_box(&rho);
            })
        });
        let mut mle = MleWorkspace::new(view);
        let params = MleParams::default();
        let mut start = vec![0.0; dd];
        group.bench_with_input(BenchmarkId::new("mle", n), &n, |b, _| {
            b.iter(|| {
                i += 1;
                // The MLE of a sample includes its PLS start.
                pls.estimate(view, sample(i), &mut start, None)
                    .expect("pls");
                let info = mle
                    .solve(view, sample(i), &start, &params, &mut rho)
                    .expect("mle");
                black_box(info);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, estimators);
criterion_main!(benches);
