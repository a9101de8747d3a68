//! Projected Newton steps on the face of the affine model's estimate: the
//! solver of [`super::affine`], the analogue of [`super::newton`] on the
//! cone τ ⪰ 0 instead of the states.
//!
//! It maximises L(τ) = Σ_k n_k log μ_k − Tr τ, μ_k = q_k + a_k,
//! q_k = Tr(F̃_k τ), Σ_k F̃_k = I, whose gradient is
//! $$ R = \nabla L = \sum_k u_k \tilde F_k,\qquad u_k = \frac{n_k}{μ_k} - 1 $$
//! (u_k = −1 where n_k = 0) and whose Hessian is −Σ_k (n_k/μ_k²) f_k f_kᵀ.
//! With τ = W Λ W^† and Z its null directions (eigenvalues at most 10⁻¹³
//! Tr τ), a step keeps the directions of Z where Z^†RZ is not positive at
//! zero and moves the others, the support and its rotations: the face.
//! Rotating the support (eigenvalue λ_k) towards a held null direction
//! (gradient eigenvalue μ_j ≤ 0) costs −μ_j/λ_k to second order, the
//! curvature (ν − μ_j)/λ_k of [`super::newton`] with ν = 0: without a trace
//! constraint there is no multiplier. The Newton direction on the face
//! comes from the exact Hessian, expressed in the eigenbasis of τ by
//! rotating the rows ([`RowHessian`] on the rotated coordinates, a plain
//! Cholesky factorisation), with the same choice of the active set as
//! there: the projected Newton method of D. P. Bertsekas, "Projected Newton
//! methods for optimization problems with simple constraints", SIAM J.
//! Control Optim. 20, 221 (1982).
//!
//! A trial point keeps the rank of τ exactly: the step is completed in the
//! null block by [`complete_in_null_block`] (applied to the step and Λ
//! divided by Tr τ, which gives a trial of the same shape with trace 1),
//! and a trial with a negative eigenvalue is projected onto the cone
//! (negative eigenvalues set to zero). L is concave along every ray, and
//! its maximum along the ray of the trial is found exactly
//! ([`fit_intensity`]): the Newton step's own scale is replaced by the
//! best one. The trial is kept when it gains at least [`ARMIJO`] times its
//! first-order gain ⟨R, trial − τ⟩ (the gain computed from the difference,
//! Σ n_k log(1 + dq_k/μ_k) − Σ dq_k); otherwise the step is halved.
//!
//! As in [`super::newton`], a null direction z with z^†Rz > 0 joins the
//! face only once the support has settled, and first alone, by the exact
//! maximum along τ → τ + t zz^† ([`best_ray_step`]).
//!
//! Every step is preceded by the certificate's quick form,
//! N·max(0, λ_max(R)) − Tr(τR) (see [`super::affine`]): when it is below
//! the caller's target the step reports [`FaceStep::Stationary`] and the
//! caller certifies. The method never decides convergence by itself, and
//! the caller falls back to its barrier method when it stalls.

use crate::tomo::TomoError;
use crate::tomo::eigen::EigenWorkspace;
use crate::tomo::hermitian;
use crate::tomo::likelihood::fit_intensity;
use crate::tomo::mle::hessian::{RowHessian, cholesky_solve, ridged_cholesky_in_place};
use crate::tomo::mle::newton::{
    align_null_space, complete_in_null_block, coordinate_pairs, eigenbasis_element,
    log_likelihood_gain,
};
use crate::tomo::operator::{dense_adjoint, dense_predict};
use faer::{Mat, c64};

/// Eigenvalues at or below this times Tr τ are on the face's boundary.
const ZERO_EIGENVALUE: f64 = 1e-13;

/// A trial whose lowest eigenvalue is at least −this times its trace is
/// kept as it is rather than projected (rounding of a rank-deficient τ).
const NEGATIVE_ROUNDING: f64 = 1e-14;

