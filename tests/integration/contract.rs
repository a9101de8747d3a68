//! The command-line contract, second part (issue 13): exit codes for the
//! remaining mistakes, target metrics after the run, JSON logs, readable
//! `show` and `bases`, input inference, the progress bar. Every run uses
//! `--workers 0` unless it says otherwise.
//!
//! See: issue 13, "Command-line contract: exit codes that mean what the
//! README says, validated values, metrics after the run, JSON everywhere".

use crate::cli::{listing, run_shard, simulate};
use crate::util::Sandbox;

/// `export` of an unfinished run without `--partial` is a usage mistake:
/// exit 2, nothing written, and the message names `--partial`.
#[test]
fn export_of_an_unfinished_run_without_partial_exits_2_naming_partial() {
    let sandbox = Sandbox::new();
    simulate(&sandbox, "data.csv", 1, 6);
    run_shard(&sandbox, "data.csv", "s0", 0);
    let before = listing(&sandbox.join("s0"));
    for format in ["jsonl", "csv", "npy"] {
        sandbox
            .qtomo(["export", "s0", "--format", format])
            .expect_code(2)
            .stderr_has(&["s0", "no record for sample 3", "--partial"]);
    }
    sandbox
        .qtomo(["export", "s0", "--format", "jsonl", "--out", "-"])
        .expect_code(2)
        .stderr_has(&["--partial"]);
    assert_eq!(listing(&sandbox.join("s0")), before, "nothing written");
    sandbox
        .qtomo(["export", "s0", "--format", "jsonl", "--partial"])
        .ok();
}

/// How often `needle` occurs in `text`.
fn occurrences(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

/// An `--out` that cannot be written (under a regular file, which works as
/// root too, where permissions are not enforced) is a usage mistake: exit
/// 2, the OS error once, the path the user gave, no temporary file name.
#[test]
fn an_out_that_cannot_be_written_exits_2_naming_it_with_the_os_error_once() {
    let sandbox = Sandbox::new();
    simulate(&sandbox, "data.csv", 1, 4);
    sandbox
        .qtomo(["run", "data.csv", "--out", "r", "--workers", "0"])
        .ok();
    run_shard(&sandbox, "data.csv", "s0", 0);
    run_shard(&sandbox, "data.csv", "s1", 1);
    sandbox.write("plain.txt", "not a directory");
    let cases: &[&[&str]] = &[
        &[
            "simulate",
            "--qubits",
            "1",
            "--samples",
            "2",
            "--out",
            "plain.txt/x.csv",
        ],
        &[
            "simulate",
            "--qubits",
            "1",
            "--samples",
            "2",
            "--out",
            "plain.txt/x.npy",
        ],
        &[
            "simulate",
            "--qubits",
            "1",
            "--samples",
            "2",
            "--out",
            "nodir/x.csv",
        ],
        &["run", "data.csv", "--out", "plain.txt/r", "--workers", "0"],
        &[
            "export",
            "r",
            "--format",
            "jsonl",
            "--out",
            "plain.txt/x.jsonl",
        ],
        &["export", "r", "--format", "csv", "--out", "nodir/x.csv"],
        &["export", "r", "--format", "npy", "--out", "plain.txt/npy"],
        &["merge", "s0", "s1", "--out", "plain.txt/m"],
    ];
    for args in cases {
        let out = sandbox.qtomo(*args).expect_code(2);
        let path = args[args.len() - 1];
        let path = if args[0] == "run" {
            "plain.txt/r"
        } else {
            path
        };
        out.stderr_has(&[path]);
        let os = if path.starts_with("nodir") {
            "No such file or directory (os error 2)"
        } else {
            "Not a directory (os error 20)"
        };
        out.check(
            occurrences(&out.stderr, os) == 1,
            &format!("the OS error {os:?} exactly once"),
        );
        out.check(
            !out.stderr.contains("tmp"),
            "no temporary file name in the message",
        );
    }
    assert_eq!(
        listing(sandbox.path()),
        ["data.csv", "plain.txt", "r", "s0", "s1"]
    );
}

/// OS errors reading an input are printed once, naming the input.
#[test]
fn os_errors_reading_inputs_are_printed_once() {
    let sandbox = Sandbox::new();
    sandbox.write("plain.txt", "not a directory");
    std::os::unix::fs::symlink("loop", sandbox.join("loop")).expect("symlink");
    for (input, os) in [
        ("plain.txt/x.csv", "Not a directory (os error 20)"),
        ("loop", "Too many levels of symbolic links (os error 40)"),
    ] {
        let out = sandbox
            .qtomo(["run", input, "--out", "r", "--workers", "0"])
            .expect_code(2);
        out.stderr_has(&[input, os]);
        out.check(occurrences(&out.stderr, os) == 1, "the OS error once");
    }
    assert!(!sandbox.join("r").exists());
}

/// Where permissions are enforced (not as root), a read-only folder as
/// `--out` exits 2 too. As root this test only checks that nothing breaks.
#[test]
fn an_out_in_a_read_only_folder_exits_2_where_permissions_apply() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = Sandbox::new();
    simulate(&sandbox, "data.csv", 1, 2);
    std::fs::create_dir(sandbox.join("ro")).expect("mkdir ro");
    std::fs::set_permissions(sandbox.join("ro"), std::fs::Permissions::from_mode(0o555))
        .expect("chmod ro");
    let out = sandbox
        .qtomo(["run", "data.csv", "--out", "ro/r", "--workers", "0"])
        .run();
    // Root (or CAP_DAC_OVERRIDE) writes anyway: probe instead of asking who we are.
    let enforced = std::fs::write(sandbox.join("ro/probe"), "x").is_err();
    if !enforced {
        println!("permissions are not enforced here (root?): skipping the exit-code check");
    } else {
        let out = out.expect_code(2);
        out.stderr_has(&["ro/r", "Permission denied"]);
        out.check(
            occurrences(&out.stderr, "Permission denied") == 1,
            "the OS error once",
        );
    }
    std::fs::set_permissions(sandbox.join("ro"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod back");
}

/// Fails unless every line `out` wrote to stderr is one JSON object with a
/// `level` and a `fields.message`; returns them.
fn json_lines(out: &crate::util::Finished) -> Vec<serde_json::Value> {
    out.stderr
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("stderr line is not JSON ({e}): {line:?}\n{out}"));
            out.check(
                v["level"].is_string() && v["fields"]["message"].is_string(),
                &format!("a JSON log line has level and fields.message: {line}"),
            );
            v
        })
        .collect()
}

