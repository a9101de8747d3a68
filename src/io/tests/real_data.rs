//! The shared real data sets parse as documented.

use faer::c64;

use super::super::{InputOptions, read_kets_csv, read_samples};
use super::{data_dir, labels};

#[test]
fn spdc36_counts_with_labels_from_its_header() {
    let path = data_dir().join("spdc36.csv");
    let header = std::fs::read_to_string(&path).expect("read spdc36.csv");
    let first = header.lines().next().expect("header line");
    let l: Vec<String> = first.split(',').skip(1).map(str::to_owned).collect();
    assert_eq!(l.len(), 36);
    let b = read_samples(&path, &l, &InputOptions::default()).expect("parse");
    assert_eq!(b.ids, vec!["spdc-bell"]);
    assert_eq!((b.n_samples, b.n_outcomes), (1, 36));
    assert_eq!(b.counts[0], 1214.02);
    assert_eq!(b.counts[35], 4.76);

    // Same data, labels in another order: columns follow the labels.
    let mut reversed = l.clone();
    reversed.reverse();
    let r = read_samples(&path, &reversed, &InputOptions::default()).expect("parse");
    let mut back = r.counts.clone();
    back.reverse();
    assert_eq!(back, b.counts);
}

#[test]
fn spdc36_kets() {
    let t = read_kets_csv(&data_dir().join("spdc36.kets.csv")).expect("parse");
    assert_eq!(t.labels.len(), 36);
    assert_eq!(t.subsystem_dims, vec![2, 2]);
    assert!(t.kets().iter().all(|k| k.len() == 4));
    assert_eq!(t.settings, None);
    let i = t
        .labels
        .iter()
        .position(|l| l == "ZY:01")
        .expect("ZY:01 present");
    let s = std::f64::consts::FRAC_1_SQRT_2;
    // kron([1, 0], [1/√2, -i/√2])
    let expected = [
        c64::new(s, 0.0),
        c64::new(0.0, -s),
        c64::new(0.0, 0.0),
        c64::new(0.0, 0.0),
    ];
    for (got, want) in t.kets()[i].iter().zip(expected) {
        assert!((got - want).norm() < 1e-12, "{got} vs {want}");
    }
    // The ket labels are the count file's labels.
    let counts_header = std::fs::read_to_string(data_dir().join("spdc36.csv")).expect("read");
    let mut from_counts: Vec<&str> = counts_header
        .lines()
        .next()
        .expect("header")
        .split(',')
        .skip(1)
        .collect();
    let mut from_kets: Vec<&str> = t.labels.iter().map(String::as_str).collect();
    from_counts.sort_unstable();
    from_kets.sort_unstable();
    assert_eq!(from_counts, from_kets);
}

#[test]
fn james2001() {
    let l = labels(&[
        "HH", "HV", "VV", "VH", "RH", "RV", "DV", "DH", "DR", "DD", "RD", "HD", "VD", "VL", "HL",
        "RL",
    ]);
    let b = read_samples(
        &data_dir().join("james2001.csv"),
        &l,
        &InputOptions::default(),
    )
    .expect("parse");
    assert_eq!(b.ids, vec!["james2001"]);
    assert_eq!(b.n_outcomes, 16);
    assert_eq!(&b.counts[..4], &[34749.0, 324.0, 35805.0, 444.0]);
    assert_eq!(b.counts[15], 33586.0);
}
