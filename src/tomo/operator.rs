//! The measurement map of a set: p = A x, Aᵀw and A⁺f, whichever way the
//! set stores A.
//!
//! Most sets store A (M×d²) densely ([`crate::tomo::measurement`]); product
//! sets such as Pauli tomography above [`crate::tomo::sets::pauli::DENSE_MAX_QUBITS`]
//! store only their local factors and compute the same maps subsystem by
//! subsystem ([`crate::tomo::product`]). Estimators call the methods here
//! and never look at the storage, except the Newton polish, which needs
//! the rows themselves and runs only at small d ([`SetView::dense_mle_rows`]).
//!
//! The "MLE rows" are the rows of the complete measurement the MLE works
//! with: A itself for grouped sets, the frame operators Π̃_k for ungrouped
//! ones (see [`crate::tomo::frame`]).

use crate::tomo::hermitian;
use crate::tomo::measurement::SetView;
use crate::tomo::product::{ProductScratch, ProductSpec};
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

/// Below this many coordinates (d < 8) a plain loop beats faer's GEMV setup.
const GEMV_MIN_COORDS: usize = 64;

/// p = B x for a dense row-major M×d² matrix `rows` (M = `p.len()`).
#[inline]
pub fn dense_predict(rows: &[f64], x: &[f64], p: &mut [f64]) {
    let n = x.len();
    if n >= GEMV_MIN_COORDS {
        let m = p.len();
        let a = MatRef::from_row_major_slice(&rows[..m * n], m, n);
        let xv = MatRef::from_column_major_slice(x, n, 1);
        let pv = MatMut::from_column_major_slice_mut(p, m, 1);
        matmul(pv, Accum::Replace, a, xv, 1.0, Par::Seq);
        return;
    }
    for (k, pk) in p.iter_mut().enumerate() {
        *pk = hermitian::dot(&rows[k * n..(k + 1) * n], x);
    }
}

/// g = Bᵀw for a dense row-major M×d² matrix `rows` (M = `w.len()`);
/// rows with w_k = 0 are skipped.
#[inline]
pub fn dense_adjoint(rows: &[f64], w: &[f64], g: &mut [f64]) {
    let n = g.len();
    if n >= GEMV_MIN_COORDS {
        let m = w.len();
        let at = MatRef::from_row_major_slice(&rows[..m * n], m, n).transpose();
        let wv = MatRef::from_column_major_slice(w, m, 1);
        let gv = MatMut::from_column_major_slice_mut(g, n, 1);
        matmul(gv, Accum::Replace, at, wv, 1.0, Par::Seq);
        return;
    }
    g.fill(0.0);
    for (k, &wk) in w.iter().enumerate() {
        if wk != 0.0 {
            for (gj, r) in g.iter_mut().zip(&rows[k * n..(k + 1) * n]) {
                *gj += wk * r;
            }
        }
    }
}

impl<'a> SetView<'a> {
    /// The local factors when the set is a product set.
    pub fn product(&self) -> Option<&'a ProductSpec> {
        self.info.product.as_ref()
    }

    /// The MLE rows as a dense matrix (M×d², row-major); `None` for a
    /// product set, which never forms them.
    pub fn dense_mle_rows(&self) -> Option<&'a [f64]> {
        match self.product() {
            Some(_) => None,
            None => Some(self.mle_rows),
        }
    }

    /// Predicted probabilities p = A x of the operator with coordinates `x`.
    pub fn predict(&self, x: &[f64], p: &mut [f64], scratch: &mut ProductScratch) {
        match self.product() {
            Some(spec) => spec.predict(x, p, scratch),
            None => dense_predict(self.a, x, p),
        }
    }

    /// p = Ã x for the MLE rows (see the module docs).
    pub fn predict_mle(&self, x: &[f64], p: &mut [f64], scratch: &mut ProductScratch) {
        match self.product() {
            Some(spec) => spec.predict(x, p, scratch),
            None => dense_predict(self.mle_rows, x, p),
        }
    }

    /// g = Ãᵀw = Σ_k w_k Π̃_k for the MLE rows, in coordinates.
    pub fn adjoint_mle(&self, w: &[f64], g: &mut [f64], scratch: &mut ProductScratch) {
        match self.product() {
            Some(spec) => spec.adjoint(w, g, scratch),
            None => dense_adjoint(self.mle_rows, w, g),
        }
    }

    /// The least-squares solution x = A⁺f of A x = f.
    pub fn apply_pinv(&self, f: &[f64], x: &mut [f64], scratch: &mut ProductScratch) {
        match self.product() {
            Some(spec) => spec.apply_pinv(f, x, scratch),
            None => {
                let m = self.len();
                for (i, r) in x.iter_mut().enumerate() {
                    *r = hermitian::dot(&self.pinv[i * m..(i + 1) * m], f);
                }
            }
        }
    }

    /// Tr Π̃_k for every MLE row.
    pub fn mle_row_traces(&self) -> Vec<f64> {
        let d = self.dim();
        let mut out = vec![0.0; self.len()];
        self.predict_mle(
            &hermitian::identity_coords(d, 1.0),
            &mut out,
            &mut ProductScratch::default(),
        );
        out
    }

    /// ‖Π̃_k‖²_F = Tr Π̃_k² for every MLE row.
    pub fn mle_row_norms_sq(&self) -> Vec<f64> {
        match self.product() {
            Some(spec) => spec.row_norms_sq(),
            None => {
                let n = self.info.coord_len();
                self.mle_rows
                    .chunks_exact(n)
                    .map(|row| hermitian::dot(row, row))
                    .collect()
            }
        }
    }
}
