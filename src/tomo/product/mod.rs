//! Product measurements: every projector a tensor product of local
//! projectors, every combination of local outcomes measured, so that the
//! projector matrix is a Kronecker product A = A₁ ⊗ A₂ ⊗ … ⊗ Aₙ (in product
//! coordinates) and is never formed. n-qubit Pauli tomography is the case
//! that matters: at 8 qubits A would have 6⁸ × 4⁸ = 1.1·10¹¹ entries, while
//! its factors have 24.
//!
//! Born probabilities are computed subsystem by subsystem, as in
//! J. Shang, Z. Zhang, H. K. Ng, "Superfast maximum-likelihood
//! reconstruction for quantum tomography", PRA 95, 062336 (2017), §III: the
//! state's coordinates are changed to the tensor product of the local bases
//! ([`crate::tomo::hermitian`] coordinates on each subsystem), and the
//! Kronecker product is applied one mode at a time (the "shuffle" algorithm:
//! P. Fernandes, B. Plateau, W. J. Stewart, "Efficient descriptor-vector
//! multiplications in stochastic automata networks", J. ACM 45, 381 (1998)).
//! For n qubits with 6 local outcomes:
//!
//! - A x: the coordinate change costs O(n·4ⁿ), the Kronecker stages
//!   Σ_q 6^q·4^{n−q}·4 ≤ 12·6ⁿ operations; Aᵀw (the adjoint, for gradients)
//!   the same in reverse; A⁺f = (A₁⁺ ⊗ … ⊗ Aₙ⁺) f, since the pseudo-inverse
//!   of a Kronecker product is the product of the pseudo-inverses.
//! - memory: two buffers of M = 6ⁿ reals and two of d² = 4ⁿ complex numbers
//!   ([`ProductScratch`]).
//!
//! **Row order.** The set's rows are settings-major, as for the built-in
//! Pauli set: setting s = (s₁…sₙ) (subsystem 1 slowest), then outcome
//! b = (b₁…bₙ) within it; local row r of subsystem q is
//! `setting·outcomes + outcome`. The Kronecker order (r₁…rₙ) is mapped to
//! it while scattering and gathering. A set whose rows come in another
//! order (a kets file's rows, in file order) carries the permutation
//! [`ProductSpec::row_of`] from this settings-major order to its own, and
//! scattering and gathering compose with it.
//!
//! **Rounding.** Every computed value is a sum of products whose
//! exact value with every term replaced by its absolute value is what the
//! `*_magnitude` functions compute; the error of a computed value is at
//! most [`ProductSpec::rounding_depth`]·ε times its magnitude (N. J.
//! Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., §3.1),
//! which is what the MLE certificate uses for these sets.

use crate::tomo::TomoError;
use crate::tomo::parallel;
use faer::{Par, c64};
use serde::{Deserialize, Serialize};
use stages::{
    Functional, apply_block, complex_stages, for_each_block, functionals, magnitude_stages,
};
use std::f64::consts::{FRAC_1_SQRT_2, SQRT_2};

/// Tensors at least this long have their Kronecker stages split over the
/// threads of [`parallel::Threads::install`] (`--threads-per-worker`).
const PARALLEL_MIN_LEN: usize = 1 << 16;

/// One subsystem's measurement: its local projectors in the coordinates of
/// [`crate::tomo::hermitian`] on ℂ^dim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalFactor {
    /// Local dimension.
    pub dim: usize,
    /// Outcomes per local setting: local row r is setting r / outcomes,
    /// outcome r % outcomes.
    pub outcomes: usize,
    /// Local projector matrix, rows × dim², row-major.
    pub rows: Vec<f64>,
    /// Its pseudo-inverse, dim² × rows, row-major.
    pub pinv: Vec<f64>,
}

impl LocalFactor {
    /// Number of local projectors.
    pub fn len(&self) -> usize {
        self.rows.len() / (self.dim * self.dim)
    }

