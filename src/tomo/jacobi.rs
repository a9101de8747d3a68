//! Warm-started cyclic Jacobi eigensolver for small Hermitian matrices.
//!
//! Follows the cyclic Jacobi method for Hermitian matrices of G. E. Forsythe
//! and P. Henrici, "The cyclic Jacobi method for computing the principal
//! values of a complex matrix", Trans. AMS 94, 1–23 (1960), in the form of
//! G. H. Golub and C. F. Van Loan, *Matrix Computations*, 4th ed., §8.5.
//!
//! The MLE iteration projects a slowly changing sequence of matrices
//! H₁, H₂, … onto the states, and asks for λ_max of a slowly changing
//! gradient. A solver that keeps the last eigenvectors V starts each
//! decomposition from B = V^† H V, which is already nearly diagonal, so
//! Jacobi's quadratic convergence finishes in one or two sweeps. For the
//! 4×4 matrices of two-qubit tomography that is several times cheaper than a
//! general Householder-tridiagonal-QR solver, whose fixed cost dominates at
//! this size.
//!
//! One rotation annihilates b_pq = r e^{iφ} with the unitary
//! $$ U = \begin{pmatrix} c & s \\ -s e^{-iφ} & c e^{-iφ} \end{pmatrix},\quad
//!    τ = \frac{b_{qq} - b_{pp}}{2r},\ t = \frac{\operatorname{sign} τ}{|τ| + \sqrt{1+τ^2}},\
//!    c = \frac{1}{\sqrt{1+t^2}},\ s = tc, $$
//! applied as B ← U^† B U, V ← V U. Sweeps stop when the off-diagonal
//! Frobenius norm is below 4dε‖B‖_F; it bounds both the eigenvalue error
//! (Weyl) and the error of any 1-Lipschitz spectral map such as the
//! projection onto the states.
//!
//! The result depends on the starting V, so callers that need bit-identical
//! results for a sample regardless of what was computed before call
//! [`WarmJacobi::reset`] at the start of each sample.

use crate::tomo::TomoError;
use crate::tomo::bloch;
use crate::tomo::projection::assemble_projection;
use faer::c64;

/// Largest dimension the solver handles. Above it a general solver is faster
/// (and the per-dimension kernels below would bloat the binary).
pub const MAX_DIM: usize = 8;

/// Sweeps after which the solver gives up (never reached in practice:
/// a cold start needs 5–8).
const MAX_SWEEPS: usize = 40;

/// Re-orthonormalise the kept eigenvectors after this many decompositions,
/// so rounding in the accumulated rotations cannot build up.
const REORTHONORMALISE_EVERY: u32 = 64;

const ZERO: c64 = c64::new(0.0, 0.0);

/// Eigendecomposition of small Hermitian matrices (d ≤ [`MAX_DIM`]),
/// warm-started from the eigenvectors of the previous call.
pub struct WarmJacobi {
    d: usize,
    /// Eigenvectors as columns, column-major d×d; unitary.
    v: Vec<c64>,
    /// Eigenvalues of the last decomposition, in the order of the columns of v.
    values: Vec<f64>,
    calls: u32,
}

impl WarmJacobi {
    /// A solver for d×d matrices, starting from V = I.
    ///
    /// # Panics
    /// When d is 0 or above [`MAX_DIM`].
    #[track_caller]
    pub fn new(d: usize) -> Self {
        assert!(
            (1..=MAX_DIM).contains(&d),
            "WarmJacobi handles 1 ≤ d ≤ {MAX_DIM}, got {d}"
        );
        let mut s = Self {
            d,
            v: vec![ZERO; d * d],
            values: vec![0.0; d],
            calls: 0,
        };
        s.reset();
        s
    }

    /// Forgets the kept eigenvectors (V = I), so the next decomposition does
    /// not depend on earlier ones.
    pub fn reset(&mut self) {
        let d = self.d;
        self.v.fill(ZERO);
        for j in 0..d {
            self.v[j + j * d] = c64::new(1.0, 0.0);
        }
        self.calls = 0;
    }

    /// Eigenvalues of the last decomposition, in the order of the columns of
    /// the kept eigenvectors (not sorted).
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Eigenvectors of the last decomposition as the columns of a
    /// column-major d×d array, in the order of [`Self::values`].
    pub fn vectors(&self) -> &[c64] {
        &self.v
    }

