//! Kwiat Quantum-Tomography JSON input, end to end: Kwiat's public
//! examples (`examples/data/kwiat/`, with their licence) and qtomo's own
//! fixtures (`tests/data/kwiat/`) through `qtomo run`; and, when
//! `QTOMO_KWIAT_PYTHON` names a Python that has Kwiat's package (`pip
//! install quantum-tomography==1.2 "numpy>=2.1.3,<2.4" scipy`, see
//! `.ci/run`), a comparison with the package's own estimate
//! (`tests/kwiat/reference.py`): fidelity at least 0.995, and qtomo's MLE
//! at least as likely as the package's ρ under the exact Poisson model
//! with a free intensity. Without it that test prints `SKIP` and passes.

use crate::util::Sandbox;
use faer::c64;
use qtomo::kwiat::{KwiatBatch, KwiatOptions, read_batch, read_options};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/kwiat")
        .join(name)
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/data/kwiat")
        .join(name)
}

/// ρ of `method` for sample `index`, from `export --format jsonl`.
pub(crate) fn exported_rho(
    sandbox: &Sandbox,
    dir: &str,
    index: usize,
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let done = sandbox
        .qtomo(["export", dir, "--format", "jsonl", "--out", "-"])
        .ok();
    let line = done.stdout.lines().nth(index).expect("an exported line");
    let v: serde_json::Value = serde_json::from_str(line).expect("json line");
    let m = &v["methods"]["mle"];
    let parse = |x: &serde_json::Value| -> Vec<Vec<f64>> {
        serde_json::from_value(x.clone()).expect("a matrix")
    };
    (parse(&m["rho_re"]), parse(&m["rho_im"]))
}

#[test]
fn kwiat_inputs_run_end_to_end() {
    let sandbox = Sandbox::new();
    let bell = example("bell_state_example.json");
    let conf = example("conf.toml");
    sandbox
        .qtomo([
            "run".as_ref(),
            bell.as_os_str(),
            "--out".as_ref(),
            "bell".as_ref(),
        ])
        .args(["--workers", "1", "--kwiat-conf"])
        .arg(&conf)
        .ok()
        .stderr_has(&["kwiat(2 qubits, 1 detector per qubit)"]);
    let csv = sandbox
        .qtomo([
            "export",
            "bell",
            "--format",
            "csv",
            "--target",
            "bell-phi+",
            "--out",
            "-",
        ])
        .ok();
    let header: Vec<&str> = csv.stdout.lines().next().unwrap_or("").split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == "fidelity")
        .expect("fidelity column");
    let mle: Vec<&str> = csv.stdout.lines().nth(1).unwrap_or("").split(',').collect();
    let f: f64 = mle[col].parse().expect("a fidelity");
    assert!(
        f > 0.999,
        "fidelity of the Bell example's MLE to phi+: {f}\n{csv}"
    );

    // The options file is fingerprinted by content: a resume with another
    // one is refused, naming it.
    sandbox
        .qtomo([
            "run".as_ref(),
            bell.as_os_str(),
            "--out".as_ref(),
            "bell".as_ref(),
        ])
        .args(["--workers", "1", "--kwiat-conf"])
        .arg(fixture("corrections_off.toml"))
        .expect_code(2)
        .stderr_has(&["kwiat_conf file", "changed since the run started"]);

    // A .jsonl batch and the same samples as a directory give the same states.
    for (input, dir) in [("plain_batch.jsonl", "lines"), ("batch_dir", "files")] {
        sandbox
            .qtomo([
                "run".as_ref(),
                fixture(input).as_os_str(),
                "--out".as_ref(),
                dir.as_ref(),
            ])
            .args(["--workers", "0"])
            .ok();
    }
    for i in 0..3 {
        assert_eq!(
            exported_rho(&sandbox, "lines", i),
            exported_rho(&sandbox, "files", i)
        );
    }

    // Two detectors per qubit, plain model: runs.
    sandbox
        .qtomo([
            "run".as_ref(),
            fixture("two_det_plain.json").as_os_str(),
            "--out".as_ref(),
            "two".as_ref(),
        ])
        .args(["--workers", "0"])
        .ok();

    // Drift and accidentals are fitted through the measurement model; a
    // batch whose samples differ in them runs, each sample under its own
    // (tests/integration/per_sample.rs compares each with its file alone).
    let on = fixture("corrections_on.toml");
    sandbox
        .qtomo([
            "run".as_ref(),
            fixture("one_det_drift_acc.json").as_os_str(),
            "--out".as_ref(),
            "acc".as_ref(),
        ])
        .args(["--workers", "0", "--kwiat-conf"])
        .arg(&on)
        .ok();
    let show = sandbox.qtomo(["show", "acc", "--sample", "0"]).ok();
    assert!(show.stdout.contains("converged true"), "{show}");
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("one_det_drift_acc.json")).expect("read"),
    )
    .expect("json");
    let mut other = doc.clone();
    other["data"][0]["integration_time"] = serde_json::json!(2.5);
    let path = sandbox.write("two_models.jsonl", format!("{doc}\n{other}\n"));
    sandbox
        .qtomo([
            "run".as_ref(),
            path.as_os_str(),
            "--out".as_ref(),
            "mixed".as_ref(),
        ])
        .args(["--workers", "0", "--kwiat-conf"])
        .arg(&on)
        .ok();
    sandbox
        .qtomo(["show", "mixed", "--sample", "1"])
        .ok()
        .stdout_has(&["kwiat: scale: per sample (2×36)", "converged true"]);

    // A malformed line of a batch: file, line and field.
    let good = std::fs::read_to_string(fixture("plain_batch.jsonl")).expect("read");
    let first = good.lines().next().unwrap_or_default();
    let bad = first.replacen("\"counts\": [", "\"counts\": [-", 1);
    let path = sandbox.write("bad.jsonl", format!("{first}\n{bad}\n"));
    sandbox
        .qtomo([
            "run".as_ref(),
            path.as_os_str(),
            "--out".as_ref(),
            "bad".as_ref(),
        ])
        .expect_code(2)
        .stderr_has(&[
            "bad.jsonl:2: data[0].counts[0]: expected a non-negative finite count, found -",
        ]);
    assert!(!sandbox.join("bad").exists());

    // Options that describe CSV inputs are refused.
    sandbox
        .qtomo([
            "run".as_ref(),
            bell.as_os_str(),
            "--out".as_ref(),
            "q".as_ref(),
            "--qubits".as_ref(),
            "2".as_ref(),
        ])
        .expect_code(2)
        .stderr_has(&["--qubits 2:", "drop --qubits 2"]);
    sandbox
        .qtomo([
            "run".as_ref(),
            crate::util::example_data("james2001.csv").as_os_str(),
            "--out".as_ref(),
            "k".as_ref(),
            "--basis".as_ref(),
            "james16".as_ref(),
            "--kwiat-conf".as_ref(),
            conf.as_os_str(),
        ])
        .expect_code(2)
        .stderr_has(&["--kwiat-conf", "applies to a Kwiat JSON input only"]);
}

