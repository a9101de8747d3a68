//! Figures of merit of an estimate.
//!
//! - trace Tr ρ, purity Tr ρ², eigenvalues (largest first);
//! - von Neumann entropy S = −Σ λ log₂ λ in bits (over λ > 0) and linear
//!   entropy 1 − Tr ρ²;
//! - log-likelihood (see [`crate::tomo::likelihood`]), `None` when the state
//!   gives probability ≤ 0 to an observed outcome;
//! - Pearson χ² = Σ_k (n_k − e_k)² / max(e_k, 1), with expected counts
//!   e_k = N_s p_k (grouped sets, N_s the setting total) or e_k = N p_k / Σ_j p_j
//!   (ungrouped sets, intensity fitted); the floor of 1 count keeps outcomes a
//!   state deems (nearly) impossible finite;
//! - fidelity to a target in its squared (Jozsa) form,
//!   F(ρ, σ) = (Tr √(√σ ρ √σ))², which is ⟨ψ|ρ|ψ⟩ for a pure target σ = |ψ⟩⟨ψ|
//!   (R. Jozsa, J. Mod. Opt. 41, 2315 (1994)); both forms are clamped to
//!   [0, 1] (rounding can leave them a few ε outside);
//! - trace distance to a target, D(ρ, σ) = ½ ‖ρ − σ‖₁ = ½ Σ |eigenvalues of ρ − σ|;
//! - for two qubits: concurrence (W. K. Wootters, PRL 80, 2245 (1998)),
//!   negativity N = Σ |negative eigenvalues of ρ^{T_B}| (the sum of their
//!   magnitudes, not halved; G. Vidal, R. F. Werner, PRA 65, 032314 (2002))
//!   and log-negativity E_N = log₂ ‖ρ^{T_B}‖₁ = log₂(1 + 2N) for a trace-1 ρ.
//!
//! For an unphysical (linear-inversion) ρ, the entropies, fidelity to a mixed
//! target and concurrence use its positive part; `physical` says whether ρ
//! is a state: |Tr ρ − 1| ≤ 1e-9 and λ_min ≥ −1e-12.

use crate::tomo::TomoError;
use crate::tomo::eigen::EigenWorkspace;
use crate::tomo::hermitian;
use crate::tomo::likelihood;
use crate::tomo::measurement::{Grouping, SetView};
use crate::tomo::product::ProductScratch;
use crate::tomo::states::{Target, weighted_outer};
use faer::{Mat, c64};

/// Figures of merit of one estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Tr ρ.
    pub trace: f64,
    /// Tr ρ².
    pub purity: f64,
    /// Eigenvalues, largest first.
    pub eigenvalues: Vec<f64>,
    /// −Σ λ log₂ λ (bits).
    pub von_neumann_entropy: f64,
    /// 1 − Tr ρ².
    pub linear_entropy: f64,
    /// Log-likelihood, `None` when −∞.
    pub log_likelihood: Option<f64>,
    /// Pearson χ² of the counts against the state's prediction.
    pub chi2: f64,
    /// Fidelity (squared, Jozsa) to the target, when one is given.
    pub fidelity: Option<f64>,
    /// Trace distance to the target, when one is given.
    pub trace_distance: Option<f64>,
    /// Concurrence (two qubits only).
    pub concurrence: Option<f64>,
    /// Negativity (two qubits only).
    pub negativity: Option<f64>,
    /// Log-negativity log₂(1 + 2N) (two qubits only).
    pub log_negativity: Option<f64>,
    /// |Tr ρ − 1| ≤ 1e-9 and λ_min ≥ −1e-12.
    pub physical: bool,
}

