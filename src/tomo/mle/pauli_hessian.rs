//! The Newton systems of [`super::newton`] in the Pauli basis, where the
//! rows of Pauli-product measurements are sparse.
//!
//! The projector of outcome k of a Pauli setting on n qubits is
//! Π_k = 2⁻ⁿ Σ_S s_S P_S, a signed sum over the 2ⁿ Pauli strings P_S made
//! of the identity and the setting's own Pauli letters. In the orthonormal
//! basis P_α/√d of the Hermitian matrices (d = 2ⁿ) its coordinates
//! therefore have 2ⁿ non-zeros of the d² (4 of 16 for two qubits), and
//! only 2ⁿ − 1 off the identity. On the trace-zero directions a Newton step
//! of [`super::newton`] may take from a full-rank state, the Hessian
//! Σ_k c_k a_k a_kᵀ is then formed from those few entries (36 rows × 6
//! products for two-qubit Pauli tomography, against 36 × 136 in the
//! coordinates of x), and the trace constraint is the identity coordinate
//! held at zero: one Cholesky factorisation of size d² − 1 and one solve,
//! no multiplier. On a face, QᵀHQ = Σ_k c_k (Qᵀa_k)(Qᵀa_k)ᵀ is formed
//! from each row brought to the face from those few entries, so the
//! d⁴-entry Hessian is never formed.
//!
//! The basis change is orthogonal, so the direction is the same Newton
//! direction (up to rounding). Entries below 1e-12 of a row's largest are
//! dropped: that perturbs only the search direction, never the
//! certificate, which is evaluated from the state alone.

use crate::tomo::hermitian;
use crate::tomo::mle::hessian::{cholesky_solve, ridged_cholesky_in_place};
use faer::{Mat, c64};

/// Rows whose Pauli coordinates have more non-zeros than this fraction of
/// d² on average gain nothing from the sparse form.
const MAX_FILL: f64 = 0.25;

/// The rows of a dense set in the Pauli basis (identity coordinate left
/// out), when they are sparse there, and the basis change.
pub(super) struct PauliHessian {
    /// d and n = d².
    d: usize,
    n: usize,
    /// Column α − 1 of Bᵀ (α ≥ 1, the non-identity strings): the non-zero
    /// coordinates (index, value) of P_α/√d.
    strings: Vec<Vec<(usize, f64)>>,
    /// Row k: its non-zero Pauli coordinates (α − 1, value), α ≥ 1.
    rows: Vec<Vec<(usize, f64)>>,
    /// Row k's identity coordinate a_k·I/√d.
    identity: Vec<f64>,
    /// Face columns in Pauli coordinates (column-major, n each; identity
    /// first) and one row's products with them ([`Self::face_hessian`]).
    face_columns: Vec<f64>,
    row_on_face: Vec<f64>,
    /// The (n − 1)×(n − 1) Hessian, row-major, then its Cholesky factor.
    hessian: Vec<f64>,
    /// The gradient, then the step, in Pauli coordinates.
    rhs: Vec<f64>,
}

