//! Custom sets of product kets (a kets file with per-subsystem columns):
//! a product set ([`crate::tomo::product`]) when the rows have the
//! structure of one, the dense set of [`MeasurementSet::from_kets`]
//! otherwise.
//!
//! # When a set of product kets is a product set
//! The rows (one local ket per subsystem each) must be grouped into
//! settings, and
//! - on every subsystem q, the distinct local kets (compared exactly) fall
//!   into local bases: disjoint sets of kets whose projectors sum to the
//!   identity of subsystem q (within [`LOCAL_IDENTITY_TOL`]), all of the
//!   same size (the outcomes of a local setting);
//! - the rows of every setting are exactly the Cartesian product of one
//!   local basis per subsystem, each combination once;
//! - the settings are exactly all combinations of local bases, each once.
//!
//! Then A = A₁ ⊗ … ⊗ Aₙ up to the order of rows, whatever the order of
//! the rows in the file: the set keeps the file's rows, labels and
//! settings, and its [`ProductSpec::row_of`] maps the settings-major order
//! of the factors to them. A⁺ is the product of the local pseudo-inverses
//! and cond(A) the product of the local condition numbers.
//!
//! # Dense or product
//! As for the Pauli set, small sets are faster dense: a set of total
//! dimension at most [`DENSE_MAX_DIM`] (= 2^[`DENSE_MAX_QUBITS`], the
//! measured crossover of the Pauli set) is built dense whatever its
//! structure, larger ones are product sets when their structure allows.
//! Anything else (no `setting` column, a missing row, a local basis that
//! is not complete, settings that are not all combinations) is built
//! dense as before. An ungrouped file of product kets is never a product
//! set: without settings the set has a free overall intensity, whose MLE
//! frame G^{-1/2} Π_k G^{-1/2} the product computations do not cover.

use super::kron_kets;
use super::pauli::DENSE_MAX_QUBITS;
use crate::tomo::TomoError;
use crate::tomo::hermitian;
use crate::tomo::measurement::{Grouping, MeasurementSet, pseudo_inverse};
use crate::tomo::product::{LocalFactor, ProductSpec};
use faer::c64;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// Largest total dimension d for which a set of product kets is built
/// dense (the Pauli set's crossover, [`DENSE_MAX_QUBITS`] qubits).
pub const DENSE_MAX_DIM: usize = 1 << DENSE_MAX_QUBITS;

/// Largest deviation from the identity (per coordinate) of the sum of a
/// local basis's projectors.
pub const LOCAL_IDENTITY_TOL: f64 = 1e-10;

/// Builds the set of the rows `labels` whose kets are the tensor products
/// of local kets: `local` holds row k's local kets (subsystem 1 first, of
/// dimensions `dims`) at `local[k·w..(k+1)·w]`, w = Σ dims. A product set
/// when the total dimension exceeds [`DENSE_MAX_DIM`] and the rows have the
/// structure of one (see the module docs); otherwise the dense set of
/// [`MeasurementSet::from_kets`], whose full kets are formed only then.
pub fn from_local_kets(
    name: &str,
    labels: Vec<String>,
    settings: Option<Vec<String>>,
    dims: &[usize],
    local: &[c64],
) -> Result<MeasurementSet, TomoError> {
    let d: usize = dims.iter().product();
    if d > DENSE_MAX_DIM
        && let Some(per_row) = &settings
        && let Some(set) = product_set(name, &labels, per_row, dims, local)?
    {
        return Ok(set);
    }
    let kets = full_kets(dims, local);
    MeasurementSet::from_kets(name, labels, &kets, settings)
}

/// The full kets q₁ ⊗ … ⊗ qₙ of every row (subsystem 1 most significant),
/// as the kets reader forms them (`KetTable::kets`), by [`kron_kets`].
pub fn full_kets(dims: &[usize], local: &[c64]) -> Vec<Vec<c64>> {
    let w: usize = dims.iter().sum();
    if w == 0 {
        return Vec::new();
    }
    local
        .chunks_exact(w)
        .map(|row| {
            let mut rest = row;
            let factors: Vec<&[c64]> = dims
                .iter()
                .map(|&dim| {
                    let (q, tail) = rest.split_at(dim);
                    rest = tail;
                    q
                })
                .collect();
            kron_kets(&factors)
        })
        .collect()
}