/// Computes the metrics of the state with coordinates `rho`.
pub fn compute(
    set: SetView<'_>,
    counts: &[f64],
    rho: &[f64],
    target: Option<&Target>,
    eigen: &mut EigenWorkspace,
) -> Result<Metrics, TomoError> {
    let d = set.dim();
    let trace = hermitian::trace(rho, d);
    let purity = hermitian::dot(rho, rho);
    let (vals, vecs) = eigen.decompose_coords(rho)?;
    let mut eigenvalues: Vec<f64> = vals.iter().rev().copied().collect();
    eigenvalues.iter_mut().for_each(|v| {
        if *v == 0.0 {
            *v = 0.0; // normalise −0.0
        }
    });
    let physical = (trace - 1.0).abs() <= 1e-9 && vals[0] >= -1e-12;
    let von_neumann_entropy = vals
        .iter()
        .filter(|&&l| l > 0.0)
        .map(|&l| -l * l.log2())
        .sum::<f64>()
        .max(0.0);
    let sqrt_rho = weighted_outer(vals, vecs, f64::sqrt);
    let fidelity = target.map(|t| fidelity(t, rho, &sqrt_rho)).transpose()?;
    let trace_distance = target.map(|t| trace_distance(t, rho, eigen)).transpose()?;
    let two_qubit = is_two_qubit(set);
    let concurrence = if two_qubit {
        Some(concurrence(&sqrt_rho, rho, eigen)?)
    } else {
        None
    };
    let negativity = if two_qubit {
        Some(negativity(rho, eigen)?)
    } else {
        None
    };
    let log_negativity = negativity.map(|n| (1.0 + 2.0 * n).log2());
    let mut p = vec![0.0; set.len()];
    set.predict(rho, &mut p, &mut ProductScratch::default());
    Ok(Metrics {
        trace,
        purity,
        eigenvalues,
        von_neumann_entropy,
        linear_entropy: 1.0 - purity,
        log_likelihood: likelihood::log_likelihood_of_prediction(set, counts, &p),
        chi2: chi2_of_prediction(set, counts, &p),
        fidelity,
        concurrence,
        negativity,
        log_negativity,
        trace_distance,
        physical,
    })
}

/// True when the set's states are two qubits (concurrence and negativity
/// apply): d = 4 and not the `qudit` set of dimension 4.
pub fn is_two_qubit(set: SetView<'_>) -> bool {
    set.dim() == 4 && !set.info.name.starts_with("qudit")
}

/// The expected counts of the predicted probabilities `p`: N_s·p_k per
/// setting for grouped sets, N·p_k/Σp for ungrouped ones (the fitted
/// intensity); all 0 when Σp ≤ 0. With a background (affine model),
/// I·p_k + a_k at the fitted intensity I.
pub fn expected_counts(set: SetView<'_>, counts: &[f64], p: &[f64]) -> Vec<f64> {
    match &set.info.grouping {
        Grouping::Settings {
            settings,
            setting_of,
        } => {
            let mut totals = vec![0.0; settings.len()];
            for (&s, &n) in setting_of.iter().zip(counts) {
                totals[s as usize] += n;
            }
            setting_of
                .iter()
                .zip(p)
                .map(|(&s, &pk)| totals[s as usize] * pk)
                .collect()
        }
        Grouping::Ungrouped => {
            if let Some(a) = set.info.background() {
                // The affine model: μ_k = I p_k + a_k at the fitted intensity.
                let i = likelihood::fit_intensity(counts, p, a).unwrap_or(0.0);
                return p.iter().zip(a).map(|(&pk, &ak)| i * pk + ak).collect();
            }
            let total: f64 = counts.iter().sum();
            let g: f64 = p.iter().sum();
            p.iter()
                .map(|&pk| if g > 0.0 { total * pk / g } else { 0.0 })
                .collect()
        }
    }
}

/// Pearson χ² with the expected-count floor documented above.
pub fn chi2(set: SetView<'_>, counts: &[f64], rho: &[f64]) -> f64 {
    let mut p = vec![0.0; set.len()];
    set.predict(rho, &mut p, &mut ProductScratch::default());
    chi2_of_prediction(set, counts, &p)
}

