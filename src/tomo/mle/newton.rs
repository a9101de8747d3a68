//! Second-order polish of the MLE: projected Newton steps on the face of the
//! current estimate.
//!
//! First-order methods slow down on near-pure states with many counts:
//! outcomes the state nearly excludes have p_k ≈ 0 and curvature n_k/p_k²,
//! so the condition number of the problem grows with N and projected
//! gradient steps make little progress. Newton's method is indifferent to
//! that conditioning, provided it moves only where the constraints allow.
//!
//! With the current state x = W diag(λ) W^† and Z the eigenvectors whose
//! eigenvalues are zero, a step Δ is restricted to
//! $$ T = \{Δ = Δ^† :\ Z^†ΔZ = 0,\ \operatorname{Tr}Δ = 0\}, $$
//! the block of the support and its cross terms with Z (which rotate the
//! support), never the block that would create eigenvalues inside Z. The
//! Newton direction minimises the quadratic model of f = −L̃ on T,
//! $$ \min_{Δ∈T}\ ⟨g, Δ⟩ + \tfrac12 ⟨Δ, HΔ⟩,\qquad g = -\sum_k \frac{n_k}{p_k}\tilde a_k,\quad H = \sum_k \frac{n_k}{p_k^2}\tilde a_k \tilde a_k^{\mathsf T}, $$
//! (H is the exact Hessian of f), solved through a Cholesky factorisation of H
//! with the trace constraint eliminated by its Lagrange multiplier. The step
//! is x⁺ = P(x + αΔ), P the projection onto the states, with α halved until
//! the Armijo condition holds, so every accepted step increases the
//! likelihood. An eigenvalue the step drives to zero is dropped by P and
//! joins Z at the next step. This is the projected Newton method of D. P.
//! Bertsekas, "Projected Newton methods for optimization problems with
//! simple constraints", SIAM J. Control Optim. 20, 221 (1982), with the
//! active set taken as the null space of x, less the null directions whose
//! gradient exceeds the multiplier (they join the face), less again any of
//! those the Newton direction would empty (the active set is chosen so
//! that the direction is consistent with it).
//!
//! A null direction z joins the face only once the support has settled (a
//! step holding every null direction would gain little), and then first
//! alone, by an exact one-dimensional solve along x → (1 − t)x + t zz^†
//! (the likelihood there is log-barrier-like in t, where Newton steps from
//! t = 0 only about double t each time); the Newton steps on the enlarged
//! face follow.
//!
//! At d ≤ 8 every piece is small: the eigendecompositions are warm-started
//! Jacobi ([`crate::tomo::jacobi`]), the Hessian is formed once per step in
//! the coordinates of x as dot products and brought to the face as QᵀHQ,
//! and the system is solved by a plain Cholesky factorisation. Rows that
//! are sparse in the Pauli basis (Pauli-product measurements) skip the
//! d⁴-entry Hessian: `PauliHessian` (`pauli_hessian.rs`) forms the
//! full-rank system and QᵀHQ from their few Pauli coordinates.
//!
//! The polish never decides convergence: the caller certifies the result
//! (see [`super::certificate`]) and falls back to first-order steps when the
//! face is wrong (an eigenvalue that should leave zero).

use crate::tomo::TomoError;
use crate::tomo::eigen::EigenWorkspace;
use crate::tomo::hermitian;
use crate::tomo::jacobi::WarmJacobi;
use crate::tomo::likelihood::shifted_gradient;
use crate::tomo::mle::hessian::{RowHessian, cholesky_solve, ridged_cholesky_in_place};
use crate::tomo::mle::pauli_hessian::PauliHessian;
use crate::tomo::operator::dense_predict;
use faer::{Mat, Side, c64};
use std::f64::consts::{FRAC_1_SQRT_2, SQRT_2};

/// Eigenvalues of a trace-1 state at or below this are on the face's boundary.
const ZERO_EIGENVALUE: f64 = 1e-13;

/// A trial state whose lowest eigenvalue is at least −this is kept as it is
/// rather than projected (rounding of a rank-deficient state).
const NEGATIVE_ROUNDING: f64 = 1e-14;

/// A null direction joins the face only when the Newton step that holds
/// every null direction at zero has a decrement (about twice its gain) of
/// at most this.
const SETTLE_DECREMENT: f64 = 1.0;

/// Step halvings before a Newton direction is given up.
const LINE_SEARCH_STEPS: u32 = 16;

/// Armijo constant: an accepted step gains at least this fraction of the
/// gain its slope predicts.
const ARMIJO: f64 = 1e-4;

