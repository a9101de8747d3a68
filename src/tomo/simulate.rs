//! Simulated measurement counts with shot noise, reproducible from a seed.
//!
//! Sample i of a batch draws from a ChaCha8 generator seeded with the batch
//! seed and set to stream i, so every sample is a pure function of
//! (seed, i): batches can be generated in any order or in parallel and are
//! identical across platforms.
//!
//! Grouped sets: each setting gets `shots` trials, counts multinomial with
//! the state's probabilities (drawn as a chain of binomials). Ungrouped sets:
//! n_k ~ Poisson(shots · Tr(Π_k ρ)).

use crate::tomo::TomoError;
use crate::tomo::measurement::{Grouping, SetView};
use crate::tomo::product::ProductScratch;
use crate::tomo::states;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution, Poisson};
use std::str::FromStr;

/// The kind of true state to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateKind {
    /// Hilbert–Schmidt random mixed state, new per sample.
    RandomMixed,
    /// Haar-random pure state, new per sample.
    RandomPure,
    /// (|00⟩+|11⟩)/√2.
    Bell,
    /// GHZ state.
    Ghz,
    /// W state.
    W,
    /// Two qubits drifting away from (|00⟩+|11⟩)/√2 over the batch: sample i
    /// of n is (1−q)|ψ⟩⟨ψ| + q I/4 with |ψ⟩ = (|00⟩ + e^{iφ}|11⟩)/√2,
    /// q = 0.3·i/(n−1) and φ = (π/2)·i/(n−1): slow dephasing plus a phase drift.
    BellDrift,
}

impl FromStr for StateKind {
    type Err = TomoError;
    fn from_str(s: &str) -> Result<Self, TomoError> {
        Ok(match s {
            "random-mixed" => StateKind::RandomMixed,
            "random-pure" => StateKind::RandomPure,
            "bell" | "bell-phi+" => StateKind::Bell,
            "ghz" => StateKind::Ghz,
            "w" => StateKind::W,
            "bell-drift" => StateKind::BellDrift,
            _ => {
                return Err(TomoError::InvalidTarget(format!(
                    "unknown state kind '{s}'; expected random-mixed, random-pure, bell, ghz, w or bell-drift"
                )));
            }
        })
    }
}

/// The generator for sample `index` of a batch with `seed`.
pub fn sample_rng(seed: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    rng
}

/// Coordinates of a true state of the given kind (sample 0 of 1 for `BellDrift`).
pub fn true_state<R: Rng + ?Sized>(
    kind: StateKind,
    d: usize,
    rng: &mut R,
) -> Result<Vec<f64>, TomoError> {
    true_state_in_batch(kind, d, 0, 1, rng)
}

/// Coordinates of the true state of sample `index` of a batch of `total`.
pub fn true_state_in_batch<R: Rng + ?Sized>(
    kind: StateKind,
    d: usize,
    index: u64,
    total: u64,
    rng: &mut R,
) -> Result<Vec<f64>, TomoError> {
    Ok(match kind {
        StateKind::RandomMixed => states::hilbert_schmidt_mixed(d, rng),
        StateKind::RandomPure => states::pure_coords(&states::haar_pure(d, rng)),
        StateKind::Bell => states::pure_coords(&states::named_state("bell-phi+", d)?),
        StateKind::Ghz => states::pure_coords(&states::named_state("ghz", d)?),
        StateKind::W => states::pure_coords(&states::named_state("w", d)?),
        StateKind::BellDrift => {
            if d != 4 {
                return Err(TomoError::InvalidTarget(format!(
                    "bell-drift is a two-qubit state (d = 4), the set has d = {d}"
                )));
            }
            let s = if total > 1 {
                index as f64 / (total - 1) as f64
            } else {
                0.0
            };
            let (q, phi) = (0.3 * s, std::f64::consts::FRAC_PI_2 * s);
            let h = std::f64::consts::FRAC_1_SQRT_2;
            let zero = faer::c64::new(0.0, 0.0);
            let psi = [
                faer::c64::new(h, 0.0),
                zero,
                zero,
                faer::c64::from_polar(h, phi),
            ];
            let mut x = states::pure_coords(&psi);
            for (j, v) in x.iter_mut().enumerate() {
                *v = (1.0 - q) * *v + if j < d { q / d as f64 } else { 0.0 };
            }
            x
        }
    })
}

/// Draws counts for the state with coordinates `rho` into `counts`:
/// multinomial per setting for grouped sets, Poisson with means
/// shots·Tr(F_k ρ) (+ a_k with a background) for ungrouped ones.
pub fn draw_counts<R: Rng + ?Sized>(
    set: SetView<'_>,
    rho: &[f64],
    shots: u64,
    rng: &mut R,
    counts: &mut [f64],
) -> Result<(), TomoError> {
    let mut p = vec![0.0; set.len()];
    set.predict(rho, &mut p, &mut ProductScratch::default());
    p.iter_mut().for_each(|v| *v = v.max(0.0));
    match &set.info.grouping {
        Grouping::Settings {
            settings,
            setting_of,
        } => {
            let mut by_setting: Vec<Vec<usize>> = vec![Vec::new(); settings.len()];
            for (k, &s) in setting_of.iter().enumerate() {
                by_setting[s as usize].push(k);
            }
            for members in &by_setting {
                let mut remaining = shots;
                let mut mass: f64 = members.iter().map(|&k| p[k]).sum();
                for (i, &k) in members.iter().enumerate() {
                    let n = if i + 1 == members.len() || remaining == 0 {
                        remaining
                    } else {
                        let q = if mass > 0.0 {
                            (p[k] / mass).clamp(0.0, 1.0)
                        } else {
                            0.0
                        };
                        Binomial::new(remaining, q)
                            .map_err(|e| {
                                TomoError::InvalidSet(format!("binomial({remaining}, {q}): {e}"))
                            })?
                            .sample(rng)
                    };
                    counts[k] = n as f64;
                    remaining -= n;
                    mass -= p[k];
                }
            }
        }
        Grouping::Ungrouped => {
            // With an affine model the background adds its expected counts.
            let background = set.info.background();
            for (k, (c, &pk)) in counts.iter_mut().zip(&p).enumerate() {
                let lambda = shots as f64 * pk + background.map_or(0.0, |a| a[k]);
                *c = if lambda > 0.0 {
                    Poisson::new(lambda)
                        .map_err(|e| TomoError::InvalidSet(format!("poisson({lambda}): {e}")))?
                        .sample(rng)
                } else {
                    0.0
                };
            }
        }
    }
    Ok(())
}

/// Simulates sample `index`: returns the true state's coordinates and fills `counts`.
pub fn simulate_sample(
    set: SetView<'_>,
    kind: StateKind,
    shots: u64,
    seed: u64,
    index: u64,
    counts: &mut [f64],
) -> Result<Vec<f64>, TomoError> {
    simulate_in_batch(set, kind, shots, seed, index, index + 1, counts)
}

/// Simulates sample `index` of a batch of `total` (the batch size matters
/// only for [`StateKind::BellDrift`]).
pub fn simulate_in_batch(
    set: SetView<'_>,
    kind: StateKind,
    shots: u64,
    seed: u64,
    index: u64,
    total: u64,
    counts: &mut [f64],
) -> Result<Vec<f64>, TomoError> {
    let mut rng = sample_rng(seed, index);
    let rho = true_state_in_batch(kind, set.dim(), index, total, &mut rng)?;
    draw_counts(set, &rho, shots, &mut rng, counts)?;
    Ok(rho)
}
