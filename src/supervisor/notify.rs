//! systemd service notifications (`Type=notify`, `WatchdogSec=`).
//!
//! Messages are formatted with the sd-notify crate's [`NotifyState`] and
//! sent as one datagram to the socket named by `$NOTIFY_SOCKET` (a path, or
//! an abstract name written `@name`). The socket is resolved once, by
//! [`Notifier::from_env`] or explicitly by [`Notifier::with_socket`], so
//! tests never need to touch the process environment. Workers do not get
//! `NOTIFY_SOCKET` (see `process::SCRUBBED_ENV`); only the supervisor talks
//! to systemd.
//!
//! # Layout
//!
//! * [`Notifier`]: `ready`, `status`, `stopping`, `watchdog`,
//!   `extend_timeout`.
//! * [`watchdog_interval`] / [`watchdog_interval_from`]: how often to send
//!   `WATCHDOG=1` (half of `WATCHDOG_USEC`).

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

pub use sd_notify::NotifyState;

/// Environment variable naming the notification socket.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";

/// Errors from sending a notification.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The socket address is empty or not a valid Unix socket address.
    #[error("invalid notification socket address {addr:?}")]
    BadAddress {
        /// The address as given.
        addr: OsString,
        /// Why it is invalid.
        #[source]
        source: io::Error,
    },
    /// Creating the sending socket failed.
    #[error("failed to create a datagram socket for notifications")]
    Socket {
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Sending failed (e.g. nobody listens on the socket).
    #[error("failed to send notification to {addr:?}")]
    Send {
        /// The socket address.
        addr: OsString,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// Sends notifications to one service-manager socket.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
    display: OsString,
}

impl Notifier {
    /// A notifier for `$NOTIFY_SOCKET`, or `None` when it is unset or empty
    /// (not running under systemd with `Type=notify`).
    pub fn from_env() -> Result<Option<Self>, NotifyError> {
        match std::env::var_os(NOTIFY_SOCKET_ENV) {
            Some(v) if !v.is_empty() => Self::with_socket(&v).map(Some),
            _ => Ok(None),
        }
    }

    /// A notifier for an explicit socket: a file-system path, or `@name`
    /// for a Linux abstract socket, exactly as systemd writes it.
    pub fn with_socket(addr: &OsStr) -> Result<Self, NotifyError> {
        let bad = |source| NotifyError::BadAddress {
            addr: addr.to_owned(),
            source,
        };
        let bytes = addr.as_bytes();
        let parsed = match bytes.split_first() {
            None => Err(io::Error::new(io::ErrorKind::InvalidInput, "empty")),
            Some((b'@', name)) => SocketAddr::from_abstract_name(name),
            Some(_) => SocketAddr::from_pathname(addr),
        }
        .map_err(bad)?;
        let socket = UnixDatagram::unbound().map_err(|source| NotifyError::Socket { source })?;
        Ok(Self {
            socket,
            addr: parsed,
            display: addr.to_owned(),
        })
    }

    /// Sends `states` as one datagram, one `KEY=VALUE` per line.
    pub fn notify(&self, states: &[NotifyState<'_>]) -> Result<(), NotifyError> {
        let mut msg = String::new();
        for s in states {
            msg.push_str(&s.to_string());
            msg.push('\n');
        }
        let send = |source| NotifyError::Send {
            addr: self.display.clone(),
            source,
        };
        let n = self
            .socket
            .send_to_addr(msg.as_bytes(), &self.addr)
            .map_err(send)?;
        if n != msg.len() {
            return Err(send(io::Error::new(
                io::ErrorKind::WriteZero,
                "short datagram",
            )));
        }
        Ok(())
    }

    /// `READY=1`: workers are up.
    pub fn ready(&self) -> Result<(), NotifyError> {
        self.notify(&[NotifyState::Ready])
    }

    /// `STATUS=...`: a one-line progress message (newlines become spaces).
    pub fn status(&self, status: &str) -> Result<(), NotifyError> {
        let one_line = status.replace(['\n', '\r'], " ");
        self.notify(&[NotifyState::Status(&one_line)])
    }

    /// `STOPPING=1`: draining has begun.
    pub fn stopping(&self) -> Result<(), NotifyError> {
        self.notify(&[NotifyState::Stopping])
    }

    /// `WATCHDOG=1`: the main loop is healthy.
    pub fn watchdog(&self) -> Result<(), NotifyError> {
        self.notify(&[NotifyState::Watchdog])
    }

    /// `EXTEND_TIMEOUT_USEC=...`: ask for `by` more time to start or stop.
    pub fn extend_timeout(&self, by: Duration) -> Result<(), NotifyError> {
        let usec = u64::try_from(by.as_micros()).unwrap_or(u64::MAX);
        let line = format!("EXTEND_TIMEOUT_USEC={usec}");
        self.notify(&[NotifyState::Custom(&line)])
    }
}

/// How often to send `WATCHDOG=1`, from `$WATCHDOG_USEC` and
/// `$WATCHDOG_PID` of this process; `None` when no watchdog is configured
/// for this process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    watchdog_interval_from(usec.as_deref(), pid.as_deref(), std::process::id())
}

/// Pure core of [`watchdog_interval`]: half the configured interval, if
/// `usec` is a positive integer and `pid` is unset or equals `my_pid`.
pub fn watchdog_interval_from(
    usec: Option<&str>,
    pid: Option<&str>,
    my_pid: u32,
) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    if let Some(pid) = pid
        && pid.trim().parse::<u32>().ok()? != my_pid
    {
        return None;
    }
    Some(Duration::from_micros(usec) / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener() -> (tempfile::TempDir, std::path::PathBuf, UnixDatagram) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).expect("bind");
        sock.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        (dir, path, sock)
    }

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).expect("recv datagram");
        String::from_utf8(buf[..n].to_vec()).expect("utf8")
    }

    #[test]
    fn sends_each_message_to_a_path_socket() {
        let (_dir, path, sock) = listener();
        let n = Notifier::with_socket(path.as_os_str()).expect("notifier");
        n.ready().expect("ready");
        assert_eq!(recv(&sock), "READY=1\n");
        n.status("12/100 samples\ndone").expect("status");
        assert_eq!(recv(&sock), "STATUS=12/100 samples done\n");
        n.stopping().expect("stopping");
        assert_eq!(recv(&sock), "STOPPING=1\n");
        n.watchdog().expect("watchdog");
        assert_eq!(recv(&sock), "WATCHDOG=1\n");
        n.extend_timeout(Duration::from_secs(90)).expect("extend");
        assert_eq!(recv(&sock), "EXTEND_TIMEOUT_USEC=90000000\n");
        // Two hours does not fit sd-notify's u32 microseconds; ours does.
        n.extend_timeout(Duration::from_secs(7200)).expect("extend");
        assert_eq!(recv(&sock), "EXTEND_TIMEOUT_USEC=7200000000\n");
    }

    #[test]
    fn sends_to_an_abstract_socket() {
        let name = format!("qtomo-test-notify-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("addr");
        let sock = UnixDatagram::bind_addr(&addr).expect("bind abstract");
        sock.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let n = Notifier::with_socket(OsStr::new(&format!("@{name}"))).expect("notifier");
        n.ready().expect("ready");
        assert_eq!(recv(&sock), "READY=1\n");
    }

    #[test]
    fn sending_without_listener_fails_cleanly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = Notifier::with_socket(dir.path().join("absent").as_os_str()).expect("notifier");
        assert!(matches!(n.ready(), Err(NotifyError::Send { .. })));
        assert!(matches!(
            Notifier::with_socket(OsStr::new("")),
            Err(NotifyError::BadAddress { .. })
        ));
    }

    #[test]
    fn watchdog_interval_is_half_and_respects_pid() {
        let me = 4242;
        assert_eq!(
            watchdog_interval_from(Some("30000000"), None, me),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            watchdog_interval_from(Some("30000000"), Some("4242"), me),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            watchdog_interval_from(Some("30000000"), Some("1"), me),
            None
        );
        assert_eq!(watchdog_interval_from(None, Some("4242"), me), None);
        assert_eq!(watchdog_interval_from(Some("0"), None, me), None);
        assert_eq!(watchdog_interval_from(Some("abc"), None, me), None);
        assert_eq!(watchdog_interval_from(Some("100"), Some("x"), me), None);
    }
}
