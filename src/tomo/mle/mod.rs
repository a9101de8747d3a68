//! Maximum-likelihood estimation with a certified stopping rule.
//!
//! Maximises the log-likelihood of [`crate::tomo::likelihood`] over density
//! matrices. For ungrouped sets the problem is first mapped to one complete
//! measurement (τ = G^{1/2} ρ G^{1/2} / Tr(Gρ), see [`crate::tomo::frame`]),
//! so the solver always maximises
//! $$ \tilde L(τ) = \sum_k n_k \log \operatorname{Tr}(\tildeΠ_k τ),\qquad τ ⪰ 0,\ \operatorname{Tr} τ = 1. $$
//!
//! **Algorithm.** Two methods take turns, and the best state seen (by
//! likelihood) is the one returned, so the result is never worse than the
//! start:
//!
//! 1. Projected Newton steps on the face of the current state
//!    ([`newton`], with the Hessian formed, up to d = [`POLISH_MAX_DIM`];
//!    [`newton_cg`] above, with products by the Hessian only): quadratic
//!    convergence once the rank is right, however ill-conditioned the
//!    problem (near-pure states, 10⁴–10¹⁰ counts, d up to 256).
//! 2. Accelerated projected gradient (FISTA) with backtracking and gradient
//!    restart, following J. Shang, Z. Zhang, H. K. Ng, "Superfast
//!    maximum-likelihood reconstruction for quantum tomography", PRA 95,
//!    062336 (2017). With f = −L̃/N and step t:
//!    $$ z = P(y - t\nabla f(y)),\quad f(z) \le f(y) + \langle\nabla f(y), z-y\rangle + \tfrac{1}{2t}\lVert z-y\rVert^2 $$
//!    (else t ← t/2), then θ' = (1+√(1+4θ²))/2, y ← z + ((θ−1)/θ')(z − x),
//!    x ← z; the momentum is dropped when it points uphill (O'Donoghue &
//!    Candès 2015). P is the Smolin–Gambetta–Smith projection onto density
//!    matrices. t grows by 1.1 per accepted step up to 10³ (‖∇f‖ ≥ 1 and a
//!    state has norm ≤ 1, so a longer step only lands on the same vertex).
//!    These steps change the face when Newton's face is wrong.
//!
//! With many counts per outcome (≥ 10⁴, where gradient steps crawl), or a
//! start known to be close to the maximum ([`MleParams::warm_start`]: a
//! bootstrap replicate from its sample's estimate), the
//! solve starts with a polish; otherwise with 48 gradient
//! iterations (4× that for 4 < d ≤ 8, where a formed Hessian is costly),
//! which certify most small samples before any Hessian is formed and find
//! the face for the matrix-free polish at larger d. Each later polish comes after twice as many gradient
//! iterations as the one before. A polish takes one Newton step at a
//! time and, once a step's decrement (about twice the gap it closed) is
//! below 100·tol, checks the certificate between steps, so it stops as
//! soon as the state is certified. The
//! start is the PLS estimate, mixed with a little of I/d only when it gives
//! an observed outcome a (near-)zero probability.
//!
//! Sets with a background (the affine model of [`crate::tomo::model`]) are
//! solved and certified by [`affine`] instead.
//!
//! **Certificate.** [`certificate`]: L̃_max − L̃(τ) ≤ λ_max(∇L̃) − Tr(τ∇L̃)
//! (Glancy, Knill, Girard, NJP 14, 095017 (2012)), evaluated afresh from the
//! state actually returned, with its rounding error added, so the bound is
//! true. The solver stops when the bound is at most `tol` (absolute
//! log-likelihood units, default 1e-4: differences of order 1 are what is
//! statistically significant) or at the sample's rounding floor
//! (`gap_floor`, about εN, which exceeds 1e-4 from N ≈ 10¹⁰ counts on).
//! Hitting `max_iters` is not an error: the result is flagged
//! `converged = false` and still carries a true bound (`inf` if it cannot be
//! evaluated).

