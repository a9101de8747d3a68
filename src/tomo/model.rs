//! Measurement models: what real detectors do to ideal projectors, put
//! into the effects of the likelihood rather than into corrected counts.
//!
//! A model turns the projectors Π_k of a set into effects and keeps the
//! counts as they were measured, so the likelihood, the certificate, the
//! goodness of fit and the bootstrap all see the detector as it is (the
//! approach of qiskit-experiments' `MitigatedStateTomography` and of
//! J. B. Altepeter, E. R. Jeffrey, P. G. Kwiat, "Photonic state
//! tomography", Adv. At. Mol. Opt. Phys. 52, 105 (2005), section 3).
//!
//! **Block maps** (readout assignment, crosstalk). The outcomes of one
//! setting form a block of D rows r₀ … r_{D−1} (in binary order, qubit 1
//! most significant, for Pauli sets). A D×D matrix C with C\[k, j\] the
//! probability that prepared outcome j is recorded as k turns the block's
//! projectors into the effects
//! $$ E_{r_k} = \sum_j C_{kj}\, Π_{r_j}. $$
//! C must be non-negative (so every E is positive semidefinite) with a
//! positive entry in every row (so no E vanishes). A per-qubit readout,
//! matrices A₁ … Aₙ (2×2, `A[measured, prepared]`), is the block map
//! C = A₁ ⊗ … ⊗ Aₙ. For a grouped set (multinomial per setting) C must be
//! column-stochastic, Σ_k C_kj = 1: each setting's effects then still sum
//! to I, the counts stay multinomial and the certificate of
//! [`crate::tomo::mle::certificate`] applies as it is, with the effects as
//! its rows (they are PSD, which is all its rounding terms assume). For an
//! ungrouped set the blocks are consecutive groups of D rows and C may lose
//! counts (columns summing to less than 1: crosstalk to detectors not
//! recorded, or efficiency).
//!
//! **Scales** (ungrouped sets only). A scale c_k > 0 per measurement, the
//! product of integration time, relative intensity (drift) and detector
//! efficiency, makes the Poisson mean I·c_k·Tr(E_k ρ): the rows become
//! F_k = c_k E_k, and the free-intensity Poisson likelihood of
//! [`crate::tomo::likelihood`] with G = Σ_k F_k applies unchanged (its
//! frame whitens G). A grouped set is refused a scale: its settings are
//! multinomial, where a scale per outcome is not a constant factor.
//!
//! **Background** (ungrouped sets only). Expected accidental counts
//! a_k ≥ 0 make the model affine, μ_k = I·Tr(F_k ρ) + a_k: the set carries
//! them ([`crate::tomo::SetInfo::background()`]), the log-likelihood profiles
//! the intensity numerically ([`crate::tomo::likelihood`]), and the MLE and
//! its certificate are those of [`crate::tomo::mle::affine`]. Linear
//! inversion and PLS use (n_k − a_k)/N.
//!
//! **Linear inversion and PLS** use the pseudo-inverse of the effect
//! matrix (the model is folded into A⁺, computed by SVD), which is
//! unbiased for the model: E\[f\] = A_E x(ρ). Nothing is subtracted from or
//! divided into the counts.
//!
//! A run-wide model changes the set once per run; a set without a model is
//! the set as it always was (bit for bit). When each sample has its own
//! scale and background (`crate::run::sample_model`), a worker applies
//! the sample's model to the run's base rows
//! ([`MeasurementModel::apply_to_rows`]), which gives the set a run of
//! that sample alone builds.

use crate::tomo::TomoError;
use crate::tomo::measurement::{Grouping, MeasurementSet, SetInfo};

/// A map applied within each block of outcomes: E_k = Σ_j C\[k, j\] Π_j.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockMap {
    size: usize,
    /// C, row-major: `entries[k * size + j]` = C\[k, j\].
    entries: Vec<f64>,
}

/// Largest deviation of a column sum from 1 accepted as stochastic.
pub const STOCHASTIC_TOL: f64 = 1e-9;

