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
//! active set taken as the null space of x.
//!
//! The polish never decides convergence: the caller certifies the result
//! (see [`super::certificate`]) and falls back to first-order steps when the
//! face is wrong (an eigenvalue that should leave zero).

use crate::tomo::TomoError;
use crate::tomo::eigen::EigenWorkspace;
use crate::tomo::hermitian;
use crate::tomo::likelihood::shifted_gradient;
use crate::tomo::operator::dense_predict;
use faer::linalg::solvers::Solve;
use faer::{Mat, Side, c64};

/// Eigenvalues of a trace-1 state at or below this are on the face's boundary.
const ZERO_EIGENVALUE: f64 = 1e-13;

/// A trial state whose lowest eigenvalue is at least −this is kept as it is
/// rather than projected (rounding of a rank-deficient state).
const NEGATIVE_ROUNDING: f64 = 1e-14;

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
    eigen: EigenWorkspace,
    project: EigenWorkspace,
    values: Vec<f64>,
    basis: Mat<c64>,
    row_matrix: Mat<c64>,
    half: Mat<c64>,
    rotated_matrix: Mat<c64>,
    rotated: Vec<f64>,
    free: Vec<usize>,
    extra: Vec<f64>,
    null_gradient: Vec<f64>,
    gathered: Vec<f64>,
    w: Vec<f64>,
    grad_full: Vec<f64>,
    g: Vec<f64>,
    c: Vec<f64>,
    hessian: Mat<f64>,
    rhs: Mat<f64>,
    dir: Vec<f64>,
    dx: Vec<f64>,
    moved: Vec<f64>,
    trial: Vec<f64>,
    diff: Vec<f64>,
    dp: Vec<f64>,
}

