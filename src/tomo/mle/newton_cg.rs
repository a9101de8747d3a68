//! Matrix-free Newton polish for large d: projected Newton steps on the
//! face of the current estimate, the Newton system solved by conjugate
//! gradients.
//!
//! Above d = [`super::POLISH_MAX_DIM`] the Hessian of [`super::newton`]
//! (d⁴ entries, M·d⁴ operations to form) is out of reach, but a product
//! with it is cheap: for f = −L̃,
//! $$ H v = \tilde A^{\mathsf T}\big(c \odot \tilde A v\big),\qquad c_k = n_k / p_k^2 , $$
//! one prediction and one adjoint ([`crate::tomo::operator`]; for product
//! sets O(n·6ⁿ), no matrix). The face is that of [`super::newton`]: with
//! x = W diag(λ) W^† and its null vectors Z aligned to the eigenvectors of
//! Z^†SZ (eigenvalues μ_j, S = ∇L̃ − N I), those with μ_j ≤ ν = Tr(xS) stay
//! at zero, the others join the support; a step Δ (in the eigenbasis) has
//! no block on the constrained null vectors, trace zero, and its cross
//! entries Δ_jk (j null, k support) carry the extra curvature
//! (ν − μ_j)/λ_k of rotating the support. The direction solves the Newton
//! system on that face by preconditioned conjugate gradients
//! (preconditioner h₀ + (ν − μ_j)/λ_k, h₀ the curvature along the
//! gradient; stop at a relative residual of [`CG_TOLERANCE`] or at
//! negative curvature), so it is a descent direction however few CG steps
//! are taken (R. S. Dembo, S. C. Eisenstat, T. Steihaug, "Inexact Newton
//! methods", SIAM J. Numer. Anal. 19, 400 (1982)). The trial state is x
//! plus the step completed in the null block so that the rank stays (as in
//! [`super::newton`]), projected onto the states only when it leaves them,
//! with α halved until the Armijo condition holds.
//!
//! The polish stops when the gradient on the face no longer matters to the
//! certificate's bound λ_max(S) − ν: its norm on the support block (a
//! first-order term) and Σ g_jk²/(ν − μ_j) across (second order) are both
//! below the stopping gap.
//!
//! The polish never decides convergence: the caller certifies the result.

use crate::tomo::TomoError;
use crate::tomo::eigen::EigenWorkspace;
use crate::tomo::hermitian;
use crate::tomo::measurement::SetView;
use crate::tomo::mle::newton::{align_null_space, complete_in_null_block, log_likelihood_gain};
use crate::tomo::product::ProductScratch;
use faer::{Mat, c64};

/// Eigenvalues of a trace-1 state at or below this are on the face's
/// boundary. Larger than the dense polish's 1e-13: when the completion of
/// a step falls back to its second-order form (the free block not positive
/// definite), it leaves the null block with eigenvalues of order
/// α³‖B‖³/λ (10⁻¹¹–10⁻⁹), which must not count as support (their rotation
/// curvature 1/λ would swamp the system).
const ZERO_EIGENVALUE: f64 = 1e-9;

/// A trial state whose lowest eigenvalue is at least −this is kept as it is
/// rather than projected (rounding of a rank-deficient state).
const NEGATIVE_ROUNDING: f64 = 1e-14;

/// CG stops when the residual is below this fraction of the first.
pub const CG_TOLERANCE: f64 = 0.1;

/// CG steps at most per Newton step.
const CG_MAX_STEPS: usize = 40;

/// Step halvings before a Newton direction is given up.
const LINE_SEARCH_STEPS: u32 = 12;

/// Armijo constant: an accepted step gains at least this fraction of the
/// gain its slope predicts.
const ARMIJO: f64 = 1e-4;

/// Scratch memory for matrix-free Newton steps on d×d states.
pub struct FaceNewtonCg {
    d: usize,
    gamma: f64,
    eigen: EigenWorkspace,
    project: EigenWorkspace,
    scratch: ProductScratch,
    /// Eigenvectors of x, eigenvalues ascending (the null space aligned
    /// by [`Self::align_null_space`]).
    basis: Mat<c64>,
    values: Vec<f64>,
    null_gradient: Vec<f64>,
    /// The face in eigenbasis coordinates (see [`Self::face_mask`]).
    mask: Vec<f64>,
    extra: Vec<f64>,
    /// ν − μ_j on cross coordinates: a cross gradient g adds about
    /// g²/(ν − μ_j) to the certificate's bound (0 elsewhere).
    gap_weight: Vec<f64>,
    free_diagonal: usize,
    /// −∇f in eigenbasis coordinates.
    rotated: Vec<f64>,
    /// Output of [`Self::rotate_in`].
    tangent: Vec<f64>,
    m1: Mat<c64>,
    m2: Mat<c64>,
    m3: Mat<c64>,
    /// S = −∇f in coordinates.
    grad: Vec<f64>,
    residual: Vec<f64>,
    dir: Vec<f64>,
    hdir: Vec<f64>,
    delta: Vec<f64>,
    moved: Vec<f64>,
    trial: Vec<f64>,
    diff: Vec<f64>,
    /// n_k / p_k² of the current state.
    curvature: Vec<f64>,
    am: Vec<f64>,
    dp: Vec<f64>,
}