/// Eigenvalues up to this times Tr τ that a full Newton step would take
/// below zero are set to zero (the active set).
const ZEROABLE: f64 = 1e-2;

/// A null direction joins the face only when the Newton step that holds
/// every null direction at zero has a decrement of at most this.
const SETTLE_DECREMENT: f64 = 1.0;

/// Step halvings before a Newton direction is given up.
const LINE_SEARCH_STEPS: u32 = 16;

/// Armijo constant: an accepted step gains at least this fraction of the
/// gain its slope predicts.
const ARMIJO: f64 = 1e-4;

/// Newton iterations of the one-dimensional solve at most.
const RAY_ITERATIONS: u32 = 60;

/// What one call of [`AffineFaceNewton::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FaceStep {
    /// τ moved to a point of higher likelihood.
    Moved,
    /// The quick certificate is at most the target: certify τ.
    Stationary,
    /// No step was found (the face is wrong, or rounding stops progress).
    Stuck,
}

/// Scratch memory for face Newton steps of the affine model on d×d τ with
/// M outcomes.
pub(super) struct AffineFaceNewton {
    d: usize,
    /// Eigensolver of τ and of the trials, warm-started from one to the
    /// next (an accepted trial is the next τ up to its scale).
    eigen: EigenWorkspace,
    /// Eigensolver of the gradients (the quick certificate).
    gradient_eigen: EigenWorkspace,
    /// Eigenvalues of τ (nondecreasing), and divided by Tr τ.
    values: Vec<f64>,
    scaled_values: Vec<f64>,
    /// Eigenvectors of τ as columns, null space first.
    basis: Mat<c64>,
    /// Eigenvalues of Z^†RZ, for the columns of the null space.
    null_gradient: Vec<f64>,
    /// μ_k, u_k and the Hessian weights n_k/μ_k² at τ.
    mu: Vec<f64>,
    u: Vec<f64>,
    curvature: Vec<f64>,
    /// R in the coordinates of τ, and as a matrix.
    grad: Vec<f64>,
    grad_matrix: Mat<c64>,
    /// The eigenbasis pair (j, k) of each off-diagonal coordinate pair
    /// ([`coordinate_pairs`]).
    pairs: Vec<(usize, usize)>,
    /// The rows in the free coordinates of the eigenbasis.
    row_hessian: RowHessian,
    /// Free coordinates of the eigenbasis, the curvature each adds, the
    /// gradient on them, and the coordinates of the basis element of one.
    free: Vec<usize>,
    extra: Vec<f64>,
    g: Vec<f64>,
    element: Vec<f64>,
    /// The q×q Hessian on the free coordinates, overwritten by its factor.
    hessian: Vec<f64>,
    /// The Newton direction on the free coordinates, and in all
    /// coordinates of the eigenbasis.
    solved: Vec<f64>,
    dir: Vec<f64>,
    step_matrix: Mat<c64>,
    rotated: Mat<c64>,
    half: Mat<c64>,
    shape: Vec<f64>,
    shape_q: Vec<f64>,
    trial: Vec<f64>,
    diff: Vec<f64>,
    dq: Vec<f64>,
    /// The step sets the eigenvalues of the first this many columns to
    /// zero (0: τ's own eigenvalues are kept).
    zeroed: usize,
}

impl AffineFaceNewton {
    /// Allocates scratch for d×d τ and M outcomes.
    pub(super) fn new(d: usize, m: usize) -> Self {
        let n = d * d;
        Self {
            d,
            eigen: EigenWorkspace::warm(d),
            gradient_eigen: EigenWorkspace::warm(d),
            values: vec![0.0; d],
            scaled_values: vec![0.0; d],
            basis: Mat::zeros(d, d),
            null_gradient: vec![0.0; d],
            mu: vec![0.0; m],
            u: vec![0.0; m],
            curvature: vec![0.0; m],
            grad: vec![0.0; n],
            grad_matrix: Mat::zeros(d, d),
            pairs: coordinate_pairs(d),
            row_hessian: RowHessian::with_outcomes(m),
            free: Vec::with_capacity(n),
            extra: Vec::with_capacity(n),
            g: Vec::with_capacity(n),
            element: vec![0.0; n],
            hessian: vec![0.0; n * n],
            solved: vec![0.0; n],
            dir: vec![0.0; n],
            step_matrix: Mat::zeros(d, d),
            rotated: Mat::zeros(d, d),
            half: Mat::zeros(d, d),
            shape: vec![0.0; n],
            shape_q: vec![0.0; m],
            trial: vec![0.0; n],
            diff: vec![0.0; n],
            dq: vec![0.0; m],
            zeroed: 0,
        }
    }

