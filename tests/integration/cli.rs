//! The command-line contract (DESIGN.md), checked on the real binary:
//! help and completions, located input errors that write nothing, the
//! simulate → run → export round trip, failed samples, resume, the run lock
//! and SIGTERM. Every run uses `--workers 0` (in-process), so these tests do
//! not depend on the worker pool.

use crate::util::{Finished, Sandbox, example_data};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

const SUBCOMMANDS: [&str; 9] = [
    "simulate",
    "run",
    "status",
    "export",
    "merge",
    "show",
    "report",
    "bases",
    "completions",
];

/// The header of a one-qubit Pauli input.
const HEADER_1Q: &str = "sample,X:0,X:1,Y:0,Y:1,Z:0,Z:1";

pub(crate) fn json_file(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn jsonl_file(path: &Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{} line {}: not JSON: {e}", path.display(), i + 1))
        })
        .collect()
}

/// Indices of a JSONL export, asserting they are exactly `0..n` in order.
fn assert_indices_once_in_order(records: &[Value], n: u64) {
    let indices: Vec<u64> = records
        .iter()
        .map(|r| r["index"].as_u64().expect("index is an integer"))
        .collect();
    assert_eq!(
        indices,
        (0..n).collect::<Vec<_>>(),
        "indices 0..{n}, once each, in order"
    );
}

/// A d×d matrix from a JSON array of rows.
fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .expect("matrix is an array of rows")
        .iter()
        .map(|row| {
            row.as_array()
                .expect("row is an array")
                .iter()
                .map(|x| x.as_f64().expect("entry is a number"))
                .collect()
        })
        .collect()
}

/// `qtomo simulate` into `sandbox/name`, checked to succeed.
pub(crate) fn simulate(sandbox: &Sandbox, name: &str, qubits: u32, samples: u32) {
    sandbox
        .qtomo([
            "simulate", "--basis", "pauli", "--seed", "7", "--shots", "1000",
        ])
        .args([
            "--qubits",
            &qubits.to_string(),
            "--samples",
            &samples.to_string(),
        ])
        .args(["--out", name])
        .ok();
}

/// Bytes in `dir/results.log`.
fn log_len(sandbox: &Sandbox, dir: &str) -> u64 {
    std::fs::metadata(sandbox.join(dir).join("results.log"))
        .expect("results.log exists")
        .len()
}

/// `qtomo status DIR --json`, parsed.
pub(crate) fn status_json(sandbox: &Sandbox, dir: &str) -> Value {
    let out = sandbox.qtomo(["status", dir, "--json"]).ok();
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json is not JSON: {e}\n{out}"))
}

// ---------------------------------------------------------------------------
// Help, version, completions

#[test]
fn every_subcommand_help_exits_0_with_an_example() {
    let sandbox = Sandbox::new();
    sandbox
        .qtomo(["--help"])
        .ok()
        .stdout_has(&["Example", "Exit codes"]);
    for sub in SUBCOMMANDS {
        sandbox.qtomo([sub, "--help"]).ok().stdout_has(&["Example"]);
    }
}

#[test]
fn version_prints_the_package_version() {
    let sandbox = Sandbox::new();
    let out = sandbox.qtomo(["--version"]).ok();
    assert_eq!(
        out.stdout.trim(),
        format!("qtomo {}", env!("CARGO_PKG_VERSION")),
        "{out}"
    );
}

#[test]
fn completions_print_a_script_for_bash_zsh_and_fish() {
    let sandbox = Sandbox::new();
    for (shell, marker) in [
        ("bash", "complete -F _qtomo"),
        ("zsh", "#compdef qtomo"),
        ("fish", "complete -c qtomo"),
    ] {
        let out = sandbox.qtomo(["completions", shell]).ok();
        out.stdout_has(&[marker, "simulate", "export"]);
    }
}

/// `qtomo completions fish | head -1` must not panic: a closed stdout is
/// success (ripgrep's rule), as the rest of the CLI already treats it.
#[test]
fn completions_into_a_closed_pipe_exit_0_without_a_panic() {
    let sandbox = Sandbox::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = sandbox
            .qtomo(["completions", shell])
            .spawn_with_closed_stdout()
            .wait()
            .expect_code(0);
        out.check(
            !out.stderr.contains("panicked"),
            "no panic on a broken pipe",
        );
    }
}

// ---------------------------------------------------------------------------
// Malformed inputs: exit 2, a located message, nothing written