impl FaceNewtonCg {
    /// Allocates scratch for the states and MLE rows of `set`.
    pub fn new(set: SetView<'_>) -> Self {
        let d = set.dim();
        let n = d * d;
        let m = set.len();
        let traces = set.mle_row_traces();
        Self {
            d,
            gamma: crate::tomo::likelihood::identity_multiple(&traces, d),
            eigen: EigenWorkspace::new(d),
            project: EigenWorkspace::new(d),
            scratch: ProductScratch::default(),
            basis: Mat::zeros(d, d),
            values: vec![0.0; d],
            null_gradient: vec![0.0; d],
            mask: vec![0.0; n],
            extra: vec![0.0; n],
            gap_weight: vec![0.0; n],
            free_diagonal: d,
            rotated: vec![0.0; n],
            tangent: vec![0.0; n],
            m1: Mat::zeros(d, d),
            m2: Mat::zeros(d, d),
            m3: Mat::zeros(d, d),
            grad: vec![0.0; n],
            residual: vec![0.0; n],
            dir: vec![0.0; n],
            hdir: vec![0.0; n],
            delta: vec![0.0; n],
            moved: vec![0.0; n],
            trial: vec![0.0; n],
            diff: vec![0.0; n],
            curvature: vec![0.0; m],
            am: vec![0.0; m],
            dp: vec![0.0; m],
        }
    }

