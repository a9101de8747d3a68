//! Spawning worker processes, signalling their process groups, reaping them
//! without blocking, and classifying how they ended.
//!
//! A worker is a separate program (in qtomo, the supervisor's own binary,
//! [`RUNNING_EXECUTABLE`], with a hidden subcommand), started with
//! [`WorkerCommand`]:
//!
//! * in its own process group (`process_group(0)`), so that a terminal's
//!   Ctrl-C reaches only the supervisor and the supervisor can signal a worker
//!   together with anything the worker started ([`kill_group`]);
//! * with `PR_SET_PDEATHSIG(SIGKILL)`, so it dies if the supervisor dies,
//!   even by SIGKILL. The child checks after `prctl` that its parent is still
//!   the process that forked it, closing the race where the parent dies first.
//!   Linux ties this signal to the *thread* that forked the child: spawn
//!   workers from a thread that lives as long as the supervisor (the main
//!   thread);
//! * with explicitly inherited descriptors ([`WorkerCommand::inherit_fd`]):
//!   close-on-exec is cleared only in the child, after fork, so no other
//!   child spawned concurrently by another thread inherits them;
//! * without `NOTIFY_SOCKET`, `WATCHDOG_PID` and `WATCHDOG_USEC`, so a worker
//!   cannot talk to systemd on the supervisor's behalf.
//!
//! Waiting is done with `waitpid` on the worker's pid only (never `-1`), so
//! this module can share a process with other code that spawns children.
//!
//! # Layout
//!
//! * [`WorkerCommand`] → [`WorkerChild`]: spawn, RAII handle (dropping a
//!   running child kills its group and reaps it).
//! * [`kill_group`], [`terminate_with_grace`] → [`TerminateResult`].
//! * [`classify`] → [`ExitOutcome`]: pure, with a human description.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// The path that makes `execve` run the very binary the calling process
/// runs. The kernel resolves it to the running image, not to whatever file
/// now sits at the path the process was started from, so workers spawned
/// after the binary on disk was upgraded or deleted still run the
/// supervisor's code, and every record of a run comes from one build.
pub const RUNNING_EXECUTABLE: &str = "/proc/self/exe";

/// Names the calling process after the file name of its `argv[0]`.
///
/// A worker exec'd through [`RUNNING_EXECUTABLE`] is named `exe` by the
/// kernel; with `argv[0]` set to the real path by the supervisor, this gives
/// it back the binary's name in `ps`, `top` and `pgrep`. Best effort: a name
/// that cannot be set is left alone.
pub fn name_process_after_arg0() {
    use std::os::unix::ffi::OsStrExt;
    let Some(arg0) = std::env::args_os().next() else {
        return;
    };
    let path = std::path::Path::new(&arg0);
    let Some(name) = path.file_name() else {
        return;
    };
    // The kernel keeps 15 bytes plus the terminating NUL; argv strings
    // hold no NUL, so CString::new cannot fail on them.
    let bytes = &name.as_bytes()[..name.len().min(15)];
    if let Ok(cname) = std::ffi::CString::new(bytes) {
        let _ = nix::sys::prctl::set_name(&cname);
    }
}

/// Environment variables removed from every worker's environment.
pub const SCRUBBED_ENV: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC"];

/// How long [`terminate_with_grace`] and [`WorkerChild`]'s drop wait for a
/// child to disappear after SIGKILL.
pub const KILL_WAIT: Duration = Duration::from_secs(5);

