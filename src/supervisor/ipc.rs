//! The supervisor ↔ worker protocol over ipc-channel, and its bootstrap.
//!
//! # Handshake
//!
//! ```text
//! supervisor                                  worker (child process)
//! ──────────                                  ──────────────────────
//! PendingWorker::new()
//!   IpcOneShotServer<Bootstrap> + name
//!   accept() on a helper thread
//! spawn child with $QTOMO_IPC_SERVER=name ──► WorkerEndpoint::connect_from_env()
//!                                               channel::<ToWorker>()   (tx_w, rx_w)
//!                                               channel::<FromWorker>() (tx_s, rx_s)
//!                                  ◄─────────   Bootstrap::Hello{pid, protocol, tx_w, rx_s}
//! try_accept(child pid), once per loop turn     keeps rx_w and tx_s
//!   checks pid and PROTOCOL_VERSION
//!   → WorkerLink { tx: tx_w, rx: rx_s }
//!                                  ◄─────────   FromWorker::Ready{pid}  (when able to work)
//! ToWorker::Chunk{indices, attempt} ────────►
//!                                  ◄─────────   Batch / Heartbeat
//! ToWorker::Shutdown                ────────►   exits
//! ```
//!
//! The worker creates both channels and ships one end of each inside the
//! hello, so the one-shot bootstrap channel is used exactly once. The accept
//! runs on a helper thread because ipc-channel's `accept` blocks and has no
//! timeout; the supervisor polls its result with
//! [`PendingWorker::try_accept`] and so never waits for a handshake. If the
//! child never connects, dropping the [`PendingWorker`] connects to its own
//! server and sends [`Bootstrap::Cancelled`] to release the thread. The
//! hello's pid must match the spawned child's, so a stray connection cannot
//! pose as a worker.
//!
//! Either side learns of the other's death as a disconnected channel
//! (`IpcError::Disconnected`): a worker whose supervisor is gone exits even
//! if PR_SET_PDEATHSIG was somehow missed, and the supervisor sees a dead
//! worker's channel close before it reaps the process.
//!
//! # Layout
//!
//! * Messages: [`ToWorker`], [`FromWorker`], bootstrap [`Bootstrap`] /
//!   [`WorkerHello`].
//! * Supervisor side: [`PendingWorker`] → [`WorkerLink`].
//! * Worker side: [`WorkerEndpoint`].

use std::sync::mpsc;
use std::thread::JoinHandle;

use ipc_channel::IpcError;
use ipc_channel::ipc::{self, IpcOneShotServer, IpcReceiver, IpcSender};
use serde::{Deserialize, Serialize};

/// Environment variable carrying the one-shot server name to a worker.
pub const IPC_SERVER_ENV: &str = "QTOMO_IPC_SERVER";

/// Version of the message types below; both sides must agree.
pub const PROTOCOL_VERSION: u32 = 3;

/// Supervisor to worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToWorker {
    /// Process these sample indices; `attempt[i]` is the attempt number of
    /// `indices[i]` (0 for the first try).
    Chunk {
        /// Sample indices, in processing order.
        indices: Vec<u64>,
        /// Attempt number per index, same length as `indices`.
        attempt: Vec<u32>,
    },
    /// Finish the current sample, then exit cleanly.
    Shutdown,
}

/// Worker to supervisor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromWorker {
    /// The worker is set up (segment mapped, scratch allocated) and wants
    /// work.
    Ready {
        /// The worker's pid.
        pid: u32,
    },
    /// Several samples finished, in processing order; their records are
    /// durable. Fast samples are reported in batches like this one so that
    /// IPC does not cost more than the samples.
    Batch {
        /// The finished samples.
        items: Vec<SampleOutcome>,
    },
    /// The worker is alive (sent periodically while busy).
    Heartbeat {
        /// The worker's pid.
        pid: u32,
    },
}

/// One finished sample inside [`FromWorker::Batch`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleOutcome {
    /// The sample index.
    pub index: u64,
    /// Wall time spent on it, in microseconds.
    pub elapsed_us: u64,
    /// `Some(reason)` when the record written is a failed one.
    pub failed: Option<String>,
}

/// The worker's half of the handshake, sent over the one-shot channel.
#[derive(Debug, Serialize, Deserialize)]
pub struct WorkerHello {
    /// The worker's pid.
    pub pid: u32,
    /// The worker's [`PROTOCOL_VERSION`].
    pub protocol: u32,
    /// Where the supervisor sends work.
    pub to_worker: IpcSender<ToWorker>,
    /// Where the supervisor receives progress.
    pub from_worker: IpcReceiver<FromWorker>,
}

