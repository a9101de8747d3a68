//! Linear inversion.
//!
//! $$ x(ρ) = A^{+} f, \qquad ρ \leftarrow ρ / \operatorname{Tr} ρ, $$
//! with f the frequencies of the sample (see [`crate::tomo::counts`]) and A⁺
//! the pseudo-inverse of the projector matrix (the least-squares solution of
//! A x = f). The result is Hermitian with trace 1 but may have negative
//! eigenvalues: it is then flagged unphysical. Over a chunk of samples this
//! is one matrix product, X = F A⁺ᵀ.
//!
//! For grouped sets Tr(A⁺f) = 1 exactly (each setting's frequencies sum to
//! 1 and its projectors to I). For ungrouped sets the trace of σ = A⁺f
//! estimates the unknown intensity and can be zero or negative when the
//! outcomes that sum to the identity have (almost) no counts, although other
//! outcomes do. Normalising by such a trace would give a state of trace
//! 10¹⁵ or a failed sample, so the estimate is *degenerate* when
//! Tr σ < [`DEGENERATE_TRACE`] / Tr G (G = Σ_k Π_k; a PSD σ fitting the
//! frequencies has Tr(Gσ) ≈ Σ_k f_k = 1, hence Tr σ ≥ Tr(Gσ)/Tr G ≈ 1/Tr G),
//! and [`normalise`] reports it; the caller then falls
//! back to the PLS estimate, which is always defined (see [`crate::tomo::pls`]).
//!
//! Reference: D. F. V. James et al., PRA 64, 052312 (2001), section IV.

use crate::tomo::TomoError;
use crate::tomo::counts;
use crate::tomo::hermitian;
use crate::tomo::measurement::SetView;
use crate::tomo::product::ProductScratch;
use faer::{Accum, MatMut, MatRef, Par};

/// Reusable buffers for linear inversion of samples of one set.
#[derive(Debug, Clone, Default)]
pub struct LinearWorkspace {
    freq: Vec<f64>,
    setting_totals: Vec<f64>,
    scratch: ProductScratch,
}

impl LinearWorkspace {
    /// Allocates buffers for the set.
    pub fn new(set: SetView<'_>) -> Self {
        Self {
            freq: vec![0.0; set.len()],
            setting_totals: Vec::new(),
            scratch: ProductScratch::default(),
        }
    }

    /// The raw linear inversion A⁺f of one sample (not normalised), written
    /// into `x`.
    pub fn raw(
        &mut self,
        set: SetView<'_>,
        counts: &[f64],
        x: &mut [f64],
    ) -> Result<(), TomoError> {
        let total = counts::validate(set.info, counts)?;
        self.freq.resize(set.len(), 0.0);
        counts::frequencies(
            set.info,
            counts,
            total,
            &mut self.setting_totals,
            &mut self.freq,
        )?;
        set.apply_pinv(&self.freq, x, &mut self.scratch);
        Ok(())
    }

    /// Linear-inversion estimate of one sample, written into `rho`
    /// (coordinates, trace 1); [`TomoError::NonPositiveTrace`] when the
    /// estimate is degenerate (see the module documentation).
    pub fn estimate(
        &mut self,
        set: SetView<'_>,
        counts: &[f64],
        rho: &mut [f64],
    ) -> Result<(), TomoError> {
        self.raw(set, counts, rho)?;
        normalise(set, rho)
    }
}

/// Relative trace below which an ungrouped set's linear inversion is
/// degenerate (see the module documentation).
pub const DEGENERATE_TRACE: f64 = 0.1;

/// Normalises a raw linear inversion A⁺f to trace 1 in place; an error when
/// its trace is not positive, or (ungrouped sets) degenerate.
pub fn normalise(set: SetView<'_>, x: &mut [f64]) -> Result<(), TomoError> {
    let d = set.dim();
    let t = hermitian::trace(x, d);
    if !set.info.is_grouped() && t.is_finite() {
        // The frequencies sum to 1 ≈ Tr(Gσ); Tr G = Σ_k Tr Π_k.
        let tr_g: f64 = set
            .a
            .chunks_exact(d * d)
            .map(|row| hermitian::trace(row, d))
            .sum();
        if t < DEGENERATE_TRACE / tr_g {
            return Err(TomoError::NonPositiveTrace { trace: t });
        }
    }
    normalise_trace(x, d)
}

/// Divides coordinates by their trace; an error when the trace is not positive.
pub fn normalise_trace(x: &mut [f64], d: usize) -> Result<(), TomoError> {
    let t = hermitian::trace(x, d);
    if !(t > 0.0 && t.is_finite()) {
        return Err(TomoError::NonPositiveTrace { trace: t });
    }
    for v in x.iter_mut() {
        *v /= t;
    }
    Ok(())
}

/// Linear inversion of a chunk of samples with one matrix product (for a
/// product set, which has no dense A⁺, one sample at a time).
///
/// `counts` is N×M row-major; the estimates are written into `out`, N×d²
/// row-major. Each row's result is independent: the returned vector holds the
/// per-sample outcome (an error leaves that row's coordinates unspecified).
pub fn linear_batch(
    set: SetView<'_>,
    counts: &[f64],
    out: &mut [f64],
    par: Par,
) -> Vec<Result<(), TomoError>> {
    let m = set.len();
    let dd = set.info.coord_len();
    let n = counts.len() / m;
    assert!(
        counts.len() == n * m && out.len() == n * dd,
        "shape mismatch"
    );
    let mut freq = vec![0.0; n * m];
    let mut totals = Vec::new();
    let mut status: Vec<Result<(), TomoError>> = Vec::with_capacity(n);
    for s in 0..n {
        let row = &counts[s * m..(s + 1) * m];
        let f = &mut freq[s * m..(s + 1) * m];
        status.push(
            counts::validate(set.info, row)
                .and_then(|total| counts::frequencies(set.info, row, total, &mut totals, f)),
        );
    }
    if set.product().is_some() {
        let mut scratch = ProductScratch::default();
        for (s, st) in status.iter_mut().enumerate() {
            if st.is_ok() {
                let x = &mut out[s * dd..(s + 1) * dd];
                set.apply_pinv(&freq[s * m..(s + 1) * m], x, &mut scratch);
                *st = normalise(set, x);
            }
        }
        return status;
    }
    let fm = MatRef::from_row_major_slice(&freq, n, m);
    // A⁺ is d²×M row-major, i.e. (A⁺)ᵀ is M×d² column-major.
    let pt = MatRef::from_column_major_slice(set.pinv, m, dd);
    let om = MatMut::from_row_major_slice_mut(out, n, dd);
    faer::linalg::matmul::matmul(om, Accum::Replace, fm, pt, 1.0, par);
    for (s, st) in status.iter_mut().enumerate() {
        if st.is_ok() {
            *st = normalise(set, &mut out[s * dd..(s + 1) * dd]);
        }
    }
    status
}