impl BlockMap {
    /// A full D×D map from its entries, row-major (`C[measured, prepared]`).
    /// Checks: D ≥ 2, D² entries, every entry finite and non-negative,
    /// every row with a positive entry.
    pub fn full(size: usize, entries: Vec<f64>) -> Result<Self, TomoError> {
        if size < 2 || entries.len() != size * size {
            return Err(TomoError::InvalidModel(format!(
                "a block map needs a D×D matrix with D ≥ 2; got {} entries for D = {size}",
                entries.len()
            )));
        }
        for (i, &v) in entries.iter().enumerate() {
            if !(v.is_finite() && v >= 0.0) {
                return Err(TomoError::InvalidModel(format!(
                    "entry [{}, {}] is {v}; expected a finite probability ≥ 0",
                    i / size,
                    i % size
                )));
            }
        }
        for k in 0..size {
            if entries[k * size..(k + 1) * size].iter().all(|&v| v == 0.0) {
                return Err(TomoError::InvalidModel(format!(
                    "row {k} is zero: outcome {k} could never be recorded"
                )));
            }
        }
        Ok(Self { size, entries })
    }

    /// The map C = A₁ ⊗ … ⊗ Aₙ of per-qubit 2×2 matrices (row-major,
    /// `A[measured, prepared]`), qubit 1 the most significant factor.
    pub fn per_qubit(matrices: &[[f64; 4]]) -> Result<Self, TomoError> {
        if matrices.is_empty() {
            return Err(TomoError::InvalidModel(
                "a per-qubit readout needs at least one 2×2 matrix".into(),
            ));
        }
        for (q, a) in matrices.iter().enumerate() {
            if let Some(v) = a.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
                return Err(TomoError::InvalidModel(format!(
                    "the matrix of qubit {} has an entry {v}; expected finite probabilities ≥ 0",
                    q + 1
                )));
            }
        }
        let mut c = vec![1.0];
        let mut size = 1;
        for a in matrices {
            let next = size * 2;
            let mut out = vec![0.0; next * next];
            for i in 0..size {
                for j in 0..size {
                    for k in 0..2 {
                        for l in 0..2 {
                            out[(2 * i + k) * next + 2 * j + l] = c[i * size + j] * a[2 * k + l];
                        }
                    }
                }
            }
            c = out;
            size = next;
        }
        Self::full(size, c)
    }

    /// D, the number of outcomes per block.
    pub fn size(&self) -> usize {
        self.size
    }

    /// C\[k, j\].
    pub fn entry(&self, k: usize, j: usize) -> f64 {
        self.entries[k * self.size + j]
    }

    /// The largest |Σ_k C_kj − 1| over the columns.
    pub fn column_sum_deviation(&self) -> f64 {
        (0..self.size)
            .map(|j| ((0..self.size).map(|k| self.entry(k, j)).sum::<f64>() - 1.0).abs())
            .fold(0.0, f64::max)
    }

    /// True when every column sums to 1 (within [`STOCHASTIC_TOL`]).
    pub fn is_stochastic(&self) -> bool {
        self.column_sum_deviation() <= STOCHASTIC_TOL
    }
}

/// A run's measurement model: what turns the set's projectors into the
/// effects of the likelihood. The default is no model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MeasurementModel {
    /// Readout assignment or crosstalk, applied within each block.
    pub block_map: Option<BlockMap>,
    /// Per-measurement scale c_k > 0 (ungrouped sets), one per row.
    pub scale: Option<Vec<f64>>,
    /// Expected background counts a_k ≥ 0 (ungrouped sets), one per row:
    /// the affine model μ_k = I·Tr(F_k ρ) + a_k.
    pub background: Option<Vec<f64>>,
}

impl MeasurementModel {
    /// True when the model changes nothing.
    pub fn is_empty(&self) -> bool {
        self.block_map.is_none() && self.scale.is_none() && self.background.is_none()
    }

    /// Checks the model's scale and background against a set's metadata
    /// as [`MeasurementModel::apply_to_rows`] would, without building the
    /// set (no SVD): a reader validates each sample's model of a
    /// per-sample batch this way. The block map is not checked here.
    pub fn check_vectors(&self, info: &SetInfo) -> Result<(), TomoError> {
        if let Some(scale) = &self.scale {
            checked_scale(info, scale)?;
        }
        if let Some(a) = &self.background {
            checked_background(info, a)?;
        }
        Ok(())
    }

