//! Per-sample measurement models (issue 17): a batch whose samples each
//! have their own scale and accidentals runs, and every sample's result is
//! the result of that sample run alone under its own model.
//!
//! * Kwiat directory batches whose files differ in integration times,
//!   relative intensities, efficiencies and singles (so accidentals);
//!   a differing crosstalk is still refused.
//! * `--scale` / `--background` of shape (N, M), one row per sample; a
//!   wrong shape is a located usage error (exit 2).
//! * A per-sample run killed and resumed gives the records of an
//!   uninterrupted one; a resume with another model file is refused.
//!
//! Every process runs through [`Sandbox`] with a hard time bound and is
//! cleaned up by pid.

use crate::util::Sandbox;
use ndarray_npy::WriteNpyExt;
use nix::sys::signal::Signal;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/kwiat")
        .join(name)
}

/// Writes a float64 NPY file of any shape.
fn write_npy(sandbox: &Sandbox, name: &str, shape: &[usize], values: Vec<f64>) {
    let a = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), values).expect("shape");
    let file = std::fs::File::create(sandbox.join(name)).expect("create npy");
    a.write_npy(file).expect("write npy");
}

/// The records of `dir`, from `export --format jsonl`, in index order.
fn records(sandbox: &Sandbox, dir: &str) -> Vec<Value> {
    let done = sandbox
        .qtomo(["export", dir, "--format", "jsonl", "--out", "-"])
        .ok();
    done.stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The largest difference between two exported density matrices.
fn rho_distance(a: &Value, b: &Value) -> f64 {
    let mut worst = 0.0f64;
    for key in ["rho_re", "rho_im"] {
        let (x, y) = (
            a[key].as_array().expect("rows"),
            b[key].as_array().expect("rows"),
        );
        assert_eq!(x.len(), y.len());
        for (rx, ry) in x.iter().zip(y) {
            for (u, v) in rx
                .as_array()
                .expect("a row")
                .iter()
                .zip(ry.as_array().expect("a row"))
            {
                let d = (u.as_f64().expect("a number") - v.as_f64().expect("a number")).abs();
                worst = worst.max(d);
            }
        }
    }
    worst
}

/// Checks `batch` (sample of a per-sample run) against `alone` (the same
/// sample run by itself): every method's ρ within 1e-9, or for MLE
/// certified-consistent (|ΔL| within the two gap bounds), the same G², and
/// every MLE certificate converged.
fn same_estimates(batch: &Value, alone: &Value, what: &str) {
    assert_eq!(batch["status"], "ok", "{what}: {batch}");
    assert_eq!(alone["status"], "ok", "{what}: {alone}");
    let methods = alone["methods"].as_object().expect("methods");
    for (name, a) in methods {
        let b = &batch["methods"][name];
        let d = rho_distance(b, a);
        println!("{what}: {name} ρ distance to the sample alone {d:e}");
        if name == "mle" {
            assert_eq!(b["converged"], true, "{what}: {b}");
            assert_eq!(a["converged"], true, "{what}: {a}");
            if d > 1e-9 {
                let (lb, la) = (
                    b["log_likelihood"].as_f64().expect("L"),
                    a["log_likelihood"].as_f64().expect("L"),
                );
                let gaps =
                    b["gap_bound"].as_f64().expect("gap") + a["gap_bound"].as_f64().expect("gap");
                assert!(
                    (lb - la).abs() <= gaps + 1e-9 * la.abs().max(1.0),
                    "{what}: MLE ρ differs by {d:e} and |ΔL| = {:e} > gap bounds {gaps:e}",
                    (lb - la).abs()
                );
            }
            let (gb, ga) = (&b["gof"]["g2"], &a["gof"]["g2"]);
            let (gb, ga) = (gb.as_f64().expect("g2"), ga.as_f64().expect("g2"));
            if d <= 1e-9 {
                assert!(
                    (gb - ga).abs() <= 1e-6 * ga.abs().max(1.0),
                    "{what}: G² {gb} against {ga} alone"
                );
            }
        } else {
            assert!(d <= 1e-9, "{what}: {name} ρ differs by {d:e}");
        }
    }
}

/// Three variants of a Kwiat file: as is, with other relative
/// efficiencies (when it has them) and, with `times`, other integration
/// times and relative intensities, and with other singles (so other
/// accidentals).
fn kwiat_variants(base: &Path, times_too: bool) -> Vec<Value> {
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(base).expect("read")).expect("json");
    let mut times = doc.clone();
    for (k, entry) in times["data"]
        .as_array_mut()
        .expect("data")
        .iter_mut()
        .enumerate()
        .filter(|_| times_too)
    {
        let t = entry["integration_time"].as_f64().unwrap_or(1.0);
        entry["integration_time"] = json!(t * (1.0 + 0.25 * (k % 3) as f64));
        if entry.get("relative_intensity").is_some() {
            entry["relative_intensity"] = json!(1.0 - 0.01 * (k % 7) as f64);
        }
    }
    if let Some(eff) = times.get_mut("relative_efficiency") {
        let rows = eff.as_array_mut().expect("efficiency rows");
        for (i, row) in rows.iter_mut().enumerate() {
            for (j, v) in row.as_array_mut().expect("a row").iter_mut().enumerate() {
                *v = json!(1.0 - 0.04 * i as f64 - 0.03 * j as f64);
            }
        }
    }
    let mut singles = doc.clone();
    for (k, entry) in singles["data"]
        .as_array_mut()
        .expect("data")
        .iter_mut()
        .enumerate()
    {
        let counts = entry["counts"].as_array_mut().expect("counts");
        let n = counts.len();
        for c in counts.iter_mut().take(n - 1) {
            let v = c.as_f64().expect("a count");
            *c = json!((v * (1.3 + 0.1 * (k % 4) as f64)).round());
        }
    }
    vec![doc, times, singles]
}

