//! The MLE frame of an ungrouped set: ρ ↔ τ = G^{1/2} ρ G^{1/2} / Tr(Gρ).
//!
//! For an ungrouped set (free intensity, Poisson counts), the operators
//! Π̃_k = G^{-1/2} Π_k G^{-1/2} (G = Σ_k Π_k) form one complete measurement,
//! and the likelihood of ρ is the multinomial likelihood of the state
//! τ = G^{1/2} ρ G^{1/2} / Tr(Gρ) for the Π̃_k (see
//! [`crate::tomo::measurement`]). Estimators that must return a trace-1
//! state work in τ and map back with ρ = G^{-1/2} τ G^{-1/2} / Tr(G^{-1}τ),
//! which is well defined for every state τ (G^{-1} is positive definite).
//! For grouped sets both maps are the identity.

use crate::tomo::TomoError;
use crate::tomo::hermitian;
use crate::tomo::linear::normalise_trace;
use crate::tomo::measurement::SetView;
use faer::{Mat, c64};

/// Scratch memory for the maps between a set's ρ and its MLE frame τ.
pub struct FrameMap {
    w: Mat<c64>,
    x: Mat<c64>,
    wx: Mat<c64>,
    out: Mat<c64>,
}

impl FrameMap {
    /// Allocates scratch for d×d matrices.
    pub fn new(d: usize) -> Self {
        Self {
            w: Mat::zeros(d, d),
            x: Mat::zeros(d, d),
            wx: Mat::zeros(d, d),
            out: Mat::zeros(d, d),
        }
    }

    /// `tau` ← G^{1/2} ρ G^{1/2} / Tr(Gρ) (a copy of ρ for grouped sets).
    /// An error when Tr(Gρ) is not positive (ρ not a state).
    pub fn to_frame(
        &mut self,
        set: SetView<'_>,
        rho: &[f64],
        tau: &mut [f64],
    ) -> Result<(), TomoError> {
        self.map(set.info.g_sqrt.as_deref(), set.dim(), rho, tau)
    }

    /// `rho` ← G^{-1/2} τ G^{-1/2} / Tr(G^{-1}τ) (a copy of τ for grouped sets).
    /// An error when Tr(G^{-1}τ) is not positive (τ not a state).
    pub fn from_frame(
        &mut self,
        set: SetView<'_>,
        tau: &[f64],
        rho: &mut [f64],
    ) -> Result<(), TomoError> {
        self.map(set.info.g_inv_sqrt.as_deref(), set.dim(), tau, rho)
    }

    /// `out` ← W X W / Tr(W X W), or a copy of X without W.
    fn map(
        &mut self,
        w: Option<&[f64]>,
        d: usize,
        x: &[f64],
        out: &mut [f64],
    ) -> Result<(), TomoError> {
        match w {
            Some(w) => {
                self.sandwich(w, x, out);
                normalise_trace(out, d)
            }
            None => {
                out.copy_from_slice(x);
                Ok(())
            }
        }
    }

    /// `out` ← coordinates of W X W, for W and X given as coordinates.
    pub fn sandwich(&mut self, w: &[f64], x: &[f64], out: &mut [f64]) {
        hermitian::from_coords(w, self.w.as_mut());
        hermitian::from_coords(x, self.x.as_mut());
        hermitian::triple_product(
            self.out.as_mut(),
            self.wx.as_mut(),
            self.w.as_ref(),
            self.x.as_ref(),
            self.w.as_ref(),
        );
        hermitian::to_coords(self.out.as_ref(), out);
    }
}
