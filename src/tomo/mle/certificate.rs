//! The MLE certificate: a bound on how far a state's log-likelihood is from
//! the maximum, and the rounding floor below which that bound means nothing.
//!
//! L̃(τ) = Σ_k n_k log Tr(Π̃_k τ) is concave on the states, so for every state
//! τ (D. S. Glancy, E. Knill, M. Girard, "Gradient-based stopping rules for
//! maximum-likelihood quantum-state tomography", NJP 14, 095017 (2012))
//! $$ \tilde L_{\max} - \tilde L(τ) \le λ_{\max}(R) - \operatorname{Tr}(τ R),\qquad R = \nabla\tilde L(τ) = \sum_k \frac{n_k}{p_k}\tildeΠ_k,\ p_k = \operatorname{Tr}(\tildeΠ_k τ). $$
//!
//! **Rounding.** Both terms on the right are of order N (the total count)
//! and nearly cancel. Since Σ_k Π̃_k = γI (γ the number of settings, 1 in
//! the frame of an ungrouped set), the bound is evaluated from the shifted
//! gradient S = R − N I = Σ_k u_k Π̃_k, u_k = n_k/p_k − N/γ, as
//! λ_max(S) − Tr(τS) + N(1 − Tr τ): near the maximum the u_k are small and
//! nothing of order N is subtracted. [`CertificateWorkspace::certify`]
//! evaluates it from freshly computed probabilities — with a compensated dot
//! product (T. Ogita, S. M. Rump, S. Oishi, "Accurate sum and dot product",
//! SIAM J. Sci. Comput. 26, 1955 (2005)) wherever cancellation makes the
//! plain one inaccurate — and a first-order bound `err` on the rounding
//! error of that evaluation:
//!
//! - λ_max of S: 8 d^{3/2} ε ‖S‖_F (every eigensolver used is backward
//!   stable: the Jacobi sweeps stop at 4dε‖S‖_F off the diagonal, the
//!   closed form for d = 2 and faer's solver err by a few ε‖S‖);
//! - the inner product Tr(τS): 2dε Σ_j |τ_j S_j|;
//! - summing S: 2√M ε Σ_k |u_k| Tr Π̃_k (‖Π̃_k‖ ≤ Tr Π̃_k for a PSD Π̃_k);
//!   for a product set ([`crate::tomo::product`]), which computes S and the
//!   p_k subsystem by subsystem, Kε times the magnitude of each computed
//!   value instead (K its [`ProductSpec::rounding_depth`]): p_k has relative
//!   error ε + Kε s_k/p_k with s_k the magnitude of p_k, and S is off by at
//!   most Kε‖|S|‖_F (|S| the magnitudes of its coordinates), which moves
//!   λ_max(S) and Tr(τS) by at most that times 1 and ‖τ‖_F;
//! - the weights: p_k has relative error r_k (4ε compensated, else
//!   ε(1 + d s_k/p_k), s_k = Σ_j |Π̃_{kj} τ_j|), and forming u_k adds
//!   ε max(n_k/p_k, N/γ); with e_k the sum, λ_max moves by at most
//!   λ_max(Σ_k e_k Π̃_k) ≤ Tr Σ_k e_k Π̃_k and Tr(τS) by Σ_k e_k p_k (for
//!   a product set whose settings are orthonormal bases, λ_max of one
//!   setting's sum is its largest e_k, so the first term is Σ_s max_{k∈s} e_k);
//! - the state itself, rounded when it is mapped or exported: the
//!   log-likelihood moves by at most dε Σ_k n_k s_k / p_k;
//! - the trace term: 2εN |1 − Tr τ|.
//!
//! The reported bound is `gap_bound` = max(computed gap, 0) + err, an upper
//! bound on L̃_max − L̃(τ) that includes its own rounding; `gap_floor` = 2·err
//! is the smallest bound that can be certified for this sample. A sample is
//! converged when `gap_bound ≤ max(tol, gap_floor)`. A NaN or infinite value
//! anywhere, or a state that gives an observed outcome probability ≤ 0, gives
//! an infinite bound that never converges.

use crate::tomo::TomoError;
use crate::tomo::eigen::EigenWorkspace;
use crate::tomo::hermitian;
use crate::tomo::measurement::{Grouping, SetView};
use crate::tomo::product::{ProductScratch, ProductSpec};

/// A certified bound on L̃_max − L̃(τ) for one state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Certificate {
    /// Upper bound on L̃_max − L̃(τ), rounding included; `inf` when it cannot
    /// be evaluated.
    pub gap_bound: f64,
    /// The smallest bound this sample's rounding allows (2× the rounding
    /// error of the evaluation); `inf` when the bound is `inf`.
    pub gap_floor: f64,
    /// L̃(τ) = Σ_k n_k log Tr(Π̃_k τ) from the same probabilities; −∞ when
    /// it cannot be evaluated.
    pub log_likelihood: f64,
}

