//! The state machine driven by made-up events and instants.

use super::*;

fn params(workers: usize) -> StateParams {
    StateParams {
        policy: PoolPolicy {
            workers,
            sample_timeout: Duration::from_secs(60),
            retries: 2,
            grace: Duration::from_secs(10),
            max_worker_rss: Some(100 << 20),
            restart_max: 5,
            restart_window: Duration::from_secs(60),
        },
        heartbeat_timeout: Duration::from_secs(10),
        spawn_timeout: Duration::from_secs(10),
        initial_chunk: 2,
        chunk_target: Duration::from_millis(100),
        max_chunk: 1000,
        restart_delay: Duration::ZERO,
    }
}

fn effects(a: Action) -> Vec<Effect> {
    a.into_effects()
}

fn up(s: &mut PoolState, t: Instant, n: u32) -> Vec<Effect> {
    let mut out = effects(s.start(t));
    for i in 0..n {
        let w = WorkerId(i);
        out.extend(effects(s.handle_event(
            SupervisorEvent::Spawned {
                worker: w,
                pid: 100 + i,
            },
            t,
        )));
        out.extend(effects(
            s.handle_event(SupervisorEvent::Ready { worker: w }, t),
        ));
    }
    out
}

fn done(index: u64) -> SampleOutcome {
    SampleOutcome {
        index,
        elapsed_us: 1000,
        failed: None,
    }
}

#[test]
fn clean_run_dispatches_everything_and_completes() {
    let t = Instant::now();
    let mut s = PoolState::new(params(2), 0..4);
    let fx = up(&mut s, t, 2);
    assert_eq!(
        fx[0],
        Effect::Spawn {
            worker: WorkerId(0)
        }
    );
    assert!(fx.contains(&Effect::Observe(PoolEvent::WorkersReady { count: 2 })));
    assert!(fx.contains(&Effect::Dispatch {
        worker: WorkerId(0),
        indices: vec![0, 1],
        attempts: vec![0, 0]
    }));
    // Guided scheduling: a fair share of what is left at each dispatch.
    assert!(fx.contains(&Effect::Dispatch {
        worker: WorkerId(1),
        indices: vec![2],
        attempts: vec![0]
    }));
    let fx = effects(s.handle_event(
        SupervisorEvent::Finished {
            worker: WorkerId(0),
            items: vec![done(0), done(1)],
        },
        t,
    ));
    assert_eq!(
        fx.last(),
        Some(&Effect::Dispatch {
            worker: WorkerId(0),
            indices: vec![3],
            attempts: vec![0]
        })
    );
    let fx = effects(s.handle_event(
        SupervisorEvent::Finished {
            worker: WorkerId(1),
            items: vec![done(2)],
        },
        t,
    ));
    assert!(!fx.iter().any(|e| matches!(e, Effect::Finish(_))));
    let fx = effects(s.handle_event(
        SupervisorEvent::Finished {
            worker: WorkerId(0),
            items: vec![done(3)],
        },
        t,
    ));
    assert_eq!(fx.last(), Some(&Effect::Finish(Outcome::Complete)));
    assert_eq!(s.succeeded, 4);
    // Finished: further events change nothing.
    assert_eq!(s.handle_event(SupervisorEvent::Tick, t), Action::None);
}

#[test]
fn crash_charges_only_the_sample_in_progress() {
    let t = Instant::now();
    let mut s = PoolState::new(params(1), 0..3);
    up(&mut s, t, 1);
    let fx = effects(s.handle_event(
        SupervisorEvent::Exited {
            worker: WorkerId(0),
            outcome: ExitOutcome::Signal(11),
            progress: Progress {
                current: Some(1),
                started: 2,
                durable: 1,
            },
        },
        t,
    ));
    // Sample 0 was durable though unacknowledged: done, not retried.
    assert!(fx.contains(&Effect::Observe(PoolEvent::SampleDone { index: 0 })));
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Observe(PoolEvent::WorkerRestarted {
            sample: Some(1),
            ..
        })
    )));
    assert_eq!(s.restarts, 1);
    // The replacement is spawned on the next tick (zero backoff here).
    let fx = effects(s.handle_event(SupervisorEvent::Tick, t));
    assert_eq!(
        fx,
        vec![Effect::Spawn {
            worker: WorkerId(1)
        }]
    );
    let fx = effects(s.handle_event(
        SupervisorEvent::Ready {
            worker: WorkerId(1),
        },
        t,
    ));
    assert!(fx.contains(&Effect::Dispatch {
        worker: WorkerId(1),
        indices: vec![1, 2],
        attempts: vec![1, 0]
    }));
}

