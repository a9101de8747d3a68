use super::*;
use crate::tomo::product::ProductScratch;
use crate::tomo::sets::pauli::one_qubit_ket;
use crate::tomo::simulate::{self, StateKind};
use crate::tomo::{Method, MleParams, Reconstructor};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A file's rows: labels, settings and local kets, per subsystem columns.
struct Rows {
    labels: Vec<String>,
    settings: Vec<String>,
    dims: Vec<usize>,
    local: Vec<c64>,
}

impl Rows {
    /// Every combination of local bases (`bases[q][b][i]` is ket i of
    /// local basis b of subsystem q) and of their outcomes, shuffled.
    fn grid(bases: &[Vec<Vec<Vec<c64>>>], rng: &mut ChaCha8Rng) -> Self {
        let dims: Vec<usize> = bases.iter().map(|b| b[0][0].len()).collect();
        let mut rows: Vec<(String, String, Vec<c64>)> =
            vec![(String::new(), String::new(), vec![])];
        for (q, local_bases) in bases.iter().enumerate() {
            let mut next = Vec::new();
            for (label, setting, kets) in &rows {
                for (b, basis) in local_bases.iter().enumerate() {
                    for (i, ket) in basis.iter().enumerate() {
                        let sep = if q == 0 { "" } else { "." };
                        let mut k = kets.clone();
                        k.extend_from_slice(ket);
                        next.push((
                            format!("{label}{sep}{b}:{i}"),
                            format!("{setting}{sep}{b}"),
                            k,
                        ));
                    }
                }
            }
            rows = next;
        }
        rows.shuffle(rng);
        Self {
            labels: rows.iter().map(|r| r.0.clone()).collect(),
            settings: rows.iter().map(|r| r.1.clone()).collect(),
            dims,
            local: rows.into_iter().flat_map(|r| r.2).collect(),
        }
    }

    fn width(&self) -> usize {
        self.dims.iter().sum()
    }

    fn remove(&mut self, k: usize) {
        let w = self.width();
        self.labels.remove(k);
        self.settings.remove(k);
        self.local.drain(k * w..(k + 1) * w);
    }

    fn product(&self) -> Option<MeasurementSet> {
        product_set("t", &self.labels, &self.settings, &self.dims, &self.local)
            .expect("product set")
    }

    /// The set `from_local_kets` builds from the rows, with their settings.
    fn built(&self) -> Result<MeasurementSet, TomoError> {
        from_local_kets(
            "t",
            self.labels.clone(),
            Some(self.settings.clone()),
            &self.dims,
            &self.local,
        )
    }

    fn dense(&self) -> MeasurementSet {
        let kets = full_kets(&self.dims, &self.local);
        MeasurementSet::from_kets("t", self.labels.clone(), &kets, Some(self.settings.clone()))
            .expect("dense set")
    }
}

fn pauli_bases() -> Vec<Vec<Vec<c64>>> {
    ['X', 'Y', 'Z']
        .iter()
        .map(|&b| (0..2).map(|bit| one_qubit_ket(b, bit).to_vec()).collect())
        .collect()
}