/// As [`chi2`], from the predicted probabilities p = A x(ρ).
pub fn chi2_of_prediction(set: SetView<'_>, counts: &[f64], p: &[f64]) -> f64 {
    let expected = expected_counts(set, counts, p);
    counts
        .iter()
        .zip(&expected)
        .map(|(&n, &e)| (n - e).powi(2) / e.max(1.0))
        .sum()
}

/// Fidelity of the estimate to the target.
pub fn fidelity(target: &Target, rho: &[f64], sqrt_rho: &Mat<c64>) -> Result<f64, TomoError> {
    let d = sqrt_rho.nrows();
    if target.dim() != d {
        return Err(TomoError::InvalidTarget(format!(
            "target has dimension {}, the set has {d}",
            target.dim()
        )));
    }
    match target {
        Target::Pure(psi) => {
            let m = hermitian::matrix_from_coords(rho);
            let mut f = c64::new(0.0, 0.0);
            for j in 0..d {
                for k in 0..d {
                    f += psi[j].conj() * m[(j, k)] * psi[k];
                }
            }
            Ok(f.re.clamp(0.0, 1.0))
        }
        Target::Mixed { sqrt_sigma, .. } => {
            let inner = sqrt_sigma * sqrt_rho.as_ref();
            // Tr √(√σ ρ √σ) = Σ singular values of √ρ √σ... use √σ√ρ: its singular values.
            let s = inner
                .singular_values()
                .map_err(|_| TomoError::EigenNoConvergence)?;
            let t: f64 = s.iter().sum();
            Ok((t * t).clamp(0.0, 1.0))
        }
    }
}

/// Fidelity ⟨ψ|ρ|ψ⟩ (clamped to [0, 1]) of the d×d matrix with row-major
/// real and imaginary parts `re`, `im` to the pure state `psi`: what
/// [`fidelity`] computes for a pure target, from a stored matrix, with no
/// allocation (for rescoring many stored states).
pub fn fidelity_to_pure(psi: &[c64], re: &[f64], im: &[f64]) -> f64 {
    let d = psi.len();
    let mut f = c64::new(0.0, 0.0);
    for j in 0..d {
        let mut row = c64::new(0.0, 0.0);
        for k in 0..d {
            row += c64::new(re[j * d + k], im[j * d + k]) * psi[k];
        }
        f += psi[j].conj() * row;
    }
    f.re.clamp(0.0, 1.0)
}

/// Fidelity (Jozsa form, clamped to [0, 1]) of two qubit (2×2) matrices
/// given as row-major real and imaginary parts, in closed form:
/// F = Tr ρσ + 2√(det ρ · det σ), exact for positive semidefinite ρ and
/// σ. `None` when ρ is not (det ρ < 0 or Tr ρ < 0: an unphysical linear
/// estimate), where [`fidelity`]'s √ρ of the clipped eigenvalues applies.
pub fn fidelity_qubit(rho: (&[f64], &[f64]), sigma: (&[f64], &[f64])) -> Option<f64> {
    let ((rr, ri), (sr, si)) = (rho, sigma);
    if rr.len() != 4 || ri.len() != 4 || sr.len() != 4 || si.len() != 4 {
        return None;
    }
    // Tr ρσ = Σ_jk ρ_jk σ_kj = Σ_jk ρ_jk conj(σ_jk) for Hermitian σ.
    let overlap: f64 = (0..4).map(|k| rr[k] * sr[k] + ri[k] * si[k]).sum();
    let det = |re: &[f64], im: &[f64]| re[0] * re[3] - (re[1] * re[1] + im[1] * im[1]);
    let (dr, ds) = (det(rr, ri), det(sr, si).max(0.0));
    if dr < 0.0 || rr[0] + rr[3] < 0.0 {
        return None;
    }
    Some((overlap + 2.0 * (dr * ds).sqrt()).clamp(0.0, 1.0))
}