    /// True when the factor has no projectors (never for a built set).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// A product measurement: its local factors, subsystem 1 first (the most
/// significant factor of kets and density matrices).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductSpec {
    /// The local measurements.
    pub factors: Vec<LocalFactor>,
    /// The set's row of each settings-major row (see the module docs),
    /// when the set's rows come in another order; `None` for the
    /// settings-major order itself.
    #[serde(default)]
    pub row_of: Option<Vec<u32>>,
}

/// Scratch memory of the product computations, and the index tables of
/// one set, prepared on first use. Use one scratch per set.
#[derive(Debug, Clone, Default)]
pub struct ProductScratch {
    c0: Vec<c64>,
    c1: Vec<c64>,
    r0: Vec<f64>,
    r1: Vec<f64>,
    tables: Option<Tables>,
}

/// Index tables derived from a [`ProductSpec`].
#[derive(Debug, Clone)]
struct Tables {
    /// (d, M, number of factors) of the spec they were made for.
    shape: (usize, usize, usize),
    /// Position of (i, j) in the interleaved tensor: `row_part[i] + col_part[j]`.
    row_part: Vec<usize>,
    col_part: Vec<usize>,
    /// Per factor: its local coordinates as functionals of its entries.
    functionals: Vec<Vec<Functional>>,
    /// Per kind ([`Kron`] as index) and factor: the nonzero entries
    /// (out, in, value) of the local matrix applied.
    terms: [Vec<Vec<(usize, usize, f64)>>; 3],
    /// Per factor: what each local row adds to the set row.
    contrib: Vec<Vec<usize>>,
}

/// Which Kronecker product to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kron {
    /// A (d² → M).
    Forward = 0,
    /// Aᵀ (M → d²).
    Adjoint = 1,
    /// A⁺ (M → d²).
    Pinv = 2,
}

impl ProductSpec {
    /// Checks the factors' shapes.
    pub fn new(factors: Vec<LocalFactor>) -> Result<Self, TomoError> {
        if factors.is_empty() {
            return Err(TomoError::InvalidSet(
                "a product set needs at least one factor".into(),
            ));
        }
        for (q, f) in factors.iter().enumerate() {
            let n = f.dim * f.dim;
            let m = f.rows.len().checked_div(n).unwrap_or(0);
            if f.dim < 2
                || f.rows.len() != m * n
                || f.pinv.len() != m * n
                || f.outcomes == 0
                || m % f.outcomes != 0
            {
                return Err(TomoError::InvalidSet(format!(
                    "factor {} of a product set has inconsistent shapes (dim {}, {} entries, {} outcomes per setting)",
                    q + 1,
                    f.dim,
                    f.rows.len(),
                    f.outcomes
                )));
            }
        }
        Ok(Self {
            factors,
            row_of: None,
        })
    }

    /// The spec with the set's rows in another order: `row_of[r]` is the
    /// set row of settings-major row r (see the module docs). Checks that
    /// `row_of` is a permutation of the rows; the identity is stored as
    /// `None`.
    pub fn with_row_order(mut self, row_of: Vec<u32>) -> Result<Self, TomoError> {
        let m = self.len();
        let mut seen = vec![false; m];
        let permutation = row_of.len() == m
            && row_of.iter().all(|&r| {
                let r = r as usize;
                r < m && !std::mem::replace(&mut seen[r], true)
            });
        if !permutation {
            return Err(TomoError::InvalidSet(format!(
                "the row order of a product set of {m} rows is not a permutation of its rows"
            )));
        }
        let identity = row_of.iter().enumerate().all(|(i, &r)| r as usize == i);
        self.row_of = (!identity).then_some(row_of);
        Ok(self)
    }

    /// The set row of settings-major row `r`.
    fn set_row(&self, r: usize) -> usize {
        match &self.row_of {
            Some(row_of) => row_of[r] as usize,
            None => r,
        }
    }