/// Scratch memory for projected Newton steps on d×d states with M outcomes.
pub struct FaceNewton {
    d: usize,
    gamma: f64,
    u: Vec<f64>,
    /// Eigensolver of the iterates and the trial states, warm-started from
    /// one decomposition to the next (an accepted trial is the next
    /// iterate, whose decomposition then costs no sweep); reset at the
    /// start of every sample ([`Self::reset`]), so a result depends on its
    /// sample alone.
    spectral: WarmJacobi,
    order: Vec<usize>,
    sorted: Vec<f64>,
    values: Vec<f64>,
    basis: Mat<c64>,
    row_matrix: Mat<c64>,
    half: Mat<c64>,
    /// Eigensolvers of the null-space blocks, one per size 1..=d.
    null_eigen: Vec<EigenWorkspace>,
    rotated_matrix: Mat<c64>,
    /// The rows, for forming the Hessian.
    row_hessian: RowHessian,
    /// n_k/p_k² of the current state.
    curvature: Vec<f64>,
    /// The Hessian in the coordinates of x (n×n).
    full_hessian: Vec<f64>,
    /// Q (see the step): column c, the coordinates of W E_c W^†, then HQ.
    face_basis: Vec<f64>,
    face_product: Vec<f64>,
    /// The eigenbasis pair (j, k) of each off-diagonal coordinate pair
    /// ([`coordinate_pairs`]).
    pairs: Vec<(usize, usize)>,
    free: Vec<usize>,
    extra: Vec<f64>,
    null_gradient: Vec<f64>,
    w: Vec<f64>,
    grad_full: Vec<f64>,
    g: Vec<f64>,
    c: Vec<f64>,
    /// The q×q Hessian on the free coordinates, row-major with stride q,
    /// overwritten by its Cholesky factor.
    hessian: Vec<f64>,
    /// Newton decrement −⟨g, Δ⟩ of the last step taken (about twice the
    /// gap the step closed).
    last_decrement: f64,
    /// H⁻¹g and H⁻¹c.
    solved_g: Vec<f64>,
    solved_c: Vec<f64>,
    dir: Vec<f64>,
    dx: Vec<f64>,
    moved: Vec<f64>,
    trial: Vec<f64>,
    diff: Vec<f64>,
    dp: Vec<f64>,
    /// Coordinates of zz^† for a joining null direction z, and its
    /// probabilities.
    joining: Vec<f64>,
    joining_p: Vec<f64>,
    /// Scratch of the positive-definiteness tests (d×d).
    cholesky: Vec<c64>,
    /// The Newton system of full-rank states in the Pauli basis, where
    /// Pauli-product rows are sparse; `None` for other rows.
    pauli: Option<PauliHessian>,
}

impl FaceNewton {
    /// Allocates scratch for d×d states (d ≤ [`crate::tomo::jacobi::MAX_DIM`])
    /// and the complete measurement with rows `rows` (M×d²).
    pub fn new(d: usize, rows: &[f64]) -> Self {
        let n = d * d;
        let m = rows.len() / n;
        Self {
            d,
            gamma: crate::tomo::likelihood::identity_multiple(
                &rows
                    .chunks_exact(n)
                    .map(|row| row[..d].iter().sum())
                    .collect::<Vec<f64>>(),
                d,
            ),
            u: vec![0.0; m],
            spectral: WarmJacobi::new(d),
            order: (0..d).collect(),
            sorted: vec![0.0; d],
            values: vec![0.0; d],
            basis: Mat::zeros(d, d),
            row_matrix: Mat::zeros(d, d),
            half: Mat::zeros(d, d),
            null_eigen: (1..=d).map(EigenWorkspace::new).collect(),
            rotated_matrix: Mat::zeros(d, d),
            row_hessian: RowHessian::new(rows, n),
            curvature: vec![0.0; m],
            full_hessian: vec![0.0; n * n],
            face_basis: vec![0.0; n * n],
            face_product: vec![0.0; n * n],
            pairs: coordinate_pairs(d),
            free: Vec::with_capacity(n),
            extra: Vec::with_capacity(n),
            null_gradient: vec![0.0; d],
            w: vec![0.0; m],
            grad_full: vec![0.0; n],
            g: Vec::with_capacity(n),
            c: Vec::with_capacity(n),
            hessian: vec![0.0; n * n],
            last_decrement: f64::INFINITY,
            solved_g: vec![0.0; n],
            solved_c: vec![0.0; n],
            dir: vec![0.0; n],
            dx: vec![0.0; n],
            moved: vec![0.0; n],
            trial: vec![0.0; n],
            diff: vec![0.0; n],
            dp: vec![0.0; m],
            joining: vec![0.0; n],
            joining_p: vec![0.0; m],
            cholesky: vec![c64::new(0.0, 0.0); n],
            pauli: PauliHessian::new(d, rows),
        }
    }

    /// Forgets the warm start of the eigensolver: call at the start of each
    /// sample, so that its result does not depend on the samples before.
    pub fn reset(&mut self) {
        self.spectral.reset();
    }

    /// The Newton decrement of the last step taken (∞ before any): about
    /// twice the likelihood the step gained.
    pub fn last_decrement(&self) -> f64 {
        self.last_decrement
    }

