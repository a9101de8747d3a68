//! Built-in measurement sets.
//!
//! # Layout
//! - [`pauli`]: n-qubit Pauli tomography, 3^n settings × 2^n outcomes, grouped.
//! - [`qudit`]: the d² projectors |j⟩, (|j⟩+|k⟩)/√2, (|j⟩+i|k⟩)/√2, ungrouped.
//! - [`james16`]: the 16 two-qubit polarisation projectors of James et al. (2001).
//!
//! Custom sets are built with [`crate::tomo::MeasurementSet::from_kets`],
//! or, for kets given per subsystem, with [`product_kets::from_local_kets`]
//! (a product set when their structure allows it).

pub mod james16;
pub mod pauli;
pub mod product_kets;
pub mod qudit;

use faer::c64;

/// Kronecker product of kets, the first factor most significant.
pub fn kron_kets(factors: &[&[c64]]) -> Vec<c64> {
    let mut out = vec![c64::new(1.0, 0.0)];
    for f in factors {
        let mut next = Vec::with_capacity(out.len() * f.len());
        for a in &out {
            for b in f.iter() {
                next.push(a * b);
            }
        }
        out = next;
    }
    out
}