    /// Decomposes the Hermitian matrix with coordinates `x`. Returns the
    /// Frobenius norm of what was left off the diagonal,
    /// which bounds the error of every eigenvalue.
    #[track_caller]
    pub fn decompose_coords(&mut self, x: &[f64]) -> Result<f64, TomoError> {
        assert_eq!(x.len(), self.d * self.d, "coordinate length");
        if x.iter().any(|v| !v.is_finite()) {
            return Err(TomoError::EigenNoConvergence);
        }
        self.calls += 1;
        let start = if self.calls == 1 {
            // Nothing decomposed since `reset`: V = I.
            Start::Identity
        } else if self.calls.is_multiple_of(REORTHONORMALISE_EVERY) {
            Start::Reorthonormalised
        } else {
            Start::Kept
        };
        let (v, values) = (&mut self.v[..], &mut self.values[..]);
        // One monomorphised kernel per dimension, so every loop is unrolled
        // over stack arrays.
        match self.d {
            1 => kernel::<1>(x, v, values, start),
            2 => kernel::<2>(x, v, values, start),
            3 => kernel::<3>(x, v, values, start),
            4 => kernel::<4>(x, v, values, start),
            5 => kernel::<5>(x, v, values, start),
            6 => kernel::<6>(x, v, values, start),
            7 => kernel::<7>(x, v, values, start),
            _ => kernel::<8>(x, v, values, start),
        }
    }

    /// Largest eigenvalue of the matrix with coordinates `x`, accurate to
    /// the stopping threshold 4dε‖H‖_F (the rounding level of any solver);
    /// in closed form at d = 2 ([`bloch`]).
    pub fn max_eigenvalue(&mut self, x: &[f64]) -> Result<f64, TomoError> {
        if self.d == 2 {
            return bloch::max_eigenvalue(x);
        }
        self.decompose_coords(x)?;
        Ok(self
            .values
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max))
    }

    /// Projects the matrix with coordinates `x` onto the density matrices
    /// with trace `trace` (as [`crate::tomo::EigenWorkspace::project_to_states`]),
    /// writing coordinates into `out`. `sorted` (length d) is scratch. In
    /// closed form at d = 2 ([`bloch`]).
    pub fn project_to_states(
        &mut self,
        x: &[f64],
        trace: f64,
        sorted: &mut [f64],
        out: &mut [f64],
    ) -> Result<usize, TomoError> {
        let d = self.d;
        if d == 2 {
            return bloch::project_to_states(x, trace, out);
        }
        self.decompose_coords(x)?;
        let v = &self.v;
        Ok(assemble_projection(
            &self.values,
            sorted,
            trace,
            |i| &v[i * d..(i + 1) * d],
            out,
        ))
    }
}

/// Where a decomposition starts from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// V = I (just reset): B = H, no transform needed.
    Identity,
    /// The kept V.
    Kept,
    /// The kept V, re-orthonormalised first.
    Reorthonormalised,
}

/// A d×d complex matrix as D columns of D entries: `m[col][row]`.
type Square<const D: usize> = [[c64; D]; D];

/// Decomposes the matrix with coordinates `x` starting from the unitary `v`
/// (column-major), overwriting `v` with the eigenvectors and `values` with
/// the eigenvalues. Returns the off-diagonal Frobenius norm left over.
// Index loops over rows and columns read like the formulas they implement.
#[allow(clippy::needless_range_loop)]
fn kernel<const D: usize>(
    x: &[f64],
    v_io: &mut [c64],
    values: &mut [f64],
    start: Start,
) -> Result<f64, TomoError> {
    let mut h: Square<D> = [[ZERO; D]; D];
    let half = std::f64::consts::FRAC_1_SQRT_2;
    for j in 0..D {
        h[j][j] = c64::new(x[j], 0.0);
    }
    let mut p = D;
    for j in 0..D {
        for k in (j + 1)..D {
            let e = c64::new(half * x[p], half * x[p + 1]);
            // H[j, k] = e sits in column k, row j.
            h[k][j] = e;
            h[j][k] = e.conj();
            p += 2;
        }
    }
    let mut v: Square<D> = [[ZERO; D]; D];
    let mut b: Square<D> = [[ZERO; D]; D];
    if start == Start::Identity {
        for (j, col) in v.iter_mut().enumerate() {
            col[j] = c64::new(1.0, 0.0);
        }
        b = h;
    } else {
        for (j, col) in v.iter_mut().enumerate() {
            col.copy_from_slice(&v_io[j * D..(j + 1) * D]);
        }
        if start == Start::Reorthonormalised {
            modified_gram_schmidt(&mut v);
        }
        // B = V^† H V: first HV column by column, then the upper triangle
        // of V^† (HV), mirrored.
        let mut hv: Square<D> = [[ZERO; D]; D];
        for j in 0..D {
            for k in 0..D {
                let vkj = v[j][k];
                for i in 0..D {
                    hv[j][i] += h[k][i] * vkj;
                }
            }
        }
        for j in 0..D {
            for i in 0..=j {
                let mut acc = ZERO;
                for k in 0..D {
                    acc += v[i][k].conj() * hv[j][k];
                }
                if i == j {
                    b[j][j] = c64::new(acc.re, 0.0);
                } else {
                    b[j][i] = acc;
                    b[i][j] = acc.conj();
                }
            }
        }
    }
    let scale2: f64 = b.iter().flatten().map(|z| z.norm_sqr()).sum();
    let tol = 4.0 * D as f64 * f64::EPSILON;
    let tol2 = tol * tol * scale2;
    // A rotation whose entry is this small cannot matter: even all of them
    // together stay under the stopping threshold.
    let negligible2 = tol2 / (D * D) as f64;
    let mut off2 = off_diagonal_sq(&b);
    let mut sweeps = 0;
    while off2 > tol2 {
        if sweeps == MAX_SWEEPS {
            return Err(TomoError::EigenNoConvergence);
        }
        sweeps += 1;
        for p in 0..D {
            for q in (p + 1)..D {
                if b[q][p].norm_sqr() > negligible2 {
                    rotate(&mut b, &mut v, p, q);
                }
            }
        }
        off2 = off_diagonal_sq(&b);
    }
    for (j, col) in v.iter().enumerate() {
        v_io[j * D..(j + 1) * D].copy_from_slice(col);
        values[j] = b[j][j].re;
    }
    Ok(off2.sqrt())
}

