//! Parsing of durations given on the command line: `90`, `90s`, `500ms`, `2m`, `1h`.
//!
//! Every duration is range-checked here, so no later `Instant + Duration`
//! can overflow: at most [`MAX_DURATION`] (a year), and, for the options
//! where zero makes no sense, positive.

use std::time::Duration;

/// The longest duration accepted: 365 days.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

const HINT: &str = "expected a number with an optional unit ms, s, m or h, e.g. 90s";

/// Parses a duration from 0 to [`MAX_DURATION`]; a bare number is seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration '{s}': {HINT}"))?;
    if !(value.is_finite() && value >= 0.0) {
        return Err(format!(
            "invalid duration '{s}': must be a non-negative number"
        ));
    }
    let seconds = match unit.trim() {
        "" | "s" | "sec" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        u => {
            return Err(format!(
                "invalid duration '{s}': unknown unit '{u}', expected ms, s, m or h"
            ));
        }
    };
    let too_long = || {
        format!(
            "invalid duration '{s}': longer than the maximum of {} days",
            MAX_DURATION.as_secs() / 86_400
        )
    };
    if seconds > MAX_DURATION.as_secs_f64() {
        return Err(too_long());
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| too_long())
}

/// As [`parse_duration`], but at least 1 ms: for timeouts and windows,
/// where zero would make every worker time out at once.
pub(crate) fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_millis(1) {
        return Err(format!(
            "invalid duration '{}': must be at least 1ms (zero would time out everything at once)",
            s.trim()
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("5 weeks").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn huge_and_zero_values_are_errors_not_panics() {
        for s in [
            "18446744073709551615s",
            "2e19s",
            "1e300h",
            "8761h",
            "inf",
            "NaN",
        ] {
            let e = parse_duration(s).expect_err(s);
            assert!(e.contains("invalid duration"), "{s}: {e}");
        }
        assert_eq!(parse_duration("8760h").unwrap(), MAX_DURATION);
        assert!(parse_positive_duration("0s").is_err());
        assert!(parse_positive_duration("0.1ms").is_err());
        assert_eq!(
            parse_positive_duration("1ms").unwrap(),
            Duration::from_millis(1)
        );
    }
}
