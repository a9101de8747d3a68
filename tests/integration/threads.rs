//! `--threads-per-worker` through the binary (issue 15: few samples, many
//! cores): several threads for one sample give the results of one thread
//! to rounding, every certificate still converged; bad values exit 2.

use crate::cli::listing;
use crate::util::Sandbox;
use serde_json::Value;

/// The exported records of run directory `dir`, one per sample.
fn export(sb: &Sandbox, dir: &str) -> Vec<Value> {
    let out = sb
        .qtomo(["export", dir, "--format", "jsonl", "--out", "-"])
        .ok();
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The entries of a d×d matrix exported as rows.
fn entries(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("rows")
        .iter()
        .flat_map(|row| row.as_array().expect("a row").iter())
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

/// Every sample ok, every MLE converged, and ρ of every method within
/// `tol` of `want`'s, entry by entry.
fn assert_same_states(got: &[Value], want: &[Value], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        for r in [g, w] {
            assert_eq!(r["status"], "ok", "{r}");
            assert_eq!(r["methods"]["mle"]["converged"], true, "{r}");
        }
        for m in ["mle", "pls", "linear"] {
            for part in ["rho_re", "rho_im"] {
                let (a, b) = (
                    entries(&g["methods"][m][part]),
                    entries(&w["methods"][m][part]),
                );
                assert_eq!(a.len(), 32 * 32, "{m} {part}: a 5-qubit state");
                let worst = a
                    .iter()
                    .zip(&b)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0, f64::max);
                assert!(
                    worst <= tol,
                    "sample {}: {m} {part} differs by {worst:e}",
                    g["index"]
                );
            }
        }
    }
}

#[test]
fn two_threads_per_worker_give_the_states_of_one() {
    let sb = Sandbox::new();
    sb.qtomo(["simulate", "--basis", "pauli", "--qubits", "5"])
        .args([
            "--state",
            "random-mixed",
            "--shots",
            "1000",
            "--samples",
            "3",
        ])
        .args(["--seed", "15", "--out", "q5.csv"])
        .ok();
    let run = |dir: &str, workers: &str, threads: &str| {
        sb.qtomo(["run", "q5.csv", "--out", dir, "--workers", workers])
            .args(["--threads-per-worker", threads])
            .ok()
    };
    run("one", "1", "1");
    run("two", "1", "2").stderr_has(&["2 threads per sample"]);
    // In process (--workers 0) too.
    run("here", "0", "2").stderr_has(&["2 threads per sample"]);
    let one = export(&sb, "one");
    assert_eq!(one.len(), 3);
    assert_same_states(&export(&sb, "two"), &one, 1e-9);
    assert_same_states(&export(&sb, "here"), &one, 1e-9);
}

#[test]
fn bad_thread_counts_exit_2_and_the_count_is_not_in_the_fingerprint() {
    let sb = Sandbox::new();
    sb.qtomo(["simulate", "--qubits", "1", "--samples", "3", "--seed", "1"])
        .args(["--out", "in.csv"])
        .ok();
    for bad in ["0", "-1", "1025", "two", "", "1.5"] {
        let done = sb
            .qtomo(["run", "in.csv", "--out", "out", "--workers", "0"])
            .arg(format!("--threads-per-worker={bad}"))
            .expect_code(2);
        done.stderr_has(&["--threads-per-worker", "1 to 1024, or auto"]);
    }
    assert_eq!(listing(sb.path()), vec!["in.csv".to_string()]);
    sb.qtomo(["run", "in.csv", "--out", "out", "--workers", "1"])
        .args(["--threads-per-worker", "auto"])
        .ok();
    // Another thread count resumes the same run: nothing to compute.
    sb.qtomo(["run", "in.csv", "--out", "out", "--workers", "1"])
        .args(["--threads-per-worker", "2"])
        .ok()
        .stderr_has(&["nothing to compute"]);
}
