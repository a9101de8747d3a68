//! Tests of the affine (background) MLE and its certificate: the bound
//! recomputed independently from dense complex matrices, checked against
//! candidate states that would beat a false bound, and against the
//! ordinary solver when the background is zero; near-pure and mixed
//! states, 1 to 10⁷ counts, with and without background.

use super::tests::near_pure;
use crate::tomo::likelihood::affine_log_likelihood;
use crate::tomo::model::MeasurementModel;
use crate::tomo::product::ProductScratch;
use crate::tomo::simulate::sample_rng;
use crate::tomo::{
    MeasurementSet, Method, MleParams, Reconstructor, builtin_set, hermitian, states,
};
use faer::{Mat, c64};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, Poisson};

/// Σ_k n_k log(I p_k + a_k) − I Σp, maximised over I ≥ 0 by bisection on
/// the derivative (independent of `fit_intensity`'s Newton steps).
fn profile_scale(counts: &[f64], p: &[f64], a: &[f64]) -> f64 {
    let sum_p: f64 = p.iter().sum();
    let total: f64 = counts.iter().sum();
    let slope = |i: f64| -> f64 {
        counts
            .iter()
            .zip(p)
            .zip(a)
            .filter(|((n, _), _)| **n > 0.0)
            .map(|((n, pk), ak)| n * pk / (i * pk + ak))
            .sum::<f64>()
            - sum_p
    };
    let (mut lo, mut hi) = (0.0, total / sum_p);
    if slope(1e-300) <= 0.0 {
        return 0.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if slope(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The bound N·max(0, λ_max(∇L)) − Tr(τ∇L) of ρ from scratch with complex
/// matrices: G = Σ F_k from the set's rows, τ = s·G^{1/2}ρG^{1/2}/Tr(Gρ) at
/// the profiled scale s, ∇L = Σ_k n_k/μ_k F̃_k − I (not shifted).
fn independent_affine_gap(set: &MeasurementSet, counts: &[f64], a: &[f64], rho: &[f64]) -> f64 {
    let d = set.dim();
    let n = d * d;
    let fs: Vec<Mat<c64>> = set
        .a()
        .chunks_exact(n)
        .map(hermitian::matrix_from_coords)
        .collect();
    let (half, inv_half) = super::tests::g_half_and_inverse_half(&fs);
    let t = &half * hermitian::matrix_from_coords(rho) * &half;
    let tr = |m: &Mat<c64>| (0..d).map(|i| m[(i, i)].re).sum::<f64>();
    let t = &t * faer::Scale(c64::new(1.0 / tr(&t), 0.0));
    let tilde: Vec<Mat<c64>> = fs.iter().map(|f| &inv_half * f * &inv_half).collect();
    let inner = |x: &Mat<c64>, y: &Mat<c64>| -> f64 {
        (0..d)
            .map(|i| (0..d).map(|j| x[(i, j)] * y[(j, i)]).sum::<c64>().re)
            .sum()
    };
    let q: Vec<f64> = tilde.iter().map(|f| inner(f, &t)).collect();
    let s = profile_scale(counts, &q, a);
    let tau = &t * faer::Scale(c64::new(s, 0.0));
    let mut grad = Mat::<c64>::from_fn(d, d, |i, j| {
        if i == j {
            c64::new(-1.0, 0.0)
        } else {
            c64::new(0.0, 0.0)
        }
    });
    for ((f, &c), (&qk, &ak)) in tilde.iter().zip(counts).zip(q.iter().zip(a)) {
        if c > 0.0 {
            let mu = s * qk + ak;
            if mu <= 0.0 {
                return f64::INFINITY;
            }
            grad += f * faer::Scale(c64::new(c / mu, 0.0));
        }
    }
    let lmax = grad
        .self_adjoint_eigenvalues(faer::Side::Lower)
        .unwrap()
        .into_iter()
        .fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = counts.iter().sum();
    total * lmax.max(0.0) - inner(&tau, &grad)
}

/// Poisson counts with means `shots`·Tr(F_k ρ) + a_k.
fn draw(set: &MeasurementSet, rho: &[f64], shots: f64, a: &[f64], rng: &mut impl Rng) -> Vec<f64> {
    let mut p = vec![0.0; set.len()];
    set.view()
        .predict(rho, &mut p, &mut ProductScratch::default());
    p.iter()
        .zip(a)
        .map(|(&pk, &ak)| {
            let mean = shots * pk.max(0.0) + ak;
            if mean > 0.0 {
                Poisson::new(mean).unwrap().sample(rng)
            } else {
                0.0
            }
        })
        .collect()
}

/// `base` with scales and a background a_k = level·(mean signal per row).
fn with_background(base: &MeasurementSet, scale: bool, a: Vec<f64>) -> MeasurementSet {
    let m = base.len();
    MeasurementModel {
        block_map: None,
        scale: scale.then(|| (0..m).map(|k| 0.6 + 0.07 * k as f64).collect()),
        background: Some(a),
    }
    .apply(base)
    .unwrap()
}

#[test]
fn affine_certificates_are_true_bounds_from_one_count_to_1e7() {
    let params = MleParams::default();
    let bases = [
        (builtin_set("james16", None, None).unwrap(), true),
        (builtin_set("qudit", None, Some(3)).unwrap(), false),
    ];
    let (mut samples, mut converged, mut max_iterations) = (0u32, 0u32, 0u32);
    let mut violations = Vec::new();
    for (base, scaled) in &bases {
        let d = base.dim();
        let m = base.len();
        for level in [0.0, 0.01, 0.3] {
            for shots in [1.0, 10.0, 1e3, 1e5, 1e7] {
                // Mean signal per row ≈ shots·Tr G/(d·M); the background is
                // `level` times that, varying over the rows.
                let signal = shots / d as f64;
                let a: Vec<f64> = (0..m)
                    .map(|k| level * signal * (0.5 + (k % 4) as f64 * 0.3))
                    .collect();
                let set = with_background(base, *scaled, a.clone());
                let view = set.view();
                let mut rec = Reconstructor::new(view);
                for (kind, q) in [("pure", 0.0), ("near-pure", 1e-3), ("mixed", 1.0)] {
                    for i in 0..4u64 {
                        let mut rng = sample_rng(41, i + (shots as u64) * 7 + (level * 1e3) as u64);
                        let truth = match kind {
                            "mixed" => states::hilbert_schmidt_mixed(d, &mut rng),
                            _ => near_pure(d, q, &mut rng),
                        };
                        let counts = draw(&set, &truth, shots, &a, &mut rng);
                        if counts.iter().sum::<f64>() <= 0.0 {
                            continue;
                        }
                        let what =
                            format!("{} bg {level} shots {shots} {kind} #{i}", base.info().name);
                        samples += 1;
                        let est = rec
                            .run(view, &counts, &[Method::Mle, Method::Pls], &params, None)
                            .unwrap_or_else(|e| panic!("{what}: {e}"));
                        let info = est[0].mle.unwrap();
                        if info.converged {
                            converged += 1;
                        } else {
                            println!("not converged: {what}: {info:?}");
                        }
                        max_iterations = max_iterations.max(info.iterations);
                        if info.converged && info.gap_bound > params.tol.max(info.gap_floor) {
                            violations.push(format!("{what}: converged with {info:?}"));
                        }
                        let total: f64 = counts.iter().sum();
                        let slack = 1e-12 * total.max(1.0);
                        let gap = independent_affine_gap(&set, &counts, &a, &est[0].rho);
                        if gap.is_nan() || gap > info.gap_bound + slack {
                            violations.push(format!("{what}: recomputed {gap:e} > {info:?}"));
                        }
                        // No candidate may beat the MLE by more than its bound.
                        let mut p = vec![0.0; m];
                        let l_of = |x: &[f64], p: &mut Vec<f64>| {
                            view.predict(x, p, &mut ProductScratch::default());
                            affine_log_likelihood(&counts, p, &a).unwrap_or(f64::NEG_INFINITY)
                        };
                        let l_mle = l_of(&est[0].rho, &mut p);
                        if (l_mle - info.log_likelihood).abs() > 1e-9 * l_mle.abs().max(1.0) {
                            violations.push(format!(
                                "{what}: LL {l_mle} vs reported {}",
                                info.log_likelihood
                            ));
                        }
                        let mut candidates = vec![truth.clone(), est[1].rho.clone()];
                        for j in 0..4 {
                            let r = states::hilbert_schmidt_mixed(d, &mut rng);
                            let w = 10f64.powi(-(j + 2));
                            candidates.push(
                                est[0]
                                    .rho
                                    .iter()
                                    .zip(&r)
                                    .map(|(x, y)| (1.0 - w) * x + w * y)
                                    .collect(),
                            );
                        }
                        for c in &candidates {
                            let l = l_of(c, &mut p);
                            if l > l_mle + info.gap_bound + slack {
                                violations.push(format!(
                                    "{what}: a candidate has LL {l} > {l_mle} + bound {:e}",
                                    info.gap_bound
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    println!(
        "affine sweep: {samples} samples, {converged} converged, max iterations {max_iterations}"
    );
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(
        f64::from(converged) >= 0.99 * f64::from(samples),
        "{converged} of {samples} converged"
    );
}

#[test]
fn a_zero_background_agrees_with_the_ordinary_solver() {
    let params = MleParams::default();
    let base = builtin_set("james16", None, None).unwrap();
    let set = with_background(&base, false, vec![0.0; 16]);
    let mut plain = Reconstructor::new(base.view());
    let mut affine = Reconstructor::new(set.view());
    for (i, shots) in [10.0, 1e3, 1e6].into_iter().enumerate() {
        let mut rng = sample_rng(43, i as u64);
        let truth = near_pure(4, 1e-2, &mut rng);
        let counts = draw(&base, &truth, shots, &[0.0; 16], &mut rng);
        let a = plain
            .run(base.view(), &counts, &[Method::Mle], &params, None)
            .unwrap();
        let b = affine
            .run(set.view(), &counts, &[Method::Mle], &params, None)
            .unwrap();
        let (ia, ib) = (a[0].mle.unwrap(), b[0].mle.unwrap());
        assert!(ia.converged && ib.converged, "{ia:?} {ib:?}");
        let diff = (ia.log_likelihood - ib.log_likelihood).abs();
        assert!(
            diff <= ia.gap_bound + ib.gap_bound + 1e-9 * ia.log_likelihood.abs(),
            "shots {shots}: {ia:?} vs {ib:?}"
        );
    }
}

/// Rank-1 and rank-2 truths (the MLE on the boundary of the cone),
/// near-pure and mixed ones (inside), with a background that is zero on
/// some rows (so some outcomes have a_k = 0 and n_k = 0) or positive on
/// all: every sample is certified, the bound is true, and the solve takes
/// few Newton steps on average (the barrier method took about 22).
#[test]
fn face_newton_certifies_boundary_and_interior_samples_in_few_steps() {
    let params = MleParams::default();
    let bases = [
        (builtin_set("james16", None, None).unwrap(), true),
        (builtin_set("qudit", None, Some(3)).unwrap(), false),
    ];
    let (mut samples, mut steps, mut zero_both) = (0u32, 0u64, 0u32);
    let mut failures = Vec::new();
    for (base, scaled) in &bases {
        let (d, m) = (base.dim(), base.len());
        for zeros in [false, true] {
            for shots in [1.0, 10.0, 1e3, 1e5, 1e7] {
                // 5 % of the mean signal per row, none on every other row
                // when `zeros`.
                let a: Vec<f64> = (0..m)
                    .map(|k| {
                        if zeros && k % 2 == 0 {
                            0.0
                        } else {
                            0.05 * shots / d as f64 * (0.5 + (k % 3) as f64 * 0.4)
                        }
                    })
                    .collect();
                let set = with_background(base, *scaled, a.clone());
                let view = set.view();
                let mut rec = Reconstructor::new(view);
                for kind in ["rank-1", "rank-2", "near-pure", "mixed"] {
                    for i in 0..3u64 {
                        let mut rng = sample_rng(47, i + 10 * shots.log10() as u64);
                        let truth = match kind {
                            "rank-1" => near_pure(d, 0.0, &mut rng),
                            "rank-2" => {
                                let (x, y) =
                                    (near_pure(d, 0.0, &mut rng), near_pure(d, 0.0, &mut rng));
                                let w: f64 = rng.random_range(0.2..0.8);
                                x.iter()
                                    .zip(&y)
                                    .map(|(x, y)| w * x + (1.0 - w) * y)
                                    .collect()
                            }
                            "near-pure" => near_pure(d, 1e-3, &mut rng),
                            _ => states::hilbert_schmidt_mixed(d, &mut rng),
                        };
                        let counts = draw(&set, &truth, shots, &a, &mut rng);
                        if counts.iter().sum::<f64>() <= 0.0 {
                            continue;
                        }
                        if counts.iter().zip(&a).any(|(&n, &ak)| n == 0.0 && ak == 0.0) {
                            zero_both += 1;
                        }
                        let what = format!(
                            "{} zeros {zeros} shots {shots} {kind} #{i}",
                            base.info().name
                        );
                        let est = rec
                            .run(view, &counts, &[Method::Mle], &params, None)
                            .unwrap_or_else(|e| panic!("{what}: {e}"));
                        let info = est[0].mle.unwrap();
                        samples += 1;
                        steps += u64::from(info.iterations);
                        let total: f64 = counts.iter().sum();
                        let gap = independent_affine_gap(&set, &counts, &a, &est[0].rho);
                        if !info.converged
                            || gap.is_nan()
                            || gap > info.gap_bound + 1e-12 * total.max(1.0)
                        {
                            failures.push(format!("{what}: recomputed {gap:e}, {info:?}"));
                        }
                    }
                }
            }
        }
    }
    let mean = steps as f64 / f64::from(samples);
    println!(
        "face Newton: {samples} samples, {mean:.2} steps per sample, {zero_both} with a_k = n_k = 0"
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        zero_both > 10,
        "only {zero_both} samples have a_k = n_k = 0"
    );
    assert!(mean <= 6.0, "{mean:.2} steps per sample");
}

/// With one iteration allowed, the face method stops after a step and the
/// barrier method takes over at its cap: the result still carries a true
/// bound, and the iteration count is the cap (plus one centring).
#[test]
fn the_barrier_fallback_after_face_steps_keeps_a_true_bound() {
    let params = MleParams {
        max_iters: 1,
        ..MleParams::default()
    };
    let base = builtin_set("james16", None, None).unwrap();
    let a: Vec<f64> = (0..16).map(|k| 2.0 + 0.5 * k as f64).collect();
    let set = with_background(&base, true, a.clone());
    let view = set.view();
    let mut rec = Reconstructor::new(view);
    let mut fell_back = 0;
    for (i, shots) in [100.0, 1e4, 1e6].into_iter().enumerate() {
        let mut rng = sample_rng(53, i as u64);
        let truth = near_pure(4, 0.0, &mut rng);
        let counts = draw(&set, &truth, shots, &a, &mut rng);
        let est = rec
            .run(view, &counts, &[Method::Mle], &params, None)
            .unwrap();
        let info = est[0].mle.unwrap();
        fell_back += u32::from(info.iterations > 1);
        let gap = independent_affine_gap(&set, &counts, &a, &est[0].rho);
        let slack = 1e-12 * counts.iter().sum::<f64>();
        assert!(
            gap <= info.gap_bound + slack,
            "shots {shots}: {gap:e} vs {info:?}"
        );
    }
    assert!(fell_back > 0, "no sample reached the barrier method");
}

/// The face method at larger d (qudit sets, d = 8 and d = 16 =
/// [`crate::tomo::mle::affine::AFFINE_MAX_DIM`], where the eigensolver is
/// the general one): pure and mixed truths are certified with true bounds
/// in few steps.
#[test]
fn face_newton_certifies_at_d_8_and_16() {
    let params = MleParams::default();
    for d in [8, 16] {
        let base = builtin_set("qudit", None, Some(d)).unwrap();
        let m = base.len();
        for shots in [1e3, 1e6] {
            let a: Vec<f64> = (0..m)
                .map(|k| 0.02 * shots / m as f64 * (0.5 + (k % 3) as f64 * 0.5))
                .collect();
            let set = with_background(&base, false, a.clone());
            let view = set.view();
            let mut rec = Reconstructor::new(view);
            for (i, q) in [0.0, 1.0].into_iter().enumerate() {
                let mut rng = sample_rng(59, i as u64 + d as u64);
                let truth = if q == 0.0 {
                    near_pure(d, 0.0, &mut rng)
                } else {
                    states::hilbert_schmidt_mixed(d, &mut rng)
                };
                let counts = draw(&set, &truth, shots, &a, &mut rng);
                let est = rec
                    .run(view, &counts, &[Method::Mle], &params, None)
                    .unwrap();
                let info = est[0].mle.unwrap();
                let gap = independent_affine_gap(&set, &counts, &a, &est[0].rho);
                let slack = 1e-12 * counts.iter().sum::<f64>();
                println!("d {d} shots {shots} q {q}: {info:?}");
                assert!(info.converged, "d {d} shots {shots} q {q}: {info:?}");
                assert!(gap <= info.gap_bound + slack, "{gap:e} vs {info:?}");
                assert!(info.iterations <= 20, "d {d}: {info:?}");
            }
        }
    }
}