/// The JSON log lines at `level` whose message contains `needle`.
fn has_json(lines: &[serde_json::Value], level: &str, needle: &str) -> bool {
    lines.iter().any(|v| {
        v["level"] == level
            && v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(needle))
    })
}

/// With `--log-format json`, every line on stderr is a JSON object: the
/// final lines, errors (usage errors from clap included) and refusals, for
/// every command and exit code.
#[test]
fn log_format_json_makes_every_stderr_line_a_json_object() {
    let sandbox = Sandbox::new();
    let json = |args: &[&str], code: i32| {
        let out = sandbox
            .qtomo(["--log-format", "json"])
            .args(args)
            .expect_code(code);
        let lines = json_lines(&out);
        (out, lines)
    };
    json(
        &[
            "simulate",
            "--qubits",
            "1",
            "--samples",
            "4",
            "--out",
            "data.csv",
        ],
        0,
    );
    let (_, l) = json(&["run", "data.csv", "--out", "r", "--workers", "0"], 0);
    assert!(has_json(&l, "INFO", "complete: 4 samples"), "{l:?}");
    // The option after the subcommand works the same.
    let (_, l) = json(
        &["status", "r"]
            .iter()
            .chain(&["--log-format", "json"])
            .copied()
            .collect::<Vec<_>>(),
        0,
    );
    assert!(l.is_empty(), "status prints nothing on stderr: {l:?}");
    let (_, l) = json(&["export", "r", "--format", "jsonl"], 0);
    assert!(has_json(&l, "INFO", "wrote r/results.jsonl"), "{l:?}");
    let (out, l) = json(&["export", "r", "--format", "csv", "--out", "-"], 0);
    assert!(has_json(&l, "INFO", "wrote standard output"), "{l:?}");
    assert!(out.stdout.starts_with("index,"), "{out}");
    // Errors: input, usage (clap's own), refusals, failed samples.
    let (_, l) = json(&["run", "nope.csv", "--out", "r2"], 2);
    assert!(has_json(&l, "ERROR", "nope.csv: no such file"), "{l:?}");
    let (_, l) = json(&["export", "r", "--format", "bogus"], 2);
    assert!(has_json(&l, "ERROR", "bogus"), "{l:?}");
    let (_, l) = json(&["run"], 2);
    assert!(has_json(&l, "ERROR", "--out"), "{l:?}");
    let (_, l) = json(&["status", "nowhere"], 2);
    assert!(has_json(&l, "ERROR", "not a run directory"), "{l:?}");
    assert!(
        l.iter().all(|v| v["fields"]["exit_code"] == 2),
        "errors carry the exit code: {l:?}"
    );
    sandbox.write(
        "zero.csv",
        "sample,X:0,X:1,Y:0,Y:1,Z:0,Z:1\na,5,5,5,5,5,5\nb,0,0,0,0,0,0\n",
    );
    let (_, l) = json(&["run", "zero.csv", "--out", "z", "--workers", "0"], 3);
    assert!(has_json(&l, "WARN", "sample failed"), "{l:?}");
    assert!(
        has_json(&l, "WARN", "complete with 1 failed samples"),
        "{l:?}"
    );
    run_shard(&sandbox, "data.csv", "s0", 0);
    let (_, l) = json(&["merge", "s0", "--out", "m"], 75);
    assert!(has_json(&l, "ERROR", "have no result"), "{l:?}");
    let (_, l) = json(&["export", "s0", "--format", "jsonl"], 2);
    assert!(has_json(&l, "ERROR", "--partial"), "{l:?}");
}