    /// One Newton step from the state x (coordinates, trace 1) whose
    /// probabilities `p` give every observed outcome a positive
    /// probability; x and p are updated in place, and only ever to a state
    /// of higher likelihood. True when a step was taken; false when the
    /// predicted gain of a step is below `stop_gap` or no step is accepted.
    pub fn step(
        &mut self,
        set: SetView<'_>,
        counts: &[f64],
        x: &mut [f64],
        p: &mut [f64],
        stop_gap: f64,
    ) -> Result<bool, TomoError> {
        let d = self.d;
        // S = Σ_k u_k Π̃_k, u_k = n_k/p_k − N/γ: the gradient of L̃ shifted
        // by N I, which the trace constraint absorbs; ∇f = −S.
        let total: f64 = counts.iter().sum();
        let shift = total / self.gamma;
        for ((a, c), (&n, &pk)) in self
            .am
            .iter_mut()
            .zip(self.curvature.iter_mut())
            .zip(counts.iter().zip(p.iter()))
        {
            if n > 0.0 {
                *a = n / pk - shift;
                *c = n / (pk * pk);
            } else {
                *a = -shift;
                *c = 0.0;
            }
        }
        set.adjoint_mle(&self.am, &mut self.grad, &mut self.scratch);
        // The face: eigenvectors of x, zero eigenvalues first.
        let (vals, vecs) = self.eigen.decompose_coords(x)?;
        self.values.copy_from_slice(vals);
        self.basis.copy_from(vecs);
        let zeros = self
            .values
            .iter()
            .take_while(|&&l| l <= ZERO_EIGENVALUE)
            .count();
        if zeros == d {
            return Ok(false);
        }
        let nu = hermitian::dot(x, &self.grad);
        hermitian::from_coords(&self.grad, self.m1.as_mut());
        let constrained = align_null_space(
            &mut self.basis,
            self.m1.as_ref(),
            zeros,
            nu + stop_gap,
            &mut self.null_gradient,
        );
        self.face_mask(constrained, nu, stop_gap);
        // −∇f in the eigenbasis, on the face.
        let grad = std::mem::take(&mut self.grad);
        self.rotate_in(&grad, true);
        self.grad = grad;
        self.rotated.copy_from_slice(&self.tangent);
        let mut residual = std::mem::take(&mut self.residual);
        residual.copy_from_slice(&self.rotated);
        self.apply_mask(&mut residual);
        // What the gradient on the face adds to the certificate's bound:
        // at most ‖g‖ on the support block (first order: the bound is
        // λ_max of the gradient there minus its mean), about g²/(ν − μ)
        // across.
        let (mut cross_gap, mut support_sq) = (0.0, 0.0);
        for (g, w) in residual.iter().zip(&self.gap_weight) {
            if *w > 0.0 {
                cross_gap += g * g / w;
            } else {
                support_sq += g * g;
            }
        }
        let support_gap = support_sq.sqrt();
        if support_gap <= stop_gap && cross_gap <= stop_gap {
            self.residual = residual;
            return Ok(false);
        }
        self.delta.fill(0.0);
        let rs0 = hermitian::dot(&residual, &residual);
        if !(rs0 > 0.0 && rs0.is_finite()) {
            self.residual = residual;
            return Ok(false);
        }
        // Preconditioner: h₀ + extra, h₀ the curvature of f along −∇f (the
        // rotation curvature (ν − μ)/λ spans many orders of magnitude).
        self.dir.copy_from_slice(&residual);
        self.hessian_product(set);
        let h0 = hermitian::dot(&self.dir, &self.hdir) / rs0;
        if !(h0 > 0.0 && h0.is_finite()) {
            self.residual = residual;
            return Ok(false);
        }
        let precondition = |r: &[f64], extra: &[f64], z: &mut [f64]| {
            for ((zv, rv), e) in z.iter_mut().zip(r).zip(extra) {
                *zv = rv / (h0 + e);
            }
        };
        precondition(&residual, &self.extra, &mut self.dir);
        let mut rz = hermitian::dot(&residual, &self.dir);
        for _ in 0..CG_MAX_STEPS {
            self.hessian_product(set);
            let curv = hermitian::dot(&self.dir, &self.hdir);
            if !(curv > 0.0 && curv.is_finite()) {
                if self.delta.iter().all(|v| *v == 0.0) {
                    precondition(&residual, &self.extra, &mut self.delta);
                }
                break;
            }
            let alpha = rz / curv;
            for ((dl, r), (dv, hv)) in self
                .delta
                .iter_mut()
                .zip(residual.iter_mut())
                .zip(self.dir.iter().zip(&self.hdir))
            {
                *dl += alpha * dv;
                *r -= alpha * hv;
            }
            let rs_next = hermitian::dot(&residual, &residual);
            if rs_next <= CG_TOLERANCE * CG_TOLERANCE * rs0 {
                break;
            }
            precondition(&residual, &self.extra, &mut self.moved);
            let rz_next = hermitian::dot(&residual, &self.moved);
            let beta = rz_next / rz;
            for (dv, z) in self.dir.iter_mut().zip(&self.moved) {
                *dv = z + beta * *dv;
            }
            rz = rz_next;
        }
        self.residual = residual;
        // Predicted gain of the full step: about ½⟨−∇f, Δ⟩.
        let decrement: f64 = hermitian::dot(&self.rotated, &self.delta);
        if decrement.is_nan() || decrement <= 0.0 {
            return Ok(false);
        }
        let mut alpha = 1.0;
        for _ in 0..LINE_SEARCH_STEPS {
            self.completed_step(alpha, constrained);
            for ((m, xv), dv) in self.moved.iter_mut().zip(x.iter()).zip(&self.diff) {
                *m = xv + dv;
            }
            // Projected only when the step leaves the states: a projection
            // rounds every eigenvalue, and would turn the zeros of the face
            // into tiny positive ones.
            let lowest = self.project.eigenvalues(&self.moved)?[0];
            if lowest >= -NEGATIVE_ROUNDING {
                self.trial.copy_from_slice(&self.moved);
            } else {
                self.project
                    .project_to_states(&self.moved, 1.0, &mut self.trial)?;
            }
            for ((df, t), xv) in self.diff.iter_mut().zip(&self.trial).zip(x.iter()) {
                *df = t - xv;
            }
            set.predict_mle(&self.diff, &mut self.dp, &mut self.scratch);
            if let Some(gain) = log_likelihood_gain(counts, p, &self.dp) {
                // f(trial) − f(x) = −gain ≤ ARMIJO ⟨∇f, trial − x⟩ < 0.
                let linear = -hermitian::dot(&self.grad, &self.diff);
                if gain > 0.0 && linear < 0.0 && -gain <= ARMIJO * linear {
                    x.copy_from_slice(&self.trial);
                    set.predict_mle(x, p, &mut self.scratch);
                    return Ok(true);
                }
            }
            alpha *= 0.5;
        }
        Ok(false)
    }