/// Runs `qtomo run <input> --out out --workers 0 <extra>` and checks that it
/// exits 2, that stderr contains every needle (the file and where in it),
/// and that no output directory was created.
fn assert_rejected(sandbox: &Sandbox, input: &str, extra: &[&str], needles: &[&str]) -> Finished {
    let out = sandbox
        .qtomo(["run", input, "--out", "out", "--workers", "0"])
        .args(extra)
        .expect_code(2);
    out.stderr_has(needles);
    out.check(
        !sandbox.join("out").exists(),
        "a rejected input must not create the output directory",
    );
    out
}

#[test]
fn run_rejects_a_missing_header_naming_file_and_line() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "noheader.csv",
        "0,653,347,739,261,519,481\n1,864,136,599,401,674,326\n",
    );
    // With the number of qubits given, the reader finds the data row.
    assert_rejected(
        &sandbox,
        "noheader.csv",
        &["--qubits", "1"],
        &["noheader.csv:1:", "expected a header row"],
    );
    // Without it, inferring the qubits from the first row fails first; that
    // message must name the file and line too.
    assert_rejected(
        &sandbox,
        "noheader.csv",
        &[],
        &["noheader.csv:1:", "expected a header row"],
    );
}

#[test]
fn run_rejects_a_row_with_the_wrong_number_of_fields() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "short.csv",
        format!("{HEADER_1Q}\n0,653,347,739,261,519,481\n1,864,136,599,401,674\n"),
    );
    assert_rejected(
        &sandbox,
        "short.csv",
        &[],
        &["short.csv:3:", "expected 7 fields", "found 6"],
    );
}

#[test]
fn run_rejects_an_unknown_label_naming_the_column() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "label.csv",
        "sample,X:0,X:1,Y:0,Y:1,Z:0,Q:1\n0,653,347,739,261,519,481\n",
    );
    assert_rejected(
        &sandbox,
        "label.csv",
        &[],
        &[
            "label.csv:1:",
            "unknown column 'Q:1'",
            "column 7",
            "missing label 'Z:1'",
        ],
    );
}

#[test]
fn run_rejects_text_in_a_count_naming_line_and_column() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "text.csv",
        format!("{HEADER_1Q}\n0,653,347,739,abc,519,481\n"),
    );
    assert_rejected(
        &sandbox,
        "text.csv",
        &[],
        &["text.csv:2:5", "column 'Y:1'", "\"abc\""],
    );
}

#[test]
fn run_rejects_a_negative_count_naming_line_and_column() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "neg.csv",
        format!("{HEADER_1Q}\n0,653,347,739,261,-5,481\n"),
    );
    assert_rejected(&sandbox, "neg.csv", &[], &["neg.csv:2:6", "negative"]);
}

#[test]
fn run_rejects_a_nan_count_naming_line_and_column() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "nan.csv",
        format!("{HEADER_1Q}\n0,653,347,739,261,NaN,481\n"),
    );
    assert_rejected(&sandbox, "nan.csv", &[], &["nan.csv:2:6", "NaN"]);
}

#[test]
fn run_rejects_an_empty_file_naming_it() {
    let sandbox = Sandbox::new();
    sandbox.write("empty.csv", "");
    assert_rejected(&sandbox, "empty.csv", &[], &["empty.csv", "empty"]);
    assert_rejected(
        &sandbox,
        "empty.csv",
        &["--qubits", "1"],
        &["empty.csv", "empty"],
    );
}

#[test]
fn run_rejects_a_directory_naming_it() {
    let sandbox = Sandbox::new();
    std::fs::create_dir(sandbox.join("adir.csv")).unwrap();
    assert_rejected(&sandbox, "adir.csv", &[], &["adir.csv", "is a directory"]);
}

#[test]
fn run_rejects_a_nonexistent_file_naming_it() {
    let sandbox = Sandbox::new();
    assert_rejected(&sandbox, "nope.csv", &[], &["nope.csv", "no such file"]);
    assert_rejected(
        &sandbox,
        "nope.csv",
        &["--qubits", "1"],
        &["nope.csv", "no such file"],
    );
}

#[test]
fn run_rejects_an_unknown_basis() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "good.csv",
        format!("{HEADER_1Q}\n0,653,347,739,261,519,481\n"),
    );
    assert_rejected(
        &sandbox,
        "good.csv",
        &["--basis", "bogus"],
        &["unknown basis 'bogus'", "james16"],
    );
}