impl Certificate {
    /// The certificate of a state whose bound cannot be evaluated.
    pub const UNKNOWN: Certificate = Certificate {
        gap_bound: f64::INFINITY,
        gap_floor: f64::INFINITY,
        log_likelihood: f64::NEG_INFINITY,
    };

    /// True when the bound is at most `tol` or at the rounding floor.
    pub fn converged(&self, tol: f64) -> bool {
        self.gap_bound.is_finite() && self.gap_bound <= tol.max(self.gap_floor)
    }
}

/// Probabilities whose plain dot product may have lost more than this
/// relative accuracy (s_k / p_k above it) are recomputed compensated.
const COMPENSATE_ABOVE: f64 = 16.0;

/// Scratch memory for [`CertificateWorkspace::certify`].
pub struct CertificateWorkspace {
    d: usize,
    gamma: f64,
    /// Tr Π̃_k per row.
    traces: Vec<f64>,
    shifted: Vec<f64>,
    eigen: EigenWorkspace,
    /// Product sets only: p_k, their magnitudes, u_k, and the magnitudes
    /// of S's coordinates.
    product: Option<ProductBuffers>,
}

/// The buffers of the product-set evaluation.
struct ProductBuffers {
    p: Vec<f64>,
    magnitude: Vec<f64>,
    u: Vec<f64>,
    shifted_magnitude: Vec<f64>,
    scratch: ProductScratch,
}

/// The rounding terms that differ between the dense and the product
/// evaluation of S and the p_k (see the module docs).
#[derive(Default)]
struct RowTerms {
    /// Σ e_k Tr Π̃_k.
    weights: f64,
    /// Σ e_k p_k.
    inner: f64,
    /// Bound on ‖fl(S) − S‖_F from summing S.
    sum: f64,
    /// Σ n_k s_k / p_k.
    state: f64,
    /// Σ n_k log p_k.
    log_likelihood: f64,
}

impl CertificateWorkspace {
    /// Allocates scratch for the states of `set` and its MLE rows
    /// (which sum to γI).
    pub fn new(set: SetView<'_>) -> Self {
        let d = set.dim();
        let traces = set.mle_row_traces();
        let m = traces.len();
        Self {
            d,
            gamma: crate::tomo::likelihood::identity_multiple(&traces, d),
            traces,
            shifted: vec![0.0; d * d],
            eigen: EigenWorkspace::new(d),
            product: set.product().map(|_| ProductBuffers {
                p: vec![0.0; m],
                magnitude: vec![0.0; m],
                u: vec![0.0; m],
                shifted_magnitude: vec![0.0; d * d],
                scratch: ProductScratch::default(),
            }),
        }
    }

    /// The certificate of the state with coordinates `tau` for the MLE rows
    /// of `set` and the counts `counts`. Independent of anything computed
    /// before: every quantity is evaluated afresh from `tau`.
    pub fn certify(
        &mut self,
        set: SetView<'_>,
        counts: &[f64],
        tau: &[f64],
    ) -> Result<Certificate, TomoError> {
        let d = self.d;
        let n = d * d;
        let df = d as f64;
        let eps = f64::EPSILON;
        if tau.len() != n || tau.iter().any(|v| !v.is_finite()) {
            return Ok(Certificate::UNKNOWN);
        }
        let total: f64 = counts.iter().sum();
        let terms = match (set.dense_mle_rows(), set.product()) {
            (Some(rows), _) => self.dense_rows(rows, counts, tau, total),
            (None, Some(spec)) => {
                let setting_of = match &set.info.grouping {
                    Grouping::Settings { setting_of, .. } => Some(setting_of.as_slice()),
                    Grouping::Ungrouped => None,
                };
                self.product_rows(spec, setting_of, counts, tau, total)
            }
            (None, None) => None,
        };
        let Some(terms) = terms else {
            return Ok(Certificate::UNKNOWN);
        };
        // gap = λ_max(R) − Tr(τR) = λ_max(S) − Tr(τS) + N (1 − Tr τ).
        let lmax = self.eigen.max_eigenvalue(&self.shifted)?;
        let norm_s = self.shifted.iter().map(|v| v * v).sum::<f64>().sqrt();
        let inner = hermitian::dot(tau, &self.shifted);
        let inner_mag: f64 = tau
            .iter()
            .zip(&self.shifted)
            .map(|(a, b)| (a * b).abs())
            .sum();
        let trace_defect = 1.0 - compensated_sum(&tau[..d]);
        let gap = lmax - inner + total * trace_defect;
        let err = eps
            * (8.0 * df * df.sqrt() * norm_s
                + 2.0 * df * inner_mag
                + df * terms.state
                + 2.0 * total * trace_defect.abs())
            + terms.sum
            + terms.weights
            + terms.inner;
        let log_likelihood = terms.log_likelihood;
        if !(gap.is_finite() && err.is_finite()) {
            return Ok(Certificate {
                log_likelihood,
                ..Certificate::UNKNOWN
            });
        }
        Ok(Certificate {
            gap_bound: gap.max(0.0) + err,
            gap_floor: 2.0 * err,
            log_likelihood,
        })
    }

