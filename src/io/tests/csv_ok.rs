//! Well-formed CSV inputs in their variants.

use super::super::{ColumnMode, InputOptions};
use super::{labels, read_csv_text, read_csv_with};

#[test]
fn reorders_columns_to_expected_labels() {
    let expected = labels(&["A", "B", "C"]);
    let (_d, _p, r) = read_csv_text("C,sample,A,B\n3,s0,1,2\n6,s1,4,5\n", &expected);
    let batch = r.expect("read");
    assert_eq!(batch.ids, vec!["s0", "s1"]);
    assert_eq!(batch.n_samples, 2);
    assert_eq!(batch.n_outcomes, 3);
    assert_eq!(batch.counts, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(batch.row(1), &[4.0, 5.0, 6.0]);
}

#[test]
fn ids_default_to_row_numbers_and_zero_rows_are_kept() {
    let expected = labels(&["A", "B"]);
    let (_d, _p, r) = read_csv_text("B,A\n2,1.5\n0,0\n\n 4 , 3e2 \n", &expected);
    let batch = r.expect("read");
    assert_eq!(batch.ids, vec!["0", "1", "2"]);
    assert_eq!(batch.counts, vec![1.5, 2.0, 0.0, 0.0, 300.0, 4.0]);
}

#[test]
fn negative_zero_is_zero() {
    let expected = labels(&["A"]);
    let (_d, _p, r) = read_csv_text("A\n-0\n", &expected);
    let batch = r.expect("read");
    assert!(batch.counts[0] == 0.0 && batch.counts[0].is_sign_positive());
}

#[test]
fn byte_order_mark_is_ignored() {
    let expected = labels(&["A", "B"]);
    let (_d, _p, r) = read_csv_text("\u{feff}sample,A,B\nx,1,2\n", &expected);
    assert_eq!(r.expect("read").ids, vec!["x"]);
}

#[test]
fn positional_ignores_names() {
    let expected = labels(&["A", "B", "C"]);
    let opts = InputOptions {
        columns: ColumnMode::Positional,
        ..InputOptions::default()
    };
    let (_d, _p, r) = read_csv_with("sample,c1,c2,c3\nx,1,2,3\n", &expected, &opts);
    let batch = r.expect("read");
    assert_eq!(batch.ids, vec!["x"]);
    assert_eq!(batch.counts, vec![1.0, 2.0, 3.0]);

    let (_d, _p, r) = read_csv_with("c1,c2,c3\n1,2,3\n", &expected, &opts);
    let batch = r.expect("read");
    assert_eq!(batch.ids, vec!["0"]);
    assert_eq!(batch.counts, vec![1.0, 2.0, 3.0]);
}

#[test]
fn transposed_reads_one_sample_per_column() {
    let expected = labels(&["A", "B", "C"]);
    let opts = InputOptions {
        transposed: true,
        ..InputOptions::default()
    };
    let (_d, _p, r) = read_csv_with("label,s1,s2\nC,3,6\nA,1,4\nB,2,5\n", &expected, &opts);
    let batch = r.expect("read");
    assert_eq!(batch.ids, vec!["s1", "s2"]);
    assert_eq!(batch.n_samples, 2);
    assert_eq!(batch.counts, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);

    let opts = InputOptions {
        transposed: true,
        columns: ColumnMode::Positional,
        ..InputOptions::default()
    };
    let (_d, _p, r) = read_csv_with("label,s1,s2\nx,1,4\ny,2,5\nz,3,6\n", &expected, &opts);
    assert_eq!(r.expect("read").counts, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
}
