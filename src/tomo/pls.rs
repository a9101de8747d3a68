//! Projected least squares (PLS).
//!
//! $$ ρ_{PLS} = \arg\min_{σ ⪰ 0,\ \operatorname{Tr}σ = 1} \lVert σ - ρ_{LI} \rVert_F , $$
//! the density matrix nearest to the linear-inversion estimate ρ_LI, computed
//! by diagonalising ρ_LI and projecting its eigenvalues onto the probability
//! simplex. Reference: J. A. Smolin, J. M. Gambetta, G. Smith, "Efficient
//! method for computing the maximum-likelihood quantum state from
//! measurements with additive Gaussian noise", PRL 108, 070502 (2012); see also
//! Guţă, Kahn, Kueng, Tropp, J. Phys. A 53, 204001 (2020) for its error bounds.

use crate::tomo::TomoError;
use crate::tomo::eigen::EigenWorkspace;
use crate::tomo::linear::LinearWorkspace;
use crate::tomo::measurement::SetView;

/// Reusable buffers for PLS estimates of samples of one set.
pub struct PlsWorkspace {
    linear: LinearWorkspace,
    eigen: EigenWorkspace,
    lin: Vec<f64>,
}

impl PlsWorkspace {
    /// Allocates buffers for the set.
    pub fn new(set: SetView<'_>) -> Self {
        Self {
            linear: LinearWorkspace::new(set),
            eigen: EigenWorkspace::new(set.dim()),
            lin: vec![0.0; set.info.coord_len()],
        }
    }

    /// PLS estimate of one sample into `rho`; the linear estimate is left in
    /// `linear_out` when given.
    pub fn estimate(
        &mut self,
        set: SetView<'_>,
        counts: &[f64],
        rho: &mut [f64],
        linear_out: Option<&mut [f64]>,
    ) -> Result<(), TomoError> {
        self.linear.estimate(set, counts, &mut self.lin)?;
        if let Some(out) = linear_out {
            out.copy_from_slice(&self.lin);
        }
        project(&mut self.eigen, &self.lin, rho)
    }
}

/// Projects a trace-1 Hermitian estimate onto the density matrices.
pub fn project(
    eigen: &mut EigenWorkspace,
    linear: &[f64],
    rho: &mut [f64],
) -> Result<(), TomoError> {
    eigen.project_to_states(linear, 1.0, rho)?;
    Ok(())
}