impl FaceNewton {
    /// Allocates scratch for d×d states and the complete measurement with
    /// rows `rows` (M×d²).
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
            eigen: EigenWorkspace::new(d),
            project: EigenWorkspace::new(d),
            values: vec![0.0; d],
            basis: Mat::zeros(d, d),
            row_matrix: Mat::zeros(d, d),
            half: Mat::zeros(d, d),
            rotated_matrix: Mat::zeros(d, d),
            rotated: vec![0.0; m * n],
            free: Vec::with_capacity(n),
            extra: Vec::with_capacity(n),
            null_gradient: vec![0.0; d],
            gathered: vec![0.0; n],
            w: vec![0.0; m],
            grad_full: vec![0.0; n],
            g: Vec::with_capacity(n),
            c: Vec::with_capacity(n),
            hessian: Mat::zeros(n, n),
            rhs: Mat::zeros(n, 2),
            dir: vec![0.0; n],
            dx: vec![0.0; n],
            moved: vec![0.0; n],
            trial: vec![0.0; n],
            diff: vec![0.0; n],
            dp: vec![0.0; m],
        }
    }

    /// Takes up to `max_steps` Newton steps from the state `x` (coordinates,
    /// trace 1) whose probabilities `p = rows·x` give every observed outcome
    /// a positive probability. `x` and `p` are updated in place and only ever
    /// to a state of higher likelihood. Stops early when the projected
    /// gradient, estimated from the Newton decrement, says the certificate is
    /// about `stop_gap` or less, or when no step along the direction is
    /// accepted; returns the steps taken. Null-space directions whose gradient exceeds the multiplier
    /// by more than `stop_gap` join the face.
    pub fn polish(
        &mut self,
        rows: &[f64],
        counts: &[f64],
        x: &mut [f64],
        p: &mut [f64],
        max_steps: u32,
        stop_gap: f64,
    ) -> Result<u32, TomoError> {
        let mut steps = 0;
        while steps < max_steps {
            if !self.step(rows, counts, x, p, stop_gap)? {
                break;
            }
            steps += 1;
        }
        Ok(steps)
    }

    /// One Newton step: true when a step was taken; false when the face is
    /// stationary or no step along the direction is accepted.
    fn step(
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
        let (vals, vecs) = self.eigen.decompose_coords(x)?;
        self.values.copy_from_slice(vals);
        self.basis.copy_from(vecs);
        let zeros = self
            .values
            .iter()
            .take_while(|&&l| l <= ZERO_EIGENVALUE)
            .count();
        let rotate = zeros > 0;
        // Within the null space Z of x, directions where R = ∇L̃ exceeds
        // the multiplier ν = Tr(xR) gain likelihood by taking weight: they
        // join the face. The others stay at zero; rotating the support
        // towards them costs (ν − μ_i)/λ_s to second order (the curvature of
        // the fixed-rank states), which the Hessian must include.
        let nu = -hermitian::dot(x, &self.grad_full);
        let constrained = if rotate {
            self.align_null_space(zeros, nu, stop_gap)
        } else {
            0
        };
        self.extra.clear();
        self.free.clear();
        if rotate {
            self.rotate_rows(rows);
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
        let face_rows: &[f64] = if rotate { &self.rotated } else { rows };
        let q = self.free.len();
        // Gradient, Hessian and trace functional on the free coordinates.
        self.g.clear();
        self.g.resize(q, 0.0);
        self.c.clear();
        self.c
            .extend(self.free.iter().map(|&i| if i < d { 1.0 } else { 0.0 }));
        let mut h = self.hessian.as_mut().submatrix_mut(0, 0, q, q);
        h.fill(0.0);
        for (k, &count) in counts.iter().enumerate() {
            let row = &face_rows[k * n..(k + 1) * n];
            let uk = self.u[k];
            for (gi, &fi) in self.g.iter_mut().zip(&self.free) {
                *gi -= uk * row[fi];
            }
            if count <= 0.0 {
                continue;
            }
            for (dst, &i) in self.gathered.iter_mut().zip(&self.free) {
                *dst = row[i];
            }
            let b = &self.gathered[..q];
            let s = self.w[k] / p[k];
            for i in 0..q {
                let si = s * b[i];
                if si == 0.0 {
                    continue;
                }
                for j in i..q {
                    h[(j, i)] += si * b[j];
                }
            }
        }
        // Mirror the lower triangle; find the scale for the ridge.
        let mut scale: f64 = 0.0;
        for (i, &e) in self.extra.iter().enumerate() {
            h[(i, i)] += e;
        }
        let trace_h: f64 = (0..q).map(|i| h[(i, i)]).sum();
        for i in 0..q {
            scale = scale.max(h[(i, i)]);
            for j in (i + 1)..q {
                let v = h[(j, i)];
                h[(i, j)] = v;
            }
        }
        if !(scale > 0.0 && scale.is_finite()) {
            return Ok(false);
        }
        // H⁻¹[g c] with a small ridge for directions the counts do not see.
        let mut ridge = 1e-12 * scale;
        let mut solved = false;
        for _ in 0..4 {
            for i in 0..q {
                h[(i, i)] += ridge;
            }
            if let Ok(llt) = h.as_ref().llt(Side::Lower) {
                let mut rhs = self.rhs.as_mut().submatrix_mut(0, 0, q, 2);
                for i in 0..q {
                    rhs[(i, 0)] = self.g[i];
                    rhs[(i, 1)] = self.c[i];
                }
                llt.solve_in_place(rhs);
                solved = true;
                break;
            }
            ridge *= 1e3;
        }
        if !solved {
            return Ok(false);
        }
        let (mut cu, mut cv) = (0.0, 0.0);
        for i in 0..q {
            cu += self.c[i] * self.rhs[(i, 0)];
            cv += self.c[i] * self.rhs[(i, 1)];
        }
        if !(cv > 0.0 && cv.is_finite()) {
            return Ok(false);
        }
        let nu = -cu / cv;
        // Δ = −H⁻¹(g + νc), so that Tr Δ = 0.
        self.dir.fill(0.0);
        let mut decrement = 0.0;
        for (i, &fi) in self.free.iter().enumerate() {
            let delta = -(self.rhs[(i, 0)] + nu * self.rhs[(i, 1)]);
            self.dir[fi] = delta;
            decrement -= self.g[i] * delta;
        }
        if !decrement.is_finite() {
            return Ok(false);
        }
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
        // Arc search. The trial state is x plus the step, completed to
        // second order so that the rank stays (Z-block B Λ⁻¹ B^† for cross
        // terms B, its trace taken from the support): added to x, the step
        // perturbs x only by its own rounding. Only when that leaves the
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
            dense_predict(rows, &self.diff, &mut self.dp);
            if let Some(gain) = log_likelihood_gain(counts, p, &self.dp) {
                let linear = hermitian::dot(&self.grad_full, &self.diff);
                // f(trial) − f(x) = −gain ≤ ARMIJO · ⟨∇f, trial − x⟩ < 0.
                if gain > 0.0 && -gain <= ARMIJO * linear {
                    x.copy_from_slice(&self.trial);
                    dense_predict(rows, x, p);
                    return Ok(true);
                }
            }
            alpha *= 0.5;
        }
        Ok(false)
    }

    /// [`align_null_space`] for R = ∇L̃ = −`grad_full`.
    fn align_null_space(&mut self, zeros: usize, nu: f64, margin: f64) -> usize {
        hermitian::from_coords(&self.grad_full, self.row_matrix.as_mut());
        self.row_matrix *= faer::Scale(c64::new(-1.0, 0.0));
        align_null_space(
            &mut self.basis,
            self.row_matrix.as_ref(),
            zeros,
            nu + margin,
            &mut self.null_gradient,
        )
    }

    /// `rotated` ← the rows in the eigenbasis W of x: coordinates of W^†Π̃_kW.
    fn rotate_rows(&mut self, rows: &[f64]) {
        let n = self.d * self.d;
        for (src, dst) in rows.chunks_exact(n).zip(self.rotated.chunks_exact_mut(n)) {
            hermitian::from_coords(src, self.row_matrix.as_mut());
            hermitian::triple_product(
                self.rotated_matrix.as_mut(),
                self.half.as_mut(),
                self.basis.adjoint(),
                self.row_matrix.as_ref(),
                self.basis.as_ref(),
            );
            hermitian::to_coords(self.rotated_matrix.as_ref(), dst);
        }
    }

    /// `dx` ← coordinates of W E W^†, E = α D (D the direction in the
    /// eigenbasis W) completed to second order in the block of the first
    /// `constrained` (null) columns: E_ZZ = B Λ⁻¹ B^† over the support
    /// columns s (λ_s > 0) for the cross block B = E_Zs, with Tr E_ZZ taken
    /// from the support in proportion to λ_s, so Tr E = 0.
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

/// Completes a step E (in the eigenbasis, eigenvalues `values`) to second
/// order in the block of the first `constrained` (null) columns:
/// E_ZZ = B Λ⁻¹ B^† over the support columns s (λ_s > `zero`) for the
/// cross block B = E_Zs, with Tr E_ZZ taken from the support in proportion
/// to λ_s, so that Tr E = 0 and x + E keeps the rank of x to second order.
pub(super) fn complete_in_null_block(
    e: &mut Mat<c64>,
    values: &[f64],
    constrained: usize,
    zero: f64,
) {
    let d = e.nrows();
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
