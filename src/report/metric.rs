//! The metrics the report plots: how each is read from a record, its
//! nominal range (where a histogram starts, see
//! [`Histogram`](super::stats::Histogram)) and its label.

use crate::store::MethodResult;

/// A per-method metric the report can plot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Tr ρ².
    Purity,
    /// Von Neumann entropy, bits.
    Entropy,
    /// Fidelity to the target (only with a target).
    Fidelity,
    /// Wootters concurrence (two qubits).
    Concurrence,
    /// Negativity (two qubits).
    Negativity,
    /// MLE iterations.
    Iterations,
    /// log₁₀ of the MLE's certified gap bound.
    GapBound,
    /// Log-likelihood (the selection metric without a target).
    LogLikelihood,
    /// χ² p-value of the MLE's G² goodness-of-fit test: piled up near 0
    /// when the data fit no state (drift, a misaligned wave plate).
    GofPValue,
}

impl Metric {
    /// The metrics that get a histogram per method (each only when the
    /// method has values of it), in the report's order.
    pub const ALL: [Metric; 8] = [
        Metric::Purity,
        Metric::Entropy,
        Metric::Fidelity,
        Metric::Concurrence,
        Metric::Negativity,
        Metric::Iterations,
        Metric::GapBound,
        Metric::GofPValue,
    ];

    /// The metrics that get a trend against the sample index.
    pub const TRENDS: [Metric; 3] = [Metric::Fidelity, Metric::Purity, Metric::Entropy];

    /// The metric's value in the method's result, if it has one
    /// (non-finite values are passed on: the statistics count them apart).
    pub fn value(self, r: &MethodResult) -> Option<f64> {
        let m = &r.metrics;
        match self {
            Metric::Purity => Some(m.purity),
            Metric::Entropy => Some(m.von_neumann_entropy),
            Metric::Fidelity => m.fidelity,
            Metric::Concurrence => m.concurrence,
            Metric::Negativity => m.negativity,
            Metric::Iterations => m.iterations.map(f64::from),
            // A bound of 0 (exact) is drawn at the floor of the scale.
            Metric::GapBound => m.gap_bound.map(|g| g.max(1e-300).log10()),
            Metric::LogLikelihood => m.log_likelihood,
            Metric::GofPValue => r.gof.as_ref().and_then(|g| g.p_value),
        }
    }

    /// The range a histogram of the metric starts with for dimension `dim`
    /// (it grows to take values outside).
    pub fn nominal_range(self, dim: usize) -> (f64, f64) {
        match self {
            Metric::Purity | Metric::Fidelity | Metric::Concurrence | Metric::GofPValue => {
                (0.0, 1.0)
            }
            Metric::Entropy => (0.0, (dim.max(2) as f64).log2()),
            Metric::Negativity => (0.0, 0.5),
            Metric::Iterations => (0.0, 40.0),
            Metric::GapBound => (-14.0, -2.0),
            Metric::LogLikelihood => (-1.0, 0.0),
        }
    }

    /// The metric's name as an axis label.
    pub fn label(self) -> &'static str {
        match self {
            Metric::Purity => "purity Tr ρ²",
            Metric::Entropy => "von Neumann entropy (bits)",
            Metric::Fidelity => "fidelity to the target",
            Metric::Concurrence => "concurrence",
            Metric::Negativity => "negativity",
            Metric::Iterations => "MLE iterations",
            Metric::GapBound => "log₁₀ certified gap bound",
            Metric::LogLikelihood => "log-likelihood",
            Metric::GofPValue => "G² goodness-of-fit p-value",
        }
    }

    /// A short name, for ids and captions.
    pub fn key(self) -> &'static str {
        match self {
            Metric::Purity => "purity",
            Metric::Entropy => "entropy",
            Metric::Fidelity => "fidelity",
            Metric::Concurrence => "concurrence",
            Metric::Negativity => "negativity",
            Metric::Iterations => "iterations",
            Metric::GapBound => "gap-bound",
            Metric::LogLikelihood => "log-likelihood",
            Metric::GofPValue => "gof-p-value",
        }
    }

    /// Whether the metric takes whole-number values (drawn as integer bins).
    pub fn is_count(self) -> bool {
        self == Metric::Iterations
    }
}
