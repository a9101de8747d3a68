//! n-qubit Pauli tomography: every qubit is measured in the X, Y or Z
//! eigenbasis, 3^n settings of 2^n outcomes each.
//!
//! # Conventions
//! - Labels are `S₁S₂…Sₙ:b₁b₂…bₙ`, e.g. `XZ:01`: qubit 1 first, measured in X
//!   with outcome 0, qubit 2 in Z with outcome 1.
//! - Outcome bit 0 is the +1 eigenstate: Z: 0=|0⟩, 1=|1⟩;
//!   X: 0=(|0⟩+|1⟩)/√2, 1=(|0⟩−|1⟩)/√2; Y: 0=(|0⟩+i|1⟩)/√2, 1=(|0⟩−i|1⟩)/√2.
//! - Kets are tensor products with qubit 1 the most significant factor.
//! - Row order: settings in lexicographic order over X < Y < Z (qubit 1
//!   slowest), outcomes in binary order within a setting.
//!
//! # Pseudo-inverse in closed form
//! The frame operator F(X) = Σ_k Tr(Π_k X) Π_k factorises over qubits, with
//! F₁(X) = X + Tr(X)·I on one qubit, so F₁⁻¹(π) = π − I/3 for a one-qubit
//! projector π. Column k of A⁺ = (AᵀA)⁻¹Aᵀ is therefore the coordinate vector
//! of ⊗ᵢ(πᵢ − I/3), and cond(A) = 3^{n/2}. No SVD is needed, which matters at
//! n = 6 where A is 46656×4096.
//!
//! # Dense or product
//! Up to [`DENSE_MAX_QUBITS`] the set stores A and A⁺ densely; above, it is
//! a product set ([`crate::tomo::product`]): six one-qubit projectors per
//! qubit, A never formed (at 5 qubits the dense A already takes 64 MB and a
//! product with it 10 ms). Both give the same numbers to rounding.

use super::kron_kets;
use crate::tomo::TomoError;
use crate::tomo::hermitian;
use crate::tomo::measurement::{Grouping, MeasurementSet};
use crate::tomo::product::{LocalFactor, ProductSpec};
use faer::c64;
use std::f64::consts::FRAC_1_SQRT_2;

/// Largest number of qubits supported.
pub const MAX_QUBITS: usize = 8;

/// Largest number of qubits for which the set stores A densely.
pub const DENSE_MAX_QUBITS: usize = 2;

const BASES: [char; 3] = ['X', 'Y', 'Z'];

/// The one-qubit ket for basis `b` ∈ {X, Y, Z} and outcome bit.
pub fn one_qubit_ket(basis: char, bit: usize) -> [c64; 2] {
    let h = FRAC_1_SQRT_2;
    let sign = if bit == 0 { 1.0 } else { -1.0 };
    match (basis, bit) {
        ('Z', 0) => [c64::new(1.0, 0.0), c64::new(0.0, 0.0)],
        ('Z', _) => [c64::new(0.0, 0.0), c64::new(1.0, 0.0)],
        ('X', _) => [c64::new(h, 0.0), c64::new(sign * h, 0.0)],
        _ => [c64::new(h, 0.0), c64::new(0.0, sign * h)],
    }
}

/// Setting labels in row order, e.g. `["XX", "XY", …, "ZZ"]` for n = 2.
pub fn setting_labels(n: usize) -> Vec<String> {
    (0..3usize.pow(n as u32))
        .map(|s| setting_chars(s, n).into_iter().collect())
        .collect()
}

fn setting_chars(s: usize, n: usize) -> Vec<char> {
    let mut c = vec!['X'; n];
    let mut r = s;
    for i in (0..n).rev() {
        c[i] = BASES[r % 3];
        r /= 3;
    }
    c
}

/// Projector labels in row order, e.g. `XZ:01`.
pub fn labels(n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for setting in setting_labels(n) {
        for b in 0..(1usize << n) {
            let bits: String = (0..n)
                .map(|i| {
                    if (b >> (n - 1 - i)) & 1 == 1 {
                        '1'
                    } else {
                        '0'
                    }
                })
                .collect();
            out.push(format!("{setting}:{bits}"));
        }
    }
    out
}

/// Builds the n-qubit Pauli set (1 ≤ n ≤ [`MAX_QUBITS`]): dense up to
/// [`DENSE_MAX_QUBITS`], a product set above.
pub fn pauli(n: usize) -> Result<MeasurementSet, TomoError> {
    check_qubits(n)?;
    if n <= DENSE_MAX_QUBITS {
        pauli_dense(n)
    } else {
        pauli_product(n)
    }
}

fn check_qubits(n: usize) -> Result<(), TomoError> {
    if !(1..=MAX_QUBITS).contains(&n) {
        return Err(TomoError::InvalidSet(format!(
            "pauli needs 1 to {MAX_QUBITS} qubits, got {n}"
        )));
    }
    Ok(())
}

/// The one-qubit factor: rows X:0, X:1, Y:0, Y:1, Z:0, Z:1 and the closed
/// form of their pseudo-inverse (columns π_k − I/3).
fn one_qubit_factor() -> LocalFactor {
    let mut rows = vec![0.0; 24];
    let mut pinv = vec![0.0; 24];
    let mut col = [0.0; 4];
    for (b, basis) in BASES.iter().enumerate() {
        for bit in 0..2 {
            let k = 2 * b + bit;
            hermitian::ket_coords(&one_qubit_ket(*basis, bit), &mut rows[k * 4..(k + 1) * 4]);
            col.copy_from_slice(&rows[k * 4..(k + 1) * 4]);
            col[0] -= 1.0 / 3.0;
            col[1] -= 1.0 / 3.0;
            for (i, v) in col.iter().enumerate() {
                pinv[i * 6 + k] = *v;
            }
        }
    }
    LocalFactor {
        dim: 2,
        outcomes: 2,
        rows,
        pinv,
    }
}

