//! Hermitian eigendecomposition with reused scratch memory, and the
//! projection of a Hermitian matrix onto the density matrices.
//!
//! The projection follows Smolin, Gambetta and Smith, "Efficient method for
//! computing the maximum-likelihood quantum state from measurements with
//! additive Gaussian noise", PRL 108, 070502 (2012): diagonalise
//! H = V diag(μ) V^†, replace μ by its Euclidean projection λ onto the
//! probability simplex {λ ≥ 0, Σλ = 1}, and return V diag(λ) V^†. This is the
//! nearest density matrix to H in Frobenius norm.
//!
//! The decomposition itself is faer's `self_adjoint_evd`, called
//! sequentially (`Par::Seq`) with a [`MemBuffer`] allocated once per
//! workspace, so repeated calls allocate nothing.

use crate::tomo::TomoError;
use crate::tomo::hermitian;
use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self, ComputeEigenvectors};
use faer::{Mat, Par, c64};

/// Scratch space for repeated eigendecompositions of d×d Hermitian matrices.
pub struct EigenWorkspace {
    d: usize,
    h: Mat<c64>,
    u: Mat<c64>,
    s: Diag<c64>,
    mem_vectors: MemBuffer,
    mem_values: MemBuffer,
    /// Eigenvalues of the last decomposition, nondecreasing.
    values: Vec<f64>,
    sorted: Vec<f64>,
}

impl EigenWorkspace {
    /// Allocates a workspace for d×d matrices.
    pub fn new(d: usize) -> Self {
        let req_vec = evd::self_adjoint_evd_scratch::<c64>(
            d,
            ComputeEigenvectors::Yes,
            Par::Seq,
            Default::default(),
        );
        let req_val = evd::self_adjoint_evd_scratch::<c64>(
            d,
            ComputeEigenvectors::No,
            Par::Seq,
            Default::default(),
        );
        Self {
            d,
            h: Mat::zeros(d, d),
            u: Mat::zeros(d, d),
            s: Diag::zeros(d),
            mem_vectors: MemBuffer::new(req_vec),
            mem_values: MemBuffer::new(req_val),
            values: vec![0.0; d],
            sorted: vec![0.0; d],
        }
    }

    /// Dimension d of the matrices this workspace handles.
    pub fn dim(&self) -> usize {
        self.d
    }

    /// Eigenvalues (nondecreasing) of the Hermitian matrix with coordinates `x`.
    pub fn eigenvalues(&mut self, x: &[f64]) -> Result<&[f64], TomoError> {
        hermitian::from_coords(x, self.h.as_mut());
        self.decompose(ComputeEigenvectors::No)?;
        Ok(&self.values)
    }

    /// Largest eigenvalue of the Hermitian matrix with coordinates `x`.
    pub fn max_eigenvalue(&mut self, x: &[f64]) -> Result<f64, TomoError> {
        let v = self.eigenvalues(x)?;
        Ok(v[v.len() - 1])
    }

    /// Full decomposition of the matrix with coordinates `x`; returns the
    /// eigenvalues (nondecreasing) and the eigenvectors as columns.
    pub fn decompose_coords(&mut self, x: &[f64]) -> Result<(&[f64], &Mat<c64>), TomoError> {
        hermitian::from_coords(x, self.h.as_mut());
        self.decompose(ComputeEigenvectors::Yes)?;
        Ok((&self.values, &self.u))
    }

    /// Full decomposition of a Hermitian matrix given as a matrix.
    pub fn decompose_matrix(
        &mut self,
        h: faer::MatRef<'_, c64>,
    ) -> Result<(&[f64], &Mat<c64>), TomoError> {
        self.h.copy_from(h);
        self.decompose(ComputeEigenvectors::Yes)?;
        Ok((&self.values, &self.u))
    }

    fn decompose(&mut self, vectors: ComputeEigenvectors) -> Result<(), TomoError> {
        let (u, mem) = match vectors {
            ComputeEigenvectors::Yes => (Some(self.u.as_mut()), &mut self.mem_vectors),
            ComputeEigenvectors::No => (None, &mut self.mem_values),
        };
        evd::self_adjoint_evd(
            self.h.as_ref(),
            self.s.as_mut(),
            u,
            Par::Seq,
            MemStack::new(mem),
            Default::default(),
        )
        .map_err(|_| TomoError::EigenNoConvergence)?;
        for (i, v) in self.values.iter_mut().enumerate() {
            *v = self.s[i].re;
        }
        if self.values.iter().any(|v| !v.is_finite()) {
            return Err(TomoError::EigenNoConvergence);
        }
        Ok(())
    }

    /// Projects the Hermitian matrix with coordinates `x` onto the density
    /// matrices with trace `trace` (Smolin–Gambetta–Smith), writing the
    /// coordinates of the result into `out`. Returns the rank of the result.
    pub fn project_to_states(
        &mut self,
        x: &[f64],
        trace: f64,
        out: &mut [f64],
    ) -> Result<usize, TomoError> {
        let d = self.d;
        hermitian::from_coords(x, self.h.as_mut());
        self.decompose(ComputeEigenvectors::Yes)?;
        self.sorted.copy_from_slice(&self.values);
        let shift = simplex_shift(&mut self.sorted, trace);
        out.fill(0.0);
        let mut rank = 0;
        for i in 0..d {
            let lambda = self.values[i] - shift;
            if lambda <= 0.0 {
                continue;
            }
            rank += 1;
            hermitian::accumulate_outer(lambda, self.u.col_as_slice(i), out);
        }
        Ok(rank)
    }
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

    #[test]
    fn projection_of_a_state_is_itself() {
        // ρ = diag(0.7, 0.3) rotated: already a state, must be a fixed point.
        let psi = [c64::new(0.6, 0.0), c64::new(0.0, 0.8)];
        let mut x = vec![0.0; 4];
        hermitian::ket_coords(&psi, &mut x);
        let mixed: Vec<f64> = x
            .iter()
            .zip(hermitian::identity_coords(2, 0.5))
            .map(|(a, b)| 0.5 * a + 0.5 * b)
            .collect();
        let mut ws = EigenWorkspace::new(2);
        let mut out = vec![0.0; 4];
        let rank = ws.project_to_states(&mixed, 1.0, &mut out).unwrap();
        assert_eq!(rank, 2);
        for (a, b) in mixed.iter().zip(&out) {
            assert!((a - b).abs() < 1e-14);
        }
    }
}
