//! Validation of one sample's counts and their conversion to frequencies.
//!
//! Counts are non-negative finite numbers (not necessarily integers: data
//! with accidentals subtracted is common). For grouped sets the frequency of
//! outcome k is n_k / N_s, N_s the total of its setting (uniform over the
//! setting's outcomes when N_s = 0: a setting without counts carries no
//! information, and the likelihood ignores it); for ungrouped sets it is
//! n_k / N, N the grand total (the overall scale is fixed later by the
//! trace normalisation).

use crate::tomo::TomoError;
use crate::tomo::measurement::{Grouping, SetInfo};

/// Checks one sample: right length, every count finite and ≥ 0, not all zero.
/// Returns the total count N.
pub fn validate(info: &SetInfo, counts: &[f64]) -> Result<f64, TomoError> {
    if counts.len() != info.len() {
        return Err(TomoError::WrongCountLength {
            expected: info.len(),
            found: counts.len(),
        });
    }
    let mut total = 0.0;
    for (k, &n) in counts.iter().enumerate() {
        if !(n.is_finite() && n >= 0.0) {
            return Err(TomoError::InvalidCount {
                label: info.labels[k].clone(),
                position: k,
                value: n,
            });
        }
        total += n;
    }
    if total <= 0.0 {
        return Err(TomoError::NoCounts);
    }
    Ok(total)
}

/// Writes the frequencies of a validated sample into `freq` (length M),
/// using `setting_totals` (length = number of settings) as scratch.
pub fn frequencies(
    info: &SetInfo,
    counts: &[f64],
    total: f64,
    setting_totals: &mut Vec<f64>,
    freq: &mut [f64],
) -> Result<(), TomoError> {
    match &info.grouping {
        Grouping::Ungrouped => match info.background() {
            // The affine model: the background's expected counts are no
            // signal, E[n_k − a_k] = I·Tr(F_k ρ) (see crate::tomo::model).
            Some(a) => {
                for ((f, n), ak) in freq.iter_mut().zip(counts).zip(a) {
                    *f = (n - ak) / total;
                }
            }
            None => {
                for (f, n) in freq.iter_mut().zip(counts) {
                    *f = n / total;
                }
            }
        },
        Grouping::Settings {
            settings,
            setting_of,
        } => {
            setting_totals.clear();
            setting_totals.resize(settings.len(), 0.0);
            for (&s, &n) in setting_of.iter().zip(counts) {
                setting_totals[s as usize] += n;
            }
            for ((f, &s), &n) in freq.iter_mut().zip(setting_of).zip(counts) {
                *f = n / setting_totals[s as usize];
            }
            if setting_totals.iter().any(|&t| t <= 0.0) {
                // A setting without counts says nothing: uniform frequencies,
                // which add no information (the likelihood ignores it).
                for (f, &s) in freq.iter_mut().zip(setting_of) {
                    if setting_totals[s as usize] <= 0.0 {
                        let outcomes = setting_of.iter().filter(|&&o| o == s).count();
                        *f = 1.0 / outcomes as f64;
                    }
                }
            }
        }
    }
    Ok(())
}