    /// One Newton step from the state `x` (coordinates, trace 1) whose
    /// probabilities `p = rows·x` give every observed outcome a positive
    /// probability; `x` and `p` are updated in place and only ever to a
    /// state of higher likelihood. True when a step was taken; false when
    /// the projected gradient, estimated from the Newton decrement, says the
    /// certificate is about `stop_gap` or less, or when no step along the
    /// direction is accepted. Null-space directions whose gradient exceeds
    /// the multiplier by more than `stop_gap` join the face.
    pub fn step(
        &mut self,
        rows: &[f64],
        counts: &[f64],
        x: &mut [f64],
        p: &mut [f64],
        stop_gap: f64,
    ) -> Result<bool, TomoError> {
        let d = self.d;
        let n = d * d;
        // ∇f = −Σ (n_k/p_k) ã_k for f = −L̃, shifted by the multiple N·γ⁻¹·Σ_k ã_k
        // = N I of the trace functional (which the trace constraint absorbs):
        // −Σ_k u_k ã_k with u_k = n_k/p_k − N/γ small near the optimum.
        let total: f64 = counts.iter().sum();
        shifted_gradient(
            rows,
            counts,
            p,
            total,
            self.gamma,
            &mut self.u,
            &mut self.grad_full,
        );
        self.grad_full.iter_mut().for_each(|g| *g = -*g);
        for ((w, &c), &pk) in self.w.iter_mut().zip(counts).zip(p.iter()) {
            *w = if c > 0.0 { c / pk } else { 0.0 };
        }
        // The face: eigenvectors of x, zero eigenvalues first.
        // A full-rank x (x − εI positive definite, one Cholesky) needs no
        // eigenbasis: its face is every direction.
        let zeros = if hermitian::is_positive_definite_above(x, ZERO_EIGENVALUE, &mut self.cholesky)
        {
            0
        } else {
            self.decompose_sorted(x)?;
            self.values
                .iter()
                .take_while(|&&l| l <= ZERO_EIGENVALUE)
                .count()
        };
        let rotate = zeros > 0;
        // Within the null space Z of x, directions where R = ∇L̃ exceeds
        // the multiplier ν = Tr(xR) gain likelihood by taking weight: they
        // join the face. The others stay at zero; rotating the support
        // towards them costs (ν − μ_i)/λ_s to second order (the curvature of
        // the fixed-rank states), which the Hessian must include.
        let nu = -hermitian::dot(x, &self.grad_full);
        let constrained = if rotate {
            self.align_null_space(zeros, nu, stop_gap)?
        } else {
            0
        };
        // The Hessian of f is H = Σ_k s_k a_k a_kᵀ with s_k = n_k/p_k².
        for (k, s) in self.curvature.iter_mut().enumerate() {
            *s = if counts[k] > 0.0 {
                self.w[k] / p[k]
            } else {
                0.0
            };
        }
        // From a full-rank state with Pauli-product rows, the system is
        // formed and solved in the Pauli basis ([`PauliHessian`]).
        let sparse = match &mut self.pauli {
            Some(pauli) if !rotate => {
                pauli.direction(&self.curvature, &self.grad_full, &mut self.dir)
            }
            _ => None,
        };
        let mut constrained = constrained;
        let (decrement, trace_h, constrained) = if let Some((decrement, trace_h)) = sparse {
            (decrement, trace_h, constrained)
        } else {
            // H in the coordinates of x ([`RowHessian`]): its lower
            // triangle, then mirrored. Not needed on a face when the rows
            // are sparse in the Pauli basis: [`Self::face_direction`] then
            // brings each row to the face itself.
            if !(rotate && self.pauli.is_some()) {
                self.row_hessian
                    .lower(&self.curvature, &mut self.full_hessian);
                for i in 0..n {
                    for j in 0..i {
                        self.full_hessian[j * n + i] = self.full_hessian[i * n + j];
                    }
                }
            }
            // A null direction joins the face only once the support has
            // settled (the Newton step with every null direction held at
            // zero would gain little): joined early, its small eigenvector
            // is frozen where the unsettled support left it (its rotation
            // curvature (ν − μ)/λ is huge) and the steps after crawl. It
            // then enters by a one-dimensional exact solve before any
            // Newton step ([`Self::join`]).
            let mut settling = None;
            if rotate && constrained < zeros {
                match self.face_direction(rotate, zeros, nu) {
                    Some(found) if found.0 > SETTLE_DECREMENT => {
                        settling = Some(found);
                        constrained = zeros;
                    }
                    _ => {
                        if self.join(rows, counts, x, p, zeros - 1) {
                            return Ok(true);
                        }
                    }
                }
            }
            // The Newton direction on the face. A null direction that
            // joined it (its gradient above the multiplier) but whose own
            // weight the direction makes negative does not belong to it:
            // as in projected Newton's choice of the active set (Bertsekas
            // 1982), it is held at zero and the direction solved again.
            // Without this, such steps are cut short by the projection and
            // gain a fraction of their promise, step after step.
            let (decrement, trace_h) = match settling {
                Some(found) => found,
                None => loop {
                    let Some(found) = self.face_direction(rotate, constrained, nu) else {
                        return Ok(false);
                    };
                    match (constrained..zeros).rev().find(|&i| self.dir[i] < 0.0) {
                        Some(i) if rotate => constrained = i + 1,
                        _ => break found,
                    }
                },
            };
            (decrement, trace_h, constrained)
        };
        // On the face the certificate is about the size of the projected
        // gradient, ‖g‖ ≤ √(decrement · λ_max(H)) ≤ √(decrement · Tr H).
        if decrement * trace_h <= stop_gap * stop_gap {
            return Ok(false);
        }
        // The slope along the direction, in the coordinates of x.
        if rotate {
            self.unrotate_step(1.0, 0);
        } else {
            self.dx.copy_from_slice(&self.dir);
        }
        let slope = hermitian::dot(&self.grad_full, &self.dx);
        if slope.is_nan() || slope >= 0.0 {
            return Ok(false);
        }
        // Arc search. The trial state is x plus the step, completed in the
        // null block so that the rank stays exactly (Z-block B M⁻¹ B^† for
        // cross terms B, then divided by the trace; see
        // [`complete_in_null_block`]): added to x, the step perturbs x only
        // by its own rounding. Only when that leaves the
        // states (an eigenvalue driven below zero) is it projected, which
        // rounds every entry of x.
        let mut alpha = 1.0;
        for _ in 0..LINE_SEARCH_STEPS {
            if rotate {
                self.unrotate_step(alpha, constrained);
            } else {
                for (dx, dv) in self.dx.iter_mut().zip(&self.dir) {
                    *dx = alpha * dv;
                }
            }
            for ((m, xv), dv) in self.moved.iter_mut().zip(x.iter()).zip(&self.dx) {
                *m = xv + dv;
            }
            // The trial is a state as it is when its lowest eigenvalue is
            // at least −NEGATIVE_ROUNDING: from a full-rank x one Cholesky
            // tells; from a face (a rank kept exactly) the eigenvalues do.
            let keep = if rotate {
                self.spectral.decompose_coords(&self.moved)?;
                let lowest = self
                    .spectral
                    .values()
                    .iter()
                    .copied()
                    .fold(f64::INFINITY, f64::min);
                lowest >= -NEGATIVE_ROUNDING
            } else if hermitian::is_positive_definite_above(
                &self.moved,
                -NEGATIVE_ROUNDING,
                &mut self.cholesky,
            ) {
                true
            } else {
                self.spectral.decompose_coords(&self.moved)?;
                false
            };
            if keep {
                self.trial.copy_from_slice(&self.moved);
            } else {
                self.spectral.project_to_states(
                    &self.moved,
                    1.0,
                    &mut self.sorted,
                    &mut self.trial,
                )?;
            }
            for ((df, t), xv) in self.diff.iter_mut().zip(&self.trial).zip(x.iter()) {
                *df = t - xv;
            }
            dense_predict(rows, &self.diff, &mut self.dp);
            if let Some(gain) = log_likelihood_gain(counts, p, &self.dp) {
                let linear = hermitian::dot(&self.grad_full, &self.diff);
                // f(trial) − f(x) = −gain ≤ ARMIJO · ⟨∇f, trial − x⟩ < 0.
                if gain > 0.0 && -gain <= ARMIJO * linear {
                    x.copy_from_slice(&self.trial);
                    dense_predict(rows, x, p);
                    self.last_decrement = decrement;
                    return Ok(true);
                }
            }
            alpha *= 0.5;
        }
        Ok(false)
    }

