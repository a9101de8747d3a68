//! Turning one cell (CSV field or NPY element) into a validated value, with
//! a located [`InputError`] when it is not what was expected.

use std::path::Path;

use super::error::{InputError, Location};

/// What a count cell must hold.
pub(crate) const COUNT: &str = "a non-negative finite count";
/// What a ket amplitude cell must hold.
pub(crate) const REAL: &str = "a finite real number";

/// Parses a count: a finite, non-negative number. `-0` becomes `0`.
///
/// `at` is only called on error, so the happy path allocates nothing.
pub(crate) fn parse_count(
    path: &Path,
    bytes: &[u8],
    at: impl FnOnce() -> Location,
) -> Result<f64, InputError> {
    parse_number(path, bytes, COUNT, true, at)
}

/// Parses a finite real number of either sign.
pub(crate) fn parse_real(
    path: &Path,
    bytes: &[u8],
    at: impl FnOnce() -> Location,
) -> Result<f64, InputError> {
    parse_number(path, bytes, REAL, false, at)
}

fn parse_number(
    path: &Path,
    bytes: &[u8],
    expected: &'static str,
    non_negative: bool,
    at: impl FnOnce() -> Location,
) -> Result<f64, InputError> {
    let parsed = std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse::<f64>().ok());
    let Some(value) = parsed else {
        return Err(InputError::NotANumber {
            path: path.to_path_buf(),
            at: at(),
            expected,
            found: String::from_utf8_lossy(bytes).into_owned(),
        });
    };
    let found = || String::from_utf8_lossy(bytes).into_owned();
    check_value(path, value, expected, non_negative, at, found)
}

/// Validates a count that is already a number (an NPY element).
pub(crate) fn check_count(
    path: &Path,
    value: f64,
    at: impl FnOnce() -> Location,
) -> Result<f64, InputError> {
    check_value(path, value, COUNT, true, at, || value.to_string())
}

fn check_value(
    path: &Path,
    value: f64,
    expected: &'static str,
    non_negative: bool,
    at: impl FnOnce() -> Location,
    found: impl FnOnce() -> String,
) -> Result<f64, InputError> {
    // The common case is a valid value: build nothing for the error until
    // there is one (this runs once per cell of inputs with millions).
    let path = || path.to_path_buf();
    if value.is_nan() {
        Err(InputError::NanValue {
            path: path(),
            at: at(),
            expected,
            found: found(),
        })
    } else if value.is_infinite() {
        Err(InputError::InfiniteValue {
            path: path(),
            at: at(),
            expected,
            found: found(),
        })
    } else if non_negative && value < 0.0 {
        Err(InputError::NegativeValue {
            path: path(),
            at: at(),
            expected,
            found: found(),
        })
    } else {
        // Adding +0.0 turns -0.0 into +0.0 and leaves every other value alone.
        Ok(value + 0.0)
    }
}

/// Decodes a text cell that must be non-empty UTF-8 (ids, labels, settings).
pub(crate) fn parse_text(
    path: &Path,
    bytes: &[u8],
    expected: &'static str,
    at: impl Fn() -> Location,
) -> Result<String, InputError> {
    let text = decode(path, bytes, &at)?;
    if text.is_empty() {
        return Err(InputError::EmptyField {
            path: path.to_path_buf(),
            at: at(),
            expected,
        });
    }
    Ok(text)
}

/// As [`parse_text`], borrowing the cell instead of copying it.
pub(crate) fn parse_text_ref<'a>(
    path: &Path,
    bytes: &'a [u8],
    expected: &'static str,
    at: impl Fn() -> Location,
) -> Result<&'a str, InputError> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(InputError::InvalidUtf8 {
            path: path.to_path_buf(),
            at: at(),
        });
    };
    if text.is_empty() {
        return Err(InputError::EmptyField {
            path: path.to_path_buf(),
            at: at(),
            expected,
        });
    }
    Ok(text)
}

/// Decodes a cell as UTF-8 (possibly empty).
pub(crate) fn decode(
    path: &Path,
    bytes: &[u8],
    at: impl FnOnce() -> Location,
) -> Result<String, InputError> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => Err(InputError::InvalidUtf8 {
            path: path.to_path_buf(),
            at: at(),
        }),
    }
}