    /// Forgets the eigensolvers' warm starts: call at the start of each
    /// sample, so that its result does not depend on the samples before.
    pub(super) fn reset(&mut self) {
        self.eigen.reset();
        self.gradient_eigen.reset();
    }

    /// One step from τ (`tau`, with `q` = rows·τ giving every observed
    /// outcome a positive mean q_k + a_k), for the rows, counts (total N)
    /// and background `a`; `tau` and `q` are updated in place, only ever
    /// to a point of higher likelihood. [`FaceStep::Stationary`] when the
    /// quick certificate N·max(0, λ_max(R)) − Tr(τR) is at most `stop`;
    /// null directions whose gradient exceeds `stop`/N join the face.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn step(
        &mut self,
        rows: &[f64],
        counts: &[f64],
        a: &[f64],
        tau: &mut [f64],
        q: &mut [f64],
        total: f64,
        stop: f64,
    ) -> Result<FaceStep, TomoError> {
        let d = self.d;
        let trace = hermitian::trace(tau, d);
        if !(trace > 0.0 && trace.is_finite()) {
            return Ok(FaceStep::Stuck);
        }
        for k in 0..counts.len() {
            let (n, mu) = (counts[k], q[k] + a[k]);
            self.mu[k] = mu;
            (self.u[k], self.curvature[k]) = if n > 0.0 {
                if !(mu > 0.0 && mu.is_finite()) {
                    return Ok(FaceStep::Stuck);
                }
                (n / mu - 1.0, n / (mu * mu))
            } else {
                (-1.0, 0.0)
            };
        }
        dense_adjoint(rows, &self.u, &mut self.grad);
        let lmax = self.gradient_eigen.max_eigenvalue(&self.grad)?;
        let quick = total * lmax.max(0.0) - hermitian::dot(tau, &self.grad);
        if quick <= stop {
            return Ok(FaceStep::Stationary);
        }
        // The face: eigenvectors of τ, null space first, rotated to the
        // eigenvectors of Z^†RZ; those with a positive gradient may join.
        let (values, vectors) = self.eigen.decompose_coords(tau)?;
        self.values.copy_from_slice(values);
        self.basis.copy_from(vectors);
        let mut zeros = self
            .values
            .iter()
            .take_while(|&&l| l <= ZERO_EIGENVALUE * trace)
            .count();
        self.zeroed = 0;
        let mut alpha;
        let constrained = loop {
            let mut constrained = if zeros > 0 {
                hermitian::from_coords(&self.grad, self.grad_matrix.as_mut());
                align_null_space(
                    &mut self.basis,
                    self.grad_matrix.as_ref(),
                    zeros,
                    stop / total,
                    &mut self.null_gradient,
                )
            } else {
                0
            };
            // As in [`super::newton`]: a null direction joins once the
            // support has settled, by an exact solve along its ray.
            let mut settling = false;
            if constrained < zeros {
                match self.direction(rows, zeros, trace) {
                    Some(decrement) if decrement > SETTLE_DECREMENT => {
                        settling = true;
                        constrained = zeros;
                    }
                    _ => {
                        if self.join(rows, counts, tau, q, zeros - 1) {
                            return Ok(FaceStep::Moved);
                        }
                    }
                }
            }
            if !settling {
                loop {
                    if self.direction(rows, constrained, trace).is_none() {
                        return Ok(FaceStep::Stuck);
                    }
                    // A joining direction the step would empty is held.
                    match (constrained..zeros).rev().find(|&i| self.dir[i] < 0.0) {
                        Some(i) => constrained = i + 1,
                        None => break,
                    }
                }
            }
            // The first step length: 1, or less where the step is larger
            // than τ (directions that only outcomes without counts see,
            // where L is linear and the ridge alone bounds the step).
            alpha = (trace / hermitian::dot(&self.dir, &self.dir).sqrt()).min(1.0);
            // The active set of projected Newton (Bertsekas 1982): small
            // eigenvalues that the first step would take below zero are
            // set to zero, with the smaller ones, and the direction is
            // solved again on that face (once). Projecting the trial
            // instead cuts such steps short, step after step.
            if self.zeroed == 0
                && let Some(i) = (zeros..d).rev().find(|&i| {
                    self.values[i] + alpha * self.dir[i] < 0.0 && self.values[i] <= ZEROABLE * trace
                })
            {
                zeros = i + 1;
                self.zeroed = zeros;
                self.values[..zeros].fill(0.0);
                continue;
            }
            break constrained;
        };
        for _ in 0..LINE_SEARCH_STEPS {
            if self.try_step(rows, counts, a, tau, alpha, constrained, trace)? {
                tau.copy_from_slice(&self.trial);
                dense_predict(rows, tau, q);
                return Ok(FaceStep::Moved);
            }
            alpha *= 0.5;
        }
        Ok(FaceStep::Stuck)
    }

    /// The Newton direction on the face with the first `constrained` null
    /// columns of the eigenbasis held: writes it into `dir` (coordinates
    /// in the eigenbasis) and returns its decrement ⟨R, Δ⟩, or `None` when
    /// the system cannot be solved.
    fn direction(&mut self, rows: &[f64], constrained: usize, trace: f64) -> Option<f64> {
        let d = self.d;
        let m = self.mu.len();
        self.free.clear();
        self.extra.clear();
        self.free.extend(constrained..d);
        self.extra.resize(d - constrained, 0.0);
        for (p, &(j, k)) in self.pairs.iter().enumerate() {
            let at = d + 2 * p;
            if k < constrained {
                continue;
            }
            let curvature = if j >= constrained {
                0.0
            } else if self.values[k] > ZERO_EIGENVALUE * trace {
                // Rotating support k towards the held null direction j.
                (-self.null_gradient[j]).max(0.0) / self.values[k]
            } else {
                continue;
            };
            self.free.extend([at, at + 1]);
            self.extra.extend([curvature, curvature]);
        }
        // Column c of the rotation: the coordinates of W E_c W^† for the
        // free basis element E_c of the eigenbasis; the rows and R in the
        // free coordinates are their products with it.
        let q = self.free.len();
        self.g.clear();
        let coordinates = self.row_hessian.coordinates_mut(q);
        for (c, &fi) in self.free.iter().enumerate() {
            eigenbasis_element(&self.basis, &self.pairs, fi, &mut self.element);
            dense_predict(rows, &self.element, &mut coordinates[c * m..(c + 1) * m]);
            self.g.push(hermitian::dot(&self.element, &self.grad));
        }
        let h = &mut self.hessian[..q * q];
        self.row_hessian.lower(&self.curvature, h);
        for (i, &e) in self.extra.iter().enumerate() {
            h[i * q + i] += e;
        }
        if !ridged_cholesky_in_place(h, q) {
            return None;
        }
        let solved = &mut self.solved[..q];
        solved.copy_from_slice(&self.g);
        cholesky_solve(h, q, solved);
        self.dir.fill(0.0);
        let mut decrement = 0.0;
        for ((&fi, &s), &g) in self.free.iter().zip(solved.iter()).zip(&self.g) {
            self.dir[fi] = s;
            decrement += g * s;
        }
        (decrement.is_finite() && decrement > 0.0).then_some(decrement)
    }

    /// The trial of step length `alpha` along `dir`, kept in `trial` when
    /// it passes the Armijo test (true): the step completed in the block
    /// of the first `constrained` null columns (the rank kept), projected
    /// onto the cone if it left it, at its best scale.
    #[allow(clippy::too_many_arguments)]
    fn try_step(
        &mut self,
        rows: &[f64],
        counts: &[f64],
        a: &[f64],
        tau: &[f64],
        alpha: f64,
        constrained: usize,
        trace: f64,
    ) -> Result<bool, TomoError> {
        // The shape τ/Tr τ + E of the trial, E = αΔ/Tr τ completed in the
        // null block (and normalised to trace 1 with it).
        hermitian::from_coords(&self.dir, self.step_matrix.as_mut());
        self.step_matrix *= faer::Scale(c64::new(alpha / trace, 0.0));
        for (s, &v) in self.scaled_values.iter_mut().zip(&self.values) {
            *s = v / trace;
        }
        complete_in_null_block(
            &mut self.step_matrix,
            &self.scaled_values,
            constrained,
            ZERO_EIGENVALUE,
        );
        if self.zeroed > 0 {
            // The shape from Λ (with the zeroed eigenvalues) and the step.
            for (i, &v) in self.scaled_values.iter().enumerate() {
                self.step_matrix[(i, i)] += c64::new(v, 0.0);
            }
        }
        hermitian::triple_product(
            self.rotated.as_mut(),
            self.half.as_mut(),
            self.basis.as_ref(),
            self.step_matrix.as_ref(),
            self.basis.adjoint(),
        );
        hermitian::to_coords(self.rotated.as_ref(), &mut self.shape);
        if self.zeroed == 0 {
            for (s, &t) in self.shape.iter_mut().zip(tau) {
                *s += t / trace;
            }
        }
        // Into the cone: negative eigenvalues (beyond rounding) to zero.
        let (values, vectors) = self.eigen.decompose_coords(&self.shape)?;
        let size = hermitian::trace(&self.shape, self.d);
        if values[0] < -NEGATIVE_ROUNDING * size {
            self.shape.fill(0.0);
            for (i, &l) in values.iter().enumerate() {
                if l > 0.0 {
                    hermitian::accumulate_outer(l, vectors.col_as_slice(i), &mut self.shape);
                }
            }
        }
        dense_predict(rows, &self.shape, &mut self.shape_q);
        let Some(s) = fit_intensity(counts, &self.shape_q, a) else {
            return Ok(false);
        };
        if !(s > 0.0 && s.is_finite()) {
            return Ok(false);
        }
        for ((t, &x), (df, &tv)) in self
            .trial
            .iter_mut()
            .zip(&self.shape)
            .zip(self.diff.iter_mut().zip(tau))
        {
            *t = s * x;
            *df = *t - tv;
        }
        dense_predict(rows, &self.diff, &mut self.dq);
        let Some(gain) = log_likelihood_gain(counts, &self.mu, &self.dq) else {
            return Ok(false);
        };
        let gain = gain - self.dq.iter().sum::<f64>();
        let linear = hermitian::dot(&self.grad, &self.diff);
        Ok(gain > 0.0 && gain >= ARMIJO * linear)
    }

    /// Moves τ to τ + t zz^† for the null eigenvector z in column `column`
    /// of `basis`, t the maximum along that ray ([`best_ray_step`]); true
    /// when that gained likelihood.
    fn join(
        &mut self,
        rows: &[f64],
        counts: &[f64],
        tau: &mut [f64],
        q: &mut [f64],
        column: usize,
    ) -> bool {
        hermitian::ket_coords(self.basis.col_as_slice(column), &mut self.diff);
        dense_predict(rows, &self.diff, &mut self.shape_q);
        let Some(t) = best_ray_step(counts, &self.mu, &self.shape_q) else {
            return false;
        };
        for (dq, &c) in self.dq.iter_mut().zip(&self.shape_q) {
            *dq = t * c;
        }
        let gained = log_likelihood_gain(counts, &self.mu, &self.dq)
            .is_some_and(|gain| gain > self.dq.iter().sum::<f64>());
        if gained {
            for (x, &z) in tau.iter_mut().zip(&self.diff) {
                *x += t * z;
            }
            dense_predict(rows, tau, q);
        }
        gained
    }
}