    /// Moves x to (1 − t)x + t zz^† for the null eigenvector z in column
    /// `column` of `basis`, with t maximising the likelihood along that
    /// segment ([`best_mixing_weight`]); true when that gained likelihood.
    ///
    /// A direction that joins the face has a zero eigenvalue, and the
    /// outcomes only it feeds have p_k ≈ 0: along it the likelihood is
    /// log-barrier-like, Σ n_k log(p_k + λ q_k), and Newton steps from
    /// λ = 0 approach the maximiser by about doubling λ each time (six to
    /// nine steps for a rank-two maximum at λ ~ 1e-4). The exact solve costs
    /// O(M) per iteration and lands where the Newton steps on the face then
    /// converge quadratically; since z is an eigenvector of x, the segment
    /// keeps the eigenbasis.
    fn join(
        &mut self,
        rows: &[f64],
        counts: &[f64],
        x: &mut [f64],
        p: &mut [f64],
        column: usize,
    ) -> bool {
        let z = self.basis.col_as_slice(column);
        pair_coords(z, z, c64::new(0.5, 0.0), &mut self.joining);
        dense_predict(rows, &self.joining, &mut self.joining_p);
        let Some(t) = best_mixing_weight(counts, p, &self.joining_p) else {
            return false;
        };
        for ((dp, &q), &pk) in self.dp.iter_mut().zip(&self.joining_p).zip(p.iter()) {
            *dp = t * (q - pk);
        }
        match log_likelihood_gain(counts, p, &self.dp) {
            Some(gain) if gain > 0.0 => {
                for (xv, &j) in x.iter_mut().zip(&self.joining) {
                    *xv = (1.0 - t) * *xv + t * j;
                }
                dense_predict(rows, x, p);
                // The decrement of a Newton step is about twice its gain.
                self.last_decrement = 2.0 * gain;
                true
            }
            _ => false,
        }
    }

