//! Test helpers: run this test binary again as a child process in a chosen
//! role, with a hard time bound and cleanup by process group.
//!
//! A child entry is an ordinary `#[test]` that returns at once unless
//! [`ROLE_ENV`] names its role; the parent runs the test binary with that
//! test's exact name, `--nocapture` and the variable set. Child output lines
//! that matter carry [`LINE_PREFIX`]; everything else (libtest chatter)
//! is ignored.
//!
//! # Layout
//!
//! * [`ChildRole`], [`child_role`]: which role this process plays.
//! * [`spawn_child`] → [`ChildSession`]: interactive, line by line.
//! * [`run_child`] → [`ChildOutput`]: run to completion.

use std::io::{BufRead, BufReader};
use std::process::{ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::process::{WorkerChild, WorkerCommand};

/// Environment variable naming the role of a child test process.
pub(crate) const ROLE_ENV: &str = "QTOMO_TEST_CHILD_ROLE";

/// Prefix of the child's meaningful stdout lines.
pub(crate) const LINE_PREFIX: &str = "QTOMO-CHILD ";

/// Upper bound on any child test process's life.
pub(crate) const CHILD_TIMEOUT: Duration = Duration::from_secs(30);

/// The roles a re-executed test binary can play.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChildRole {
    /// Opens an inherited shared-memory segment and prints a digest.
    ShmReader,
    /// Installs the signal handler and reports events.
    Signals,
    /// Spawns a worker grandchild and waits to be killed.
    PdeathParent,
    /// Runs the worker side of the IPC handshake.
    IpcWorker,
}

impl ChildRole {
    fn as_str(self) -> &'static str {
        match self {
            ChildRole::ShmReader => "shm-reader",
            ChildRole::Signals => "signals",
            ChildRole::PdeathParent => "pdeath-parent",
            ChildRole::IpcWorker => "ipc-worker",
        }
    }
}

/// The role this process was started in, if any.
pub(crate) fn child_role() -> Option<ChildRole> {
    let v = std::env::var(ROLE_ENV).ok()?;
    [
        ChildRole::ShmReader,
        ChildRole::Signals,
        ChildRole::PdeathParent,
        ChildRole::IpcWorker,
    ]
    .into_iter()
    .find(|r| r.as_str() == v)
}

/// A running child test process and its prefixed stdout lines.
pub(crate) struct ChildSession {
    /// The child; dropping it kills its process group.
    pub(crate) child: WorkerChild,
    lines: mpsc::Receiver<String>,
    started: Instant,
}

impl ChildSession {
    /// Waits for the next prefixed line starting with `start` (prefix
    /// removed) and returns it; panics after `timeout`.
    pub(crate) fn expect_line(&mut self, start: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(start) => return l,
                Ok(_) => continue,
                Err(e) => panic!(
                    "no line starting with {start:?} from child {} after {:?}: {e}",
                    self.child.pid(),
                    self.started.elapsed()
                ),
            }
        }
    }

    /// Waits (bounded by [`CHILD_TIMEOUT`]) for the child to exit and
    /// collects its remaining prefixed lines.
    pub(crate) fn finish(mut self) -> ChildOutput {
        let left = CHILD_TIMEOUT.saturating_sub(self.started.elapsed());
        let status = self.child.wait_timeout(left).expect("waitpid on child");
        // The reader thread may lag behind the exit; drain until EOF, but
        // not forever (a grandchild may hold the pipe open).
        let mut lines = Vec::new();
        let drain_until = Instant::now() + Duration::from_secs(2);
        while let Ok(l) = self
            .lines
            .recv_timeout(drain_until.saturating_duration_since(Instant::now()))
        {
            lines.push(l);
        }
        ChildOutput { status, lines }
    }
}

/// What a finished child printed and how it ended (`None`: it timed out and
/// was killed when its session dropped).
#[derive(Debug)]
pub(crate) struct ChildOutput {
    /// Exit status, if it exited within the bound.
    pub(crate) status: Option<ExitStatus>,
    /// Prefixed stdout lines, prefix removed.
    pub(crate) lines: Vec<String>,
}

/// Re-runs this test binary as `role`, running only the test `test_name`,
/// after `configure` has had its say on the command.
pub(crate) fn spawn_child(
    role: ChildRole,
    test_name: &str,
    configure: impl FnOnce(WorkerCommand) -> WorkerCommand,
) -> ChildSession {
    let exe = std::env::current_exe().expect("current_exe");
    let cmd = WorkerCommand::new(exe)
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, role.as_str())
        .stdout(Stdio::piped());
    let mut child = configure(cmd).spawn().expect("spawn child test process");
    let out = child.take_stdout().expect("child stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            // libtest may print "test name ... " on the same line first.
            if let Some(at) = line.find(LINE_PREFIX)
                && tx.send(line[at + LINE_PREFIX.len()..].to_owned()).is_err()
            {
                break;
            }
        }
    });
    ChildSession {
        child,
        lines: rx,
        started: Instant::now(),
    }
}

/// Runs `role` to completion (bounded by [`CHILD_TIMEOUT`]) and returns its
/// output; panics if it did not exit successfully.
pub(crate) fn run_child(
    role: ChildRole,
    test_name: &str,
    configure: impl FnOnce(WorkerCommand) -> WorkerCommand,
) -> ChildOutput {
    let out = spawn_child(role, test_name, configure).finish();
    assert!(
        out.status.is_some_and(|s| s.success()),
        "child {role:?} failed: {out:?}"
    );
    out
}
