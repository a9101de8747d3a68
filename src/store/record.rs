//! The result record: one sample's outcome, as stored in the results log.
//!
//! Field order matters: the log encodes records with postcard, which writes
//! fields in declaration order with no names. `index`, `id`, `status`,
//! `attempts`, `worker_pid` and `elapsed_us` come before the (large) method
//! results so that [`RecordHead::decode`] can read the bookkeeping fields
//! from the front of a payload without touching the density matrices.
//! Reordering or inserting fields before `methods` is a format change and
//! needs a new [`FormatVersion`](super::FormatVersion), and so is a new
//! field anywhere (postcard has no field names and no defaults): the
//! goodness of fit and the bootstrap of format 3 are `Option`s at the end
//! of [`MethodResult`], `None` where they were not computed.

use serde::{Deserialize, Serialize};

/// The outcome of one sample, as appended to the results log by a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    /// Position of the sample in the input, `0..total`.
    pub index: u64,
    /// The sample's id (the input's `sample` column, or the index as text).
    pub id: String,
    /// Whether the sample was reconstructed, and why not if it was not.
    pub status: SampleStatus,
    /// How many attempts this record is the result of (1 = first try).
    pub attempts: u32,
    /// Process id of the worker that produced the record.
    pub worker_pid: u32,
    /// Wall-clock time spent on the sample by the worker, in microseconds.
    pub elapsed_us: u64,
    /// One result per estimator that was run; empty for a failed sample.
    pub methods: Vec<MethodResult>,
}

impl SampleRecord {
    /// Returns true when the sample was reconstructed.
    pub fn is_ok(&self) -> bool {
        matches!(self.status, SampleStatus::Ok)
    }
}

/// Whether a sample was reconstructed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SampleStatus {
    /// Every requested estimator produced a result.
    Ok,
    /// The sample could not be processed (bad counts, retries exhausted, ...).
    Failed {
        /// Human-readable reason, shown in exports and the summary.
        reason: String,
    },
}

impl SampleStatus {
    /// The failure reason, or `None` for [`SampleStatus::Ok`].
    pub fn error(&self) -> Option<&str> {
        match self {
            SampleStatus::Ok => None,
            SampleStatus::Failed { reason } => Some(reason),
        }
    }

    /// The status as exported: `"ok"` or `"failed"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            SampleStatus::Ok => "ok",
            SampleStatus::Failed { .. } => "failed",
        }
    }
}

/// One estimator's reconstruction of one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodResult {
    /// Estimator name: `"mle"`, `"pls"` or `"linear"`.
    pub method: String,
    /// Hilbert-space dimension d of the density matrix.
    pub dim: u32,
    /// Real part of ρ, row-major, d×d values.
    pub rho_re: Vec<f64>,
    /// Imaginary part of ρ, row-major, d×d values.
    pub rho_im: Vec<f64>,
    /// Figures of merit of this reconstruction.
    pub metrics: MethodMetrics,
    /// Goodness of fit (MLE only; format 3).
    pub gof: Option<GofRecord>,
    /// The bootstrap spreads, when the run asked for them (MLE and PLS;
    /// format 3).
    pub bootstrap: Option<BootstrapRecord>,
    /// Tag of the target the bootstrap's fidelity and trace distance were
    /// computed against (`crate::tomo::bootstrap::target_tag`), so that a
    /// different target later clears them instead of reusing them.
    pub bootstrap_target: Option<u64>,
}

/// The likelihood-ratio test of an MLE (see `crate::tomo::gof`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GofRecord {
    /// G² = 2(L_saturated − L(ρ̂)).
    pub g2: f64,
    /// Degrees of freedom (≤ 0: nothing to test).
    pub dof: i64,
    /// χ² p-value Q(dof/2, G²/2); `None` when dof ≤ 0.
    pub p_value: Option<f64>,
    /// Parametric-bootstrap p-value of G² (with `--bootstrap`, parametric
    /// kind): calibrated near the boundary too.
    pub p_value_bootstrap: Option<f64>,
    /// χ² p-value with (d − rank ρ̂)² more degrees of freedom: a
    /// conservative bound near the boundary (`crate::tomo::gof::boundary_p_value`).
    pub p_value_boundary: Option<f64>,
}

