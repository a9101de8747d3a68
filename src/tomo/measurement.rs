//! Measurement sets: projectors, their labels, grouping into settings, the
//! projector matrix A and its pseudo-inverse A⁺.
//!
//! A set of M projectors Π_k on ℂ^d is stored as the real M×d² matrix A whose
//! row k holds the coordinates of Π_k (see [`crate::tomo::hermitian`]), so
//! that the probabilities predicted by a state ρ are p = A x(ρ). A⁺ is the
//! Moore–Penrose pseudo-inverse (d²×M). Both are stored row-major as flat
//! `f64` slices so that they can live in a shared-memory segment; estimators
//! take a borrowed [`SetView`].
//!
//! **Grouped** sets (e.g. `pauli`) are made of complete measurements
//! (settings): the projectors of each setting sum to the identity, and the
//! counts of a setting are multinomial. **Ungrouped** sets (`qudit`,
//! `james16`, custom sets without a `setting` column) have an unknown overall
//! intensity. For those the maximum-likelihood problem with Poisson counts and
//! free intensity, max_σ⪰0 Σ n_k log Tr(Π_k σ) − Tr(Gσ) with G = Σ_k Π_k, is
//! turned into a multinomial problem over one complete measurement by the
//! change of variables σ = G^{-1/2} τ G^{-1/2}: the operators
//! Π̃_k = G^{-1/2} Π_k G^{-1/2} sum to the identity, Tr(Gσ) = Tr τ, and at the
//! optimum ρ = σ / Tr σ. The set stores the rows of Π̃ ("MLE frame") and the
//! two matrices G^{±1/2} for that purpose.

use crate::tomo::TomoError;
use crate::tomo::eigen::EigenWorkspace;
use crate::tomo::hermitian;
use crate::tomo::product::ProductSpec;
use faer::{Mat, c64};
use serde::{Deserialize, Serialize};

/// How the projectors of a set are grouped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Grouping {
    /// Complete measurements: `setting_of[k]` is the setting of projector k,
    /// `settings[s]` the label of setting s. Counts are multinomial per setting.
    Settings {
        /// Label of each setting.
        settings: Vec<String>,
        /// Setting index of each projector.
        setting_of: Vec<u32>,
    },
    /// No grouping: the overall intensity is a free parameter (Poisson counts).
    Ungrouped,
}

/// Everything about a set except its large matrices: small, serialisable,
/// cheap to send to a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetInfo {
    /// Name, e.g. `pauli(2)`, `james16`, `qudit(3)`, `custom`.
    pub name: String,
    /// Hilbert-space dimension d.
    pub dim: usize,
    /// One label per projector, in row order of A.
    pub labels: Vec<String>,
    /// Grouping into settings.
    pub grouping: Grouping,
    /// Condition number σ_max/σ_min of A.
    pub cond: f64,
    /// Coordinates of G^{-1/2} (ungrouped sets only).
    pub g_inv_sqrt: Option<Vec<f64>>,
    /// Coordinates of G^{1/2} (ungrouped sets only).
    pub g_sqrt: Option<Vec<f64>>,
    /// The local factors of a product set, which stores no dense matrices
    /// (see [`crate::tomo::product`]); `None` for a dense set.
    pub product: Option<ProductSpec>,
    /// The expected background (accidental) counts a_k of an ungrouped set
    /// with an affine measurement model, μ_k = I·Tr(F_k ρ) + a_k (see
    /// [`crate::tomo::model`]); `None` without one.
    #[serde(default)]
    pub background: Option<Vec<f64>>,
}

impl SetInfo {
    /// Number of projectors M.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the set has no projectors (never for a built set).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of real coordinates d².
    pub fn coord_len(&self) -> usize {
        self.dim * self.dim
    }

    /// True for sets grouped into complete measurements.
    pub fn is_grouped(&self) -> bool {
        matches!(self.grouping, Grouping::Settings { .. })
    }

    /// The background a_k of an affine model, if the set has one.
    pub fn background(&self) -> Option<&[f64]> {
        self.background.as_deref()
    }
}

