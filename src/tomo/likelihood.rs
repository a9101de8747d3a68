//! The log-likelihood of a state and its gradient.
//!
//! Grouped sets (complete measurements, multinomial counts):
//! $$ L(ρ) = \sum_k n_k \log \operatorname{Tr}(Π_k ρ). $$
//! Ungrouped sets (Poisson counts, free intensity), after maximising over the
//! intensity (profile likelihood):
//! $$ L(ρ) = \sum_k n_k \log \frac{\operatorname{Tr}(Π_k ρ)}{\operatorname{Tr}(G ρ)},\quad G = \sum_k Π_k . $$
//! Both equal Σ_k n_k log Tr(Π̃_k τ) for the MLE frame operators Π̃_k of the
//! set (see [`crate::tomo::measurement`]), which is what the MLE maximises.
//! Terms with n_k = 0 are dropped (0·log 0 = 0).
//!
//! Ungrouped sets with a background a_k (the affine model of
//! [`crate::tomo::model`], μ_k = I·p_k + a_k with p_k = Tr(F_k ρ)): the
//! intensity is profiled numerically ([`fit_intensity`]) and
//! $$ L(ρ) = \max_{I \ge 0} \sum_k n_k \log(I p_k + a_k) - I \sum_k p_k - \sum_k a_k - (N \log N - N), $$
//! the Poisson log-likelihood (without the log n_k! terms) shifted by the
//! constant that makes it equal the profile likelihood above when a = 0.

use crate::tomo::measurement::SetView;
use crate::tomo::product::ProductScratch;

/// Σ n_k log p_k over n_k > 0; `None` when some observed outcome has p_k ≤ 0
/// (the likelihood is zero, its logarithm −∞).
#[inline]
pub fn log_likelihood_from_probs(counts: &[f64], p: &[f64]) -> Option<f64> {
    let mut l = 0.0;
    for (&n, &pk) in counts.iter().zip(p) {
        if n > 0.0 {
            if pk <= 0.0 {
                return None;
            }
            l += n * pk.ln();
        }
    }
    Some(l)
}

/// The log-likelihood of the state with coordinates `rho` (trace 1) for the
/// given counts; `None` when the state gives probability ≤ 0 to an observed
/// outcome (possible for the unphysical linear-inversion estimate).
pub fn log_likelihood(set: SetView<'_>, counts: &[f64], rho: &[f64]) -> Option<f64> {
    let mut p = vec![0.0; set.len()];
    set.predict(rho, &mut p, &mut ProductScratch::default());
    log_likelihood_of_prediction(set, counts, &p)
}

/// As [`log_likelihood`], from the predicted probabilities p = A x(ρ).
pub fn log_likelihood_of_prediction(set: SetView<'_>, counts: &[f64], p: &[f64]) -> Option<f64> {
    if let Some(a) = set.info.background() {
        return affine_log_likelihood(counts, p, a);
    }
    let mut l = log_likelihood_from_probs(counts, p)?;
    if !set.info.is_grouped() {
        let g: f64 = p.iter().sum();
        if g <= 0.0 {
            return None;
        }
        let total: f64 = counts.iter().sum();
        l -= total * g.ln();
    }
    Some(l)
}

/// Gradient of L̃ at the probabilities `p` of the MLE rows, in
/// coordinates: Σ_k (n_k/p_k) Π̃_k = Ãᵀw, written into `grad`; `w`
/// (length M) receives the weights n_k/p_k (0 where n_k = 0).
#[inline]
pub fn gradient(
    set: SetView<'_>,
    counts: &[f64],
    p: &[f64],
    w: &mut [f64],
    grad: &mut [f64],
    scratch: &mut ProductScratch,
) {
    for ((wk, &c), &pk) in w.iter_mut().zip(counts).zip(p) {
        *wk = if c > 0.0 { c / pk } else { 0.0 };
    }
    set.adjoint_mle(w, grad, scratch);
}

/// γ with Σ_k Π̃_k = γ I for the rows of a complete measurement (the number
/// of settings of a grouped set, 1 for the MLE frame of an ungrouped one),
/// from the traces Tr Π̃_k: γ = Σ_k Tr Π̃_k / d.
pub fn identity_multiple(traces: &[f64], d: usize) -> f64 {
    traces.iter().sum::<f64>() / d as f64
}

