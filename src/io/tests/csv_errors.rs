//! Each malformed CSV input yields its own variant with a located message.

use super::super::{ColumnMode, InputError, InputOptions, Location, read_samples};
use super::{assert_message, labels, read_csv_text, read_csv_with, tmp, write};

fn abc() -> Vec<String> {
    labels(&["A", "B", "C"])
}

#[test]
fn nonexistent_path() {
    let dir = tmp();
    let path = dir.path().join("nope.csv");
    let err = read_samples(&path, &abc(), &InputOptions::default()).expect_err("missing");
    assert!(matches!(err, InputError::NotFound { .. }), "{err:?}");
    assert_message(&err, &path, &["no such file"]);
}

#[test]
fn directory_instead_of_file() {
    let dir = tmp();
    let err = read_samples(dir.path(), &abc(), &InputOptions::default()).expect_err("dir");
    assert!(matches!(err, InputError::IsADirectory { .. }), "{err:?}");
    assert_message(&err, dir.path(), &["is a directory"]);
}

#[test]
fn empty_file() {
    for content in ["", "\n\n", "   \n"] {
        let (_d, path, r) = read_csv_text(content, &abc());
        let err = r.expect_err("empty");
        assert!(
            matches!(err, InputError::EmptyFile { .. }),
            "{content:?}: {err:?}"
        );
        assert_message(&err, &path, &["file is empty", "header"]);
    }
}

#[test]
fn missing_header() {
    let (_d, path, r) = read_csv_text("1,2,3\n4,5,6\n", &abc());
    let err = r.expect_err("no header");
    assert!(matches!(err, InputError::MissingHeader { .. }), "{err:?}");
    assert_message(
        &err,
        &path,
        &[":1:", "expected a header row", "sample,A,B,C", "\"1,2,3\""],
    );
}

#[test]
fn header_only_is_no_samples() {
    let (_d, path, r) = read_csv_text("sample,A,B,C\n", &abc());
    let err = r.expect_err("no samples");
    assert!(matches!(err, InputError::NoSamples { .. }), "{err:?}");
    assert_message(&err, &path, &["no samples"]);
}

#[test]
fn wrong_column_count_on_a_row() {
    let (_d, path, r) = read_csv_text("sample,A,B,C\ns0,1,2,3\ns1,1,2\n", &abc());
    let err = r.expect_err("short row");
    assert!(matches!(err, InputError::WrongFieldCount { .. }), "{err:?}");
    assert_eq!(err.location(), Some(&Location::Line { line: 3 }));
    assert_message(&err, &path, &[":3:", "expected 4 fields", "found 3"]);
}