/// The exact value of a local ket, as a hash key (−0 and +0 the same).
fn key(ket: &[c64]) -> Vec<u64> {
    ket.iter()
        .flat_map(|z| [(z.re + 0.0).to_bits(), (z.im + 0.0).to_bits()])
        .collect()
}

/// The product set of the rows, or `None` when they do not have its
/// structure (see the module docs), whatever the dimension. `per_row` is
/// the setting label of each row. Errors: inconsistent lengths, a repeated
/// label, or local factors that are not informationally complete (then
/// neither is the set).
pub fn product_set(
    name: &str,
    labels: &[String],
    per_row: &[String],
    dims: &[usize],
    local: &[c64],
) -> Result<Option<MeasurementSet>, TomoError> {
    let n = dims.len();
    let w: usize = dims.iter().sum();
    let m = labels.len();
    if per_row.len() != m || local.len() != m * w || dims.contains(&0) {
        return Err(TomoError::InvalidSet(format!(
            "set '{name}' has {} setting labels and {} local amplitudes for {m} rows of width {w}",
            per_row.len(),
            local.len()
        )));
    }
    let mut seen = std::collections::HashSet::with_capacity(m);
    if let Some(l) = labels.iter().find(|l| !seen.insert(l.as_str())) {
        return Err(TomoError::InvalidSet(format!(
            "set '{name}' repeats label '{l}'"
        )));
    }
    if n < 2 || m == 0 || dims.contains(&1) {
        return Ok(None);
    }
    let offsets: Vec<usize> = dims
        .iter()
        .scan(0, |o, &dq| {
            let start = *o;
            *o += dq;
            Some(start)
        })
        .collect();

    // Settings in order of first appearance, as `MeasurementSet::from_kets`.
    let mut settings: Vec<String> = Vec::new();
    let mut setting_index: HashMap<&str, u32> = HashMap::new();
    let mut setting_of = Vec::with_capacity(m);
    for s in per_row {
        let next = settings.len() as u32;
        let idx = *setting_index.entry(s.as_str()).or_insert_with(|| {
            settings.push(s.clone());
            next
        });
        setting_of.push(idx);
    }
    let n_settings = settings.len();

    // Distinct local kets per subsystem; ids[k·n + q] is row k's on q.
    let mut ids = vec![0u32; m * n];
    let mut kets: Vec<Vec<&[c64]>> = vec![Vec::new(); n];
    for q in 0..n {
        let mut seen: HashMap<Vec<u64>, u32> = HashMap::new();
        for k in 0..m {
            let ket = &local[k * w + offsets[q]..k * w + offsets[q] + dims[q]];
            let id = match seen.entry(key(ket)) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) => {
                    kets[q].push(ket);
                    *e.insert(kets[q].len() as u32 - 1)
                }
            };
            ids[k * n + q] = id;
        }
    }

    // Every setting's rows: the Cartesian product of one local set per
    // subsystem, each combination once.
    let mut rows_of: Vec<Vec<usize>> = vec![Vec::new(); n_settings];
    for (k, &s) in setting_of.iter().enumerate() {
        rows_of[s as usize].push(k);
    }
    let mut bases: Vec<Vec<Vec<u32>>> = vec![Vec::new(); n];
    let mut basis_index: Vec<HashMap<Vec<u32>, u32>> = vec![HashMap::new(); n];
    let mut basis_of = vec![0u32; n_settings * n];
    for (s, rows) in rows_of.iter().enumerate() {
        let mut size = 1usize;
        for q in 0..n {
            let mut set: Vec<u32> = rows.iter().map(|&k| ids[k * n + q]).collect();
            set.sort_unstable();
            set.dedup();
            size = size.saturating_mul(set.len());
            let next = bases[q].len() as u32;
            basis_of[s * n + q] = match basis_index[q].entry(set) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) => {
                    bases[q].push(e.key().clone());
                    *e.insert(next)
                }
            };
        }
        let distinct: std::collections::HashSet<&[u32]> =
            rows.iter().map(|&k| &ids[k * n..(k + 1) * n]).collect();
        if size != rows.len() || distinct.len() != rows.len() {
            return Ok(None);
        }
    }

    // Local bases: a partition of the local kets, all of one size, each
    // summing to the identity.
    let mut outcomes = Vec::with_capacity(n);
    let mut place = Vec::with_capacity(n); // per q, per ket id: (basis, position)
    for q in 0..n {
        let o = bases[q][0].len();
        let total: usize = bases[q].iter().map(Vec::len).sum();
        if bases[q].iter().any(|b| b.len() != o) || total != kets[q].len() {
            return Ok(None);
        }
        let mut at = vec![(0usize, 0usize); kets[q].len()];
        for (b, basis) in bases[q].iter().enumerate() {
            for (i, &id) in basis.iter().enumerate() {
                at[id as usize] = (b, i);
            }
        }
        let c = dims[q] * dims[q];
        let identity = hermitian::identity_coords(dims[q], 1.0);
        for basis in &bases[q] {
            let mut sum = vec![0.0; c];
            for &id in basis {
                hermitian::accumulate_outer(1.0, kets[q][id as usize], &mut sum);
            }
            let err = sum
                .iter()
                .zip(&identity)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max);
            if err > LOCAL_IDENTITY_TOL {
                return Ok(None);
            }
        }
        outcomes.push(o);
        place.push(at);
    }

    // The settings: every combination of local bases, once.
    let combinations = bases
        .iter()
        .try_fold(1usize, |acc, b| acc.checked_mul(b.len()));
    let distinct: std::collections::HashSet<&[u32]> = basis_of.chunks_exact(n).collect();
    if combinations != Some(n_settings) || distinct.len() != n_settings {
        return Ok(None);
    }

    // The local factors: rows by local basis, then position in it.
    let mut factors = Vec::with_capacity(n);
    let mut cond = 1.0;
    let (mut rank, mut deficient) = (1usize, None);
    for q in 0..n {
        let c = dims[q] * dims[q];
        let mq = bases[q].len() * outcomes[q];
        let mut rows = vec![0.0; mq * c];
        for (r, &id) in bases[q].iter().flatten().enumerate() {
            hermitian::ket_coords(kets[q][id as usize], &mut rows[r * c..(r + 1) * c]);
        }
        match pseudo_inverse(name, &rows, mq, c) {
            Ok((pinv, cq)) => {
                cond *= cq;
                rank *= c;
                factors.push(LocalFactor {
                    dim: dims[q],
                    outcomes: outcomes[q],
                    rows,
                    pinv,
                });
            }
            Err(TomoError::NotInformationallyComplete {
                rank: rq, cond: cq, ..
            }) => {
                cond *= cq;
                rank *= rq;
                deficient = Some(q);
            }
            Err(e) => return Err(e),
        }
    }
    let d: usize = dims.iter().product();
    if deficient.is_some() {
        return Err(TomoError::NotInformationallyComplete {
            set: name.to_string(),
            rank,
            needed: d * d,
            cond,
        });
    }

    // Settings-major row (local basis b_q, position i_q on every q) → file row.
    let o_total: usize = outcomes.iter().product();
    let mut row_of = vec![0u32; m];
    for k in 0..m {
        let s = setting_of[k] as usize;
        let (mut setting, mut outcome) = (0usize, 0usize);
        for q in 0..n {
            let b = basis_of[s * n + q] as usize;
            let (b_id, i) = place[q][ids[k * n + q] as usize];
            debug_assert_eq!(b, b_id);
            setting = setting * bases[q].len() + b;
            outcome = outcome * outcomes[q] + i;
        }
        row_of[setting * o_total + outcome] = k as u32;
    }
    let spec = ProductSpec::new(factors)?.with_row_order(row_of)?;
    let set = MeasurementSet::from_product(
        name,
        labels.to_vec(),
        Grouping::Settings {
            settings,
            setting_of,
        },
        spec,
        cond,
    )?;
    Ok(Some(set))
}

#[cfg(test)]
mod tests;