    /// Dimension d = Π d_q.
    pub fn dim(&self) -> usize {
        self.factors.iter().map(|f| f.dim).product()
    }

    /// Number of projectors M = Π m_q.
    pub fn len(&self) -> usize {
        self.factors.iter().map(LocalFactor::len).product()
    }

    /// True when the set has no projectors (never for a built set).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of rounding steps along any path of the computations:
    /// a computed value differs from the exact one by at most
    /// `rounding_depth()·ε` times its magnitude (see the module docs).
    pub fn rounding_depth(&self) -> f64 {
        // Per subsystem: the coordinate change (≤ 2 complex products and
        // sums per entry, 4ε each, generously) and one Kronecker stage (a
        // dot product of length ≤ max(m_q, d_q²), plus one).
        let per: usize = self
            .factors
            .iter()
            .map(|f| 8 + f.len().max(f.dim * f.dim) + 1)
            .sum();
        1.01 * (per + 2) as f64
    }

    /// Probabilities p = A x of the state (or Hermitian operator) with
    /// coordinates `x` (length d²), in set row order, written into `p`.
    pub fn predict(&self, x: &[f64], p: &mut [f64], scratch: &mut ProductScratch) {
        self.product_from_global(x, scratch);
        self.kron(Kron::Forward, false, scratch);
        let tables = self.tables(&mut scratch.tables);
        self.scatter(&scratch.r0, p, tables);
    }

    /// The magnitudes s = |A|·|x| of the computation of [`Self::predict`]
    /// (every term replaced by its absolute value), written into `s`.
    pub fn predict_magnitude(&self, x: &[f64], s: &mut [f64], scratch: &mut ProductScratch) {
        self.product_from_global_magnitude(x, scratch);
        self.kron(Kron::Forward, true, scratch);
        let tables = self.tables(&mut scratch.tables);
        self.scatter(&scratch.r0, s, tables);
    }

    /// g = Aᵀw: the coordinates of Σ_k w_k Π_k, written into `g` (length d²).
    pub fn adjoint(&self, w: &[f64], g: &mut [f64], scratch: &mut ProductScratch) {
        self.gather(w, scratch);
        self.kron(Kron::Adjoint, false, scratch);
        self.global_from_product(g, scratch);
    }

    /// The magnitudes of the computation of [`Self::adjoint`] for the
    /// weights |w|, per coordinate, written into `g`.
    pub fn adjoint_magnitude(&self, w: &[f64], g: &mut [f64], scratch: &mut ProductScratch) {
        self.gather(w, scratch);
        scratch.r0.iter_mut().for_each(|v| *v = v.abs());
        self.kron(Kron::Adjoint, true, scratch);
        self.global_from_product_magnitude(g, scratch);
    }

    /// The least-squares solution x = A⁺f (length d²) of A x = f.
    pub fn apply_pinv(&self, f: &[f64], x: &mut [f64], scratch: &mut ProductScratch) {
        self.gather(f, scratch);
        self.kron(Kron::Pinv, false, scratch);
        self.global_from_product(x, scratch);
    }

