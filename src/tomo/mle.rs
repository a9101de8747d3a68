//! Maximum-likelihood estimation with a certified stopping rule.
//!
//! Maximises the log-likelihood of [`crate::tomo::likelihood`] over density
//! matrices. For ungrouped sets the problem is first mapped to one complete
//! measurement (τ = G^{1/2} σ G^{1/2}, see [`crate::tomo::measurement`]), so
//! the solver always maximises
//! $$ \tilde L(τ) = \sum_k n_k \log \operatorname{Tr}(\tildeΠ_k τ),\qquad τ ⪰ 0,\ \operatorname{Tr} τ = 1. $$
//!
//! **Algorithm**: accelerated projected gradient (FISTA) with backtracking
//! line search and function-value restart, following J. Shang, Z. Zhang,
//! H. K. Ng, "Superfast maximum-likelihood reconstruction for quantum
//! tomography", PRA 95, 062336 (2017). With f = −L̃/N and step t:
//! $$ z = P(y - t\nabla f(y)),\quad f(z) \le f(y) + \langle\nabla f(y), z-y\rangle + \tfrac{1}{2t}\lVert z-y\rVert^2 $$
//! (else t ← t/2), then θ' = (1+√(1+4θ²))/2, y ← z + ((θ−1)/θ')(z − x),
//! x ← z. If f(z) > f(x) the momentum is dropped (θ = 1, y = x). P is the
//! Smolin–Gambetta–Smith projection onto density matrices. The start is the
//! PLS estimate mixed with a little of I/d so that every observed outcome has
//! positive probability.
//!
//! **Certificate**: L̃ is concave, so for every state τ (Glancy, Knill,
//! Girard, NJP 14, 095017 (2012))
//! $$ \tilde L_{\max} - \tilde L(τ) \le λ_{\max}(\nabla\tilde L(τ)) - \operatorname{Tr}(τ\nabla\tilde L(τ)) =: \text{gap}(τ). $$
//! The solver stops when gap ≤ `tol` (an absolute log-likelihood difference,
//! default 1e-4: likelihood differences of order 1 are what is statistically
//! significant, so 1e-4 certifies the estimate is the MLE for every practical
//! purpose). The bound is reported with the result. Hitting `max_iters` is
//! not an error: the result is flagged `converged = false` and still carries
//! a valid bound.

use crate::tomo::TomoError;
use crate::tomo::eigen::EigenWorkspace;
use crate::tomo::hermitian;
use crate::tomo::jacobi::{self, WarmJacobi};
use crate::tomo::likelihood::{gradient, log_likelihood_from_probs, predict};
use crate::tomo::measurement::SetView;
use faer::{Mat, c64};

/// Options of the MLE solver.
#[derive(Debug, Clone, PartialEq)]
pub struct MleParams {
    /// Stop when the certified gap bound is at most this (absolute
    /// log-likelihood units). Default 1e-4.
    pub tol: f64,
    /// Iteration cap. Default 20 000.
    pub max_iters: u32,
    /// Weight of I/d mixed into the start when the start gives an observed
    /// outcome probability ≤ 1e-9. Default 1e-3.
    pub start_mixing: f64,
    /// Evaluate the certificate every this many iterations. Default 4.
    pub check_every: u32,
    /// Factor by which the step grows after an accepted step (backtracking
    /// shrinks it by 2). Default 1.1.
    pub step_growth: f64,
    #[doc(hidden)]
    pub non_exhaustive: (),
}

impl Default for MleParams {
    fn default() -> Self {
        Self {
            tol: 1e-4,
            max_iters: 20_000,
            start_mixing: 1e-3,
            check_every: 4,
            step_growth: 1.1,
            non_exhaustive: (),
        }
    }
}

/// Diagnostics of one MLE solve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MleInfo {
    /// Iterations taken.
    pub iterations: u32,
    /// True when the gap bound reached the tolerance.
    pub converged: bool,
    /// Certified upper bound on L_max − L(ρ̂).
    pub gap_bound: f64,
    /// Log-likelihood L(ρ̂).
    pub log_likelihood: f64,
}

/// The eigensolvers of the MLE iteration.
enum Spectral {
    /// Small d: warm-started Jacobi, one solver for the projections and one
    /// for the certificate's gradients, each following its own slowly
    /// changing sequence of matrices.
    Warm {
        project: WarmJacobi,
        gradient: WarmJacobi,
        sorted: Vec<f64>,
    },
    /// Larger d, where faer's Householder–QR solver is faster.
    General(Box<EigenWorkspace>),
}