/// The shifted gradient S = ∇L − N I = Σ_k u_k row_k with
/// u_k = n_k/p_k − N/γ (so u_k = −N/γ for outcomes without counts), written
/// into `s`; `u` (length M) receives the u_k. Near the maximum u_k is small,
/// so S is computed without the cancellation of ∇L ≈ N I.
pub fn shifted_gradient(
    rows: &[f64],
    counts: &[f64],
    p: &[f64],
    total: f64,
    gamma: f64,
    u: &mut [f64],
    s: &mut [f64],
) {
    let n = s.len();
    let shift = total / gamma;
    for ((uk, &c), &pk) in u.iter_mut().zip(counts).zip(p) {
        *uk = if c > 0.0 { c / pk - shift } else { -shift };
    }
    s.fill(0.0);
    for (row, &uk) in rows.chunks_exact(n).zip(u.iter()) {
        for (g, r) in s.iter_mut().zip(row) {
            *g += uk * r;
        }
    }
}

/// The intensity I ≥ 0 that maximises h(I) = Σ_k n_k log(I p_k + a_k) − I Σ_k p_k
/// (concave): the root of h′ in [0, N/Σp] (h′(N/Σp) ≤ 0), by Newton steps
/// kept inside a shrinking bracket. `None` when Σp ≤ 0 or an observed
/// outcome has I p_k + a_k ≤ 0 for every I in the bracket.
pub fn fit_intensity(counts: &[f64], p: &[f64], a: &[f64]) -> Option<f64> {
    let total: f64 = counts.iter().sum();
    let sum_p: f64 = p.iter().sum();
    if !(sum_p > 0.0 && total > 0.0 && sum_p.is_finite()) {
        return None;
    }
    let slope = |i: f64| -> (f64, f64) {
        let (mut d1, mut d2) = (-sum_p, 0.0);
        for ((&n, &pk), &ak) in counts.iter().zip(p).zip(a) {
            if n > 0.0 {
                let mu = i * pk + ak;
                d1 += n * pk / mu;
                d2 -= n * pk * pk / (mu * mu);
            }
        }
        (d1, d2)
    };
    let (mut lo, mut hi) = (0.0f64, total / sum_p);
    // h′(0⁺): with every observed outcome covered by background, I = 0 may
    // be the maximum.
    let at_zero_ok = counts.iter().zip(a).all(|(&n, &ak)| n == 0.0 || ak > 0.0);
    if at_zero_ok && slope(0.0).0 <= 0.0 {
        return Some(0.0);
    }
    let mut i = hi;
    for _ in 0..200 {
        let (d1, d2) = slope(i);
        if !d1.is_finite() || d1 > 0.0 {
            lo = i;
        } else {
            hi = i;
        }
        if d1 == 0.0 {
            return Some(i);
        }
        let newton = i - d1 / d2;
        let next = if d2 < 0.0 && newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if (next - i).abs() <= 4.0 * f64::EPSILON * i.abs() || hi - lo <= 4.0 * f64::EPSILON * hi {
            return Some(next);
        }
        i = next;
    }
    Some(i)
}

/// L(ρ) of the affine model (see the module docs) from p_k = Tr(F_k ρ).
pub fn affine_log_likelihood(counts: &[f64], p: &[f64], a: &[f64]) -> Option<f64> {
    let intensity = fit_intensity(counts, p, a)?;
    affine_log_likelihood_at(counts, p, a, intensity)
}

/// L at a given intensity: Σ n_k log(I p_k + a_k) − I Σp − Σa − (N log N − N).
pub fn affine_log_likelihood_at(
    counts: &[f64],
    p: &[f64],
    a: &[f64],
    intensity: f64,
) -> Option<f64> {
    let total: f64 = counts.iter().sum();
    let mut l = 0.0;
    let mut mass = 0.0;
    for ((&n, &pk), &ak) in counts.iter().zip(p).zip(a) {
        let mu = intensity * pk + ak;
        mass += mu;
        if n > 0.0 {
            if mu.is_nan() || mu <= 0.0 {
                return None;
            }
            l += n * mu.ln();
        }
    }
    Some(l - mass - (total * total.ln() - total))
}