#[test]
fn unknown_label_with_suggestion() {
    let expected = labels(&["ZZ:00", "ZZ:01", "ZZ:10", "ZZ:11"]);
    let (_d, path, r) = read_csv_text(
        "sample,ZZ:00,ZZ:01,ZZ:2,ZZ:11,extra\ns,1,2,3,4,5\n",
        &expected,
    );
    let err = r.expect_err("mismatch");
    let InputError::LabelMismatch { diff, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(diff.missing, vec!["ZZ:10".to_string()]);
    assert_eq!(diff.unexpected.len(), 2);
    assert_eq!(diff.unexpected[0].suggestion.as_deref(), Some("ZZ:10"));
    assert_eq!(diff.unexpected[1].suggestion, None);
    assert_message(
        &err,
        &path,
        &[
            ":1:",
            "unknown column 'ZZ:2' (did you mean 'ZZ:10'?) at line 1, column 4",
            "unknown column 'extra' at line 1, column 6",
            "missing label 'ZZ:10'",
        ],
    );
}

#[test]
fn duplicate_column() {
    let (_d, path, r) = read_csv_text("sample,A,B,A,C\ns,1,2,3,4\n", &abc());
    let err = r.expect_err("dup column");
    assert!(matches!(err, InputError::DuplicateLabel { .. }), "{err:?}");
    assert_message(
        &err,
        &path,
        &[":1:4", "duplicate label 'A'", "line 1, column 2"],
    );
}

#[test]
fn text_in_a_number() {
    let (_d, path, r) = read_csv_text("sample,A,B,C\ns0,1,2,3\ns1,1,abc,3\n", &abc());
    let err = r.expect_err("text");
    assert!(matches!(err, InputError::NotANumber { .. }), "{err:?}");
    assert_message(
        &err,
        &path,
        &[
            ":3:3 (column 'B'): expected a non-negative finite count, found \"abc\"",
            "not a number",
        ],
    );
}

#[test]
fn empty_count_cell() {
    let (_d, path, r) = read_csv_text("sample,A,B,C\ns0,1,,3\n", &abc());
    let err = r.expect_err("empty cell");
    assert!(matches!(err, InputError::NotANumber { .. }), "{err:?}");
    assert_message(&err, &path, &[":2:3 (column 'B')", "empty cell"]);
}

#[test]
fn negative_count() {
    let (_d, path, r) = read_csv_text("sample,A,B,C\ns0,1,2,-3\n", &abc());
    let err = r.expect_err("negative");
    assert!(matches!(err, InputError::NegativeValue { .. }), "{err:?}");
    assert_message(
        &err,
        &path,
        &[":2:4 (column 'C')", "found \"-3\"", "negative"],
    );
}

#[test]
fn nan_count() {
    let (_d, path, r) = read_csv_text("sample,A,B,C\ns0,NaN,2,3\n", &abc());
    let err = r.expect_err("nan");
    assert!(matches!(err, InputError::NanValue { .. }), "{err:?}");
    assert_message(&err, &path, &[":2:2 (column 'A')", "found \"NaN\""]);
}

#[test]
fn infinite_count() {
    let (_d, path, r) = read_csv_text("sample,A,B,C\ns0,1,inf,3\n", &abc());
    let err = r.expect_err("inf");
    assert!(matches!(err, InputError::InfiniteValue { .. }), "{err:?}");
    assert_message(&err, &path, &[":2:3 (column 'B')", "infinite"]);
}

#[test]
fn duplicate_sample_id_names_both_lines() {
    let (_d, path, r) = read_csv_text("sample,A,B,C\nx,1,2,3\ny,1,2,3\nx,4,5,6\n", &abc());
    let err = r.expect_err("dup id");
    let InputError::DuplicateId { first, at, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(first.line(), Some(2));
    assert_eq!(at.line(), Some(4));
    assert_message(
        &err,
        &path,
        &[":4:1", "duplicate sample id \"x\"", "line 2"],
    );
}

#[test]
fn empty_sample_id() {
    let (_d, path, r) = read_csv_text("sample,A,B,C\n,1,2,3\n", &abc());
    let err = r.expect_err("empty id");
    assert!(matches!(err, InputError::EmptyField { .. }), "{err:?}");
    assert_message(&err, &path, &[":2:1", "sample id"]);
}

#[test]
fn invalid_utf8_id() {
    let dir = tmp();
    let path = write(&dir, "data.csv", b"sample,A,B,C\n\xff\xfe,1,2,3\n");
    let err = read_samples(&path, &abc(), &InputOptions::default()).expect_err("utf8");
    assert!(matches!(err, InputError::InvalidUtf8 { .. }), "{err:?}");
    assert_message(&err, &path, &[":2:1"]);
}

#[test]
fn positional_count_mismatch() {
    let opts = InputOptions {
        columns: ColumnMode::Positional,
        ..InputOptions::default()
    };
    let (_d, path, r) = read_csv_with("sample,x,y\ns,1,2\n", &abc(), &opts);
    let err = r.expect_err("count");
    assert!(
        matches!(err, InputError::WrongOutcomeCount { .. }),
        "{err:?}"
    );
    assert_message(&err, &path, &[":1", "expected 3 count columns", "found 2"]);
}

#[test]
fn transposed_errors_are_located() {
    let opts = InputOptions {
        transposed: true,
        ..InputOptions::default()
    };
    let (_d, path, r) = read_csv_with("label,s1,s2\nA,1,2\nB,1,x\nC,0,0\n", &abc(), &opts);
    let err = r.expect_err("text");
    assert!(matches!(err, InputError::NotANumber { .. }), "{err:?}");
    assert_message(&err, &path, &[":3:3 (label 'B', sample 's2')"]);

    let (_d, path, r) = read_csv_with("label,s1,s1\nA,1,2\nB,1,2\nC,0,0\n", &abc(), &opts);
    let err = r.expect_err("dup id");
    assert!(matches!(err, InputError::DuplicateId { .. }), "{err:?}");
    assert_message(&err, &path, &[":1:3", "line 1, column 2"]);

    let (_d, path, r) = read_csv_with("label,s1\nA,1\nBB,1\nC,0\n", &abc(), &opts);
    let err = r.expect_err("unknown row");
    assert_message(
        &err,
        &path,
        &["unknown row label 'BB' (did you mean 'B'?) at line 3, column 1"],
    );

    let (_d, path, r) = read_csv_with("A,1,2\nB,1,2\nC,0,0\n", &abc(), &opts);
    let err = r.expect_err("no header");
    assert!(matches!(err, InputError::MissingHeader { .. }), "{err:?}");
    assert_message(&err, &path, &[":1"]);
}

#[test]
fn errors_write_nothing() {
    let dir = tmp();
    let path = write(&dir, "data.csv", b"sample,A,B,C\ns0,1,-2,3\n");
    let before: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").collect();
    let _ = read_samples(&path, &abc(), &InputOptions::default());
    let after: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").collect();
    assert_eq!(before.len(), after.len());
}

/// The first problem in file order is the one reported: a duplicate id
/// before a bad cell, the bad cell before a duplicate after it. Lines stay
/// right across blank lines.
#[test]
fn a_duplicate_id_and_a_bad_cell_are_reported_in_file_order() {
    let (_d, path, r) = read_csv_text(
        "sample,A,B,C\nx,1,2,3\n\n\ny,1,2,3\nx,4,5,6\nz,1,bad,3\n",
        &abc(),
    );
    let err = r.expect_err("dup first");
    let InputError::DuplicateId { first, at, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!((first.line(), at.line()), (Some(2), Some(6)));
    assert_message(&err, &path, &[":6:1", "line 2"]);

    let (_d, _path, r) = read_csv_text("sample,A,B,C\nx,1,2,3\ny,1,bad,3\nx,4,5,6\n", &abc());
    let err = r.expect_err("bad cell first");
    assert!(matches!(err, InputError::NotANumber { .. }), "{err:?}");

    // On the same row: the id (column 1) comes before the bad count.
    let (_d, path, r) = read_csv_text("sample,A,B,C\nx,1,2,3\nx,1,bad,3\n", &abc());
    let err = r.expect_err("dup on the bad row");
    assert!(matches!(err, InputError::DuplicateId { .. }), "{err:?}");
    assert_message(&err, &path, &[":3:1", "line 2"]);
    // The bad count before the id column on that row.
    let (_d, _path, r) = read_csv_text("A,B,C,sample\n1,2,3,x\n1,bad,3,x\n", &abc());
    let err = r.expect_err("bad cell before the id");
    assert!(matches!(err, InputError::NotANumber { .. }), "{err:?}");
}

/// In a transposed file the first empty or repeated id in the header is
/// the one reported.
#[test]
fn transposed_header_ids_report_the_first_problem() {
    let opts = InputOptions {
        transposed: true,
        ..InputOptions::default()
    };
    let (_d, path, r) = read_csv_with("label,s1,,s1\nA,1,2,3\n", &abc(), &opts);
    let err = r.expect_err("empty first");
    assert!(matches!(err, InputError::EmptyField { .. }), "{err:?}");
    assert_message(&err, &path, &[":1:3"]);
    let (_d, path, r) = read_csv_with("label,s1,s1,\nA,1,2,3\n", &abc(), &opts);
    let err = r.expect_err("dup first");
    assert!(matches!(err, InputError::DuplicateId { .. }), "{err:?}");
    assert_message(&err, &path, &[":1:3", "line 1, column 2"]);
}