/// Errors from spawning, signalling or waiting for a worker.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The program could not be started.
    #[error("failed to spawn worker program {program:?}")]
    Spawn {
        /// The program path.
        program: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A signal could not be sent.
    #[error("failed to send {signal} to process group {pgid}")]
    Signal {
        /// The process group.
        pgid: i32,
        /// The signal.
        signal: Signal,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `waitpid` failed.
    #[error("failed to wait for worker {pid}")]
    Wait {
        /// The worker pid.
        pid: i32,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The worker did not disappear even after SIGKILL.
    #[error("worker {pid} did not exit within {waited:?} of SIGKILL")]
    Unkillable {
        /// The worker pid.
        pid: i32,
        /// How long we waited.
        waited: Duration,
    },
}

/// Builder for a worker process. See the module docs for what it sets up.
#[must_use]
#[derive(Debug)]
pub struct WorkerCommand {
    cmd: Command,
    program: String,
    inherited: Vec<OwnedFd>,
}

impl WorkerCommand {
    /// A command running `program`, with the environment of this process
    /// minus [`SCRUBBED_ENV`].
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        let mut cmd = Command::new(program.as_ref());
        for var in SCRUBBED_ENV {
            cmd.env_remove(var);
        }
        Self {
            cmd,
            program: program.as_ref().to_string_lossy().into_owned(),
            inherited: Vec::new(),
        }
    }

    /// Sets the name the child sees as `argv[0]` (and `ps` shows), when it
    /// should differ from the program path.
    pub fn arg0(mut self, name: impl AsRef<OsStr>) -> Self {
        self.cmd.arg0(name);
        self
    }

    #[cfg(test)]
    /// Appends one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.cmd.arg(arg);
        self
    }

    /// Appends several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Sets the child's standard input.
    pub fn stdin(mut self, cfg: impl Into<Stdio>) -> Self {
        self.cmd.stdin(cfg);
        self
    }

    #[cfg(test)]
    /// Sets the child's standard output.
    pub fn stdout(mut self, cfg: impl Into<Stdio>) -> Self {
        self.cmd.stdout(cfg);
        self
    }

    /// Passes `fd` to the child under the same number and sets `env_var` to
    /// that number. The parent's copy is closed once the child is spawned.
    pub fn inherit_fd(mut self, fd: OwnedFd, env_var: &str) -> Self {
        self.cmd.env(env_var, fd.as_raw_fd().to_string());
        self.inherited.push(fd);
        self
    }

    /// Starts the worker.
    pub fn spawn(mut self) -> Result<WorkerChild, ProcessError> {
        let parent = nix::unistd::getpid().as_raw();
        let fds: Vec<RawFd> = self.inherited.iter().map(AsRawFd::as_raw_fd).collect();
        self.cmd.process_group(0);
        let hook = move || -> io::Result<()> {
            for &fd in &fds {
                // SAFETY: F_SETFD with 0 only clears FD_CLOEXEC on a
                // descriptor the parent holds open (it owns it in
                // `self.inherited` until after the spawn). fcntl is
                // async-signal-safe.
                if unsafe { nix::libc::fcntl(fd, nix::libc::F_SETFD, 0) } == -1 {
                    return Err(io::Error::last_os_error());
                }
            }
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)?;
            // If the parent died before prctl took effect we were reparented
            // and no death signal will ever come: give up now.
            if nix::unistd::getppid().as_raw() != parent {
                return Err(io::Error::from(Errno::ESRCH));
            }
            Ok(())
        };
        // SAFETY: the hook runs in the forked child before exec. It only
        // calls async-signal-safe functions (fcntl, prctl, getppid), does not
        // allocate (the Vec was built before fork and is only iterated;
        // io::Error from an errno does not allocate), and takes no locks.
        unsafe {
            self.cmd.pre_exec(hook);
        }
        let child = self.cmd.spawn().map_err(|source| ProcessError::Spawn {
            program: self.program.clone(),
            source,
        })?;
        // The child has its copies now; close ours.
        self.inherited.clear();
        let pid = Pid::from_raw(child.id() as i32);
        Ok(WorkerChild {
            _child: child,
            pid,
            status: None,
        })
    }
}

/// A running (or reaped) worker. Dropping it while the worker has not been
/// reaped sends SIGKILL to its process group and reaps it (waiting at most
/// [`KILL_WAIT`]).
#[derive(Debug)]
pub struct WorkerChild {
    /// Holds the child's pipes, if any were requested, open.
    _child: Child,
    pid: Pid,
    status: Option<ExitStatus>,
}

impl WorkerChild {
    /// The worker's pid, which is also its process group id.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    #[cfg(test)]
    /// The exit status, once reaped.
    pub fn status(&self) -> Option<ExitStatus> {
        self.status
    }