    /// [`align_null_space`] for R = ∇L̃ = −`grad_full`, by plain loops and
    /// a small eigensolver: at d ≤ 8 a general matrix product or
    /// eigensolver costs more in set-up and allocation than in arithmetic.
    fn align_null_space(&mut self, zeros: usize, nu: f64, margin: f64) -> Result<usize, TomoError> {
        let d = self.d;
        hermitian::from_coords(&self.grad_full, self.row_matrix.as_mut());
        let (r, rz, block) = (&self.row_matrix, &mut self.half, &mut self.rotated_matrix);
        // −R Z, then the block Z^†RZ.
        for b in 0..zeros {
            for i in 0..d {
                let mut acc = c64::new(0.0, 0.0);
                for j in 0..d {
                    acc += r[(i, j)] * self.basis[(j, b)];
                }
                rz[(i, b)] = -acc;
            }
        }
        for b in 0..zeros {
            for a in 0..=b {
                let mut acc = c64::new(0.0, 0.0);
                for i in 0..d {
                    acc += self.basis[(i, a)].conj() * rz[(i, b)];
                }
                block[(a, b)] = acc;
                block[(b, a)] = acc.conj();
            }
        }
        let eigen = &mut self.null_eigen[zeros - 1];
        let (mu, u) = eigen.decompose_matrix(block.as_ref().submatrix(0, 0, zeros, zeros))?;
        // Z ← Z U, column by column through the scratch.
        for c in 0..zeros {
            for i in 0..d {
                let mut acc = c64::new(0.0, 0.0);
                for b in 0..zeros {
                    acc += self.basis[(i, b)] * u[(b, c)];
                }
                rz[(i, c)] = acc;
            }
        }
        let mut constrained = 0;
        for c in 0..zeros {
            for i in 0..d {
                self.basis[(i, c)] = rz[(i, c)];
            }
            self.null_gradient[c] = mu[c];
            if mu[c] <= nu + margin {
                constrained = c + 1;
            }
        }
        Ok(constrained)
    }

