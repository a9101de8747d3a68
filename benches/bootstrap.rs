//! Bootstrap throughput: replicates per second of the certified MLE (and of
//! PLS) for two- and three-qubit Pauli tomography, one thread, on
//! Hilbert–Schmidt random states with 1000 shots per setting, against
//! Bell/GHZ as target (so every metric of the record is bootstrapped).
//! One iteration is one sample's bootstrap of `REPLICATES` replicates;
//! criterion's throughput line gives replicates per second.
//! `QTOMO_BENCH_SECONDS` sets the measurement time (default 5).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use qtomo::tomo::bootstrap::{BootstrapKind, BootstrapParams, BootstrapWorkspace};
use qtomo::tomo::simulate::{self, StateKind};
use qtomo::tomo::{Method, MleParams, Reconstructor, Target, builtin_set};
use std::hint::black_box;
use std::time::Duration;

const SAMPLES: u64 = 8;
const REPLICATES: u32 = 200;

fn bootstrap(c: &mut Criterion) {
    // One thread, as in a worker (faer's rayon feature would use every core).
    qtomo::tomo::parallel::sequential_by_default();
    let seconds: u64 = std::env::var("QTOMO_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let mut group = c.benchmark_group("bootstrap");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(seconds))
        .throughput(Throughput::Elements(u64::from(REPLICATES)));
    for (n, target) in [(2usize, "bell-phi+"), (3, "ghz")] {
        let set = builtin_set("pauli", Some(n), None).expect("pauli set");
        let view = set.view();
        let target = Target::named(target, set.dim()).expect("target");
        let params = MleParams::default();
        let mut rec = Reconstructor::new(view);
        // Each sample's counts with its MLE and PLS estimates.
        let samples: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> = (0..SAMPLES)
            .map(|i| {
                let mut counts = vec![0.0; view.len()];
                simulate::simulate_sample(view, StateKind::RandomMixed, 1000, 1, i, &mut counts)
                    .expect("simulate");
                let est = rec
                    .run(view, &counts, &[Method::Mle, Method::Pls], &params, None)
                    .expect("estimate");
                (counts, est[0].rho.clone(), est[1].rho.clone())
            })
            .collect();
        let boot = BootstrapParams {
            replicates: REPLICATES,
            kind: BootstrapKind::Parametric,
            seed: 1,
        };
        let mut ws = BootstrapWorkspace::new(view);
        for method in [Method::Mle, Method::Pls] {
            let mut i = 0u64;
            group.bench_with_input(BenchmarkId::new(method.name(), n), &n, |b, _| {
                b.iter(|| {
                    i += 1;
                    let (counts, mle, pls) = &samples[(i % SAMPLES) as usize];
                    let rho = if method == Method::Mle { mle } else { pls };
                    let s = ws
                        .run(view, counts, rho, method, &params, Some(&target), &boot, i)
                        .expect("bootstrap");
                    black_box(s);
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bootstrap);
criterion_main!(benches);
