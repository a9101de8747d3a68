//! OS signals as a small domain enum, delivered to a poll loop.
//!
//! | signal            | event                                   |
//! |-------------------|-----------------------------------------|
//! | SIGINT            | `Shutdown(ShutdownSignal::Interrupt)`   |
//! | SIGTERM           | `Shutdown(ShutdownSignal::Terminate)`   |
//! | SIGHUP            | `Shutdown(ShutdownSignal::Hangup)`, unless ignored on entry (`nohup`) |
//! | SIGQUIT           | `Shutdown(ShutdownSignal::Quit)`        |
//! | SIGUSR2           | `Shutdown(ShutdownSignal::User2)`       |
//! | SIGALRM           | `Shutdown(ShutdownSignal::Alarm)`       |
//! | SIGUSR1           | `Status`                                |
//! | SIGTTIN           | `AddWorker`                             |
//! | SIGTTOU           | `RemoveWorker`                          |
//! | SIGPIPE           | ignored (writes fail with `EPIPE`)      |
//!
//! Every signal whose default action would end the process without a word
//! either drains or is ignored: a run never dies silently. SIGHUP (a closed
//! terminal, an ended ssh session) drains like SIGTERM, as in GNU parallel
//! and cargo-nextest; but when SIGHUP is already ignored at startup
//! (`nohup`), it stays ignored, since that is what the user asked for.
//! SIGUSR2 and SIGALRM are the warnings batch systems send before a kill
//! (Grid Engine's `-notify` sends SIGUSR2; SIGALRM is a timer running out),
//! so they drain too: the run stops resumably instead of being cut off.
//!
//! The handlers installed by signal-hook only record the signal and write a
//! byte to a self-pipe; nothing else runs in signal context. The read end of
//! that pipe is exposed with [`AsFd`] so a `poll` loop can wait on it next to
//! other descriptors; [`SignalHandler::try_recv`] and
//! [`SignalHandler::recv_timeout`] turn what arrived into [`SignalEvent`]s.
//!
//! Like the kernel, the handler coalesces repeats of one signal that arrive
//! before they are read. Escalation (first shutdown signal drains, the second
//! kills) is counted by the pure [`ShutdownCounter`].
//!
//! Caveats: once the handler is dropped, signal-hook leaves its low-level
//! handler in place, so the listed signals are then ignored rather than
//! getting their default action. A background job that writes to a terminal
//! with `stty tostop` receives SIGTTOU, which reads here as `RemoveWorker`;
//! run the supervisor in the foreground or with output redirected.
//!
//! # Layout
//!
//! * [`SignalEvent`], [`ShutdownSignal`]: the domain enum.
//! * [`SignalHandler`] ([`SignalHandlerKind::Standard`] or `Noop` for tests).
//! * [`ShutdownCounter`] → [`ShutdownRequest`]: pure escalation.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigHandler, Signal};
use signal_hook::SigId;
use signal_hook::consts::{
    SIGALRM, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2,
};
use signal_hook::iterator::Signals;

/// Which signal asked for shutdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShutdownSignal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (systemd stop, scancel, kill).
    Terminate,
    /// SIGHUP (the terminal or ssh session went away).
    Hangup,
    /// SIGQUIT (Ctrl-\\).
    Quit,
    /// SIGUSR2 (a batch system's warning before a kill).
    User2,
    /// SIGALRM (a timer ran out).
    Alarm,
}

impl ShutdownSignal {
    /// The signal's name, e.g. `SIGHUP`.
    pub fn name(self) -> &'static str {
        match self {
            ShutdownSignal::Interrupt => "SIGINT",
            ShutdownSignal::Terminate => "SIGTERM",
            ShutdownSignal::Hangup => "SIGHUP",
            ShutdownSignal::Quit => "SIGQUIT",
            ShutdownSignal::User2 => "SIGUSR2",
            ShutdownSignal::Alarm => "SIGALRM",
        }
    }
}

/// A signal, as the supervisor sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignalEvent {
    /// Stop: drain on the first, kill on the second.
    Shutdown(ShutdownSignal),
    /// SIGUSR1: log a status line.
    Status,
    /// SIGTTIN: add one worker.
    AddWorker,
    /// SIGTTOU: remove one worker.
    RemoveWorker,
}