#[test]
fn poison_sample_fails_after_retries_with_reason() {
    let t = Instant::now();
    let mut p = params(1);
    p.initial_chunk = 1;
    let mut s = PoolState::new(p, [7]);
    up(&mut s, t, 1);
    let mut all = Vec::new();
    for attempt in 0..3u32 {
        let w = WorkerId(attempt);
        if attempt > 0 {
            all.extend(effects(s.handle_event(SupervisorEvent::Tick, t)));
            all.extend(effects(
                s.handle_event(SupervisorEvent::Ready { worker: w }, t),
            ));
        }
        all.extend(effects(s.handle_event(
            SupervisorEvent::Exited {
                worker: w,
                outcome: ExitOutcome::Signal(11),
                progress: Progress {
                    current: Some(7),
                    started: 1,
                    durable: 0,
                },
            },
            t,
        )));
    }
    assert!(all.contains(&Effect::RecordFailed {
        index: 7,
        attempts: 3,
        reason: "worker killed by SIGSEGV on 3 attempts".into()
    }));
    assert_eq!(all.last(), Some(&Effect::Finish(Outcome::Complete)));
    assert_eq!(s.failed.len(), 1);
}

#[test]
fn hung_sample_is_killed_and_named_in_the_reason() {
    let t = Instant::now();
    let mut p = params(1);
    p.policy.retries = 0;
    p.policy.sample_timeout = Duration::from_secs(2);
    let mut s = PoolState::new(p, [0, 1]);
    up(&mut s, t, 1);
    let pr = Progress {
        current: Some(0),
        started: 1,
        durable: 0,
    };
    let _ = s.handle_event(
        SupervisorEvent::Progress {
            worker: WorkerId(0),
            progress: pr,
        },
        t,
    );
    let later = t + Duration::from_secs(1);
    let _ = s.handle_event(
        SupervisorEvent::Heartbeat {
            worker: WorkerId(0),
        },
        later,
    );
    assert_eq!(s.handle_event(SupervisorEvent::Tick, later), Action::None);
    let later = t + Duration::from_secs(3);
    let _ = s.handle_event(
        SupervisorEvent::Heartbeat {
            worker: WorkerId(0),
        },
        later,
    );
    let fx = effects(s.handle_event(SupervisorEvent::Tick, later));
    assert_eq!(
        fx,
        vec![Effect::Kill {
            worker: WorkerId(0)
        }]
    );
    let fx = effects(s.handle_event(
        SupervisorEvent::Exited {
            worker: WorkerId(0),
            outcome: ExitOutcome::Signal(9),
            progress: pr,
        },
        later,
    ));
    assert!(fx.contains(&Effect::RecordFailed {
        index: 0,
        attempts: 1,
        reason: "timed out after 2 s".into()
    }));
}

#[test]
fn memory_hog_is_killed() {
    let t = Instant::now();
    let mut s = PoolState::new(params(1), 0..2);
    up(&mut s, t, 1);
    assert_eq!(
        s.handle_event(
            SupervisorEvent::Memory {
                worker: WorkerId(0),
                bytes: 1 << 20
            },
            t
        ),
        Action::None
    );
    let fx = effects(s.handle_event(
        SupervisorEvent::Memory {
            worker: WorkerId(0),
            bytes: 200 << 20,
        },
        t,
    ));
    assert_eq!(
        fx,
        vec![Effect::Kill {
            worker: WorkerId(0)
        }]
    );
}

#[test]
fn restart_intensity_aborts() {
    let t = Instant::now();
    let mut p = params(1);
    p.policy.restart_max = 2;
    p.policy.retries = 100;
    let mut s = PoolState::new(p, 0..10);
    up(&mut s, t, 1);
    let mut last = Vec::new();
    for i in 0..3 {
        let w = WorkerId(i);
        if i > 0 {
            let _ = s.handle_event(SupervisorEvent::Tick, t);
        }
        last = effects(s.handle_event(
            SupervisorEvent::Exited {
                worker: w,
                outcome: ExitOutcome::Code(101),
                progress: Progress::default(),
            },
            t,
        ));
    }
    assert!(
        matches!(last.last(), Some(Effect::Finish(Outcome::Aborted(reason))) if reason.contains("restart intensity"))
    );
}

