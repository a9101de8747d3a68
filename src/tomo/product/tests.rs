use super::*;
use crate::tomo::operator::dense_predict as predict;
use crate::tomo::sets::pauli;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_coords(n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

#[test]
fn agrees_with_the_dense_pauli_matrices() {
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    for n in 1..=4 {
        let dense = pauli::pauli_dense(n).expect("dense set");
        let spec = pauli::product_spec(n).expect("spec");
        let (m, dd) = (dense.len(), dense.dim() * dense.dim());
        assert_eq!((spec.len(), spec.dim() * spec.dim()), (m, dd));
        let mut scratch = ProductScratch::default();
        let x = random_coords(dd, &mut rng);
        let mut want = vec![0.0; m];
        let mut got = vec![0.0; m];
        predict(dense.a(), &x, &mut want);
        spec.predict(&x, &mut got, &mut scratch);
        let mut mag = vec![0.0; m];
        spec.predict_magnitude(&x, &mut mag, &mut scratch);
        for k in 0..m {
            assert!((want[k] - got[k]).abs() < 1e-13, "n={n} A x [{k}]");
            assert!(mag[k] + 1e-15 >= got[k].abs(), "n={n} magnitude [{k}]");
        }
        let w = random_coords(m, &mut rng);
        let mut want = vec![0.0; dd];
        let mut got = vec![0.0; dd];
        let a = faer::MatRef::from_row_major_slice(dense.a(), m, dd);
        for (j, g) in want.iter_mut().enumerate() {
            *g = (0..m).map(|k| a[(k, j)] * w[k]).sum();
        }
        spec.adjoint(&w, &mut got, &mut scratch);
        let mut mag = vec![0.0; dd];
        spec.adjoint_magnitude(&w, &mut mag, &mut scratch);
        for j in 0..dd {
            assert!((want[j] - got[j]).abs() < 1e-12, "n={n} Aᵀw [{j}]");
            assert!(
                mag[j] + 1e-15 >= got[j].abs(),
                "n={n} adjoint magnitude [{j}]"
            );
        }
        let p = faer::MatRef::from_row_major_slice(dense.pinv(), dd, m);
        for (j, g) in want.iter_mut().enumerate() {
            *g = (0..m).map(|k| p[(j, k)] * w[k]).sum();
        }
        spec.apply_pinv(&w, &mut got, &mut scratch);
        for j in 0..dd {
            assert!((want[j] - got[j]).abs() < 1e-12, "n={n} A⁺f [{j}]");
        }
    }
}

#[test]
fn coordinate_change_is_orthogonal() {
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    let spec = pauli::product_spec(3).expect("spec");
    let mut scratch = ProductScratch::default();
    let x = random_coords(64, &mut rng);
    spec.product_from_global(&x, &mut scratch);
    let norm_y: f64 = scratch.r0.iter().map(|v| v * v).sum();
    let norm_x: f64 = x.iter().map(|v| v * v).sum();
    assert!((norm_x - norm_y).abs() < 1e-12 * norm_x);
    let mut back = vec![0.0; 64];
    spec.global_from_product(&mut back, &mut scratch);
    for (a, b) in x.iter().zip(&back) {
        assert!((a - b).abs() < 1e-14);
    }
}

#[test]
fn inconsistent_factors_are_rejected() {
    let bad = LocalFactor {
        dim: 2,
        outcomes: 4,
        rows: vec![0.0; 24],
        pinv: vec![0.0; 24],
    };
    assert!(ProductSpec::new(vec![bad]).is_err());
    assert!(ProductSpec::new(Vec::new()).is_err());
}