/// Trace distance ½‖ρ − σ‖₁ of the estimate to the target.
pub fn trace_distance(
    target: &Target,
    rho: &[f64],
    eigen: &mut EigenWorkspace,
) -> Result<f64, TomoError> {
    let mut diff = rho.to_vec();
    match target {
        Target::Pure(psi) => hermitian::accumulate_outer(-1.0, psi, &mut diff),
        Target::Mixed { sigma, .. } => diff.iter_mut().zip(sigma).for_each(|(a, b)| *a -= b),
    }
    let vals = eigen.eigenvalues(&diff)?;
    Ok(0.5 * vals.iter().map(|v| v.abs()).sum::<f64>())
}

/// Fidelity and trace distance of the state with coordinates `rho` to
/// `target`, as [`compute`] reports them: for figures of merit computed
/// after the run, from stored states, against any target. √ρ (an
/// eigendecomposition) is only formed for a mixed target.
pub fn target_metrics(
    target: &Target,
    rho: &[f64],
    eigen: &mut EigenWorkspace,
) -> Result<(f64, f64), TomoError> {
    let d = eigen.dim();
    let f = match target {
        // ⟨ψ|ρ|ψ⟩ needs no √ρ; `fidelity` reads only its size.
        Target::Pure(_) => fidelity(target, rho, &Mat::<c64>::zeros(d, d))?,
        Target::Mixed { .. } => {
            let (vals, vecs) = eigen.decompose_coords(rho)?;
            let sqrt_rho = weighted_outer(vals, vecs, f64::sqrt);
            fidelity(target, rho, &sqrt_rho)?
        }
    };
    Ok((f, trace_distance(target, rho, eigen)?))
}

/// Wootters concurrence from √ρ and ρ̃ = (σ_y⊗σ_y) ρ* (σ_y⊗σ_y) (two
/// qubits: `rho` has 16 coordinates, √ρ is 4×4).
pub fn concurrence(
    sqrt_rho: &Mat<c64>,
    rho: &[f64],
    eigen: &mut EigenWorkspace,
) -> Result<f64, TomoError> {
    let m = hermitian::matrix_from_coords(rho);
    // (σ_y⊗σ_y) has entries ±1 on the anti-diagonal: [0,0,0,-1; 0,0,1,0; 0,1,0,0; -1,0,0,0].
    let sign = |i: usize| if i == 0 || i == 3 { -1.0 } else { 1.0 };
    let tilde = Mat::<c64>::from_fn(4, 4, |j, k| m[(3 - j, 3 - k)].conj() * (sign(j) * sign(k)));
    let r = sqrt_rho * &tilde * sqrt_rho;
    let herm = Mat::<c64>::from_fn(4, 4, |j, k| (r[(j, k)] + r[(k, j)].conj()) * 0.5);
    let (vals, _) = eigen.decompose_matrix(herm.as_ref())?;
    let mut l: Vec<f64> = vals.iter().map(|v| v.max(0.0).sqrt()).collect();
    l.sort_by(|a, b| b.total_cmp(a));
    Ok((l[0] - l[1] - l[2] - l[3]).max(0.0))
}