#[test]
fn run_rejects_a_qubits_mismatch_naming_the_header() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "good.csv",
        format!("{HEADER_1Q}\n0,653,347,739,261,519,481\n"),
    );
    assert_rejected(
        &sandbox,
        "good.csv",
        &["--qubits", "2"],
        &[
            "good.csv:1:",
            "labelled for 1 qubit",
            "--qubits 2 expects 36 labels",
        ],
    );
}

// ---------------------------------------------------------------------------
// simulate → run → export

#[test]
fn simulate_run_export_round_trip_follows_the_contract() {
    const N: u64 = 6;
    let sandbox = Sandbox::new();
    simulate(&sandbox, "data.csv", 2, N as u32);
    sandbox
        .qtomo(["run", "data.csv", "--out", "r", "--workers", "0"])
        .args(["--target", "bell-phi+"])
        .ok();

    let s = json_file(&sandbox.join("r/summary.json"));
    for key in [
        "status",
        "total",
        "succeeded",
        "failed",
        "failed_indices",
        "elapsed_s",
        "samples_per_s",
        "workers",
        "worker_restarts",
        "methods",
        "basis",
        "dim",
    ] {
        assert!(s.get(key).is_some(), "summary.json lacks {key}: {s}");
    }
    assert_eq!(s["status"], "complete", "{s}");
    assert_eq!(s["total"], N);
    assert_eq!(s["succeeded"], N);
    assert_eq!(s["failed"], 0);
    assert_eq!(s["failed_indices"], serde_json::json!([]));
    assert!(s["elapsed_s"].as_f64().unwrap() > 0.0, "{s}");
    assert!(s["samples_per_s"].as_f64().unwrap() > 0.0, "{s}");
    assert_eq!(s["workers"], 0, "in-process run: {s}");
    assert_eq!(s["worker_restarts"], 0);
    assert_eq!(s["methods"], serde_json::json!(["mle", "pls", "linear"]));
    assert_eq!(s["basis"], "pauli(2)");
    assert_eq!(s["dim"], 4);

    // JSONL: every index once, in order, with the contract's keys.
    sandbox
        .qtomo(["export", "r", "--format", "jsonl", "--out", "r.jsonl"])
        .ok();
    let records = jsonl_file(&sandbox.join("r.jsonl"));
    assert_indices_once_in_order(&records, N);
    for r in &records {
        for key in ["index", "id", "status", "error", "methods"] {
            assert!(r.get(key).is_some(), "record lacks {key}: {r}");
        }
        assert_eq!(r["status"], "ok", "{r}");
        assert!(r["error"].is_null(), "{r}");
        let mle = &r["methods"]["mle"];
        for key in [
            "rho_re",
            "rho_im",
            "purity",
            "log_likelihood",
            "gap_bound",
            "iterations",
            "converged",
            "fidelity",
        ] {
            assert!(mle.get(key).is_some(), "mle result lacks {key}: {r}");
        }
        assert!(mle["converged"].as_bool().expect("converged is a bool"));
        let f = mle["fidelity"].as_f64().expect("fidelity is a number");
        assert!((0.0..=1.0 + 1e-9).contains(&f), "fidelity {f}");
        for m in ["pls", "linear"] {
            assert!(r["methods"][m]["rho_re"].is_array(), "{m} missing: {r}");
        }
        assert_eq!(matrix(&mle["rho_re"]).len(), 4);
    }

    // CSV: one row per sample × method.
    sandbox
        .qtomo(["export", "r", "--format", "csv", "--out", "r.csv"])
        .ok();
    let mut reader = csv::Reader::from_path(sandbox.join("r.csv")).expect("csv export");
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("csv export lacks column {name}: {headers:?}"))
    };
    let (index_col, method_col, status_col) = (col("index"), col("method"), col("status"));
    let mut pairs = Vec::new();
    for row in reader.records() {
        let row = row.expect("a csv row");
        assert_eq!(&row[status_col], "ok");
        pairs.push((
            row[index_col].parse::<u64>().unwrap(),
            row[method_col].to_string(),
        ));
    }
    let expected: Vec<(u64, String)> = (0..N)
        .flat_map(|i| ["mle", "pls", "linear"].map(|m| (i, m.to_string())))
        .collect();
    assert_eq!(
        pairs.iter().collect::<BTreeSet<_>>(),
        expected.iter().collect::<BTreeSet<_>>(),
        "one csv row per sample × method"
    );
    assert_eq!(pairs.len(), expected.len(), "no duplicate csv rows");

    // NPY: N×4×4 complex128 per method, equal to the JSONL matrices.
    sandbox
        .qtomo(["export", "r", "--format", "npy", "--out", "npy"])
        .ok();
    use ndarray_npy::ReadNpyExt;
    for method in ["mle", "pls", "linear"] {
        let path = sandbox.join(format!("npy/rho_{method}.npy"));
        let file = std::fs::File::open(&path).expect("npy export file");
        let rho = ndarray::Array3::<faer::c64>::read_npy(file)
            .unwrap_or_else(|e| panic!("{} is not N×d×d complex128: {e}", path.display()));
        assert_eq!(rho.shape(), &[N as usize, 4, 4], "{method}");
        for (i, r) in records.iter().enumerate() {
            let re = matrix(&r["methods"][method]["rho_re"]);
            let im = matrix(&r["methods"][method]["rho_im"]);
            for a in 0..4 {
                for b in 0..4 {
                    let z = rho[[i, a, b]];
                    assert!(
                        (z.re - re[a][b]).abs() < 1e-12 && (z.im - im[a][b]).abs() < 1e-12,
                        "{method} sample {i} [{a},{b}]: npy {z} vs jsonl {}+{}i",
                        re[a][b],
                        im[a][b]
                    );
                }
            }
        }
    }
}