#[test]
fn a_kwiat_batch_with_per_file_times_efficiencies_and_accidentals_fits_each_file_alone() {
    let sandbox = Sandbox::new();
    let on = fixture("corrections_on.toml");
    for (base, dir) in [
        ("one_det_drift_acc.json", "one"),
        ("two_det_eff.json", "two"),
    ] {
        let variants = kwiat_variants(&fixture(base), true);
        std::fs::create_dir_all(sandbox.join(format!("{dir}_batch"))).expect("mkdir");
        for (i, v) in variants.iter().enumerate() {
            sandbox.write(format!("{dir}_batch/s{i}.json"), v.to_string());
        }
        let common = [
            "--method",
            "mle,pls,linear",
            "--bootstrap",
            "20",
            "--seed",
            "3",
            "-q",
        ];
        sandbox
            .qtomo([
                "run".as_ref(),
                sandbox.join(format!("{dir}_batch")).as_os_str(),
                "--out".as_ref(),
                dir.as_ref(),
                "--workers".as_ref(),
                "1".as_ref(),
                "--kwiat-conf".as_ref(),
                on.as_os_str(),
            ])
            .args(common)
            .timeout(Duration::from_secs(300))
            .ok();
        sandbox
            .qtomo(["show", dir, "--sample", "0"])
            .ok()
            .stdout_has(&["measurement model: kwiat: scale: per sample (3×"]);
        let batch = records(&sandbox, dir);
        assert_eq!(batch.len(), 3);
        for i in 0..3 {
            let alone = format!("{dir}_alone{i}");
            sandbox
                .qtomo([
                    "run".as_ref(),
                    sandbox.join(format!("{dir}_batch/s{i}.json")).as_os_str(),
                    "--out".as_ref(),
                    alone.as_ref(),
                    "--workers".as_ref(),
                    "0".as_ref(),
                    "--kwiat-conf".as_ref(),
                    on.as_os_str(),
                ])
                .args(common)
                .timeout(Duration::from_secs(300))
                .ok();
            let alone = records(&sandbox, &alone);
            same_estimates(&batch[i], &alone[0], &format!("{base} variant {i}"));
            if i == 0 {
                // Same index, same seed: the bootstrap too, under the
                // sample's own set.
                for method in ["mle", "pls"] {
                    assert_eq!(
                        batch[0]["methods"][method]["bootstrap"],
                        alone[0]["methods"][method]["bootstrap"],
                        "{base}: {method} bootstrap"
                    );
                }
            }
        }
    }

    // The crosstalk stays the run's: a batch whose crosstalk differs is
    // refused (exit 2, nothing written), naming the sample.
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("two_det_crosstalk.json")).expect("read"),
    )
    .expect("json");
    let mut other = doc.clone();
    other["crosstalk"][0] = json!([[0.9, 0.1], [0.1, 0.9]]);
    let path = sandbox.write("crosstalk.jsonl", format!("{doc}\n{other}\n"));
    sandbox
        .qtomo([
            "run".as_ref(),
            path.as_os_str(),
            "--out".as_ref(),
            "xt".as_ref(),
            "--kwiat-conf".as_ref(),
            on.as_os_str(),
        ])
        .expect_code(2)
        .stderr_has(&[
            "crosstalk.jsonl:2:",
            "its crosstalk matrix differs from the first sample's",
        ]);
    assert!(!sandbox.join("xt").exists());
}