/// A run that fails during the run (restart intensity exceeded, exit 1)
/// with worker processes still logs only JSON lines.
#[test]
#[cfg_attr(
    not(feature = "fault-injection"),
    ignore = "needs --features fault-injection"
)]
fn log_format_json_holds_for_a_failing_pool_run() {
    let sandbox = Sandbox::new();
    simulate(&sandbox, "data.csv", 1, 6);
    let out = sandbox
        .qtomo(["--log-format", "json", "run", "data.csv", "--out", "r"])
        .args([
            "--workers",
            "1",
            "--restart-max",
            "2",
            "--restart-window",
            "60s",
        ])
        .env("QTOMO_FAULT", "exit-on-start")
        .timeout(std::time::Duration::from_secs(60))
        .expect_code(1);
    let l = json_lines(&out);
    assert!(has_json(&l, "ERROR", "restart intensity exceeded"), "{l:?}");
}

/// The longest line of `text`, in characters.
fn widest(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// `show --precision N` prints ρ and the metrics with N decimals; a
/// 4-qubit ρ is printed in blocks that fit 100 columns; an out-of-range
/// precision exits 2 naming the range.
#[test]
fn show_precision_sets_the_decimals_and_wide_states_fit_the_terminal() {
    let sandbox = Sandbox::new();
    simulate(&sandbox, "data.csv", 1, 2);
    sandbox
        .qtomo(["run", "data.csv", "--out", "r", "--workers", "0"])
        .ok();
    let out = sandbox
        .qtomo([
            "show",
            "r",
            "--sample",
            "0",
            "--method",
            "mle",
            "--precision",
            "2",
        ])
        .ok();
    let entries: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with('['))
        .flat_map(|l| {
            l.trim()
                .trim_matches(|c| c == '[' || c == ']')
                .split_whitespace()
        })
        .collect();
    out.check(entries.len() == 4, "a 2×2 matrix");
    for e in &entries {
        // re and im, each with exactly two decimals: "0.51+0.00i".
        let digits: Vec<usize> = e
            .trim_end_matches('i')
            .split(['+', '-'])
            .filter(|p| !p.is_empty())
            .map(|p| p.split('.').nth(1).map_or(0, str::len))
            .collect();
        out.check(digits == [2, 2], &format!("two decimals in {e:?}"));
    }
    out.stdout_has(&["purity 0."]);
    out.check(
        out.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("trace 1.00 ")),
        "metrics with two decimals",
    );
    sandbox
        .qtomo(["show", "r", "--sample", "0", "--precision", "40"])
        .expect_code(2)
        .stderr_has(&["--precision", "0 to 17"]);

    simulate(&sandbox, "four.csv", 4, 1);
    sandbox
        .qtomo(["run", "four.csv", "--out", "r4", "--workers", "0"])
        .args(["--method", "pls"])
        .ok();
    let out = sandbox.qtomo(["show", "r4", "--sample", "0"]).ok();
    out.stdout_has(&["Re ρ", "Im ρ"]);
    let width = widest(&out.stdout);
    out.check(
        width <= 100,
        &format!("lines fit 100 columns, widest {width}"),
    );
}