    /// The set with the model applied: rows E_k (or c_k E_k), their
    /// pseudo-inverse and, for ungrouped sets, their MLE frame. The set's
    /// name, labels and grouping are kept. An empty model returns a copy
    /// of the set.
    pub fn apply(&self, set: &MeasurementSet) -> Result<MeasurementSet, TomoError> {
        if self.is_empty() {
            return Ok(set.clone());
        }
        self.apply_to_rows(set.info(), set.a())
    }

    /// [`MeasurementModel::apply`] to a set given by its metadata `info`
    /// (name, dimension, labels, grouping) and its rows `a` (M×d²,
    /// row-major), e.g. mapped from a shared segment: a worker builds a
    /// sample's own set this way from the run's base rows. Any background
    /// `info` carries is ignored (the model's replaces it); the result is
    /// the same, bit for bit, as `apply` on a set with these rows.
    pub fn apply_to_rows(&self, info: &SetInfo, a: &[f64]) -> Result<MeasurementSet, TomoError> {
        if info.product.is_some() {
            return Err(TomoError::InvalidModel(format!(
                "set '{}' is a product set (its projector matrix is never formed); \
                 measurement models need a dense set (Pauli sets up to 4 qubits)",
                info.name
            )));
        }
        let d = info.dim;
        let n = d * d;
        let m = info.len();
        if a.len() != m * n {
            return Err(TomoError::InvalidSet(format!(
                "set '{}' has {} row coordinates for {m} rows of {n}",
                info.name,
                a.len()
            )));
        }
        let mut rows = a.to_vec();
        if let Some(map) = &self.block_map {
            let blocks = blocks_of(info, map.size())?;
            if info.is_grouped() && !map.is_stochastic() {
                return Err(TomoError::InvalidModel(format!(
                    "the columns of a readout or crosstalk matrix for the grouped set '{}' \
                     must sum to 1 (each setting stays a complete measurement); largest \
                     deviation {:.3e}",
                    info.name,
                    map.column_sum_deviation()
                )));
            }
            for block in &blocks {
                for (k, &rk) in block.iter().enumerate() {
                    let out = &mut rows[rk * n..(rk + 1) * n];
                    out.fill(0.0);
                    for (j, &rj) in block.iter().enumerate() {
                        let c = map.entry(k, j);
                        if c != 0.0 {
                            for (o, x) in out.iter_mut().zip(&a[rj * n..(rj + 1) * n]) {
                                *o += c * x;
                            }
                        }
                    }
                }
            }
        }
        if let Some(scale) = &self.scale {
            checked_scale(info, scale)?;
            for (k, &c) in scale.iter().enumerate() {
                rows[k * n..(k + 1) * n].iter_mut().for_each(|v| *v *= c);
            }
        }
        let background = match &self.background {
            None => None,
            Some(a) => Some(checked_background(info, a)?),
        };
        let out = MeasurementSet::from_rows(
            &info.name,
            d,
            info.labels.clone(),
            info.grouping.clone(),
            rows,
        )?;
        Ok(match background {
            Some(a) => out.with_background(a),
            None => out,
        })
    }
}

/// The scale of an ungrouped set: M values, finite, > 0.
fn checked_scale(info: &SetInfo, scale: &[f64]) -> Result<(), TomoError> {
    if info.is_grouped() {
        return Err(TomoError::InvalidModel(format!(
            "set '{}' is grouped into settings (multinomial counts): per-measurement \
             scales apply to the Poisson model of an ungrouped set",
            info.name
        )));
    }
    let m = info.len();
    if scale.len() != m {
        return Err(TomoError::InvalidModel(format!(
            "{} scales for {m} measurements",
            scale.len()
        )));
    }
    if let Some(k) = scale.iter().position(|c| !(c.is_finite() && *c > 0.0)) {
        return Err(TomoError::InvalidModel(format!(
            "scale of measurement {} ('{}') is {}; expected a finite number > 0",
            k + 1,
            info.labels[k],
            scale[k]
        )));
    }
    Ok(())
}