/// `count` random orthonormal bases of ℂ^dim (Gram–Schmidt).
fn random_bases(dim: usize, count: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<Vec<c64>>> {
    (0..count)
        .map(|_| {
            let mut basis: Vec<Vec<c64>> = Vec::new();
            while basis.len() < dim {
                let mut v: Vec<c64> = (0..dim)
                    .map(|_| c64::new(rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)))
                    .collect();
                for u in &basis {
                    let dot: c64 = u.iter().zip(&v).map(|(a, b)| a.conj() * b).sum();
                    v.iter_mut().zip(u).for_each(|(x, a)| *x -= dot * a);
                }
                let norm = v.iter().map(|z| z.norm_sqr()).sum::<f64>().sqrt();
                v.iter_mut().for_each(|z| *z /= norm);
                basis.push(v);
            }
            basis
        })
        .collect()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// The cases: 3 Pauli qubits, 4 qubits with random local bases, and a
/// qutrit with two qubits, all in shuffled order.
fn cases() -> Vec<Rows> {
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    let pauli3 = Rows::grid(&vec![pauli_bases(); 3], &mut rng);
    let random4: Vec<_> = (0..4).map(|_| random_bases(2, 3, &mut rng)).collect();
    let random4 = Rows::grid(&random4, &mut rng);
    let mixed = vec![
        random_bases(3, 4, &mut rng),
        pauli_bases(),
        random_bases(2, 3, &mut rng),
    ];
    let mixed = Rows::grid(&mixed, &mut rng);
    vec![pauli3, random4, mixed]
}

#[test]
fn shuffled_product_kets_agree_with_the_dense_set() {
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    for rows in cases() {
        let product = rows.product().expect("a product set");
        let dense = rows.dense();
        let spec = product.info().product.as_ref().expect("product spec");
        assert!(spec.row_of.is_some(), "shuffled rows need a permutation");
        assert!(product.a().is_empty() && product.pinv().is_empty());
        assert_eq!(product.labels(), dense.labels());
        assert_eq!(product.info().grouping, dense.info().grouping);
        assert!(
            (product.cond() - dense.cond()).abs() < 1e-9 * dense.cond(),
            "cond {} vs {}",
            product.cond(),
            dense.cond()
        );
        let (m, dd) = (dense.len(), dense.dim() * dense.dim());
        let (pv, dv) = (product.view(), dense.view());
        let mut scratch = ProductScratch::default();
        let mut dense_scratch = ProductScratch::default();
        for _ in 0..3 {
            let x: Vec<f64> = (0..dd).map(|_| rng.random_range(-1.0..1.0)).collect();
            let (mut p1, mut p2) = (vec![0.0; m], vec![0.0; m]);
            pv.predict(&x, &mut p1, &mut scratch);
            dv.predict(&x, &mut p2, &mut dense_scratch);
            assert!(max_diff(&p1, &p2) < 1e-10, "A x: {:e}", max_diff(&p1, &p2));
            let w: Vec<f64> = (0..m).map(|_| rng.random_range(-1.0..1.0)).collect();
            let (mut g1, mut g2) = (vec![0.0; dd], vec![0.0; dd]);
            pv.adjoint_mle(&w, &mut g1, &mut scratch);
            dv.adjoint_mle(&w, &mut g2, &mut dense_scratch);
            assert!(max_diff(&g1, &g2) < 1e-10, "Aᵀw: {:e}", max_diff(&g1, &g2));
            pv.apply_pinv(&w, &mut g1, &mut scratch);
            dv.apply_pinv(&w, &mut g2, &mut dense_scratch);
            assert!(max_diff(&g1, &g2) < 1e-10, "A⁺f: {:e}", max_diff(&g1, &g2));
        }
        assert!(max_diff(&pv.mle_row_norms_sq(), &dv.mle_row_norms_sq()) < 1e-12);
    }
}

#[test]
fn estimates_agree_with_the_dense_set() {
    for (i, rows) in cases().into_iter().enumerate() {
        let product = rows.product().expect("a product set");
        let dense = rows.dense();
        let d = dense.dim();
        let mut rng = simulate::sample_rng(17, i as u64);
        let truth = simulate::true_state(StateKind::RandomMixed, d, &mut rng).expect("state");
        let mut counts = vec![0.0; dense.len()];
        simulate::draw_counts(dense.view(), &truth, 2000, &mut rng, &mut counts).expect("counts");
        let methods = [Method::Linear, Method::Pls, Method::Mle];
        let params = MleParams::default();
        let run = |set: &MeasurementSet| {
            Reconstructor::new(set.view())
                .run(set.view(), &counts, &methods, &params, None)
                .expect("estimates")
        };
        let (ep, ed) = (run(&product), run(&dense));
        for (a, b) in ep.iter().zip(&ed) {
            assert_eq!(a.method, b.method);
            let diff = max_diff(&a.rho, &b.rho);
            assert!(diff < 1e-8, "case {i} {}: {diff:e}", a.method);
        }
        for e in ep.iter().chain(&ed) {
            if let Some(info) = &e.mle {
                assert!(info.converged, "case {i}: {info:?}");
                assert!(info.gap_bound.is_finite(), "case {i}: {info:?}");
            }
        }
    }
}

#[test]
fn rows_in_settings_major_order_need_no_permutation() {
    let set = super::super::pauli::pauli_product(3).expect("pauli");
    let mut local = Vec::new();
    for label in set.labels() {
        let (setting, bits) = label.split_once(':').expect("label");
        for (b, bit) in setting.chars().zip(bits.chars()) {
            local.extend(one_qubit_ket(b, usize::from(bit == '1')));
        }
    }
    let settings: Vec<String> = set.labels().iter().map(|l| l[..3].to_string()).collect();
    let built = product_set("t", set.labels(), &settings, &[2, 2, 2], &local)
        .expect("product")
        .expect("a product set");
    let (got, want) = (
        built.info().product.as_ref().expect("spec"),
        set.info().product.as_ref().expect("spec"),
    );
    assert_eq!(got.row_of, None);
    for (g, w) in got.factors.iter().zip(&want.factors) {
        assert_eq!((g.dim, g.outcomes, &g.rows), (w.dim, w.outcomes, &w.rows));
        assert!(max_diff(&g.pinv, &w.pinv) < 1e-12);
    }
    assert_eq!(built.info().grouping, set.info().grouping);
}

#[test]
fn sets_without_the_structure_fall_back_to_dense() {
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    // Four random bases per qubit, one global setting left out: still
    // informationally complete, not every combination.
    let bases: Vec<_> = (0..3).map(|_| random_bases(2, 4, &mut rng)).collect();
    let mut rows = Rows::grid(&bases, &mut rng);
    let gone = rows.settings[0].clone();
    while let Some(k) = rows.settings.iter().position(|s| *s == gone) {
        rows.remove(k);
    }
    assert!(rows.product().is_none());
    let set = rows.built().expect("dense fallback");
    assert!(set.info().product.is_none() && !set.a().is_empty());
    assert_eq!(set.len(), 63 * 8);

    // One row missing: not a grid; the dense set refuses the incomplete
    // setting as before.
    let mut rows = Rows::grid(&vec![pauli_bases(); 3], &mut rng);
    rows.remove(5);
    assert!(rows.product().is_none());
    let err = rows.built().expect_err("incomplete setting");
    assert!(
        err.to_string().contains("do not sum to the identity"),
        "{err}"
    );

    // A local basis that is not complete (kets scaled by 2 on qubit 3).
    let mut rows = Rows::grid(&vec![pauli_bases(); 3], &mut rng);
    rows.local
        .iter_mut()
        .skip(4)
        .step_by(6)
        .for_each(|z| *z *= 2.0);
    rows.local
        .iter_mut()
        .skip(5)
        .step_by(6)
        .for_each(|z| *z *= 2.0);
    assert!(rows.product().is_none());

    // Ungrouped: dense, as documented.
    let rows = Rows::grid(&vec![pauli_bases(); 3], &mut rng);
    let set = from_local_kets("t", rows.labels.clone(), None, &rows.dims, &rows.local)
        .expect("ungrouped");
    assert!(set.info().product.is_none() && !set.info().is_grouped());

    // Small sets stay dense whatever their structure.
    let rows = Rows::grid(&vec![pauli_bases(); 2], &mut rng);
    let set = rows.built().expect("two qubits");
    assert!(set.info().product.is_none());
}

#[test]
fn six_qubit_pauli_kets_never_form_the_dense_matrix() {
    let mut rng = ChaCha8Rng::seed_from_u64(19);
    let rows = Rows::grid(&vec![pauli_bases(); 6], &mut rng);
    let set = rows.built().expect("six qubits");
    assert!(set.info().product.is_some());
    assert!(set.a().is_empty() && set.pinv().is_empty() && set.mle_rows().is_empty());
    assert_eq!((set.len(), set.dim()), (46656, 64));
    assert!((set.cond() - 27.0).abs() < 1e-9);
}

#[test]
fn non_informationally_complete_local_sets_are_refused() {
    let mut rng = ChaCha8Rng::seed_from_u64(20);
    // Only X and Z on every qubit.
    let xz: Vec<_> = pauli_bases().into_iter().step_by(2).collect();
    let rows = Rows::grid(&vec![xz; 3], &mut rng);
    let err = product_set("t", &rows.labels, &rows.settings, &rows.dims, &rows.local)
        .expect_err("not IC");
    assert!(
        matches!(
            err,
            TomoError::NotInformationallyComplete {
                rank: 27,
                needed: 64,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn repeated_labels_are_refused() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let mut rows = Rows::grid(&vec![pauli_bases(); 3], &mut rng);
    rows.labels[1] = rows.labels[0].clone();
    let err = product_set("t", &rows.labels, &rows.settings, &rows.dims, &rows.local)
        .expect_err("repeated label");
    assert!(err.to_string().contains("repeats label"), "{err}");
}