/// The local factors of the n-qubit Pauli set.
pub fn product_spec(n: usize) -> Result<ProductSpec, TomoError> {
    check_qubits(n)?;
    ProductSpec::new(vec![one_qubit_factor(); n])
}

/// The n-qubit Pauli set as a product set, whatever n.
pub fn pauli_product(n: usize) -> Result<MeasurementSet, TomoError> {
    let spec = product_spec(n)?;
    let m = spec.len();
    let d = spec.dim();
    let settings = setting_labels(n);
    let setting_of = (0..m).map(|k| (k / d) as u32).collect();
    MeasurementSet::from_product(
        &format!("pauli({n})"),
        labels(n),
        Grouping::Settings {
            settings,
            setting_of,
        },
        spec,
        3f64.powf(n as f64 / 2.0),
    )
}

/// The n-qubit Pauli set with dense A and A⁺, whatever n (the dense
/// matrices take 8·6ⁿ·4ⁿ bytes each: 3 GB at n = 6).
pub fn pauli_dense(n: usize) -> Result<MeasurementSet, TomoError> {
    check_qubits(n)?;
    let d = 1usize << n;
    let dd = d * d;
    let settings = setting_labels(n);
    let labels = labels(n);
    let m = labels.len();
    let mut kets = Vec::with_capacity(m);
    let mut setting_of = Vec::with_capacity(m);
    let mut a = vec![0.0; m * dd];
    let mut pinv_cols = vec![0.0; m * dd];
    let third = c64::new(1.0 / 3.0, 0.0);
    for (s, _) in settings.iter().enumerate() {
        let chars = setting_chars(s, n);
        for b in 0..d {
            let k = s * d + b;
            let factors: Vec<[c64; 2]> = (0..n)
                .map(|i| one_qubit_ket(chars[i], (b >> (n - 1 - i)) & 1))
                .collect();
            let refs: Vec<&[c64]> = factors.iter().map(|f| &f[..]).collect();
            let ket = kron_kets(&refs);
            hermitian::ket_coords(&ket, &mut a[k * dd..(k + 1) * dd]);
            // ⊗ (π_i − I/3) as a dense matrix, then coordinates.
            let mut m_full = vec![c64::new(1.0, 0.0)];
            let mut size = 1;
            for f in &factors {
                let mut local = [[c64::new(0.0, 0.0); 2]; 2];
                for r in 0..2 {
                    for c in 0..2 {
                        local[r][c] =
                            f[r] * f[c].conj() - if r == c { third } else { c64::new(0.0, 0.0) };
                    }
                }
                let ns = size * 2;
                let mut next = vec![c64::new(0.0, 0.0); ns * ns];
                for r1 in 0..size {
                    for c1 in 0..size {
                        let v = m_full[r1 * size + c1];
                        for r2 in 0..2 {
                            for c2 in 0..2 {
                                next[(r1 * 2 + r2) * ns + c1 * 2 + c2] = v * local[r2][c2];
                            }
                        }
                    }
                }
                m_full = next;
                size = ns;
            }
            let mref = faer::MatRef::from_row_major_slice(&m_full, d, d);
            hermitian::to_coords(mref, &mut pinv_cols[k * dd..(k + 1) * dd]);
            kets.push(ket);
            setting_of.push(s as u32);
        }
    }
    // Transpose the columns into A⁺ (d²×M, row-major).
    let mut pinv = vec![0.0; dd * m];
    for k in 0..m {
        for i in 0..dd {
            pinv[i * m + k] = pinv_cols[k * dd + i];
        }
    }
    let cond = 3f64.powf(n as f64 / 2.0);
    MeasurementSet::assemble(
        &format!("pauli({n})"),
        d,
        labels,
        Grouping::Settings {
            settings,
            setting_of,
        },
        a,
        pinv,
        cond,
        &kets,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_documented_convention() {
        let l = labels(2);
        assert_eq!(l.len(), 36);
        assert_eq!(l[0], "XX:00");
        assert_eq!(l[1], "XX:01");
        assert_eq!(l[35], "ZZ:11");
        assert!(l.contains(&"XZ:01".to_string()));
        assert_eq!(labels(1), ["X:0", "X:1", "Y:0", "Y:1", "Z:0", "Z:1"]);
    }

    #[test]
    fn closed_form_pinv_is_the_pseudo_inverse() {
        for n in 1..=3 {
            let set = pauli_dense(n).unwrap();
            let (m, dd) = (set.len(), set.dim() * set.dim());
            let a = faer::MatRef::from_row_major_slice(set.a(), m, dd);
            let p = faer::MatRef::from_row_major_slice(set.pinv(), dd, m);
            let pa = p * a;
            for i in 0..dd {
                for j in 0..dd {
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((pa[(i, j)] - want).abs() < 1e-12, "n={n} ({i},{j})");
                }
            }
            // Moore–Penrose: A A⁺ is symmetric.
            let ap = a * p;
            for i in 0..m {
                for j in 0..m {
                    assert!((ap[(i, j)] - ap[(j, i)]).abs() < 1e-12);
                }
            }
            // cond(A) = 3^{n/2} agrees with the SVD.
            let s = a.singular_values().unwrap();
            let cond = s[0] / s[s.len() - 1];
            assert!((cond - set.cond()).abs() < 1e-9 * cond);
        }
    }

    #[test]
    fn out_of_range_qubits_are_rejected() {
        assert!(pauli(0).is_err());
        assert!(pauli(9).is_err());
    }
}