impl PauliHessian {
    /// The sparse form of the M×d² `rows` for d×d states, or `None` when d
    /// is not a power of two or the rows are not sparse in the Pauli basis.
    pub(super) fn new(d: usize, rows: &[f64]) -> Option<Self> {
        if d < 2 || !d.is_power_of_two() {
            return None;
        }
        let n = d * d;
        let qubits = d.trailing_zeros() as usize;
        let norm = 1.0 / (d as f64).sqrt();
        let mut strings = Vec::with_capacity(n - 1);
        let mut coords = vec![0.0; n];
        for alpha in 1..n {
            // Letter of qubit q: base-4 digit q of α (0 = I, 1 = X, 2 = Y,
            // 3 = Z); qubit 0 is the most significant factor.
            let letters: Vec<usize> = (0..qubits)
                .map(|q| (alpha >> (2 * (qubits - 1 - q))) & 3)
                .collect();
            let p = Mat::<c64>::from_fn(d, d, |r, c| {
                let mut v = c64::new(norm, 0.0);
                for (q, &letter) in letters.iter().enumerate() {
                    let shift = qubits - 1 - q;
                    let (a, b) = ((r >> shift) & 1, (c >> shift) & 1);
                    v *= pauli_entry(letter, a, b);
                }
                v
            });
            hermitian::to_coords(p.as_ref(), &mut coords);
            strings.push(
                coords
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.abs() > 1e-14)
                    .map(|(i, &v)| (i, v))
                    .collect::<Vec<_>>(),
            );
        }
        let mut sparse_rows = Vec::with_capacity(rows.len() / n);
        let mut identity = Vec::with_capacity(rows.len() / n);
        let mut filled = 0usize;
        let mut dense = vec![0.0; n - 1];
        for row in rows.chunks_exact(n) {
            // The identity coordinate is kept apart (the trace-zero
            // systems leave it out).
            identity.push(identity_coordinate(row, d));
            let mut largest = 0.0f64;
            for (v, s) in dense.iter_mut().zip(&strings) {
                *v = s.iter().map(|&(i, b)| b * row[i]).sum();
                largest = largest.max(v.abs());
            }
            let kept: Vec<(usize, f64)> = dense
                .iter()
                .enumerate()
                .filter(|(_, v)| v.abs() > 1e-12 * largest)
                .map(|(i, &v)| (i, v))
                .collect();
            filled += kept.len();
            sparse_rows.push(kept);
        }
        let m = sparse_rows.len();
        if m == 0 || filled as f64 > MAX_FILL * (m * n) as f64 {
            return None;
        }
        Some(Self {
            d,
            n,
            strings,
            rows: sparse_rows,
            identity,
            face_columns: vec![0.0; n * n],
            row_on_face: vec![0.0; n],
            hessian: vec![0.0; (n - 1) * (n - 1)],
            rhs: vec![0.0; n - 1],
        })
    }

    /// The Newton direction Δ (coordinates of x, trace zero) minimising
    /// ⟨g, Δ⟩ + ½⟨Δ, HΔ⟩ for H = Σ_k c_k a_k a_kᵀ (`weights` the c_k) and
    /// g = `grad`, written into `dir`; returns the decrement −⟨g, Δ⟩ and
    /// Tr H on the trace-zero directions, or `None` when H is not positive
    /// definite there.
    pub(super) fn direction(
        &mut self,
        weights: &[f64],
        grad: &[f64],
        dir: &mut [f64],
    ) -> Option<(f64, f64)> {
        let q = self.n - 1;
        let h = &mut self.hessian;
        h.fill(0.0);
        for (row, &c) in self.rows.iter().zip(weights) {
            if c == 0.0 {
                continue;
            }
            for (a, &(i, vi)) in row.iter().enumerate() {
                let cv = c * vi;
                for &(j, vj) in &row[..=a] {
                    // Entries of a row are in increasing index: j ≤ i.
                    h[i * q + j] += cv * vj;
                }
            }
        }
        let trace_h: f64 = (0..q).map(|i| h[i * q + i]).sum();
        if !ridged_cholesky_in_place(h, q) {
            return None;
        }
        for (r, s) in self.rhs.iter_mut().zip(&self.strings) {
            *r = s.iter().map(|&(i, b)| b * grad[i]).sum();
        }
        let mut decrement = 0.0;
        cholesky_solve(h, q, &mut self.rhs);
        // Δ_P = −H⁻¹g_P; decrement = g_Pᵀ H⁻¹ g_P.
        dir.fill(0.0);
        for (y, s) in self.rhs.iter().zip(&self.strings) {
            for &(i, b) in s {
                dir[i] -= b * y;
            }
        }
        for (i, dv) in dir.iter().enumerate() {
            decrement -= grad[i] * dv;
        }
        decrement.is_finite().then_some((decrement, trace_h))
    }

    /// The lower triangle of QᵀHQ (q×q, row-major with stride q) into
    /// `out`, for the q columns of Q in the coordinates of x (`columns`,
    /// q·d² entries, column after column) and H = Σ_k c_k a_k a_kᵀ
    /// (`weights` the c_k): each row is brought to the face as Qᵀa_k from
    /// its few Pauli coordinates, then Σ_k c_k (Qᵀa_k)(Qᵀa_k)ᵀ.
    pub(super) fn face_hessian(
        &mut self,
        weights: &[f64],
        columns: &[f64],
        q: usize,
        out: &mut [f64],
    ) {
        let (d, n) = (self.d, self.n);
        for (col, pauli) in columns
            .chunks_exact(n)
            .take(q)
            .zip(self.face_columns.chunks_exact_mut(n))
        {
            pauli[0] = identity_coordinate(col, d);
            for (v, s) in pauli[1..].iter_mut().zip(&self.strings) {
                *v = s.iter().map(|&(i, b)| b * col[i]).sum();
            }
        }
        let h = &mut out[..q * q];
        for a in 0..q {
            h[a * q..a * q + a + 1].fill(0.0);
        }
        for ((row, &id), &c) in self.rows.iter().zip(&self.identity).zip(weights) {
            if c == 0.0 {
                continue;
            }
            for (v, pauli) in self
                .row_on_face
                .iter_mut()
                .zip(self.face_columns.chunks_exact(n))
                .take(q)
            {
                *v = id * pauli[0] + row.iter().map(|&(j, r)| r * pauli[j + 1]).sum::<f64>();
            }
            let v = &self.row_on_face[..q];
            for a in 0..q {
                let cv = c * v[a];
                for (hb, &vb) in h[a * q..=a * q + a].iter_mut().zip(v) {
                    *hb += cv * vb;
                }
            }
        }
    }
}

