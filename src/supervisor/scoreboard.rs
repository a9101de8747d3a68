//! A per-worker progress page in shared memory (an anonymous `memfd`), the
//! only memory a worker may write that its supervisor reads.
//!
//! IPC messages per sample would cost more than a microsecond sample
//! itself, so a worker reports finished samples in batches. What the
//! supervisor must know exactly, even after the worker dies by SIGKILL, is
//! written here with plain atomic stores (no system call):
//!
//! ```text
//! word  meaning
//! 0     index + 1 of the sample being computed now, 0 between samples
//! 1     samples started so far (a counter that moves while the worker
//!       makes progress)
//! 2     records this worker has made durable in the results log so far
//! ```
//!
//! From this the supervisor knows which sample a crashed or hung worker was
//! in (word 0), whether a worker is making progress (word 1), and which of
//! its unacknowledged samples are nevertheless already in the log (word 2),
//! so they are neither charged nor recomputed.
//!
//! The memfd has no name on any file system, so nothing can leak; it is
//! freed when the last descriptor and mapping close.
//!
//! # Layout
//!
//! * [`Scoreboard`]: supervisor side (create, hand to a child, read).
//! * [`ScoreboardWriter`]: worker side (open inherited, write).
//! * [`Progress`]: one reading.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::supervisor::inherit::take_inherited_fd;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::MmapMut;
use nix::sys::memfd::{MFdFlags, memfd_create};

/// Environment variable carrying the scoreboard descriptor to a worker.
pub const SCOREBOARD_FD_ENV: &str = "QTOMO_SCOREBOARD_FD";

const WORDS: usize = 3;
const LEN: u64 = 64;

/// Errors creating or opening a scoreboard.
#[derive(Debug, thiserror::Error)]
pub enum ScoreboardError {
    /// A system call failed.
    #[error("{op} failed for the worker scoreboard")]
    Os {
        /// The failing operation.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The inherited descriptor variable is missing or malformed.
    #[error("scoreboard descriptor in ${var} is unusable: {reason}")]
    Inherited {
        /// The variable.
        var: String,
        /// What is wrong.
        reason: String,
    },
}

/// One reading of a worker's scoreboard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// The sample being computed, if any.
    pub current: Option<u64>,
    /// Samples started so far.
    pub started: u64,
    /// Records made durable so far.
    pub durable: u64,
}

fn words(map: &[u8]) -> &[AtomicU64; WORDS] {
    assert!(map.len() >= WORDS * 8);
    let ptr = map.as_ptr();
    assert_eq!(ptr.align_offset(align_of::<AtomicU64>()), 0);
    // SAFETY: the mapping is page-aligned (checked above anyway) and at
    // least WORDS * 8 bytes long; AtomicU64 has the size and alignment of
    // u64 and every bit pattern is valid. All accesses, in this process and
    // the other, go through atomics, so there is no data race. The returned
    // reference borrows `map`, which owns the mapping.
    unsafe { &*ptr.cast::<[AtomicU64; WORDS]>() }
}

/// The supervisor's handle on one worker's scoreboard.
#[derive(Debug)]
pub struct Scoreboard {
    file: File,
    map: MmapMut,
}

impl Scoreboard {
    /// Creates a zeroed scoreboard.
    pub fn new() -> Result<Self, ScoreboardError> {
        let os = |op| {
            move |e: nix::errno::Errno| ScoreboardError::Os {
                op,
                source: e.into(),
            }
        };
        let fd =
            memfd_create("qtomo-scoreboard", MFdFlags::MFD_CLOEXEC).map_err(os("memfd_create"))?;
        let file = File::from(fd);
        file.set_len(LEN).map_err(|source| ScoreboardError::Os {
            op: "ftruncate",
            source,
        })?;
        // SAFETY: the memfd is private to this process and the worker it is
        // handed to; both only access it through atomics (see `words`), and
        // its length never changes after the ftruncate above.
        let map = unsafe { MmapMut::map_mut(&file) }
            .map_err(|source| ScoreboardError::Os { op: "mmap", source })?;
        Ok(Self { file, map })
    }

    /// A close-on-exec duplicate of the descriptor, for
    /// [`WorkerCommand::inherit_fd`](super::process::WorkerCommand::inherit_fd).
    pub fn fd_for_child(&self) -> Result<OwnedFd, ScoreboardError> {
        self.file
            .try_clone()
            .map(OwnedFd::from)
            .map_err(|source| ScoreboardError::Os { op: "dup", source })
    }

    /// Reads the worker's progress.
    pub fn read(&self) -> Progress {
        let w = words(&self.map);
        let current = w[0].load(Ordering::Acquire);
        Progress {
            current: current.checked_sub(1),
            started: w[1].load(Ordering::Acquire),
            durable: w[2].load(Ordering::Acquire),
        }
    }
}

/// The worker's handle on its scoreboard.
#[derive(Debug)]
pub struct ScoreboardWriter {
    map: MmapMut,
}

impl ScoreboardWriter {
    /// Maps the scoreboard whose descriptor number is in `var` (see
    /// [`SCOREBOARD_FD_ENV`]). The descriptor is taken over and closed after
    /// mapping. Call at most once per process.
    pub fn open_inherited(var: &str) -> Result<Self, ScoreboardError> {
        let bad = |reason: String| ScoreboardError::Inherited {
            var: var.to_owned(),
            reason,
        };
        let file = File::from(take_inherited_fd(var).map_err(bad)?);
        let len = file
            .metadata()
            .map_err(|source| ScoreboardError::Os {
                op: "fstat",
                source,
            })?
            .len();
        if len < LEN {
            return Err(bad(format!("object of {len} bytes is too short")));
        }
        // SAFETY: see `Scoreboard::new`; the length was checked above and
        // the supervisor never resizes the object.
        let map = unsafe { MmapMut::map_mut(&file) }
            .map_err(|source| ScoreboardError::Os { op: "mmap", source })?;
        Ok(Self { map })
    }

    /// Marks the start of sample `index`.
    pub fn begin(&self, index: u64) {
        let w = words(&self.map);
        w[1].fetch_add(1, Ordering::AcqRel);
        w[0].store(index.saturating_add(1), Ordering::Release);
    }

    /// Marks the end of the current sample's computation.
    pub fn end(&self) {
        words(&self.map)[0].store(0, Ordering::Release);
    }

    /// Records that `n` more records are durable in the log.
    pub fn add_durable(&self, n: u64) {
        words(&self.map)[2].fetch_add(n, Ordering::AcqRel);
    }
}

impl AsRawFd for Scoreboard {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_seen_through_a_second_mapping() {
        let sb = Scoreboard::new().expect("scoreboard");
        assert_eq!(sb.read(), Progress::default());
        let fd = sb.fd_for_child().expect("dup");
        let file = File::from(fd);
        // SAFETY: test-only second mapping of the same memfd, accessed via
        // atomics only.
        let map = unsafe { MmapMut::map_mut(&file) }.expect("map");
        let w = ScoreboardWriter { map };
        w.begin(41);
        assert_eq!(
            sb.read(),
            Progress {
                current: Some(41),
                started: 1,
                durable: 0
            }
        );
        w.end();
        w.add_durable(1);
        w.begin(0);
        assert_eq!(
            sb.read(),
            Progress {
                current: Some(0),
                started: 2,
                durable: 1
            }
        );
    }
}
