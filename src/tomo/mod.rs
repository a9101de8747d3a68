//! The numerical core: measurement sets, estimators, metrics and simulation.
//!
//! Pure numerics: no I/O, no processes, no global state (the one setting
//! kept per thread is the scoped parallelism of [`parallel`], sequential
//! unless a caller asks for threads). Everything else in qtomo calls into
//! this module.
//!
//! States and Hermitian operators are handled as real coordinate vectors of
//! length d² in an orthonormal basis ([`hermitian`]); a measurement set is the
//! real M×d² matrix A of its projectors ([`measurement`]).
//!
//! Two levels, as in faer: [`Reconstructor::run`] computes every requested
//! method and its metrics for one sample; the kernels
//! ([`LinearWorkspace`], [`PlsWorkspace`], [`MleWorkspace`],
//! [`linear::linear_batch`]) write into caller buffers and keep their scratch
//! memory between samples.
//!
//! # Layout
//! - [`hermitian`]: real coordinates of Hermitian matrices; [`frame`]: the MLE frame of ungrouped sets.
//! - [`eigen`]: Hermitian eigendecomposition with reused scratch; projection onto states.
//! - [`jacobi`]: warm-started Jacobi eigensolver for the MLE's small matrices.
//! - [`measurement`]: measurement sets, A, A⁺, grouping; [`sets`]: the built-in sets.
//! - [`model`]: measurement models (readout, crosstalk, scales) turning projectors into effects.
//! - [`operator`]: p = A x, Aᵀw, A⁺f for any set; [`product`]: the same for product sets (Pauli above 3 qubits) without forming A.
//! - [`counts`]: validation of a sample, frequencies.
//! - [`likelihood`]: log-likelihood and gradient.
//! - [`linear`], [`pls`], [`mle`]: the estimators, one per file, each citing its paper.
//! - [`gof`]: goodness of fit (G², χ² p-value); [`bootstrap`]: per-sample error bars.
//! - [`metrics`]: figures of merit; [`states`]: named/random states and targets.
//! - [`simulate`]: counts with shot noise; [`reconstruct`]: the convenience entry point.
//! - [`parallel`]: several threads for one sample's large kernels (`--threads-per-worker`).

pub mod bloch;
pub mod bootstrap;
pub mod counts;
pub mod eigen;
mod error;
pub mod frame;
pub mod gof;
pub mod hermitian;
pub mod jacobi;
pub mod likelihood;
pub mod linear;
pub mod measurement;
pub mod metrics;
pub mod mle;
pub mod model;
pub mod operator;
pub mod parallel;
pub mod pls;
pub mod product;
pub mod projection;
pub mod reconstruct;
pub mod sets;
pub mod simulate;
pub mod states;
#[cfg(test)]
mod tests;

pub use eigen::EigenWorkspace;
pub use error::TomoError;
pub use linear::LinearWorkspace;
pub use measurement::{Grouping, MeasurementSet, SetInfo, SetView};
pub use metrics::Metrics;
pub use mle::{MleInfo, MleParams, MleWorkspace};
pub use pls::PlsWorkspace;
pub use reconstruct::{Estimate, Method, Reconstructor};
pub use states::Target;

/// Builds a built-in measurement set by name: `pauli` (with `qubits`),
/// `qudit` (with `dim`) or `james16`.
pub fn builtin_set(
    name: &str,
    qubits: Option<usize>,
    dim: Option<usize>,
) -> Result<MeasurementSet, TomoError> {
    match name {
        "pauli" => sets::pauli::pauli(
            qubits.ok_or_else(|| TomoError::InvalidSet("pauli needs --qubits N".into()))?,
        ),
        "qudit" => sets::qudit::qudit(
            dim.ok_or_else(|| TomoError::InvalidSet("qudit needs --dim D".into()))?,
        ),
        "james16" => sets::james16::james16(),
        _ => Err(TomoError::InvalidSet(format!(
            "unknown basis '{name}'; expected pauli, qudit, james16 or a kets file"
        ))),
    }
}