    #[cfg(test)]
    /// Takes the worker's stdout pipe, if one was requested.
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self._child.stdout.take()
    }

    /// Sends `signal` to the worker's process group.
    pub fn kill_group(&self, signal: Signal) -> Result<SignalDelivery, ProcessError> {
        kill_group(self.pid, signal)
    }

    /// Reaps the worker if it has exited, without blocking.
    pub fn try_reap(&mut self) -> Result<Option<ExitStatus>, ProcessError> {
        if self.status.is_none() {
            self.status = try_reap_pid(self.pid)?;
        }
        Ok(self.status)
    }

    /// Waits at most `timeout` for the worker to exit and reaps it.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>, ProcessError> {
        let deadline = Instant::now() + timeout;
        let mut nap = Duration::from_millis(1);
        loop {
            if let Some(st) = self.try_reap()? {
                return Ok(Some(st));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            std::thread::sleep(nap.min(deadline - now));
            nap = (nap * 2).min(Duration::from_millis(20));
        }
    }
}

impl Drop for WorkerChild {
    fn drop(&mut self) {
        if self.status.is_none() {
            // Best effort: nothing can be reported from drop.
            let _ = kill_group(self.pid, Signal::SIGKILL);
            let _ = self.wait_timeout(KILL_WAIT);
        }
    }
}

/// Whether a signal reached a process group.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalDelivery {
    /// The group exists and was signalled.
    Delivered,
    /// No process is left in the group (ESRCH).
    Gone,
}

/// Sends `signal` to the process group `pgid`.
pub fn kill_group(pgid: Pid, signal: Signal) -> Result<SignalDelivery, ProcessError> {
    match killpg(pgid, signal) {
        Ok(()) => Ok(SignalDelivery::Delivered),
        Err(Errno::ESRCH) => Ok(SignalDelivery::Gone),
        Err(e) => Err(ProcessError::Signal {
            pgid: pgid.as_raw(),
            signal,
            source: e.into(),
        }),
    }
}

/// How [`terminate_with_grace`] ended a worker.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TerminateResult {
    /// The worker exited by itself or on SIGTERM within the grace period
    /// (or had already exited).
    Exited(ExitStatus),
    /// The grace period ran out (or was zero) and the group got SIGKILL.
    Killed(ExitStatus),
}

/// SIGTERM to the worker's group, wait up to `grace`, then SIGKILL to the
/// group. A zero grace sends SIGKILL at once. The worker is reaped.
pub fn terminate_with_grace(
    child: &mut WorkerChild,
    grace: Duration,
) -> Result<TerminateResult, ProcessError> {
    if let Some(st) = child.try_reap()? {
        return Ok(TerminateResult::Exited(st));
    }
    if !grace.is_zero() {
        let _ = child.kill_group(Signal::SIGTERM)?;
        if let Some(st) = child.wait_timeout(grace)? {
            return Ok(TerminateResult::Exited(st));
        }
    }
    let _ = child.kill_group(Signal::SIGKILL)?;
    match child.wait_timeout(KILL_WAIT)? {
        Some(st) => Ok(TerminateResult::Killed(st)),
        None => Err(ProcessError::Unkillable {
            pid: child.pid.as_raw(),
            waited: KILL_WAIT,
        }),
    }
}

/// `waitpid(pid, WNOHANG)`, retried on EINTR, as a std `ExitStatus`.
fn try_reap_pid(pid: Pid) -> Result<Option<ExitStatus>, ProcessError> {
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => {
                return Ok(Some(ExitStatus::from_raw((code & 0xff) << 8)));
            }
            Ok(WaitStatus::Signaled(_, sig, core)) => {
                let raw = sig as i32 | if core { 0x80 } else { 0 };
                return Ok(Some(ExitStatus::from_raw(raw)));
            }
            // Still running, or a stop/continue report we did not ask for.
            Ok(_) => return Ok(None),
            Err(Errno::EINTR) => continue,
            Err(e) => {
                return Err(ProcessError::Wait {
                    pid: pid.as_raw(),
                    source: e.into(),
                });
            }
        }
    }
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitOutcome {
    /// Exit code 0.
    Ok,
    /// A non-zero exit code.
    Code(i32),
    /// Terminated by this signal number.
    Signal(i32),
}

