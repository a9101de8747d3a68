//! The projection of a Hermitian matrix onto the density matrices, from its
//! eigendecomposition: Smolin, Gambetta and Smith, "Efficient method for
//! computing the maximum-likelihood quantum state from measurements with
//! additive Gaussian noise", PRL 108, 070502 (2012). With H = V diag(μ) V^†,
//! the nearest density matrix in Frobenius norm is V diag(λ) V^†, λ the
//! Euclidean projection of μ onto the simplex {λ ≥ 0, Σλ = 1}.

use crate::tomo::hermitian;
use faer::c64;

/// The Smolin–Gambetta–Smith projection from an eigendecomposition:
/// writes the coordinates of Σ_i max(μ_i − θ, 0) |v_i⟩⟨v_i| into `out`, θ the
/// simplex shift for `trace`, and returns the rank. `values` are the μ_i,
/// `vector(i)` the matching eigenvectors, `sorted` scratch of length d.
pub(crate) fn assemble_projection<'v>(
    values: &[f64],
    sorted: &mut [f64],
    trace: f64,
    vector: impl Fn(usize) -> &'v [c64],
    out: &mut [f64],
) -> usize {
    sorted.copy_from_slice(values);
    let shift = simplex_shift(sorted, trace);
    out.fill(0.0);
    let mut rank = 0;
    for (i, &mu) in values.iter().enumerate() {
        let lambda = mu - shift;
        if lambda > 0.0 {
            rank += 1;
            hermitian::accumulate_outer(lambda, vector(i), out);
        }
    }
    rank
}

/// The shift θ such that max(μ_i − θ, 0) sums to `total`: the Euclidean
/// projection of μ onto the simplex {λ ≥ 0, Σλ = total} is λ_i = max(μ_i − θ, 0).
/// `mu` is used as scratch and left sorted in decreasing order.
pub fn simplex_shift(mu: &mut [f64], total: f64) -> f64 {
    mu.sort_unstable_by(|a, b| b.total_cmp(a));
    let mut cumulative = 0.0;
    let mut shift = (mu.iter().sum::<f64>() - total) / mu.len() as f64;
    for (j, &m) in mu.iter().enumerate() {
        cumulative += m;
        let candidate = (cumulative - total) / (j + 1) as f64;
        if m - candidate > 0.0 {
            shift = candidate;
        } else {
            break;
        }
    }
    shift
}

/// Euclidean projection of `mu` onto the simplex {λ ≥ 0, Σλ = total}, in place.
pub fn project_simplex(mu: &mut [f64], total: f64) {
    let mut scratch = mu.to_vec();
    let shift = simplex_shift(&mut scratch, total);
    for m in mu.iter_mut() {
        *m = (*m - shift).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn simplex_projection_is_on_simplex_and_optimal(v in proptest::collection::vec(-3.0f64..3.0, 1..9)) {
            let mut p = v.clone();
            project_simplex(&mut p, 1.0);
            prop_assert!(p.iter().all(|&x| x >= 0.0));
            prop_assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            // Optimality (KKT): v - p = θ on the support, ≤ θ off it.
            let theta = v.iter().zip(&p).filter(|(_, q)| **q > 0.0).map(|(a, q)| a - q).next().unwrap_or(0.0);
            for (a, q) in v.iter().zip(&p) {
                if *q > 0.0 { prop_assert!((a - q - theta).abs() < 1e-9); } else { prop_assert!(*a <= theta + 1e-9); }
            }
        }
    }
}
