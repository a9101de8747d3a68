//! Per-sample time of the certified MLE (its PLS start included) for Pauli
//! tomography on 5 to 8 qubits, where the set is a product set
//! ([`qtomo::tomo::product`]) and the polish is matrix-free
//! ([`qtomo::tomo::mle::newton_cg`]): one thread, 1000 shots per setting,
//! Hilbert–Schmidt random mixed states and Haar-random pure states.
//!
//! `QTOMO_BENCH_MIN_QUBITS` / `QTOMO_BENCH_MAX_QUBITS` choose the range
//! (default 5 to 6: at 8 qubits one sample takes about a minute, and
//! criterion needs ten of them per state kind).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use qtomo::tomo::simulate::{self, StateKind};
use qtomo::tomo::{MleParams, MleWorkspace, PlsWorkspace, builtin_set};
use std::hint::black_box;
use std::time::Duration;

/// Distinct samples per (qubits, state kind), cycled through.
const SAMPLES: u64 = 4;

fn env_qubits(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn scale(c: &mut Criterion) {
    // One thread, as in a worker (faer's rayon feature would use every core).
    qtomo::tomo::parallel::sequential_by_default();
    let lo = env_qubits("QTOMO_BENCH_MIN_QUBITS", 5);
    let hi = env_qubits("QTOMO_BENCH_MAX_QUBITS", 6);
    let mut group = c.benchmark_group("mle_large");
    for n in lo..=hi {
        let set = builtin_set("pauli", Some(n), None).expect("pauli set");
        let view = set.view();
        let (m, dd) = (set.len(), set.dim() * set.dim());
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(1))
            .measurement_time(Duration::from_secs(match n {
                ..=5 => 5,
                6 => 20,
                _ => 60,
            }));
        for (label, kind) in [
            ("mixed", StateKind::RandomMixed),
            ("pure", StateKind::RandomPure),
        ] {
            let mut counts = vec![0.0; SAMPLES as usize * m];
            for (i, row) in counts.chunks_exact_mut(m).enumerate() {
                simulate::simulate_sample(view, kind, 1000, 1, i as u64, row).expect("simulate");
            }
            let mut pls = PlsWorkspace::new(view);
            let mut mle = MleWorkspace::new(view);
            let params = MleParams::default();
            let (mut start, mut rho) = (vec![0.0; dd], vec![0.0; dd]);
            let mut i = 0usize;
            group.bench_with_input(BenchmarkId::new(label, n), &n, |b, _| {
                b.iter(|| {
                    let sample = &counts[(i % SAMPLES as usize) * m..][..m];
                    i += 1;
                    pls.estimate(view, sample, &mut start, None).expect("pls");
                    let info = mle
                        .solve(view, sample, &start, &params, &mut rho)
                        .expect("mle");
                    assert!(info.converged, "{info:?}");
                    black_box(info);
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, scale);
criterion_main!(benches);
