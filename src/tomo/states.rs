//! Named and random quantum states, and fidelity targets.
//!
//! Named pure states (qubit 1 the most significant tensor factor):
//! `bell-phi+` = (|00⟩+|11⟩)/√2, `bell-phi-` = (|00⟩−|11⟩)/√2,
//! `bell-psi+` = (|01⟩+|10⟩)/√2, `bell-psi-` = (|01⟩−|10⟩)/√2,
//! `ghz` = (|0…0⟩+|1…1⟩)/√2, `w` = (|10…0⟩+|010…0⟩+…+|0…01⟩)/√n.
//!
//! Random states: Haar-random pure states (a normalised vector of i.i.d.
//! complex Gaussians) and Hilbert–Schmidt random mixed states ρ = GG†/Tr(GG†)
//! with G a d×d Ginibre matrix (Życzkowski, Sommers, J. Phys. A 34, 7111 (2001)).

use crate::tomo::TomoError;
use crate::tomo::eigen::EigenWorkspace;
use crate::tomo::hermitian;
use faer::{Mat, c64};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// Names accepted by [`named_state`].
pub const NAMED_STATES: [&str; 6] = [
    "bell-phi+",
    "bell-phi-",
    "bell-psi+",
    "bell-psi-",
    "ghz",
    "w",
];

/// The named pure state of dimension `d` (a power of two ≥ 4 for ghz and w,
/// exactly 4 for the Bell states).
pub fn named_state(name: &str, d: usize) -> Result<Vec<c64>, TomoError> {
    let zero = c64::new(0.0, 0.0);
    let h = std::f64::consts::FRAC_1_SQRT_2;
    let mut v = vec![zero; d];
    let qubits = if d.is_power_of_two() && d >= 2 {
        d.trailing_zeros() as usize
    } else {
        0
    };
    let bell = |v: &mut Vec<c64>, a: usize, b: usize, sign: f64| -> Result<(), TomoError> {
        if d != 4 {
            return Err(TomoError::InvalidTarget(format!(
                "'{name}' is a two-qubit state (d = 4), the set has d = {d}"
            )));
        }
        v[a] = c64::new(h, 0.0);
        v[b] = c64::new(sign * h, 0.0);
        Ok(())
    };
    match name {
        "bell-phi+" => bell(&mut v, 0, 3, 1.0)?,
        "bell-phi-" => bell(&mut v, 0, 3, -1.0)?,
        "bell-psi+" => bell(&mut v, 1, 2, 1.0)?,
        "bell-psi-" => bell(&mut v, 1, 2, -1.0)?,
        "ghz" | "w" if qubits < 2 => {
            return Err(TomoError::InvalidTarget(format!(
                "'{name}' needs n ≥ 2 qubits, the set has d = {d}"
            )));
        }
        "ghz" => {
            v[0] = c64::new(h, 0.0);
            v[d - 1] = c64::new(h, 0.0);
        }
        "w" => {
            let a = 1.0 / (qubits as f64).sqrt();
            for i in 0..qubits {
                v[1 << i] = c64::new(a, 0.0);
            }
        }
        _ => {
            return Err(TomoError::InvalidTarget(format!(
                "unknown state '{name}'; expected one of {}",
                NAMED_STATES.join(", ")
            )));
        }
    }
    Ok(v)
}

/// A Haar-random pure state of dimension d.
pub fn haar_pure<R: Rng + ?Sized>(d: usize, rng: &mut R) -> Vec<c64> {
    let mut v: Vec<c64> = (0..d)
        .map(|_| c64::new(StandardNormal.sample(rng), StandardNormal.sample(rng)))
        .collect();
    let norm = v.iter().map(|c| c.norm_sqr()).sum::<f64>().sqrt();
    v.iter_mut().for_each(|c| *c /= norm);
    v
}

/// A Hilbert–Schmidt random mixed state of dimension d, as coordinates.
pub fn hilbert_schmidt_mixed<R: Rng + ?Sized>(d: usize, rng: &mut R) -> Vec<f64> {
    let g = Mat::<c64>::from_fn(d, d, |_, _| {
        c64::new(StandardNormal.sample(rng), StandardNormal.sample(rng))
    });
    let rho = &g * g.adjoint();
    let mut x = hermitian::coords_of(rho.as_ref());
    let t = hermitian::trace(&x, d);
    x.iter_mut().for_each(|v| *v /= t);
    x
}

/// Coordinates of the pure state |ψ⟩⟨ψ| (ψ normalised here).
pub fn pure_coords(psi: &[c64]) -> Vec<f64> {
    let norm: f64 = psi.iter().map(|c| c.norm_sqr()).sum();
    let mut x = vec![0.0; psi.len() * psi.len()];
    hermitian::ket_coords(psi, &mut x);
    x.iter_mut().for_each(|v| *v /= norm);
    x
}