/// Runs `cmd` with a hard time bound; (success, stdout, stderr).
pub(crate) fn run_bounded(mut cmd: Command, limit: Duration) -> (bool, String, String) {
    println!("*** executing: {cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{cmd:?} timed out after {limit:?}");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("waiting for {cmd:?}: {e}"),
        }
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// ⟨ψ|ρ|ψ⟩ for ρ given by its real and imaginary parts.
fn expectation(psi: &[c64], re: &[Vec<f64>], im: &[Vec<f64>]) -> f64 {
    let d = re.len();
    let mut p = c64::new(0.0, 0.0);
    for i in 0..d {
        for j in 0..d {
            p += psi[i].conj() * c64::new(re[i][j], im[i][j]) * psi[j];
        }
    }
    p.re.max(0.0)
}

/// The exact Poisson log-likelihood of the model Kwiat's file defines,
/// maximised over the intensity I (without the log n_k! constant):
/// max_I Σ_k n_k log(I q_k + a_k) − (I q_k + a_k), with
/// q_k = c_k Tr(M′_k ρ), M′_k = Σ_l C_pl Π_{s,l} / Σ_l C_pl (p the row's
/// outcome pattern, s its setting; Π_k itself without crosstalk). Computed
/// here from the reader's rows, independently of qtomo's likelihood code.
pub(crate) fn model_log_likelihood(batch: &KwiatBatch, re: &[Vec<f64>], im: &[Vec<f64>]) -> f64 {
    let rows = &batch.rows;
    let sample = &batch.samples[0];
    let d = rows.dim();
    let q: Vec<f64> = (0..rows.len())
        .map(|k| {
            let p = match &sample.crosstalk {
                None => expectation(&rows.kets[k], re, im),
                Some(c) => {
                    let pattern = &c[rows.outcome[k] * d..(rows.outcome[k] + 1) * d];
                    let sum: f64 = pattern.iter().sum();
                    pattern
                        .iter()
                        .zip(&rows.setting_kets[rows.setting[k]])
                        .map(|(w, psi)| w / sum * expectation(psi, re, im))
                        .sum()
                }
            };
            sample.scale[k] * p
        })
        .collect();
    let (n, a) = (&sample.counts, &sample.background);
    let value = |i: f64| -> f64 {
        (0..q.len())
            .map(|k| {
                let mu = i * q[k] + a[k];
                if n[k] > 0.0 { n[k] * mu.ln() - mu } else { -mu }
            })
            .sum()
    };
    value(crate::util::fitted_intensity(n, &q, a))
}

