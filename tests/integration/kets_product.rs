//! A kets file with per-subsystem columns whose rows are a full grid of
//! local bases runs as a product set: a 5-qubit Pauli kets file, its rows
//! shuffled, gives the records of the built-in `--basis pauli --qubits 5`
//! on the same counts (matched by label).

use crate::cli::json_file;
use crate::util::Sandbox;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use std::fmt::Write as _;
use std::time::Duration;

const QUBITS: usize = 5;

/// The Pauli kets file of `QUBITS` qubits with per-subsystem columns and a
/// setting column, rows shuffled with a fixed seed.
fn pauli_kets_file() -> String {
    let h = std::f64::consts::FRAC_1_SQRT_2;
    // (re0, im0, re1, im1) of the one-qubit ket for basis and outcome bit.
    let local = |basis: char, bit: u8| -> [f64; 4] {
        let s = if bit == 0 { h } else { -h };
        match (basis, bit) {
            ('Z', 0) => [1.0, 0.0, 0.0, 0.0],
            ('Z', _) => [0.0, 0.0, 1.0, 0.0],
            ('X', _) => [h, 0.0, s, 0.0],
            _ => [h, 0.0, 0.0, s],
        }
    };
    let mut rows = Vec::new();
    for s in 0..3usize.pow(QUBITS as u32) {
        let setting: String = (0..QUBITS)
            .map(|q| ['X', 'Y', 'Z'][s / 3usize.pow((QUBITS - 1 - q) as u32) % 3])
            .collect();
        for b in 0..1usize << QUBITS {
            let bits: Vec<u8> = (0..QUBITS)
                .map(|q| ((b >> (QUBITS - 1 - q)) & 1) as u8)
                .collect();
            let outcome: String = bits.iter().map(|b| char::from(b'0' + b)).collect();
            let mut row = format!("{setting}:{outcome},{setting}");
            for (c, &bit) in setting.chars().zip(&bits) {
                for v in local(c, bit) {
                    write!(row, ",{v:?}").expect("write to a string");
                }
            }
            rows.push(row);
        }
    }
    rows.shuffle(&mut ChaCha8Rng::seed_from_u64(5));
    let mut text = String::from("label,setting");
    for q in 1..=QUBITS {
        for j in 0..2 {
            write!(text, ",q{q}_re{j},q{q}_im{j}").expect("write to a string");
        }
    }
    text.push('\n');
    for row in rows {
        text.push_str(&row);
        text.push('\n');
    }
    text
}

fn jsonl(sandbox: &Sandbox, dir: &str) -> Vec<Value> {
    let out = format!("{dir}.jsonl");
    sandbox
        .qtomo(["export", dir, "--format", "jsonl", "--out", &out, "-q"])
        .ok();
    std::fs::read_to_string(sandbox.join(&out))
        .expect("read export")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn numbers(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::Array(items) => items.iter().for_each(|x| numbers(x, out)),
        Value::Number(x) => out.push(x.as_f64().expect("a number")),
        _ => panic!("not a number or an array: {v}"),
    }
}

fn max_diff(a: &Value, b: &Value) -> f64 {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    numbers(a, &mut x);
    numbers(b, &mut y);
    assert_eq!(x.len(), y.len());
    x.iter()
        .zip(&y)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f64::max)
}

#[test]
fn a_shuffled_five_qubit_pauli_kets_file_runs_as_the_builtin_pauli_set() {
    let sandbox = Sandbox::new();
    sandbox.write("kets5.csv", pauli_kets_file());
    let bound = Duration::from_secs(300);
    sandbox
        .qtomo(["simulate", "--basis", "pauli", "--qubits", "5"])
        .args(["--samples", "2", "--state", "random-mixed", "--seed", "3"])
        .args(["--out", "counts.csv", "-q"])
        .timeout(bound)
        .ok();
    // The same counts (columns in Pauli order) with either set.
    for (dir, basis) in [
        ("k", &["--basis", "kets5.csv"][..]),
        ("p", &["--basis", "pauli", "--qubits", "5"][..]),
    ] {
        sandbox
            .qtomo([
                "run",
                "counts.csv",
                "--workers",
                "0",
                "--target",
                "ghz",
                "-q",
            ])
            .args(basis)
            .args(["--out", dir])
            .timeout(bound)
            .ok();
    }
    let s = json_file(&sandbox.join("k/summary.json"));
    assert_eq!(s["status"], "complete", "{s}");
    assert_eq!(s["basis"], "custom(kets5.csv)", "{s}");
    assert_eq!(s["dim"], 32, "{s}");
    let (kets, pauli) = (jsonl(&sandbox, "k"), jsonl(&sandbox, "p"));
    assert_eq!(kets.len(), 2);
    assert_eq!(pauli.len(), 2);
    for (k, p) in kets.iter().zip(&pauli) {
        assert_eq!(k["status"], "ok", "{k}");
        assert_eq!(p["status"], "ok", "{p}");
        for method in ["linear", "pls", "mle"] {
            let (a, b) = (&k["methods"][method], &p["methods"][method]);
            for key in ["rho_re", "rho_im", "fidelity", "purity", "eigenvalues"] {
                let diff = max_diff(&a[key], &b[key]);
                assert!(diff < 1e-8, "{method} {key}: {diff:e}");
            }
        }
        for m in [k, p] {
            let mle = &m["methods"]["mle"];
            assert_eq!(mle["converged"], true, "{mle}");
            assert!(
                mle["gap_bound"].as_f64().is_some_and(f64::is_finite),
                "{mle}"
            );
        }
    }
}