    /// When every setting of the set is an orthonormal basis (each local
    /// setting's rows are rank-one projectors of trace 1 that sum to the
    /// identity, with as many outcomes as the local dimension): the number
    /// of outcomes per setting. The rows of a setting are contiguous in
    /// set order only without [`Self::row_of`]; the set's grouping says
    /// which rows form a setting in either case.
    pub fn orthonormal_settings(&self) -> Option<usize> {
        for f in &self.factors {
            let e = f.dim;
            let c = e * e;
            if f.outcomes != e {
                return None;
            }
            for setting in f.rows.chunks_exact(c * e) {
                let mut sum = vec![0.0; c];
                for row in setting.chunks_exact(c) {
                    let trace: f64 = row[..e].iter().sum();
                    let norm_sq: f64 = row.iter().map(|v| v * v).sum();
                    if (trace - 1.0).abs() > 1e-12 || (norm_sq - 1.0).abs() > 1e-12 {
                        return None;
                    }
                    sum.iter_mut().zip(row).for_each(|(s, r)| *s += r);
                }
                let off = sum
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (v - if i < e { 1.0 } else { 0.0 }).abs())
                    .fold(0.0, f64::max);
                if off > 1e-12 {
                    return None;
                }
            }
        }
        Some(self.factors.iter().map(|f| f.outcomes).product())
    }

    /// ‖Π_k‖²_F for every projector, in set row order: the product of the
    /// local rows' squared norms.
    pub fn row_norms_sq(&self) -> Vec<f64> {
        let mut kron = vec![1.0];
        for f in &self.factors {
            let c = f.dim * f.dim;
            let local: Vec<f64> = f
                .rows
                .chunks_exact(c)
                .map(|r| r.iter().map(|v| v * v).sum())
                .collect();
            kron = kron
                .iter()
                .flat_map(|a| local.iter().map(move |b| a * b))
                .collect();
        }
        let mut out = vec![0.0; self.len()];
        self.scatter(&kron, &mut out, &self.make_tables());
        out
    }

    // --- tables ------------------------------------------------------------

    /// The index tables of this spec in `scratch`, made on first use.
    fn tables<'s>(&self, scratch: &'s mut Option<Tables>) -> &'s Tables {
        let shape = (self.dim(), self.len(), self.factors.len());
        if scratch.as_ref().map(|t| t.shape) != Some(shape) {
            *scratch = Some(self.make_tables());
        }
        match scratch {
            Some(t) => t,
            None => unreachable!("tables were just made"),
        }
    }

    fn make_tables(&self) -> Tables {
        let d = self.dim();
        // Interleaved tensor: modes (i₁j₁)(i₂j₂)…(iₙjₙ), subsystem 1 slowest.
        let mut row_part = vec![0; d];
        let mut col_part = vec![0; d];
        for i in 0..d {
            let (mut rest, mut stride, mut rp, mut cp) = (i, 1usize, 0usize, 0usize);
            for f in self.factors.iter().rev() {
                let digit = rest % f.dim;
                rest /= f.dim;
                rp += digit * f.dim * stride;
                cp += digit * stride;
                stride *= f.dim * f.dim;
            }
            row_part[i] = rp;
            col_part[i] = cp;
        }
        let terms = [Kron::Forward, Kron::Adjoint, Kron::Pinv].map(|kind| {
            self.factors
                .iter()
                .map(|f| {
                    let (m, c) = (f.len(), f.dim * f.dim);
                    let mut t = Vec::new();
                    let (out_n, in_n) = match kind {
                        Kron::Forward => (m, c),
                        Kron::Adjoint | Kron::Pinv => (c, m),
                    };
                    for k in 0..out_n {
                        for a in 0..in_n {
                            let v = match kind {
                                Kron::Forward => f.rows[k * c + a],
                                Kron::Adjoint => f.rows[a * c + k],
                                Kron::Pinv => f.pinv[k * m + a],
                            };
                            if v != 0.0 {
                                t.push((k, a, v));
                            }
                        }
                    }
                    t
                })
                .collect()
        });
        // Set row of local rows (r₁…rₙ): settings-major (see the module docs).
        let outcomes: usize = self.factors.iter().map(|f| f.outcomes).product();
        let mut contrib: Vec<Vec<usize>> = Vec::with_capacity(self.factors.len());
        let (mut setting_w, mut outcome_w) = (1usize, 1usize);
        for f in self.factors.iter().rev() {
            let o = f.outcomes;
            contrib.push(
                (0..f.len())
                    .map(|r| (r / o) * setting_w * outcomes + (r % o) * outcome_w)
                    .collect(),
            );
            setting_w *= f.len() / o;
            outcome_w *= o;
        }
        contrib.reverse();
        Tables {
            shape: (d, self.len(), self.factors.len()),
            row_part,
            col_part,
            functionals: self.factors.iter().map(|f| functionals(f.dim)).collect(),
            terms,
            contrib,
        }
    }

    // --- row order -------------------------------------------------------

    /// `out[set_row] = kron[kron_index]` for every projector.
    fn scatter(&self, kron: &[f64], out: &mut [f64], tables: &Tables) {
        assert_eq!(out.len(), self.len(), "output length");
        for_each_block(&tables.contrib, |k, base, last| {
            for (v, &c) in kron[k..k + last.len()].iter().zip(last) {
                out[self.set_row(base + c)] = *v;
            }
        });
    }

    /// `scratch.r0[kron_index] = w[set_row]` for every projector.
    fn gather(&self, w: &[f64], scratch: &mut ProductScratch) {
        let m = self.len();
        assert_eq!(w.len(), m, "input length");
        let tables = self.tables(&mut scratch.tables);
        scratch.r0.resize(m, 0.0);
        let r0 = &mut scratch.r0;
        for_each_block(&tables.contrib, |k, base, last| {
            for (v, &c) in r0[k..k + last.len()].iter_mut().zip(last) {
                *v = w[self.set_row(base + c)];
            }
        });
    }

    // --- Kronecker stages ------------------------------------------------

    /// Applies the Kronecker product `which` (with absolute values of the
    /// local entries when `abs`) to `scratch.r0`, one mode at a time; the
    /// result is left in `scratch.r0`.
    fn kron(&self, which: Kron, abs: bool, scratch: &mut ProductScratch) {
        let tables = self.tables(&mut scratch.tables);
        let n = self.factors.len();
        // Current size of every mode.
        let mut sizes: Vec<usize> = self
            .factors
            .iter()
            .map(|f| match which {
                Kron::Forward => f.dim * f.dim,
                Kron::Adjoint | Kron::Pinv => f.len(),
            })
            .collect();
        for q in 0..n {
            let f = &self.factors[q];
            let (m, c) = (f.len(), f.dim * f.dim);
            let (out_n, in_n) = match which {
                Kron::Forward => (m, c),
                Kron::Adjoint | Kron::Pinv => (c, m),
            };
            let terms = &tables.terms[which as usize][q];
            let left: usize = sizes[..q].iter().product();
            let right: usize = sizes[q + 1..].iter().product();
            debug_assert_eq!(scratch.r0.len(), left * in_n * right);
            scratch.r1.clear();
            scratch.r1.resize(left * out_n * right, 0.0);
            let (src, dst) = (&scratch.r0, &mut scratch.r1);
            let (in_block, out_block) = (in_n * right, out_n * right);
            // Blocks are independent and each is computed the same way
            // whichever thread takes it: the result is bit-identical.
            if left > 1 && src.len() >= PARALLEL_MIN_LEN && parallel::par() != Par::Seq {
                use rayon::prelude::*;
                src.par_chunks_exact(in_block)
                    .zip(dst.par_chunks_exact_mut(out_block))
                    .for_each(|(s, d)| apply_block(s, d, terms, right, abs));
            } else {
                for (s, d) in src
                    .chunks_exact(in_block)
                    .zip(dst.chunks_exact_mut(out_block))
                {
                    apply_block(s, d, terms, right, abs);
                }
            }
            std::mem::swap(&mut scratch.r0, &mut scratch.r1);
            sizes[q] = out_n;
        }
    }

    // --- coordinate change -----------------------------------------------

    /// Global coordinates → product coordinates, left in `scratch.r0`.
    fn product_from_global(&self, x: &[f64], scratch: &mut ProductScratch) {
        let d = self.dim();
        assert_eq!(x.len(), d * d, "coordinate length");
        let tables = self.tables(&mut scratch.tables);
        let c0 = &mut scratch.c0;
        c0.clear();
        c0.resize(d * d, c64::new(0.0, 0.0));
        let (rp, cp) = (&tables.row_part, &tables.col_part);
        for i in 0..d {
            c0[rp[i] + cp[i]] = c64::new(x[i], 0.0);
        }
        let mut p = d;
        for j in 0..d {
            for k in (j + 1)..d {
                let v = c64::new(FRAC_1_SQRT_2 * x[p], FRAC_1_SQRT_2 * x[p + 1]);
                c0[rp[j] + cp[k]] = v;
                c0[rp[k] + cp[j]] = v.conj();
                p += 2;
            }
        }
        complex_stages(
            &self.factors,
            tables,
            &mut scratch.c0,
            &mut scratch.c1,
            false,
        );
        scratch.r0.clear();
        scratch.r0.extend(scratch.c0.iter().map(|v| v.re));
    }

    /// Product coordinates in `scratch.r0` → global coordinates in `x`.
    fn global_from_product(&self, x: &mut [f64], scratch: &mut ProductScratch) {
        let d = self.dim();
        assert_eq!(x.len(), d * d, "coordinate length");
        let tables = self.tables(&mut scratch.tables);
        scratch.c0.clear();
        scratch
            .c0
            .extend(scratch.r0.iter().map(|&v| c64::new(v, 0.0)));
        complex_stages(
            &self.factors,
            tables,
            &mut scratch.c0,
            &mut scratch.c1,
            true,
        );
        let (rp, cp) = (&tables.row_part, &tables.col_part);
        let c0 = &scratch.c0;
        for i in 0..d {
            x[i] = c0[rp[i] + cp[i]].re;
        }
        let mut p = d;
        for j in 0..d {
            for k in (j + 1)..d {
                let v = c0[rp[j] + cp[k]];
                x[p] = SQRT_2 * v.re;
                x[p + 1] = SQRT_2 * v.im;
                p += 2;
            }
        }
    }

    /// As [`Self::product_from_global`] with every term's absolute value.
    fn product_from_global_magnitude(&self, x: &[f64], scratch: &mut ProductScratch) {
        let d = self.dim();
        assert_eq!(x.len(), d * d, "coordinate length");
        let tables = self.tables(&mut scratch.tables);
        let m = &mut scratch.r0;
        m.clear();
        m.resize(d * d, 0.0);
        let (rp, cp) = (&tables.row_part, &tables.col_part);
        for i in 0..d {
            m[rp[i] + cp[i]] = x[i].abs();
        }
        let mut p = d;
        for j in 0..d {
            for k in (j + 1)..d {
                let v = FRAC_1_SQRT_2 * (x[p].abs() + x[p + 1].abs());
                m[rp[j] + cp[k]] = v;
                m[rp[k] + cp[j]] = v;
                p += 2;
            }
        }
        magnitude_stages(
            &self.factors,
            tables,
            &mut scratch.r0,
            &mut scratch.r1,
            false,
        );
    }

    /// As [`Self::global_from_product`] with every term's absolute value;
    /// off-diagonal coordinates get √2 times the larger magnitude of their
    /// two entries.
    fn global_from_product_magnitude(&self, x: &mut [f64], scratch: &mut ProductScratch) {
        let d = self.dim();
        let tables = self.tables(&mut scratch.tables);
        magnitude_stages(
            &self.factors,
            tables,
            &mut scratch.r0,
            &mut scratch.r1,
            true,
        );
        let (rp, cp) = (&tables.row_part, &tables.col_part);
        let m = &scratch.r0;
        for i in 0..d {
            x[i] = m[rp[i] + cp[i]];
        }
        let mut p = d;
        for j in 0..d {
            for k in (j + 1)..d {
                let v = SQRT_2 * m[rp[j] + cp[k]].max(m[rp[k] + cp[j]]);
                x[p] = v;
                x[p + 1] = v;
                p += 2;
            }
        }
    }
}

mod stages;
#[cfg(test)]
mod tests;
