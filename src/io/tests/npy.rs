//! NPY inputs: shapes, dtypes, layouts and located element errors.

use ndarray::{Array1, Array2, Array3, ShapeBuilder};
use ndarray_npy::write_npy;

use super::super::{InputError, InputFormat, InputOptions, Location, read_samples};
use super::{assert_message, labels, tmp, write};

fn abc() -> Vec<String> {
    labels(&["A", "B", "C"])
}

#[test]
fn reads_2d_float64_with_row_number_ids() {
    let dir = tmp();
    let path = dir.path().join("d.npy");
    let a = Array2::from_shape_vec((2, 3), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).expect("shape");
    write_npy(&path, &a).expect("write");
    let b = read_samples(&path, &abc(), &InputOptions::default()).expect("read");
    assert_eq!(b.ids, vec!["0", "1"]);
    assert_eq!((b.n_samples, b.n_outcomes), (2, 3));
    assert_eq!(b.counts, a.iter().copied().collect::<Vec<_>>());
}

#[test]
fn fortran_order_is_read_logically() {
    let dir = tmp();
    let path = dir.path().join("f.npy");
    let a = Array2::from_shape_vec((2, 3).f(), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]).expect("shape");
    write_npy(&path, &a).expect("write");
    let b = read_samples(&path, &abc(), &InputOptions::default()).expect("read");
    assert_eq!(b.counts, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
}

#[test]
fn one_dimensional_is_one_sample_and_integers_convert() {
    let dir = tmp();
    let path = dir.path().join("one.npy");
    write_npy(&path, &Array1::from(vec![7i64, 0, 9])).expect("write");
    let b = read_samples(&path, &abc(), &InputOptions::default()).expect("read");
    assert_eq!(b.n_samples, 1);
    assert_eq!(b.counts, vec![7.0, 0.0, 9.0]);
}

#[test]
fn transposed_array() {
    let dir = tmp();
    let path = dir.path().join("t.npy");
    // 3 outcomes × 2 samples.
    let a = Array2::from_shape_vec((3, 2), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]).expect("shape");
    write_npy(&path, &a).expect("write");
    let opts = InputOptions {
        transposed: true,
        ..InputOptions::default()
    };
    let b = read_samples(&path, &abc(), &opts).expect("read");
    assert_eq!(b.n_samples, 2);
    assert_eq!(b.counts, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
}

#[test]
fn wrong_outcome_count() {
    let dir = tmp();
    let path = dir.path().join("w.npy");
    write_npy(&path, &Array2::<f64>::zeros((2, 4))).expect("write");
    let err = read_samples(&path, &abc(), &InputOptions::default()).expect_err("M");
    assert!(
        matches!(err, InputError::WrongOutcomeCount { .. }),
        "{err:?}"
    );
    assert_message(&err, &path, &["expected 3 columns", "found 4"]);
}

#[test]
fn wrong_rank() {
    let dir = tmp();
    let path = dir.path().join("r.npy");
    write_npy(&path, &Array3::<f64>::zeros((2, 3, 1))).expect("write");
    let err = read_samples(&path, &abc(), &InputOptions::default()).expect_err("ndim");
    assert!(matches!(err, InputError::NpyShape { .. }), "{err:?}");
    assert_message(&err, &path, &["[2, 3, 1]"]);
}

#[test]
fn zero_rows() {
    let dir = tmp();
    let path = dir.path().join("z.npy");
    write_npy(&path, &Array2::<f64>::zeros((0, 3))).expect("write");
    let err = read_samples(&path, &abc(), &InputOptions::default()).expect_err("empty");
    assert!(matches!(err, InputError::NoSamples { .. }), "{err:?}");
}

#[test]
fn bad_elements_are_located() {
    let dir = tmp();
    for (value, check) in [
        (-1.0, "negative"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "infinite"),
    ] {
        let path = dir.path().join("bad.npy");
        let mut a = Array2::<f64>::ones((2, 3));
        a[[1, 2]] = value;
        write_npy(&path, &a).expect("write");
        let err = read_samples(&path, &abc(), &InputOptions::default()).expect_err("bad");
        assert_eq!(
            err.location(),
            Some(&Location::Element {
                row: 2,
                column: 3,
                name: Some("label 'C'".into())
            })
        );
        assert_message(&err, &path, &["[row 2, column 3] (label 'C')", check]);
    }
}

#[test]
fn garbage_npy_and_unsupported_dtype() {
    let dir = tmp();
    let path = write(&dir, "g.npy", b"not an npy file at all");
    let err = read_samples(&path, &abc(), &InputOptions::default()).expect_err("garbage");
    assert!(matches!(err, InputError::Npy { .. }), "{err:?}");

    let path = dir.path().join("c.npy");
    write_npy(&path, &Array1::from(vec![true, false, true])).expect("write");
    let err = read_samples(&path, &abc(), &InputOptions::default()).expect_err("dtype");
    assert!(matches!(err, InputError::NpyDtype { .. }), "{err:?}");
    assert_message(&err, &path, &["dtype"]);
}

#[test]
fn auto_detects_npy_by_magic_whatever_the_name() {
    let dir = tmp();
    let path = dir.path().join("counts.dat");
    write_npy(&path, &Array2::<f64>::ones((1, 3))).expect("write");
    let b = read_samples(&path, &abc(), &InputOptions::default()).expect("read");
    assert_eq!(b.counts, vec![1.0; 3]);
    let forced = InputOptions {
        format: InputFormat::Npy,
        ..InputOptions::default()
    };
    assert!(read_samples(&path, &abc(), &forced).is_ok());
}