#[test]
fn first_signal_drains_second_kills() {
    let t = Instant::now();
    let mut s = PoolState::new(params(2), 0..100);
    up(&mut s, t, 2);
    let sig = SignalEvent::Shutdown(super::super::signals::ShutdownSignal::Terminate);
    let fx = effects(s.handle_event(SupervisorEvent::Signal(sig), t));
    assert!(fx.contains(&Effect::Observe(PoolEvent::Draining)));
    assert!(fx.contains(&Effect::Stop {
        worker: WorkerId(0)
    }));
    assert!(fx.contains(&Effect::Stop {
        worker: WorkerId(1)
    }));
    // A drained worker exits cleanly: no restart, not finished yet.
    let fx = effects(s.handle_event(
        SupervisorEvent::Exited {
            worker: WorkerId(0),
            outcome: ExitOutcome::Ok,
            progress: Progress::default(),
        },
        t,
    ));
    assert!(fx.is_empty(), "{fx:?}");
    assert_eq!(s.restarts, 0);
    let fx = effects(s.handle_event(SupervisorEvent::Signal(sig), t));
    assert_eq!(
        fx,
        vec![
            Effect::Kill {
                worker: WorkerId(1)
            },
            Effect::Finish(Outcome::Interrupted)
        ]
    );
}

#[test]
fn drain_ends_when_last_worker_exits_or_grace_expires() {
    let t = Instant::now();
    let mut s = PoolState::new(params(1), 0..100);
    up(&mut s, t, 1);
    let sig = SignalEvent::Shutdown(super::super::signals::ShutdownSignal::Interrupt);
    let _ = s.handle_event(SupervisorEvent::Signal(sig), t);
    let fx = effects(s.handle_event(SupervisorEvent::Tick, t + Duration::from_secs(11)));
    assert_eq!(
        fx,
        vec![Effect::Kill {
            worker: WorkerId(0)
        }]
    );
    let fx = effects(s.handle_event(
        SupervisorEvent::Exited {
            worker: WorkerId(0),
            outcome: ExitOutcome::Signal(9),
            progress: Progress::default(),
        },
        t + Duration::from_secs(11),
    ));
    assert_eq!(fx, vec![Effect::Finish(Outcome::Interrupted)]);
}

#[test]
fn ttin_adds_and_ttou_retires() {
    let t = Instant::now();
    let mut s = PoolState::new(params(1), 0..100);
    up(&mut s, t, 1);
    let fx = effects(s.handle_event(SupervisorEvent::Signal(SignalEvent::AddWorker), t));
    assert_eq!(
        fx,
        vec![Effect::Spawn {
            worker: WorkerId(1)
        }]
    );
    let _ = s.handle_event(
        SupervisorEvent::Ready {
            worker: WorkerId(1),
        },
        t,
    );
    assert_eq!(s.live_workers(), 2);
    let _ = s.handle_event(SupervisorEvent::Signal(SignalEvent::RemoveWorker), t);
    // Worker 0 is busy: it retires when its chunk is done.
    let fx = effects(s.handle_event(
        SupervisorEvent::Finished {
            worker: WorkerId(0),
            items: vec![done(0), done(1)],
        },
        t,
    ));
    assert!(fx.contains(&Effect::Stop {
        worker: WorkerId(0)
    }));
    let fx = effects(s.handle_event(
        SupervisorEvent::Exited {
            worker: WorkerId(0),
            outcome: ExitOutcome::Ok,
            progress: Progress::default(),
        },
        t,
    ));
    assert!(
        !fx.iter()
            .any(|e| matches!(e, Effect::Observe(PoolEvent::WorkerRestarted { .. })))
    );
    assert_eq!(s.live_workers(), 1);
}

/// A pause of the whole tree longer than both the heartbeat limit and
/// the sample timeout: nobody is killed, and the deadlines count again
/// from the end of the pause.
#[test]
fn a_paused_tree_kills_nobody() {
    let t = Instant::now();
    let mut s = PoolState::new(params(2), 0..100);
    up(&mut s, t, 2);
    for w in 0..2 {
        let _ = s.handle_event(
            SupervisorEvent::Progress {
                worker: WorkerId(w),
                progress: Progress {
                    current: Some(u64::from(w)),
                    started: 1,
                    durable: 0,
                },
            },
            t,
        );
    }
    // Stopped at t + 0.5 s for 90 s (heartbeats 10 s, samples 60 s).
    let back = t + Duration::from_millis(90_500);
    let gap = Duration::from_secs(90);
    let fx = effects(s.handle_event(SupervisorEvent::Paused { gap }, back));
    assert!(fx.is_empty(), "{fx:?}");
    assert_eq!(s.handle_event(SupervisorEvent::Tick, back), Action::None);
    assert_eq!(s.paused_total(), gap);
    // Still silent 9 s after the pause: within the heartbeat limit.
    let later = back + Duration::from_secs(9);
    assert_eq!(s.handle_event(SupervisorEvent::Tick, later), Action::None);
    // Silent 11 s after the pause: now that is a hang.
    let later = back + Duration::from_secs(11);
    let fx = effects(s.handle_event(SupervisorEvent::Tick, later));
    assert_eq!(
        fx,
        vec![
            Effect::Kill {
                worker: WorkerId(0)
            },
            Effect::Kill {
                worker: WorkerId(1)
            }
        ]
    );
    assert_eq!(s.restarts, 0, "nothing was reaped yet");
}

