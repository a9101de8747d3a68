//! Hermitian eigendecomposition with reused scratch memory, and the
//! projection of a Hermitian matrix onto the density matrices
//! ([`crate::tomo::projection`]) on top of it.
//!
//! At d = 2 the largest eigenvalue and the projection have closed forms
//! ([`crate::tomo::bloch`]). For d ≤ [`SMALL_PATH_MAX_DIM`] (up to two
//! qubits) the decomposition is the cyclic Jacobi method of [`crate::tomo::jacobi`], started from V = I
//! at every call (so a result never depends on earlier calls): at these
//! sizes it is faster than a general solver, whose Householder set-up
//! dominates. Above that it is faer's `self_adjoint_evd` with a
//! [`MemBuffer`] allocated once per workspace, so repeated calls allocate
//! nothing. It runs sequentially (`Par::Seq`) unless the caller is inside
//! [`Threads::install`](crate::tomo::parallel::Threads::install) with
//! several threads and d ≥ [`MIN_PARALLEL_DIM`](crate::tomo::parallel::MIN_PARALLEL_DIM)
//! ([`parallel::par_for`]); the scratch is sized for the parallelism in
//! use (faer's requirement depends on it) and resized once if that changes.

use crate::tomo::TomoError;
use crate::tomo::bloch;
use crate::tomo::hermitian;
use crate::tomo::jacobi::{self, WarmJacobi};
use crate::tomo::parallel;
use crate::tomo::projection::assemble_projection;
use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self, ComputeEigenvectors};
use faer::{Mat, Par, c64};

/// Largest d decomposed by cold-started Jacobi. Measured on PLS (one
/// decomposition per sample, criterion medians in one run): d = 2
/// 0.44 → 0.19 µs, d = 4 2.41 → 1.93 µs, but d = 8 12.3 → 18.0 µs, where
/// Jacobi's sweeps from V = I cost more than faer's tridiagonal QR.
pub const SMALL_PATH_MAX_DIM: usize = 4;

/// Scratch space for repeated eigendecompositions of d×d Hermitian matrices.
pub struct EigenWorkspace {
    d: usize,
    h: Mat<c64>,
    u: Mat<c64>,
    s: Diag<c64>,
    mem_vectors: MemBuffer,
    mem_values: MemBuffer,
    /// The parallelism the two buffers are sized for.
    mem_par: Par,
    /// Eigenvalues of the last decomposition, nondecreasing.
    values: Vec<f64>,
    sorted: Vec<f64>,
    small: Option<SmallSolver>,
}

/// The Jacobi path for small d.
struct SmallSolver {
    jacobi: WarmJacobi,
    /// Coordinates of a matrix given as a matrix.
    coords: Vec<f64>,
    /// Scratch for sorting the eigenpairs.
    order: Vec<usize>,
    /// Start each decomposition from the last one's eigenvectors (see
    /// [`EigenWorkspace::warm`]) rather than from V = I.
    warm: bool,
}

impl SmallSolver {
    /// Decomposes `x` (or, when `None`, `self.coords`) from a fresh start
    /// V = I, writing the eigenvalues in nondecreasing order into `values`
    /// and, if asked, the matching eigenvectors into the columns of `u`.
    fn solve(
        &mut self,
        x: Option<&[f64]>,
        with_vectors: bool,
        values: &mut [f64],
        u: &mut Mat<c64>,
    ) -> Result<(), TomoError> {
        let Self {
            jacobi,
            coords,
            order,
            warm,
        } = self;
        if !*warm {
            jacobi.reset();
        }
        jacobi.decompose_coords(x.unwrap_or(coords))?;
        let found = jacobi.values();
        // From the identity permutation with a stable sort, so ties are
        // ordered the same way whatever was decomposed before.
        for (i, o) in order.iter_mut().enumerate() {
            *o = i;
        }
        order.sort_by(|&a, &b| found[a].total_cmp(&found[b]));
        for (i, &k) in order.iter().enumerate() {
            values[i] = found[k];
        }
        if with_vectors {
            let d = values.len();
            let v = jacobi.vectors();
            for (i, &k) in order.iter().enumerate() {
                u.col_as_slice_mut(i)
                    .copy_from_slice(&v[k * d..(k + 1) * d]);
            }
        }
        Ok(())
    }
}

impl EigenWorkspace {
    /// Allocates a workspace for d×d matrices.
    pub fn new(d: usize) -> Self {
        let mut ws = Self::general(d);
        if (1..=SMALL_PATH_MAX_DIM).contains(&d) {
            ws.small = Some(SmallSolver {
                jacobi: WarmJacobi::new(d),
                coords: vec![0.0; d * d],
                order: (0..d).collect(),
                warm: false,
            });
        }
        ws
    }