/// The spread of one metric over the bootstrap replicates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpreadRecord {
    /// Mean of the replicates.
    pub mean: f64,
    /// Standard deviation of the replicates.
    pub std: f64,
    /// 2.5 % quantile (lower end of the 95 % percentile interval).
    pub q025: f64,
    /// 97.5 % quantile (upper end of the 95 % percentile interval).
    pub q975: f64,
}

/// The bootstrap spreads of one method's metrics; `None` where a metric
/// does not apply (no target; not two qubits).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct BootstrapMetricsRecord {
    /// Fidelity to the target.
    pub fidelity: Option<SpreadRecord>,
    /// Purity.
    pub purity: Option<SpreadRecord>,
    /// Von Neumann entropy (bits).
    pub entropy: Option<SpreadRecord>,
    /// Linear entropy.
    pub linear_entropy: Option<SpreadRecord>,
    /// Concurrence (two qubits).
    pub concurrence: Option<SpreadRecord>,
    /// Negativity (two qubits).
    pub negativity: Option<SpreadRecord>,
    /// Trace distance to the target.
    pub trace_distance: Option<SpreadRecord>,
}

/// One method's bootstrap on one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootstrapRecord {
    /// `parametric` or `nonparametric`.
    pub kind: String,
    /// Replicates drawn.
    pub replicates: u32,
    /// Replicates whose reconstruction failed (left out of the spreads).
    pub failed: u32,
    /// The spreads.
    pub metrics: BootstrapMetricsRecord,
}

/// Figures of merit of one reconstruction. Optional fields are `None` when
/// they do not apply to the estimator or the dimension (e.g. concurrence
/// outside two qubits, iterations for linear inversion).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodMetrics {
    /// Tr ρ (before any normalisation the estimator reports).
    pub trace: f64,
    /// Tr ρ².
    pub purity: f64,
    /// Eigenvalues of ρ, largest first.
    pub eigenvalues: Vec<f64>,
    /// Von Neumann entropy −Tr ρ log₂ ρ, in bits.
    pub von_neumann_entropy: f64,
    /// 1 − Tr ρ².
    pub linear_entropy: f64,
    /// Log-likelihood of the counts under ρ.
    pub log_likelihood: Option<f64>,
    /// Certified bound on L_max − L(ρ) (MLE only).
    pub gap_bound: Option<f64>,
    /// Iterations used (iterative estimators only).
    pub iterations: Option<u32>,
    /// Whether the iterative estimator met its stopping bound.
    pub converged: Option<bool>,
    /// Residual χ² of predicted against observed counts.
    pub chi2: Option<f64>,
    /// Fidelity to the target state, when one was given.
    pub fidelity: Option<f64>,
    /// Wootters concurrence (two qubits only).
    pub concurrence: Option<f64>,
    /// Negativity (two qubits only).
    pub negativity: Option<f64>,
    /// Whether ρ is a density matrix: |Tr ρ − 1| ≤ 1e-9, no eigenvalue below −1e-12.
    pub physical: bool,
    /// The rounding floor of the MLE's gap bound (MLE only): `converged`
    /// means `gap_bound ≤ max(tol, gap_floor)`.
    pub gap_floor: Option<f64>,
    /// Trace distance ½‖ρ − σ‖₁ to the target state, when one was given.
    pub trace_distance: Option<f64>,
    /// Log-negativity log₂‖ρ^{T_B}‖₁ (two qubits only).
    pub log_negativity: Option<f64>,
}

/// The bookkeeping fields at the front of a [`SampleRecord`], decoded
/// without reading or allocating the method results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHead {
    /// See [`SampleRecord::index`].
    pub index: u64,
    /// True for [`SampleStatus::Ok`].
    pub ok: bool,
    /// See [`SampleRecord::attempts`].
    pub attempts: u32,
    /// See [`SampleRecord::worker_pid`].
    pub worker_pid: u32,
    /// See [`SampleRecord::elapsed_us`].
    pub elapsed_us: u64,
}

/// Borrowing mirror of the first fields of [`SampleRecord`]; postcard
/// ignores the bytes after them.
#[derive(Deserialize)]
struct HeadWire<'a> {
    index: u64,
    #[serde(borrow)]
    _id: &'a str,
    #[serde(borrow)]
    status: StatusWire<'a>,
    attempts: u32,
    worker_pid: u32,
    elapsed_us: u64,
}

/// Borrowing mirror of [`SampleStatus`]: same variants, same order.
#[derive(Deserialize)]
enum StatusWire<'a> {
    Ok,
    Failed {
        #[serde(borrow)]
        _reason: &'a str,
    },
}

