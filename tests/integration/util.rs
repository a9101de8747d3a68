//! Running the real `qtomo` binary from tests.
//!
//! A [`Sandbox`] is a fresh temporary directory; [`Sandbox::qtomo`] gives a
//! [`QtomoCmd`] builder whose process runs with that directory as its
//! working directory. Every process has a hard time bound: it is spawned,
//! polled with `try_wait` until a deadline, and killed (by pid, from a
//! `Drop` guard) if it overruns or if the test panics while it runs. The
//! command line is printed before it runs, and a [`Finished`] process shows
//! the command, exit status, stdout and stderr whenever an expectation on it
//! fails.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long any one qtomo process may run unless a test says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Environment variables that would change what the binary does (shard
/// selection from a scheduler, systemd notifications, log filters), removed
/// so the tests do not depend on where they run.
const SCRUBBED_ENV: &[&str] = &[
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_MAX",
    "SLURM_ARRAY_TASK_STEP",
    "SLURM_ARRAY_JOB_ID",
    "JOB_COMPLETION_INDEX",
    "NOTIFY_SOCKET",
    "WATCHDOG_PID",
    "WATCHDOG_USEC",
    "QTOMO_LOG",
    "QTOMO_FAULT",
];

/// A command for `program` (the qtomo binary, a copy of it, a script that
/// runs it) with the
/// [`SCRUBBED_ENV`] variables removed: every test starts qtomo this way, so
/// none depends on the scheduler, service manager or faults of the
/// environment the suite runs in.
pub fn scrubbed_command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    cmd
}

/// The intensity s ≥ 0 that maximises the Poisson log-likelihood
/// Σ_k n_k log(s q_k + a_k) − (s q_k + a_k) of counts n, signal q (Σq > 0)
/// and background a: the root of its decreasing slope
/// Σ_{n_k>0} n_k q_k/(s q_k + a_k) − Σ q_k, bisected on [0, N/Σq] (the
/// slope is ≤ 0 at N/Σq). Computed independently of qtomo's own fit.
pub fn fitted_intensity(counts: &[f64], q: &[f64], a: &[f64]) -> f64 {
    let sum_q: f64 = q.iter().sum();
    let slope = |s: f64| -> f64 {
        counts
            .iter()
            .zip(q.iter().zip(a))
            .filter(|(n, _)| **n > 0.0)
            .map(|(n, (qk, ak))| n * qk / (s * qk + ak))
            .sum::<f64>()
            - sum_q
    };
    let total: f64 = counts.iter().sum();
    let (mut lo, mut hi) = (0.0, total / sum_q);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if slope(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The shipped example data, `examples/data/<name>`.
pub fn example_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/data")
        .join(name)
}

/// A fresh temporary directory, removed when dropped.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// Creates an empty directory.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("qtomo-cli-")
            .tempdir()
            .expect("create a temporary directory");
        Self { dir }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `rel` inside the directory.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes `contents` to `rel` inside the directory; returns its path.
    pub fn write(&self, rel: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(rel);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// A `qtomo` command with `args`, run in this directory.
    pub fn qtomo<I, S>(&self, args: I) -> QtomoCmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        QtomoCmd::new(self.path()).args(args)
    }
}

/// A builder for one run of the `qtomo` binary.
#[derive(Debug, Clone)]
pub struct QtomoCmd {
    cwd: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    timeout: Duration,
}

impl QtomoCmd {
    /// `qtomo` with no arguments yet, run in `cwd`.
    pub fn new(cwd: &Path) -> Self {
        Self {
            cwd: cwd.to_path_buf(),
            args: Vec::new(),
            env: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Sets an environment variable for the process (after the scrubbing
    /// of [`SCRUBBED_ENV`], so it can set one of those too).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// Overrides the hard time bound.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The command line, for messages.
    pub fn command_line(&self) -> String {
        let mut line = String::from("qtomo");
        for a in &self.args {
            let a = a.to_string_lossy();
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'') {
                line.push_str(&format!(" '{}'", a.replace('\'', r"'\''")));
            } else {
                line.push(' ');
                line.push_str(&a);
            }
        }
        line
    }

    /// Starts the process with stdout and stderr captured.
    pub fn spawn(self) -> Running {
        let line = self.command_line();
        println!("*** executing in {}: {line}", self.cwd.display());
        let mut cmd = scrubbed_command(env!("CARGO_BIN_EXE_qtomo"));
        cmd.args(&self.args)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {line}: {e}"));
        let stdout = child.stdout.take();
        let stderr = child.stderr.take().map(drain);
        Running {
            line,
            timeout: self.timeout,
            started: Instant::now(),
            stdout,
            stdout_reader: None,
            stderr_reader: stderr,
            guard: ChildGuard(Some(child)),
        }
    }

    /// Starts the process with the read end of its stdout already closed,
    /// so that its first write to stdout fails with a broken pipe.
    pub fn spawn_with_closed_stdout(self) -> Running {
        let mut running = self.spawn();
        drop(running.stdout.take());
        running
    }

    /// Runs to completion within the time bound.
    pub fn run(self) -> Finished {
        self.spawn().wait()
    }

    /// Runs to completion and checks the exit code, showing everything if it differs.
    pub fn expect_code(self, code: i32) -> Finished {
        self.run().expect_code(code)
    }

    /// Runs to completion and expects exit code 0.
    pub fn ok(self) -> Finished {
        self.expect_code(0)
    }
}

/// Reads a pipe to its end on a thread, so a chatty child never blocks.
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

/// Kills the child by pid (SIGKILL) and reaps it if it is still running
/// when dropped: on a timeout, or when a test panics mid-run.
struct ChildGuard(Option<Child>);

impl ChildGuard {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("child not yet reaped")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take()
            && matches!(child.try_wait(), Ok(None))
        {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
        }
    }
}

/// A started qtomo process.
pub struct Running {
    line: String,
    timeout: Duration,
    started: Instant,
    stdout: Option<std::process::ChildStdout>,
    stdout_reader: Option<JoinHandle<Vec<u8>>>,
    stderr_reader: Option<JoinHandle<Vec<u8>>>,
    guard: ChildGuard,
}

impl Running {
    /// The process id.
    pub fn pid(&mut self) -> u32 {
        self.guard.child().id()
    }