pub mod affine;
mod affine_newton;
#[cfg(test)]
mod affine_tests;
pub mod certificate;
mod hessian;
pub mod newton;
pub mod newton_cg;
mod pauli_hessian;
#[cfg(test)]
mod tests;

use crate::tomo::TomoError;
use crate::tomo::eigen::EigenWorkspace;
use crate::tomo::frame::FrameMap;
use crate::tomo::hermitian;
use crate::tomo::jacobi::{self, WarmJacobi};
use crate::tomo::likelihood::{gradient, log_likelihood_from_probs};
use crate::tomo::measurement::SetView;
use crate::tomo::product::ProductScratch;
use certificate::{Certificate, CertificateWorkspace};
use newton::{FaceNewton, log_likelihood_gain};
use newton_cg::FaceNewtonCg;

/// Options of the MLE solver. Start from [`MleParams::default`] and set
/// fields: more may be added.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MleParams {
    /// Stop when the certified gap bound is at most this (absolute
    /// log-likelihood units) or at the sample's rounding floor. Default 1e-4.
    pub tol: f64,
    /// Iteration cap (gradient iterations plus Newton steps). Default 20 000.
    pub max_iters: u32,
    /// Weight of I/d mixed into the start when the start gives an observed
    /// outcome probability ≤ 1e-9. Default 1e-3.
    pub start_mixing: f64,
    /// Evaluate the certificate every this many gradient iterations. Default 4.
    pub check_every: u32,
    /// Factor by which the step grows after an accepted step (backtracking
    /// shrinks it by 2). Default 1.1.
    pub step_growth: f64,
    /// Newton polish on the face of the iterate (see [`newton`]). Default
    /// true; off, the solver is the accelerated gradient method alone.
    pub polish: bool,
    /// The start is already close to the maximum (a bootstrap replicate
    /// started from its sample's estimate): polish before any gradient
    /// iteration. Default false.
    pub warm_start: bool,
}

impl Default for MleParams {
    fn default() -> Self {
        Self {
            tol: 1e-4,
            max_iters: 20_000,
            start_mixing: 1e-3,
            check_every: 4,
            step_growth: 1.1,
            polish: true,
            warm_start: false,
        }
    }
}

/// Diagnostics of one MLE solve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MleInfo {
    /// Iterations taken (gradient iterations plus Newton steps).
    pub iterations: u32,
    /// True when `gap_bound ≤ max(tol, gap_floor)`.
    pub converged: bool,
    /// Certified upper bound on L_max − L(ρ̂), rounding included; `inf`
    /// when it cannot be evaluated.
    pub gap_bound: f64,
    /// The rounding floor of this sample's bound: the smallest bound that
    /// can be certified (about εN).
    pub gap_floor: f64,
    /// Log-likelihood L(ρ̂).
    pub log_likelihood: f64,
}

/// Largest step of the gradient method (f scaled by 1/N).
const MAX_STEP: f64 = 1e3;

/// Newton steps per polish.
const POLISH_STEPS: u32 = 30;

/// The Newton polish stops when the certificate it expects is below this
/// fraction of the tolerance (or of the rounding floor).
const POLISH_STOP: f64 = 0.1;

/// Largest d with the Newton polish: its Hessian has d⁴ entries and costs
/// M·d⁴ operations to form (at d = 16, 4 qubits, about 50 ms a step, more
/// than a whole gradient solve).
pub const POLISH_MAX_DIM: usize = 8;

/// Gradient iterations before the first polish (four times as many above
/// d = 4, where a Hessian costs more): samples that the gradient method
/// certifies quickly (mixed states, moderate counts) never pay for one.
const POLISH_AFTER: u32 = 48;

/// The best state is updated every this many certificate checks.
const BEST_EVERY: u32 = 4;

/// A certificate check follows a Newton step whose decrement was at most
/// this many times the tolerance.
const CHECK_AFTER_DECREMENT: f64 = 100.0;

