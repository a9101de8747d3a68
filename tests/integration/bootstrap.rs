//! Error bars and goodness of fit (issue 16): the bootstrap's results do not
//! depend on the number of workers, on kills and resumes, or on shards; its
//! options are part of the fingerprint; G² is in every MLE record.
//!
//! Every process runs through [`Sandbox`] with a hard time bound and is
//! cleaned up by pid; inputs are simulated from fixed seeds.

use super::util::Sandbox;
use nix::sys::signal::Signal;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Two-qubit Pauli samples (seed 5, 1000 shots per setting) into `in.csv`.
fn simulate(sb: &Sandbox, samples: u32) {
    sb.qtomo([
        "simulate", "--qubits", "2", "--seed", "5", "--shots", "1000", "--out", "in.csv",
    ])
    .args(["--samples", &samples.to_string()])
    .ok();
}

/// `qtomo run in.csv --out DIR` with the bootstrap options of these tests.
fn run_args(dir: &str, workers: &str) -> Vec<String> {
    [
        "run",
        "in.csv",
        "--out",
        dir,
        "--method",
        "mle,pls",
        "--bootstrap",
        "60",
        "--seed",
        "7",
        "--target",
        "bell-phi+",
        "--workers",
        workers,
        "--retries",
        "100",
        "--restart-max",
        "100",
        "-q",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The CSV export of `dir`, as bytes.
fn export_csv(sb: &Sandbox, dir: &str) -> Vec<u8> {
    let out = format!("{dir}.csv");
    sb.qtomo(["export", dir, "--format", "csv", "--out", &out])
        .ok();
    std::fs::read(sb.join(&out)).expect("read the CSV export")
}

/// The bootstrap and goodness-of-fit columns of a CSV export, row by row.
fn bootstrap_columns(csv: &[u8]) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(csv).expect("UTF-8 CSV");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let keep: Vec<usize> = header
        .iter()
        .enumerate()
        .filter(|(_, h)| {
            h.ends_with("_std")
                || h.ends_with("_q025")
                || h.ends_with("_q975")
                || h.starts_with("bootstrap_")
                || matches!(**h, "g2" | "gof_dof" | "p_value" | "index" | "method")
        })
        .map(|(i, _)| i)
        .collect();
    assert!(keep.len() >= 3 * 7 + 6, "columns: {header:?}");
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            keep.iter().map(|&i| cells[i].to_string()).collect()
        })
        .collect()
}

#[test]
fn one_worker_and_two_killed_and_resumed_workers_give_identical_bootstrap_exports() {
    let sb = Sandbox::new();
    simulate(&sb, 120);
    sb.qtomo(run_args("one", "1"))
        .timeout(Duration::from_secs(300))
        .ok();
    let one = export_csv(&sb, "one");

    // Two workers, the supervisor SIGKILLed once some records are in,
    // then resumed (twice if the first kill came too late to matter).
    let log = sb.join("two/results.log");
    let mut run = sb
        .qtomo(run_args("two", "2"))
        .timeout(Duration::from_secs(300))
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::metadata(&log).map_or(0, |m| m.len()) < 8192 && !run.has_exited() {
        assert!(Instant::now() < deadline, "no records appeared in time");
        std::thread::sleep(Duration::from_millis(5));
    }
    run.signal(Signal::SIGKILL);
    let killed = run.wait();
    println!("first run: {killed}");
    sb.qtomo(run_args("two", "2"))
        .timeout(Duration::from_secs(300))
        .ok();
    let two = export_csv(&sb, "two");
    assert!(
        one == two,
        "exports differ between 1 worker and 2 killed-and-resumed workers"
    );

    // Shards, merged: the same numbers again.
    for shard in ["0/2", "1/2"] {
        let dir = format!("shard{}", &shard[..1]);
        let mut args = run_args(&dir, "0");
        args.extend(["--shard".to_string(), shard.to_string()]);
        sb.qtomo(args).timeout(Duration::from_secs(300)).ok();
    }
    sb.qtomo(["merge", "shard0", "shard1", "--out", "merged"])
        .ok();
    let merged = export_csv(&sb, "merged");
    assert_eq!(bootstrap_columns(&one), bootstrap_columns(&merged));

    // Every row has its error bars and every MLE row its G².
    let rows = bootstrap_columns(&one);
    assert_eq!(rows.len(), 240);
    for row in &rows {
        assert!(
            row.iter().skip(2).filter(|c| c.is_empty()).count() <= 3,
            "missing values: {row:?}"
        );
    }
}

#[test]
fn a_resume_with_other_bootstrap_options_or_seed_is_refused() {
    let sb = Sandbox::new();
    simulate(&sb, 6);
    let base = ["run", "in.csv", "--out", "r", "--workers", "0", "-q"];
    sb.qtomo(base)
        .args(["--bootstrap", "10", "--seed", "3"])
        .ok();
    for (extra, names) in [
        (vec!["--bootstrap", "10", "--seed", "4"], "seed"),
        (vec!["--bootstrap", "11", "--seed", "3"], "bootstrap"),
        (
            vec![
                "--bootstrap",
                "10",
                "--seed",
                "3",
                "--bootstrap-kind",
                "nonparametric",
            ],
            "bootstrap_kind",
        ),
        (vec![], "bootstrap"),
    ] {
        let done = sb.qtomo(base).args(&extra).expect_code(2);
        done.stderr_has(&["different run", names]);
    }
    // The same options resume (nothing left to do).
    sb.qtomo(base)
        .args(["--bootstrap", "10", "--seed", "3"])
        .ok();
    // A run without --bootstrap has gof, and bootstrap null.
    sb.qtomo(["run", "in.csv", "--out", "plain", "--workers", "0", "-q"])
        .ok();
    sb.qtomo(["export", "plain", "--format", "jsonl"]).ok();
    let text = std::fs::read_to_string(sb.join("plain/results.jsonl")).expect("export");
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("JSON line");
        let mle = &v["methods"]["mle"];
        assert_eq!(mle["gof"]["dof"], 12, "{line}");
        let p = mle["gof"]["p_value"].as_f64().expect("p-value");
        assert!((0.0..=1.0).contains(&p));
        assert!(mle["bootstrap"].is_null());
        assert!(v["methods"]["pls"]["gof"].is_null());
    }
}

#[test]
fn bootstrap_options_that_would_be_ignored_are_usage_errors() {
    let sb = Sandbox::new();
    simulate(&sb, 2);
    let base = ["run", "in.csv", "--out", "r", "--workers", "0", "-q"];
    for (extra, needle) in [
        (vec!["--seed", "3"], "--seed applies to the bootstrap only"),
        (
            vec!["--bootstrap-kind", "parametric"],
            "--bootstrap-kind applies to the bootstrap only",
        ),
        (vec!["--bootstrap", "0"], "--bootstrap 0"),
        (
            vec!["--bootstrap", "5", "--method", "linear"],
            "--bootstrap applies to mle and pls",
        ),
        (
            vec!["--bootstrap", "5", "--bootstrap-kind", "jackknife"],
            "unknown bootstrap kind",
        ),
    ] {
        sb.qtomo(base)
            .args(&extra)
            .expect_code(2)
            .stderr_has(&[needle]);
    }
    assert!(
        !sb.join("r").exists(),
        "nothing is written on a usage error"
    );
}
