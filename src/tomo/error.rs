//! Errors raised by the numerics.
//!
//! Each variant names the quantity that was wrong and what was expected.
//! Shape mistakes made by the caller (a buffer of the wrong length) are
//! programming errors and panic with `#[track_caller]`; everything that
//! data can cause is a [`TomoError`].

use thiserror::Error;

/// A failure of the numerical core that input data can cause.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum TomoError {
    /// The projectors do not span the space of Hermitian matrices.
    #[error(
        "measurement set '{set}' is not informationally complete: rank {rank} < d² = {needed} (cond(A) = {cond:.3e})"
    )]
    NotInformationallyComplete {
        /// Name of the set.
        set: String,
        /// Numerical rank of the projector matrix.
        rank: usize,
        /// Required rank, d².
        needed: usize,
        /// Condition number σ_max/σ_min of the projector matrix.
        cond: f64,
    },
    /// A measurement-set parameter is out of range.
    #[error("invalid measurement set: {0}")]
    InvalidSet(String),
    /// A count is negative, NaN or infinite.
    #[error(
        "count for outcome '{label}' (position {position}) must be a non-negative finite number, found {value}"
    )]
    InvalidCount {
        /// Label of the outcome.
        label: String,
        /// 0-based position in the sample.
        position: usize,
        /// The offending value.
        value: f64,
    },
    /// A sample has the wrong number of counts.
    #[error("sample has {found} counts, expected {expected} (one per projector)")]
    WrongCountLength {
        /// Expected length (number of projectors).
        expected: usize,
        /// Found length.
        found: usize,
    },
    /// Every count of the sample is zero.
    #[error("sample has no counts: every outcome is zero")]
    NoCounts,
    /// The linear-inversion estimate has non-positive trace and cannot be normalised.
    #[error(
        "linear-inversion estimate has non-positive trace {trace:e}; the counts are inconsistent with the measurement set"
    )]
    NonPositiveTrace {
        /// The trace found.
        trace: f64,
    },
    /// An eigendecomposition did not converge.
    #[error("eigendecomposition did not converge")]
    EigenNoConvergence,
    /// A target state is malformed or of the wrong dimension.
    #[error("invalid target state: {0}")]
    InvalidTarget(String),
    /// A measurement model (readout or crosstalk matrix, scales) does not
    /// fit the set, or its values are out of range.
    #[error("invalid measurement model: {0}")]
    InvalidModel(String),
}