/// Only one worker is stopped: the supervisor's loop runs on, reports
/// no pause, and the stopped worker is killed as hung.
#[test]
fn a_single_stopped_worker_is_still_killed() {
    let t = Instant::now();
    let mut s = PoolState::new(params(2), 0..100);
    up(&mut s, t, 2);
    let mut detector = PauseDetector::new(t, Duration::from_secs(1));
    let mut killed = Vec::new();
    for step in 1..=120u64 {
        let now = t + Duration::from_millis(100 * step);
        assert_eq!(detector.observe(now), None);
        let _ = s.handle_event(
            SupervisorEvent::Heartbeat {
                worker: WorkerId(1),
            },
            now,
        );
        killed.extend(effects(s.handle_event(SupervisorEvent::Tick, now)));
    }
    assert_eq!(
        killed,
        vec![Effect::Kill {
            worker: WorkerId(0)
        }]
    );
    let fx = effects(s.handle_event(
        SupervisorEvent::Exited {
            worker: WorkerId(0),
            outcome: ExitOutcome::Signal(9),
            progress: Progress::default(),
        },
        t + Duration::from_secs(12),
    ));
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Observe(PoolEvent::WorkerRestarted { reason, .. })
            if reason == "worker sent no heartbeat for 10 s"
    )));
}

/// A pause while draining does not eat the grace period.
#[test]
fn a_pause_while_draining_keeps_the_grace_period() {
    let t = Instant::now();
    let mut s = PoolState::new(params(1), 0..100);
    up(&mut s, t, 1);
    let sig = SignalEvent::Shutdown(super::super::signals::ShutdownSignal::Terminate);
    let _ = s.handle_event(SupervisorEvent::Signal(sig), t);
    let back = t + Duration::from_secs(30);
    let _ = s.handle_event(
        SupervisorEvent::Paused {
            gap: Duration::from_secs(30),
        },
        back,
    );
    assert_eq!(
        s.handle_event(SupervisorEvent::Tick, back + Duration::from_secs(9)),
        Action::None
    );
    let fx = effects(s.handle_event(SupervisorEvent::Tick, back + Duration::from_secs(11)));
    assert_eq!(
        fx,
        vec![Effect::Kill {
            worker: WorkerId(0)
        }]
    );
}

#[test]
fn pause_detector_reports_only_long_gaps() {
    let t = Instant::now();
    let mut d = PauseDetector::new(t, Duration::from_secs(1));
    assert_eq!(d.observe(t + Duration::from_millis(20)), None);
    assert_eq!(d.observe(t + Duration::from_millis(1000)), None);
    assert_eq!(
        d.observe(t + Duration::from_millis(11_000)),
        Some(Duration::from_secs(10))
    );
    assert_eq!(d.observe(t + Duration::from_millis(11_020)), None);
    // An instant from the past (events carry their own clocks) is no gap.
    assert_eq!(d.observe(t), None);
    assert_eq!(d.observe(t + Duration::from_millis(11_040)), None);
}

#[test]
fn chunk_size_adapts_to_cost() {
    let mut c = ChunkSizer::new(
        1,
        Duration::from_millis(100),
        Duration::from_secs(60),
        100_000,
    );
    assert_eq!(c.size(1000, 2), 1);
    c.observe(10);
    assert_eq!(c.size(1_000_000, 2), 10_000);
    assert_eq!(c.size(1000, 2), 500, "fair share of what is left");
    let mut slow = ChunkSizer::new(
        1,
        Duration::from_millis(100),
        Duration::from_secs(1),
        100_000,
    );
    slow.observe(500_000);
    assert_eq!(slow.size(1000, 2), 1, "slow samples go one at a time");
}
