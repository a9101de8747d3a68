//! Ket files: both column schemes, settings, and errors.

use faer::c64;

use super::super::{InputError, read_kets_csv};
use super::{assert_message, tmp, write};

#[test]
fn full_ket_columns_with_settings() {
    let dir = tmp();
    let path = write(
        &dir,
        "k.csv",
        b"label,setting,re0,im0,re1,im1,counts\n\
          a,Z,1,0,0,0,5\n\
          b,Z,0,0,2,0,7\n\
          c,X,0.5,0,0,-0.5,1\n",
    );
    let t = read_kets_csv(&path).expect("read");
    assert_eq!(t.labels, vec!["a", "b", "c"]);
    assert_eq!(t.settings, Some(vec!["Z".into(), "Z".into(), "X".into()]));
    assert_eq!(t.subsystem_dims, vec![2]);
    assert_eq!(t.dim(), 2);
    // Not normalised: kept as given.
    assert_eq!(t.kets()[1], vec![c64::new(0.0, 0.0), c64::new(2.0, 0.0)]);
    assert_eq!(t.kets()[2], vec![c64::new(0.5, 0.0), c64::new(0.0, -0.5)]);
}

#[test]
fn subsystem_columns_are_a_kronecker_product_q1_first() {
    let dir = tmp();
    // q1 = |1>, q2 = (|0> + i|1>) scaled; qutrit q2 to check ordering.
    let path = write(
        &dir,
        "k.csv",
        b"label,q2_re0,q2_im0,q2_re1,q2_im1,q2_re2,q2_im2,q1_re0,q1_im0,q1_re1,q1_im1\n\
          x,1,0,0,1,2,0,0,0,1,0\n",
    );
    let t = read_kets_csv(&path).expect("read");
    assert_eq!(t.subsystem_dims, vec![2, 3]);
    let z = c64::new(0.0, 0.0);
    let expected = vec![
        z,
        z,
        z,
        c64::new(1.0, 0.0),
        c64::new(0.0, 1.0),
        c64::new(2.0, 0.0),
    ];
    assert_eq!(t.kets()[0], expected);
    assert_eq!(t.settings, None);
}

/// File content, variant check, message fragments.
type Case = (
    &'static [u8],
    fn(&InputError) -> bool,
    &'static [&'static str],
);

#[test]
fn ket_errors() {
    let dir = tmp();
    let cases: &[Case] = &[
        (
            b"",
            |e| matches!(e, InputError::EmptyFile { .. }),
            &["empty"],
        ),
        (
            b"1,0,0,0\n",
            |e| matches!(e, InputError::MissingHeader { .. }),
            &[":1", "label"],
        ),
        (
            b"name,re0,im0\n",
            |e| matches!(e, InputError::KetColumns { .. }),
            &[":1", "first column to be 'label'"],
        ),
        (
            b"label,counts\nx,1\n",
            |e| matches!(e, InputError::KetColumns { .. }),
            &["no ket columns"],
        ),
        (
            b"label,re0,im0,q1_re0,q1_im0\n",
            |e| matches!(e, InputError::KetColumns { .. }),
            &["mixes"],
        ),
        (
            b"label,re0,im0,re1\nx,1,0,0\n",
            |e| matches!(e, InputError::KetColumns { .. }),
            &["missing column 'im1'"],
        ),
        (
            b"label,q2_re0,q2_im0\nx,1,0\n",
            |e| matches!(e, InputError::KetColumns { .. }),
            &["no columns for q1"],
        ),
        (
            b"label,re0,im0\n",
            |e| matches!(e, InputError::NoKets { .. }),
            &["no kets"],
        ),
        (
            b"label,re0,im0,re1,im1\nx,1,0,0,0\ny,0,0,0,0\n",
            |e| matches!(e, InputError::ZeroNormKet { .. }),
            &[":3", "'y'", "zero norm"],
        ),
        (
            b"label,re0,im0,re1,im1\nx,1,0,0,0\nx,0,0,1,0\n",
            |e| matches!(e, InputError::DuplicateLabel { .. }),
            &[":3", "'x'", "line 2"],
        ),
        (
            b"label,re0,im0,re1,im1\nx,1,0,zz,0\n",
            |e| matches!(e, InputError::NotANumber { .. }),
            &[":2:4 (column 're1')", "finite real number", "\"zz\""],
        ),
        (
            b"label,re0,im0,re1,im1\nx,1,0,nan,0\n",
            |e| matches!(e, InputError::NanValue { .. }),
            &[":2:4"],
        ),
        (
            b"label,re0,im0,re1,im1\nx,1,0,0\n",
            |e| matches!(e, InputError::WrongFieldCount { .. }),
            &[":2", "expected 5 fields"],
        ),
        (
            b"label,re0,im0,re1,im1\n,1,0,0,0\n",
            |e| matches!(e, InputError::EmptyField { .. }),
            &[":2:1", "ket label"],
        ),
    ];
    for (i, (content, is_variant, fragments)) in cases.iter().enumerate() {
        let path = write(&dir, &format!("k{i}.csv"), content);
        let err = read_kets_csv(&path).expect_err("should fail");
        assert!(is_variant(&err), "case {i}: {err:?}");
        assert_message(&err, &path, fragments);
    }
    let err = read_kets_csv(dir.path()).expect_err("dir");
    assert!(matches!(err, InputError::IsADirectory { .. }));
    let err = read_kets_csv(&dir.path().join("none.csv")).expect_err("missing");
    assert!(matches!(err, InputError::NotFound { .. }));
}