    /// The Newton direction on the face of x with the first `constrained`
    /// null directions held at zero (`rotate`: x has a null space; `nu`:
    /// the multiplier Tr(xR)), from `full_hessian` and `grad_full`: writes
    /// Δ into `dir` (coordinates in the eigenbasis when `rotate`) and
    /// returns the decrement −⟨g, Δ⟩ and Tr H on the face, or `None` when
    /// the system cannot be solved.
    fn face_direction(&mut self, rotate: bool, constrained: usize, nu: f64) -> Option<(f64, f64)> {
        let d = self.d;
        let n = d * d;
        self.extra.clear();
        self.free.clear();
        if rotate {
            self.free.extend(constrained..d);
            self.extra.resize(d - constrained, 0.0);
            let mut at = d;
            for j in 0..d {
                for k in (j + 1)..d {
                    if k >= constrained {
                        let lambda = self.values[k];
                        if j >= constrained {
                            self.free.extend([at, at + 1]);
                            self.extra.extend([0.0, 0.0]);
                        } else if lambda > ZERO_EIGENVALUE {
                            let curvature = (nu - self.null_gradient[j]).max(0.0) / lambda;
                            self.free.extend([at, at + 1]);
                            self.extra.extend([curvature, curvature]);
                        }
                    }
                    at += 2;
                }
            }
        } else {
            self.free.extend(0..n);
            self.extra.resize(n, 0.0);
        }
        let q = self.free.len();
        self.c.clear();
        self.c
            .extend(self.free.iter().map(|&i| if i < d { 1.0 } else { 0.0 }));
        // Gradient and Hessian on the free coordinates: with Q the n×q
        // matrix whose column c holds the coordinates of W E_c W^† (E_c the
        // free basis element c of the eigenbasis), g = Qᵀ∇f and QᵀHQ.
        self.g.clear();
        let h = &mut self.hessian[..q * q];
        if rotate {
            for (c, &fi) in self.free.iter().enumerate() {
                let col = &mut self.face_basis[c * n..(c + 1) * n];
                eigenbasis_element(&self.basis, &self.pairs, fi, col);
            }
            let basis = &self.face_basis[..q * n];
            for col in basis.chunks_exact(n) {
                self.g.push(hermitian::dot(col, &self.grad_full));
            }
            if let Some(pauli) = &mut self.pauli {
                // Sparse rows: QᵀHQ from each row's few Pauli coordinates.
                pauli.face_hessian(&self.curvature, basis, q, h);
            } else {
                for (col, hq) in basis
                    .chunks_exact(n)
                    .zip(self.face_product.chunks_exact_mut(n))
                {
                    for (i, v) in hq.iter_mut().enumerate() {
                        *v = hermitian::dot(&self.full_hessian[i * n..(i + 1) * n], col);
                    }
                }
                for a in 0..q {
                    let qa = &basis[a * n..(a + 1) * n];
                    for b in 0..=a {
                        h[a * q + b] = hermitian::dot(qa, &self.face_product[b * n..(b + 1) * n]);
                    }
                }
            }
        } else {
            self.g.extend_from_slice(&self.grad_full);
            h.copy_from_slice(&self.full_hessian);
        }
        for (i, &e) in self.extra.iter().enumerate() {
            h[i * q + i] += e;
        }
        let trace_h: f64 = (0..q).map(|i| h[i * q + i]).sum();
        // H⁻¹[g c], with a small ridge for directions the counts do not see.
        if !ridged_cholesky_in_place(h, q) {
            // Rounding made H indefinite: one larger ridge on a fresh H
            // would be the remedy, but a face this degenerate is better
            // left to the gradient steps.
            return None;
        }
        let (solved_g, solved_c) = (&mut self.solved_g[..q], &mut self.solved_c[..q]);
        solved_g.copy_from_slice(&self.g);
        solved_c.copy_from_slice(&self.c);
        cholesky_solve(h, q, solved_g);
        cholesky_solve(h, q, solved_c);
        let (mut cu, mut cv) = (0.0, 0.0);
        for i in 0..q {
            cu += self.c[i] * solved_g[i];
            cv += self.c[i] * solved_c[i];
        }
        if !(cv > 0.0 && cv.is_finite()) {
            return None;
        }
        let multiplier = -cu / cv;
        // Δ = −H⁻¹(g + νc), so that Tr Δ = 0.
        self.dir.fill(0.0);
        let mut decrement = 0.0;
        for (i, &fi) in self.free.iter().enumerate() {
            let delta = -(self.solved_g[i] + multiplier * self.solved_c[i]);
            self.dir[fi] = delta;
            decrement -= self.g[i] * delta;
        }
        decrement.is_finite().then_some((decrement, trace_h))
    }

    /// Decomposes x, writing its eigenvalues in nondecreasing order into
    /// `values` and the matching eigenvectors into the columns of `basis`.
    fn decompose_sorted(&mut self, x: &[f64]) -> Result<(), TomoError> {
        self.spectral.decompose_coords(x)?;
        let found = self.spectral.values();
        // From the identity permutation with a stable sort, so that ties
        // are ordered the same way whatever came before.
        for (i, o) in self.order.iter_mut().enumerate() {
            *o = i;
        }
        self.order.sort_by(|&a, &b| found[a].total_cmp(&found[b]));
        let d = self.d;
        let v = self.spectral.vectors();
        for (i, &k) in self.order.iter().enumerate() {
            self.values[i] = found[k];
            self.basis
                .col_as_slice_mut(i)
                .copy_from_slice(&v[k * d..(k + 1) * d]);
        }
        Ok(())
    }

    /// `dx` ← coordinates of W E W^†, E = α D (D the direction in the
    /// eigenbasis W) completed by [`complete_in_null_block`] in the block of
    /// the first `constrained` (null) columns, so that x + E keeps the rank
    /// of x and has trace 1.
    fn unrotate_step(&mut self, alpha: f64, constrained: usize) {
        hermitian::from_coords(&self.dir, self.row_matrix.as_mut());
        self.row_matrix *= faer::Scale(c64::new(alpha, 0.0));
        complete_in_null_block(
            &mut self.row_matrix,
            &self.values,
            constrained,
            ZERO_EIGENVALUE,
        );
        hermitian::triple_product(
            self.rotated_matrix.as_mut(),
            self.half.as_mut(),
            self.basis.as_ref(),
            self.row_matrix.as_ref(),
            self.basis.adjoint(),
        );
        hermitian::to_coords(self.rotated_matrix.as_ref(), &mut self.dx);
    }
}

/// The pairs (j, k), j < k, in the order of the off-diagonal coordinates
/// of d×d Hermitian matrices (each pair has two: its real and imaginary
/// part).
pub(super) fn coordinate_pairs(d: usize) -> Vec<(usize, usize)> {
    (0..d)
        .flat_map(|j| ((j + 1)..d).map(move |k| (j, k)))
        .collect()
}