#[test]
fn qtomo_agrees_with_kwiats_package() {
    let Some(python) = std::env::var_os("QTOMO_KWIAT_PYTHON") else {
        println!(
            "SKIP: QTOMO_KWIAT_PYTHON is not set (a python with quantum-tomography==1.2, see .ci/run); qtomo was not compared with Kwiat's package"
        );
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kwiat/reference.py");
    let cases = [
        (example("bell_state_example.json"), example("conf.toml")),
        (example("1_qubit_example.json"), example("conf.toml")),
        (
            fixture("two_det_plain.json"),
            fixture("corrections_off.toml"),
        ),
        (
            fixture("batch_dir/t01.json"),
            fixture("corrections_off.toml"),
        ),
        // Measurement models: efficiencies with accidentals, and crosstalk.
        (fixture("two_det_eff.json"), fixture("corrections_on.toml")),
        (
            fixture("two_det_crosstalk.json"),
            fixture("corrections_on.toml"),
        ),
    ];
    let sandbox = Sandbox::new();
    for (k, (data, conf)) in cases.iter().enumerate() {
        let npy = sandbox.join(format!("kwiat{k}.npy"));
        let mut cmd = Command::new(&python);
        cmd.arg(&script).arg(data).arg(conf).arg("--npy").arg(&npy);
        let (ok, stdout, stderr) = run_bounded(cmd, Duration::from_secs(300));
        assert!(ok, "reference.py failed on {}\n{stderr}", data.display());
        let kwiat: serde_json::Value = serde_json::from_str(stdout.trim()).expect("reference JSON");
        let parse = |x: &serde_json::Value| -> Vec<Vec<f64>> {
            serde_json::from_value(x.clone()).expect("a matrix")
        };
        let (k_re, k_im) = (parse(&kwiat["rho_re"]), parse(&kwiat["rho_im"]));

        let dir = format!("run{k}");
        sandbox
            .qtomo([
                "run".as_ref(),
                data.as_os_str(),
                "--out".as_ref(),
                dir.as_ref(),
            ])
            .args(["--workers", "0", "--method", "mle", "--kwiat-conf"])
            .arg(conf)
            .ok();
        let csv = sandbox
            .qtomo([
                "export".as_ref(),
                dir.as_ref(),
                "--format".as_ref(),
                "csv".as_ref(),
                "--out".as_ref(),
                "-".as_ref(),
                "--target".as_ref(),
                npy.as_os_str(),
            ])
            .ok();
        let header: Vec<&str> = csv.stdout.lines().next().unwrap_or("").split(',').collect();
        let col = header
            .iter()
            .position(|h| *h == "fidelity")
            .expect("fidelity column");
        let row: Vec<&str> = csv.stdout.lines().nth(1).unwrap_or("").split(',').collect();
        let fidelity: f64 = row[col].parse().expect("a fidelity");
        let (q_re, q_im) = exported_rho(&sandbox, &dir, 0);

        let opts: KwiatOptions = read_options(conf).expect("conf");
        let batch = read_batch(data, &opts).expect("kwiat data");
        let l_qtomo = model_log_likelihood(&batch, &q_re, &q_im);
        let l_kwiat = model_log_likelihood(&batch, &k_re, &k_im);
        println!(
            "{}: fidelity(qtomo MLE, Kwiat) = {fidelity:.6}; exact-model Poisson log-likelihood qtomo {l_qtomo:.6}, Kwiat {l_kwiat:.6} (Kwiat intensity {}, fval {})",
            data.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            kwiat["intensity"],
            kwiat["fval"],
        );
        assert!(fidelity >= 0.995, "{}: fidelity {fidelity}", data.display());
        assert!(
            l_qtomo >= l_kwiat - 1e-6 * l_kwiat.abs().max(1.0),
            "{}: qtomo's log-likelihood {l_qtomo} is below Kwiat's {l_kwiat}",
            data.display()
        );
    }
}
