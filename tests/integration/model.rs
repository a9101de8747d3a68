//! Measurement models through the binary (issue 17): readout errors in the
//! effects, per-measurement scales, located errors for bad model files,
//! and the model in the fingerprint.
//!
//! The noisy counts are simulated here, independently of `tomo::model`:
//! ideal Pauli probabilities from the library's projectors, the readout
//! applied by hand (A₁ ⊗ A₂ on each setting's four outcomes), multinomial
//! draws from a seeded generator.

use crate::util::Sandbox;
use ndarray_npy::WriteNpyExt;
use qtomo::tomo::product::ProductScratch;
use qtomo::tomo::simulate::sample_rng;
use qtomo::tomo::{hermitian, sets, states};
use rand_distr::{Binomial, Distribution};
use serde_json::Value;
use std::fmt::Write as _;

/// Per-qubit readout A[measured, prepared] of 3 % error per qubit.
const READOUT: [[[f64; 2]; 2]; 2] = [[[0.97, 0.03], [0.03, 0.97]], [[0.97, 0.03], [0.03, 0.97]]];

/// Writes a float64 NPY file of any shape.
fn write_npy(sandbox: &Sandbox, name: &str, shape: &[usize], values: Vec<f64>) {
    let a = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), values).expect("shape");
    let file = std::fs::File::create(sandbox.join(name)).expect("create npy");
    a.write_npy(file).expect("write npy");
}