impl RecordHead {
    /// Decodes the head of a postcard-encoded [`SampleRecord`] payload.
    pub fn decode(payload: &[u8]) -> Result<RecordHead, postcard::Error> {
        let (head, _rest): (HeadWire<'_>, _) = postcard::take_from_bytes(payload)?;
        Ok(RecordHead {
            index: head.index,
            ok: matches!(head.status, StatusWire::Ok),
            attempts: head.attempts,
            worker_pid: head.worker_pid,
            elapsed_us: head.elapsed_us,
        })
    }
}

/// Deterministic record builders shared by the store's tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// SplitMix64: a tiny deterministic generator for test data.
    pub(crate) struct SplitMix(pub u64);

    impl SplitMix {
        pub(crate) fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        pub(crate) fn next_f64(&mut self) -> f64 {
            (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// A method result with dimension `dim` and values derived from `seed`.
    pub(crate) fn method(name: &str, dim: u32, seed: u64) -> MethodResult {
        let mut rng = SplitMix(seed);
        let n = (dim * dim) as usize;
        let rho_re: Vec<f64> = (0..n).map(|_| rng.next_f64()).collect();
        let rho_im: Vec<f64> = (0..n).map(|_| rng.next_f64() - 0.5).collect();
        let is_mle = name == "mle";
        MethodResult {
            method: name.to_string(),
            dim,
            rho_re,
            rho_im,
            metrics: MethodMetrics {
                trace: 1.0,
                purity: rng.next_f64(),
                eigenvalues: (0..dim).map(|_| rng.next_f64()).collect(),
                von_neumann_entropy: rng.next_f64(),
                linear_entropy: rng.next_f64(),
                log_likelihood: is_mle.then(|| -rng.next_f64() * 100.0),
                gap_bound: is_mle.then(|| rng.next_f64() * 1e-6),
                iterations: is_mle.then_some(17),
                converged: is_mle.then_some(true),
                chi2: Some(rng.next_f64()),
                fidelity: None,
                concurrence: (dim == 4).then(|| rng.next_f64()),
                negativity: None,
                physical: name != "linear",
                gap_floor: is_mle.then(|| rng.next_f64() * 1e-12),
                trace_distance: None,
                log_negativity: None,
            },
            gof: is_mle.then_some(GofRecord {
                g2: 11.5,
                dof: 12,
                p_value: Some(0.49),
                p_value_bootstrap: None,
                p_value_boundary: Some(0.6),
            }),
            bootstrap: None,
            bootstrap_target: None,
        }
    }

    /// A record for sample `index`: ok with the given methods, or failed.
    pub(crate) fn record(index: u64, ok: bool, methods: &[&str], dim: u32) -> SampleRecord {
        SampleRecord {
            index,
            id: format!("s{index}"),
            status: if ok {
                SampleStatus::Ok
            } else {
                SampleStatus::Failed {
                    reason: format!("all counts zero in sample {index}"),
                }
            },
            attempts: 1,
            worker_pid: 4242,
            elapsed_us: 1000 + index,
            methods: if ok {
                methods
                    .iter()
                    .enumerate()
                    .map(|(k, m)| method(m, dim, index * 31 + k as u64))
                    .collect()
            } else {
                Vec::new()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::record;
    use super::*;

    #[test]
    fn head_decodes_prefix_of_full_record() {
        for ok in [true, false] {
            let rec = record(123_456, ok, &["mle", "pls", "linear"], 4);
            let bytes = postcard::to_stdvec(&rec).unwrap();
            let head = RecordHead::decode(&bytes).unwrap();
            assert_eq!(head.index, 123_456);
            assert_eq!(head.ok, ok);
            assert_eq!(head.attempts, rec.attempts);
            assert_eq!(head.worker_pid, rec.worker_pid);
            assert_eq!(head.elapsed_us, rec.elapsed_us);
            let back: SampleRecord = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(back, rec);
        }
    }

    #[test]
    fn status_strings() {
        assert_eq!(SampleStatus::Ok.as_str(), "ok");
        assert_eq!(SampleStatus::Ok.error(), None);
        let f = SampleStatus::Failed { reason: "x".into() };
        assert_eq!(f.as_str(), "failed");
        assert_eq!(f.error(), Some("x"));
    }
}
