//! Complex numbers as Kwiat's files write them: a JSON number, or a string
//! in Python's `complex()` syntax (`"1j"`, `"-0.5j"`, `"0.5+0.5j"`,
//! `"(1-2j)"`, `"3"`), as the package reads them with
//! `numpy.array(..., dtype=complex128)`.

use faer::c64;

/// Parses Python's `complex()` text: optional parentheses and
/// surrounding white space, then a real part, an imaginary part (`j` or
/// `J` suffix, a bare `j` meaning 1j), or both (`a+bj`, `a-bj`). `None`
/// for anything else and for non-finite parts (`nan`, `inf`), which a
/// measurement state cannot hold.
pub(crate) fn parse_complex(text: &str) -> Option<c64> {
    let mut s = text.trim();
    if let Some(inner) = s.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        s = inner.trim();
    }
    if s.is_empty() {
        return None;
    }
    let value = match s.strip_suffix(['j', 'J']) {
        None => c64::new(real(s)?, 0.0),
        Some(body) => {
            // The sign that starts the imaginary part: the last '+' or '-'
            // that is not the first character and not an exponent's sign.
            let bytes = body.as_bytes();
            let split = (1..bytes.len())
                .rev()
                .find(|&i| matches!(bytes[i], b'+' | b'-') && !matches!(bytes[i - 1], b'e' | b'E'));
            match split {
                Some(i) => c64::new(real(&body[..i])?, imaginary(&body[i..])?),
                None => c64::new(0.0, imaginary(body)?),
            }
        }
    };
    (value.re.is_finite() && value.im.is_finite()).then_some(value)
}

/// A real part: a plain decimal number (no `inf`, `nan`, white space).
fn real(s: &str) -> Option<f64> {
    let plain = s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !plain || !s.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<f64>().ok()
}

/// The coefficient of `j`: a number, or nothing / a bare sign for ±1.
fn imaginary(s: &str) -> Option<f64> {
    match s {
        "" | "+" => Some(1.0),
        "-" => Some(-1.0),
        _ => real(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_complex_syntax() {
        let c = |re, im| Some(c64::new(re, im));
        assert_eq!(parse_complex("1j"), c(0.0, 1.0));
        assert_eq!(parse_complex("-1j"), c(0.0, -1.0));
        assert_eq!(parse_complex("j"), c(0.0, 1.0));
        assert_eq!(parse_complex("-J"), c(0.0, -1.0));
        assert_eq!(parse_complex("0.5+0.5j"), c(0.5, 0.5));
        assert_eq!(parse_complex(" (1-2j) "), c(1.0, -2.0));
        assert_eq!(parse_complex("1e-3+2e+1j"), c(1e-3, 20.0));
        assert_eq!(parse_complex("-1e-3-j"), c(-1e-3, -1.0));
        assert_eq!(parse_complex("3"), c(3.0, 0.0));
        assert_eq!(parse_complex("-0.25"), c(-0.25, 0.0));
        for bad in [
            "", "i", "1i", "abc", "1+", "nanj", "inf", "1 + 2j", "()", "1e999", "1j+2",
        ] {
            assert_eq!(parse_complex(bad), None, "{bad:?}");
        }
    }
}