/// `qtomo simulate` of one james16 sample under the model of `scale` and
/// `background` (files), with `seed`, into `out`; returns its data line.
fn simulate_one(sandbox: &Sandbox, scale: &str, background: &str, seed: u64, out: &str) -> String {
    sandbox
        .qtomo([
            "simulate",
            "--basis",
            "james16",
            "--samples",
            "1",
            "--shots",
            "20000",
            "--state",
            "random-mixed",
            "--scale",
            scale,
            "--background",
            background,
            "--out",
            out,
        ])
        .args(["--seed", &seed.to_string()])
        .ok();
    let text = std::fs::read_to_string(sandbox.join(out)).expect("read");
    text.lines().nth(1).expect("a data line").to_string()
}

#[test]
fn scale_and_background_of_shape_n_by_m_fit_each_sample_under_its_row() {
    let sandbox = Sandbox::new();
    let (n, m) = (4usize, 16usize);
    let scale = |i: usize| -> Vec<f64> {
        (0..m)
            .map(|k| 0.7 + 0.05 * k as f64 + 0.1 * i as f64)
            .collect()
    };
    // Sample 3 has no accidentals: its row of zeros is the plain model.
    let background = |i: usize| -> Vec<f64> {
        (0..m)
            .map(|k| {
                if i == 3 {
                    0.0
                } else {
                    10.0 + 4.0 * i as f64 + (k % 3) as f64
                }
            })
            .collect()
    };
    let mut csv = String::new();
    for i in 0..n {
        write_npy(&sandbox, &format!("scale{i}.npy"), &[m], scale(i));
        write_npy(&sandbox, &format!("bg{i}.npy"), &[m], background(i));
        let out = format!("s{i}.csv");
        let line = simulate_one(
            &sandbox,
            &format!("scale{i}.npy"),
            &format!("bg{i}.npy"),
            40 + i as u64,
            &out,
        );
        if i == 0 {
            let text = std::fs::read_to_string(sandbox.join(&out)).expect("read");
            csv.push_str(text.lines().next().expect("header"));
            csv.push('\n');
        }
        // Ids s0, s1, ...: the sample column is the first.
        let (_, counts) = line.split_once(',').expect("id,counts");
        csv.push_str(&format!("s{i},{counts}\n"));
        // The file of sample i alone, with its id.
        let header = csv.lines().next().expect("header").to_string();
        sandbox.write(&out, format!("{header}\ns{i},{counts}\n"));
    }
    sandbox.write("all.csv", csv);
    write_npy(
        &sandbox,
        "scales.npy",
        &[n, m],
        (0..n).flat_map(scale).collect(),
    );
    write_npy(
        &sandbox,
        "bgs.npy",
        &[n, m],
        (0..n).flat_map(background).collect(),
    );

    // simulate with (N, M) rows draws sample i through row i: the same
    // counts as a simulation under row i alone (sample i depends only on
    // the seed and i).
    let sim = |scale: &str, background: &str, out: &str| {
        sandbox
            .qtomo([
                "simulate",
                "--basis",
                "james16",
                "--samples",
                "4",
                "--shots",
                "20000",
                "--seed",
                "8",
                "--scale",
                scale,
                "--background",
                background,
                "--out",
                out,
            ])
            .ok();
        std::fs::read_to_string(sandbox.join(out)).expect("read")
    };
    let per_sample = sim("scales.npy", "bgs.npy", "sim_n.csv");
    for i in 0..n {
        let alone = sim(
            &format!("scale{i}.npy"),
            &format!("bg{i}.npy"),
            &format!("sim{i}.csv"),
        );
        assert_eq!(
            per_sample.lines().nth(i + 1),
            alone.lines().nth(i + 1),
            "simulated sample {i}"
        );
    }

    let base = ["--basis", "james16", "--method", "mle,pls,linear", "-q"];
    // Both per sample, over two workers.
    sandbox
        .qtomo([
            "run",
            "all.csv",
            "--out",
            "both",
            "--scale",
            "scales.npy",
            "--background",
            "bgs.npy",
            "--workers",
            "2",
        ])
        .args(base)
        .ok();
    // A run-wide scale (sample 0's row) with per-sample backgrounds.
    sandbox
        .qtomo([
            "run",
            "all.csv",
            "--out",
            "mixed",
            "--scale",
            "scale0.npy",
            "--background",
            "bgs.npy",
            "--workers",
            "0",
        ])
        .args(base)
        .ok();
    sandbox
        .qtomo(["show", "both", "--sample", "1"])
        .ok()
        .stdout_has(&[
            "measurement model: scale: per sample (4×16); background: per sample (4×16)",
            "scales.npy",
            "bgs.npy",
        ]);
    sandbox
        .qtomo(["show", "mixed", "--sample", "1"])
        .ok()
        .stdout_has(&["measurement model: scale (16,); background: per sample (4×16)"]);
    let both = records(&sandbox, "both");
    let mixed = records(&sandbox, "mixed");
    assert_eq!((both.len(), mixed.len()), (n, n));
    for i in 0..n {
        for (records, scale_file, dir) in [
            (&both, format!("scale{i}.npy"), "both"),
            (&mixed, "scale0.npy".to_string(), "mixed"),
        ] {
            let alone = format!("{dir}_alone{i}");
            sandbox
                .qtomo([
                    "run".to_string(),
                    format!("s{i}.csv"),
                    "--out".into(),
                    alone.clone(),
                    "--scale".into(),
                    scale_file,
                    "--background".into(),
                    format!("bg{i}.npy"),
                    "--workers".into(),
                    "0".into(),
                ])
                .args(base)
                .ok();
            let alone = records_of(&sandbox, &alone);
            assert_eq!(records[i]["id"], format!("s{i}"));
            same_estimates(&records[i], &alone[0], &format!("{dir} sample {i}"));
        }
    }
}

