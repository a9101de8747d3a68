//! The 16 two-qubit polarisation projectors of D. F. V. James, P. G. Kwiat,
//! W. J. Munro and A. G. White, "Measurement of qubits", PRA 64, 052312 (2001).
//!
//! # Conventions
//! Labels (row order): HH HV VV VH RH RV DV DH DR DD RD HD VD VL HL RL; the first
//! letter is photon 1 (most significant tensor factor). |H⟩=|0⟩, |V⟩=|1⟩,
//! |D⟩=(|H⟩+|V⟩)/√2, |R⟩=(|H⟩−i|V⟩)/√2, |L⟩=(|H⟩+i|V⟩)/√2. The projectors do
//! not form complete measurements, so the set is ungrouped (free intensity).

use super::kron_kets;
use crate::tomo::TomoError;
use crate::tomo::measurement::MeasurementSet;
use faer::c64;
use std::f64::consts::FRAC_1_SQRT_2;

/// The labels in row order.
pub const LABELS: [&str; 16] = [
    "HH", "HV", "VV", "VH", "RH", "RV", "DV", "DH", "DR", "DD", "RD", "HD", "VD", "VL", "HL", "RL",
];

/// The one-photon polarisation ket for `H`, `V`, `D`, `R` or `L`.
pub fn polarisation_ket(p: char) -> [c64; 2] {
    let h = FRAC_1_SQRT_2;
    match p {
        'H' => [c64::new(1.0, 0.0), c64::new(0.0, 0.0)],
        'V' => [c64::new(0.0, 0.0), c64::new(1.0, 0.0)],
        'D' => [c64::new(h, 0.0), c64::new(h, 0.0)],
        'R' => [c64::new(h, 0.0), c64::new(0.0, -h)],
        _ => [c64::new(h, 0.0), c64::new(0.0, h)],
    }
}

/// Builds the james16 set.
pub fn james16() -> Result<MeasurementSet, TomoError> {
    let kets: Vec<Vec<c64>> = LABELS
        .iter()
        .map(|l| {
            let mut c = l.chars();
            let (a, b) = (c.next().unwrap_or('H'), c.next().unwrap_or('H'));
            kron_kets(&[&polarisation_ket(a), &polarisation_ket(b)])
        })
        .collect();
    MeasurementSet::from_kets(
        "james16",
        LABELS.iter().map(|s| s.to_string()).collect(),
        &kets,
        None,
    )
}
