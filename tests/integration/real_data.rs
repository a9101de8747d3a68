//! The estimators on the real measurement data shipped in `examples/data`.

use qtomo::tomo::{MeasurementSet, Method, MleParams, Reconstructor, Target, builtin_set, sets};
use std::path::PathBuf;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/data")
        .join(name)
}

/// Reads a one-sample CSV (header of labels, optional `sample` column) into
/// counts ordered as `labels`.
fn one_sample(name: &str, labels: &[String]) -> Vec<f64> {
    let text = std::fs::read_to_string(data(name)).expect("example data is readable");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let row: Vec<&str> = lines.next().expect("one row").split(',').collect();
    labels
        .iter()
        .map(|l| {
            let i = header
                .iter()
                .position(|h| h == l)
                .unwrap_or_else(|| panic!("label {l} missing"));
            row[i].parse().expect("a number")
        })
        .collect()
}

fn mle_fidelity_to_bell(set: &MeasurementSet, counts: &[f64]) -> (f64, f64, f64) {
    let view = set.view();
    let target = Target::named("bell-phi+", 4).expect("bell");
    let mut rec = Reconstructor::new(view);
    let est = rec
        .run(
            view,
            counts,
            &[Method::Mle, Method::Pls, Method::Linear],
            &MleParams::default(),
            Some(&target),
        )
        .expect("estimates");
    let mle = est[0].mle.expect("mle info");
    assert!(mle.converged, "{mle:?}");
    (
        est[0].metrics.fidelity.unwrap(),
        est[1].metrics.fidelity.unwrap(),
        est[2].metrics.fidelity.unwrap(),
    )
}

#[test]
fn james2001_mle_is_close_to_the_bell_state() {
    let set = builtin_set("james16", None, None).unwrap();
    let counts = one_sample("james2001.csv", set.labels());
    let (mle, pls, linear) = mle_fidelity_to_bell(&set, &counts);
    println!(
        "james2001: fidelity to (|HH⟩+|VV⟩)/√2: mle {mle:.4}, pls {pls:.4}, linear {linear:.4}"
    );
    assert!(mle > 0.9, "{mle}");
}

#[test]
fn spdc36_mle_fidelity_is_at_least_0_99() {
    let set = builtin_set("pauli", Some(2), None).unwrap();
    let counts = one_sample("spdc36.csv", set.labels());
    let (mle, pls, linear) = mle_fidelity_to_bell(&set, &counts);
    println!(
        "spdc36 (pauli): fidelity to (|HH⟩+|VV⟩)/√2: mle {mle:.4}, pls {pls:.4}, linear {linear:.4}"
    );
    assert!(mle >= 0.99, "{mle}");
}

#[test]
fn spdc36_through_its_kets_file_agrees_with_the_builtin_pauli_set() {
    // The kets file describes the same 36 projectors; without a `setting`
    // column it is an ungrouped set (free intensity), so the MLE differs
    // slightly from the multinomial one but must agree closely.
    let text = std::fs::read_to_string(data("spdc36.kets.csv")).unwrap();
    let mut labels = Vec::new();
    let mut kets = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let v: Vec<f64> = f[1..9].iter().map(|s| s.parse().unwrap()).collect();
        let q1 = [faer::c64::new(v[0], v[1]), faer::c64::new(v[2], v[3])];
        let q2 = [faer::c64::new(v[4], v[5]), faer::c64::new(v[6], v[7])];
        labels.push(f[0].to_string());
        kets.push(sets::kron_kets(&[&q1, &q2]));
    }
    let set = MeasurementSet::from_kets("custom", labels, &kets, None).unwrap();
    let counts = one_sample("spdc36.csv", set.labels());
    let (mle, _, _) = mle_fidelity_to_bell(&set, &counts);
    println!("spdc36 (kets file, ungrouped): mle fidelity {mle:.4}");
    assert!(mle >= 0.99, "{mle}");
}