impl Spectral {
    fn new(d: usize) -> Self {
        if d <= jacobi::MAX_DIM {
            Self::Warm {
                project: WarmJacobi::new(d),
                gradient: WarmJacobi::new(d),
                sorted: vec![0.0; d],
            }
        } else {
            Self::General(Box::new(EigenWorkspace::new(d)))
        }
    }

    /// Forgets warm starts, so a sample's result does not depend on the
    /// samples solved before it.
    fn reset(&mut self) {
        if let Self::Warm {
            project, gradient, ..
        } = self
        {
            project.reset();
            gradient.reset();
        }
    }

    fn project_to_states(&mut self, x: &[f64], out: &mut [f64]) -> Result<usize, TomoError> {
        match self {
            Self::Warm {
                project, sorted, ..
            } => project.project_to_states(x, 1.0, sorted, out),
            Self::General(eigen) => eigen.project_to_states(x, 1.0, out),
        }
    }

    fn max_eigenvalue(&mut self, x: &[f64]) -> Result<f64, TomoError> {
        match self {
            Self::Warm { gradient, .. } => gradient.max_eigenvalue(x),
            Self::General(eigen) => eigen.max_eigenvalue(x),
        }
    }
}

/// Reusable buffers for MLE solves of samples of one set.
pub struct MleWorkspace {
    d: usize,
    eigen: Spectral,
    x: Vec<f64>,
    y: Vec<f64>,
    z: Vec<f64>,
    step: Vec<f64>,
    gy: Vec<f64>,
    gx: Vec<f64>,
    p: Vec<f64>,
    pz: Vec<f64>,
    py: Vec<f64>,
    dp: Vec<f64>,
    dz: Vec<f64>,
    w: Vec<f64>,
    sandwich: Sandwich,
}

/// f(y + Δ) − f(y) = scale · Σ n_k log1p(dp_k / p_k) for dp = AΔ, p = Ay;
/// `None` when y + Δ gives an observed outcome probability ≤ 0.
#[inline]
fn decrease(counts: &[f64], p: &[f64], dp: &[f64], scale: f64) -> Option<f64> {
    let mut acc = 0.0;
    for ((&n, &pk), &dk) in counts.iter().zip(p).zip(dp) {
        if n > 0.0 {
            let r = dk / pk;
            if r <= -1.0 {
                return None;
            }
            acc += n * r.ln_1p();
        }
    }
    Some(scale * acc)
}

/// Buffers for W X W products of d×d Hermitian matrices.
struct Sandwich {
    w: Mat<c64>,
    x: Mat<c64>,
    wx: Mat<c64>,
    out: Mat<c64>,
}

impl Sandwich {
    fn new(d: usize) -> Self {
        Self {
            w: Mat::zeros(d, d),
            x: Mat::zeros(d, d),
            wx: Mat::zeros(d, d),
            out: Mat::zeros(d, d),
        }
    }

    /// `out` ← coordinates of W X W, for W and X given as coordinates.
    fn apply(&mut self, w: &[f64], x: &[f64], out: &mut [f64]) {
        use faer::linalg::matmul::matmul;
        let one = c64::new(1.0, 0.0);
        hermitian::from_coords(w, self.w.as_mut());
        hermitian::from_coords(x, self.x.as_mut());
        matmul(
            self.wx.as_mut(),
            faer::Accum::Replace,
            self.w.as_ref(),
            self.x.as_ref(),
            one,
            faer::Par::Seq,
        );
        matmul(
            self.out.as_mut(),
            faer::Accum::Replace,
            self.wx.as_ref(),
            self.w.as_ref(),
            one,
            faer::Par::Seq,
        );
        hermitian::to_coords(self.out.as_ref(), out);
    }
}

impl MleWorkspace {
    /// Allocates buffers for the set.
    pub fn new(set: SetView<'_>) -> Self {
        let d = set.dim();
        let n = d * d;
        let m = set.len();
        Self {
            d,
            eigen: Spectral::new(d),
            x: vec![0.0; n],
            y: vec![0.0; n],
            z: vec![0.0; n],
            step: vec![0.0; n],
            gy: vec![0.0; n],
            gx: vec![0.0; n],
            p: vec![0.0; m],
            pz: vec![0.0; m],
            py: vec![0.0; m],
            dp: vec![0.0; m],
            dz: vec![0.0; n],
            w: vec![0.0; m],
            sandwich: Sandwich::new(d),
        }
    }