    /// The face in eigenbasis coordinates: `mask` is 1 on free coordinates
    /// (diagonal and pairs of the support, and cross pairs of a constrained
    /// null vector with a support vector of positive eigenvalue), 0
    /// elsewhere; `extra` the curvature (ν − μ_j)/λ_k of rotating support
    /// vector k towards null vector j.
    fn face_mask(&mut self, constrained: usize, nu: f64, margin: f64) {
        let d = self.d;
        self.mask.fill(0.0);
        self.extra.fill(0.0);
        self.gap_weight.fill(0.0);
        self.mask[constrained..d].fill(1.0);
        self.free_diagonal = d - constrained;
        let mut at = d;
        for j in 0..d {
            for k in (j + 1)..d {
                if k >= constrained {
                    let lambda = self.values[k];
                    if j >= constrained {
                        self.mask[at] = 1.0;
                        self.mask[at + 1] = 1.0;
                    } else if lambda > ZERO_EIGENVALUE {
                        let c = (nu - self.null_gradient[j]).max(0.0) / lambda;
                        self.mask[at] = 1.0;
                        self.mask[at + 1] = 1.0;
                        self.extra[at] = c;
                        self.extra[at + 1] = c;
                        let w = (nu - self.null_gradient[j]).max(margin);
                        self.gap_weight[at] = w;
                        self.gap_weight[at + 1] = w;
                    }
                }
                at += 2;
            }
        }
    }

    /// Zeroes the coordinates off the face and the trace (mean of the free
    /// diagonal).
    fn apply_mask(&self, v: &mut [f64]) {
        for (x, m) in v.iter_mut().zip(&self.mask) {
            *x *= m;
        }
        let d = self.d;
        let mean = v[..d].iter().sum::<f64>() / self.free_diagonal as f64;
        for (x, m) in v[..d].iter_mut().zip(&self.mask[..d]) {
            *x -= m * mean;
        }
    }

    /// `rotated` ← coordinates of W^†VW (`inward`) or WVW^† for the
    /// operator V with coordinates `v`.
    fn rotate_in(&mut self, v: &[f64], inward: bool) {
        hermitian::from_coords(v, self.m1.as_mut());
        if inward {
            hermitian::triple_product(
                self.m3.as_mut(),
                self.m2.as_mut(),
                self.basis.as_ref().adjoint(),
                self.m1.as_ref(),
                self.basis.as_ref(),
            );
        } else {
            hermitian::triple_product(
                self.m3.as_mut(),
                self.m2.as_mut(),
                self.basis.as_ref(),
                self.m1.as_ref(),
                self.basis.as_ref().adjoint(),
            );
        }
        hermitian::to_coords(self.m3.as_ref(), &mut self.tangent);
    }

    /// `hdir` ← mask(W^†[H (W dir W^†)]W) + extra ⊙ dir: the Hessian of f on
    /// the face, in eigenbasis coordinates.
    fn hessian_product(&mut self, set: SetView<'_>) {
        let dir = std::mem::take(&mut self.dir);
        self.rotate_in(&dir, false);
        set.predict_mle(&self.tangent, &mut self.am, &mut self.scratch);
        for (a, c) in self.am.iter_mut().zip(&self.curvature) {
            *a *= c;
        }
        let mut h = std::mem::take(&mut self.hdir);
        set.adjoint_mle(&self.am, &mut h, &mut self.scratch);
        self.rotate_in(&h, true);
        h.copy_from_slice(&self.tangent);
        self.apply_mask(&mut h);
        for ((hv, e), dv) in h.iter_mut().zip(&self.extra).zip(&dir) {
            *hv += e * dv;
        }
        self.hdir = h;
        self.dir = dir;
    }

    /// `diff` ← coordinates of W E W^†, E = α Δ (Δ = `delta` in the
    /// eigenbasis) completed in the constrained null block by
    /// [`complete_in_null_block`], so that the rank stays and the trace is 1.
    fn completed_step(&mut self, alpha: f64, constrained: usize) {
        hermitian::from_coords(&self.delta, self.m1.as_mut());
        self.m1 *= faer::Scale(c64::new(alpha, 0.0));
        complete_in_null_block(&mut self.m1, &self.values, constrained, ZERO_EIGENVALUE);
        hermitian::triple_product(
            self.m3.as_mut(),
            self.m2.as_mut(),
            self.basis.as_ref(),
            self.m1.as_ref(),
            self.basis.as_ref().adjoint(),
        );
        hermitian::to_coords(self.m3.as_ref(), &mut self.diff);
    }
}