/// The t ≥ 0 maximising φ(t) = Σ_k n_k log(μ_k + t c_k) − t Σ_k c_k, the
/// likelihood along the ray τ + t zz^† (μ the means at τ, c_k =
/// Tr(F̃_k zz^†) ≥ 0); `None` when φ′(0) ≤ 0 (no gain along it).
///
/// φ′(t) = g(t) − C with g(t) = Σ_k n_k c_k/(μ_k + t c_k) and C = Σ_k c_k.
/// Near a null direction φ is log-barrier-like (μ_k ≈ 0 for the outcomes
/// only z feeds), where Newton's method on φ′ about doubles t per step.
/// It is applied instead to 1/g(t) = 1/C: 1/g is increasing and concave
/// (the harmonic sum of the affine (μ_k + t c_k)/(n_k c_k)), exactly
/// affine for a single outcome, so from t = 0 the iterates rise
/// monotonically to the root without passing it.
pub(super) fn best_ray_step(counts: &[f64], mu: &[f64], c: &[f64]) -> Option<f64> {
    let sum_c: f64 = c.iter().sum();
    if !(sum_c > 0.0 && sum_c.is_finite()) {
        return None;
    }
    // g and −g′ at t; `None` outside the domain.
    let slope = |t: f64| -> Option<(f64, f64)> {
        let (mut g, mut h) = (0.0, 0.0);
        for ((&n, &m), &ck) in counts.iter().zip(mu).zip(c) {
            if n > 0.0 {
                let denominator = m + t * ck;
                if denominator.is_nan() || denominator <= 0.0 {
                    return None;
                }
                let v = ck / denominator;
                g += n * v;
                h += n * v * v;
            }
        }
        (g.is_finite() && h.is_finite()).then_some((g, h))
    };
    let mut t = 0.0f64;
    let (mut g, mut h) = slope(t)?;
    if g <= sum_c {
        return None;
    }
    for _ in 0..RAY_ITERATIONS {
        // Newton on 1/g: t ← t + (1/C − 1/g)/(−g′/g²).
        if h.is_nan() || h <= 0.0 {
            break;
        }
        let next = t + g * (g - sum_c) / (sum_c * h);
        let Some((gn, hn)) = slope(next) else {
            break;
        };
        let done = next - t <= 1e-13 * next;
        // Rounding may put an iterate just past the root: keep the
        // last one on the rising side.
        if gn < sum_c && done {
            break;
        }
        (t, g, h) = (next, gn, hn);
        if done || g <= sum_c {
            break;
        }
    }
    (t > 0.0).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_ray_step_finds_the_maximum_along_a_barrier_like_ray() {
        // φ(t) = Σ n_k log(μ_k + t c_k) − t Σc with one outcome nearly
        // unexplained (μ = 1e-9): the maximum is where φ′ = 0.
        let counts = [50.0, 30.0, 0.0, 20.0];
        let mu = [1e-9, 40.0, 5.0, 25.0];
        let c = [0.4, 0.3, 0.2, 0.1];
        let t = best_ray_step(&counts, &mu, &c).unwrap();
        let slope: f64 = counts
            .iter()
            .zip(&mu)
            .zip(&c)
            .filter(|((n, _), _)| **n > 0.0)
            .map(|((n, m), ck)| n * ck / (m + t * ck))
            .sum::<f64>()
            - 1.0;
        assert!(slope.abs() < 1e-12, "t {t}, φ′ {slope}");
        // Uphill nowhere: φ′(0) < 0.
        assert!(best_ray_step(&[1.0, 1.0], &[10.0, 10.0], &[0.5, 0.5]).is_none());
    }
}