/// The background of an ungrouped set: M values, finite, ≥ 0.
fn checked_background(info: &SetInfo, a: &[f64]) -> Result<Vec<f64>, TomoError> {
    if info.is_grouped() {
        return Err(TomoError::InvalidModel(format!(
            "set '{}' is grouped into settings (multinomial counts): a background applies to \
             the Poisson model of an ungrouped set",
            info.name
        )));
    }
    let max_dim = crate::tomo::mle::affine::AFFINE_MAX_DIM;
    if info.dim > max_dim {
        return Err(TomoError::InvalidModel(format!(
            "a background is supported up to d = {max_dim} (its MLE forms a d⁴ Hessian); set \
             '{}' has d = {}",
            info.name, info.dim
        )));
    }
    if a.len() != info.len() {
        return Err(TomoError::InvalidModel(format!(
            "{} background values for {} measurements",
            a.len(),
            info.len()
        )));
    }
    if let Some(k) = a.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
        return Err(TomoError::InvalidModel(format!(
            "background of measurement {} ('{}') is {}; expected a finite count ≥ 0",
            k + 1,
            info.labels[k],
            a[k]
        )));
    }
    Ok(a.to_vec())
}

/// The rows of each block: the settings of a grouped set (each must have
/// `size` outcomes), consecutive groups of `size` rows of an ungrouped one.
fn blocks_of(info: &SetInfo, size: usize) -> Result<Vec<Vec<usize>>, TomoError> {
    match &info.grouping {
        Grouping::Settings {
            settings,
            setting_of,
        } => {
            let mut blocks = vec![Vec::new(); settings.len()];
            for (k, &s) in setting_of.iter().enumerate() {
                blocks[s as usize].push(k);
            }
            for (s, b) in blocks.iter().enumerate() {
                if b.len() != size {
                    return Err(TomoError::InvalidModel(format!(
                        "setting '{}' of set '{}' has {} outcomes; the readout or crosstalk \
                         matrix is {size}×{size}",
                        settings[s],
                        info.name,
                        b.len()
                    )));
                }
            }
            Ok(blocks)
        }
        Grouping::Ungrouped => {
            if !info.len().is_multiple_of(size) {
                return Err(TomoError::InvalidModel(format!(
                    "set '{}' has {} measurements, not a multiple of the {size}×{size} block map",
                    info.name,
                    info.len()
                )));
            }
            Ok((0..info.len() / size)
                .map(|b| (b * size..(b + 1) * size).collect())
                .collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tomo::hermitian;
    use crate::tomo::sets::pauli::pauli_dense;

    fn flip(e0: f64, e1: f64) -> [f64; 4] {
        // A[measured, prepared]: P(1|0) = e0, P(0|1) = e1.
        [1.0 - e0, e1, e0, 1.0 - e1]
    }

    #[test]
    fn per_qubit_is_the_kronecker_product_with_qubit_1_first() {
        let map = BlockMap::per_qubit(&[flip(0.1, 0.2), flip(0.0, 0.0)]).unwrap();
        assert_eq!(map.size(), 4);
        // Prepared 00 recorded as 10 (qubit 1 flipped) with 0.1.
        assert!((map.entry(0b10, 0b00) - 0.1).abs() < 1e-15);
        assert!((map.entry(0b01, 0b00)).abs() < 1e-15);
        assert!((map.entry(0b00, 0b10) - 0.2).abs() < 1e-15);
        assert!(map.is_stochastic());
    }

    #[test]
    fn effects_of_a_readout_keep_settings_complete_and_predict_the_flips() {
        let set = pauli_dense(2).unwrap();
        let model = MeasurementModel {
            block_map: Some(BlockMap::per_qubit(&[flip(0.03, 0.05), flip(0.02, 0.04)]).unwrap()),
            scale: None,
            background: None,
        };
        let noisy = model.apply(&set).unwrap();
        // |00⟩: the ZZ setting records 00 with (1−0.03)(1−0.02), 01 with 0.97·0.02, ...
        let mut rho = vec![0.0; 16];
        hermitian::ket_coords(
            &[
                faer::c64::new(1.0, 0.0),
                faer::c64::new(0.0, 0.0),
                faer::c64::new(0.0, 0.0),
                faer::c64::new(0.0, 0.0),
            ],
            &mut rho,
        );
        let mut p = vec![0.0; 36];
        noisy.view().predict(
            &rho,
            &mut p,
            &mut crate::tomo::product::ProductScratch::default(),
        );
        let zz = noisy.labels().iter().position(|l| l == "ZZ:00").unwrap();
        let want = [0.97 * 0.98, 0.97 * 0.02, 0.03 * 0.98, 0.03 * 0.02];
        for (i, w) in want.iter().enumerate() {
            assert!((p[zz + i] - w).abs() < 1e-14, "{i}: {} vs {w}", p[zz + i]);
        }
        // Every setting still sums to 1, and the pseudo-inverse inverts.
        for s in 0..9 {
            let t: f64 = p[4 * s..4 * s + 4].iter().sum();
            assert!((t - 1.0).abs() < 1e-14);
        }
        let mut x = vec![0.0; 16];
        noisy.view().apply_pinv(
            &p,
            &mut x,
            &mut crate::tomo::product::ProductScratch::default(),
        );
        for (a, b) in x.iter().zip(&rho) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    #[test]
    fn bad_models_are_refused_with_what_was_wrong() {
        let set = pauli_dense(2).unwrap();
        let lossy = MeasurementModel {
            block_map: Some(BlockMap::full(4, vec![0.2; 16]).unwrap()),
            scale: None,
            background: None,
        };
        let e = lossy.apply(&set).unwrap_err().to_string();
        assert!(e.contains("must sum to 1"), "{e}");
        let wrong_size = MeasurementModel {
            block_map: Some(BlockMap::per_qubit(&[flip(0.1, 0.1)]).unwrap()),
            scale: None,
            background: None,
        };
        let e = wrong_size.apply(&set).unwrap_err().to_string();
        assert!(e.contains("has 4 outcomes") && e.contains("2×2"), "{e}");
        let e = BlockMap::full(2, vec![1.0, f64::NAN, 0.0, 1.0])
            .unwrap_err()
            .to_string();
        assert!(e.contains("[0, 1]"), "{e}");
        let scaled = MeasurementModel {
            block_map: None,
            scale: Some(vec![1.0; 36]),
            background: None,
        };
        let e = scaled.apply(&set).unwrap_err().to_string();
        assert!(e.contains("ungrouped"), "{e}");
        let product = crate::tomo::sets::pauli::pauli(3).unwrap();
        let e = MeasurementModel {
            block_map: Some(BlockMap::per_qubit(&[flip(0.1, 0.1); 3]).unwrap()),
            scale: None,
            background: None,
        }
        .apply(&product)
        .unwrap_err()
        .to_string();
        assert!(e.contains("product set"), "{e}");
    }

    #[test]
    fn scales_of_an_ungrouped_set_are_the_poisson_means() {
        let set = crate::tomo::sets::james16::james16().unwrap();
        let scale: Vec<f64> = (0..16).map(|k| 0.5 + 0.1 * k as f64).collect();
        let model = MeasurementModel {
            block_map: None,
            scale: Some(scale.clone()),
            background: None,
        };
        let scaled = model.apply(&set).unwrap();
        let rho = hermitian::identity_coords(4, 0.25);
        let (mut p0, mut p1) = (vec![0.0; 16], vec![0.0; 16]);
        let mut scratch = crate::tomo::product::ProductScratch::default();
        set.view().predict(&rho, &mut p0, &mut scratch);
        scaled.view().predict(&rho, &mut p1, &mut scratch);
        for k in 0..16 {
            assert!((p1[k] - scale[k] * p0[k]).abs() < 1e-15);
        }
        let bad = MeasurementModel {
            block_map: None,
            scale: Some(vec![0.0; 16]),
            background: None,
        };
        let e = bad.apply(&set).unwrap_err().to_string();
        assert!(e.contains("measurement 1 ('HH')"), "{e}");
        let large = crate::tomo::sets::qudit::qudit(17).unwrap();
        let e = MeasurementModel {
            background: Some(vec![1.0; large.len()]),
            ..Default::default()
        }
        .apply(&large)
        .unwrap_err()
        .to_string();
        assert!(e.contains("up to d = 16"), "{e}");
    }
}
