//! The worker's side of a descriptor inherited from the supervisor (the
//! shared segment, the scoreboard): the parent clears close-on-exec on it
//! in the child only and names its number in an environment variable (see
//! [`WorkerCommand::inherit_fd`](super::process::WorkerCommand::inherit_fd));
//! [`take_inherited_fd`] turns that number back into an owned descriptor,
//! once.

use std::collections::HashSet;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

/// Descriptor numbers already taken over in this process, so that a number
/// is never turned into two owners.
static CLAIMED: Mutex<Option<HashSet<RawFd>>> = Mutex::new(None);

/// Takes over the descriptor whose number the parent put in the environment
/// variable `var`. Refuses (with the reason) a missing or malformed
/// variable, a standard stream, a descriptor that is not open, and one
/// already taken over in this process.
pub fn take_inherited_fd(var: &str) -> Result<OwnedFd, String> {
    let value = std::env::var(var).map_err(|e| e.to_string())?;
    let raw: RawFd = value
        .trim()
        .parse()
        .map_err(|_| format!("{value:?} is not a descriptor number"))?;
    if raw < 3 {
        return Err(format!("descriptor {raw} is a standard stream"));
    }
    // SAFETY: F_GETFD only reads the descriptor flags of `raw`; an unknown
    // number yields EBADF and touches nothing.
    if unsafe { nix::libc::fcntl(raw, nix::libc::F_GETFD) } < 0 {
        return Err(format!("descriptor {raw} is not open"));
    }
    {
        let mut claimed = CLAIMED
            .lock()
            .map_err(|_| "descriptor registry poisoned".to_owned())?;
        if !claimed.get_or_insert_with(HashSet::new).insert(raw) {
            return Err(format!("descriptor {raw} was already taken over"));
        }
    }
    // SAFETY: `raw` is open (checked above), it was passed to this process
    // for this purpose by its parent, and the registry above guarantees it
    // is turned into an owner only once in this process.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}