    /// S into `shifted` and the row terms, from dense rows: p_k by dot
    /// products (compensated where they cancel), S summed row by row.
    /// `None` when an observed outcome has p_k ≤ 0.
    fn dense_rows(
        &mut self,
        rows: &[f64],
        counts: &[f64],
        tau: &[f64],
        total: f64,
    ) -> Option<RowTerms> {
        let n = self.d * self.d;
        let df = self.d as f64;
        let eps = f64::EPSILON;
        let shift = total / self.gamma;
        // S = R − N I = Σ_k u_k Π̃_k, u_k = n_k/p_k − N/γ; e_k bounds the
        // error of u_k, and λ_max(Σ_k e_k Π̃_k) ≤ Σ_k e_k Tr Π̃_k.
        self.shifted.fill(0.0);
        let mut terms = RowTerms::default();
        let mut abs_sum = 0.0; // Σ |u_k| Tr Π̃_k
        for (k, &c) in counts.iter().enumerate() {
            let row = &rows[k * n..(k + 1) * n];
            let (u, e) = if c > 0.0 {
                let (mut pk, sk) = dot_and_magnitude(row, tau);
                let compensated = sk > COMPENSATE_ABOVE * pk.abs();
                if compensated {
                    pk = dot2(row, tau);
                }
                if !(pk > 0.0 && pk.is_finite()) {
                    return None;
                }
                let rel = if compensated {
                    4.0 * eps
                } else {
                    eps * (1.0 + df * sk / pk)
                };
                let w = c / pk;
                terms.log_likelihood += c * pk.ln();
                terms.state += c * sk / pk;
                terms.inner += (w * rel + eps * w.max(shift)) * pk;
                (w - shift, w * rel + eps * w.max(shift))
            } else {
                (-shift, eps * shift)
            };
            let tr = self.traces[k];
            abs_sum += u.abs() * tr;
            terms.weights += e * tr;
            for (s, r) in self.shifted.iter_mut().zip(row) {
                *s += u * r;
            }
        }
        terms.sum = 2.0 * eps * (counts.len() as f64).sqrt() * abs_sum;
        Some(terms)
    }

    /// As [`Self::dense_rows`] for a product set: p_k and S by the product
    /// computations, each with the magnitude that bounds its rounding
    /// ([`ProductSpec::rounding_depth`]). `setting_of` is the set's
    /// grouping, which names the rows of each setting (they need not be
    /// contiguous: see [`ProductSpec::row_of`]).
    fn product_rows(
        &mut self,
        spec: &ProductSpec,
        setting_of: Option<&[u32]>,
        counts: &[f64],
        tau: &[f64],
        total: f64,
    ) -> Option<RowTerms> {
        let eps = f64::EPSILON;
        let depth_eps = spec.rounding_depth() * eps;
        let shift = total / self.gamma;
        let buf = self.product.as_mut()?;
        spec.predict(tau, &mut buf.p, &mut buf.scratch);
        spec.predict_magnitude(tau, &mut buf.magnitude, &mut buf.scratch);
        let mut terms = RowTerms::default();
        // Each setting's projectors are an orthonormal basis (checked by
        // `orthonormal_settings`): λ_max(Σ_{k∈s} e_k Π_k) = max e_k, far
        // below Σ e_k Tr Π_k.
        let mut setting_max = match (spec.orthonormal_settings(), setting_of) {
            (Some(_), Some(of)) => {
                let n = of.iter().map(|&s| s as usize + 1).max().unwrap_or(0);
                Some((of, vec![0.0f64; n]))
            }
            _ => None,
        };
        for (k, &c) in counts.iter().enumerate() {
            let (u, e) = if c > 0.0 {
                let (pk, sk) = (buf.p[k], buf.magnitude[k]);
                if !(pk > 0.0 && pk.is_finite()) {
                    return None;
                }
                let rel = eps + depth_eps * sk / pk;
                let w = c / pk;
                terms.log_likelihood += c * pk.ln();
                terms.state += c * sk / pk;
                terms.inner += (w * rel + eps * w.max(shift)) * pk;
                (w - shift, w * rel + eps * w.max(shift))
            } else {
                (-shift, eps * shift)
            };
            match setting_max.as_mut() {
                Some((of, max)) => {
                    let s = of[k] as usize;
                    max[s] = max[s].max(e);
                }
                None => terms.weights += e * self.traces[k],
            }
            buf.u[k] = u;
        }
        if let Some((_, max)) = setting_max {
            terms.weights += max.iter().sum::<f64>();
        }
        spec.adjoint(&buf.u, &mut self.shifted, &mut buf.scratch);
        spec.adjoint_magnitude(&buf.u, &mut buf.shifted_magnitude, &mut buf.scratch);
        // ‖fl(S) − S‖_F bounds both the move of λ_max(S) and, times ‖τ‖_F,
        // that of Tr(τS).
        let sum_err = depth_eps
            * buf
                .shifted_magnitude
                .iter()
                .map(|v| v * v)
                .sum::<f64>()
                .sqrt();
        let tau_norm = tau.iter().map(|v| v * v).sum::<f64>().sqrt();
        terms.sum = sum_err * (1.0 + tau_norm);
        Some(terms)
    }
}

