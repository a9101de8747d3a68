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

use crate::tomo::hermitian;
use crate::tomo::measurement::SetView;
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

/// Below this many coordinates (d < 8) a plain loop beats faer's GEMV setup.
const GEMV_MIN_COORDS: usize = 64;

/// Predicted probabilities p = A x, written into `p`.
#[inline]
pub fn predict(rows: &[f64], x: &[f64], p: &mut [f64]) {
    let n = x.len();
    if n >= GEMV_MIN_COORDS {
        let m = p.len();
        let a = MatRef::from_row_major_slice(&rows[..m * n], m, n);
        let xv = MatRef::from_column_major_slice(x, n, 1);
        let pv = MatMut::from_column_major_slice_mut(p, m, 1);
        matmul(pv, Accum::Replace, a, xv, 1.0, Par::Seq);
        return;
    }
    for (k, pk) in p.iter_mut().enumerate() {
        *pk = hermitian::dot(&rows[k * n..(k + 1) * n], x);
    }
}

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
    predict(set.a, rho, &mut p);
    let mut l = log_likelihood_from_probs(counts, &p)?;
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

/// Gradient of L at the probabilities `p`, in coordinates:
/// Σ_k (n_k/p_k) row_k = Aᵀw, written into `grad`; `w` (length M) is scratch.
/// Terms with n_k = 0 are skipped.
#[inline]
pub fn gradient(rows: &[f64], counts: &[f64], p: &[f64], w: &mut [f64], grad: &mut [f64]) {
    let n = grad.len();
    for ((wk, &c), &pk) in w.iter_mut().zip(counts).zip(p) {
        *wk = if c > 0.0 { c / pk } else { 0.0 };
    }
    if n >= GEMV_MIN_COORDS {
        let m = w.len();
        let at = MatRef::from_row_major_slice(&rows[..m * n], m, n).transpose();
        let wv = MatRef::from_column_major_slice(w, m, 1);
        let gv = MatMut::from_column_major_slice_mut(grad, n, 1);
        matmul(gv, Accum::Replace, at, wv, 1.0, Par::Seq);
        return;
    }
    grad.fill(0.0);
    for (k, &wk) in w.iter().enumerate() {
        if wk != 0.0 {
            for (g, r) in grad.iter_mut().zip(&rows[k * n..(k + 1) * n]) {
                *g += wk * r;
            }
        }
    }
}

/// γ with Σ_k Π̃_k = γ I for the rows of a complete measurement (the number
/// of settings of a grouped set, 1 for the MLE frame of an ungrouped one),
/// from the trace: γ = Σ_k Tr Π̃_k / d.
pub fn identity_multiple(rows: &[f64], d: usize) -> f64 {
    rows.chunks_exact(d * d)
        .map(|row| row[..d].iter().sum::<f64>())
        .sum::<f64>()
        / d as f64
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