/// Σ_{i≠j} |b_ij|².
#[inline]
fn off_diagonal_sq<const D: usize>(b: &Square<D>) -> f64 {
    let mut off = 0.0;
    for (j, col) in b.iter().enumerate() {
        for z in &col[..j] {
            off += z.norm_sqr();
        }
    }
    2.0 * off
}

/// One Jacobi rotation annihilating b_pq (p < q): B ← U^† B U, V ← V U.
#[inline]
#[allow(clippy::needless_range_loop)]
fn rotate<const D: usize>(b: &mut Square<D>, v: &mut Square<D>, p: usize, q: usize) {
    let bpq = b[q][p];
    let r = bpq.norm_sqr().sqrt();
    let app = b[p][p].re;
    let aqq = b[q][q].re;
    let tau = (aqq - app) / (2.0 * r);
    let t = if tau >= 0.0 {
        1.0 / (tau + (1.0 + tau * tau).sqrt())
    } else {
        -1.0 / (-tau + (1.0 + tau * tau).sqrt())
    };
    let c = 1.0 / (1.0 + t * t).sqrt();
    let s = t * c;
    // ē = conj(b_pq)/r; U = [[c, s], [−s ē, c ē]].
    let ec = bpq.conj() / r;
    let (sec, cec) = (ec * s, ec * c);
    // Columns p, q of B U for the rows k ∉ {p, q}; B is Hermitian, so rows
    // p, q of U^† B U are their conjugates.
    for k in 0..D {
        if k == p || k == q {
            continue;
        }
        let x = b[p][k];
        let y = b[q][k];
        let np = x * c - y * sec;
        let nq = x * s + y * cec;
        b[p][k] = np;
        b[q][k] = nq;
        b[k][p] = np.conj();
        b[k][q] = nq.conj();
    }
    b[p][p] = c64::new(app - t * r, 0.0);
    b[q][q] = c64::new(aqq + t * r, 0.0);
    b[q][p] = ZERO;
    b[p][q] = ZERO;
    let (vp, vq) = (v[p], v[q]);
    for k in 0..D {
        v[p][k] = vp[k] * c - vq[k] * sec;
        v[q][k] = vp[k] * s + vq[k] * cec;
    }
}

