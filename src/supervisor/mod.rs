//! OS-level building blocks of the multi-process supervisor.
//!
//! Nothing here knows about tomography: the pool runs any
//! [`worker_loop::SampleCompute`] over sample indices, and `run::worker`
//! binds it to the numerics. Every block is
//! Linux-specific and is tested against real OS objects (shared memory,
//! signals, child processes, sockets, `/proc`).
//!
//! # Layout
//!
//! * [`shm`]: the read-only POSIX shared-memory segment (header, named
//!   `f64`/byte sections, checksum), unlinked at birth, inherited by fd.
//! * [`process`]: spawning workers (own process group, PR_SET_PDEATHSIG,
//!   explicit fd inheritance), group signals, grace-then-kill, non-blocking
//!   reaping, exit classification.
//! * [`signals`]: SIGINT/TERM/HUP/QUIT/USR2/ALRM/USR1/TTIN/TTOU as
//!   [`signals::SignalEvent`]s on a pollable self-pipe; shutdown escalation.
//! * [`ipc`]: supervisor ↔ worker messages and the ipc-channel handshake.
//! * [`inherit`]: the worker's side of an inherited descriptor.
//! * [`procmem`]: a worker's anonymous memory from `/proc`; size parsing.
//! * [`notify`]: systemd `Type=notify` and watchdog messages.
//! * [`backoff`]: capped exponential restart delays (pure).
//! * [`intensity`]: Erlang-style restart intensity (pure).
//! * [`scoreboard`]: per-worker progress page (memfd) the supervisor reads.
//! * [`state`]: the supervisor's synchronous state machine (pure).
//! * [`pool`]: the I/O loop, [`pool::run_pool`].
//! * [`worker_loop`]: the worker side, [`worker_loop::serve_worker`].
//! * `fault` (feature `fault-injection`): crash/hang/alloc on chosen samples.

pub mod backoff;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod inherit;
pub mod intensity;
pub mod ipc;
pub mod notify;
pub mod pool;
pub mod process;
pub mod procmem;
pub mod scoreboard;
pub mod shm;
pub mod signals;
pub mod state;
pub mod worker_loop;

#[cfg(test)]
mod testutil;