/// [`records`], under another name for use inside a loop that shadows it.
fn records_of(sandbox: &Sandbox, dir: &str) -> Vec<Value> {
    records(sandbox, dir)
}

#[test]
fn model_files_of_a_wrong_shape_are_located_usage_errors() {
    let sandbox = Sandbox::new();
    sandbox
        .qtomo([
            "simulate",
            "--basis",
            "james16",
            "--samples",
            "3",
            "--shots",
            "1000",
            "--out",
            "d.csv",
        ])
        .ok();
    write_npy(&sandbox, "short.npy", &[3, 15], vec![1.0; 45]);
    write_npy(&sandbox, "rows4.npy", &[4, 16], vec![1.0; 64]);
    write_npy(&sandbox, "cube.npy", &[3, 16, 1], vec![1.0; 48]);
    let mut negative = vec![1.0; 48];
    negative[16 + 5] = -2.0;
    write_npy(&sandbox, "negative.npy", &[3, 16], negative);
    write_npy(&sandbox, "rows2.npy", &[2, 16], vec![1.0; 32]);
    write_npy(&sandbox, "rows3.npy", &[3, 16], vec![1.0; 48]);
    let cases: [(&[&str], &[&str]); 5] = [
        (
            &["--scale", "short.npy"],
            &[
                "short.npy",
                "(--scale)",
                "shape (3, 15)",
                "expected (16,)",
                "or (N, 16)",
            ],
        ),
        (
            &["--background", "cube.npy"],
            &[
                "cube.npy",
                "(--background)",
                "shape (3, 16, 1)",
                "expected (16,)",
                "(N, 16)",
            ],
        ),
        (
            &["--scale", "rows4.npy"],
            &[
                "rows4.npy",
                "(--scale) shape (4, 16): 4 rows for the 3 samples of d.csv",
                "expected (16,)",
                "or (3, 16)",
            ],
        ),
        (
            &["--background", "negative.npy"],
            &[
                "negative.npy",
                "entry [1, 5] (measurement 'RV') is -2",
                "≥ 0",
            ],
        ),
        (
            &["--scale", "rows3.npy", "--background", "rows2.npy"],
            &["rows2.npy", "(--background) 2 rows, the --scale file has 3"],
        ),
    ];
    for (flags, needles) in cases {
        let mut args = vec!["run", "d.csv", "--out", "bad", "-q", "--basis", "james16"];
        args.extend_from_slice(flags);
        sandbox.qtomo(args).expect_code(2).stderr_has(needles);
        assert!(
            !sandbox.join("bad").exists(),
            "nothing is written: {flags:?}"
        );
    }
    // simulate takes (N, M) too, N its --samples.
    sandbox
        .qtomo([
            "simulate",
            "--basis",
            "james16",
            "--samples",
            "2",
            "--scale",
            "rows3.npy",
            "--out",
            "x.csv",
        ])
        .expect_code(2)
        .stderr_has(&[
            "rows3.npy",
            "(--scale) shape (3, 16): 3 rows for --samples 2",
            "expected (16,)",
            "or (2, 16)",
        ]);
    assert!(!sandbox.join("x.csv").exists());
}

