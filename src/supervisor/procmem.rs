//! A process's memory use from `/proc`, and human sizes for
//! `--max-worker-rss`.
//!
//! Plain RSS is the wrong number to limit a worker by: it counts every page
//! of the shared matrix segment the worker touched, so N healthy workers
//! would each appear to own the whole matrix. [`MemoryUsage::charged`] is
//! the worker's private anonymous memory (`Anonymous` from
//! `/proc/<pid>/smaps_rollup`, or `RssAnon` from `/proc/<pid>/status` where
//! smaps_rollup is missing, e.g. kernels before 4.14 or restricted /proc).
//! PSS is reported too for status lines.
//!
//! # Layout
//!
//! * [`read_memory`] → [`MemoryUsage`], with pure parsers
//!   [`parse_smaps_rollup`] and [`parse_status`].
//! * [`parse_size`] → bytes, [`ParseSizeError`].

use std::io;

/// Where a [`MemoryUsage`] was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemorySource {
    /// `/proc/<pid>/smaps_rollup`.
    SmapsRollup,
    /// `/proc/<pid>/status` (fallback).
    Status,
}

/// Memory figures of one process, in bytes. Fields a source does not
/// provide are `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Resident set size (includes shared pages).
    pub rss: u64,
    /// Proportional set size.
    pub pss: Option<u64>,
    /// Proportional set size of anonymous memory.
    pub pss_anon: Option<u64>,
    /// Resident anonymous memory (`Anonymous` or `RssAnon`).
    pub anonymous: Option<u64>,
    /// Where the figures come from.
    pub source: MemorySource,
}

impl MemoryUsage {
    /// The figure to compare with `--max-worker-rss`: private anonymous
    /// memory, else anonymous PSS, else PSS, else RSS.
    pub fn charged(&self) -> u64 {
        self.anonymous
            .or(self.pss_anon)
            .or(self.pss)
            .unwrap_or(self.rss)
    }
}

/// Errors from reading `/proc`.
#[derive(Debug, thiserror::Error)]
pub enum ProcMemError {
    /// Neither `/proc/<pid>/smaps_rollup` nor `/proc/<pid>/status` could be
    /// read (the process is gone, or /proc is not mounted).
    #[error("cannot read memory use of process {pid}")]
    Read {
        /// The process.
        pid: u32,
        /// The error reading the fallback file.
        #[source]
        source: io::Error,
    },
    /// The file was read but lacks a required field.
    #[error("{file} of process {pid} has no {field} line")]
    MissingField {
        /// The process.
        pid: u32,
        /// The file name under `/proc/<pid>/`.
        file: &'static str,
        /// The missing field.
        field: &'static str,
    },
}

/// Reads the memory use of process `pid`.
pub fn read_memory(pid: u32) -> Result<MemoryUsage, ProcMemError> {
    if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        && let Some(u) = parse_smaps_rollup(&text)
    {
        return Ok(u);
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|source| ProcMemError::Read { pid, source })?;
    parse_status(&text).ok_or(ProcMemError::MissingField {
        pid,
        file: "status",
        field: "VmRSS",
    })
}

/// Value in bytes of a `Key:   123 kB` line, if `line` is for `key`.
fn kb_field(line: &str, key: &str) -> Option<u64> {
    let rest = line.strip_prefix(key)?.strip_prefix(':')?;
    let mut it = rest.split_whitespace();
    let n: u64 = it.next()?.parse().ok()?;
    match it.next() {
        Some("kB") | None => n.checked_mul(1024),
        _ => None,
    }
}

fn find(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| kb_field(l, key))
}

/// Parses the contents of `/proc/<pid>/smaps_rollup`. Pure; `None` without
/// an `Rss` line.
pub fn parse_smaps_rollup(text: &str) -> Option<MemoryUsage> {
    Some(MemoryUsage {
        rss: find(text, "Rss")?,
        pss: find(text, "Pss"),
        pss_anon: find(text, "Pss_Anon"),
        anonymous: find(text, "Anonymous"),
        source: MemorySource::SmapsRollup,
    })
}

/// Parses the contents of `/proc/<pid>/status`. Pure; `None` without a
/// `VmRSS` line (kernel threads, zombies).
pub fn parse_status(text: &str) -> Option<MemoryUsage> {
    Some(MemoryUsage {
        rss: find(text, "VmRSS")?,
        pss: None,
        pss_anon: None,
        anonymous: find(text, "RssAnon"),
        source: MemorySource::Status,
    })
}

/// Errors from [`parse_size`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseSizeError {
    /// Nothing to parse.
    #[error("empty size")]
    Empty,
    /// The number part is not a finite non-negative number.
    #[error("invalid number {number:?} in size")]
    BadNumber {
        /// The number part.
        number: String,
    },
    /// The unit is not known.
    #[error("unknown size unit {unit:?} (use K, M, G, T, KiB.., KB..)")]
    BadUnit {
        /// The unit part.
        unit: String,
    },
    /// The size does not fit in 64 bits.
    #[error("size too large")]
    Overflow,
}

