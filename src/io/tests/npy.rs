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

/// An NPY file whose v1.0 header says `header` (padded as NumPy does),
/// followed by `data`.
fn npy_with_header(header: &str, data: &[u8]) -> Vec<u8> {
    let mut h = header.to_owned();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A header claiming far more data than the file holds is a located
/// error, found before anything is allocated (issue 12: it used to abort
/// with "memory allocation failed").
#[test]
fn a_header_that_lies_about_the_shape_is_an_error_not_an_abort() {
    let dir = tmp();
    let data = [0u8; 48];
    for (name, shape, what) in [
        (
            "huge.npy",
            "(1000000000000, 3)",
            "24000000000000 bytes of data",
        ),
        (
            "overflow.npy",
            "(18446744073709551615, 3)",
            "more data than any file",
        ),
        ("short.npy", "(3, 3)", "72 bytes of data"),
    ] {
        let header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
        let path = write(&dir, name, &npy_with_header(&header, &data));
        let err = read_samples(&path, &abc(), &InputOptions::default()).expect_err(name);
        assert!(matches!(err, InputError::NpyHeader { .. }), "{err:?}");
        assert_message(&err, &path, &["NPY header", what, "48 bytes"]);
    }
    // The honest header for the same 48 bytes: two samples of three.
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
    let path = write(&dir, "ok.npy", &npy_with_header(header, &data));
    let b = read_samples(&path, &abc(), &InputOptions::default()).expect("read");
    assert_eq!(b.n_samples, 2);
    // A header length beyond the end of the file.
    let mut bytes = npy_with_header(header, &data);
    bytes[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
    let path = write(&dir, "longhead.npy", &bytes);
    let err = read_samples(&path, &abc(), &InputOptions::default()).expect_err("header len");
    assert!(matches!(err, InputError::NpyHeader { .. }), "{err:?}");
}

/// Big-endian and small integer dtypes, Fortran order and a transposed
/// array together: every element lands where NumPy would put it.
#[test]
fn byte_orders_dtypes_and_layouts_combine() {
    let dir = tmp();
    // Logical (outcomes × samples) = [[1, 2], [3, 4], [5, 6]], stored in
    // Fortran order as big-endian int16: 1, 3, 5, 2, 4, 6.
    let data: Vec<u8> = [1i16, 3, 5, 2, 4, 6]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let header = "{'descr': '>i2', 'fortran_order': True, 'shape': (3, 2), }";
    let path = write(&dir, "be.npy", &npy_with_header(header, &data));
    let opts = InputOptions {
        transposed: true,
        ..InputOptions::default()
    };
    let b = read_samples(&path, &abc(), &opts).expect("read");
    assert_eq!(b.ids, ["0", "1"]);
    assert_eq!(b.counts, [1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
    // A bad element is located as stored in the file.
    let data: Vec<u8> = [1i16, 3, 5, 2, -4, 6]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let path = write(&dir, "neg.npy", &npy_with_header(header, &data));
    let err = read_samples(&path, &abc(), &opts).expect_err("negative");
    assert_eq!(
        err.location(),
        Some(&Location::Element {
            row: 2,
            column: 2,
            name: Some("label 'B'".into())
        })
    );
}

/// Bytes after the data are an error, as NumPy's own reader says.
#[test]
fn extra_bytes_after_the_data_are_an_error() {
    let dir = tmp();
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 3), }";
    let path = write(&dir, "extra.npy", &npy_with_header(header, &[0u8; 25]));
    let err = read_samples(&path, &abc(), &InputOptions::default()).expect_err("extra");
    assert!(matches!(err, InputError::Npy { .. }), "{err:?}");
    assert_message(&err, &path, &["1 extra bytes"]);
}