/// `bases` prints one label per line under each set's description, and
/// no line is wider than 100 columns, even for 6 qubits.
#[test]
fn bases_prints_one_label_per_line() {
    let sandbox = Sandbox::new();
    let out = sandbox.qtomo(["bases", "--qubits", "2"]).ok();
    let labels: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    for label in ["XX:00", "ZZ:11", "YZ:10"] {
        out.check(labels.contains(&label), &format!("{label} on its own line"));
    }
    let width = widest(&out.stdout);
    out.check(
        width <= 100,
        &format!("lines fit 100 columns, widest {width}"),
    );
    let out = sandbox.qtomo(["bases"]).ok();
    let labels: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    for label in ["X:0", "Z:1", "0+i1", "HH", "RL"] {
        out.check(labels.contains(&label), &format!("{label} on its own line"));
    }
    let out = sandbox.qtomo(["bases", "--qubits", "6"]).ok();
    out.stdout_has(&["n=6: 46656 labels"]);
    out.check(out.stdout.lines().count() > 46656, "every label on a line");
    let width = widest(&out.stdout);
    out.check(
        width <= 100,
        &format!("lines fit 100 columns, widest {width}"),
    );
}

/// Writes `rows` (row-major, `n × m`) as a float64 NPY file at `path`.
fn write_npy(path: &std::path::Path, n: usize, m: usize, rows: Vec<f64>) {
    let a = ndarray::Array2::from_shape_vec((n, m), rows).expect("shape");
    ndarray_npy::write_npy(path, &a).expect("write npy");
}

/// The counts of a simulated CSV (header dropped, `sample` column dropped).
fn csv_counts(path: &std::path::Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let mut r = csv::Reader::from_path(path).expect("csv");
    let header: Vec<String> = r
        .headers()
        .expect("header")
        .iter()
        .skip(1)
        .map(String::from)
        .collect();
    let rows = r
        .records()
        .map(|rec| {
            rec.expect("row")
                .iter()
                .skip(1)
                .map(|c| c.parse::<f64>().expect("number"))
                .collect()
        })
        .collect();
    (header, rows)
}

/// A header of james16 or qudit labels suggests that basis; a Pauli
/// header for another number of qubits than `--qubits` gets a short
/// message that says which.
#[test]
fn the_header_suggests_the_basis_and_a_wrong_qubits_is_short() {
    let sandbox = Sandbox::new();
    let james = crate::util::example_data("james2001.csv");
    let out = sandbox
        .qtomo(["run"])
        .arg(&james)
        .args(["--out", "r", "--workers", "0"])
        .expect_code(2);
    out.stderr_has(&["james16", "--basis james16"]);
    out.check(!out.stderr.contains("pass --qubits"), "no --qubits advice");
    let out = sandbox
        .qtomo(["run"])
        .arg(&james)
        .args(["--out", "r", "--workers", "0", "--qubits", "2"])
        .expect_code(2);
    out.stderr_has(&["--basis james16"]);
    out.check(out.stderr.chars().count() < 300, "a short message");
    sandbox
        .qtomo([
            "simulate",
            "--basis",
            "qudit",
            "--dim",
            "3",
            "--samples",
            "2",
        ])
        .args(["--out", "qudit.csv"])
        .ok();
    sandbox
        .qtomo(["run", "qudit.csv", "--out", "r", "--workers", "0"])
        .expect_code(2)
        .stderr_has(&["--basis qudit --dim 3"]);
    simulate(&sandbox, "two.csv", 2, 2);
    let out = sandbox
        .qtomo([
            "run",
            "two.csv",
            "--out",
            "r",
            "--workers",
            "0",
            "--qubits",
            "3",
        ])
        .expect_code(2);
    out.stderr_has(&["two.csv", "2 qubits", "--qubits 3"]);
    out.check(
        out.stderr.trim().chars().count() < 300,
        "a short message, not every label",
    );
    assert_eq!(listing(sandbox.path()), ["qudit.csv", "two.csv"]);
}

