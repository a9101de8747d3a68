//! Real orthonormal coordinates for Hermitian matrices.
//!
//! A d×d Hermitian matrix H has d² real degrees of freedom. qtomo stores it as
//! a real vector x ∈ ℝ^{d²} in the orthonormal basis (Hilbert–Schmidt inner
//! product ⟨A, B⟩ = Tr(AB))
//!
//! $$ E_{jj},\quad \tfrac{1}{\sqrt 2}(E_{jk}+E_{kj}),\quad \tfrac{i}{\sqrt 2}(E_{jk}-E_{kj}) \quad (j<k), $$
//!
//! so x = (H₀₀, …, H_{d−1,d−1}, √2 Re H₀₁, √2 Im H₀₁, √2 Re H₀₂, …) and
//! Tr(AB) = x_A · x_B for Hermitian A, B. The projector matrix A of a
//! measurement set is stored in these coordinates (row k = x(Π_k)), which is
//! the real form of row k = vec(Π_k)^† and halves the arithmetic of every
//! product with it.

use faer::{Mat, MatRef, c64};
use std::f64::consts::SQRT_2;

/// `out` ← L·M·R for d×d complex matrices, with `scratch` for L·M;
/// sequential unless the caller asked for threads
/// ([`crate::tomo::parallel::par_for`]: from d = 32 inside
/// [`Threads::install`](crate::tomo::parallel::Threads::install)).
pub fn triple_product<L, R>(
    out: faer::MatMut<'_, c64>,
    scratch: faer::MatMut<'_, c64>,
    left: MatRef<'_, L>,
    middle: MatRef<'_, c64>,
    right: MatRef<'_, R>,
) where
    L: faer::traits::Conjugate<Canonical = c64>,
    R: faer::traits::Conjugate<Canonical = c64>,
{
    use faer::linalg::matmul::matmul;
    let one = c64::new(1.0, 0.0);
    let par = crate::tomo::parallel::par_for(out.nrows());
    let mut scratch = scratch;
    matmul(
        scratch.as_mut(),
        faer::Accum::Replace,
        left,
        middle,
        one,
        par,
    );
    matmul(out, faer::Accum::Replace, scratch.as_ref(), right, one, par);
}

/// Number of real coordinates of a d×d Hermitian matrix, d².
#[inline]
pub fn coord_len(d: usize) -> usize {
    d * d
}

/// Writes the coordinates of the Hermitian matrix `h` (only its lower
/// triangle and diagonal are read) into `x` (length d²).
#[track_caller]
pub fn to_coords(h: MatRef<'_, c64>, x: &mut [f64]) {
    let d = h.nrows();
    assert!(h.ncols() == d && x.len() == d * d, "shape mismatch");
    for j in 0..d {
        x[j] = h[(j, j)].re;
    }
    let mut p = d;
    for j in 0..d {
        for k in (j + 1)..d {
            // H_jk = conj(H_kj); read the lower triangle.
            let v = h[(k, j)].conj();
            x[p] = SQRT_2 * v.re;
            x[p + 1] = SQRT_2 * v.im;
            p += 2;
        }
    }
}

/// Writes the full Hermitian matrix with coordinates `x` into `h`.
#[track_caller]
pub fn from_coords(x: &[f64], mut h: faer::MatMut<'_, c64>) {
    let d = h.nrows();
    assert!(h.ncols() == d && x.len() == d * d, "shape mismatch");
    for j in 0..d {
        h[(j, j)] = c64::new(x[j], 0.0);
    }
    let s = std::f64::consts::FRAC_1_SQRT_2;
    let mut p = d;
    for j in 0..d {
        for k in (j + 1)..d {
            let v = c64::new(s * x[p], s * x[p + 1]);
            h[(j, k)] = v;
            h[(k, j)] = v.conj();
            p += 2;
        }
    }
}

/// True when H − `shift`·I is positive definite, H the Hermitian matrix
/// with coordinates `x`: a Cholesky factorisation in `scratch` (d² entries)
/// that meets no pivot ≤ 0 (nor NaN). Far cheaper than the eigenvalues
/// when only their sign relative to `shift` matters.
pub fn is_positive_definite_above(x: &[f64], shift: f64, scratch: &mut [c64]) -> bool {
    let d = (x.len() as f64).sqrt().round() as usize;
    assert!(d * d == x.len() && scratch.len() >= d * d, "shape mismatch");
    // The lower triangle of H − shift·I, row-major with stride d.
    let s = std::f64::consts::FRAC_1_SQRT_2;
    let mut p = d;
    for j in 0..d {
        scratch[j * d + j] = c64::new(x[j] - shift, 0.0);
        for k in (j + 1)..d {
            scratch[k * d + j] = c64::new(s * x[p], -s * x[p + 1]);
            p += 2;
        }
    }
    // L L^† = H − shift·I, L overwriting the lower triangle.
    for j in 0..d {
        let mut pivot = scratch[j * d + j].re;
        for k in 0..j {
            pivot -= scratch[j * d + k].norm_sqr();
        }
        if pivot.is_nan() || pivot <= 0.0 {
            return false;
        }
        let ljj = pivot.sqrt();
        scratch[j * d + j] = c64::new(ljj, 0.0);
        for i in (j + 1)..d {
            let mut v = scratch[i * d + j];
            for k in 0..j {
                v -= scratch[i * d + k] * scratch[j * d + k].conj();
            }
            scratch[i * d + j] = v * (1.0 / ljj);
        }
    }
    true
}