#[test]
fn an_all_zero_sample_is_a_failed_record_and_the_run_exits_3() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "data.csv",
        format!(
            "{HEADER_1Q}\n\
             a,653,347,739,261,519,481\n\
             b,0,0,0,0,0,0\n\
             c,53,947,441,559,626,374\n\
             d,478,522,874,126,575,425\n"
        ),
    );
    let out = sandbox
        .qtomo(["run", "data.csv", "--out", "r", "--workers", "0"])
        .expect_code(3);
    out.stderr_has(&["1 failed"]);
    let s = json_file(&sandbox.join("r/summary.json"));
    assert_eq!(s["status"], "complete", "{s}");
    assert_eq!(s["total"], 4);
    assert_eq!(s["succeeded"], 3);
    assert_eq!(s["failed"], 1);
    assert_eq!(s["failed_indices"], serde_json::json!([1]), "{s}");

    sandbox
        .qtomo(["export", "r", "--format", "jsonl", "--out", "r.jsonl"])
        .ok();
    let records = jsonl_file(&sandbox.join("r.jsonl"));
    assert_indices_once_in_order(&records, 4);
    for (r, id) in records.iter().zip(["a", "b", "c", "d"]) {
        assert_eq!(r["id"], id, "{r}");
        if id == "b" {
            assert_eq!(r["status"], "failed", "{r}");
            assert!(r["error"].as_str().is_some_and(|e| !e.is_empty()), "{r}");
        } else {
            assert_eq!(r["status"], "ok", "{r}");
            assert!(r["error"].is_null(), "{r}");
        }
    }
}

// ---------------------------------------------------------------------------
// Resume, refusal, --fresh

#[test]
fn rerunning_the_same_command_resumes_without_new_records() {
    let sandbox = Sandbox::new();
    simulate(&sandbox, "data.csv", 1, 8);
    let run = || sandbox.qtomo(["run", "data.csv", "--out", "r", "--workers", "0"]);
    run().ok();
    let before = log_len(&sandbox, "r");
    run().ok();
    assert_eq!(
        log_len(&sandbox, "r"),
        before,
        "a resumed complete run appends nothing"
    );
    let st = status_json(&sandbox, "r");
    assert_eq!(st["records"], 8, "{st}");
    let s = json_file(&sandbox.join("r/summary.json"));
    assert_eq!(s["status"], "complete", "{s}");
    assert_eq!(s["succeeded"], 8, "{s}");
}