/// `out` ← coordinates of W E_c W^†: W the columns of `basis`, E_c the
/// element of coordinate `c` (diagonal first, then the real and imaginary
/// part of each pair of `pairs`, [`coordinate_pairs`]).
pub(super) fn eigenbasis_element(
    basis: &Mat<c64>,
    pairs: &[(usize, usize)],
    c: usize,
    out: &mut [f64],
) {
    let d = basis.nrows();
    let (a, b, f) = if c < d {
        (c, c, c64::new(0.5, 0.0))
    } else {
        let (j, k) = pairs[(c - d) / 2];
        let f = if (c - d).is_multiple_of(2) {
            c64::new(FRAC_1_SQRT_2, 0.0)
        } else {
            c64::new(0.0, FRAC_1_SQRT_2)
        };
        (j, k, f)
    };
    pair_coords(basis.col_as_slice(a), basis.col_as_slice(b), f, out);
}

/// `out` ← coordinates of the Hermitian f·ab^† + f̄·ba^† (for a = b and
/// f = ½, of aa^†).
fn pair_coords(a: &[c64], b: &[c64], f: c64, out: &mut [f64]) {
    let d = a.len();
    for l in 0..d {
        out[l] = 2.0 * (f * a[l] * b[l].conj()).re;
    }
    let mut p = d;
    for l in 0..d {
        for m in (l + 1)..d {
            let e = f * a[l] * b[m].conj() + f.conj() * b[l] * a[m].conj();
            out[p] = SQRT_2 * e.re;
            out[p + 1] = SQRT_2 * e.im;
            p += 2;
        }
    }
}

/// Rotates the first `zeros` columns of `basis` (eigenvectors of x, the
/// null space Z first) to the eigenvectors of Z^†RZ for the gradient R, in
/// increasing order of eigenvalue μ_i (written into `null_gradient`), and
/// returns how many stay constrained at zero: those with μ_i ≤ `limit`
/// (ν plus a margin). The rest, ordered next to the support, join it.
pub(super) fn align_null_space(
    basis: &mut Mat<c64>,
    gradient: faer::MatRef<'_, c64>,
    zeros: usize,
    limit: f64,
    null_gradient: &mut [f64],
) -> usize {
    if zeros == 0 {
        return 0;
    }
    let d = basis.nrows();
    let z = basis.as_ref().submatrix(0, 0, d, zeros);
    let rz = gradient * z;
    let block = z.adjoint() * &rz;
    let Ok(evd) = block.self_adjoint_eigen(Side::Lower) else {
        return zeros;
    };
    let mu = evd.S().column_vector();
    let rotated = z * evd.U();
    basis
        .as_mut()
        .submatrix_mut(0, 0, d, zeros)
        .copy_from(&rotated);
    let mut constrained = 0;
    for i in 0..zeros {
        null_gradient[i] = mu[i].re;
        if mu[i].re <= limit {
            constrained = i + 1;
        }
    }
    constrained
}

/// Completes a step E (in the eigenbasis of x, eigenvalues `values`) in the
/// block of the first `constrained` (null) columns so that x + E keeps the
/// rank of x: with the free block M = Λ_S + E_SS (the support and the null
/// directions joining it, S = the other columns) positive definite and the
/// cross block B = E_ZS, the state x + E has rank |S| exactly when
/// E_ZZ = B M⁻¹ B^† (its Schur complement vanishes). The completed x + E is
/// then divided by its trace, i.e. E ← (E − t·Λ)/(1 + t), t = Tr E, which
/// keeps the rank and makes Tr(x + E) = 1. To second order this is
/// E_ZZ = B Λ⁻¹ B^† with the trace taken from the support in proportion to
/// λ_s; being exact, it leaves no spurious eigenvalues of order ‖E‖³ in
/// the null block, which the next step would take for support. When M is
/// not positive definite (the step drives the free block out of the
/// states), the second-order form is used over the support columns
/// (λ_s > `zero`) and the caller's projection restores the states.
pub(super) fn complete_in_null_block(
    e: &mut Mat<c64>,
    values: &[f64],
    constrained: usize,
    zero: f64,
) {
    if constrained == 0 {
        return;
    }
    let d = e.nrows();
    if let Some(l) = free_block_cholesky(e, values, constrained) {
        let r = d - constrained;
        // y_i = L⁻¹ E_{S,i}, so that (B M⁻¹ B^†)_{ij} = y_i^† y_j.
        let mut y = vec![c64::new(0.0, 0.0); constrained * r];
        for i in 0..constrained {
            let yi = &mut y[i * r..(i + 1) * r];
            for a in 0..r {
                let mut v = e[(constrained + a, i)];
                for b in 0..a {
                    v -= l[a * r + b] * yi[b];
                }
                yi[a] = v * (1.0 / l[a * r + a].re);
            }
        }
        for i in 0..constrained {
            for j in 0..constrained {
                let (yi, yj) = (&y[i * r..(i + 1) * r], &y[j * r..(j + 1) * r]);
                e[(i, j)] = yi
                    .iter()
                    .zip(yj)
                    .fold(c64::new(0.0, 0.0), |acc, (a, b)| acc + a.conj() * b);
            }
        }
        let t: f64 = (0..d).map(|a| e[(a, a)].re).sum();
        let inv = 1.0 / (1.0 + t);
        for b in 0..d {
            for a in 0..d {
                let mut v = e[(a, b)];
                if a == b {
                    v -= c64::new(t * values[a], 0.0);
                }
                e[(a, b)] = v * inv;
            }
        }
        return;
    }
    let mut taken = 0.0;
    for i in 0..constrained {
        for j in 0..constrained {
            let mut acc = c64::new(0.0, 0.0);
            for s in constrained..d {
                let lambda = values[s];
                if lambda > zero {
                    acc += e[(i, s)] * e[(j, s)].conj() * (1.0 / lambda);
                }
            }
            e[(i, j)] = acc;
        }
        taken += e[(i, i)].re;
    }
    for s in constrained..d {
        e[(s, s)] -= c64::new(taken * values[s].max(0.0), 0.0);
    }
}

