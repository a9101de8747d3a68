//! Cross-cutting tests of the estimators: recovery, physicality, likelihood
//! ordering, the certificate, statistics and edge cases. Kernel-local tests
//! sit next to their kernels.

use crate::tomo::eigen::EigenWorkspace;
use crate::tomo::hermitian;
use crate::tomo::simulate::{self, StateKind};
use crate::tomo::states::{self, Target};
use crate::tomo::{
    MeasurementSet, Method, MleParams, MleWorkspace, Reconstructor, TomoError, builtin_set,
};
use proptest::prelude::*;

fn all_sets() -> Vec<MeasurementSet> {
    let mut v: Vec<MeasurementSet> = (1..=4)
        .map(|n| builtin_set("pauli", Some(n), None).unwrap())
        .collect();
    v.extend((2..=5).map(|d| builtin_set("qudit", None, Some(d)).unwrap()));
    v.push(builtin_set("james16", None, None).unwrap());
    v
}

/// Exact expected counts N·p_k (per setting for grouped sets).
fn noiseless_counts(set: &MeasurementSet, rho: &[f64], shots: f64) -> Vec<f64> {
    let mut p = vec![0.0; set.len()];
    set.view().predict(
        rho,
        &mut p,
        &mut crate::tomo::product::ProductScratch::default(),
    );
    p.iter().map(|v| shots * v.max(0.0)).collect()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Checks Hermitian-by-construction coordinates for trace 1 and PSD, to `tol`.
fn assert_state(rho: &[f64], d: usize, tol: f64) {
    let t = hermitian::trace(rho, d);
    assert!((t - 1.0).abs() <= tol, "trace {t}");
    let mut ws = EigenWorkspace::new(d);
    let vals = ws.eigenvalues(rho).unwrap();
    assert!(vals[0] >= -tol, "negative eigenvalue {}", vals[0]);
}

#[test]
fn noiseless_data_recovers_the_true_state_for_every_builtin_set() {
    for set in all_sets() {
        let view = set.view();
        let d = set.dim();
        let mut rec = Reconstructor::new(view);
        for (seed, kind) in [(1, StateKind::RandomMixed), (2, StateKind::RandomPure)] {
            let mut rng = simulate::sample_rng(seed, d as u64);
            let truth = simulate::true_state(kind, d, &mut rng).unwrap();
            let counts = noiseless_counts(&set, &truth, 1000.0);
            let est = rec
                .run(
                    view,
                    &counts,
                    &[Method::Linear, Method::Pls, Method::Mle],
                    &MleParams::default(),
                    None,
                )
                .unwrap();
            for e in &est {
                let err = max_abs_diff(&e.rho, &truth);
                assert!(
                    err < 1e-9,
                    "{} {:?} {}: error {err:e}",
                    set.info().name,
                    kind,
                    e.method
                );
            }
        }
    }
}

#[test]
fn mle_from_a_poor_start_converges_to_the_truth_on_noiseless_data() {
    // Start at I/d rather than at the (exact) PLS estimate, so the solver must
    // iterate; accuracy is limited by the objective's rounding (~√ε).
    for set in [
        builtin_set("pauli", Some(2), None).unwrap(),
        builtin_set("james16", None, None).unwrap(),
    ] {
        let view = set.view();
        let d = set.dim();
        let mut rng = simulate::sample_rng(7, 0);
        let truth = simulate::true_state(StateKind::RandomMixed, d, &mut rng).unwrap();
        let counts = noiseless_counts(&set, &truth, 1.0e4);
        let start = hermitian::identity_coords(d, 1.0 / d as f64);
        let mut ws = MleWorkspace::new(view);
        let params = MleParams {
            tol: 1e-9,
            ..MleParams::default()
        };
        let mut rho = vec![0.0; d * d];
        let info = ws.solve(view, &counts, &start, &params, &mut rho).unwrap();
        assert!(info.iterations > 1);
        assert!(info.converged, "{info:?}");
        assert!(
            max_abs_diff(&rho, &truth) < 1e-5,
            "{}",
            max_abs_diff(&rho, &truth)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Every PLS and MLE output is a state (trace 1, PSD) to 1e-12, and the
    /// MLE's log-likelihood is at least the PLS one.
    #[test]
    fn pls_and_mle_are_states_and_mle_beats_pls(
        set_index in 0usize..9, seed in 0u64..1_000_000, shots in 1u64..2000, pure in any::<bool>()
    ) {
        let set = &SETS.with(|s| s[set_index].clone());
        let view = set.view();
        let d = set.dim();
        let kind = if pure { StateKind::RandomPure } else { StateKind::RandomMixed };
        let mut counts = vec![0.0; set.len()];
        simulate::simulate_sample(view, kind, shots, seed, 0, &mut counts).unwrap();
        let mut rec = Reconstructor::new(view);
        match rec.run(view, &counts, &[Method::Pls, Method::Mle], &MleParams::default(), None) {
            Ok(est) => {
                for e in &est {
                    assert_state(&e.rho, d, 1e-12);
                }
                let l_pls = est[0].metrics.log_likelihood.unwrap_or(f64::NEG_INFINITY);
                let l_mle = est[1].metrics.log_likelihood.unwrap();
                prop_assert!(l_mle >= l_pls - 1e-9 * l_mle.abs(), "mle {l_mle} < pls {l_pls}");
                let info = est[1].mle.unwrap();
                prop_assert!((info.log_likelihood - l_mle).abs() <= 1e-8 * l_mle.abs().max(1.0));
            }
            // Only a sample without any counts fails, with a typed error.
            Err(TomoError::NoCounts) => {}
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }
}

thread_local! {
    static SETS: Vec<MeasurementSet> = {
        let mut v: Vec<MeasurementSet> = (1..=3).map(|n| builtin_set("pauli", Some(n), None).unwrap()).collect();
        v.extend((2..=6).map(|d| builtin_set("qudit", None, Some(d)).unwrap()));
        v.push(builtin_set("james16", None, None).unwrap());
        v
    };
}

#[test]
fn gap_bound_is_at_least_the_true_gap() {
    // The true gap L_max − L(ρ̂) is measured against a long, tightly converged run.
    let mut checked = 0;
    for (name, qubits, dim) in [
        ("pauli", Some(2), None),
        ("pauli", Some(3), None),
        ("james16", None, None),
        ("qudit", None, Some(3)),
    ] {
        let set = builtin_set(name, qubits, dim).unwrap();
        let view = set.view();
        let d = set.dim();
        for seed in 0..10u64 {
            let mut counts = vec![0.0; set.len()];
            let kind = if seed % 2 == 0 {
                StateKind::RandomPure
            } else {
                StateKind::RandomMixed
            };
            simulate::simulate_sample(view, kind, 300, seed, 3, &mut counts).unwrap();
            let start = hermitian::identity_coords(d, 1.0 / d as f64);
            let mut ws = MleWorkspace::new(view);
            let mut rho = vec![0.0; d * d];
            // A loose run (few iterations) and a long run.
            let loose = MleParams {
                tol: 1e-1,
                max_iters: 5,
                ..MleParams::default()
            };
            let a = ws.solve(view, &counts, &start, &loose, &mut rho).unwrap();
            let tight = MleParams {
                tol: 1e-10,
                max_iters: 200_000,
                ..MleParams::default()
            };
            let b = ws.solve(view, &counts, &start, &tight, &mut rho).unwrap();
            let true_gap = b.log_likelihood - a.log_likelihood;
            assert!(
                a.gap_bound + 1e-9 >= true_gap,
                "{name} seed {seed}: bound {} < true gap {true_gap}",
                a.gap_bound
            );
            assert!(b.log_likelihood >= a.log_likelihood - 1e-9);
            checked += 1;
        }
    }
    assert_eq!(checked, 40);
}

#[test]
fn mle_mean_fidelity_on_random_two_qubit_states_is_high() {
    let set = builtin_set("pauli", Some(2), None).unwrap();
    let view = set.view();
    let mut rec = Reconstructor::new(view);
    let mut total = 0.0;
    let n = 200;
    for i in 0..n {
        let mut counts = vec![0.0; set.len()];
        let truth =
            simulate::simulate_sample(view, StateKind::RandomMixed, 1000, 2024, i, &mut counts)
                .unwrap();
        let target = Target::from_matrix(hermitian::matrix_from_coords(&truth).as_ref()).unwrap();
        let est = rec
            .run(
                view,
                &counts,
                &[Method::Mle],
                &MleParams::default(),
                Some(&target),
            )
            .unwrap();
        total += est[0].metrics.fidelity.unwrap();
    }
    let mean = total / n as f64;
    println!(
        "mean MLE fidelity over {n} random mixed 2-qubit states, 1000 shots/setting: {mean:.5}"
    );
    assert!(mean >= 0.99, "mean fidelity {mean}");
}

#[test]
fn bad_samples_give_typed_errors_never_nan() {
    let set = builtin_set("pauli", Some(2), None).unwrap();
    let view = set.view();
    let mut rec = Reconstructor::new(view);
    let all = [Method::Mle, Method::Pls, Method::Linear];
    let p = MleParams::default();
    let zeros = vec![0.0; 36];
    assert_eq!(
        rec.run(view, &zeros, &all, &p, None).unwrap_err(),
        TomoError::NoCounts
    );
    let mut nan = vec![10.0; 36];
    nan[5] = f64::NAN;
    assert!(matches!(
        rec.run(view, &nan, &all, &p, None),
        Err(TomoError::InvalidCount { position: 5, .. })
    ));
    let mut neg = vec![10.0; 36];
    neg[7] = -1.0;
    assert!(matches!(
        rec.run(view, &neg, &all, &p, None),
        Err(TomoError::InvalidCount { position: 7, .. })
    ));
    let mut inf = vec![10.0; 36];
    inf[0] = f64::INFINITY;
    assert!(rec.run(view, &inf, &all, &p, None).is_err());
    assert!(matches!(
        rec.run(view, &[1.0; 35], &all, &p, None),
        Err(TomoError::WrongCountLength {
            expected: 36,
            found: 35
        })
    ));
    // One setting without counts: uninformative, not a failure.
    let mut empty = vec![10.0; 36];
    empty[..4].fill(0.0);
    let est = rec.run(view, &empty, &all, &p, None).unwrap();
    assert!(est.iter().all(|e| e.rho.iter().all(|v| v.is_finite())));
}

#[test]
fn zero_counts_and_pure_data_give_finite_physical_estimates() {
    // |00⟩ measured noiselessly: most outcomes are zero, PLS has zero
    // eigenvalues, linear inversion predicts zero probabilities.
    for set in [
        builtin_set("pauli", Some(2), None).unwrap(),
        builtin_set("james16", None, None).unwrap(),
    ] {
        let view = set.view();
        let psi = states::named_state("bell-phi+", 4).unwrap();
        let truth = states::pure_coords(&psi);
        let mut counts = noiseless_counts(&set, &truth, 500.0);
        counts.iter_mut().for_each(|c| *c = c.round());
        let mut rec = Reconstructor::new(view);
        let target = Target::Pure(psi);
        let est = rec
            .run(
                view,
                &counts,
                &[Method::Mle, Method::Pls, Method::Linear],
                &MleParams::default(),
                Some(&target),
            )
            .unwrap();
        for e in &est {
            let m = &e.metrics;
            let scalars = [
                m.trace,
                m.purity,
                m.von_neumann_entropy,
                m.linear_entropy,
                m.chi2,
                m.fidelity.unwrap(),
                m.concurrence.unwrap(),
                m.negativity.unwrap(),
            ];
            assert!(scalars.iter().all(|v| v.is_finite()), "{}: {m:?}", e.method);
            assert!(e.rho.iter().all(|v| v.is_finite()));
            assert!(
                m.fidelity.unwrap() > 0.99,
                "{} fidelity {:?}",
                e.method,
                m.fidelity
            );
        }
        let mle = est[0].mle.unwrap();
        assert!(mle.converged && mle.gap_bound <= 1e-4, "{mle:?}");
        assert!((est[0].metrics.concurrence.unwrap() - 1.0).abs() < 0.02);
        assert!((est[0].metrics.negativity.unwrap() - 0.5).abs() < 0.01);
    }
}

#[test]
fn batched_linear_inversion_matches_per_sample() {
    let set = builtin_set("pauli", Some(3), None).unwrap();
    let view = set.view();
    let (m, dd) = (set.len(), 64);
    let n = 17;
    let mut counts = vec![0.0; n * m];
    for i in 0..n {
        simulate::simulate_sample(
            view,
            StateKind::RandomMixed,
            100,
            5,
            i as u64,
            &mut counts[i * m..(i + 1) * m],
        )
        .unwrap();
    }
    counts[3 * m..4 * m].fill(0.0); // sample 3: no counts
    let mut out = vec![0.0; n * dd];
    let status = crate::tomo::linear::linear_batch(view, &counts, &mut out, faer::Par::Seq);
    let mut ws = crate::tomo::LinearWorkspace::new(view);
    for i in 0..n {
        if i == 3 {
            assert_eq!(status[i], Err(TomoError::NoCounts));
            continue;
        }
        let mut one = vec![0.0; dd];
        ws.estimate(view, &counts[i * m..(i + 1) * m], &mut one)
            .unwrap();
        assert!(max_abs_diff(&one, &out[i * dd..(i + 1) * dd]) < 1e-12);
    }
}

#[test]
fn simulation_is_reproducible_per_sample() {
    let set = builtin_set("james16", None, None).unwrap();
    let view = set.view();
    let mut a = vec![0.0; 16];
    let mut b = vec![0.0; 16];
    let ta = simulate::simulate_sample(view, StateKind::RandomMixed, 1000, 9, 42, &mut a).unwrap();
    let tb = simulate::simulate_sample(view, StateKind::RandomMixed, 1000, 9, 42, &mut b).unwrap();
    assert_eq!(a, b);
    assert_eq!(ta, tb);
    simulate::simulate_sample(view, StateKind::RandomMixed, 1000, 9, 43, &mut b).unwrap();
    assert_ne!(a, b);
}

#[test]
fn non_informationally_complete_sets_are_rejected() {
    // Only Z-basis projectors: rank 2 < 4.
    let kets = vec![
        vec![faer::c64::new(1.0, 0.0), faer::c64::new(0.0, 0.0)],
        vec![faer::c64::new(0.0, 0.0), faer::c64::new(1.0, 0.0)],
    ];
    let err =
        MeasurementSet::from_kets("z-only", vec!["0".into(), "1".into()], &kets, None).unwrap_err();
    assert!(
        matches!(err, TomoError::NotInformationallyComplete { needed: 4, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("not informationally complete"));
}

#[test]
fn metric_conventions_on_known_states() {
    // |Φ+⟩: negativity 1/2 (sum of |negative eigenvalues|, not halved),
    // log-negativity 1; I/4 is at trace distance 3/4 and fidelity 1/4.
    let set = builtin_set("pauli", Some(2), None).unwrap();
    let view = set.view();
    let psi = states::named_state("bell-phi+", 4).unwrap();
    let bell = states::pure_coords(&psi);
    let counts = noiseless_counts(&set, &bell, 100.0);
    let mut eigen = EigenWorkspace::new(4);
    let pure = Target::Pure(psi.clone());
    let m = crate::tomo::metrics::compute(view, &counts, &bell, Some(&pure), &mut eigen).unwrap();
    assert!((m.negativity.unwrap() - 0.5).abs() < 1e-12, "{m:?}");
    assert!((m.log_negativity.unwrap() - 1.0).abs() < 1e-12, "{m:?}");
    assert!(m.trace_distance.unwrap().abs() < 1e-12, "{m:?}");
    let f = m.fidelity.unwrap();
    assert!(f <= 1.0 && (f - 1.0).abs() < 1e-12, "{m:?}");
    let mixed = hermitian::identity_coords(4, 0.25);
    let sigma = Target::from_matrix(hermitian::matrix_from_coords(&bell).as_ref()).unwrap();
    for target in [&pure, &sigma] {
        let m =
            crate::tomo::metrics::compute(view, &counts, &mixed, Some(target), &mut eigen).unwrap();
        assert!((m.trace_distance.unwrap() - 0.75).abs() < 1e-9, "{m:?}");
        assert!((m.fidelity.unwrap() - 0.25).abs() < 1e-9, "{m:?}");
        assert!(m.physical && m.negativity.unwrap().abs() < 1e-12);
    }
    // Not a state: trace 1.1.
    let big: Vec<f64> = bell.iter().map(|v| 1.1 * v).collect();
    let m = crate::tomo::metrics::compute(view, &counts, &big, None, &mut eigen).unwrap();
    assert!(!m.physical, "{m:?}");
}

#[test]
fn target_density_matrix_is_the_outer_product_or_the_matrix_given() {
    let bell = Target::named("bell-phi+", 4).unwrap();
    let (re, im) = bell.density_matrix();
    for (k, v) in re.iter().enumerate() {
        let (r, c) = (k / 4, k % 4);
        let want = if (r == 0 || r == 3) && (c == 0 || c == 3) {
            0.5
        } else {
            0.0
        };
        assert!((v - want).abs() < 1e-12, "({r},{c}) = {v}");
    }
    assert!(im.iter().all(|v| v.abs() < 1e-12));
    // A mixed target comes back as given (√σ squared).
    let m = faer::Mat::from_fn(2, 2, |r, c| match (r, c) {
        (0, 0) => faer::c64::new(0.7, 0.0),
        (1, 1) => faer::c64::new(0.3, 0.0),
        (0, 1) => faer::c64::new(0.1, -0.2),
        _ => faer::c64::new(0.1, 0.2),
    });
    let (re, im) = Target::from_matrix(m.as_ref()).unwrap().density_matrix();
    let want_re = [0.7, 0.1, 0.1, 0.3];
    let want_im = [0.0, -0.2, 0.2, 0.0];
    assert!(max_abs_diff(&re, &want_re) < 1e-9, "{re:?}");
    assert!(max_abs_diff(&im, &want_im) < 1e-9, "{im:?}");
}

#[test]
fn fidelity_to_a_pure_target_from_a_stored_matrix_matches_the_metric() {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(18);
    let mut eigen = EigenWorkspace::new(4);
    let psi = states::named_state("bell-psi-", 4).unwrap();
    // The same state given as a rank-one matrix is recognised as pure.
    let as_matrix =
        Target::from_matrix(hermitian::matrix_from_coords(&states::pure_coords(&psi)).as_ref())
            .unwrap();
    let ket = as_matrix.as_pure().expect("a rank-one target is pure");
    for _ in 0..20 {
        let rho = states::hilbert_schmidt_mixed(4, &mut rng);
        let m = hermitian::matrix_from_coords(&rho);
        let re: Vec<f64> = (0..16).map(|k| m[(k / 4, k % 4)].re).collect();
        let im: Vec<f64> = (0..16).map(|k| m[(k / 4, k % 4)].im).collect();
        let (want, _) =
            crate::tomo::metrics::target_metrics(&Target::Pure(psi.clone()), &rho, &mut eigen)
                .unwrap();
        let got = crate::tomo::metrics::fidelity_to_pure(&psi, &re, &im);
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        let via_matrix = crate::tomo::metrics::fidelity_to_pure(&ket, &re, &im);
        assert!((via_matrix - want).abs() < 1e-9, "{via_matrix} vs {want}");
    }
    let mixed = Target::from_matrix(
        hermitian::matrix_from_coords(&hermitian::identity_coords(4, 0.25)).as_ref(),
    )
    .unwrap();
    assert!(mixed.as_pure().is_none());
}