    /// Solves the MLE for one validated sample, starting from the state
    /// `start` (coordinates, trace 1, e.g. the PLS estimate), and writes the
    /// estimate into `rho`.
    pub fn solve(
        &mut self,
        set: SetView<'_>,
        counts: &[f64],
        start: &[f64],
        params: &MleParams,
        rho: &mut [f64],
    ) -> Result<MleInfo, TomoError> {
        let d = self.d;
        let rows = set.mle_rows;
        self.eigen.reset();
        let total: f64 = counts.iter().sum();
        if total.is_nan() || total <= 0.0 {
            return Err(TomoError::NoCounts);
        }
        // Start: map to the MLE frame, mix with I/d.
        match &set.info.g_sqrt {
            Some(g_half) => {
                self.sandwich.apply(g_half, start, &mut self.x);
                let t = hermitian::trace(&self.x, d);
                self.x.iter_mut().for_each(|v| *v /= t);
            }
            None => self.x.copy_from_slice(start),
        }
        let scale = -1.0 / total;
        let f = |x: &[f64], p: &mut [f64]| -> Option<f64> {
            predict(rows, x, p);
            log_likelihood_from_probs(counts, p).map(|l| scale * l)
        };
        // Mix in I/d only when the start gives an observed outcome
        // (near-)zero probability; an interior start is used as it is.
        predict(rows, &self.x, &mut self.p);
        let needs_mixing = counts
            .iter()
            .zip(&self.p)
            .any(|(&n, &p)| n > 0.0 && p <= 1e-9);
        if needs_mixing {
            let eps = params.start_mixing.clamp(1e-12, 1.0);
            for (j, v) in self.x.iter_mut().enumerate() {
                *v *= 1.0 - eps;
                if j < d {
                    *v += eps / d as f64;
                }
            }
        }
        if f(&self.x, &mut self.p).is_none() {
            // Cannot happen for a mixed start (every Π̃_k has positive trace),
            // but fall back to the maximally mixed state anyway.
            self.x.fill(0.0);
            self.x[..d].fill(1.0 / d as f64);
            f(&self.x, &mut self.p).ok_or(TomoError::NoCounts)?;
        }
        // y = x; p holds A x, py holds A y.
        self.y.copy_from_slice(&self.x);
        self.py.copy_from_slice(&self.p);
        gradient(rows, counts, &self.p, &mut self.w, &mut self.gx);
        self.gy
            .iter_mut()
            .zip(&self.gx)
            .for_each(|(g, gx)| *g = scale * gx);
        let mut theta = 1.0f64;
        // Initial step: the inverse of a curvature estimate of f along the
        // rows, (1/N) Σ n_k ‖b_k‖² / p_k²; backtracking corrects it.
        let n = d * d;
        let curvature: f64 = counts
            .iter()
            .zip(&self.p)
            .enumerate()
            .filter(|(_, (c, _))| **c > 0.0)
            .map(|(k, (c, p))| {
                c * hermitian::dot(&rows[k * n..(k + 1) * n], &rows[k * n..(k + 1) * n]) / (p * p)
            })
            .sum::<f64>()
            / total;
        let mut t = if curvature > 0.0 && curvature.is_finite() {
            8.0 / curvature
        } else {
            1.0
        };
        let mut gap = self.gap_from_gradient_l()?;
        let mut iterations = 0u32;
        let mut converged = gap <= params.tol;
        let check_every = params.check_every.max(1);
        while !converged && iterations < params.max_iters {
            iterations += 1;
            // Backtracking projected gradient step from y. The decrease
            // f(z) − f(y) = −(1/N) Σ n_k log1p((A(z−y))_k / (Ay)_k) is computed
            // from the difference itself, so it stays accurate long after
            // f(z) and f(y) agree to every printed digit.
            let mut tries = 0;
            let accepted = loop {
                for ((s, y), g) in self.step.iter_mut().zip(&self.y).zip(&self.gy) {
                    *s = y - t * g;
                }
                self.eigen.project_to_states(&self.step, &mut self.z)?;
                let mut lin = 0.0;
                let mut sq = 0.0;
                for (((dz, z), y), g) in self.dz.iter_mut().zip(&self.z).zip(&self.y).zip(&self.gy)
                {
                    *dz = z - y;
                    lin += g * *dz;
                    sq += *dz * *dz;
                }
                if sq == 0.0 {
                    break false;
                }
                predict(rows, &self.dz, &mut self.dp);
                if let Some(delta) = decrease(counts, &self.py, &self.dp, scale)
                    && delta <= lin + sq / (2.0 * t)
                {
                    break true;
                }
                t *= 0.5;
                tries += 1;
                if tries > 60 {
                    break false;
                }
            };
            if !accepted {
                if theta == 1.0 && self.y == self.x {
                    // Not even a plain gradient step from x makes progress:
                    // x is as good as floating point allows.
                    break;
                }
                // Drop the momentum and retry from x.
                theta = 1.0;
                self.y.copy_from_slice(&self.x);
                self.py.copy_from_slice(&self.p);
                gradient(rows, counts, &self.p, &mut self.w, &mut self.gx);
                self.gy
                    .iter_mut()
                    .zip(&self.gx)
                    .for_each(|(g, gx)| *g = scale * gx);
                continue;
            }
            // z accepted: p(z) = p(y) + A(z − y).
            for ((pz, py), dp) in self.pz.iter_mut().zip(&self.py).zip(&self.dp) {
                *pz = py + dp;
            }
            // Gradient restart (O'Donoghue & Candès 2015): drop the momentum
            // when it points uphill, ⟨∇f(y), z − x⟩ > 0.
            let uphill: f64 = self
                .gy
                .iter()
                .zip(self.z.iter().zip(&self.x))
                .map(|(g, (z, x))| g * (z - x))
                .sum();
            let theta_next = if uphill > 0.0 {
                1.0
            } else {
                0.5 * (1.0 + (1.0 + 4.0 * theta * theta).sqrt())
            };
            let beta = if uphill > 0.0 {
                0.0
            } else {
                (theta - 1.0) / theta_next
            };
            for ((y, z), x) in self.y.iter_mut().zip(&self.z).zip(&self.x) {
                *y = z + beta * (z - x);
            }
            // p(y) = (1+β) p(z) − β p(x): y is affine in z and x, so this
            // costs O(M) instead of a product with A.
            for ((py, pz), px) in self.py.iter_mut().zip(&self.pz).zip(&self.p) {
                *py = (1.0 + beta) * pz - beta * px;
            }
            std::mem::swap(&mut self.x, &mut self.z);
            std::mem::swap(&mut self.p, &mut self.pz);
            theta = theta_next;
            if iterations.is_multiple_of(check_every) {
                // Refresh p(x) exactly, so the O(M) updates cannot drift.
                predict(rows, &self.x, &mut self.p);
                gradient(rows, counts, &self.p, &mut self.w, &mut self.gx);
                gap = self.gap_from_gradient_l()?;
                if gap <= params.tol {
                    converged = true;
                    break;
                }
            }
            let feasible = beta > 0.0
                && counts
                    .iter()
                    .zip(&self.py)
                    .all(|(&n, &p)| n == 0.0 || p > 0.0);
            if !feasible {
                theta = if beta > 0.0 { 1.0 } else { theta };
                self.y.copy_from_slice(&self.x);
                self.py.copy_from_slice(&self.p);
            }
            gradient(rows, counts, &self.py, &mut self.w, &mut self.gy);
            self.gy.iter_mut().for_each(|g| *g *= scale);
            t *= params.step_growth;
        }
        if !converged {
            gradient(rows, counts, &self.p, &mut self.w, &mut self.gx);
            gap = self.gap_from_gradient_l()?;
            converged = gap <= params.tol;
        }
        let fx = f(&self.x, &mut self.p).ok_or(TomoError::NoCounts)?;
        let log_likelihood = fx / scale;
        // Map back to ρ.
        match &set.info.g_inv_sqrt {
            Some(w) => {
                self.sandwich.apply(w, &self.x, rho);
                let tr = hermitian::trace(rho, d);
                rho.iter_mut().for_each(|r| *r /= tr);
            }
            None => rho.copy_from_slice(&self.x),
        }
        Ok(MleInfo {
            iterations,
            converged,
            gap_bound: gap,
            log_likelihood,
        })
    }

    /// gap = λ_max(∇L̃) − Tr(x ∇L̃) with ∇L̃ in `self.gx` (unscaled).
    fn gap_from_gradient_l(&mut self) -> Result<f64, TomoError> {
        let lmax = self.eigen.max_eigenvalue(&self.gx)?;
        let inner = hermitian::dot(&self.x, &self.gx);
        Ok((lmax - inner).max(0.0))
    }
}