fn jsonl(sandbox: &Sandbox, dir: &str) -> Vec<Value> {
    let out = format!("{dir}.jsonl");
    sandbox
        .qtomo(["export", dir, "--format", "jsonl", "--out", &out])
        .ok();
    std::fs::read_to_string(sandbox.join(&out))
        .expect("export")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The exported estimate of `method` as a matrix.
fn rho_of(method: &Value) -> faer::Mat<faer::c64> {
    let n = method["rho_re"].as_array().expect("rho_re").len();
    let entry = |key: &str, i: usize, j: usize| method[key][i][j].as_f64().expect("a number");
    faer::Mat::from_fn(n, n, |i, j| {
        faer::c64::new(entry("rho_re", i, j), entry("rho_im", i, j))
    })
}

/// A Hermitian matrix's eigen-decomposition applied to a function of its
/// eigenvalues (negative ones clamped to 0).
fn psd_function(m: &faer::Mat<faer::c64>, f: impl Fn(f64) -> f64) -> faer::Mat<faer::c64> {
    let d = m.nrows();
    let evd = m.self_adjoint_eigen(faer::Side::Lower).expect("eigen");
    let (s, u) = (evd.S().column_vector(), evd.U());
    faer::Mat::from_fn(d, d, |i, j| {
        (0..d)
            .map(|k| u[(i, k)] * u[(j, k)].conj() * f(s[k].re.max(0.0)))
            .sum()
    })
}

/// (Tr √(√σ ρ √σ))², the squared fidelity.
fn fidelity(sigma: &faer::Mat<faer::c64>, rho: &faer::Mat<faer::c64>) -> f64 {
    let half = psd_function(sigma, f64::sqrt);
    let m = &half * rho * &half;
    let evd = m
        .self_adjoint_eigenvalues(faer::Side::Lower)
        .expect("eigenvalues");
    let t: f64 = evd.iter().map(|l| l.max(0.0).sqrt()).sum();
    t * t
}

/// Multinomial counts of `shots` draws over `p` (sequential binomials).
fn multinomial(p: &[f64], shots: u64, rng: &mut impl rand::Rng) -> Vec<u64> {
    let mut left = shots;
    let mut mass = 1.0;
    let mut out = Vec::with_capacity(p.len());
    for (k, &pk) in p.iter().enumerate() {
        let n = if k + 1 == p.len() || left == 0 {
            left
        } else {
            let q = (pk / mass).clamp(0.0, 1.0);
            Binomial::new(left, q).expect("binomial").sample(rng)
        };
        out.push(n);
        left -= n;
        mass -= pk;
    }
    out
}

/// Writes two CSVs of the same true states (2 qubits, Haar-random pure
/// or Hilbert–Schmidt mixed), `shots` per Pauli setting: `<kind>-clean.csv`
/// without readout error and `<kind>-noisy.csv` through [`READOUT`].
/// Returns the true density matrices.
fn simulate_pair(
    sandbox: &Sandbox,
    kind: &str,
    samples: u64,
    shots: u64,
) -> Vec<faer::Mat<faer::c64>> {
    let set = sets::pauli::pauli_dense(2).expect("pauli(2)");
    let labels = set.labels().to_vec();
    let header = format!("sample,{}\n", labels.join(","));
    let (mut clean, mut noisy) = (header.clone(), header);
    let mut truths = Vec::new();
    for i in 0..samples {
        let mut rng = sample_rng(0x17_ad, i);
        let x = match kind {
            "pure" => states::pure_coords(&states::haar_pure(4, &mut rng)),
            _ => states::hilbert_schmidt_mixed(4, &mut rng),
        };
        let mut p = vec![0.0; 36];
        set.view()
            .predict(&x, &mut p, &mut ProductScratch::default());
        let mut q = vec![0.0; 36];
        for s in 0..9 {
            for k in 0..4 {
                q[4 * s + k] = (0..4)
                    .map(|j| READOUT[0][k >> 1][j >> 1] * READOUT[1][k & 1][j & 1] * p[4 * s + j])
                    .sum();
            }
        }
        for (text, probs) in [(&mut clean, &p), (&mut noisy, &q)] {
            let mut row = format!("{i}");
            for s in 0..9 {
                for n in multinomial(&probs[4 * s..4 * s + 4], shots, &mut rng) {
                    write!(row, ",{n}").expect("write");
                }
            }
            text.push_str(&row);
            text.push('\n');
        }
        truths.push(hermitian::matrix_from_coords(&x));
    }
    sandbox.write(format!("{kind}-clean.csv"), clean);
    sandbox.write(format!("{kind}-noisy.csv"), noisy);
    truths
}

/// Mean infidelity 1 − ⟨ψ|ρ|ψ⟩ of `method` over a run's samples.
fn mean_infidelity(records: &[Value], truths: &[faer::Mat<faer::c64>], method: &str) -> f64 {
    assert_eq!(records.len(), truths.len());
    let sum: f64 = records
        .iter()
        .zip(truths)
        .map(|(r, psi)| {
            assert_eq!(r["status"], "ok", "{r}");
            1.0 - fidelity(psi, &rho_of(&r["methods"][method]))
        })
        .sum();
    sum / truths.len() as f64
}

#[test]
fn readout_in_the_effects_removes_the_bias_of_a_three_percent_readout_error() {
    let sandbox = Sandbox::new();
    let samples = 100;
    let flat: Vec<f64> = READOUT.iter().flatten().flatten().copied().collect();
    write_npy(&sandbox, "readout.npy", &[2, 2, 2], flat);
    let run = |input: &str, out: &str, readout: bool| {
        let mut args = vec!["run", input, "--out", out, "--workers", "1", "-q"];
        if readout {
            args.extend(["--readout", "readout.npy"]);
        }
        sandbox.qtomo(args).ok();
        jsonl(&sandbox, out)
    };
    let mut table = String::new();
    let mut ratios = Vec::new();
    for kind in ["mixed", "pure"] {
        let truths = simulate_pair(&sandbox, kind, samples, 100_000);
        let clean = run(
            &format!("{kind}-clean.csv"),
            &format!("{kind}-clean"),
            false,
        );
        let corrected = run(&format!("{kind}-noisy.csv"), &format!("{kind}-model"), true);
        let ignored = run(
            &format!("{kind}-noisy.csv"),
            &format!("{kind}-plain"),
            false,
        );
        for method in ["mle", "pls", "linear"] {
            let (c, r, i) = (
                mean_infidelity(&clean, &truths, method),
                mean_infidelity(&corrected, &truths, method),
                mean_infidelity(&ignored, &truths, method),
            );
            writeln!(
                table,
                "{kind} {method}: error-free {c:.3e}, with --readout {r:.3e} ({:.2}×), readout ignored {i:.3e} ({:.1}×)",
                r / c,
                i / c
            )
            .expect("write");
            if method == "mle" {
                ratios.push((kind, c, r, i));
            }
        }
        // Every MLE of the model run is certified.
        for rec in &corrected {
            assert_eq!(rec["methods"]["mle"]["converged"], true, "{rec}");
        }
    }
    println!(
        "mean infidelity to the truth, {samples} random 2-qubit states each, 1e5 shots per setting, 3 % readout error per qubit:\n{table}"
    );
    for (kind, c, r, i) in ratios {
        assert!(
            i > 10.0 * c,
            "{kind}: ignoring the readout error must bias: {table}"
        );
        // Pure states lose more: a readout error keeps every recorded
        // probability away from 0, where an error-free pure state's
        // zero-probability outcomes carry most of the information (measured
        // 1.52× here, see the README).
        let limit = if kind == "mixed" { 1.5 } else { 2.0 };
        assert!(r <= limit * c, "{kind}: {table}");
    }
}

#[test]
fn bad_model_files_get_located_errors_and_exit_2() {
    let sandbox = Sandbox::new();
    sandbox
        .qtomo([
            "simulate",
            "--qubits",
            "2",
            "--samples",
            "3",
            "--shots",
            "100",
            "--out",
            "d.csv",
        ])
        .ok();
    let good: Vec<f64> = READOUT.iter().flatten().flatten().copied().collect();
    write_npy(&sandbox, "good.npy", &[2, 2, 2], good);
    write_npy(&sandbox, "three.npy", &[3, 2, 2], vec![0.5; 12]);
    let mut lossy: Vec<f64> = READOUT.iter().flatten().flatten().copied().collect();
    lossy[2] = 0.01; // qubit 1: column 0 sums to 0.98
    write_npy(&sandbox, "lossy.npy", &[2, 2, 2], lossy);
    let mut nan: Vec<f64> = READOUT.iter().flatten().flatten().copied().collect();
    nan[5] = f64::NAN;
    write_npy(&sandbox, "nan.npy", &[2, 2, 2], nan);
    write_npy(&sandbox, "scale.npy", &[36], vec![1.0; 36]);
    sandbox.write("text.npy", "not an NPY file");
    let cases: [(&[&str], &[&str]); 6] = [
        (
            &["--readout", "three.npy"],
            &[
                "three.npy",
                "(--readout)",
                "shape (3, 2, 2)",
                "expected (2, 2, 2)",
                "(4, 4)",
            ],
        ),
        (
            &["--readout", "lossy.npy"],
            &[
                "lossy.npy",
                "qubit 1 ([0, :, :]): column 0",
                "sums to 0.98",
                "must sum to 1",
            ],
        ),
        (
            &["--readout", "nan.npy"],
            &["nan.npy", "entry [1, 0, 1]", "NaN", "finite"],
        ),
        (
            &["--readout", "missing.npy"],
            &["missing.npy", "no such file"],
        ),
        (&["--readout", "text.npy"], &["text.npy", "(--readout)"]),
        (
            &["--scale", "scale.npy"],
            &["scale.npy", "(--scale)", "grouped", "ungrouped"],
        ),
    ];
    for (flags, needles) in cases {
        let mut args = vec!["run", "d.csv", "--out", "bad", "-q"];
        args.extend_from_slice(flags);
        sandbox.qtomo(args).expect_code(2).stderr_has(needles);
        assert!(
            !sandbox.join("bad").exists(),
            "nothing is written: {flags:?}"
        );
    }
    // A resume with another readout file is refused like any other change.
    sandbox
        .qtomo([
            "run",
            "d.csv",
            "--out",
            "ok",
            "--readout",
            "good.npy",
            "--workers",
            "0",
            "-q",
        ])
        .ok();
    sandbox
        .qtomo(["show", "ok", "--sample", "0", "--method", "mle"])
        .ok()
        .stdout_has(&[
            "measurement model: readout per-qubit (2 qubits)",
            "good.npy",
        ]);
    let mut other: Vec<f64> = READOUT.iter().flatten().flatten().copied().collect();
    other[0] = 0.96;
    other[2] = 0.04;
    write_npy(&sandbox, "good.npy", &[2, 2, 2], other);
    sandbox
        .qtomo([
            "run",
            "d.csv",
            "--out",
            "ok",
            "--readout",
            "good.npy",
            "--workers",
            "0",
            "-q",
        ])
        .expect_code(2)
        .stderr_has(&["readout file good.npy changed since the run started"]);
    sandbox
        .qtomo(["run", "d.csv", "--out", "ok", "--workers", "0", "-q"])
        .expect_code(2)
        .stderr_has(&["readout file: good.npy -> (none)"]);
    // A Kwiat JSON input is not combined with the model options (yet).
    let kwiat = crate::util::example_data("kwiat/bell_state_example.json");
    sandbox
        .qtomo([
            "run".as_ref(),
            kwiat.as_os_str(),
            "--out".as_ref(),
            "kw".as_ref(),
            "--readout".as_ref(),
            "good.npy".as_ref(),
            "-q".as_ref(),
        ])
        .expect_code(2)
        .stderr_has(&["--readout, --scale and --background apply to CSV and NPY inputs"]);
    assert!(!sandbox.join("kw").exists());
}

/// The affine certificate N·max(0, λ_max(∇L)) − Tr(τ∇L) of ρ recomputed from
/// dense complex matrices: F_k = c_k Π_k, G = Σ F_k, τ = s·G^{1/2}ρG^{1/2}/Tr
/// at the intensity s maximising the likelihood (bisection), ∇L =
/// Σ_k n_k/(Tr(F̃_k τ) + a_k) F̃_k − I.
fn affine_gap(
    rows: &[faer::Mat<faer::c64>],
    counts: &[f64],
    a: &[f64],
    rho: &faer::Mat<faer::c64>,
) -> f64 {
    use faer::{Mat, Scale, c64};
    let d = rho.nrows();
    let mut g = Mat::<c64>::zeros(d, d);
    for f in rows {
        g += f;
    }
    let half = psd_function(&g, f64::sqrt);
    let inv_half = psd_function(&g, |v| 1.0 / v.sqrt());
    let t = &half * rho * &half;
    let tr = |m: &Mat<c64>| (0..d).map(|i| m[(i, i)].re).sum::<f64>();
    let t = &t * Scale(c64::new(1.0 / tr(&t), 0.0));
    let inner = |x: &Mat<c64>, y: &Mat<c64>| -> f64 {
        (0..d)
            .map(|i| (0..d).map(|j| x[(i, j)] * y[(j, i)]).sum::<c64>().re)
            .sum()
    };
    let tilde: Vec<Mat<c64>> = rows.iter().map(|f| &inv_half * f * &inv_half).collect();
    let q: Vec<f64> = tilde.iter().map(|f| inner(f, &t)).collect();
    let total: f64 = counts.iter().sum();
    let s = crate::util::fitted_intensity(counts, &q, a);
    let tau = &t * Scale(c64::new(s, 0.0));
    let mut grad = Mat::<c64>::from_fn(d, d, |i, j| c64::new(if i == j { -1.0 } else { 0.0 }, 0.0));
    for (k, f) in tilde.iter().enumerate() {
        if counts[k] > 0.0 {
            grad += f * Scale(c64::new(counts[k] / (s * q[k] + a[k]), 0.0));
        }
    }
    let lmax = grad
        .self_adjoint_eigenvalues(faer::Side::Lower)
        .expect("eigenvalues")
        .into_iter()
        .fold(f64::NEG_INFINITY, f64::max);
    total * lmax.max(0.0) - inner(&tau, &grad)
}

#[test]
fn an_affine_batch_with_background_and_times_is_certified() {
    use rand_distr::Poisson;
    let sandbox = Sandbox::new();
    let set = sets::james16::james16().expect("james16");
    let m = set.len();
    // Integration times (relative) and accidentals per coincidence row.
    let times: Vec<f64> = (0..m).map(|k| 0.8 + 0.05 * k as f64).collect();
    let background: Vec<f64> = (0..m).map(|k| 20.0 + 3.0 * (k % 5) as f64).collect();
    write_npy(&sandbox, "times.npy", &[m], times.clone());
    write_npy(&sandbox, "accidentals.npy", &[m], background.clone());
    let mut csv = format!("sample,{}\n", set.labels().join(","));
    let shots = [30.0, 3e3, 3e5, 3e6];
    for i in 0..12u64 {
        let mut rng = sample_rng(0x17_af, i);
        let x = if i % 2 == 0 {
            states::pure_coords(&states::haar_pure(4, &mut rng))
        } else {
            states::hilbert_schmidt_mixed(4, &mut rng)
        };
        let mut p = vec![0.0; m];
        set.view()
            .predict(&x, &mut p, &mut ProductScratch::default());
        let intensity = shots[(i / 3) as usize % shots.len()];
        let mut row = format!("{i}");
        for k in 0..m {
            let mean = intensity * times[k] * p[k].max(0.0) + background[k];
            let n: f64 = Poisson::new(mean).expect("poisson").sample(&mut rng);
            write!(row, ",{n}").expect("write");
        }
        csv.push_str(&row);
        csv.push('\n');
    }
    sandbox.write("coincidences.csv", csv);
    sandbox
        .qtomo([
            "run",
            "coincidences.csv",
            "--basis",
            "james16",
            "--scale",
            "times.npy",
            "--background",
            "accidentals.npy",
            "--out",
            "affine",
            "--workers",
            "1",
            "-q",
        ])
        .ok();
    let rows: Vec<faer::Mat<faer::c64>> = set
        .a()
        .chunks_exact(16)
        .zip(&times)
        .map(|(r, c)| {
            let scaled: Vec<f64> = r.iter().map(|v| v * c).collect();
            hermitian::matrix_from_coords(&scaled)
        })
        .collect();
    let records = jsonl(&sandbox, "affine");
    assert_eq!(records.len(), 12);
    let input = std::fs::read_to_string(sandbox.join("coincidences.csv")).expect("csv");
    for (rec, line) in records.iter().zip(input.lines().skip(1)) {
        let counts: Vec<f64> = line
            .split(',')
            .skip(1)
            .map(|v| v.parse().expect("a count"))
            .collect();
        let mle = &rec["methods"]["mle"];
        assert_eq!(mle["converged"], true, "{rec}");
        let bound = mle["gap_bound"].as_f64().expect("a bound");
        let gap = affine_gap(&rows, &counts, &background, &rho_of(mle));
        let total: f64 = counts.iter().sum();
        assert!(
            gap <= bound + 1e-12 * total,
            "sample {}: recomputed gap {gap:e} > bound {bound:e}",
            rec["index"]
        );
    }
    sandbox
        .qtomo(["show", "affine", "--sample", "0"])
        .ok()
        .stdout_has(&[
            "measurement model: scale (16,); background (16,)",
            "accidentals.npy",
        ]);
    // A background needs an ungrouped set, and one value per measurement.
    write_npy(&sandbox, "short.npy", &[15], vec![1.0; 15]);
    sandbox
        .qtomo([
            "run",
            "coincidences.csv",
            "--basis",
            "james16",
            "--background",
            "short.npy",
            "--out",
            "bad",
            "-q",
        ])
        .expect_code(2)
        .stderr_has(&[
            "short.npy",
            "(--background)",
            "shape (15,)",
            "expected (16,)",
        ]);
    let mut negative = background.clone();
    negative[3] = -1.0;
    write_npy(&sandbox, "negative.npy", &[m], negative);
    sandbox
        .qtomo([
            "run",
            "coincidences.csv",
            "--basis",
            "james16",
            "--background",
            "negative.npy",
            "--out",
            "bad",
            "-q",
        ])
        .expect_code(2)
        .stderr_has(&["negative.npy", "entry [3] (measurement 'VH') is -1", "≥ 0"]);
}
