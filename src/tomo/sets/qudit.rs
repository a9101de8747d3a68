//! The d² qudit set: |j⟩ (0 ≤ j < d), (|j⟩+|k⟩)/√2 and (|j⟩+i|k⟩)/√2 (j < k).
//!
//! # Conventions
//! Labels (row order): `j` for |j⟩, then for each pair j<k in lexicographic
//! order `j+k` and `j+ik`, e.g. for d = 2: `0`, `1`, `0+1`, `0+i1`. The set is
//! ungrouped (free intensity). It is informationally complete for every d ≥ 2.

use crate::tomo::TomoError;
use crate::tomo::measurement::MeasurementSet;
use faer::c64;
use std::f64::consts::FRAC_1_SQRT_2;

/// Largest supported dimension.
pub const MAX_DIM: usize = 64;

/// Labels in row order.
pub fn labels(d: usize) -> Vec<String> {
    let mut out: Vec<String> = (0..d).map(|j| j.to_string()).collect();
    for j in 0..d {
        for k in (j + 1)..d {
            out.push(format!("{j}+{k}"));
            out.push(format!("{j}+i{k}"));
        }
    }
    out
}

/// Builds the qudit set for dimension d (2 ≤ d ≤ 64).
pub fn qudit(d: usize) -> Result<MeasurementSet, TomoError> {
    if !(2..=MAX_DIM).contains(&d) {
        return Err(TomoError::InvalidSet(format!(
            "qudit needs a dimension from 2 to {MAX_DIM}, got {d}"
        )));
    }
    let zero = c64::new(0.0, 0.0);
    let mut kets = Vec::with_capacity(d * d);
    for j in 0..d {
        let mut v = vec![zero; d];
        v[j] = c64::new(1.0, 0.0);
        kets.push(v);
    }
    for j in 0..d {
        for k in (j + 1)..d {
            let mut v = vec![zero; d];
            v[j] = c64::new(FRAC_1_SQRT_2, 0.0);
            v[k] = c64::new(FRAC_1_SQRT_2, 0.0);
            kets.push(v.clone());
            v[k] = c64::new(0.0, FRAC_1_SQRT_2);
            kets.push(v);
        }
    }
    MeasurementSet::from_kets(&format!("qudit({d})"), labels(d), &kets, None)
}