/// Modified Gram–Schmidt on the columns of `v`.
#[allow(clippy::needless_range_loop)]
fn modified_gram_schmidt<const D: usize>(v: &mut Square<D>) {
    for j in 0..D {
        for i in 0..j {
            let mut dot = ZERO;
            for k in 0..D {
                dot += v[i][k].conj() * v[j][k];
            }
            let vi = v[i];
            for k in 0..D {
                v[j][k] -= vi[k] * dot;
            }
        }
        let norm = v[j].iter().map(|z| z.norm_sqr()).sum::<f64>().sqrt();
        for z in v[j].iter_mut() {
            *z /= norm;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tomo::EigenWorkspace;
    use crate::tomo::hermitian;
    use proptest::prelude::*;

    fn coords_strategy(d: usize) -> impl Strategy<Value = Vec<f64>> {
        proptest::collection::vec(-2.0f64..2.0, d * d)
    }

    /// ‖V diag(λ) V^† − H‖_F and ‖V^† V − I‖_F for the last decomposition.
    fn residuals(j: &WarmJacobi, x: &[f64]) -> (f64, f64) {
        let d = j.values.len();
        let mut rebuilt = vec![0.0; d * d];
        for i in 0..d {
            hermitian::accumulate_outer(j.values[i], &j.v[i * d..(i + 1) * d], &mut rebuilt);
        }
        let res: f64 = rebuilt
            .iter()
            .zip(x)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt();
        let mut orth = 0.0;
        for a in 0..d {
            for b in 0..d {
                let mut dot = c64::new(0.0, 0.0);
                for k in 0..d {
                    dot += j.v[k + a * d].conj() * j.v[k + b * d];
                }
                let want = if a == b { 1.0 } else { 0.0 };
                orth += (dot - c64::new(want, 0.0)).norm_sqr();
            }
        }
        (res, orth.sqrt())
    }

    proptest! {
        #[test]
        fn matches_faer_from_any_start(
            d in 2usize..9,
            seed_a in proptest::collection::vec(-2.0f64..2.0, 64),
            seed_b in proptest::collection::vec(-2.0f64..2.0, 64),
        ) {
            let (a, b) = (&seed_a[..d * d], &seed_b[..d * d]);
            let mut jac = WarmJacobi::new(d);
            let mut faer_ws = EigenWorkspace::general(d);
            // Cold, then warm from an unrelated matrix, then warm from a nearby one.
            let nearby: Vec<f64> = a.iter().zip(b).map(|(x, y)| x + 1e-3 * y).collect();
            for x in [a, b, &nearby[..]] {
                let off = jac.decompose_coords(x).unwrap();
                prop_assert!(off <= 1e-13);
                let mut mine = jac.values().to_vec();
                mine.sort_by(f64::total_cmp);
                let want = faer_ws.eigenvalues(x).unwrap();
                for (m, w) in mine.iter().zip(want) {
                    prop_assert!((m - w).abs() < 1e-12, "{m} vs {w}");
                }
                let (res, orth) = residuals(&jac, x);
                prop_assert!(res < 1e-12 && orth < 1e-13, "res {res} orth {orth}");
            }
        }

        #[test]
        fn projection_matches_faer(x in coords_strategy(4)) {
            let mut jac = WarmJacobi::new(4);
            let mut faer_ws = EigenWorkspace::general(4);
            let (mut mine, mut want, mut sorted) = (vec![0.0; 16], vec![0.0; 16], vec![0.0; 4]);
            let r1 = jac.project_to_states(&x, 1.0, &mut sorted, &mut mine).unwrap();
            let r2 = faer_ws.project_to_states(&x, 1.0, &mut want).unwrap();
            prop_assert_eq!(r1, r2);
            for (a, b) in mine.iter().zip(&want) {
                prop_assert!((a - b).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn degenerate_and_zero_matrices() {
        let d = 4;
        let mut jac = WarmJacobi::new(d);
        for x in [
            hermitian::identity_coords(d, 1.0),
            vec![0.0; d * d],
            hermitian::identity_coords(d, 1e-300),
        ] {
            jac.decompose_coords(&x).unwrap();
            let (res, orth) = residuals(&jac, &x);
            assert!(res < 1e-14 && orth < 1e-14);
        }
    }

    #[test]
    fn non_finite_input_is_an_error() {
        let mut jac = WarmJacobi::new(2);
        let x = [1.0, f64::NAN, 0.0, 0.0];
        assert_eq!(jac.decompose_coords(&x), Err(TomoError::EigenNoConvergence));
    }

    #[test]
    fn long_warm_sequences_stay_unitary() {
        // A slowly rotating sequence, as in an MLE run, over many
        // re-orthonormalisation periods.
        let d = 4;
        let mut jac = WarmJacobi::new(d);
        let mut x: Vec<f64> = (0..d * d).map(|i| ((i * 7 % 11) as f64) / 11.0).collect();
        for step in 0..5000 {
            x[(step * 5) % (d * d)] += 1e-4 * ((step % 3) as f64 - 1.0);
            jac.decompose_coords(&x).unwrap();
        }
        let (res, orth) = residuals(&jac, &x);
        assert!(res < 1e-12 && orth < 1e-13, "res {res} orth {orth}");
    }
}