/// The only message type of the one-shot bootstrap channel.
#[derive(Debug, Serialize, Deserialize)]
pub enum Bootstrap {
    /// A worker introducing itself.
    Hello(WorkerHello),
    /// The supervisor releasing its own accept thread after a timeout.
    Cancelled,
}

/// Errors setting up or using a worker link.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Creating a server or channel failed.
    #[error("failed to create an ipc {what}")]
    Create {
        /// What was being created.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Accepting the worker's connection failed.
    #[error("failed to accept the worker's hello")]
    Accept {
        /// The ipc error.
        #[source]
        source: IpcError,
    },
    /// The accept thread died.
    #[error("the ipc accept thread panicked")]
    AcceptThread,
    /// A process other than the expected worker connected.
    #[error("hello came from pid {found}, expected worker {expected}")]
    WrongPeer {
        /// The spawned worker's pid.
        expected: u32,
        /// The pid in the hello.
        found: u32,
    },
    /// The worker speaks another protocol version.
    #[error("worker speaks protocol {found}, supervisor speaks {expected}")]
    ProtocolMismatch {
        /// Our version.
        expected: u32,
        /// The worker's.
        found: u32,
    },
    /// The worker was not given a server name.
    #[error("environment variable {var} with the ipc server name is not set")]
    MissingServerName {
        /// The variable.
        var: String,
    },
    /// Connecting to the supervisor's server failed.
    #[error("failed to connect to the supervisor's ipc server {name:?}")]
    Connect {
        /// The server name.
        name: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Sending a message failed (usually: the other side is gone).
    #[error("failed to send an ipc message")]
    Send {
        /// The ipc error.
        #[source]
        source: IpcError,
    },
    /// Receiving a message failed (usually: the other side is gone).
    #[cfg(test)]
    #[error("failed to receive an ipc message")]
    Recv {
        /// The ipc error.
        #[source]
        source: IpcError,
    },
}

type AcceptResult = Result<(IpcReceiver<Bootstrap>, Bootstrap), IpcError>;

/// A one-shot server waiting for one worker's hello.
#[derive(Debug)]
pub struct PendingWorker {
    name: String,
    done: mpsc::Receiver<AcceptResult>,
    thread: Option<JoinHandle<()>>,
}

impl PendingWorker {
    /// Creates the server and starts accepting on a helper thread.
    pub fn new() -> Result<Self, LinkError> {
        let (server, name) =
            IpcOneShotServer::<Bootstrap>::new().map_err(|source| LinkError::Create {
                what: "one-shot server",
                source,
            })?;
        let (tx, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("qtomo-ipc-accept".to_owned())
            .spawn(move || {
                // The receiver may be gone if the supervisor gave up.
                let _ = tx.send(server.accept());
            })
            .map_err(|source| LinkError::Create {
                what: "accept thread",
                source,
            })?;
        Ok(Self {
            name,
            done,
            thread: Some(thread),
        })
    }

    /// The server name to pass to the worker (in [`IPC_SERVER_ENV`]).
    pub fn server_name(&self) -> &str {
        &self.name
    }

    /// Returns the established link once the worker with pid
    /// `expected_pid` has said hello, `Ok(None)` while it has not. Never
    /// blocks: the supervisor polls it once per turn of its loop, and a
    /// worker that never says hello is caught by the supervisor's spawn
    /// timeout (it then kills the worker; dropping `self` releases the
    /// accept thread).
    pub fn try_accept(&mut self, expected_pid: u32) -> Result<Option<WorkerLink>, LinkError> {
        let result = match self.done.try_recv() {
            Ok(r) => r,
            Err(mpsc::TryRecvError::Empty) => return Ok(None),
            Err(mpsc::TryRecvError::Disconnected) => {
                self.join();
                return Err(LinkError::AcceptThread);
            }
        };
        self.join();
        let (_bootstrap_rx, msg) = result.map_err(|source| LinkError::Accept { source })?;
        let hello = match msg {
            Bootstrap::Hello(h) => h,
            // Only this process sends Cancelled, and only after it stopped
            // polling: a stray one is a broken accept.
            Bootstrap::Cancelled => return Err(LinkError::AcceptThread),
        };
        if hello.pid != expected_pid {
            return Err(LinkError::WrongPeer {
                expected: expected_pid,
                found: hello.pid,
            });
        }
        if hello.protocol != PROTOCOL_VERSION {
            return Err(LinkError::ProtocolMismatch {
                expected: PROTOCOL_VERSION,
                found: hello.protocol,
            });
        }
        Ok(Some(WorkerLink {
            tx: hello.to_worker,
            rx: hello.from_worker,
        }))
    }

    /// Releases the accept thread by connecting to our own server.
    fn cancel(&mut self) {
        if let Ok(tx) = IpcSender::<Bootstrap>::connect(self.name.clone()) {
            let _ = tx.send(Bootstrap::Cancelled);
        }
        // If a worker connected at the same moment, accept has returned
        // anyway; either way the thread ends now. Its result is dropped,
        // which closes the worker's channels.
        self.join();
    }

    fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for PendingWorker {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.cancel();
        }
    }
}

/// The supervisor's end of an established worker link.
#[derive(Debug)]
pub struct WorkerLink {
    /// Sends work to the worker.
    pub tx: IpcSender<ToWorker>,
    /// Receives progress from the worker.
    pub rx: IpcReceiver<FromWorker>,
}

impl WorkerLink {
    #[cfg(test)]
    /// Sends one message to the worker.
    pub fn send(&self, msg: ToWorker) -> Result<(), LinkError> {
        self.tx
            .send(msg)
            .map_err(|source| LinkError::Send { source })
    }

    #[cfg(test)]
    /// Receives one message, waiting at most `timeout`; `Ok(None)` on
    /// timeout.
    pub fn recv_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> Result<Option<FromWorker>, LinkError> {
        match self.rx.try_recv_timeout(timeout) {
            Ok(m) => Ok(Some(m)),
            Err(ipc_channel::TryRecvError::Empty) => Ok(None),
            Err(ipc_channel::TryRecvError::IpcError(source)) => Err(LinkError::Recv { source }),
        }
    }
}

/// The worker's end of the link.
#[derive(Debug)]
pub struct WorkerEndpoint {
    /// Receives work from the supervisor.
    pub rx: IpcReceiver<ToWorker>,
    /// Sends progress to the supervisor.
    pub tx: IpcSender<FromWorker>,
}

impl WorkerEndpoint {
    /// Connects to the server named in `$QTOMO_IPC_SERVER` and performs the
    /// worker's half of the handshake.
    pub fn connect_from_env() -> Result<Self, LinkError> {
        let name = std::env::var(IPC_SERVER_ENV).map_err(|_| LinkError::MissingServerName {
            var: IPC_SERVER_ENV.to_owned(),
        })?;
        Self::connect(name)
    }

    /// Connects to the one-shot server `name` and sends the hello.
    pub fn connect(name: String) -> Result<Self, LinkError> {
        let bootstrap =
            IpcSender::<Bootstrap>::connect(name.clone()).map_err(|source| LinkError::Connect {
                name: name.clone(),
                source,
            })?;
        let create = |source| LinkError::Create {
            what: "channel",
            source,
        };
        let (to_worker, rx) = ipc::channel::<ToWorker>().map_err(create)?;
        let (tx, from_worker) = ipc::channel::<FromWorker>().map_err(create)?;
        bootstrap
            .send(Bootstrap::Hello(WorkerHello {
                pid: std::process::id(),
                protocol: PROTOCOL_VERSION,
                to_worker,
                from_worker,
            }))
            .map_err(|source| LinkError::Send { source })?;
        Ok(Self { rx, tx })
    }

    #[cfg(test)]
    /// Sends one message to the supervisor.
    pub fn send(&self, msg: FromWorker) -> Result<(), LinkError> {
        self.tx
            .send(msg)
            .map_err(|source| LinkError::Send { source })
    }

    #[cfg(test)]
    /// Blocks for the next message; an error means the supervisor is gone.
    pub fn recv(&self) -> Result<ToWorker, LinkError> {
        self.rx.recv().map_err(|source| LinkError::Recv { source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::process::{ExitOutcome, classify};
    use crate::supervisor::testutil::{ChildRole, child_role, spawn_child};
    use std::time::Duration;

    #[test]
    fn messages_round_trip_through_postcard() {
        let msgs = [
            FromWorker::Ready { pid: 1 },
            FromWorker::Heartbeat { pid: 6 },
            FromWorker::Batch {
                items: vec![SampleOutcome {
                    index: 7,
                    elapsed_us: 8,
                    failed: Some("all counts zero".into()),
                }],
            },
        ];
        for m in msgs {
            let bytes = postcard::to_stdvec(&m).expect("encode");
            assert_eq!(
                postcard::from_bytes::<FromWorker>(&bytes).expect("decode"),
                m
            );
        }
        let c = ToWorker::Chunk {
            indices: vec![7, 8],
            attempt: vec![0, 1],
        };
        let bytes = postcard::to_stdvec(&c).expect("encode");
        assert_eq!(postcard::from_bytes::<ToWorker>(&bytes).expect("decode"), c);
    }

    /// Polls `pending` until the hello of `pid` arrives or `limit` passes.
    fn accept_within(
        pending: &mut PendingWorker,
        pid: u32,
        limit: Duration,
    ) -> Result<Option<WorkerLink>, LinkError> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            match pending.try_accept(pid)? {
                Some(link) => return Ok(Some(link)),
                None if std::time::Instant::now() >= deadline => return Ok(None),
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }

    #[test]
    fn without_a_worker_nothing_is_accepted_and_dropping_releases_the_thread() {
        let mut p = PendingWorker::new().expect("server");
        let r = accept_within(&mut p, 1, Duration::from_millis(100));
        assert!(matches!(r, Ok(None)), "{r:?}");
        let start = std::time::Instant::now();
        drop(p);
        // The accept thread was released and joined.
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_hello_from_another_pid_is_refused() {
        let mut p = PendingWorker::new().expect("server");
        let name = p.server_name().to_owned();
        // This process poses as the worker, with its own pid.
        let connect = std::thread::spawn(move || WorkerEndpoint::connect(name));
        let r = accept_within(&mut p, 1, Duration::from_secs(20));
        match r {
            Err(LinkError::WrongPeer { expected, found }) => {
                assert_eq!((expected, found), (1, std::process::id()));
            }
            other => panic!("expected WrongPeer, got {other:?}"),
        }
        connect.join().expect("connect thread").expect("connect");
    }

    /// Child side of [`handshake_and_round_trip_with_real_child`]: a toy
    /// worker that "processes" an index by doubling it.
    #[test]
    fn child_entry_ipc_worker() {
        if child_role() != Some(ChildRole::IpcWorker) {
            return;
        }
        let ep = WorkerEndpoint::connect_from_env().expect("connect");
        let pid = std::process::id();
        ep.send(FromWorker::Ready { pid }).expect("ready");
        loop {
            match ep.recv().expect("supervisor alive") {
                ToWorker::Chunk { indices, attempt } => {
                    assert_eq!(indices.len(), attempt.len());
                    for index in indices {
                        ep.send(FromWorker::Heartbeat { pid }).expect("send");
                        ep.send(FromWorker::Batch {
                            items: vec![SampleOutcome {
                                index,
                                elapsed_us: index * 2,
                                failed: None,
                            }],
                        })
                        .expect("send");
                    }
                }
                ToWorker::Shutdown => return,
            }
        }
    }

    #[test]
    fn handshake_and_round_trip_with_real_child() {
        let mut pending = PendingWorker::new().expect("server");
        let name = pending.server_name().to_owned();
        let session = spawn_child(
            ChildRole::IpcWorker,
            "supervisor::ipc::tests::child_entry_ipc_worker",
            |c| c.env(IPC_SERVER_ENV, &name),
        );
        let pid = session.child.pid().as_raw() as u32;
        let link = accept_within(&mut pending, pid, Duration::from_secs(20))
            .expect("handshake")
            .expect("hello within 20 s");
        let t = Duration::from_secs(20);
        let next = || {
            link.recv_timeout(t)
                .expect("recv")
                .expect("message within timeout")
        };
        assert_eq!(next(), FromWorker::Ready { pid });
        link.send(ToWorker::Chunk {
            indices: vec![10, 11],
            attempt: vec![0, 2],
        })
        .expect("send chunk");
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(next());
        }
        let done = |index: u64| FromWorker::Batch {
            items: vec![SampleOutcome {
                index,
                elapsed_us: index * 2,
                failed: None,
            }],
        };
        assert_eq!(
            got,
            [
                FromWorker::Heartbeat { pid },
                done(10),
                FromWorker::Heartbeat { pid },
                done(11),
            ]
        );
        link.send(ToWorker::Shutdown).expect("send shutdown");
        let out = session.finish();
        let st = out.status.expect("child exited in time");
        assert_eq!(classify(st), ExitOutcome::Ok, "{out:?}");
        // The worker's exit closes its sender: the link reports disconnect.
        assert!(matches!(
            link.recv_timeout(Duration::from_secs(5)),
            Err(LinkError::Recv { .. })
        ));
    }
}
