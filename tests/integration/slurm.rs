//! Running as scheduler array tasks, through the real binary: the shard taken
//! from Slurm's and Kubernetes' environment, shards merging into exactly the
//! single-machine result, and (with `QTOMO_SLURM_TEST=1`, as root, with
//! Debian's slurm-wlm and munge installed) the end-to-end test on a real
//! one-node Slurm cluster, `tests/slurm/run-slurm-test.sh`.

use crate::util::scrubbed_command;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

const QTOMO: &str = env!("CARGO_BIN_EXE_qtomo");

fn qtomo(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = scrubbed_command(QTOMO);
    cmd.arg("-q").args(args);
    cmd.envs(env.iter().copied());
    cmd.output().expect("qtomo starts")
}

#[track_caller]
fn succeeds(out: Output) -> Output {
    assert!(
        out.status.success(),
        "qtomo exited {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// Ten simulated two-qubit samples.
fn simulate(dir: &Path) -> PathBuf {
    let input = dir.join("counts.csv");
    succeeds(qtomo(
        &[
            "simulate",
            "--basis",
            "pauli",
            "--qubits",
            "2",
            "--samples",
            "10",
            "--shots",
            "500",
            "--seed",
            "3",
            "--out",
            p(&input),
        ],
        &[],
    ));
    input
}

fn run(input: &Path, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec!["run", p(input), "--out", p(out), "--workers", "0"];
    args.extend_from_slice(extra);
    qtomo(&args, env)
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `(index, status)` of every line of the run's partial JSONL export.
fn exported(run_dir: &Path) -> Vec<(u64, String)> {
    let out = run_dir.with_extension("partial.jsonl");
    succeeds(qtomo(
        &[
            "export",
            p(run_dir),
            "--format",
            "jsonl",
            "--partial",
            "--out",
            p(&out),
        ],
        &[],
    ));
    std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["index"].as_u64().unwrap(),
                v["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The indices exported with status ok.
fn ok_indices(run_dir: &Path) -> Vec<u64> {
    let rows = exported(run_dir);
    assert_eq!(rows.len(), 10, "one export line per sample");
    rows.into_iter()
        .filter(|(_, s)| s == "ok")
        .map(|(i, _)| i)
        .collect()
}

fn export_jsonl(run_dir: &Path) -> String {
    let out = run_dir.with_extension("jsonl");
    succeeds(qtomo(
        &["export", p(run_dir), "--format", "jsonl", "--out", p(&out)],
        &[],
    ));
    std::fs::read_to_string(out).unwrap()
}

fn slurm_task(id: &str) -> [(&'static str, String); 4] {
    [
        ("SLURM_ARRAY_TASK_ID", id.to_string()),
        ("SLURM_ARRAY_TASK_COUNT", "4".into()),
        ("SLURM_ARRAY_TASK_MIN", "10".into()),
        ("SLURM_ARRAY_TASK_STEP", "10".into()),
    ]
}

fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn a_stepped_slurm_array_task_runs_the_shard_of_its_position() {
    let tmp = tempfile::tempdir().unwrap();
    let input = simulate(tmp.path());
    // --array=10-40:10: task 30 is position 2 of 4, i.e. [⌊2·10/4⌋, ⌊3·10/4⌋) = [5, 7).
    let dir = tmp.path().join("shard-30");
    succeeds(run(&input, &dir, &[], &env_refs(&slurm_task("30"))));
    let summary = json(&dir.join("summary.json"));
    assert_eq!(summary["total"], 2, "{summary}");
    assert_eq!(summary["succeeded"], 2, "{summary}");
    assert_eq!(summary["status"], "complete");
    let manifest = json(&dir.join("manifest.json"));
    assert_eq!(manifest["fingerprint"]["shard"], serde_json::json!([2, 4]));
    assert_eq!(ok_indices(&dir), vec![5, 6]);
}

#[test]
fn the_four_tasks_of_a_stepped_array_cover_every_index_once_and_merge_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let input = simulate(tmp.path());
    let mut dirs = Vec::new();
    let mut seen = Vec::new();
    for id in ["10", "20", "30", "40"] {
        let dir = tmp.path().join(format!("shard-{id}"));
        succeeds(run(&input, &dir, &[], &env_refs(&slurm_task(id))));
        seen.extend(ok_indices(&dir));
        dirs.push(dir);
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..10).collect::<Vec<u64>>(), "no gap, no overlap");

    let single = tmp.path().join("single");
    succeeds(run(&input, &single, &[], &[]));
    let merged = tmp.path().join("merged");
    let mut args = vec!["merge"];
    args.extend(dirs.iter().map(|d| p(d)));
    args.extend(["--out", p(&merged)]);
    succeeds(qtomo(&args, &[]));
    assert_eq!(export_jsonl(&merged), export_jsonl(&single));
}

#[test]
fn four_explicit_shards_merge_into_exactly_the_single_machine_result() {
    let tmp = tempfile::tempdir().unwrap();
    let input = simulate(tmp.path());
    let single = tmp.path().join("single");
    succeeds(run(&input, &single, &[], &[]));
    let mut dirs = Vec::new();
    let mut sizes = Vec::new();
    for i in 0..4 {
        let dir = tmp.path().join(format!("shard-{i}"));
        let shard = format!("{i}/4");
        // An explicit --shard wins over the environment.
        succeeds(run(
            &input,
            &dir,
            &["--shard", &shard],
            &env_refs(&slurm_task("10")),
        ));
        sizes.push(json(&dir.join("summary.json"))["total"].as_u64().unwrap());
        dirs.push(dir);
    }
    assert_eq!(sizes, vec![2, 3, 2, 3], "balanced contiguous ranges of 10");
    let merged = tmp.path().join("merged");
    let mut args = vec!["merge"];
    args.extend(dirs.iter().map(|d| p(d)));
    args.extend(["--out", p(&merged)]);
    succeeds(qtomo(&args, &[]));
    let merged_jsonl = export_jsonl(&merged);
    assert_eq!(merged_jsonl.lines().count(), 10);
    assert_eq!(merged_jsonl, export_jsonl(&single));
}

#[test]
fn a_kubernetes_completion_index_needs_the_shard_count() {
    let tmp = tempfile::tempdir().unwrap();
    let input = simulate(tmp.path());
    let dir = tmp.path().join("shard-1");
    let env = [("JOB_COMPLETION_INDEX", "1")];
    let out = run(&input, &dir, &[], &env);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--shard-count"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.exists(), "a usage error writes nothing");

    succeeds(run(&input, &dir, &["--shard-count", "3"], &env));
    // Shard 1 of 3 of 10 samples: [3, 6).
    assert_eq!(ok_indices(&dir), vec![3, 4, 5]);
}

#[test]
fn a_task_id_off_the_array_grid_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let input = simulate(tmp.path());
    let dir = tmp.path().join("shard-25");
    let out = run(&input, &dir, &[], &env_refs(&slurm_task("25")));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--shard"));
    assert!(!dir.exists());
}

#[test]
fn a_task_resubmitted_as_a_one_task_array_is_refused_unless_its_shard_is_pinned() {
    let tmp = tempfile::tempdir().unwrap();
    let input = simulate(tmp.path());
    let dir = tmp.path().join("shard-30");
    succeeds(run(&input, &dir, &[], &env_refs(&slurm_task("30"))));
    // `sbatch --array=30` alone: the task sees an array of one (shard 0/1),
    // which must not silently recompute the whole input into this directory.
    let alone = [
        ("SLURM_ARRAY_TASK_ID", "30"),
        ("SLURM_ARRAY_TASK_COUNT", "1"),
        ("SLURM_ARRAY_TASK_MIN", "30"),
        ("SLURM_ARRAY_TASK_STEP", "1"),
    ];
    let out = run(&input, &dir, &[], &alone);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard"));
    // Pinned (what contrib/qtomo.sbatch does with QTOMO_SHARD=2/4): resumes, nothing to do.
    succeeds(run(&input, &dir, &["--shard", "2/4"], &alone));
    assert_eq!(ok_indices(&dir), vec![5, 6]);
}

/// The real cluster: tests/slurm/run-slurm-test.sh under a hard timeout.
#[test]
fn slurm_cluster_end_to_end() {
    if std::env::var("QTOMO_SLURM_TEST").as_deref() != Ok("1") {
        println!(
            "skipped: set QTOMO_SLURM_TEST=1 (as root, with Debian's slurm-wlm and munge installed) to run tests/slurm/run-slurm-test.sh on a one-node Slurm cluster"
        );
        return;
    }
    const TIMEOUT: Duration = Duration::from_secs(600);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slurm/run-slurm-test.sh");
    let start = Instant::now();
    let mut cmd = scrubbed_command("bash");
    cmd.arg(&script)
        .env("QTOMO", QTOMO)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // Own process group, so a timeout can stop the script and everything under it.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().expect("bash starts");
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            lines.push(line);
        }
        lines
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            // SIGTERM lets the script's trap stop the daemons it started.
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGTERM);
            let grace = Instant::now();
            while child.try_wait().unwrap().is_none() && grace.elapsed() < Duration::from_secs(60) {
                std::thread::sleep(Duration::from_millis(200));
            }
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
            panic!("{} timed out after {TIMEOUT:?}", script.display());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let lines = reader.join().unwrap();
    assert!(
        status.success(),
        "{} failed ({status}) after {:.0?}",
        script.display(),
        start.elapsed()
    );
    // QTOMO_SLURM_TEST=1 says the packages are there: a skip is a failure.
    if let Some(skip) = lines.iter().find(|l| l.starts_with("SKIP:")) {
        panic!("QTOMO_SLURM_TEST=1 but the Slurm test was skipped: {skip}");
    }
    println!("slurm end-to-end test passed in {:.0?}", start.elapsed());
}
