//! Projected least squares (PLS).
//!
//! $$ ρ_{PLS} = \arg\min_{σ ⪰ 0,\ \operatorname{Tr}σ = 1} \lVert σ - ρ_{LI} \rVert_F , $$
//! the density matrix nearest to the linear-inversion estimate ρ_LI, computed
//! by diagonalising ρ_LI and projecting its eigenvalues onto the probability
//! simplex. Reference: J. A. Smolin, J. M. Gambetta, G. Smith, "Efficient
//! method for computing the maximum-likelihood quantum state from
//! measurements with additive Gaussian noise", PRL 108, 070502 (2012); see also
//! Guţă, Kahn, Kueng, Tropp, J. Phys. A 53, 204001 (2020) for its error bounds.
//!
//! For ungrouped sets the projection is done in the MLE frame of
//! [`crate::tomo::frame`], where the set is one complete measurement: the
//! raw linear inversion σ = A⁺f is mapped to τ = G^{1/2}σG^{1/2} (whose trace
//! Tr(Gσ) ≈ Σ f_k = 1 is well determined even when Tr σ is not), τ is
//! projected onto the states, and mapped back to ρ. The result is a state
//! for every sample with counts, and its frame form is the MLE's start.

use crate::tomo::TomoError;
use crate::tomo::eigen::EigenWorkspace;
use crate::tomo::frame::FrameMap;
use crate::tomo::hermitian;
use crate::tomo::linear::{self, LinearWorkspace};
use crate::tomo::measurement::SetView;

/// Reusable buffers for PLS estimates of samples of one set.
pub struct PlsWorkspace {
    linear: LinearWorkspace,
    projection: FrameProjection,
    raw: Vec<f64>,
    tau: Vec<f64>,
}

impl PlsWorkspace {
    /// Allocates buffers for the set.
    pub fn new(set: SetView<'_>) -> Self {
        let n = set.info.coord_len();
        Self {
            linear: LinearWorkspace::new(set),
            projection: FrameProjection::new(set.dim()),
            raw: vec![0.0; n],
            tau: vec![0.0; n],
        }
    }

    /// PLS estimate of one sample into `rho`; the linear estimate is left in
    /// `linear_out` when given (the PLS estimate itself when linear
    /// inversion is degenerate, see [`crate::tomo::linear`]).
    pub fn estimate(
        &mut self,
        set: SetView<'_>,
        counts: &[f64],
        rho: &mut [f64],
        linear_out: Option<&mut [f64]>,
    ) -> Result<(), TomoError> {
        self.linear.raw(set, counts, &mut self.raw)?;
        self.projection
            .project(set, &self.raw, &mut self.tau, rho)?;
        if let Some(out) = linear_out {
            out.copy_from_slice(&self.raw);
            if linear::normalise(set, out).is_err() {
                out.copy_from_slice(rho);
            }
        }
        Ok(())
    }
}

/// Scratch memory for projecting a raw linear inversion in the MLE frame.
pub struct FrameProjection {
    eigen: EigenWorkspace,
    frame: FrameMap,
    mapped: Vec<f64>,
}

impl FrameProjection {
    /// Allocates scratch for d×d matrices.
    pub fn new(d: usize) -> Self {
        Self {
            eigen: EigenWorkspace::new(d),
            frame: FrameMap::new(d),
            mapped: vec![0.0; d * d],
        }
    }

    /// PLS from the raw linear inversion `raw` = A⁺f: writes the projected
    /// state in the MLE frame into `tau` and mapped back into `rho`.
    pub fn project(
        &mut self,
        set: SetView<'_>,
        raw: &[f64],
        tau: &mut [f64],
        rho: &mut [f64],
    ) -> Result<(), TomoError> {
        let d = set.dim();
        match &set.info.g_sqrt {
            Some(g_half) => self.frame.sandwich(g_half, raw, &mut self.mapped),
            None => self.mapped.copy_from_slice(raw),
        }
        // Trace 1 up to rounding for every sample with counts; the
        // projection below fixes the trace whatever it is.
        let t = hermitian::trace(&self.mapped, d);
        if t > 0.0 && t.is_finite() {
            self.mapped.iter_mut().for_each(|v| *v /= t);
        }
        self.eigen.project_to_states(&self.mapped, 1.0, tau)?;
        self.frame.from_frame(set, tau, rho)
    }
}
