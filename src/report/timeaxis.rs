//! Sample ids that are times: when every sample's id is an ISO 8601 /
//! RFC 3339 timestamp (`2026-12-03T04:05:06Z`, `2026-12-03 04:05:06.5`,
//! `2026-12-03T04:05:06+01:00`; no zone means UTC) and the times do not
//! go back with the index, the trends label their x axis with the time of
//! the samples instead of their index. Plain numbers are not taken for
//! times: they are usually indices.

/// Collects, in index order, whether every id is a time and the first
/// time of each index range of a trend (the anchors for labelling).
#[derive(Debug, Clone)]
pub struct IdTimes {
    ok: bool,
    last: f64,
    last_index: u64,
    anchors: Vec<(u64, f64)>,
}

impl Default for IdTimes {
    fn default() -> Self {
        IdTimes {
            ok: true,
            last: f64::NEG_INFINITY,
            last_index: 0,
            anchors: Vec::new(),
        }
    }
}

/// Most anchors kept (one per this many samples at least).
const MAX_ANCHORS: u64 = 512;

impl IdTimes {
    /// Takes the id of sample `index` (of `total`), called in index order.
    pub fn add(&mut self, index: u64, total: u64, id: &str) {
        if !self.ok {
            return;
        }
        match parse_time(id) {
            Some(t) if t >= self.last => {
                let step = total.div_ceil(MAX_ANCHORS).max(1);
                if self
                    .anchors
                    .last()
                    .is_none_or(|a| index / step > a.0 / step)
                {
                    self.anchors.push((index, t));
                }
                self.last = t;
                self.last_index = index;
            }
            _ => self.ok = false,
        }
    }

    /// The anchors `(index, seconds since the epoch)` when every id seen
    /// was a time, nondecreasing, and there are at least two distinct
    /// times.
    pub fn finish(mut self) -> Option<Vec<(u64, f64)>> {
        let first = *self.anchors.first()?;
        if !self.ok || self.last <= first.1 {
            return None;
        }
        // The last sample seen closes the axis.
        if self.anchors.last().is_some_and(|a| a.0 < self.last_index) {
            self.anchors.push((self.last_index, self.last));
        }
        Some(self.anchors)
    }
}

/// The time (seconds since the epoch, interpolated between anchors) at
/// sample index `x`.
pub fn time_at(anchors: &[(u64, f64)], x: f64) -> Option<f64> {
    let first = anchors.first()?;
    if x <= first.0 as f64 {
        return Some(first.1);
    }
    for w in anchors.windows(2) {
        let (a, b) = (w[0], w[1]);
        if x <= b.0 as f64 {
            let f = (x - a.0 as f64) / ((b.0 - a.0).max(1) as f64);
            return Some(a.1 + f * (b.1 - a.1));
        }
    }
    anchors.last().map(|a| a.1)
}

/// `seconds` (since the epoch) as UTC text: `hh:mm:ss` when `span` (the
/// axis's range, seconds) is under a day, else `YYYY-MM-DD hh:mm`.
pub fn time_label(seconds: f64, span: f64) -> String {
    let full = utc(seconds.floor().max(0.0) as u64);
    if span < 86_400.0 {
        full[11..19].to_string()
    } else {
        full[..16].to_string()
    }
}

/// `YYYY-MM-DD hh:mm:ss UTC` for seconds since the Unix epoch.
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's civil_from_days: (year, month, day) of a day count.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Howard Hinnant's days_from_civil.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DD[T ]hh:mm[:ss[.frac]][Z|±hh:mm]` to seconds since
/// the epoch (no zone: UTC); anything else is `None`.
pub fn parse_time(s: &str) -> Option<f64> {
    let b = s.trim().as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 16 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (h, mi) = (digits(11..13)?, digits(14..16)?);
    if b[13] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 {
        return None;
    }
    let mut pos = 16;
    let mut sec = 0.0;
    if b.get(pos) == Some(&b':') {
        let whole = digits(pos + 1..pos + 3)?;
        pos += 3;
        let mut end = pos;
        if b.get(pos) == Some(&b'.') {
            end += 1;
            while b.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
        }
        let text = std::str::from_utf8(&b[pos - 2..end]).ok()?;
        sec = text.parse::<f64>().ok()?;
        if whole > 60 {
            return None;
        }
        pos = end;
    }
    let offset = match &b[pos..] {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), ..] if b.len() == pos + 6 && b[pos + 3] == b':' => {
            let (oh, om) = (digits(pos + 1..pos + 3)?, digits(pos + 4..pos + 6)?);
            let o = oh * 3600 + om * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some((days * 86_400 + h * 3600 + mi * 60 - offset) as f64 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_and_other_ids_do_not() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_time("2000-02-29 01:01:01"), Some(951_786_061.0));
        assert_eq!(
            parse_time("2000-02-29T02:01:01.5+01:00"),
            Some(951_786_061.5)
        );
        assert_eq!(parse_time("2000-02-29T01:01"), Some(951_786_060.0));
        for bad in [
            "17",
            "s3",
            "2000-13-01T00:00:00Z",
            "2000-01-01",
            "2000-01-01T00:00:00X",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400 + 3661), "2000-02-29 01:01:01 UTC");
        assert_eq!(utc(1_798_761_599), "2026-12-31 23:59:59 UTC");
        assert_eq!(time_label(3661.0, 600.0), "01:01:01");
        assert_eq!(time_label(3661.0, 1e6), "1970-01-01 01:01");
    }

    #[test]
    fn ids_that_are_times_give_anchors_others_none() {
        let mut t = IdTimes::default();
        for i in 0..1000u64 {
            t.add(
                i,
                1000,
                &format!("2026-12-03T{:02}:{:02}:00Z", i / 60 % 24, i % 60),
            );
        }
        let a = t.finish().expect("times");
        assert_eq!(a[0], (0, parse_time("2026-12-03T00:00:00Z").unwrap()));
        let mid = time_at(&a, 500.0).unwrap();
        assert_eq!(mid, parse_time("2026-12-03T08:20:00Z").unwrap());
        let mut t = IdTimes::default();
        t.add(0, 2, "2026-12-03T01:00:00Z");
        t.add(1, 2, "2026-12-03T00:00:00Z");
        assert!(t.finish().is_none(), "time going back");
        let mut t = IdTimes::default();
        t.add(0, 2, "0");
        assert!(t.finish().is_none());
    }
}