    /// A workspace for a sequence of nearby matrices (e.g. the same metric
    /// of successive bootstrap replicates): up to d = [`jacobi::MAX_DIM`]
    /// each decomposition is Jacobi started from the eigenvectors of the
    /// one before, which takes one or two sweeps instead of five or more.
    /// Results then depend on the earlier calls at the rounding level:
    /// call [`Self::reset`] where a sequence must be reproducible on its
    /// own.
    pub fn warm(d: usize) -> Self {
        let mut ws = Self::general(d);
        if (1..=jacobi::MAX_DIM).contains(&d) {
            ws.small = Some(SmallSolver {
                jacobi: WarmJacobi::new(d),
                coords: vec![0.0; d * d],
                order: (0..d).collect(),
                warm: true,
            });
        }
        ws
    }

    /// Forgets the warm start of a [`Self::warm`] workspace (no effect on
    /// others).
    pub fn reset(&mut self) {
        if let Some(small) = &mut self.small {
            small.jacobi.reset();
        }
    }

    /// A workspace that always uses faer's general solver, whatever d (to
    /// cross-check the small-d path).
    pub fn general(d: usize) -> Self {
        let par = Par::Seq;
        let (mem_vectors, mem_values) = scratch(d, par);
        Self {
            d,
            h: Mat::zeros(d, d),
            u: Mat::zeros(d, d),
            s: Diag::zeros(d),
            mem_vectors,
            mem_values,
            mem_par: par,
            values: vec![0.0; d],
            sorted: vec![0.0; d],
            small: None,
        }
    }

    /// Dimension d of the matrices this workspace handles.
    pub fn dim(&self) -> usize {
        self.d
    }

    /// Eigenvalues (nondecreasing) of the Hermitian matrix with coordinates `x`.
    pub fn eigenvalues(&mut self, x: &[f64]) -> Result<&[f64], TomoError> {
        self.decompose_x(x, ComputeEigenvectors::No)?;
        Ok(&self.values)
    }

    /// Largest eigenvalue of the Hermitian matrix with coordinates `x` (in
    /// closed form at d = 2, see [`bloch`]).
    pub fn max_eigenvalue(&mut self, x: &[f64]) -> Result<f64, TomoError> {
        if self.d == 2 && self.small.is_some() {
            return bloch::max_eigenvalue(x);
        }
        let v = self.eigenvalues(x)?;
        Ok(v[v.len() - 1])
    }

    /// Full decomposition of the matrix with coordinates `x`; returns the
    /// eigenvalues (nondecreasing) and the eigenvectors as columns.
    pub fn decompose_coords(&mut self, x: &[f64]) -> Result<(&[f64], &Mat<c64>), TomoError> {
        self.decompose_x(x, ComputeEigenvectors::Yes)?;
        Ok((&self.values, &self.u))
    }

    /// Full decomposition of a Hermitian matrix given as a matrix.
    pub fn decompose_matrix(
        &mut self,
        h: faer::MatRef<'_, c64>,
    ) -> Result<(&[f64], &Mat<c64>), TomoError> {
        if let Some(small) = &mut self.small {
            hermitian::to_coords(h, &mut small.coords);
            small.solve(None, true, &mut self.values, &mut self.u)?;
        } else {
            self.h.copy_from(h);
            self.decompose(ComputeEigenvectors::Yes)?;
        }
        Ok((&self.values, &self.u))
    }

    /// Decomposes the matrix with coordinates `x` on whichever path this
    /// workspace uses.
    fn decompose_x(&mut self, x: &[f64], vectors: ComputeEigenvectors) -> Result<(), TomoError> {
        if let Some(small) = &mut self.small {
            let with_vectors = matches!(vectors, ComputeEigenvectors::Yes);
            small.solve(Some(x), with_vectors, &mut self.values, &mut self.u)
        } else {
            hermitian::from_coords(x, self.h.as_mut());
            self.decompose(vectors)
        }
    }