/// Σ x_i with Neumaier's compensation.
fn compensated_sum(x: &[f64]) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for &v in x {
        let t = s + v;
        c += if s.abs() >= v.abs() {
            (s - t) + v
        } else {
            (v - t) + s
        };
        s = t;
    }
    s + c
}

/// Σ_j a_j b_j and Σ_j |a_j b_j|, with eight partial sums as in
/// [`hermitian::dot`] so that the loop vectorises.
#[inline]
fn dot_and_magnitude(a: &[f64], b: &[f64]) -> (f64, f64) {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (mut acc, mut mag) = ([0.0f64; 8], [0.0f64; 8]);
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            let p = x[i] * y[i];
            acc[i] += p;
            mag[i] += p.abs();
        }
    }
    let (mut s, mut m) = (acc.iter().sum::<f64>(), mag.iter().sum::<f64>());
    for (x, y) in ra.iter().zip(rb) {
        let p = x * y;
        s += p;
        m += p.abs();
    }
    (s, m)
}

/// Compensated dot product (Ogita–Rump–Oishi `Dot2`): as accurate as the
/// plain one in twice the working precision. Products are split exactly with
/// Dekker's TwoProduct (no FMA needed), sums with Knuth's TwoSum.
fn dot2(a: &[f64], b: &[f64]) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (p, pe) = two_product(x, y);
        let t = s + p;
        let z = t - s;
        let se = (s - (t - z)) + (p - z);
        s = t;
        c += pe + se;
    }
    s + c
}

/// x·y = p + e exactly (Dekker 1971, with Veltkamp's splitting).
#[inline]
fn two_product(x: f64, y: f64) -> (f64, f64) {
    let p = x * y;
    let (xh, xl) = split(x);
    let (yh, yl) = split(y);
    let e = xl * yl - (((p - xh * yh) - xl * yh) - xh * yl);
    (p, e)
}

/// Veltkamp's splitting of x into two halves of 26 bits.
#[inline]
fn split(x: f64) -> (f64, f64) {
    const FACTOR: f64 = 134_217_729.0; // 2^27 + 1
    let c = FACTOR * x;
    let h = c - (c - x);
    (h, x - h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot2_recovers_a_sum_that_cancels() {
        // 1e16 + 1 − 1e16 = 1: the plain sum gives 0 or 2.
        let a = [1e16, 1.0, -1e16, 1e-3];
        let b = [1.0, 1.0, 1.0, 1.0];
        assert_eq!(dot2(&a, &b), 1.001);
        let (x, y) = (0.1f64, 0.7f64);
        let (p, e) = two_product(x, y);
        assert_eq!(p, x * y);
        assert!(e != 0.0 && e.abs() < 1e-17);
    }

    #[test]
    fn unknown_never_converges() {
        assert!(!Certificate::UNKNOWN.converged(f64::INFINITY));
        let c = Certificate {
            gap_bound: 3e-4,
            gap_floor: 4e-4,
            log_likelihood: -1.0,
        };
        assert!(c.converged(1e-4));
        assert!(c.converged(1e-9), "at the floor");
        let above = Certificate {
            gap_bound: 5e-4,
            gap_floor: 4e-4,
            log_likelihood: -1.0,
        };
        assert!(!above.converged(1e-4));
        assert!(above.converged(1e-3));
    }
}