#[test]
fn a_killed_per_sample_run_resumes_to_the_same_records_and_refuses_another_model() {
    let sandbox = Sandbox::new();
    let (n, m) = (160usize, 16usize);
    sandbox
        .qtomo([
            "simulate", "--basis", "james16", "--shots", "5000", "--seed", "9", "--out", "in.csv",
        ])
        .args(["--samples", &n.to_string()])
        .ok();
    let bg: Vec<f64> = (0..n * m)
        .map(|x| 5.0 + (x / m % 7) as f64 + 0.5 * (x % m % 3) as f64)
        .collect();
    let scale: Vec<f64> = (0..n * m)
        .map(|x| 0.8 + 0.02 * (x % m) as f64 + 0.05 * (x / m % 5) as f64)
        .collect();
    write_npy(&sandbox, "bg.npy", &[n, m], bg.clone());
    write_npy(&sandbox, "scale.npy", &[n, m], scale);
    let args = |dir: &str, workers: &str| -> Vec<String> {
        [
            "run",
            "in.csv",
            "--basis",
            "james16",
            "--scale",
            "scale.npy",
            "--background",
            "bg.npy",
            "--method",
            "mle,pls",
            "--bootstrap",
            "30",
            "--seed",
            "2",
            "--out",
            dir,
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
    };
    sandbox
        .qtomo(args("one", "1"))
        .timeout(Duration::from_secs(300))
        .ok();

    // Two workers, the supervisor SIGKILLed once some records are in,
    // then resumed.
    let log = sandbox.join("two/results.log");
    let mut run = sandbox
        .qtomo(args("two", "2"))
        .timeout(Duration::from_secs(300))
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::metadata(&log).map_or(0, |m| m.len()) < 16384 && !run.has_exited() {
        assert!(Instant::now() < deadline, "no records appeared in time");
        std::thread::sleep(Duration::from_millis(5));
    }
    let killed_early = !run.has_exited();
    run.signal(Signal::SIGKILL);
    println!("first run (killed mid-run: {killed_early}): {}", run.wait());
    sandbox
        .qtomo(args("two", "2"))
        .timeout(Duration::from_secs(300))
        .ok();
    let (one, two) = (records(&sandbox, "one"), records(&sandbox, "two"));
    assert_eq!(one.len(), n);
    assert!(
        one == two,
        "records differ between an uninterrupted and a killed-and-resumed run"
    );
    for r in &one {
        assert_eq!(r["methods"]["mle"]["converged"], true, "{r}");
    }

    // The model files are fingerprinted by content: another background
    // row for one sample is refused on resume.
    let mut other = bg;
    other[7 * m + 2] += 1.0;
    write_npy(&sandbox, "bg.npy", &[n, m], other);
    sandbox
        .qtomo(args("two", "2"))
        .expect_code(2)
        .stderr_has(&["background file bg.npy changed since the run started"]);
}

/// With `QTOMO_KWIAT_PYTHON` (see `kwiat.rs`): each sample of a per-sample
/// batch (two-detector files that differ in efficiencies and singles, so
/// accidentals; with and without crosstalk) agrees with Kwiat's package
/// run on its own file, as single files do: fidelity ≥ 0.995, and qtomo's
/// MLE at least as likely under the exact model. (Integration times are
/// left alone: the package 1.2 leaves them out of its prediction.)
#[test]
fn each_sample_of_a_per_sample_kwiat_batch_agrees_with_kwiats_package_on_its_file() {
    use crate::kwiat::{exported_rho, model_log_likelihood, run_bounded};
    let Some(python) = std::env::var_os("QTOMO_KWIAT_PYTHON") else {
        println!(
            "SKIP: QTOMO_KWIAT_PYTHON is not set (a python with quantum-tomography==1.2); the per-sample batch was not compared with Kwiat's package"
        );
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kwiat/reference.py");
    let on = fixture("corrections_on.toml");
    let opts = qtomo::kwiat::read_options(&on).expect("conf");
    let sandbox = Sandbox::new();
    for (base, dir) in [
        ("two_det_eff.json", "eff"),
        ("two_det_crosstalk.json", "xt"),
    ] {
        let batch_dir = sandbox.join(format!("{dir}_batch"));
        std::fs::create_dir_all(&batch_dir).expect("mkdir");
        let variants = kwiat_variants(&fixture(base), false);
        for (i, v) in variants.iter().enumerate() {
            sandbox.write(format!("{dir}_batch/s{i}.json"), v.to_string());
        }
        sandbox
            .qtomo([
                "run".as_ref(),
                batch_dir.as_os_str(),
                "--out".as_ref(),
                dir.as_ref(),
                "--workers".as_ref(),
                "1".as_ref(),
                "--method".as_ref(),
                "mle".as_ref(),
                "--kwiat-conf".as_ref(),
                on.as_os_str(),
                "-q".as_ref(),
            ])
            .ok();
        sandbox
            .qtomo(["show", dir, "--sample", "0"])
            .ok()
            .stdout_has(&["per sample (3×36)"]);
        for i in 0..variants.len() {
            let file = batch_dir.join(format!("s{i}.json"));
            let npy = sandbox.join(format!("{dir}{i}.npy"));
            let mut cmd = std::process::Command::new(&python);
            cmd.arg(&script).arg(&file).arg(&on).arg("--npy").arg(&npy);
            let (ok, stdout, stderr) = run_bounded(cmd, Duration::from_secs(300));
            assert!(ok, "reference.py failed on {}\n{stderr}", file.display());
            let kwiat: Value = serde_json::from_str(stdout.trim()).expect("reference JSON");
            let parse = |x: &Value| -> Vec<Vec<f64>> {
                serde_json::from_value(x.clone()).expect("a matrix")
            };
            let (k_re, k_im) = (parse(&kwiat["rho_re"]), parse(&kwiat["rho_im"]));
            let (q_re, q_im) = exported_rho(&sandbox, dir, i);
            // Fidelity of qtomo's ρ to the package's pure-ish estimate:
            // (Tr√(√σ ρ √σ))², computed from the eigenvectors of σ.
            let fidelity = fidelity_of(&q_re, &q_im, &k_re, &k_im);
            let one = qtomo::kwiat::read_batch(&file, &opts).expect("kwiat data");
            let l_qtomo = model_log_likelihood(&one, &q_re, &q_im);
            let l_kwiat = model_log_likelihood(&one, &k_re, &k_im);
            println!(
                "{base} variant {i} (in a per-sample batch): fidelity(qtomo, Kwiat on its file) = {fidelity:.6}; exact-model log-likelihood qtomo {l_qtomo:.6}, Kwiat {l_kwiat:.6}"
            );
            assert!(fidelity >= 0.995, "{base} variant {i}: fidelity {fidelity}");
            assert!(
                l_qtomo >= l_kwiat - 1e-6 * l_kwiat.abs().max(1.0),
                "{base} variant {i}: qtomo's log-likelihood {l_qtomo} is below Kwiat's {l_kwiat}"
            );
        }
    }
}

/// The fidelity (Tr√(√σ ρ √σ))² of two density matrices given by their
/// real and imaginary parts.
fn fidelity_of(re: &[Vec<f64>], im: &[Vec<f64>], s_re: &[Vec<f64>], s_im: &[Vec<f64>]) -> f64 {
    use faer::{Mat, Side, c64};
    let d = re.len();
    let rho = Mat::<c64>::from_fn(d, d, |i, j| c64::new(re[i][j], im[i][j]));
    let sigma = Mat::<c64>::from_fn(d, d, |i, j| c64::new(s_re[i][j], s_im[i][j]));
    let sqrt_psd = |m: &Mat<c64>| -> Mat<c64> {
        let evd = m.self_adjoint_eigen(Side::Lower).expect("eigen");
        let (s, u) = (evd.S().column_vector(), evd.U());
        Mat::from_fn(d, d, |i, j| {
            (0..d)
                .map(|k| u[(i, k)] * u[(j, k)].conj() * s[k].re.max(0.0).sqrt())
                .sum()
        })
    };
    let root = sqrt_psd(&sigma);
    let inner = &root * &rho * &root;
    let inner = Mat::<c64>::from_fn(d, d, |i, j| (inner[(i, j)] + inner[(j, i)].conj()) * 0.5);
    let t: f64 = inner
        .self_adjoint_eigenvalues(Side::Lower)
        .expect("eigenvalues")
        .into_iter()
        .map(|v| v.max(0.0).sqrt())
        .sum();
    t * t
}
