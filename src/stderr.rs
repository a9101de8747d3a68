//! Best-effort stderr: logging never panics and never stops a run.
//!
//! `eprintln!` panics when stderr is gone (a closed pipe such as
//! `qtomo run … 2>&1 | head -1`, a hung-up terminal answering `EIO`), and
//! so does tracing-subscriber when it reports its own write errors that
//! way. A batch that runs for a week must not die because nobody reads its
//! log any more, so every diagnostic of qtomo goes through [`Stderr`]
//! (tracing's writer) or [`line()`] (the `say!` lines of the command line):
//! a failed write is dropped and counted, and the count goes into
//! `summary.json` as `log_write_errors`.
//!
//! With `--log-format json` ([`set_json`]), the lines of [`line_at`] are
//! JSON objects shaped like tracing-subscriber's JSON events
//! (`{"timestamp":"…","level":"INFO","fields":{"message":"…"}}`), so that
//! every line on stderr is one JSON object, errors included.
//!
//! While a progress bar is on the terminal ([`set_progress_bar`]), every
//! write goes through the bar's `suspend`: the bar is cleared, the line is
//! written, the bar is drawn again below it, so log lines never land on
//! the bar's line.
//!
//! # Layout
//!
//! [`Stderr`] (an [`io::Write`] and tracing `MakeWriter`), [`line()`],
//! [`line_at`] and [`Level`], [`error_line`], [`set_json`],
//! [`set_progress_bar`], [`write_errors`].

use std::io::{self, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The progress bar on the terminal, if one is shown.
static BAR: Mutex<Option<indicatif::ProgressBar>> = Mutex::new(None);

/// Routes stderr writes around `bar` while it is shown (`Some`), or
/// directly again (`None`).
pub fn set_progress_bar(bar: Option<indicatif::ProgressBar>) {
    // A poisoned lock only means a writer panicked mid-write; the bar
    // handle inside is still valid.
    *BAR.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = bar;
}

static WRITE_ERRORS: AtomicU64 = AtomicU64::new(0);

static JSON: AtomicBool = AtomicBool::new(false);

/// Makes [`line_at`] (and so `say!`) write JSON objects instead of text
/// (`--log-format json`).
pub fn set_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

/// Whether lines are written as JSON objects.
pub fn is_json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// The severity of a [`line_at`] line, spelled as tracing spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `INFO`: what was done.
    Info,
    /// `WARN`: done, but not everything (failed samples, an interruption).
    Warn,
    /// `ERROR`: the command failed.
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// One JSON log line (with its newline) in tracing-subscriber's shape:
/// timestamp, level, and `fields` holding `message` plus `extra`.
fn json_line(level: Level, message: &str, extra: &[(&str, serde_json::Value)]) -> String {
    use tracing_subscriber::fmt::time::FormatTime;
    let mut timestamp = String::new();
    let _ = tracing_subscriber::fmt::time::SystemTime.format_time(
        &mut tracing_subscriber::fmt::format::Writer::new(&mut timestamp),
    );
    // Written by hand to keep tracing's key order (timestamp, level,
    // fields; message first); serde_json escapes every string.
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    let mut text = format!(
        "{{\"timestamp\":{},\"level\":{},\"fields\":{{\"message\":{}",
        quote(&timestamp),
        quote(level.as_str()),
        quote(message)
    );
    for (k, v) in extra {
        text.push_str(&format!(",{}:{v}", quote(k)));
    }
    text.push_str("}}\n");
    text
}

/// Writes one line at `level`: the text as it is, or with
/// `--log-format json` a JSON object whose `fields.message` is the text.
/// Never panics (see the module docs).
pub fn line_at(level: Level, args: std::fmt::Arguments<'_>) {
    if is_json() {
        write_all(json_line(level, &args.to_string(), &[]).as_bytes());
    } else {
        let mut text = args.to_string();
        text.push('\n');
        write_all(text.as_bytes());
    }
}

/// Reports the error that ends the command: `qtomo: error: MESSAGE`, or
/// with `--log-format json` an `ERROR` object with `fields.message` and
/// `fields.exit_code`.
pub fn error_line(message: &str, exit_code: u8) {
    if is_json() {
        write_all(
            json_line(
                Level::Error,
                message,
                &[("exit_code", serde_json::Value::from(exit_code))],
            )
            .as_bytes(),
        );
    } else {
        write_all(format!("qtomo: error: {message}\n").as_bytes());
    }
}

/// How many writes to stderr have failed in this process.
pub fn write_errors() -> u64 {
    WRITE_ERRORS.load(Ordering::Relaxed)
}

/// Writes `bytes` to stderr in one go (above the progress bar, if one is
/// shown); a failure is counted, not returned.
pub fn write_all(bytes: &[u8]) {
    let write = || {
        if io::stderr().lock().write_all(bytes).is_err() {
            WRITE_ERRORS.fetch_add(1, Ordering::Relaxed);
        }
    };
    // The handle is cloned out so the lock is not held while drawing.
    let bar = BAR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    match bar {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

/// Writes one line (a newline is appended) to stderr at level `INFO`;
/// never panics. See [`line_at`].
pub fn line(args: std::fmt::Arguments<'_>) {
    line_at(Level::Info, args);
}

/// stderr that swallows (and counts) write errors: its writes always
/// succeed, so callers such as tracing-subscriber never see an error to
/// report.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Stderr {
    type Writer = Stderr;

    fn make_writer(&'a self) -> Self::Writer {
        Stderr
    }
}

/// `eprintln!` that never panics: see `stderr::line`.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::stderr::line(::std::format_args!($($arg)*))
    };
}

/// [`say!`] at level `ERROR` (in JSON logs): see `stderr::line_at`.
#[macro_export]
macro_rules! say_error {
    ($($arg:tt)*) => {
        $crate::stderr::line_at($crate::stderr::Level::Error, ::std::format_args!($($arg)*))
    };
}

/// [`say!`] at level `WARN` (in JSON logs): see `stderr::line_at`.
#[macro_export]
macro_rules! say_warn {
    ($($arg:tt)*) => {
        $crate::stderr::line_at($crate::stderr::Level::Warn, ::std::format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_always_succeed() {
        let mut w = Stderr;
        assert_eq!(w.write(b"").expect("write"), 0);
        assert!(w.flush().is_ok());
        say!("qtomo stderr test line {}", 1);
    }

    #[test]
    fn json_lines_are_one_object_in_tracing_shape() {
        let line = json_line(
            Level::Error,
            "a \"quoted\"\nline",
            &[("exit_code", 2.into())],
        );
        assert!(
            line.ends_with('\n') && line.matches('\n').count() == 1,
            "{line}"
        );
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(v["level"], "ERROR");
        assert_eq!(v["fields"]["message"], "a \"quoted\"\nline");
        assert_eq!(v["fields"]["exit_code"], 2);
        assert!(
            v["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{v}"
        );
    }
}