/// Classifies an exit status. Pure.
pub fn classify(status: ExitStatus) -> ExitOutcome {
    match (status.code(), status.signal()) {
        (Some(0), _) => ExitOutcome::Ok,
        (Some(code), _) => ExitOutcome::Code(code),
        (None, Some(sig)) => ExitOutcome::Signal(sig),
        // Stopped or continued statuses are not final; report them raw.
        (None, None) => ExitOutcome::Code(status.into_raw()),
    }
}

impl ExitOutcome {
    /// A short human description: "exited successfully", "exited with code
    /// 3", "killed by SIGSEGV".
    pub fn describe(&self) -> String {
        self.to_string()
    }
}

impl std::fmt::Display for ExitOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            ExitOutcome::Ok => f.write_str("exited successfully"),
            ExitOutcome::Code(c) => write!(f, "exited with code {c}"),
            ExitOutcome::Signal(s) => match Signal::try_from(s) {
                Ok(sig) => write!(f, "killed by {}", sig.as_str()),
                Err(_) => write!(f, "killed by signal {s}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::testutil::{ChildRole, child_role, spawn_child};

    fn sh(script: &str) -> WorkerCommand {
        WorkerCommand::new("/bin/sh").arg("-c").arg(script)
    }

    #[test]
    fn classify_is_pure_and_describes() {
        assert_eq!(classify(ExitStatus::from_raw(0)), ExitOutcome::Ok);
        assert_eq!(classify(ExitStatus::from_raw(3 << 8)), ExitOutcome::Code(3));
        assert_eq!(classify(ExitStatus::from_raw(11)), ExitOutcome::Signal(11));
        assert_eq!(
            classify(ExitStatus::from_raw(11 | 0x80)),
            ExitOutcome::Signal(11)
        );
        assert_eq!(ExitOutcome::Signal(11).describe(), "killed by SIGSEGV");
        assert_eq!(ExitOutcome::Signal(9).describe(), "killed by SIGKILL");
        assert_eq!(ExitOutcome::Code(3).describe(), "exited with code 3");
        assert_eq!(ExitOutcome::Ok.describe(), "exited successfully");
        assert_eq!(ExitOutcome::Signal(200).describe(), "killed by signal 200");
    }

    #[test]
    fn real_exits_are_classified() {
        let mut ok = sh("exit 0").spawn().expect("spawn");
        let mut code = sh("exit 3").spawn().expect("spawn");
        let mut segv = sh("kill -SEGV $$").spawn().expect("spawn");
        let t = Duration::from_secs(10);
        let ok = ok.wait_timeout(t).expect("wait").expect("exited");
        let code = code.wait_timeout(t).expect("wait").expect("exited");
        let segv = segv.wait_timeout(t).expect("wait").expect("exited");
        assert_eq!(classify(ok), ExitOutcome::Ok);
        assert_eq!(classify(code), ExitOutcome::Code(3));
        assert_eq!(classify(segv).describe(), "killed by SIGSEGV");
    }

    #[test]
    fn worker_gets_own_group_and_scrubbed_env() {
        let mut c = sh("cut -d' ' -f5 /proc/$$/stat; echo notify=${NOTIFY_SOCKET-unset}")
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn");
        let out = c.take_stdout().expect("stdout");
        let st = c
            .wait_timeout(Duration::from_secs(10))
            .expect("wait")
            .expect("exited");
        assert!(st.success());
        let text = std::io::read_to_string(out).expect("read");
        let mut lines = text.lines();
        let pgid: i32 = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("pgid line");
        assert_eq!(pgid, c.pid().as_raw(), "worker leads its own group");
        assert_ne!(pgid, nix::unistd::getpgrp().as_raw());
        // NOTIFY_SOCKET is removed even if this process had it (it does not
        // in tests; the line proves the shell saw it unset).
        assert_eq!(lines.next(), Some("notify=unset"));
    }

    #[test]
    fn sigterm_within_grace_is_exited() {
        let mut c = sh("exec sleep 30").spawn().expect("spawn");
        let r = terminate_with_grace(&mut c, Duration::from_secs(10)).expect("terminate");
        match r {
            TerminateResult::Exited(st) => {
                assert_eq!(classify(st), ExitOutcome::Signal(Signal::SIGTERM as i32));
            }
            other => panic!("expected Exited, got {other:?}"),
        }
    }

    #[test]
    fn sigterm_ignored_escalates_to_kill() {
        // The shell ignores TERM and waits on a child that ignores it too
        // (ignored dispositions survive exec); both are in the group.
        let mut c = sh("trap '' TERM; sleep 30 & wait; wait")
            .spawn()
            .expect("spawn");
        // Let the shell install its trap before signalling.
        std::thread::sleep(Duration::from_millis(200));
        let start = Instant::now();
        let r = terminate_with_grace(&mut c, Duration::from_millis(300)).expect("terminate");
        assert!(start.elapsed() < Duration::from_secs(5));
        match r {
            TerminateResult::Killed(st) => {
                assert_eq!(classify(st), ExitOutcome::Signal(Signal::SIGKILL as i32));
            }
            other => panic!("expected Killed, got {other:?}"),
        }
        // The whole group is gone (the background sleep included).
        let deadline = Instant::now() + Duration::from_secs(5);
        while kill_group(c.pid(), Signal::SIGKILL).expect("killpg") == SignalDelivery::Delivered {
            assert!(Instant::now() < deadline, "group members survive");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn try_reap_collects_only_exited_children() {
        let mut quick = sh("exit 7").spawn().expect("spawn");
        let mut slow = sh("exec sleep 30").spawn().expect("spawn");
        let deadline = Instant::now() + Duration::from_secs(10);
        let st = loop {
            assert!(slow.try_reap().expect("reap").is_none());
            if let Some(st) = quick.try_reap().expect("reap") {
                break st;
            }
            assert!(Instant::now() < deadline, "quick child never reaped");
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(classify(st), ExitOutcome::Code(7));
        assert_eq!(quick.status(), Some(st));
        assert!(slow.status().is_none());
        // Dropping `slow` kills and reaps it (RAII guard).
        let pid = slow.pid();
        drop(slow);
        assert_eq!(
            kill_group(pid, Signal::SIGKILL).expect("killpg"),
            SignalDelivery::Gone
        );
    }

    #[test]
    fn zero_grace_kills_at_once() {
        let mut c = sh("exec sleep 30").spawn().expect("spawn");
        let r = terminate_with_grace(&mut c, Duration::ZERO).expect("terminate");
        assert!(matches!(r, TerminateResult::Killed(_)), "{r:?}");
    }

    /// Child side of [`worker_dies_with_its_parent`]: spawns a long sleep
    /// as a worker, reports its pid, then waits to be killed.
    #[test]
    fn child_entry_pdeath_parent() {
        if child_role() != Some(ChildRole::PdeathParent) {
            return;
        }
        let grandchild = WorkerCommand::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn");
        println!("QTOMO-CHILD grandchild={}", grandchild.pid());
        std::thread::sleep(Duration::from_secs(30));
    }

    fn is_dead(pid: i32) -> bool {
        // Gone, or a zombie waiting for a (possibly non-reaping) init.
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(s) => s
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
        }
    }

    #[test]
    fn worker_dies_with_its_parent() {
        let mut parent = spawn_child(
            ChildRole::PdeathParent,
            "supervisor::process::tests::child_entry_pdeath_parent",
            |c| c,
        );
        let line = parent.expect_line("grandchild=", Duration::from_secs(20));
        let gc: i32 = line
            .trim_start_matches("grandchild=")
            .parse()
            .expect("grandchild pid");
        assert!(!is_dead(gc), "grandchild should be running");
        // SIGKILL only the parent's process group; the grandchild has its
        // own group, so only PR_SET_PDEATHSIG can take it down.
        let _ = parent.child.kill_group(Signal::SIGKILL).expect("killpg");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !is_dead(gc) {
            if Instant::now() > deadline {
                // Clean up before failing.
                let _ = nix::sys::signal::kill(Pid::from_raw(gc), Signal::SIGKILL);
                panic!("grandchild {gc} outlived its parent");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
