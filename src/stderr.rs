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
//! # Layout
//!
//! [`Stderr`] (an [`io::Write`] and tracing `MakeWriter`), [`line()`],
//! [`write_errors`].

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};

static WRITE_ERRORS: AtomicU64 = AtomicU64::new(0);

/// How many writes to stderr have failed in this process.
pub fn write_errors() -> u64 {
    WRITE_ERRORS.load(Ordering::Relaxed)
}

/// Writes `bytes` to stderr in one go; a failure is counted, not returned.
pub fn write_all(bytes: &[u8]) {
    if io::stderr().lock().write_all(bytes).is_err() {
        WRITE_ERRORS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Writes one line (a newline is appended) to stderr; never panics.
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut text = args.to_string();
    text.push('\n');
    write_all(text.as_bytes());
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

/// `eprintln!` that never panics: see [`line()`].
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::stderr::line(::std::format_args!($($arg)*))
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
}