/// Parses a size such as `1048576`, `512M`, `2G`, `1.5GiB` or `800MB` into
/// bytes (rounded down).
///
/// Letters alone and `KiB`, `MiB`, `GiB`, `TiB` are powers of 1024, as in
/// systemd's `MemoryMax=`; `KB`, `MB`, `GB`, `TB` are powers of 1000; `B` or
/// no unit means bytes. Units are case-insensitive; spaces between number and
/// unit are allowed.
pub fn parse_size(s: &str) -> Result<u64, ParseSizeError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(ParseSizeError::Empty);
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let unit = unit.trim();
    let bad_number = || ParseSizeError::BadNumber {
        number: num.to_owned(),
    };
    if num.is_empty() {
        return Err(bad_number());
    }
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => {
            return Err(ParseSizeError::BadUnit {
                unit: unit.to_owned(),
            });
        }
    };
    if !num.contains('.') {
        let n: u64 = num.parse().map_err(|_| bad_number())?;
        return n.checked_mul(multiplier).ok_or(ParseSizeError::Overflow);
    }
    let x: f64 = num.parse().map_err(|_| bad_number())?;
    if !x.is_finite() || x < 0.0 {
        return Err(bad_number());
    }
    let bytes = x * multiplier as f64;
    // 2^64 as f64; anything at or above it does not fit.
    if bytes >= 18_446_744_073_709_551_616.0 {
        return Err(ParseSizeError::Overflow);
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("1.5 GiB"), Ok(3 << 29));
        assert_eq!(parse_size("800MB"), Ok(800_000_000));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        assert_eq!(parse_size("10B"), Ok(10));
        assert_eq!(parse_size(" 7 "), Ok(7));
        assert_eq!(parse_size("0.5K"), Ok(512));
    }

    #[test]
    fn bad_sizes() {
        assert_eq!(parse_size(""), Err(ParseSizeError::Empty));
        assert!(matches!(
            parse_size("G"),
            Err(ParseSizeError::BadNumber { .. })
        ));
        assert!(matches!(
            parse_size("-1G"),
            Err(ParseSizeError::BadNumber { .. })
        ));
        assert!(matches!(
            parse_size("1.2.3M"),
            Err(ParseSizeError::BadNumber { .. })
        ));
        assert!(matches!(
            parse_size("12Q"),
            Err(ParseSizeError::BadUnit { .. })
        ));
        assert!(matches!(
            parse_size("1PiB"),
            Err(ParseSizeError::BadUnit { .. })
        ));
        assert_eq!(parse_size("20000000T"), Err(ParseSizeError::Overflow));
        assert_eq!(parse_size("99999999999.0T"), Err(ParseSizeError::Overflow));
    }

    const ROLLUP: &str = "\
55d0c0a00000-7ffd2b7fe000 ---p 00000000 00:00 0                          [rollup]
Rss:               10240 kB
Pss:                6144 kB
Pss_Anon:           4096 kB
Pss_File:           2048 kB
Pss_Shmem:             0 kB
Shared_Clean:       4096 kB
Anonymous:          4100 kB
Swap:                  0 kB
";

    #[test]
    fn parses_smaps_rollup_text() {
        let u = parse_smaps_rollup(ROLLUP).expect("parse");
        assert_eq!(u.rss, 10240 * 1024);
        assert_eq!(u.pss, Some(6144 * 1024));
        assert_eq!(u.pss_anon, Some(4096 * 1024));
        assert_eq!(u.anonymous, Some(4100 * 1024));
        assert_eq!(u.charged(), 4100 * 1024);
        assert_eq!(u.source, MemorySource::SmapsRollup);
        // "Pss" must not match "Pss_Anon" and vice versa.
        assert_eq!(
            parse_smaps_rollup("Pss_Anon: 1 kB\nRss: 2 kB\n").map(|u| u.pss),
            Some(None)
        );
        assert_eq!(parse_smaps_rollup("Pss: 1 kB\n"), None);
    }

    #[test]
    fn parses_status_text() {
        let text = "Name:\tqtomo\nVmRSS:\t    2048 kB\nRssAnon:\t    1024 kB\nRssFile:\t 1024 kB\n";
        let u = parse_status(text).expect("parse");
        assert_eq!(u.rss, 2048 * 1024);
        assert_eq!(u.anonymous, Some(1024 * 1024));
        assert_eq!(u.charged(), 1024 * 1024);
        assert_eq!(u.source, MemorySource::Status);
        assert_eq!(parse_status("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn reads_current_process_and_sees_anonymous_growth() {
        let pid = std::process::id();
        let before = read_memory(pid).expect("read self");
        assert!(before.rss > 0);
        assert!(before.charged() <= before.rss.max(before.pss.unwrap_or(0)) + (1 << 20));
        // Touch 64 MiB of private memory; the anonymous figure must grow.
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        let after = read_memory(pid).expect("read self");
        // Other tests run concurrently in this process, so only demand
        // growth of at least half of what we touched.
        assert!(
            after.charged() >= before.charged() + (32 << 20),
            "before {before:?} after {after:?}"
        );
        drop(big);
        // The fallback parser agrees on the file it parses.
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
        assert!(parse_status(&status).expect("status parses").rss > 0);
    }

    #[test]
    fn missing_process_is_an_error() {
        // Pid numbers above pid_max (at most 2^22) never exist.
        assert!(matches!(
            read_memory(u32::MAX - 1),
            Err(ProcMemError::Read { .. })
        ));
    }
}