impl SignalEvent {
    /// The event for a raw signal number, if it is one we handle.
    pub fn from_signal(sig: i32) -> Option<Self> {
        match sig {
            SIGINT => Some(SignalEvent::Shutdown(ShutdownSignal::Interrupt)),
            SIGTERM => Some(SignalEvent::Shutdown(ShutdownSignal::Terminate)),
            SIGHUP => Some(SignalEvent::Shutdown(ShutdownSignal::Hangup)),
            SIGQUIT => Some(SignalEvent::Shutdown(ShutdownSignal::Quit)),
            SIGUSR2 => Some(SignalEvent::Shutdown(ShutdownSignal::User2)),
            SIGALRM => Some(SignalEvent::Shutdown(ShutdownSignal::Alarm)),
            SIGUSR1 => Some(SignalEvent::Status),
            SIGTTIN => Some(SignalEvent::AddWorker),
            SIGTTOU => Some(SignalEvent::RemoveWorker),
            _ => None,
        }
    }
}

/// The signals [`SignalHandlerKind::Standard`] listens to (SIGHUP only
/// when it is not ignored on entry).
pub const HANDLED_SIGNALS: [i32; 9] = [
    SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR2, SIGALRM, SIGUSR1, SIGTTIN, SIGTTOU,
];

/// Errors from installing or reading the signal handler.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    /// The self-pipe could not be created or configured.
    #[error("failed to create the signal wake-up pipe")]
    WakePipe {
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A handler could not be registered.
    #[error("failed to register a handler for signal {signal}")]
    Register {
        /// The signal number.
        signal: i32,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The disposition of SIGHUP could not be read.
    #[error("failed to read the disposition of SIGHUP")]
    QueryHangup {
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// SIGPIPE could not be ignored.
    #[error("failed to ignore SIGPIPE")]
    IgnorePipe {
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Waiting on the wake-up pipe failed.
    #[error("failed to wait for signals")]
    Wait {
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// Which handler to install.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalHandlerKind {
    /// Handle `HANDLED_SIGNALS` and ignore SIGPIPE.
    Standard,
    /// Install nothing and never report an event; useful for tests.
    Noop,
}

struct Installed {
    signals: Signals,
    wake_ids: Vec<SigId>,
    hangup_ignored: bool,
}

/// Receives [`SignalEvent`]s. See the module docs.
pub struct SignalHandler {
    installed: Option<Installed>,
    wake_rx: UnixStream,
    /// Kept open so the read end never sees EOF (the Noop kind has no
    /// other writer).
    _wake_tx: UnixStream,
    queue: VecDeque<SignalEvent>,
}

impl std::fmt::Debug for SignalHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalHandler")
            .field("installed", &self.installed.is_some())
            .field("queue", &self.queue)
            .finish()
    }
}

impl SignalHandler {
    /// Installs a handler of the given kind.
    pub fn new(kind: SignalHandlerKind) -> Result<Self, SignalError> {
        let wake = |source| SignalError::WakePipe { source };
        let (wake_rx, wake_tx) = UnixStream::pair().map_err(wake)?;
        wake_rx.set_nonblocking(true).map_err(wake)?;
        let installed = match kind {
            SignalHandlerKind::Noop => None,
            SignalHandlerKind::Standard => Some(Self::install(&wake_tx)?),
        };
        Ok(Self {
            installed,
            wake_rx,
            _wake_tx: wake_tx,
            queue: VecDeque::new(),
        })
    }

    fn install(wake_tx: &UnixStream) -> Result<Installed, SignalError> {
        // SAFETY: SIG_IGN installs no handler code, so no async-signal
        // safety question arises; it only changes SIGPIPE's disposition.
        unsafe { nix::sys::signal::signal(Signal::SIGPIPE, SigHandler::SigIgn) }.map_err(|e| {
            SignalError::IgnorePipe {
                source: io::Error::from(e),
            }
        })?;
        let hangup_ignored = hangup_ignored_on_entry()?;
        let wanted: Vec<i32> = HANDLED_SIGNALS
            .into_iter()
            .filter(|&s| !(s == SIGHUP && hangup_ignored))
            .collect();
        // The iterator registers first, so by the time the wake-up byte is
        // written (by the handler registered second) the signal is pending.
        let signals = Signals::new(&wanted).map_err(|source| SignalError::Register {
            signal: wanted[0],
            source,
        })?;
        let mut wake_ids = Vec::with_capacity(wanted.len());
        for &sig in &wanted {
            let registered = wake_tx
                .try_clone()
                .and_then(|tx| signal_hook::low_level::pipe::register(sig, tx));
            match registered {
                Ok(id) => wake_ids.push(id),
                Err(source) => {
                    for id in wake_ids {
                        signal_hook::low_level::unregister(id);
                    }
                    return Err(SignalError::Register {
                        signal: sig,
                        source,
                    });
                }
            }
        }
        Ok(Installed {
            signals,
            wake_ids,
            hangup_ignored,
        })
    }

    /// Whether SIGHUP was ignored when the process started (`nohup`) and
    /// is therefore left ignored rather than drained on.
    pub fn hangup_ignored(&self) -> bool {
        self.installed.as_ref().is_some_and(|i| i.hangup_ignored)
    }

    /// Drains the wake-up pipe and queues every pending signal.
    fn collect(&mut self) {
        let mut buf = [0u8; 64];
        // Non-blocking: stops at WouldBlock (or EOF, which cannot happen
        // while we hold the write end via the registrations).
        while let Ok(n) = self.wake_rx.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        if let Some(inst) = &mut self.installed {
            self.queue
                .extend(inst.signals.pending().filter_map(SignalEvent::from_signal));
        }
    }

    /// The next event if one has arrived, without blocking.
    pub fn try_recv(&mut self) -> Option<SignalEvent> {
        if self.queue.is_empty() {
            self.collect();
        }
        self.queue.pop_front()
    }

    /// Waits up to `timeout` for the next event.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<SignalEvent>, SignalError> {
        if let Some(ev) = self.try_recv() {
            return Ok(Some(ev));
        }
        // Round up so a sub-millisecond timeout does not spin.
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(self.wake_rx.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(self.try_recv()),
            Err(e) => Err(SignalError::Wait {
                source: io::Error::from(e),
            }),
        }
    }
}

/// Whether SIGHUP's disposition is SIG_IGN (as `nohup` leaves it). Reads
/// it by swapping in SIG_IGN and putting the old disposition back.
fn hangup_ignored_on_entry() -> Result<bool, SignalError> {
    use nix::sys::signal::{SaFlags, SigAction, SigSet, sigaction};
    let err = |e: nix::errno::Errno| SignalError::QueryHangup {
        source: io::Error::from(e),
    };
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_IGN installs no handler code; the previous action is
    // restored at once unless it was SIG_IGN too. No handler of ours is
    // registered for SIGHUP yet, so nothing is lost in between (a SIGHUP
    // arriving in that instant is ignored, as under nohup).
    let old = unsafe { sigaction(Signal::SIGHUP, &ignore) }.map_err(err)?;
    if matches!(old.handler(), SigHandler::SigIgn) {
        return Ok(true);
    }
    // SAFETY: reinstates exactly the action that was in place (SIG_DFL or
    // a handler installed earlier by this process through signal-hook).
    unsafe { sigaction(Signal::SIGHUP, &old) }.map_err(err)?;
    Ok(false)
}

impl AsFd for SignalHandler {
    /// The read end of the self-pipe: readable when a signal has arrived.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.wake_rx.as_fd()
    }
}