/// The coordinate of `x` (coordinates of a d×d Hermitian matrix) along
/// I/√d: its trace over √d.
fn identity_coordinate(x: &[f64], d: usize) -> f64 {
    (1.0 / (d as f64).sqrt()) * hermitian::trace(x, d)
}

/// Entry (a, b) of the Pauli matrix with index `letter` (0 = I, 1 = X,
/// 2 = Y, 3 = Z).
fn pauli_entry(letter: usize, a: usize, b: usize) -> c64 {
    let (zero, one) = (c64::new(0.0, 0.0), c64::new(1.0, 0.0));
    match (letter, a, b) {
        (0, a, b) => {
            if a == b {
                one
            } else {
                zero
            }
        }
        (1, a, b) => {
            if a != b {
                one
            } else {
                zero
            }
        }
        (2, 0, 1) => c64::new(0.0, -1.0),
        (2, 1, 0) => c64::new(0.0, 1.0),
        (3, 0, 0) => one,
        (3, 1, 1) => -one,
        _ => zero,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tomo::builtin_set;
    use crate::tomo::mle::hessian::{RowHessian, cholesky_in_place};

    /// The sparse direction equals the dense one: Δ = −H⁻¹(g + νc) with the
    /// multiplier ν that makes Tr Δ = 0, from the Hessian in the
    /// coordinates of x.
    #[test]
    fn sparse_pauli_direction_matches_the_dense_newton_direction() {
        for qubits in [1usize, 2, 3] {
            let set = builtin_set("pauli", Some(qubits), None).expect("pauli");
            let view = set.view();
            let d = view.dim();
            let n = d * d;
            let Some(rows) = view.dense_mle_rows() else {
                // Product sets (no dense rows) never reach the dense polish.
                continue;
            };
            let mut sparse = PauliHessian::new(d, rows).expect("Pauli rows are sparse");
            let m = rows.len() / n;
            let weights: Vec<f64> = (0..m).map(|k| 1.0 + (k % 7) as f64 * 0.37).collect();
            let grad: Vec<f64> = (0..n)
                .map(|i| ((i * 13 + 5) % 11) as f64 * 0.1 - 0.5)
                .collect();
            let mut dir = vec![0.0; n];
            let (decrement, _) = sparse
                .direction(&weights, &grad, &mut dir)
                .expect("positive definite");
            // Dense: [H c; cᵀ 0][Δ; ν] = [−g; 0].
            let mut h = vec![0.0; n * n];
            RowHessian::new(rows, n).lower(&weights, &mut h);
            let full: Vec<f64> = (0..n * n)
                .map(|e| {
                    let (i, j) = (e / n, e % n);
                    h[i.max(j) * n + i.min(j)]
                })
                .collect();
            let mut chol = h.clone();
            assert!(cholesky_in_place(&mut chol, n));
            let mut hg = grad.clone();
            cholesky_solve(&chol, n, &mut hg);
            let mut hc: Vec<f64> = (0..n).map(|i| if i < d { 1.0 } else { 0.0 }).collect();
            cholesky_solve(&chol, n, &mut hc);
            let nu = -hg[..d].iter().sum::<f64>() / hc[..d].iter().sum::<f64>();
            let dense: Vec<f64> = (0..n).map(|i| -(hg[i] + nu * hc[i])).collect();
            let scale = dense.iter().map(|v| v.abs()).fold(0.0, f64::max);
            for i in 0..n {
                assert!(
                    (dir[i] - dense[i]).abs() <= 1e-8 * scale,
                    "{qubits} qubits, coordinate {i}: {} vs {}",
                    dir[i],
                    dense[i]
                );
            }
            let trace: f64 = dir[..d].iter().sum();
            assert!(trace.abs() <= 1e-10 * scale, "trace {trace}");
            let dense_decrement: f64 = -(0..n).map(|i| grad[i] * dense[i]).sum::<f64>();
            assert!((decrement - dense_decrement).abs() <= 1e-8 * dense_decrement.abs());
            // H Δ + g is a multiple of the identity (the multiplier).
            let residual: Vec<f64> = (0..n)
                .map(|i| (0..n).map(|j| full[i * n + j] * dir[j]).sum::<f64>() + grad[i])
                .collect();
            for (i, r) in residual.iter().enumerate().skip(d) {
                assert!(r.abs() <= 1e-8 * (1.0 + scale), "off-diagonal {i}");
            }
        }
    }

    /// QᵀHQ from the rows' Pauli coordinates equals Qᵀ(Σ c_k a_k a_kᵀ)Q
    /// formed in the coordinates of x, for columns that are not trace-free.
    #[test]
    fn face_hessian_matches_the_dense_product() {
        for qubits in [1usize, 2] {
            let set = builtin_set("pauli", Some(qubits), None).expect("pauli");
            let view = set.view();
            let d = view.dim();
            let n = d * d;
            let rows = view.dense_mle_rows().expect("dense rows");
            let mut sparse = PauliHessian::new(d, rows).expect("sparse");
            let m = rows.len() / n;
            let weights: Vec<f64> = (0..m).map(|k| 0.5 + (k % 5) as f64 * 0.61).collect();
            let q = n - 3;
            let columns: Vec<f64> = (0..q * n)
                .map(|e| ((e * 7 + 3) % 13) as f64 * 0.1 - 0.6)
                .collect();
            let mut h = vec![0.0; n * n];
            RowHessian::new(rows, n).lower(&weights, &mut h);
            let full = |i: usize, j: usize| h[i.max(j) * n + i.min(j)];
            let mut out = vec![f64::NAN; q * q];
            sparse.face_hessian(&weights, &columns, q, &mut out);
            for a in 0..q {
                for b in 0..=a {
                    let (ca, cb) = (&columns[a * n..(a + 1) * n], &columns[b * n..(b + 1) * n]);
                    let dense: f64 = (0..n)
                        .map(|i| ca[i] * (0..n).map(|j| full(i, j) * cb[j]).sum::<f64>())
                        .sum();
                    assert!(
                        (out[a * q + b] - dense).abs() <= 1e-10 * (1.0 + dense.abs()),
                        "{qubits} qubits ({a}, {b}): {} vs {dense}",
                        out[a * q + b]
                    );
                }
            }
        }
    }

    #[test]
    fn rows_that_are_not_sparse_or_not_qubits_are_refused() {
        use rand::SeedableRng;
        // Projectors onto Haar-random kets are dense in every fixed basis.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let rows: Vec<f64> = (0..20)
            .flat_map(|_| {
                crate::tomo::states::pure_coords(&crate::tomo::states::haar_pure(4, &mut rng))
            })
            .collect();
        assert!(PauliHessian::new(4, &rows).is_none());
        // A qutrit has no Pauli basis.
        let rows = vec![0.0; 9 * 9];
        assert!(PauliHessian::new(3, &rows).is_none());
    }
}
