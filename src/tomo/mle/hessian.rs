//! The Hessian of a likelihood over a dense set, and the Cholesky solver of
//! the Newton systems at small d.
//!
//! A log-likelihood Σ_k n_k log(a_k·x + b_k) has the Hessian
//! −Σ_k c_k a_k a_kᵀ with c_k = n_k/(a_k·x + b_k)². [`RowHessian`] forms
//! Σ_k c_k a_k a_kᵀ from the rows stored coordinate-major, so that each
//! entry is one dot product of length M, which the compiler vectorises (a
//! loop of rank-one updates with rows of varying sparsity does not). At
//! the d ≤ 16 these solvers run at, a plain Cholesky factorisation beats a
//! general solver's set-up and allocation.

use crate::tomo::hermitian;

/// The rows a_k of a dense set (M×n), stored for forming Σ_k c_k a_k a_kᵀ.
pub(super) struct RowHessian {
    m: usize,
    /// Entry (i, k) at i·M + k: coordinate i of row k.
    by_coordinate: Vec<f64>,
    /// The same times the weights c_k of the last call.
    weighted: Vec<f64>,
}

impl RowHessian {
    /// Stores the M×n row-major `rows` coordinate-major.
    pub(super) fn new(rows: &[f64], n: usize) -> Self {
        let m = rows.len().checked_div(n).unwrap_or(0);
        Self {
            m,
            by_coordinate: (0..n)
                .flat_map(|i| rows.chunks_exact(n).map(move |row| row[i]))
                .collect(),
            weighted: vec![0.0; m * n],
        }
    }

    /// A store for rows of `m` outcomes whose coordinates the caller
    /// writes ([`Self::coordinates_mut`]), e.g. rows rotated to another
    /// basis at every step.
    pub(super) fn with_outcomes(m: usize) -> Self {
        Self {
            m,
            by_coordinate: Vec::new(),
            weighted: Vec::new(),
        }
    }

    /// The storage of `q` coordinates of every row, coordinate-major
    /// (coordinate i of row k at i·M + k), for the caller to fill: the
    /// next [`Self::lower`] forms the q×q matrix of those coordinates.
    pub(super) fn coordinates_mut(&mut self, q: usize) -> &mut [f64] {
        self.by_coordinate.resize(q * self.m, 0.0);
        self.weighted.resize(q * self.m, 0.0);
        &mut self.by_coordinate
    }

    /// Writes the lower triangle of Σ_k c_k a_k a_kᵀ (n×n, row-major) into
    /// `out`, with `weights` the c_k; the upper triangle is left as it was.
    pub(super) fn lower(&mut self, weights: &[f64], out: &mut [f64]) {
        let m = self.m;
        if m == 0 {
            return;
        }
        let n = self.by_coordinate.len() / m;
        for (wc, rc) in self
            .weighted
            .chunks_exact_mut(m)
            .zip(self.by_coordinate.chunks_exact(m))
        {
            for ((w, &r), &c) in wc.iter_mut().zip(rc).zip(weights) {
                *w = c * r;
            }
        }
        for i in 0..n {
            let wi = &self.weighted[i * m..(i + 1) * m];
            for j in 0..=i {
                out[i * n + j] = hermitian::dot(wi, &self.by_coordinate[j * m..(j + 1) * m]);
            }
        }
    }
}

/// Cholesky factorisation in place of the q×q symmetric matrix `h`
/// (row-major, lower triangle read): on success (true) the lower triangle
/// holds L with H = LLᵀ; false when H is not positive definite.
pub(super) fn cholesky_in_place(h: &mut [f64], q: usize) -> bool {
    for j in 0..q {
        let mut diag = h[j * q + j];
        for k in 0..j {
            diag -= h[j * q + k] * h[j * q + k];
        }
        if !(diag > 0.0 && diag.is_finite()) {
            return false;
        }
        let ljj = diag.sqrt();
        h[j * q + j] = ljj;
        for i in (j + 1)..q {
            let mut v = h[i * q + j];
            for k in 0..j {
                v -= h[i * q + k] * h[j * q + k];
            }
            h[i * q + j] = v / ljj;
        }
    }
    true
}

/// [`cholesky_in_place`] of H + 1e-12·max_i(H_ii)·I, the small ridge the
/// Newton systems add for directions the counts do not see; false when H
/// has no positive finite diagonal or is not positive definite.
pub(super) fn ridged_cholesky_in_place(h: &mut [f64], q: usize) -> bool {
    let scale = (0..q).map(|i| h[i * q + i]).fold(0.0, f64::max);
    if !(scale > 0.0 && scale.is_finite()) {
        return false;
    }
    for i in 0..q {
        h[i * q + i] += 1e-12 * scale;
    }
    cholesky_in_place(h, q)
}

/// Solves LLᵀy = b in place for the factor of [`cholesky_in_place`].
pub(super) fn cholesky_solve(l: &[f64], q: usize, b: &mut [f64]) {
    for i in 0..q {
        let mut v = b[i];
        for k in 0..i {
            v -= l[i * q + k] * b[k];
        }
        b[i] = v / l[i * q + i];
    }
    for i in (0..q).rev() {
        let mut v = b[i];
        for k in (i + 1)..q {
            v -= l[k * q + i] * b[k];
        }
        b[i] = v / l[i * q + i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_hessian_and_cholesky_solve_agree_with_direct_sums() {
        // Five rows of three coordinates, weights, a ridge: H y = b.
        let rows = [
            1.0, 0.5, -0.2, 0.3, 2.0, 0.1, -1.0, 0.4, 0.9, 0.0, 0.7, 1.5, 2.2, -0.3, 0.6,
        ];
        let weights = [0.5, 1.5, 2.0, 0.8, 1.1];
        let mut hess = RowHessian::new(&rows, 3);
        let mut h = vec![0.0; 9];
        hess.lower(&weights, &mut h);
        for i in 0..3 {
            for j in 0..=i {
                let direct: f64 = rows
                    .chunks_exact(3)
                    .zip(&weights)
                    .map(|(r, c)| c * r[i] * r[j])
                    .sum();
                assert!((h[i * 3 + j] - direct).abs() < 1e-12, "({i}, {j})");
            }
        }
        let full: Vec<f64> = (0..9)
            .map(|e| {
                let (i, j) = (e / 3, e % 3);
                h[i.max(j) * 3 + i.min(j)]
            })
            .collect();
        let b = [1.0, -2.0, 0.5];
        let mut y = b.to_vec();
        assert!(cholesky_in_place(&mut h, 3));
        cholesky_solve(&h, 3, &mut y);
        for i in 0..3 {
            let hy: f64 = (0..3).map(|j| full[i * 3 + j] * y[j]).sum();
            assert!((hy - b[i]).abs() < 1e-10, "row {i}: {hy} vs {}", b[i]);
        }
        // Not positive definite.
        let mut bad = vec![1.0, 0.0, 2.0, 1.0];
        assert!(!cholesky_in_place(&mut bad, 2));
    }
}