/// Negativity from the partial transpose on qubit 2 (two qubits).
pub fn negativity(rho: &[f64], eigen: &mut EigenWorkspace) -> Result<f64, TomoError> {
    let m = hermitian::matrix_from_coords(rho);
    // index = 2a + b; (ρ^{T_B})_{(a b),(a' b')} = ρ_{(a b'),(a' b)}.
    let pt = Mat::<c64>::from_fn(4, 4, |r, c| {
        let (a, b) = (r / 2, r % 2);
        let (a2, b2) = (c / 2, c % 2);
        m[(2 * a + b2, 2 * a2 + b)]
    });
    let (vals, _) = eigen.decompose_matrix(pt.as_ref())?;
    Ok(vals.iter().filter(|&&v| v < 0.0).map(|v| -v).sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tomo::states::{hilbert_schmidt_mixed, pure_coords};
    use crate::tomo::{builtin_set, hermitian};
    use rand::SeedableRng;

    /// Werner states p|Φ⁺⟩⟨Φ⁺| + (1 − p)I/4 turned by random local
    /// unitaries U_A ⊗ U_B (which change neither figure): concurrence
    /// max(0, (3p − 1)/2), negativity max(0, (3p − 1)/4).
    #[test]
    fn concurrence_and_negativity_of_locally_rotated_werner_states() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(41);
        let bell = crate::tomo::states::named_state("bell-phi+", 4).expect("bell");
        let local_unitary = |rng: &mut rand_chacha::ChaCha8Rng| {
            // Columns: a Haar-random qubit ket and its orthogonal complement.
            let a = crate::tomo::states::haar_pure(2, rng);
            Mat::<c64>::from_fn(2, 2, |i, j| match (i, j) {
                (0, 0) => a[0],
                (1, 0) => a[1],
                (0, 1) => -a[1].conj(),
                _ => a[0].conj(),
            })
        };
        let (mut ec, mut en) = (EigenWorkspace::new(4), EigenWorkspace::new(4));
        let mut es = EigenWorkspace::new(4);
        for case in 0..40 {
            let p = f64::from(case % 10) / 9.0;
            let (ua, ub) = (local_unitary(&mut rng), local_unitary(&mut rng));
            let u = Mat::<c64>::from_fn(4, 4, |i, j| ua[(i / 2, j / 2)] * ub[(i % 2, j % 2)]);
            let phi = Mat::<c64>::from_fn(4, 4, |i, j| {
                p * bell[i] * bell[j].conj()
                    + if i == j {
                        c64::new((1.0 - p) / 4.0, 0.0)
                    } else {
                        c64::new(0.0, 0.0)
                    }
            });
            let rotated = &u * &phi * u.adjoint();
            let rho = hermitian::coords_of(rotated.as_ref());
            let (vals, vecs) = es.decompose_coords(&rho).expect("eigen");
            let sqrt_rho = weighted_outer(vals, vecs, f64::sqrt);
            let c = concurrence(&sqrt_rho, &rho, &mut ec).expect("concurrence");
            let n = negativity(&rho, &mut en).expect("negativity");
            let (c0, n0) = ((1.5 * p - 0.5).max(0.0), (0.75 * p - 0.25).max(0.0));
            assert!(
                (c - c0).abs() < 1e-7,
                "p {p}: concurrence {c}, expected {c0}"
            );
            assert!(
                (n - n0).abs() < 1e-12,
                "p {p}: negativity {n}, expected {n0}"
            );
        }
    }

    /// After the run, from the stored state, the same numbers as during it.
    #[test]
    fn target_metrics_match_compute_for_pure_and_mixed_targets() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(13);
        let set = builtin_set("pauli", Some(2), None).expect("set");
        let view = set.view();
        let counts = vec![10.0; set.len()];
        let mut eigen = EigenWorkspace::new(4);
        let sigma = hilbert_schmidt_mixed(4, &mut rng);
        let mixed = Target::from_matrix(hermitian::matrix_from_coords(&sigma).as_ref())
            .expect("mixed target");
        let pure = Target::named("bell-phi+", 4).expect("pure target");
        for _ in 0..20 {
            let rho = hilbert_schmidt_mixed(4, &mut rng);
            for target in [&pure, &mixed] {
                let m = compute(view, &counts, &rho, Some(target), &mut eigen).expect("metrics");
                let (f, t) = target_metrics(target, &rho, &mut eigen).expect("target metrics");
                let tol = f64::EPSILON * 8.0 * 4.0;
                let (f0, t0) = (m.fidelity.expect("F"), m.trace_distance.expect("T"));
                assert!((f - f0).abs() <= tol, "{f} vs {f0}");
                assert!((t - t0).abs() <= tol, "{t} vs {t0}");
            }
        }
        // A state is at distance 0 and fidelity 1 from itself.
        let psi = crate::tomo::states::named_state("bell-phi+", 4).expect("state");
        let (f, t) = target_metrics(&pure, &pure_coords(&psi), &mut eigen).expect("metrics");
        assert!((f - 1.0).abs() < 1e-12 && t.abs() < 1e-12, "{f} {t}");
    }
}