/// The Cholesky factor L (row-major, r×r, r = d − `constrained`) of the
/// free block M = Λ_S + E_SS of a step E, or `None` when M is not
/// positive definite.
fn free_block_cholesky(e: &Mat<c64>, values: &[f64], constrained: usize) -> Option<Vec<c64>> {
    let d = e.nrows();
    let r = d - constrained;
    let m = |a: usize, b: usize| {
        let v = e[(constrained + a, constrained + b)];
        if a == b {
            v + c64::new(values[constrained + a], 0.0)
        } else {
            v
        }
    };
    let mut l = vec![c64::new(0.0, 0.0); r * r];
    for j in 0..r {
        let mut diag = m(j, j).re;
        for k in 0..j {
            diag -= l[j * r + k].norm_sqr();
        }
        if !(diag > 0.0 && diag.is_finite()) {
            return None;
        }
        let ljj = diag.sqrt();
        l[j * r + j] = c64::new(ljj, 0.0);
        for i in (j + 1)..r {
            let mut v = m(i, j);
            for k in 0..j {
                v -= l[i * r + k] * l[j * r + k].conj();
            }
            l[i * r + j] = v * (1.0 / ljj);
        }
    }
    Some(l)
}

/// The weight t ∈ (0, 1] maximising φ(t) = Σ n_k log((1 − t)p_k + t q_k),
/// the likelihood along the segment from probabilities `p` to `q` (both
/// of trace-1 states), found by Newton's method on the decreasing φ′
/// safeguarded by bisection; `None` when φ′(0) ≤ 0 (no gain along it).
pub(super) fn best_mixing_weight(counts: &[f64], p: &[f64], q: &[f64]) -> Option<f64> {
    // φ′ and φ″ at t in terms of r_k = (q_k − p_k)/p_k; `None` outside
    // the domain (an observed outcome given probability ≤ 0).
    let slope_curvature = |t: f64| -> Option<(f64, f64)> {
        let (mut g, mut h) = (0.0, 0.0);
        for ((&n, &pk), &qk) in counts.iter().zip(p).zip(q) {
            if n > 0.0 {
                let r = (qk - pk) / pk;
                let denominator = 1.0 + t * r;
                if denominator.is_nan() || denominator <= 0.0 {
                    return None;
                }
                let v = r / denominator;
                g += n * v;
                h += n * v * v;
            }
        }
        (g.is_finite() && h.is_finite()).then_some((g, h))
    };
    let (g0, h0) = slope_curvature(0.0)?;
    if !(g0 > 0.0 && h0 > 0.0) {
        return None;
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    if let Some((g1, _)) = slope_curvature(1.0)
        && g1 >= 0.0
    {
        return Some(1.0);
    }
    let mut t = (g0 / h0).min(0.5);
    for _ in 0..60 {
        let next = match slope_curvature(t) {
            Some((g, h)) => {
                if g > 0.0 {
                    lo = t;
                } else {
                    hi = t;
                }
                let newton = t + g / h;
                if newton > lo && newton < hi {
                    newton
                } else {
                    0.5 * (lo + hi)
                }
            }
            None => {
                hi = t;
                0.5 * (lo + hi)
            }
        };
        let done = (next - t).abs() <= 1e-12 * t;
        t = next;
        if done {
            break;
        }
    }
    (t > 0.0).then_some(t)
}

/// L̃(x + Δ) − L̃(x) = Σ n_k log1p(dp_k/p_k) for dp = ÃΔ, p = Ãx, accurate
/// however close the two likelihoods are; `None` when x + Δ gives an
/// observed outcome probability ≤ 0.
pub(super) fn log_likelihood_gain(counts: &[f64], p: &[f64], dp: &[f64]) -> Option<f64> {
    let mut acc = 0.0;
    for ((&n, &pk), &dk) in counts.iter().zip(p).zip(dp) {
        if n > 0.0 {
            let r = dk / pk;
            if r.is_nan() || r <= -1.0 {
                return None;
            }
            acc += n * r.ln_1p();
        }
    }
    acc.is_finite().then_some(acc)
}