/// Returns the Hermitian matrix with coordinates `x` as a new matrix.
pub fn matrix_from_coords(x: &[f64]) -> Mat<c64> {
    let d = (x.len() as f64).sqrt().round() as usize;
    let mut h = Mat::zeros(d, d);
    from_coords(x, h.as_mut());
    h
}

/// Returns the coordinates of the Hermitian matrix `h`.
pub fn coords_of(h: MatRef<'_, c64>) -> Vec<f64> {
    let mut x = vec![0.0; h.nrows() * h.nrows()];
    to_coords(h, &mut x);
    x
}

/// Coordinates of the rank-one operator |ψ⟩⟨ψ|, written into `x`.
#[track_caller]
pub fn ket_coords(psi: &[c64], x: &mut [f64]) {
    x.fill(0.0);
    accumulate_outer(1.0, psi, x);
}

/// Adds the coordinates of λ |ψ⟩⟨ψ| to `x`.
#[track_caller]
#[inline]
pub fn accumulate_outer(lambda: f64, psi: &[c64], x: &mut [f64]) {
    let d = psi.len();
    assert!(x.len() == d * d, "shape mismatch");
    for j in 0..d {
        x[j] += lambda * psi[j].norm_sqr();
    }
    let s = lambda * SQRT_2;
    let mut p = d;
    for j in 0..d {
        let pj = psi[j];
        for pk in &psi[j + 1..] {
            let v = pj * pk.conj();
            x[p] += s * v.re;
            x[p + 1] += s * v.im;
            p += 2;
        }
    }
}

/// Trace of the Hermitian matrix with coordinates `x`.
#[inline]
pub fn trace(x: &[f64], d: usize) -> f64 {
    x[..d].iter().sum()
}

/// Coordinates of the identity scaled by `s`.
pub fn identity_coords(d: usize, s: f64) -> Vec<f64> {
    let mut x = vec![0.0; d * d];
    x[..d].fill(s);
    x
}

/// Dot product of two coordinate vectors, i.e. Tr(AB).
///
/// Eight independent partial sums let the compiler vectorise the loop (a
/// single running sum cannot be reordered); this is the inner loop of every
/// product with A, and the MLE's hot path at d ≥ 8.
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;

    fn random_hermitian(d: usize, seed: u64) -> Mat<c64> {
        let mut s = seed;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        };
        let mut a = Mat::<c64>::zeros(d, d);
        for j in 0..d {
            for k in 0..d {
                a[(j, k)] = c64::new(next(), next());
            }
        }
        let mut h = Mat::<c64>::zeros(d, d);
        for j in 0..d {
            for k in 0..d {
                h[(j, k)] = a[(j, k)] + a[(k, j)].conj();
            }
        }
        h
    }

    #[test]
    fn round_trip_and_trace_inner_product() {
        for d in [2, 3, 4, 8] {
            let a = random_hermitian(d, d as u64);
            let b = random_hermitian(d, 100 + d as u64);
            let xa = coords_of(a.as_ref());
            let xb = coords_of(b.as_ref());
            let back = matrix_from_coords(&xa);
            for j in 0..d {
                for k in 0..d {
                    assert!((back[(j, k)] - a[(j, k)]).norm() < 1e-14);
                }
            }
            let ab = &a * &b;
            let tr: c64 = (0..d).map(|j| ab[(j, j)]).sum();
            assert!((tr.re - dot(&xa, &xb)).abs() < 1e-12 * (1.0 + tr.re.abs()));
            assert!((trace(&xa, d) - (0..d).map(|j| a[(j, j)].re).sum::<f64>()).abs() < 1e-14);
        }
    }

    #[test]
    fn ket_coords_match_outer_product() {
        let psi = [c64::new(0.6, 0.0), c64::new(0.0, 0.8), c64::new(0.0, 0.0)];
        let mut x = vec![0.0; 9];
        ket_coords(&psi, &mut x);
        let mut h = Mat::<c64>::zeros(3, 3);
        for j in 0..3 {
            for k in 0..3 {
                h[(j, k)] = psi[j] * psi[k].conj();
            }
        }
        let y = coords_of(h.as_ref());
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b).abs() < 1e-15);
        }
    }

    #[test]
    fn positive_definiteness_above_a_shift_agrees_with_the_eigenvalues() {
        let mut scratch = vec![c64::new(0.0, 0.0); 64];
        let mut decided = 0;
        for d in [2, 3, 4, 8] {
            for seed in 0..50u64 {
                let h = random_hermitian(d, 1000 * d as u64 + seed);
                let values = h.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
                let lowest = values.iter().copied().fold(f64::INFINITY, f64::min);
                let x = coords_of(h.as_ref());
                // Shifts on both sides of the lowest eigenvalue, near and far.
                for shift in [lowest - 0.5, lowest - 1e-6, lowest + 1e-6, lowest + 0.5] {
                    let pd = is_positive_definite_above(&x, shift, &mut scratch);
                    assert_eq!(
                        pd,
                        lowest > shift,
                        "d {d} seed {seed}: λ_min {lowest}, shift {shift}"
                    );
                    decided += 1;
                }
            }
        }
        assert_eq!(decided, 800);
    }
}