impl Drop for SignalHandler {
    fn drop(&mut self) {
        if let Some(inst) = self.installed.take() {
            for id in inst.wake_ids {
                signal_hook::low_level::unregister(id);
            }
            inst.signals.handle().close();
        }
    }
}

/// What the supervisor should do about a shutdown signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownRequest {
    /// First signal: stop dispatching, drain within the grace period.
    Once(ShutdownSignal),
    /// Second (or later) signal: kill the workers now.
    Twice(ShutdownSignal),
}

/// Counts shutdown signals; pure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShutdownCounter {
    count: u32,
}

impl ShutdownCounter {
    /// A counter that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one shutdown signal and says what it asks for. A third or
    /// later signal asks for [`ShutdownRequest::Twice`] again; the caller
    /// may consult [`count`](Self::count) to abort harder.
    pub fn record(&mut self, signal: ShutdownSignal) -> ShutdownRequest {
        self.count = self.count.saturating_add(1);
        if self.count == 1 {
            ShutdownRequest::Once(signal)
        } else {
            ShutdownRequest::Twice(signal)
        }
    }

    #[cfg(test)]
    /// How many shutdown signals were recorded.
    pub fn count(&self) -> u32 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::testutil::{ChildRole, child_role, spawn_child};
    use nix::sys::signal::kill;
    use std::time::Instant;