/// A measurement set with its matrices, owned.
#[derive(Debug, Clone)]
pub struct MeasurementSet {
    info: SetInfo,
    a: Vec<f64>,
    pinv: Vec<f64>,
    /// Rows of Π̃ for ungrouped sets; empty for grouped sets (A is used).
    mle_rows: Vec<f64>,
}

/// A borrowed measurement set: metadata plus the three matrices as slices,
/// e.g. mapped from a shared-memory segment.
#[derive(Debug, Clone, Copy)]
pub struct SetView<'a> {
    /// Metadata.
    pub info: &'a SetInfo,
    /// A, M×d², row-major.
    pub a: &'a [f64],
    /// A⁺, d²×M, row-major.
    pub pinv: &'a [f64],
    /// Rows of the complete measurement used by MLE, M×d², row-major
    /// (equal to `a` for grouped sets).
    pub mle_rows: &'a [f64],
}

impl<'a> SetView<'a> {
    /// Builds a view from parts, checking their sizes (all three empty
    /// for a product set).
    pub fn new(
        info: &'a SetInfo,
        a: &'a [f64],
        pinv: &'a [f64],
        mle_rows: &'a [f64],
    ) -> Result<Self, TomoError> {
        let n = match &info.product {
            Some(_) => 0,
            None => info.len() * info.coord_len(),
        };
        if a.len() != n || pinv.len() != n || mle_rows.len() != n {
            return Err(TomoError::InvalidSet(format!(
                "matrices of set '{}' have lengths {}, {}, {}; expected {} each",
                info.name,
                a.len(),
                pinv.len(),
                mle_rows.len(),
                n
            )));
        }
        Ok(Self {
            info,
            a,
            pinv,
            mle_rows,
        })
    }

    /// Dimension d.
    pub fn dim(&self) -> usize {
        self.info.dim
    }

    /// Number of projectors M.
    pub fn len(&self) -> usize {
        self.info.len()
    }

    /// True when the set has no projectors.
    pub fn is_empty(&self) -> bool {
        self.info.is_empty()
    }

    /// Row k of A: the coordinates of Π_k.
    pub fn row(&self, k: usize) -> &'a [f64] {
        let n = self.info.coord_len();
        &self.a[k * n..(k + 1) * n]
    }
}

/// Relative singular-value threshold below which A is rank deficient.
const RANK_TOLERANCE: f64 = 1e-10;