#[test]
fn rerun_with_another_method_is_refused_and_fresh_starts_over() {
    let sandbox = Sandbox::new();
    simulate(&sandbox, "data.csv", 1, 8);
    let run = |extra: &[&str]| {
        sandbox
            .qtomo(["run", "data.csv", "--out", "r", "--workers", "0"])
            .args(extra)
    };
    run(&[]).ok();
    let before = log_len(&sandbox, "r");

    let refused = run(&["--method", "pls"]).expect_code(2);
    refused.stderr_has(&["different run", "methods", "mle,pls,linear", "pls"]);
    assert_eq!(
        log_len(&sandbox, "r"),
        before,
        "a refused run writes nothing"
    );
    assert_eq!(
        json_file(&sandbox.join("r/summary.json"))["methods"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    run(&["--method", "pls", "--fresh"]).ok();
    let s = json_file(&sandbox.join("r/summary.json"));
    assert_eq!(s["methods"], serde_json::json!(["pls"]), "{s}");
    assert_eq!(s["succeeded"], 8, "{s}");
    assert_eq!(
        status_json(&sandbox, "r")["records"],
        8,
        "old records discarded"
    );
    sandbox
        .qtomo(["export", "r", "--format", "jsonl", "--out", "r.jsonl"])
        .ok();
    let records = jsonl_file(&sandbox.join("r.jsonl"));
    assert_indices_once_in_order(&records, 8);
    for r in &records {
        let methods: Vec<&String> = r["methods"].as_object().unwrap().keys().collect();
        assert_eq!(methods, ["pls"], "{r}");
    }
}

// ---------------------------------------------------------------------------
// show, status

#[test]
fn show_prints_a_matrix_and_metrics() {
    let sandbox = Sandbox::new();
    simulate(&sandbox, "data.csv", 1, 3);
    sandbox
        .qtomo(["run", "data.csv", "--out", "r", "--workers", "0"])
        .ok();
    let out = sandbox.qtomo(["show", "r", "--sample", "0"]).ok();
    out.stdout_has(&[
        "sample 0",
        "ok",
        "mle: ρ =",
        "pls: ρ =",
        "linear: ρ =",
        "purity",
        "trace",
        "eigenvalues",
        "log-likelihood",
        "gap bound",
    ]);
    let matrix_rows = out
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with('[') && l.contains('i'))
        .count();
    out.check(matrix_rows == 3 * 2, "three 2×2 matrices");
    sandbox
        .qtomo(["show", "r", "--sample", "99"])
        .expect_code(2)
        .stderr_has(&["sample 99"]);
}

#[test]
fn status_json_parses_with_done_equal_to_total() {
    let sandbox = Sandbox::new();
    simulate(&sandbox, "data.csv", 1, 5);
    sandbox
        .qtomo(["run", "data.csv", "--out", "r", "--workers", "0"])
        .ok();
    let st = status_json(&sandbox, "r");
    assert_eq!(st["total"], 5, "{st}");
    assert_eq!(st["done"], st["total"], "{st}");
    assert_eq!(st["failed"], 0, "{st}");
    assert_eq!(st["pending"], 0, "{st}");
    assert_eq!(st["running"], false, "{st}");
    // The status word is spelled as in summary.json.
    sandbox
        .qtomo(["status", "r"])
        .ok()
        .stdout_has(&["5/5 finished (5 ok, 0 failed)", "last summary:  complete,"]);
}

// ---------------------------------------------------------------------------
// The shipped example data

/// The MLE fidelity of the single sample of a run directory, via export.
fn single_mle_fidelity(sandbox: &Sandbox, dir: &str) -> f64 {
    let out = format!("{dir}.jsonl");
    sandbox
        .qtomo(["export", dir, "--format", "jsonl", "--out", &out])
        .ok();
    let records = jsonl_file(&sandbox.join(&out));
    assert_indices_once_in_order(&records, 1);
    assert_eq!(records[0]["status"], "ok", "{}", records[0]);
    records[0]["methods"]["mle"]["fidelity"]
        .as_f64()
        .expect("fidelity with --target")
}

#[test]
fn james2001_runs_with_the_james16_basis() {
    let sandbox = Sandbox::new();
    sandbox
        .qtomo(["run"])
        .arg(example_data("james2001.csv"))
        .args(["--basis", "james16", "--target", "bell-phi+"])
        .args(["--workers", "0", "--out", "j"])
        .ok();
    let s = json_file(&sandbox.join("j/summary.json"));
    assert_eq!(s["status"], "complete", "{s}");
    assert_eq!(s["basis"], "james16", "{s}");
    let f = single_mle_fidelity(&sandbox, "j");
    assert!(f > 0.9, "james2001 MLE fidelity to Φ+: {f}");
}

#[test]
fn spdc36_mle_fidelity_in_the_export_is_at_least_0_99() {
    let sandbox = Sandbox::new();
    sandbox
        .qtomo(["run"])
        .arg(example_data("spdc36.csv"))
        .args(["--target", "bell-phi+", "--workers", "0", "--out", "s"])
        .ok();
    let s = json_file(&sandbox.join("s/summary.json"));
    assert_eq!(
        s["basis"], "pauli(2)",
        "qubits inferred from 36 columns: {s}"
    );
    let f = single_mle_fidelity(&sandbox, "s");
    assert!(f >= 0.99, "spdc36 MLE fidelity to Φ+: {f}");
}

#[test]
fn spdc36_runs_with_its_custom_kets_basis() {
    let sandbox = Sandbox::new();
    sandbox
        .qtomo(["run"])
        .arg(example_data("spdc36.csv"))
        .arg("--basis")
        .arg(example_data("spdc36.kets.csv"))
        .args(["--target", "bell-phi+", "--workers", "0", "--out", "k"])
        .ok();
    let s = json_file(&sandbox.join("k/summary.json"));
    assert_eq!(s["status"], "complete", "{s}");
    assert_eq!(s["dim"], 4, "{s}");
    assert!(
        s["basis"].as_str().unwrap().contains("spdc36.kets.csv"),
        "{s}"
    );
    let f = single_mle_fidelity(&sandbox, "k");
    assert!(f >= 0.98, "spdc36 (kets basis) MLE fidelity to Φ+: {f}");
}

// ---------------------------------------------------------------------------
// One run per directory; SIGTERM; resume after an interruption

#[test]
fn a_second_run_is_refused_sigterm_interrupts_and_a_rerun_completes() {
    const N: u64 = 1000;
    let sandbox = Sandbox::new();
    simulate(&sandbox, "big.csv", 3, N as u32);
    let run = || {
        sandbox
            .qtomo(["run", "big.csv", "--out", "r", "--workers", "0"])
            .timeout(Duration::from_secs(600))
    };

    let mut first = run().spawn();
    let first_pid = first.pid();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !sandbox.join("r/results.log").exists() {
        assert!(
            !first.has_exited(),
            "the first run ended before creating results.log"
        );
        assert!(Instant::now() < deadline, "no results.log after 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }

    let second = run().run();
    second.check(
        matches!(second.code(), Some(1 | 2)),
        "a second run on a busy directory exits 1 or 2",
    );
    second.stderr_has(&["in use", &first_pid.to_string()]);

    assert!(
        !first.has_exited(),
        "the first run finished before it could be signalled; make the input larger"
    );
    first.signal(nix::sys::signal::Signal::SIGTERM);
    let first = first.wait().expect_code(75);
    first.stderr_has(&["interrupted", "rerun the same command"]);
    let s = json_file(&sandbox.join("r/summary.json"));
    assert_eq!(s["status"], "interrupted", "{s}");
    let done = s["succeeded"].as_u64().unwrap() + s["failed"].as_u64().unwrap();
    assert!(done < N, "interrupted before the end: {s}");
    // The rate is over the samples this run processed, not those it planned.
    let rate_times_time = s["samples_per_s"].as_f64().unwrap() * s["elapsed_s"].as_f64().unwrap();
    assert!(
        rate_times_time <= done as f64 + 1.0,
        "samples_per_s × elapsed_s = {rate_times_time} but only {done} samples were processed: {s}"
    );

    run().ok();
    let s = json_file(&sandbox.join("r/summary.json"));
    assert_eq!(s["status"], "complete", "{s}");
    assert_eq!(s["succeeded"], N, "{s}");
    assert_eq!(
        status_json(&sandbox, "r")["records"],
        N,
        "one record per index in the log"
    );
    sandbox
        .qtomo(["export", "r", "--format", "jsonl", "--out", "r.jsonl"])
        .ok();
    assert_indices_once_in_order(&jsonl_file(&sandbox.join("r.jsonl")), N);
}

// ---------------------------------------------------------------------------
// Logs

/// Off a terminal (journald, Slurm output files, a pipe) the log lines on
/// stderr are plain text.
#[test]
fn stderr_has_no_colour_codes_off_a_terminal() {
    let sandbox = Sandbox::new();
    simulate(&sandbox, "data.csv", 1, 2);
    let out = sandbox
        .qtomo(["run", "data.csv", "--out", "r", "--workers", "0"])
        .ok();
    out.stderr_has(&["run started"]);
    out.check(
        !out.stderr.contains('\u{1b}'),
        "no ANSI escape codes on a pipe",
    );
}

// ---------------------------------------------------------------------------
// Usage mistakes exit 2 and write nothing (issue 13)

/// Names in `dir`, sorted, for "nothing was written" checks.
pub(crate) fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn status_show_export_of_a_folder_that_is_not_a_run_directory_exit_2() {
    let sandbox = Sandbox::new();
    std::fs::create_dir(sandbox.join("notes")).expect("mkdir notes");
    sandbox.write("notes/thesis.tex", "x");
    sandbox.write("plain.txt", "x");
    for dir in ["notes", "missing", "plain.txt"] {
        for args in [
            vec!["status", dir],
            vec!["status", dir, "--json"],
            vec!["show", dir, "--sample", "0"],
            vec!["export", dir, "--format", "jsonl"],
            vec!["export", dir, "--format", "npy"],
        ] {
            sandbox
                .qtomo(&args)
                .expect_code(2)
                .stderr_has(&[dir, "not a run directory"]);
        }
    }
    assert_eq!(listing(&sandbox.join("notes")), ["thesis.tex"]);
    assert!(!sandbox.join("missing").exists());
}

/// Runs shard `i` of 2 of `input` into `dir`.
pub(crate) fn run_shard(sandbox: &Sandbox, input: &str, dir: &str, i: u32) {
    sandbox
        .qtomo(["run", input, "--out", dir, "--workers", "0"])
        .args(["--shard", &format!("{i}/2")])
        .ok();
}

#[test]
fn merge_mistakes_exit_2_and_write_nothing() {
    let sandbox = Sandbox::new();
    simulate(&sandbox, "data.csv", 1, 6);
    sandbox
        .qtomo(["simulate", "--qubits", "1", "--samples", "6", "--seed", "8"])
        .args(["--out", "other.csv"])
        .ok();
    run_shard(&sandbox, "data.csv", "s0", 0);
    run_shard(&sandbox, "data.csv", "s1", 1);
    run_shard(&sandbox, "other.csv", "o1", 1);
    std::fs::create_dir(sandbox.join("notes")).expect("mkdir notes");
    sandbox.write("notes/thesis.tex", "x");

    let refused = |dirs: &[&str], out: &str, needles: &[&str]| {
        sandbox
            .qtomo(["merge"])
            .args(dirs)
            .args(["--out", out])
            .expect_code(2)
            .stderr_has(needles);
    };
    refused(&["s0", "s0"], "m", &["sample 0", "overlap"]);
    refused(&["s0", "o1"], "m", &["o1", "different run"]);
    refused(&["s0", "notes"], "m", &["notes", "not a run directory"]);
    refused(&["s0", "s1"], "notes", &["notes", "not empty"]);
    assert!(
        !sandbox.join("m").exists(),
        "a refused merge writes nothing"
    );
    assert_eq!(listing(&sandbox.join("notes")), ["thesis.tex"]);

    sandbox.qtomo(["merge", "s0", "s1", "--out", "m"]).ok();
    let before = listing(&sandbox.join("m"));
    refused(&["s0", "s1"], "m", &["m", "already holds a run"]);
    assert_eq!(listing(&sandbox.join("m")), before);
}

/// A merge with a shard missing writes nothing and says which samples and
/// shard are missing; once the shard is run, the same merge succeeds.
#[test]
fn merge_with_a_shard_missing_exits_75_writes_nothing_and_merging_again_works() {
    let sandbox = Sandbox::new();
    simulate(&sandbox, "data.csv", 1, 6);
    run_shard(&sandbox, "data.csv", "s0", 0);
    sandbox
        .qtomo(["merge", "s0", "--out", "m"])
        .expect_code(75)
        .stderr_has(&["3 of 6 samples", "samples 3..5", "shard 1/2", "not given"]);
    assert!(
        !sandbox.join("m").exists(),
        "an incomplete merge writes nothing"
    );
    assert_eq!(listing(sandbox.path()), ["data.csv", "s0"]);

    run_shard(&sandbox, "data.csv", "s1", 1);
    sandbox.qtomo(["merge", "s0", "s1", "--out", "m"]).ok();
    let st = status_json(&sandbox, "m");
    assert_eq!(st["done"], 6, "{st}");
}

// ---------------------------------------------------------------------------
// Validated values: exit 2 naming the option and its range (issue 13)

#[test]
fn out_of_range_and_ignored_options_exit_2_naming_the_option() {
    let sandbox = Sandbox::new();
    let cases: &[(&[&str], &[&str])] = &[
        (&["bases", "--qubits", "9"], &["--qubits", "1 to 8 qubits"]),
        (&["bases", "--qubits", "0"], &["--qubits", "1 to 8 qubits"]),
        (&["bases", "--dim", "100"], &["--dim", "2 to 64"]),
        (&["bases", "--dim", "1"], &["--dim", "2 to 64"]),
        (
            &[
                "simulate", "--basis", "james16", "--qubits", "3", "--out", "x.csv",
            ],
            &["--qubits 3", "--basis pauli"],
        ),
        (
            &[
                "simulate", "--basis", "pauli", "--dim", "3", "--out", "x.csv",
            ],
            &["--dim 3", "--basis qudit"],
        ),
        (
            &["simulate", "--shots", "0", "--out", "x.csv"],
            &["--shots", "at least 1"],
        ),
    ];
    for (args, needles) in cases {
        sandbox.qtomo(*args).expect_code(2).stderr_has(needles);
    }
    assert!(listing(sandbox.path()).is_empty(), "nothing was written");
    sandbox
        .qtomo(["bases", "--qubits", "6"])
        .ok()
        .stdout_has(&["n=6: 46656 labels"]);
}

#[test]
fn show_method_must_be_a_method_the_run_computed() {
    let sandbox = Sandbox::new();
    simulate(&sandbox, "data.csv", 1, 2);
    sandbox
        .qtomo(["run", "data.csv", "--out", "r", "--workers", "0"])
        .args(["--method", "mle,pls"])
        .ok();
    let show = |method: &str| sandbox.qtomo(["show", "r", "--sample", "0", "--method", method]);
    show("mlee")
        .expect_code(2)
        .stderr_has(&["--method", "mlee", "mle, pls or linear"]);
    show("MLE").expect_code(2).stderr_has(&["--method", "MLE"]);
    show("linear")
        .expect_code(2)
        .stderr_has(&["--method linear", "did not compute", "mle, pls"]);
    let out = show("pls").ok();
    out.stdout_has(&["pls: ρ ="]);
    out.check(!out.stdout.contains("mle: ρ"), "only the method asked for");
}

#[test]
fn out_dash_writes_simulate_and_export_to_standard_output() {
    let sandbox = Sandbox::new();
    let sim = sandbox
        .qtomo(["simulate", "--qubits", "1", "--samples", "3", "--out", "-"])
        .ok();
    let lines: Vec<&str> = sim.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{sim}");
    assert!(lines[0].starts_with("sample,"), "{sim}");
    sandbox.write("data.csv", &sim.stdout);
    sandbox
        .qtomo(["run", "data.csv", "--out", "r", "--workers", "0"])
        .ok();
    let jsonl = sandbox
        .qtomo(["export", "r", "--format", "jsonl", "--out", "-"])
        .ok();
    let records: Vec<Value> = jsonl
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each stdout line is JSON"))
        .collect();
    assert_indices_once_in_order(&records, 3);
    let csv = sandbox
        .qtomo(["export", "r", "--format", "csv", "--out", "-"])
        .ok();
    assert!(csv.stdout.starts_with("index,id,status"), "{csv}");
    assert_eq!(csv.stdout.lines().count(), 1 + 3 * 3, "{csv}");
    sandbox
        .qtomo(["export", "r", "--format", "npy", "--out", "-"])
        .expect_code(2)
        .stderr_has(&["standard output", "--out DIR"]);
    assert!(!sandbox.join("-").exists(), "no file named '-'");
    assert!(!sandbox.join("r/-").exists(), "no file named '-'");
    assert!(!sandbox.join("r/results.jsonl").exists());
}

#[test]
fn show_json_is_one_object_shaped_like_an_export_line() {
    let sandbox = Sandbox::new();
    simulate(&sandbox, "data.csv", 1, 2);
    sandbox
        .qtomo(["run", "data.csv", "--out", "r", "--workers", "0"])
        .ok();
    let out = sandbox.qtomo(["show", "r", "--sample", "1", "--json"]).ok();
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("show --json is not JSON: {e}\n{out}"));
    assert_eq!(v["index"], 1, "{v}");
    assert_eq!(v["status"], "ok", "{v}");
    assert_eq!(matrix(&v["methods"]["mle"]["rho_re"]).len(), 2, "{v}");
    let pls = sandbox
        .qtomo(["show", "r", "--sample", "1", "--json", "--method", "pls"])
        .ok();
    let v: Value = serde_json::from_str(&pls.stdout).expect("JSON");
    let names: Vec<&String> = v["methods"].as_object().expect("methods").keys().collect();
    assert_eq!(names, ["pls"], "{v}");
}

#[test]
fn bases_json_lists_every_set_with_its_labels() {
    let sandbox = Sandbox::new();
    let out = sandbox.qtomo(["bases", "--json", "--qubits", "2"]).ok();
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("bases --json is not JSON: {e}\n{out}"));
    let sets = v["sets"].as_array().expect("sets");
    let names: Vec<&str> = sets.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["pauli", "qudit", "james16"], "{v}");
    assert_eq!(sets[0]["labels"].as_array().map(Vec::len), Some(36), "{v}");
    assert_eq!(sets[0]["max"], 8, "{v}");
    assert_eq!(sets[2]["labels"][0], "HH", "{v}");
}