    /// Sends `signal` to the process (by pid).
    pub fn signal(&mut self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.pid() as i32);
        println!("*** sending {signal} to pid {pid} ({})", self.line);
        nix::sys::signal::kill(pid, signal).unwrap_or_else(|e| panic!("kill -{signal} {pid}: {e}"));
    }

    /// Whether the process has exited (without reaping its output).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.guard.child().try_wait(), Ok(Some(_)))
    }

    /// Waits for the process to exit, polling until its deadline; past the
    /// deadline it is killed and the test fails, showing what it printed.
    pub fn wait(mut self) -> Finished {
        if let Some(stdout) = self.stdout.take() {
            self.stdout_reader = Some(drain(stdout));
        }
        let deadline = self.started + self.timeout;
        let status = loop {
            match self.guard.child().try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline => break None,
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("waiting for {}: {e}", self.line),
            }
        };
        // On a timeout, dropping the guard kills the process, which closes
        // its pipes and lets the readers finish.
        let child = self.guard.0.take();
        drop(ChildGuard(child));
        let stdout = self
            .stdout_reader
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        let stderr = self
            .stderr_reader
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        let finished = Finished {
            line: self.line.clone(),
            status,
            elapsed: self.started.elapsed(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        };
        if finished.status.is_none() {
            panic!("timed out after {:?}; killed it\n{finished}", self.timeout);
        }
        finished
    }
}

/// A process that has exited, with everything it printed.
pub struct Finished {
    line: String,
    /// `None` if it was killed for overrunning its time bound.
    status: Option<ExitStatus>,
    elapsed: Duration,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
}

impl fmt::Display for Finished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            Some(s) => s.to_string(),
            None => "killed after timing out".to_string(),
        };
        writeln!(f, "command: {}", self.line)?;
        writeln!(f, "status:  {status} after {:.2?}", self.elapsed)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr ---\n{}", self.stderr.trim_end())
    }
}

impl fmt::Debug for Finished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Finished {
    /// The exit code (`None` if killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// Fails the test, showing the process, unless it exited with `code`.
    pub fn expect_code(self, code: i32) -> Self {
        if self.code() != Some(code) {
            panic!("expected exit code {code}\n{self}");
        }
        self
    }

    /// Fails the test, showing the process, unless `cond` holds.
    pub fn check(&self, cond: bool, what: &str) -> &Self {
        if !cond {
            panic!("{what}\n{self}");
        }
        self
    }

    /// Fails the test unless stderr contains every one of `needles`.
    pub fn stderr_has(&self, needles: &[&str]) -> &Self {
        for n in needles {
            self.check(
                self.stderr.contains(n),
                &format!("expected stderr to contain {n:?}"),
            );
        }
        self
    }

    /// Fails the test unless stdout contains every one of `needles`.
    pub fn stdout_has(&self, needles: &[&str]) -> &Self {
        for n in needles {
            self.check(
                self.stdout.contains(n),
                &format!("expected stdout to contain {n:?}"),
            );
        }
        self
    }
}

/// Live (non-zombie) children of `pid`, from /proc.
pub fn children_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let state = f.next().unwrap_or("");
        let ppid: i32 = f.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        if ppid == pid && state != "Z" && state != "X" {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hard time bound holds: an overrunning process is killed and
    /// reaped, and the test fails with a message saying so.
    #[test]
    fn a_process_over_its_time_bound_is_killed() {
        let sandbox = Sandbox::new();
        let mut running = sandbox
            .qtomo(["simulate", "--qubits", "4", "--samples", "20000"])
            .args(["--out", "slow.csv"])
            .timeout(Duration::from_millis(200))
            .spawn();
        let pid = nix::unistd::Pid::from_raw(running.pid() as i32);
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| running.wait()))
            .expect_err("waiting past the deadline fails the test");
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("timed out"), "{message}");
        assert_eq!(
            nix::sys::signal::kill(pid, None),
            Err(nix::errno::Errno::ESRCH),
            "the process is gone"
        );
    }
}
