//! Supervisor robustness (issue 12): a stopped process tree, hang-ups,
//! broken stderr pipes, signals during ingest, numbers that lie.
//!
//! Every process has a hard time bound and is killed by pid if it
//! overruns; no test asserts on wall time. Hang detection is shortened with
//! `QTOMO_FAULT_HEARTBEAT_MS=200` (heartbeat limit 5 × 0.2 s + 1 s = 2 s),
//! so a 3 s pause is well past it.
//!
//! See: issue 12 (supervisor robustness).

use super::supervisor::{BOUND, Fixture};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::time::Duration;

/// Heartbeats every 200 ms: a worker silent for 2 s is hung.
const FAST_HEARTBEAT: (&str, &str) = ("QTOMO_FAULT_HEARTBEAT_MS", "200");

fn signal_all(pids: &[i32], sig: Signal) {
    for &p in pids {
        // A worker may have exited meanwhile; that is fine.
        let _ = kill(Pid::from_raw(p), sig);
    }
}

/// Stopping the whole tree (supervisor and workers, as Ctrl-Z on a job, a
/// cgroup freezer or a VM pause do) for longer than the heartbeat limit
/// and the sample timeout kills no worker: the run completes with no
/// restart, and the supervisor says it noticed the pause.
#[test]
fn stopping_the_whole_tree_restarts_no_worker() {
    needs_faults!();
    let fx = Fixture::new(300);
    let mut sup = fx.start(
        &["--workers", "2", "--sample-timeout", "2s"],
        &[("QTOMO_FAULT", "delay:10"), FAST_HEARTBEAT],
    );
    sup.wait_for("two workers", BOUND, || sup.workers().len() == 2);
    std::thread::sleep(Duration::from_millis(300));
    let mut tree = vec![sup.pid()];
    tree.extend(sup.workers());
    signal_all(&tree, Signal::SIGSTOP);
    std::thread::sleep(Duration::from_millis(3500));
    // The supervisor first: the harder order, it runs before its workers.
    signal_all(&tree, Signal::SIGCONT);
    let st = sup.wait(BOUND);
    let err = sup.stderr();
    assert_eq!(st.code(), Some(0), "{err}");
    assert!(
        err.contains("was not scheduled"),
        "pause not noticed: {err}"
    );
    let s = fx.summary();
    assert_eq!(s["status"], "complete");
    assert_eq!(s["worker_restarts"], 0, "{err}");
    assert!(fx.assert_each_once().is_empty());
}

/// One stopped worker, while the supervisor runs on, is still a hang.
#[test]
fn a_single_stopped_worker_is_still_killed_as_hung() {
    needs_faults!();
    let fx = Fixture::new(200);
    let mut sup = fx.start(
        &["--workers", "2"],
        &[("QTOMO_FAULT", "delay:10"), FAST_HEARTBEAT],
    );
    sup.wait_for("two workers", BOUND, || sup.workers().len() == 2);
    std::thread::sleep(Duration::from_millis(300));
    let victim = sup.workers()[0];
    signal_all(&[victim], Signal::SIGSTOP);
    let st = sup.wait(BOUND);
    let err = sup.stderr();
    assert_eq!(st.code(), Some(0), "{err}");
    assert!(err.contains("no heartbeat for 2 s"), "{err}");
    assert!(err.contains(&format!("pid={victim}")), "{err}");
    assert!(!err.contains("was not scheduled"), "{err}");
    assert_eq!(fx.summary()["worker_restarts"], 1, "{err}");
    assert!(fx.assert_each_once().is_empty());
}