    #[test]
    fn counter_escalates() {
        let mut c = ShutdownCounter::new();
        assert_eq!(c.count(), 0);
        assert_eq!(
            c.record(ShutdownSignal::Terminate),
            ShutdownRequest::Once(ShutdownSignal::Terminate)
        );
        assert_eq!(
            c.record(ShutdownSignal::Interrupt),
            ShutdownRequest::Twice(ShutdownSignal::Interrupt)
        );
        assert_eq!(
            c.record(ShutdownSignal::Terminate),
            ShutdownRequest::Twice(ShutdownSignal::Terminate)
        );
        assert_eq!(c.count(), 3);
    }

    #[test]
    fn mapping_is_total_on_handled_signals() {
        for sig in HANDLED_SIGNALS {
            assert!(SignalEvent::from_signal(sig).is_some(), "{sig}");
        }
        assert_eq!(
            SignalEvent::from_signal(signal_hook::consts::SIGHUP),
            Some(SignalEvent::Shutdown(ShutdownSignal::Hangup))
        );
        assert_eq!(
            SignalEvent::from_signal(signal_hook::consts::SIGWINCH),
            None
        );
    }

    #[test]
    fn noop_reports_nothing() {
        let mut h = SignalHandler::new(SignalHandlerKind::Noop).expect("noop");
        assert_eq!(h.try_recv(), None);
        let t = Instant::now();
        assert_eq!(
            h.recv_timeout(Duration::from_millis(20)).expect("wait"),
            None
        );
        assert!(t.elapsed() >= Duration::from_millis(15));
    }

    /// Child side of [`real_signals_become_events`].
    #[test]
    fn child_entry_signals() {
        if child_role() != Some(ChildRole::Signals) {
            return;
        }
        // This test is about the mapping: undo a `nohup` the test runner
        // may have been started under.
        // SAFETY: SIG_DFL installs no handler code.
        unsafe { nix::sys::signal::signal(Signal::SIGHUP, SigHandler::SigDfl) }.expect("SIG_DFL");
        let mut h = SignalHandler::new(SignalHandlerKind::Standard).expect("install");
        assert!(!h.hangup_ignored());
        let mut counter = ShutdownCounter::new();
        println!("QTOMO-CHILD ready");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let Some(ev) = h.recv_timeout(Duration::from_millis(500)).expect("wait") else {
                continue;
            };
            match ev {
                SignalEvent::Shutdown(s) => {
                    let req = counter.record(s);
                    println!("QTOMO-CHILD event={ev:?} request={req:?}");
                    if matches!(req, ShutdownRequest::Twice(_)) {
                        return;
                    }
                }
                _ => println!("QTOMO-CHILD event={ev:?}"),
            }
        }
        panic!("child timed out waiting for signals");
    }

    #[test]
    fn real_signals_become_events() {
        let mut s = spawn_child(
            ChildRole::Signals,
            "supervisor::signals::tests::child_entry_signals",
            |c| c,
        );
        let t = Duration::from_secs(20);
        s.expect_line("ready", t);
        let pid = s.child.pid();
        // SIGPIPE must not kill the child; the next event proves it lives.
        kill(pid, Signal::SIGPIPE).expect("kill");
        let steps = [
            (Signal::SIGUSR1, "event=Status"),
            (Signal::SIGTTIN, "event=AddWorker"),
            (Signal::SIGTTOU, "event=RemoveWorker"),
            (
                Signal::SIGHUP,
                "event=Shutdown(Hangup) request=Once(Hangup)",
            ),
            (Signal::SIGQUIT, "event=Shutdown(Quit) request=Twice(Quit)"),
        ];
        for (sig, line) in steps {
            kill(pid, sig).expect("kill");
            assert_eq!(s.expect_line("event=", t), line);
        }
        let out = s.finish();
        assert!(
            out.status.is_some_and(|st| st.success()),
            "child failed: {out:?}"
        );
    }
}