impl MeasurementSet {
    /// Builds a set from one ket per projector (Π_k = |ψ_k⟩⟨ψ_k|).
    ///
    /// With `settings = Some(labels)`, projectors with the same setting label
    /// form a complete measurement and must sum to the identity.
    pub fn from_kets(
        name: &str,
        labels: Vec<String>,
        kets: &[Vec<c64>],
        settings: Option<Vec<String>>,
    ) -> Result<Self, TomoError> {
        let d = kets.first().map(Vec::len).unwrap_or(0);
        if d < 2 {
            return Err(TomoError::InvalidSet(format!(
                "set '{name}' needs kets of dimension ≥ 2, found {d}"
            )));
        }
        if labels.len() != kets.len() {
            return Err(TomoError::InvalidSet(format!(
                "set '{name}' has {} labels for {} kets",
                labels.len(),
                kets.len()
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for l in &labels {
            if !seen.insert(l.as_str()) {
                return Err(TomoError::InvalidSet(format!(
                    "set '{name}' repeats label '{l}'"
                )));
            }
        }
        let n = d * d;
        let mut a = vec![0.0; kets.len() * n];
        for (k, ket) in kets.iter().enumerate() {
            if ket.len() != d {
                return Err(TomoError::InvalidSet(format!(
                    "ket '{}' has {} components, expected {d}",
                    labels[k],
                    ket.len()
                )));
            }
            let norm: f64 = ket.iter().map(|c| c.norm_sqr()).sum();
            if !(norm > 0.0 && norm.is_finite()) {
                return Err(TomoError::InvalidSet(format!(
                    "ket '{}' has zero or non-finite norm",
                    labels[k]
                )));
            }
            hermitian::ket_coords(ket, &mut a[k * n..(k + 1) * n]);
        }
        let grouping = match settings {
            None => Grouping::Ungrouped,
            Some(per_row) => group_rows(name, &labels, &per_row, &a, d)?,
        };
        let (pinv, cond) = pseudo_inverse(name, &a, kets.len(), n)?;
        Self::assemble(name, d, labels, grouping, a, pinv, cond, kets)
    }

    /// Builds a set whose pseudo-inverse is known in closed form.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn assemble(
        name: &str,
        d: usize,
        labels: Vec<String>,
        grouping: Grouping,
        a: Vec<f64>,
        pinv: Vec<f64>,
        cond: f64,
        kets: &[Vec<c64>],
    ) -> Result<Self, TomoError> {
        let n = d * d;
        let mut phi = vec![c64::new(0.0, 0.0); d];
        Self::dense(
            name,
            d,
            labels,
            grouping,
            a,
            pinv,
            cond,
            |w, _, mle_rows| {
                // Π̃_k = |G^{-1/2} ψ_k⟩⟨G^{-1/2} ψ_k|.
                let wm = hermitian::matrix_from_coords(w);
                for (k, ket) in kets.iter().enumerate() {
                    for (i, p) in phi.iter_mut().enumerate() {
                        *p = (0..d).map(|j| wm[(i, j)] * ket[j]).sum();
                    }
                    hermitian::ket_coords(&phi, &mut mle_rows[k * n..(k + 1) * n]);
                }
            },
        )
    }

    /// A dense set from its rows `a` and pseudo-inverse; for an ungrouped
    /// set also its MLE frame: G = Σ_k E_k, and `whiten(G^{-1/2}, a,
    /// rows)` fills the rows G^{-1/2} E_k G^{-1/2}.
    #[allow(clippy::too_many_arguments)]
    fn dense(
        name: &str,
        d: usize,
        labels: Vec<String>,
        grouping: Grouping,
        a: Vec<f64>,
        pinv: Vec<f64>,
        cond: f64,
        whiten: impl FnOnce(&[f64], &[f64], &mut [f64]),
    ) -> Result<Self, TomoError> {
        let n = d * d;
        let mut info = SetInfo {
            name: name.to_string(),
            dim: d,
            labels,
            grouping,
            cond,
            g_inv_sqrt: None,
            g_sqrt: None,
            product: None,
            background: None,
        };
        let mut mle_rows = Vec::new();
        if !info.is_grouped() {
            let mut g = vec![0.0; n];
            for row in a.chunks_exact(n) {
                for (gi, ai) in g.iter_mut().zip(row) {
                    *gi += ai;
                }
            }
            let (w, w_half) = inverse_sqrt_and_sqrt(&g, d)?;
            mle_rows = vec![0.0; a.len()];
            whiten(&w, &a, &mut mle_rows);
            info.g_inv_sqrt = Some(w);
            info.g_sqrt = Some(w_half);
        }
        Ok(Self {
            info,
            a,
            pinv,
            mle_rows,
        })
    }

    /// Builds a dense set from the coordinates of its rows (M×d², row-major),
    /// which may be any positive semidefinite effects rather than
    /// projectors (see [`crate::tomo::model`]). A⁺ comes from an SVD (with
    /// the rank check); for an ungrouped set the MLE frame is built from
    /// G = Σ_k E_k as for projectors, Ẽ_k = G^{-1/2} E_k G^{-1/2}. A grouped
    /// set's settings must still sum to the identity.
    pub(crate) fn from_rows(
        name: &str,
        d: usize,
        labels: Vec<String>,
        grouping: Grouping,
        a: Vec<f64>,
    ) -> Result<Self, TomoError> {
        let n = d * d;
        let m = labels.len();
        if a.len() != m * n {
            return Err(TomoError::InvalidSet(format!(
                "set '{name}' has {} row coordinates for {m} rows of {n}",
                a.len()
            )));
        }
        if let Grouping::Settings {
            settings,
            setting_of,
        } = &grouping
        {
            check_settings_complete(name, settings, setting_of, &a, d)?;
        }
        let (pinv, cond) = pseudo_inverse(name, &a, m, n)?;
        Self::dense(
            name,
            d,
            labels,
            grouping,
            a,
            pinv,
            cond,
            |w, a, mle_rows| {
                let mut frame = crate::tomo::frame::FrameMap::new(d);
                for (row, out) in a.chunks_exact(n).zip(mle_rows.chunks_exact_mut(n)) {
                    frame.sandwich(w, row, out);
                }
            },
        )
    }

    /// A grouped product set (see [`crate::tomo::product`]): no dense
    /// matrices are formed. `cond` is the condition number of A, the
    /// product of the factors'.
    pub(crate) fn from_product(
        name: &str,
        labels: Vec<String>,
        grouping: Grouping,
        spec: ProductSpec,
        cond: f64,
    ) -> Result<Self, TomoError> {
        if labels.len() != spec.len() || !matches!(grouping, Grouping::Settings { .. }) {
            return Err(TomoError::InvalidSet(format!(
                "product set '{name}' needs one label per projector ({} for {}) and settings",
                labels.len(),
                spec.len()
            )));
        }
        Ok(Self {
            info: SetInfo {
                name: name.to_string(),
                dim: spec.dim(),
                labels,
                grouping,
                cond,
                g_inv_sqrt: None,
                g_sqrt: None,
                product: Some(spec),
                background: None,
            },
            a: Vec::new(),
            pinv: Vec::new(),
            mle_rows: Vec::new(),
        })
    }

    /// The set with the background a_k of an affine model (see
    /// [`crate::tomo::model`]); the caller has checked it.
    pub(crate) fn with_background(mut self, background: Vec<f64>) -> Self {
        self.info.background = Some(background);
        self
    }

    /// Metadata of the set.
    pub fn info(&self) -> &SetInfo {
        &self.info
    }

    /// Labels, one per projector.
    pub fn labels(&self) -> &[String] {
        &self.info.labels
    }

    /// Dimension d.
    pub fn dim(&self) -> usize {
        self.info.dim
    }

    /// Number of projectors M.
    pub fn len(&self) -> usize {
        self.info.len()
    }

    /// True when the set has no projectors (never for a built set).
    pub fn is_empty(&self) -> bool {
        self.info.is_empty()
    }

    /// Condition number of A.
    pub fn cond(&self) -> f64 {
        self.info.cond
    }

    /// The projector matrix A (M×d², row-major); empty for a product set.
    pub fn a(&self) -> &[f64] {
        &self.a
    }

    /// The pseudo-inverse A⁺ (d²×M, row-major).
    pub fn pinv(&self) -> &[f64] {
        &self.pinv
    }

    /// Rows of the complete measurement used by MLE (M×d², row-major).
    pub fn mle_rows(&self) -> &[f64] {
        if self.info.is_grouped() {
            &self.a
        } else {
            &self.mle_rows
        }
    }

    /// A borrowed view for the estimators.
    pub fn view(&self) -> SetView<'_> {
        SetView {
            info: &self.info,
            a: &self.a,
            pinv: &self.pinv,
            mle_rows: self.mle_rows(),
        }
    }
}

/// Groups rows by setting label and checks each setting sums to the identity.
fn group_rows(
    name: &str,
    labels: &[String],
    per_row: &[String],
    a: &[f64],
    d: usize,
) -> Result<Grouping, TomoError> {
    if per_row.len() != labels.len() {
        return Err(TomoError::InvalidSet(format!(
            "set '{name}' has {} setting labels for {} projectors",
            per_row.len(),
            labels.len()
        )));
    }
    let mut settings: Vec<String> = Vec::new();
    let mut setting_of = Vec::with_capacity(per_row.len());
    for s in per_row {
        let idx = match settings.iter().position(|x| x == s) {
            Some(i) => i,
            None => {
                settings.push(s.clone());
                settings.len() - 1
            }
        };
        setting_of.push(idx as u32);
    }
    check_settings_complete(name, &settings, &setting_of, a, d)?;
    Ok(Grouping::Settings {
        settings,
        setting_of,
    })
}

/// Checks that the rows of every setting sum to the identity.
fn check_settings_complete(
    name: &str,
    settings: &[String],
    setting_of: &[u32],
    a: &[f64],
    d: usize,
) -> Result<(), TomoError> {
    let n = d * d;
    let identity = hermitian::identity_coords(d, 1.0);
    for (s, label) in settings.iter().enumerate() {
        let mut sum = vec![0.0; n];
        for (k, &sk) in setting_of.iter().enumerate() {
            if sk as usize == s {
                for (x, y) in sum.iter_mut().zip(&a[k * n..(k + 1) * n]) {
                    *x += y;
                }
            }
        }
        let err = sum
            .iter()
            .zip(&identity)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        if err > 1e-9 {
            return Err(TomoError::InvalidSet(format!(
                "the projectors of setting '{label}' in set '{name}' do not sum to the identity (largest deviation {err:.2e}); a setting must be a complete measurement"
            )));
        }
    }
    Ok(())
}

/// A⁺ by SVD (A = U Σ Vᵀ, A⁺ = V Σ⁻¹ Uᵀ), with the rank check.
pub(crate) fn pseudo_inverse(
    name: &str,
    a: &[f64],
    m: usize,
    n: usize,
) -> Result<(Vec<f64>, f64), TomoError> {
    if m < n {
        return Err(TomoError::NotInformationallyComplete {
            set: name.to_string(),
            rank: m,
            needed: n,
            cond: f64::INFINITY,
        });
    }
    let am = faer::MatRef::from_row_major_slice(a, m, n);
    let svd = am
        .thin_svd()
        .map_err(|_| TomoError::InvalidSet(format!("SVD of set '{name}' did not converge")))?;
    let s = svd.S().column_vector();
    let smax = s[0];
    let smin = s[n - 1];
    let cond = smax / smin;
    let rank = (0..n).filter(|&i| s[i] > RANK_TOLERANCE * smax).count();
    if rank < n {
        return Err(TomoError::NotInformationallyComplete {
            set: name.to_string(),
            rank,
            needed: n,
            cond,
        });
    }
    let u = svd.U();
    let v = svd.V();
    let mut pinv = vec![0.0; n * m];
    for i in 0..n {
        for k in 0..m {
            let mut acc = 0.0;
            for j in 0..n {
                acc += v[(i, j)] * u[(k, j)] / s[j];
            }
            pinv[i * m + k] = acc;
        }
    }
    Ok((pinv, cond))
}

/// Coordinates of G^{-1/2} and G^{1/2} for a positive-definite G.
fn inverse_sqrt_and_sqrt(g: &[f64], d: usize) -> Result<(Vec<f64>, Vec<f64>), TomoError> {
    let mut ws = EigenWorkspace::new(d);
    let (vals, vecs) = ws.decompose_coords(g)?;
    if vals[0] <= 1e-12 * vals[d - 1] {
        return Err(TomoError::InvalidSet(
            "the projectors' sum G is singular; the set cannot be informationally complete".into(),
        ));
    }
    let mut inv = Mat::<c64>::zeros(d, d);
    let mut half = Mat::<c64>::zeros(d, d);
    for i in 0..d {
        let (a, b) = (vals[i].powf(-0.5), vals[i].sqrt());
        for j in 0..d {
            for k in 0..d {
                let w = vecs[(j, i)] * vecs[(k, i)].conj();
                inv[(j, k)] += w * a;
                half[(j, k)] += w * b;
            }
        }
    }
    Ok((
        hermitian::coords_of(inv.as_ref()),
        hermitian::coords_of(half.as_ref()),
    ))
}