/// NPY column counts infer the qubits as CSV headers do: with or without
/// the `.npy` name, and transposed.
#[test]
fn npy_column_counts_infer_the_qubits() {
    let sandbox = Sandbox::new();
    simulate(&sandbox, "four.csv", 4, 2);
    let (_, rows) = csv_counts(&sandbox.join("four.csv"));
    let m = rows[0].len();
    assert_eq!(m, 1296);
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    write_npy(&sandbox.join("four.npy"), 2, m, flat.clone());
    write_npy(&sandbox.join("four.dat"), 2, m, flat);
    let transposed: Vec<f64> = (0..m)
        .flat_map(|k| rows.iter().map(move |r| r[k]))
        .collect();
    write_npy(&sandbox.join("four-t.npy"), m, 2, transposed);
    for (input, extra) in [
        ("four.npy", None),
        ("four.dat", None),
        ("four-t.npy", Some("--transposed")),
    ] {
        sandbox
            .qtomo([
                "run",
                input,
                "--out",
                &format!("r-{input}"),
                "--workers",
                "0",
            ])
            .args(["--method", "linear"])
            .args(extra)
            .ok()
            .stderr_has(&["pauli(4)"]);
    }
    write_npy(&sandbox.join("sixteen.npy"), 1, 16, vec![1.0; 16]);
    sandbox
        .qtomo(["run", "sixteen.npy", "--out", "r", "--workers", "0"])
        .expect_code(2)
        .stderr_has(&[
            "16 count columns",
            "--basis james16",
            "--basis qudit --dim 4",
        ]);
}

/// Semicolon- and tab-separated files are read by their delimiter; one
/// that is neither gets a message naming the delimiters qtomo reads.
#[test]
fn semicolon_and_tab_separated_inputs_are_detected() {
    let sandbox = Sandbox::new();
    simulate(&sandbox, "comma.csv", 1, 3);
    let text = std::fs::read_to_string(sandbox.join("comma.csv")).expect("read");
    sandbox.write("semi.csv", text.replace(',', ";"));
    sandbox.write("tab.csv", text.replace(',', "\t"));
    sandbox.write("pipe.csv", text.replace(',', "|"));
    for input in ["comma.csv", "semi.csv", "tab.csv"] {
        sandbox
            .qtomo([
                "run",
                input,
                "--out",
                &format!("r-{input}"),
                "--workers",
                "0",
            ])
            .ok();
    }
    let export = |dir: &str| {
        sandbox
            .qtomo(["export", dir, "--format", "csv", "--out", "-"])
            .ok()
            .stdout
    };
    let comma = export("r-comma.csv");
    assert_eq!(export("r-semi.csv"), comma, "same results");
    assert_eq!(export("r-tab.csv"), comma, "same results");
    sandbox
        .qtomo(["run", "pipe.csv", "--out", "r", "--workers", "0"])
        .expect_code(2)
        .stderr_has(&["pipe.csv", "1 count column", "comma", "semicolon", "tab"]);
}

/// A `--basis` or `--target` that names a missing file says so.
#[test]
fn a_missing_basis_or_target_file_is_no_such_file() {
    let sandbox = Sandbox::new();
    simulate(&sandbox, "two.csv", 2, 1);
    let run = |extra: &[&str]| {
        sandbox
            .qtomo(["run", "two.csv", "--out", "r", "--workers", "0"])
            .args(extra)
            .expect_code(2)
    };
    run(&["--basis", "kets.csv"]).stderr_has(&["--basis", "kets.csv: no such file"]);
    run(&["--basis", "sub/kets.csv"]).stderr_has(&["sub/kets.csv: no such file"]);
    run(&["--target", "sigma.npy"]).stderr_has(&["--target", "sigma.npy: no such file"]);
    run(&["--basis", "paul"]).stderr_has(&["unknown basis 'paul'", "pauli"]);
    run(&["--target", "bell"]).stderr_has(&["unknown target 'bell'", "bell-phi+"]);
    assert!(!sandbox.join("r").exists());
}