/// Mean count per outcome from which the solve starts with a polish.
const POLISH_FIRST_COUNTS: f64 = 1e4;
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

/// The second-order polish: Hessian formed at small d, products with it
/// above.
enum Polisher {
    /// [`newton`], d ≤ [`POLISH_MAX_DIM`] with dense rows.
    Dense(Box<FaceNewton>),
    /// [`newton_cg`], every other set.
    MatrixFree(Box<FaceNewtonCg>),
}

/// Reusable buffers for MLE solves of samples of one set.
pub struct MleWorkspace {
    d: usize,
    eigen: Spectral,
    polisher: Polisher,
    certificate: CertificateWorkspace,
    frame: FrameMap,
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
    best: Vec<f64>,
    best_p: Vec<f64>,
    best_l: Option<f64>,
    start: Vec<f64>,
    returned: Vec<f64>,
    /// ‖b_k‖² of each row, for the initial step.
    row_norms_sq: Vec<f64>,
    /// Scratch of the product computations (product sets only).
    scratch: ProductScratch,
    /// The solver of the affine model (sets with a background only).
    affine: Option<Box<affine::AffineWorkspace>>,
}

/// What a certificate check concluded.
enum Check {
    /// Certified: the bound of the state written to `rho`.
    Converged(Certificate),
    /// Not yet.
    Continue,
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
            polisher: match set.dense_mle_rows() {
                Some(rows) if d <= POLISH_MAX_DIM => {
                    Polisher::Dense(Box::new(FaceNewton::new(d, rows)))
                }
                _ => Polisher::MatrixFree(Box::new(FaceNewtonCg::new(set))),
            },
            certificate: CertificateWorkspace::new(set),
            frame: FrameMap::new(d),
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
            best: vec![0.0; n],
            best_p: vec![0.0; m],
            best_l: None,
            start: vec![0.0; n],
            returned: vec![0.0; n],
            row_norms_sq: set.mle_row_norms_sq(),
            scratch: ProductScratch::default(),
            affine: set
                .info
                .background()
                .map(|_| Box::new(affine::AffineWorkspace::new(set))),
        }
    }

    /// Solves the MLE for one validated sample, starting from the state
    /// `start` (coordinates, trace 1, e.g. the PLS estimate), and writes the
    /// estimate into `rho`. The estimate's likelihood is at least the start's.
    pub fn solve(
        &mut self,
        set: SetView<'_>,
        counts: &[f64],
        start: &[f64],
        params: &MleParams,
        rho: &mut [f64],
    ) -> Result<MleInfo, TomoError> {
        let mut tau = std::mem::take(&mut self.start);
        let mapped = self.frame.to_frame(set, start, &mut tau);
        let result = match mapped {
            Ok(()) => self.solve_from_frame(set, counts, &tau, params, rho),
            Err(e) => Err(e),
        };
        self.start = tau;
        result
    }

    /// As [`Self::solve`], with the start given in the MLE frame (τ, see
    /// [`crate::tomo::frame`]; the same as ρ for grouped sets).
    pub fn solve_from_frame(
        &mut self,
        set: SetView<'_>,
        counts: &[f64],
        start: &[f64],
        params: &MleParams,
        rho: &mut [f64],
    ) -> Result<MleInfo, TomoError> {
        if let Some(a) = set.info.background() {
            // The affine model: its own solver and certificate.
            let solver = self
                .affine
                .get_or_insert_with(|| Box::new(affine::AffineWorkspace::new(set)));
            return solver.solve_from_frame(set, counts, a, start, params, rho);
        }
        let d = self.d;
        self.eigen.reset();
        if let Polisher::Dense(newton) = &mut self.polisher {
            newton.reset();
        }
        let total: f64 = counts.iter().sum();
        if !(total > 0.0 && total.is_finite()) {
            return Err(TomoError::NoCounts);
        }
        let tol = params.tol;
        // The start as given is a candidate for the result when it is feasible.
        self.x.copy_from_slice(start);
        set.predict_mle(&self.x, &mut self.p, &mut self.scratch);
        let start_ok = self.x.iter().all(|v| v.is_finite()) && feasible(counts, &self.p);
        if start_ok {
            self.take_as_best();
        }
        // Iterate from a start that gives every observed outcome a clearly
        // positive probability: mix in I/d only when it does not.
        let needs_mixing = !start_ok
            || counts
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
            set.predict_mle(&self.x, &mut self.p, &mut self.scratch);
            if !(self.x.iter().all(|v| v.is_finite()) && feasible(counts, &self.p)) {
                // Every Π̃_k has positive trace, so I/d is always feasible.
                self.x.fill(0.0);
                self.x[..d].fill(1.0 / d as f64);
                set.predict_mle(&self.x, &mut self.p, &mut self.scratch);
                if !feasible(counts, &self.p) {
                    return Err(TomoError::NoCounts);
                }
            }
            if start_ok {
                self.keep_if_better(counts);
            } else {
                self.take_as_best();
            }
        }
        // Until a certificate has measured it, the floor is taken as about
        // εN: it only decides when the full certificate is worth computing.
        let mut floor_hint = 64.0 * f64::EPSILON * d as f64 * total;
        // The start may already be the MLE (often so for one qubit), unless
        // it is another data set's.
        if !params.warm_start
            && let Check::Converged(c) = self.check(set, counts, rho, tol, &mut floor_hint)?
        {
            return Ok(Self::finish(0, c, tol));
        }
        let scale = -1.0 / total;
        // y = x; p holds A x, py holds A y.
        self.reset_momentum(set, counts, scale);
        let mut theta = 1.0f64;
        // Initial step: the inverse of a curvature estimate of f along the
        // rows, (1/N) Σ n_k ‖b_k‖² / p_k²; backtracking corrects it.
        let curvature: f64 = counts
            .iter()
            .zip(&self.p)
            .zip(&self.row_norms_sq)
            .filter(|((c, _), _)| **c > 0.0)
            .map(|((c, p), b2)| c * b2 / (p * p))
            .sum::<f64>()
            / total;
        let mut t = if curvature > 0.0 && curvature.is_finite() {
            (8.0 / curvature).min(MAX_STEP)
        } else {
            1.0
        };
        let check_every = params.check_every.max(1);
        let polish = params.polish;
        let mut iterations = 0u32;
        // Many counts per outcome make the problem ill-conditioned for
        // gradient steps: polish at once. Otherwise the gradient method
        // usually certifies first and no Hessian is ever formed.
        let mut next_polish =
            if params.warm_start || total >= POLISH_FIRST_COUNTS * counts.len() as f64 {
                0
            } else if d <= 4 || d > POLISH_MAX_DIM {
                POLISH_AFTER
            } else {
                4 * POLISH_AFTER
            };
        let mut polish_gap = 2 * check_every;
        let mut certified = None;
        while certified.is_none() {
            if polish && iterations >= next_polish {
                // Polish the best state so far, one Newton step at a time:
                // the quick certificate between steps (a gradient and its
                // largest eigenvalue, a fraction of a step's cost) stops it
                // as soon as the state is certified, rather than after a
                // last step that only finds the face stationary.
                self.x.copy_from_slice(&self.best);
                self.p.copy_from_slice(&self.best_p);
                let stop = POLISH_STOP * tol.max(floor_hint);
                let mut steps = 0;
                while steps < POLISH_STEPS {
                    let (took, decrement) = match (&mut self.polisher, set.dense_mle_rows()) {
                        (Polisher::Dense(newton), Some(rows)) => (
                            newton.step(rows, counts, &mut self.x, &mut self.p, stop)?,
                            newton.last_decrement(),
                        ),
                        (Polisher::MatrixFree(newton), _) => (
                            newton.step(set, counts, &mut self.x, &mut self.p, stop)?,
                            0.0,
                        ),
                        (Polisher::Dense(_), None) => (false, 0.0),
                    };
                    if !took {
                        break;
                    }
                    steps += 1;
                    // Newton steps only ever raise the likelihood of `best`.
                    self.take_as_best();
                    // A step that closed a gap of more than 50·tol leaves a
                    // bound above tol (the bound is first order in the
                    // distance, the gap second): the next step decides.
                    if decrement <= CHECK_AFTER_DECREMENT * tol.max(floor_hint)
                        && let Check::Converged(c) =
                            self.check(set, counts, rho, tol, &mut floor_hint)?
                    {
                        certified = Some(c);
                        break;
                    }
                }
                iterations += steps;
                if certified.is_some() {
                    break;
                }
                next_polish = iterations.saturating_add(polish_gap);
                polish_gap = polish_gap.saturating_mul(2);
                self.reset_momentum(set, counts, scale);
                theta = 1.0;
            }
            if iterations >= params.max_iters {
                break;
            }
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
                set.predict_mle(&self.dz, &mut self.dp, &mut self.scratch);
                if let Some(gain) = log_likelihood_gain(counts, &self.py, &self.dp)
                    && scale * gain <= lin + sq / (2.0 * t)
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
                    // x is as good as gradient steps can make it. A polish
                    // may still help once; otherwise stop.
                    self.refresh_and_keep_best(set, counts);
                    if polish && next_polish > iterations {
                        next_polish = iterations;
                        continue;
                    }
                    break;
                }
                // Drop the momentum and retry from x.
                theta = 1.0;
                self.reset_momentum(set, counts, scale);
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
                // Refresh p(x) exactly, so the O(M) updates cannot drift;
                // every few checks, keep x if it is the best state so far
                // (restarts make the iteration nearly monotone, so this
                // only guards against a late slide).
                set.predict_mle(&self.x, &mut self.p, &mut self.scratch);
                if iterations.is_multiple_of(check_every * BEST_EVERY) {
                    self.keep_if_better(counts);
                }
                if let Check::Converged(c) = self.check(set, counts, rho, tol, &mut floor_hint)? {
                    certified = Some(c);
                    break;
                }
            }
            let feasible_y = beta > 0.0 && feasible(counts, &self.py);
            if !feasible_y {
                theta = if beta > 0.0 { 1.0 } else { theta };
                self.y.copy_from_slice(&self.x);
                self.py.copy_from_slice(&self.p);
            }
            gradient(
                set,
                counts,
                &self.py,
                &mut self.w,
                &mut self.gy,
                &mut self.scratch,
            );
            self.gy.iter_mut().for_each(|g| *g *= scale);
            t = (t * params.step_growth).min(MAX_STEP);
        }
        let certificate = match certified {
            Some(c) => c,
            None => {
                self.refresh_and_keep_best(set, counts);
                self.certify_returned(set, counts, rho, true)?
            }
        };
        Ok(Self::finish(iterations, certificate, tol))
    }

    /// The diagnostics of the state certified last.
    fn finish(iterations: u32, certificate: Certificate, tol: f64) -> MleInfo {
        MleInfo {
            iterations,
            converged: certificate.converged(tol),
            gap_bound: certificate.gap_bound,
            gap_floor: certificate.gap_floor,
            log_likelihood: certificate.log_likelihood,
        }
    }

    /// y ← x, p(y) ← p(x), ∇f(y) ← ∇f(x).
    fn reset_momentum(&mut self, set: SetView<'_>, counts: &[f64], scale: f64) {
        self.y.copy_from_slice(&self.x);
        self.py.copy_from_slice(&self.p);
        gradient(
            set,
            counts,
            &self.p,
            &mut self.w,
            &mut self.gy,
            &mut self.scratch,
        );
        self.gy.iter_mut().for_each(|g| *g *= scale);
    }

    /// Recomputes p(x) and keeps x as the best state when its likelihood is higher.
    fn refresh_and_keep_best(&mut self, set: SetView<'_>, counts: &[f64]) {
        set.predict_mle(&self.x, &mut self.p, &mut self.scratch);
        self.keep_if_better(counts);
    }

    /// Keeps x as the best state when its likelihood is higher; `p` must
    /// hold p(x). Compares log-likelihoods (M logarithms) rather than
    /// differences (a product with A): their rounding, εL, is far below
    /// anything that matters here.
    fn keep_if_better(&mut self, counts: &[f64]) {
        let best_l = match self.best_l {
            Some(l) => l,
            None => {
                let l =
                    log_likelihood_from_probs(counts, &self.best_p).unwrap_or(f64::NEG_INFINITY);
                self.best_l = Some(l);
                l
            }
        };
        if let Some(l) = log_likelihood_from_probs(counts, &self.p)
            && l > best_l
        {
            self.best.copy_from_slice(&self.x);
            self.best_p.copy_from_slice(&self.p);
            self.best_l = Some(l);
        }
    }

    /// Makes the current state x the best one; `p` must hold p(x). Its
    /// log-likelihood is computed when a comparison first needs it.
    fn take_as_best(&mut self) {
        self.best.copy_from_slice(&self.x);
        self.best_p.copy_from_slice(&self.p);
        self.best_l = None;
    }

    /// Certifies the current state x (with `p` = p(x) fresh) when a quick
    /// look at its gap says it may be converged; on success the certified
    /// state is in `rho`. When the best state seen is strictly more likely
    /// than x and certified too, it is the one returned, so the result is
    /// never below the start.
    fn check(
        &mut self,
        set: SetView<'_>,
        counts: &[f64],
        rho: &mut [f64],
        tol: f64,
        floor_hint: &mut f64,
    ) -> Result<Check, TomoError> {
        gradient(
            set,
            counts,
            &self.p,
            &mut self.w,
            &mut self.gx,
            &mut self.scratch,
        );
        let lmax = self.eigen.max_eigenvalue(&self.gx)?;
        let quick = lmax - hermitian::dot(&self.x, &self.gx);
        if quick.is_nan() || quick > tol.max(*floor_hint) {
            return Ok(Check::Continue);
        }
        let c = self.certify_returned(set, counts, rho, false)?;
        if c.gap_floor.is_finite() {
            *floor_hint = c.gap_floor;
        }
        if !c.converged(tol) {
            return Ok(Check::Continue);
        }
        let best_is_better = self.best != self.x && {
            for ((dz, x), b) in self.dz.iter_mut().zip(&self.x).zip(&self.best) {
                *dz = b - x;
            }
            set.predict_mle(&self.dz, &mut self.dp, &mut self.scratch);
            log_likelihood_gain(counts, &self.p, &self.dp).is_some_and(|gain| gain > 0.0)
        };
        if best_is_better {
            let b = self.certify_returned(set, counts, rho, true)?;
            if b.converged(tol) {
                return Ok(Check::Converged(b));
            }
            // Back to x, which is certified.
            let c = self.certify_returned(set, counts, rho, false)?;
            return Ok(Check::Converged(c));
        }
        Ok(Check::Converged(c))
    }

    /// Writes x (or the best state), mapped back to ρ, into `rho`, and
    /// certifies that very ρ: τ is recomputed from it, then every quantity
    /// of the bound from τ. τ is left in `returned`.
    fn certify_returned(
        &mut self,
        set: SetView<'_>,
        counts: &[f64],
        rho: &mut [f64],
        best: bool,
    ) -> Result<Certificate, TomoError> {
        let state = if best { &self.best } else { &self.x };
        self.frame.from_frame(set, state, rho)?;
        self.frame.to_frame(set, rho, &mut self.returned)?;
        self.certificate.certify(set, counts, &self.returned)
    }
}

/// True when every observed outcome has a positive probability.
fn feasible(counts: &[f64], p: &[f64]) -> bool {
    counts.iter().zip(p).all(|(&n, &p)| n == 0.0 || p > 0.0)
}