/// A state to compare estimates with (fidelity).
#[derive(Debug, Clone)]
pub enum Target {
    /// A pure state |ψ⟩ (normalised): F = ⟨ψ|ρ|ψ⟩.
    Pure(Vec<c64>),
    /// A density matrix σ, kept with √σ: F = (Tr √(√σ ρ √σ))².
    Mixed {
        /// Coordinates of σ.
        sigma: Vec<f64>,
        /// √σ as a matrix.
        sqrt_sigma: Mat<c64>,
    },
}

impl Target {
    /// The named pure state for dimension d.
    pub fn named(name: &str, d: usize) -> Result<Self, TomoError> {
        Ok(Target::Pure(named_state(name, d)?))
    }

    /// A target density matrix given as a full d×d matrix; it must be
    /// Hermitian, PSD and of trace 1 (to 1e-8).
    pub fn from_matrix(sigma: faer::MatRef<'_, c64>) -> Result<Self, TomoError> {
        let d = sigma.nrows();
        if sigma.ncols() != d || d < 2 {
            return Err(TomoError::InvalidTarget(format!(
                "expected a square matrix, found {}×{}",
                d,
                sigma.ncols()
            )));
        }
        for j in 0..d {
            for k in 0..d {
                let e = sigma[(j, k)] - sigma[(k, j)].conj();
                if e.norm().is_nan() || e.norm() > 1e-8 {
                    return Err(TomoError::InvalidTarget(format!(
                        "matrix is not Hermitian at ({j}, {k})"
                    )));
                }
            }
        }
        let x = hermitian::coords_of(sigma);
        let t = hermitian::trace(&x, d);
        if (t - 1.0).abs() > 1e-8 {
            return Err(TomoError::InvalidTarget(format!(
                "trace is {t}, expected 1"
            )));
        }
        let mut ws = EigenWorkspace::new(d);
        let (vals, vecs) = ws.decompose_coords(&x)?;
        if vals[0] < -1e-8 {
            return Err(TomoError::InvalidTarget(format!(
                "matrix has a negative eigenvalue {:.3e}",
                vals[0]
            )));
        }
        let sqrt_sigma = weighted_outer(vals, vecs, f64::sqrt);
        Ok(Target::Mixed {
            sigma: x,
            sqrt_sigma,
        })
    }

    /// The target's density matrix σ as row-major real and imaginary
    /// parts (d×d each): |ψ⟩⟨ψ| for a pure target, (√σ)² for a mixed one.
    pub fn density_matrix(&self) -> (Vec<f64>, Vec<f64>) {
        let d = self.dim();
        let sigma = match self {
            Target::Pure(psi) => Mat::from_fn(d, d, |r, c| psi[r] * psi[c].conj()),
            Target::Mixed { sqrt_sigma, .. } => sqrt_sigma * sqrt_sigma,
        };
        let mut re = Vec::with_capacity(d * d);
        let mut im = Vec::with_capacity(d * d);
        for r in 0..d {
            for c in 0..d {
                re.push(sigma[(r, c)].re);
                im.push(sigma[(r, c)].im);
            }
        }
        (re, im)
    }

    /// The target as a ket when it is pure: |ψ⟩ of a pure target, or the
    /// top eigenvector of a matrix target of purity Tr σ² ≥ 1 − 1e-10
    /// (its fidelity is then ⟨ψ|ρ|ψ⟩, with no √ρ to form); `None` for a
    /// mixed one.
    pub fn as_pure(&self) -> Option<Vec<c64>> {
        match self {
            Target::Pure(psi) => Some(psi.clone()),
            Target::Mixed { sigma, .. } => {
                let purity: f64 = sigma.iter().map(|x| x * x).sum();
                if purity < 1.0 - 1e-10 {
                    return None;
                }
                let d = self.dim();
                let mut ws = EigenWorkspace::new(d);
                let (_, vecs) = ws.decompose_coords(sigma).ok()?;
                Some((0..d).map(|r| vecs[(r, d - 1)]).collect())
            }
        }
    }

    /// Dimension of the target.
    pub fn dim(&self) -> usize {
        match self {
            Target::Pure(v) => v.len(),
            Target::Mixed { sqrt_sigma, .. } => sqrt_sigma.nrows(),
        }
    }
}

/// V diag(g(max(λ,0))) V^† as a matrix.
pub fn weighted_outer(vals: &[f64], vecs: &Mat<c64>, g: impl Fn(f64) -> f64) -> Mat<c64> {
    let d = vals.len();
    let mut out = Mat::<c64>::zeros(d, d);
    for (i, &l) in vals.iter().enumerate() {
        let w = g(l.max(0.0));
        if w == 0.0 {
            continue;
        }
        for j in 0..d {
            let vj = vecs[(j, i)] * w;
            for k in 0..d {
                out[(j, k)] += vj * vecs[(k, i)].conj();
            }
        }
    }
    out
}