/// `(fidelity, trace_distance)` of every method of every line of a JSONL
/// export (`None` where null).
fn target_values(jsonl: &str) -> Vec<(Option<f64>, Option<f64>)> {
    jsonl
        .lines()
        .flat_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSONL line");
            let methods = v["methods"].as_object().expect("methods").clone();
            methods
                .into_iter()
                .map(|(_, m)| (m["fidelity"].as_f64(), m["trace_distance"].as_f64()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Target metrics after the run: `export`/`show --target` compute them
/// from the stored states; `run --target` is not part of the fingerprint
/// (a resume with another target or none needs no --fresh) and is stored
/// in the run directory, where show and export find it.
#[test]
fn target_metrics_are_computed_after_the_run() {
    let sandbox = Sandbox::new();
    sandbox
        .qtomo([
            "simulate",
            "--qubits",
            "2",
            "--samples",
            "3",
            "--state",
            "bell",
        ])
        .args(["--seed", "5", "--out", "bell.csv"])
        .ok();
    sandbox
        .qtomo(["run", "bell.csv", "--out", "r", "--workers", "0"])
        .ok();
    let jsonl = |dir: &str, extra: &[&str]| {
        sandbox
            .qtomo(["export", dir, "--format", "jsonl", "--out", "-"])
            .args(extra)
            .ok()
            .stdout
    };
    assert!(
        target_values(&jsonl("r", &[]))
            .iter()
            .all(|v| *v == (None, None)),
        "no target, no fidelity"
    );
    let phi = target_values(&jsonl("r", &["--target", "bell-phi+"]));
    assert_eq!(phi.len(), 9, "3 samples × 3 methods");
    for (f, t) in &phi {
        let (f, t) = (f.expect("fidelity"), t.expect("trace distance"));
        assert!(
            f > 0.95 && (0.0..0.2).contains(&t),
            "bell-phi+: F {f}, T {t}"
        );
    }
    // CSV too.
    let csv = sandbox
        .qtomo([
            "export",
            "r",
            "--format",
            "csv",
            "--out",
            "-",
            "--target",
            "bell-phi+",
        ])
        .ok()
        .stdout;
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let col = reader
        .headers()
        .expect("header")
        .iter()
        .position(|h| h == "fidelity")
        .expect("fidelity column");
    for row in reader.records() {
        let f: f64 = row.expect("row")[col]
            .parse()
            .expect("a fidelity in every row");
        assert!(f > 0.95, "{f}");
    }
    // The same numbers as a run given the target from the start.
    sandbox
        .qtomo(["run", "bell.csv", "--out", "r-phi", "--workers", "0"])
        .args(["--target", "bell-phi+"])
        .ok();
    for ((a, b), (c, d)) in target_values(&jsonl("r-phi", &[])).iter().zip(&phi) {
        let close =
            |x: &Option<f64>, y: &Option<f64>| (x.expect("value") - y.expect("value")).abs() < 1e-9;
        assert!(
            close(a, c) && close(b, d),
            "run --target vs export --target"
        );
    }
    // show, text and JSON.
    sandbox
        .qtomo([
            "show",
            "r",
            "--sample",
            "0",
            "--method",
            "mle",
            "--target",
            "bell-phi+",
        ])
        .ok()
        .stdout_has(&["fidelity 0.9", "trace distance"]);
    let show = sandbox
        .qtomo([
            "show",
            "r",
            "--sample",
            "0",
            "--json",
            "--target",
            "bell-psi-",
        ])
        .ok();
    let v: serde_json::Value = serde_json::from_str(&show.stdout).expect("JSON");
    assert!(
        v["methods"]["mle"]["fidelity"].as_f64().expect("fidelity") < 0.05,
        "{v}"
    );

    // A resume with another target is no new run: no --fresh, nothing
    // recomputed, and every sample is measured against the new target.
    let log = std::fs::metadata(sandbox.join("r-phi/results.log"))
        .expect("log")
        .len();
    sandbox
        .qtomo(["run", "bell.csv", "--out", "r-phi", "--workers", "0"])
        .args(["--target", "bell-psi-"])
        .ok();
    assert_eq!(
        std::fs::metadata(sandbox.join("r-phi/results.log"))
            .expect("log")
            .len(),
        log,
        "nothing recomputed"
    );
    let psi = target_values(&jsonl("r-phi", &[]));
    assert!(
        psi.iter().all(|(f, _)| f.expect("fidelity") < 0.05),
        "{psi:?}"
    );
    // Without --target the stored one stays; --target on export wins.
    sandbox
        .qtomo(["run", "bell.csv", "--out", "r-phi", "--workers", "0"])
        .ok();
    assert_eq!(target_values(&jsonl("r-phi", &[])), psi);
    let over = target_values(&jsonl("r-phi", &["--target", "bell-phi+"]));
    assert!(
        over.iter().all(|(f, _)| f.expect("fidelity") > 0.95),
        "{over:?}"
    );
    // --fresh starts over, target included.
    sandbox
        .qtomo([
            "run",
            "bell.csv",
            "--out",
            "r-phi",
            "--workers",
            "0",
            "--fresh",
        ])
        .ok();
    assert!(
        target_values(&jsonl("r-phi", &[]))
            .iter()
            .all(|v| *v == (None, None))
    );

    // An NPY density matrix as the target gives the named state's numbers.
    let mut sigma = vec![0.0; 16];
    for (r, c) in [(0, 0), (0, 3), (3, 0), (3, 3)] {
        sigma[r * 4 + c] = 0.5;
    }
    write_npy(&sandbox.join("sigma.npy"), 4, 4, sigma);
    let npy = target_values(&jsonl("r", &["--target", "sigma.npy"]));
    for ((a, _), (b, _)) in npy.iter().zip(&phi) {
        assert!(
            (a.expect("F") - b.expect("F")).abs() < 1e-6,
            "{a:?} vs {b:?}"
        );
    }
    // A target of the wrong dimension is a usage error.
    simulate(&sandbox, "one.csv", 1, 1);
    sandbox
        .qtomo(["run", "one.csv", "--out", "r1", "--workers", "0"])
        .ok();
    sandbox
        .qtomo(["export", "r1", "--format", "jsonl", "--target", "bell-phi+"])
        .expect_code(2)
        .stderr_has(&["bell-phi+"]);
    assert!(!sandbox.join("r1/results.jsonl").exists());
}

/// A merge keeps the shards' target when they agree on it, and stores
/// none (with a warning) when they do not.
#[test]
fn merge_keeps_the_target_the_shards_agree_on() {
    let sandbox = Sandbox::new();
    sandbox
        .qtomo([
            "simulate",
            "--qubits",
            "2",
            "--samples",
            "4",
            "--state",
            "bell",
        ])
        .args(["--out", "bell.csv"])
        .ok();
    let shard = |dir: &str, i: u32, target: &str| {
        sandbox
            .qtomo(["run", "bell.csv", "--out", dir, "--workers", "0"])
            .args([
                "--shard",
                &format!("{i}/2"),
                "--target",
                target,
                "--method",
                "pls",
            ])
            .ok();
    };
    shard("a0", 0, "bell-phi+");
    shard("a1", 1, "bell-phi+");
    shard("b1", 1, "bell-psi-");
    sandbox.qtomo(["merge", "a0", "a1", "--out", "ma"]).ok();
    let out = sandbox
        .qtomo(["export", "ma", "--format", "jsonl", "--out", "-"])
        .ok();
    let values = target_values(&out.stdout);
    assert_eq!(values.len(), 4);
    assert!(
        values.iter().all(|(f, _)| f.expect("F") > 0.95),
        "{values:?}"
    );
    sandbox
        .qtomo(["merge", "a0", "b1", "--out", "mb"])
        .ok()
        .stderr_has(&["different fidelity targets", "--target"]);
    assert!(!sandbox.join("mb/target.json").exists());
}

/// `s` without ANSI escape sequences (`ESC [ … letter`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// On a terminal, log lines printed while the progress bar is shown go
/// above it: the bar is cleared first, so no log line starts after the
/// bar's text on the same terminal line.
#[test]
fn log_lines_do_not_mangle_the_progress_bar() {
    use std::io::Read;
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let sandbox = Sandbox::new();
    simulate(&sandbox, "data.csv", 3, 400);
    // Every 20th sample all zeros: a "sample failed" warning while the bar runs.
    let text = std::fs::read_to_string(sandbox.join("data.csv")).expect("read");
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for (i, line) in lines.iter_mut().enumerate().skip(1) {
        if i % 20 == 0 {
            let id = line.split(',').next().unwrap_or("x").to_string();
            *line = std::iter::once(id)
                .chain(std::iter::repeat_n("0".to_string(), 216))
                .collect::<Vec<_>>()
                .join(",");
        }
    }
    sandbox.write("data.csv", lines.join("\n") + "\n");

    let size = nix::pty::Winsize {
        ws_row: 40,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(&size, None).expect("openpty");
    let mut child = crate::util::scrubbed_command(env!("CARGO_BIN_EXE_qtomo"))
        .args([
            "run",
            "data.csv",
            "--out",
            "r",
            "--workers",
            "0",
            "--method",
            "mle",
        ])
        .current_dir(sandbox.path())
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .env_remove("QTOMO_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(pty.slave))
        .spawn()
        .expect("spawn qtomo");
    // Our copy of the slave is gone (moved into the child's stdio and
    // closed after spawning), so reading the master ends when qtomo exits.
    let mut master = std::fs::File::from(pty.master);
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while let Ok(n) = master.read(&mut chunk) {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        buf
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("qtomo on a terminal did not finish within its time bound");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = String::from_utf8_lossy(&reader.join().expect("reader")).into_owned();
    assert_eq!(status.code(), Some(3), "failed samples: exit 3\n{output}");
    let first_bar = output.find("ETA").expect("the bar was drawn");
    let last_warning = output.rfind("sample failed").expect("warnings");
    assert!(
        first_bar < last_warning,
        "a warning came while the bar was shown\n{output}"
    );
    let mut warnings = 0;
    for segment in output.split('\n') {
        let Some(at) = segment.find("sample failed") else {
            continue;
        };
        warnings += 1;
        // What is left on the terminal line before the log text: after the
        // last carriage return or erase-line, without colour codes.
        let before = &segment[..at];
        let start = before
            .rfind('\r')
            .into_iter()
            .chain(before.rfind("\u{1b}[2K").map(|i| i + 3))
            .max()
            .map_or(0, |i| i + 1);
        let left = strip_ansi(&before[start.min(before.len())..]);
        assert!(
            !left.contains("ETA") && !left.contains("/400"),
            "a log line was written after the bar's text: {left:?}\n{segment:?}"
        );
    }
    assert_eq!(warnings, 20, "{output}");
}

/// The closing hint names the program as it was called: after `cargo run`
/// `qtomo` is not on `PATH`, `target/release/qtomo` is.
#[test]
fn the_closing_hint_names_the_program_as_it_was_called() {
    let sandbox = Sandbox::new();
    simulate(&sandbox, "data.csv", 1, 2);
    sandbox
        .qtomo(["run", "data.csv", "--out", "r", "--workers", "0"])
        .ok()
        .stderr_has(&[&format!(
            "({} export r --format jsonl)",
            env!("CARGO_BIN_EXE_qtomo")
        )]);
}

/// A run whose samples all failed reads as finished, not as "0 done"; and
/// running a finished run again, with nothing left to compute, leaves the
/// summary of the run that did the work (its elapsed time, rate and
/// workers) instead of overwriting it with an empty one.
#[test]
fn status_counts_failed_samples_as_finished_and_a_rerun_keeps_the_summary() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "zeros.csv",
        "sample,X:0,X:1,Y:0,Y:1,Z:0,Z:1\na,0,0,0,0,0,0\nb,0,0,0,0,0,0\n",
    );
    simulate(&sandbox, "data.csv", 1, 5);
    sandbox
        .qtomo(["run", "zeros.csv", "--out", "z", "--workers", "1"])
        .expect_code(3);
    sandbox
        .qtomo(["status", "z"])
        .ok()
        .stdout_has(&["2/2 finished (0 ok, 2 failed), 0 pending (100.0%)"]);
    sandbox
        .qtomo(["run", "data.csv", "--out", "r", "--workers", "1"])
        .ok();
    let summary = |dir: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(sandbox.join(dir).join("summary.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    };
    for (dir, input, code) in [("r", "data.csv", 0), ("z", "zeros.csv", 3)] {
        let first = summary(dir);
        assert_eq!(first["workers"], 1, "{first}");
        sandbox
            .qtomo(["run", input, "--out", dir, "--workers", "1"])
            .expect_code(code)
            .stderr_has(&["nothing to compute"]);
        assert_eq!(summary(dir), first, "the rerun rewrote {dir}/summary.json");
    }
}

/// A reader of standard output that goes away early (`export --out - |
/// head -1`) is not a failure: the export exits 0 and says nothing, in
/// every streamable format.
#[test]
fn export_to_a_reader_that_leaves_early_exits_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let sandbox = Sandbox::new();
    // Enough samples that the export outlasts the pipe's buffer.
    simulate(&sandbox, "data.csv", 2, 3000);
    sandbox
        .qtomo([
            "run",
            "data.csv",
            "--out",
            "r",
            "--workers",
            "0",
            "--method",
            "linear",
        ])
        .ok();
    for format in ["jsonl", "csv"] {
        let mut child = crate::util::scrubbed_command(env!("CARGO_BIN_EXE_qtomo"))
            .current_dir(sandbox.path())
            .args(["export", "r", "--format", format, "--out", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn export");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("first line");
        assert!(!first.is_empty());
        // The reader is dropped here: the pipe closes.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let status = loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                break st;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("export --format {format} did not end after its reader left");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
            .expect("stderr");
        assert_eq!(status.code(), Some(0), "{format}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{format}: {stderr}");
    }
}
