//! Fault injection for tests: make chosen samples crash, hang or hog memory
//! inside a worker. Compiled only with the `fault-injection` cargo feature,
//! so the default release binary cannot be made to misbehave this way.
//!
//! The worker reads [`FAULT_ENV`], a comma-separated list of `KIND:INDEX`:
//!
//! | kind         | effect when the worker starts sample INDEX            |
//! |--------------|-------------------------------------------------------|
//! | `crash`      | raise SIGSEGV, on every attempt                       |
//! | `crash-once` | raise SIGSEGV on the first attempt only               |
//! | `hang`       | sleep forever (heartbeats continue)                   |
//! | `alloc`      | allocate and touch 64 MiB every 20 ms up to 1 GiB, hang|
//! | `exit`       | exit with code 101, on every attempt                  |
//! | `delay`      | `delay:MS` sleeps MS milliseconds before *every* sample |
//! | `exit-on-start` | exit with code 101 before the IPC handshake (no index) |
//! | `hang-on-start` | sleep forever before the IPC handshake (no index) |
//!
//! # Layout
//!
//! [`Faults`] (parse, [`Faults::before_sample`]).

use std::collections::HashMap;
use std::time::Duration;

/// Environment variable listing the faults.
pub const FAULT_ENV: &str = "QTOMO_FAULT";

/// Environment variable, read by the supervisor, that sets the workers'
/// heartbeat interval in milliseconds (default 1000), so that tests of hang
/// and pause detection run in seconds: the heartbeat limit is five
/// intervals plus a second.
pub const HEARTBEAT_MS_ENV: &str = "QTOMO_FAULT_HEARTBEAT_MS";

/// Environment variable: milliseconds to sleep while a shared-memory
/// segment of the process has a name (between `shm_open` and
/// `shm_unlink`), so that tests can signal the process inside that window.
pub const SEGMENT_NAMED_MS_ENV: &str = "QTOMO_FAULT_SEGMENT_NAMED_MS";

/// Sleeps as [`SEGMENT_NAMED_MS_ENV`] asks, if it is set.
pub fn while_a_segment_is_named() {
    if let Some(ms) = std::env::var(SEGMENT_NAMED_MS_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// The heartbeat interval [`HEARTBEAT_MS_ENV`] asks for, if it is a
/// positive number of milliseconds.
pub fn heartbeat_override() -> Option<Duration> {
    std::env::var(HEARTBEAT_MS_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Crash,
    CrashOnce,
    Hang,
    Alloc,
    Exit,
}

/// The faults configured for this worker.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    by_index: HashMap<u64, Kind>,
    delay: Option<Duration>,
    exit_on_start: bool,
    hang_on_start: bool,
}

impl Faults {
    /// Reads [`FAULT_ENV`]; malformed entries are reported on stderr and
    /// skipped.
    pub fn from_env() -> Self {
        std::env::var(FAULT_ENV)
            .map(|s| Self::parse(&s))
            .unwrap_or_default()
    }

    /// Parses `crash:5,hang:7`.
    pub fn parse(spec: &str) -> Self {
        let mut by_index = HashMap::new();
        let mut delay = None;
        let mut exit_on_start = false;
        let mut hang_on_start = false;
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item == "exit-on-start" {
                exit_on_start = true;
                continue;
            }
            if item == "hang-on-start" {
                hang_on_start = true;
                continue;
            }
            if let Some(ms) = item.strip_prefix("delay:").and_then(|v| v.parse().ok()) {
                delay = Some(Duration::from_millis(ms));
                continue;
            }
            let parsed = item.split_once(':').and_then(|(k, i)| {
                let kind = match k {
                    "crash" => Kind::Crash,
                    "crash-once" => Kind::CrashOnce,
                    "hang" => Kind::Hang,
                    "alloc" => Kind::Alloc,
                    "exit" => Kind::Exit,
                    _ => return None,
                };
                Some((i.parse::<u64>().ok()?, kind))
            });
            match parsed {
                Some((i, k)) => {
                    by_index.insert(i, k);
                }
                None => {
                    crate::say_warn!("qtomo worker: ignoring malformed {FAULT_ENV} entry {item:?}")
                }
            }
        }
        Self {
            by_index,
            delay,
            exit_on_start,
            hang_on_start,
        }
    }

    /// Exits with code 101 if `exit-on-start` is configured (a worker that
    /// dies before its handshake, like a broken binary would), or sleeps
    /// forever if `hang-on-start` is (one stuck before its handshake).
    pub fn at_start(&self) {
        if self.exit_on_start {
            std::process::exit(101);
        }
        if self.hang_on_start {
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
    }

    /// Runs the fault configured for `index` (if any) on attempt `attempt`.
    pub fn before_sample(&self, index: u64, attempt: u32) {
        if let Some(d) = self.delay {
            std::thread::sleep(d);
        }
        let Some(&kind) = self.by_index.get(&index) else {
            return;
        };
        match kind {
            Kind::Crash => segv(),
            Kind::CrashOnce if attempt == 0 => segv(),
            Kind::CrashOnce => {}
            Kind::Exit => std::process::exit(101),
            Kind::Hang => loop {
                std::thread::sleep(Duration::from_secs(3600));
            },
            Kind::Alloc => {
                let mut hog: Vec<Vec<u8>> = Vec::new();
                for _ in 0..16 {
                    hog.push(vec![1u8; 64 << 20]);
                    std::thread::sleep(Duration::from_millis(20));
                }
                loop {
                    std::hint::black_box(&hog);
                    std::thread::sleep(Duration::from_secs(3600));
                }
            }
        }
    }
}

fn segv() -> ! {
    use nix::sys::signal::{SigHandler, Signal, raise, signal};
    // SAFETY: SIG_DFL installs no handler code; it restores the default
    // action so that the raise below kills the process with SIGSEGV.
    let _ = unsafe { signal(Signal::SIGSEGV, SigHandler::SigDfl) };
    let _ = raise(Signal::SIGSEGV);
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        let f = Faults::parse("crash:5, hang:7,alloc:9,crash-once:3,bogus,exit:x,delay:1");
        assert_eq!(f.by_index.len(), 4);
        assert!(!f.exit_on_start);
        assert!(Faults::parse("delay:1,exit-on-start").exit_on_start);
        assert!(Faults::parse("hang-on-start").hang_on_start);
        assert_eq!(f.delay, Some(Duration::from_millis(1)));
        assert_eq!(f.by_index[&3], Kind::CrashOnce);
        // Not listed: no effect.
        f.before_sample(4, 0);
        f.before_sample(3, 1);
    }
}
