//! The durability promise under fire (issue 4): SIGKILL the supervisor or a
//! random worker at random moments, at least 20 times, resuming after every
//! supervisor kill; the finished run's export must list every index exactly
//! once and be byte-identical to an uninterrupted run's.
//!
//! Kill times and targets come from a seeded generator, so the sequence of
//! decisions is reproducible; what a kill interrupts (a computation, an
//! append to the log, a resume scan) depends on timing, which is the point.

use super::util::{Sandbox, children_of};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use qtomo::tomo::simulate::sample_rng;
use rand::RngExt;
use std::time::{Duration, Instant};

const KILLS: usize = 20;

/// Samples in the batch.
const SAMPLES: usize = 2000;

#[test]
fn twenty_random_kills_lose_and_duplicate_nothing() {
    let sb = Sandbox::new();
    // 4-qubit MLE takes ~5 ms a sample (release): 2000 samples keep two
    // workers busy for about 5 s, long enough for 20 kills at 40–250 ms
    // intervals with room to spare (600 stopped sufficing once the MLE's
    // Newton steps got cheaper).
    sb.qtomo([
        "simulate",
        "--qubits",
        "4",
        "--samples",
        &SAMPLES.to_string(),
        "--shots",
        "1000",
        "--seed",
        "7",
        "--out",
        "in.csv",
    ])
    .ok();
    let run_args = |dir: &str| -> Vec<String> {
        // Generous retries and restart intensity: the kills are the test's,
        // not the samples' fault, and must not turn into failed records.
        [
            "run",
            "in.csv",
            "--out",
            dir,
            "--method",
            "mle",
            "--workers",
            "2",
            "--retries",
            "1000",
            "--restart-max",
            "1000",
            "-q",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    sb.qtomo(run_args("clean"))
        .timeout(Duration::from_secs(300))
        .ok();
    sb.qtomo([
        "export",
        "clean",
        "--format",
        "jsonl",
        "--out",
        "clean.jsonl",
    ])
    .ok();

    // The same seeded ChaCha stream the simulator uses.
    let mut rng = sample_rng(0x5eed_2026_1125, 0);
    let (mut kills, mut supervisor_kills, mut worker_kills) = (0, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut attempts = 0;
    loop {
        assert!(
            Instant::now() < deadline,
            "chaos loop did not finish in time"
        );
        attempts += 1;
        let mut run = sb
            .qtomo(run_args("chaos"))
            .timeout(Duration::from_secs(300))
            .spawn();
        let finished = loop {
            if kills >= KILLS {
                break run.wait();
            }
            std::thread::sleep(Duration::from_millis(40 + rng.random_range(0..210u64)));
            if run.has_exited() {
                break run.wait();
            }
            let supervisor = run.pid() as i32;
            if rng.random_range(0..10u32) < 3 {
                run.signal(Signal::SIGKILL);
                kills += 1;
                supervisor_kills += 1;
                break run.wait();
            }
            let workers = children_of(supervisor);
            if workers.is_empty() {
                continue; // between a worker's death and its replacement
            }
            let victim = workers[rng.random_range(0..workers.len())];
            println!("*** SIGKILL worker {victim} of supervisor {supervisor}");
            if kill(Pid::from_raw(victim), Signal::SIGKILL).is_ok() {
                kills += 1;
                worker_kills += 1;
            }
        };
        match finished.code() {
            Some(0) => break,
            // Killed by us (no exit code): resume.
            None => continue,
            Some(code) => panic!("run exited {code} during the chaos test"),
        }
    }
    println!(
        "{kills} kills ({supervisor_kills} supervisor, {worker_kills} worker) over {attempts} runs"
    );
    assert!(
        kills >= KILLS,
        "only {kills} kills happened before the run completed"
    );
    assert!(supervisor_kills > 0 && worker_kills > 0);

    sb.qtomo([
        "export",
        "chaos",
        "--format",
        "jsonl",
        "--out",
        "chaos.jsonl",
    ])
    .ok();
    let clean = std::fs::read(sb.join("clean.jsonl")).expect("clean export");
    let chaos = std::fs::read(sb.join("chaos.jsonl")).expect("chaos export");
    let lines = chaos
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert_eq!(lines, SAMPLES, "every index exactly once");
    assert!(
        clean == chaos,
        "the export after {kills} kills differs from the uninterrupted run's"
    );
    assert!(
        !std::fs::read_dir("/dev/shm")
            .map(|d| d
                .flatten()
                .any(|e| e.file_name().to_string_lossy().contains("qtomo")))
            .unwrap_or(false),
        "a qtomo segment was left in /dev/shm"
    );
}