    fn decompose(&mut self, vectors: ComputeEigenvectors) -> Result<(), TomoError> {
        let par = parallel::par_for(self.d);
        if par != self.mem_par {
            (self.mem_vectors, self.mem_values) = scratch(self.d, par);
            self.mem_par = par;
        }
        let (u, mem) = match vectors {
            ComputeEigenvectors::Yes => (Some(self.u.as_mut()), &mut self.mem_vectors),
            ComputeEigenvectors::No => (None, &mut self.mem_values),
        };
        evd::self_adjoint_evd(
            self.h.as_ref(),
            self.s.as_mut(),
            u,
            par,
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
    /// In closed form at d = 2 ([`bloch`]), where no eigenvector is needed.
    pub fn project_to_states(
        &mut self,
        x: &[f64],
        trace: f64,
        out: &mut [f64],
    ) -> Result<usize, TomoError> {
        if self.d == 2 && self.small.is_some() {
            return bloch::project_to_states(x, trace, out);
        }
        self.decompose_x(x, ComputeEigenvectors::Yes)?;
        let u = &self.u;
        Ok(assemble_projection(
            &self.values,
            &mut self.sorted,
            trace,
            |i| u.col_as_slice(i),
            out,
        ))
    }
}

/// Scratch for decompositions of d×d matrices with parallelism `par`: with
/// eigenvectors, and of the eigenvalues alone.
fn scratch(d: usize, par: Par) -> (MemBuffer, MemBuffer) {
    let req = |vectors| evd::self_adjoint_evd_scratch::<c64>(d, vectors, par, Default::default());
    (
        MemBuffer::new(req(ComputeEigenvectors::Yes)),
        MemBuffer::new(req(ComputeEigenvectors::No)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn small_path_agrees_with_the_general_solver(
            d in 1usize..10,
            raw in proptest::collection::vec(-2.0f64..2.0, 81),
        ) {
            let x = &raw[..d * d];
            let mut small = EigenWorkspace::new(d);
            let mut general = EigenWorkspace::general(d);
            prop_assert_eq!(small.small.is_some(), d <= SMALL_PATH_MAX_DIM);
            let want = general.eigenvalues(x).unwrap().to_vec();
            let got = small.eigenvalues(x).unwrap().to_vec();
            for (a, b) in got.iter().zip(&want) {
                prop_assert!((a - b).abs() < 1e-12, "{a} vs {b}");
            }
            // Through a matrix too, and the eigenvectors rebuild it.
            let h = hermitian::matrix_from_coords(x);
            let (vals, vecs) = small.decompose_matrix(h.as_ref()).unwrap();
            let mut rebuilt = vec![0.0; d * d];
            for (i, &l) in vals.iter().enumerate() {
                hermitian::accumulate_outer(l, vecs.col_as_slice(i), &mut rebuilt);
            }
            for (a, b) in rebuilt.iter().zip(x) {
                prop_assert!((a - b).abs() < 1e-12);
            }
            let (mut p1, mut p2) = (vec![0.0; d * d], vec![0.0; d * d]);
            small.project_to_states(x, 1.0, &mut p1).unwrap();
            general.project_to_states(x, 1.0, &mut p2).unwrap();
            for (a, b) in p1.iter().zip(&p2) {
                prop_assert!((a - b).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn small_path_results_do_not_depend_on_earlier_calls() {
        // Ties (a degenerate spectrum) are where history could leak in.
        let d = 4;
        let degenerate: Vec<f64> = (0..d * d)
            .map(|i| {
                if i < d {
                    0.25
                } else if i == d {
                    0.1
                } else {
                    0.0
                }
            })
            .collect();
        let other: Vec<f64> = (0..d * d).map(|i| (i as f64 * 0.37).sin()).collect();
        let mut fresh = EigenWorkspace::new(d);
        let mut used = EigenWorkspace::new(d);
        used.project_to_states(&other, 1.0, &mut vec![0.0; d * d])
            .unwrap();
        let (mut a, mut b) = (vec![0.0; d * d], vec![0.0; d * d]);
        fresh.project_to_states(&degenerate, 1.0, &mut a).unwrap();
        used.project_to_states(&degenerate, 1.0, &mut b).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn threads_give_the_sequential_decomposition_to_rounding() {
        use crate::tomo::parallel::{MIN_PARALLEL_DIM, Threads};
        let d = 2 * MIN_PARALLEL_DIM;
        let x: Vec<f64> = (0..d * d).map(|i| (i as f64 * 0.37).sin()).collect();
        let mut seq = EigenWorkspace::new(d);
        let (mut want, mut got) = (vec![0.0; d * d], vec![0.0; d * d]);
        seq.project_to_states(&x, 1.0, &mut want).unwrap();
        let values = seq.eigenvalues(&x).unwrap().to_vec();
        // One workspace used both ways: its scratch follows the parallelism.
        let threads = Threads::new(std::num::NonZeroUsize::new(2).unwrap()).unwrap();
        let par_values = threads.install(|| {
            seq.project_to_states(&x, 1.0, &mut got).unwrap();
            seq.eigenvalues(&x).unwrap().to_vec()
        });
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        for (a, b) in par_values.iter().zip(&values) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        seq.project_to_states(&x, 1.0, &mut got).unwrap();
        assert_eq!(got, want, "back to the sequential path");
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
