//! Tests of the `io` module against real temporary files and the shared
//! example data.

mod csv_errors;
mod csv_ok;
mod kets;
mod npy;
mod output;
mod real_data;

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::{InputError, InputOptions, SampleBatch, read_samples};

/// Owned labels from string slices.
pub(super) fn labels(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Writes `content` to `name` inside `dir` and returns the path.
pub(super) fn write(dir: &TempDir, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, content).expect("write test file");
    path
}

/// A fresh temporary directory.
pub(super) fn tmp() -> TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// The shared example data directory.
pub(super) fn data_dir() -> PathBuf {
    let near = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if near.join("spdc36.csv").is_file() {
        near
    } else {
        PathBuf::from("/work/shared/data")
    }
}

/// Reads `content` as a CSV sample file with default options.
pub(super) fn read_csv_text(
    content: &str,
    expected: &[String],
) -> (TempDir, PathBuf, Result<SampleBatch, InputError>) {
    read_csv_with(content, expected, &InputOptions::default())
}

/// Reads `content` as a CSV sample file with `opts`.
pub(super) fn read_csv_with(
    content: &str,
    expected: &[String],
    opts: &InputOptions,
) -> (TempDir, PathBuf, Result<SampleBatch, InputError>) {
    let dir = tmp();
    let path = write(&dir, "data.csv", content.as_bytes());
    let result = read_samples(&path, expected, opts);
    (dir, path, result)
}

/// Asserts that the message names the path and contains every fragment.
pub(super) fn assert_message(err: &InputError, path: &Path, fragments: &[&str]) {
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "message lacks path: {msg}"
    );
    assert_eq!(err.path(), path);
    for f in fragments {
        assert!(msg.contains(f), "message lacks {f:?}: {msg}");
    }
}
