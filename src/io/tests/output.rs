//! Writers round-trip through the readers and leave no temporary files.

use proptest::prelude::*;

use super::super::{InputOptions, OutputError, read_samples, write_samples_csv, write_samples_npy};
use super::{labels, tmp};

#[test]
fn csv_round_trip_is_exact() {
    let dir = tmp();
    let path = dir.path().join("sim.csv");
    let l = labels(&["ZZ:00", "ZZ:01", "a,b"]);
    let ids = labels(&["s0", "s1"]);
    let counts = vec![0.1, 2.0, 1e-300, 1214.02, 0.0, 7.0 / 3.0];
    write_samples_csv(&path, &l, &ids, &counts).expect("write");
    let b = read_samples(&path, &l, &InputOptions::default()).expect("read");
    assert_eq!(b.ids, ids);
    assert_eq!(b.counts, counts);
    let text = std::fs::read_to_string(&path).expect("text");
    assert!(text.starts_with("sample,ZZ:00,ZZ:01,\"a,b\"\n"), "{text}");
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
}

#[test]
fn npy_round_trip_and_overwrite() {
    let dir = tmp();
    let path = dir.path().join("sim.npy");
    let l = labels(&["A", "B"]);
    write_samples_npy(&path, 1, 2, &[9.0, 9.0]).expect("first");
    let counts = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    write_samples_npy(&path, 3, 2, &counts).expect("overwrite");
    let b = read_samples(&path, &l, &InputOptions::default()).expect("read");
    assert_eq!(b.counts, counts);
    assert_eq!(b.ids, vec!["0", "1", "2"]);
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
}

#[test]
fn writers_refuse_bad_tables_and_create_nothing() {
    let dir = tmp();
    let path = dir.path().join("x.csv");
    let l = labels(&["A", "B"]);
    let err = write_samples_csv(&path, &l, &labels(&["s"]), &[1.0]).expect_err("shape");
    assert!(matches!(err, OutputError::Shape { .. }), "{err:?}");
    let err = write_samples_csv(&path, &l, &labels(&["s"]), &[1.0, -1.0]).expect_err("neg");
    assert!(
        matches!(err, OutputError::InvalidCount { outcome: 1, .. }),
        "{err:?}"
    );
    let err = write_samples_csv(&path, &l, &labels(&["s", "s"]), &[1.0; 4]).expect_err("dup");
    assert!(matches!(err, OutputError::Shape { .. }), "{err:?}");
    let err = write_samples_npy(&path, 1, 2, &[f64::NAN, 1.0]).expect_err("nan");
    assert!(matches!(err, OutputError::InvalidCount { .. }), "{err:?}");
    let missing_dir = dir.path().join("no/such/dir/x.csv");
    let err = write_samples_npy(&missing_dir, 1, 2, &[1.0, 1.0]).expect_err("io");
    assert!(matches!(err, OutputError::Io { .. }), "{err:?}");
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn csv_round_trip_any_counts(
        rows in prop::collection::vec(prop::collection::vec(0.0f64..1e12, 3), 1..8)
    ) {
        let dir = tmp();
        let path = dir.path().join("p.csv");
        let l = labels(&["A", "B", "C"]);
        let ids: Vec<String> = (0..rows.len()).map(|i| format!("id{i}")).collect();
        let counts: Vec<f64> = rows.concat();
        write_samples_csv(&path, &l, &ids, &counts).expect("write");
        // Read back with columns shuffled by the reader's own mapping.
        let b = read_samples(&path, &l, &InputOptions::default()).expect("read");
        prop_assert_eq!(b.counts, counts);
        prop_assert_eq!(b.ids, ids);
    }
}
