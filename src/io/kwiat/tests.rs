//! Tests of the Kwiat reader: conversion against numbers computed by
//! Kwiat's Quantum-Tomography 1.2 on qtomo's own fixtures
//! (`tests/data/kwiat/`, written by `tests/kwiat/make_fixtures.py`), batch
//! forms, and a located error for every malformed field.
//!
//! Provenance of the expected numbers: `QuantumTomography` 1.2 (PyPI) with
//! numpy 2.3.5; `t.import_conf(conf); t.import_data(file);
//! coincidences, densities, _, accidentals, overall_norms =
//! t.filter_data(t.last_input)`, printed to 10 significant digits. The
//! package's `overall_norms` leave the integration time out, so they are
//! compared with `scale / integration_time`.

use std::path::{Path, PathBuf};

use faer::c64;

use super::*;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/kwiat")
        .join(name)
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/data/kwiat")
        .join(name)
}

fn on() -> KwiatOptions {
    read_options(&data("corrections_on.toml")).expect("options")
}

fn one(path: &Path, opts: &KwiatOptions) -> (KwiatRows, KwiatSample) {
    let mut b = read_batch(path, opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.samples.len(), 1);
    (b.rows, b.samples.remove(0))
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0)
}

/// Entry (i, j) of the effect of row k: Σ_l C[o,l] |ψ_l⟩⟨ψ_l| / Σ_l C[o,l]
/// over the outcomes of row k's setting (identity C when none).
fn effect(rows: &KwiatRows, c: Option<&[f64]>, k: usize, i: usize, j: usize) -> c64 {
    let d = rows.dim();
    let o = rows.outcome[k];
    let kets = &rows.setting_kets[rows.setting[k]];
    let weight = |l: usize| c.map_or(if l == o { 1.0 } else { 0.0 }, |c| c[o * d + l]);
    let total: f64 = (0..d).map(weight).sum();
    let mut sum = c64::new(0.0, 0.0);
    for (l, ket) in kets.iter().enumerate() {
        sum += ket[i] * ket[j].conj() * weight(l);
    }
    sum / total
}

#[test]
fn bell_example_is_36_plain_rows() {
    let opts = read_options(&example("conf.toml")).expect("conf");
    assert!(!opts.accidental_correction && !opts.drift_correction);
    assert!(opts.ignored.is_empty());
    let (rows, s) = one(&example("bell_state_example.json"), &opts);
    assert_eq!(
        (rows.n_qubits, rows.detectors_per_qubit, rows.len()),
        (2, 1, 36)
    );
    assert_eq!(rows.labels[..3], ["HH", "HV", "HD"]);
    assert_eq!(rows.labels[35], "LL");
    assert_eq!(s.counts[..3], [100.0, 0.0, 50.0]);
    assert_eq!(s.id.as_deref(), Some("bell_state_example.json"));
    assert!(s.scale.iter().all(|&c| c == 1.0));
    assert!(s.background.iter().all(|&a| a == 0.0));
    assert_eq!(s.model_needed(&rows), None);
    // Row "HR": |H⟩ ⊗ (|H⟩ + i|V⟩)/√2, unit norm.
    let h = std::f64::consts::FRAC_1_SQRT_2;
    let hr = &rows.kets[4];
    assert!(close(hr[0].re, h, 1e-15) && close(hr[1].im, h, 1e-15));
    assert!(hr[2].norm() == 0.0 && hr[3].norm() == 0.0);
}

#[test]
fn one_detector_drift_and_accidentals_match_the_package() {
    let (rows, s) = one(&data("one_det_drift_acc.json"), &on());
    // (row, count, overall_norm, accidentals) from the package.
    let expected = [
        (0, 85.0, 1.0, 0.91186725),
        (1, 13.0, 0.98, 1.73536057),
        (2, 180.0, 0.96, 3.339628325),
        (3, 46.0, 0.94, 0.81164324),
        (5, 210.0, 1.0, 3.60782142),
        (13, 47.0, 0.96, 0.8336202),
        (35, 24.0, 1.0, 1.7902104),
    ];
    for (k, count, norm, acc) in expected {
        assert_eq!(s.counts[k], count, "row {k}");
        assert!(
            close(s.scale[k] / s.integration_time[k], norm, 1e-12),
            "row {k}"
        );
        assert!(
            close(s.background[k], acc, 1e-8),
            "row {k}: {}",
            s.background[k]
        );
    }
    // The package's density of row 35 (LL): first row 0.25, 0.25i, 0.25i, -0.25.
    let want = [
        c64::new(0.25, 0.0),
        c64::new(0.0, 0.25),
        c64::new(0.0, 0.25),
        c64::new(-0.25, 0.0),
    ];
    for (j, w) in want.iter().enumerate() {
        assert!((effect(&rows, None, 35, 0, j) - w).norm() < 1e-12);
    }
    let why = s.model_needed(&rows).expect("needs the model");
    assert!(
        why.contains("integration times, relative intensities"),
        "{why}"
    );
    // Accidental correction off: the scale still varies.
    let off = read_options(&data("corrections_off.toml")).expect("off");
    let (_, s) = one(&data("one_det_drift_acc.json"), &off);
    assert!(s.background.iter().all(|&a| a == 0.0));
    assert!(s.model_needed(&rows).is_some());
}

#[test]
fn two_detectors_efficiencies_and_accidentals_match_the_package() {
    let (rows, s) = one(&data("two_det_eff.json"), &on());
    assert_eq!(rows.len(), 36);
    assert_eq!(rows.setting[..8], [0, 0, 0, 0, 1, 1, 1, 1]);
    assert_eq!(rows.outcome[..4], [0, 1, 2, 3]);
    assert_eq!(rows.labels[..4], ["HH", "HV", "VH", "VV"]);
    let expected = [
        (0, 133.0, 0.95, 0.842177492),
        (1, 9.0, 0.85, 0.837987852),
        (2, 5.0, 0.855, 0.849663264),
        (3, 103.0, 0.765, 0.845436384),
        (5, 99.0, 0.85, 1.268367144),
        (6, 109.0, 0.855, 1.267668867),
        (13, 104.0, 0.85, 1.255886208),
        (35, 8.0, 0.765, 0.841320952),
    ];
    for (k, count, norm, acc) in expected {
        assert_eq!(s.counts[k], count, "row {k}");
        assert!(close(s.efficiency[k], norm, 1e-12), "row {k}");
        assert!(
            close(s.background[k], acc, 1e-8),
            "row {k}: {}",
            s.background[k]
        );
    }
    // Row 5 is HA of the setting {H,V}x{D,A}: density row 0 (0.5, -0.5, 0, 0).
    assert!((effect(&rows, None, 5, 0, 0) - c64::new(0.5, 0.0)).norm() < 1e-12);
    assert!((effect(&rows, None, 5, 0, 1) - c64::new(-0.5, 0.0)).norm() < 1e-12);
    assert!(s.model_needed(&rows).is_some());
}

#[test]
fn crosstalk_effects_match_the_package() {
    let (rows, s) = one(&data("two_det_crosstalk.json"), &on());
    let c = s.crosstalk.as_deref().expect("crosstalk");
    // Kronecker product of the per-qubit matrices, qubit 1 first.
    assert!(close(c[0], 0.95 * 0.97, 1e-15) && close(c[1], 0.95 * 0.03, 1e-15));
    assert!(close(c[4], 0.95 * 0.04, 1e-15));
    // The package's densities, row 0: (row, column, value).
    let expected = [
        (0, 0, c64::new(0.9215, 0.0)),
        (1, 0, c64::new(0.038, 0.0)),
        (2, 0, c64::new(0.097, 0.0)),
        (3, 0, c64::new(0.004, 0.0)),
        (5, 0, c64::new(0.475, 0.0)),
        (5, 1, c64::new(-0.437, 0.0)),
        (6, 0, c64::new(0.05, 0.0)),
        (6, 1, c64::new(0.047, 0.0)),
        (13, 2, c64::new(0.018, 0.0)),
        (35, 1, c64::new(0.0, 0.23)),
        (35, 2, c64::new(0.0, 0.2)),
        (35, 3, c64::new(-0.184, 0.0)),
    ];
    for (k, j, want) in expected {
        let got = effect(&rows, Some(c), k, 0, j);
        assert!(
            (got - want).norm() < 6e-4,
            "row {k} col {j}: {got:?} vs {want:?}"
        );
    }
    assert_eq!(s.counts[..4], [162.0, 8.0, 3.0, 105.0]);
    assert!(close(s.background[0], 0.822427872, 1e-8));
    let why = s.model_needed(&rows).expect("model");
    assert!(why.contains("scale"), "{why}");
}

#[test]
fn batches_by_lines_and_by_directory() {
    let opts = KwiatOptions::default();
    let lines = read_batch(&data("plain_batch.jsonl"), &opts).expect("jsonl");
    let dir = read_batch(&data("batch_dir"), &opts).expect("dir");
    assert_eq!(lines.samples.len(), 3);
    assert_eq!(lines.rows, dir.rows);
    assert_eq!(lines.rows.labels, ["H", "V", "D", "A", "R", "L"]);
    let ids: Vec<_> = dir
        .samples
        .iter()
        .map(|s| s.id.clone().unwrap_or_default())
        .collect();
    assert_eq!(ids, ["t00.json", "t01.json", "t02.json"]);
    assert!(lines.samples.iter().all(|s| s.id.is_none()));
    for (a, b) in lines.samples.iter().zip(&dir.samples) {
        assert_eq!(a.counts, b.counts);
        assert_eq!(a.model_needed(&lines.rows), None);
    }
    assert_eq!(lines.samples[1].origin.line, Some(2));
    assert_eq!(layout(&data("plain_batch.jsonl")), Some(KwiatLayout::Lines));
    assert_eq!(layout(&data("batch_dir")), Some(KwiatLayout::Directory));
    assert_eq!(layout(Path::new("x.JSON")), Some(KwiatLayout::Single));
    assert_eq!(layout(Path::new("x.csv")), None);
    let empty = tempfile::tempdir().expect("tempdir");
    assert_eq!(layout(empty.path()), None);
}

/// A one-qubit document with `edit` applied to its JSON value.
fn doc(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v = serde_json::json!({
        "n_qubits": 1,
        "n_detectors_per_qubit": 1,
        "n_measurements_per_qubit": 4,
        "measurement_states": {"H": [1, 0], "V": [0, 1], "D": [1, 1], "R": [1, "1j"]},
        "data": [
            {"basis": ["H"], "integration_time": 1, "counts": [10]},
            {"basis": ["V"], "integration_time": 1, "counts": [12]},
            {"basis": ["D"], "integration_time": 1, "counts": [11]},
            {"basis": ["R"], "integration_time": 1, "counts": [9]}
        ]
    });
    edit(&mut v);
    v.to_string()
}

fn error_of(text: &str, name: &str, opts: &KwiatOptions) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    let e = read_batch(&path, opts).expect_err("must fail");
    assert_eq!(e.path(), path);
    e.to_string()
        .replace(&dir.path().display().to_string(), "DIR")
}

#[test]
fn every_malformed_field_is_located() {
    use serde_json::json;
    let none = KwiatOptions::default();
    let cases: Vec<(String, &str)> = vec![
        (
            doc(|v| {
                v.as_object_mut().map(|o| o.remove("n_qubits"));
            }),
            "n_qubits: expected an integer from 1 to 8, found nothing",
        ),
        (
            doc(|v| v["n_detectors_per_qubit"] = json!(3)),
            "n_detectors_per_qubit: expected 1 or 2, found 3",
        ),
        (
            doc(|v| v["n_qubits"] = json!(1.5)),
            "n_qubits: expected an integer from 1 to 8, found 1.5",
        ),
        (
            doc(|v| v["measurement_states"]["R"] = json!([1, "1i"])),
            "measurement_states.R[1]: expected a complex number",
        ),
        (
            doc(|v| v["measurement_states"]["R"] = json!([1, 0, 0])),
            "measurement_states.R: expected a ket of 2 complex entries",
        ),
        (
            doc(|v| v["measurement_states"]["R"] = json!([0, "0j"])),
            "measurement_states.R: expected a non-zero ket",
        ),
        (
            doc(|v| v["measurement_states"] = json!([])),
            "measurement_states: expected an object of named kets",
        ),
        (
            doc(|v| v["data"] = json!([])),
            "data: expected a non-empty array of measurement entries, found an empty array",
        ),
        (
            doc(|v| v["data"][2]["basis"] = json!(["X"])),
            "data[2].basis[0]: expected the name of one of the measurement_states (D, H, R, V), found \"X\"",
        ),
        (
            doc(|v| v["data"][1]["basis"] = json!(["H", "V"])),
            "data[1].basis: expected an array of 1 state names",
        ),
        (
            doc(|v| v["data"][3]["counts"] = json!([1, 2])),
            "data[3].counts: expected an array of 1 count, found [1,2]",
        ),
        (
            doc(|v| v["data"][3]["counts"] = json!([-1])),
            "data[3].counts[0]: expected a non-negative finite count, found -1",
        ),
        (
            doc(|v| v["data"][3]["counts"] = json!(["7"])),
            "data[3].counts[0]: expected a non-negative finite count, found \"7\"",
        ),
        (
            doc(|v| v["data"][0]["integration_time"] = json!(0)),
            "data[0].integration_time: expected a positive finite number (seconds), found 0",
        ),
        (
            doc(|v| v["data"][0]["relative_intensity"] = json!(0.9)),
            "data[1].relative_intensity: expected a relative intensity, as 1 other entries have one",
        ),
        (
            doc(|v| v["data"][0] = json!(7)),
            "data[0]: expected an object with basis, integration_time and counts, found 7",
        ),
        (
            doc(|v| v["crosstalk"] = json!([[1, 0], [0]])),
            "crosstalk[1]: expected an array of 2 numbers, found [0]",
        ),
        (
            doc(|v| v["crosstalk"] = json!([[0, 0], [0, 1]])),
            "crosstalk[0]: expected a row with a non-zero sum",
        ),
        (
            "{\"n_qubits\": 1,\n \"data\": [}".to_string(),
            "f.json:2:11: not valid JSON: expected value",
        ),
        (
            "[1, 2]".to_string(),
            "f.json: the document: expected a JSON object (one sample: n_qubits, measurement_states, data, ...), found [1,2]",
        ),
    ];
    for (text, want) in cases {
        let got = error_of(&text, "f.json", &none);
        assert!(got.contains(want), "\n got: {got}\nwant: {want}");
        assert!(got.starts_with("DIR/f.json"), "{got}");
    }
}

#[test]
fn two_detector_structure_errors() {
    let two = |edit: &dyn Fn(&mut serde_json::Value)| {
        let text = std::fs::read_to_string(data("two_det_eff.json")).expect("read");
        let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
        edit(&mut v);
        error_of(&v.to_string(), "two.json", &on())
    };
    use serde_json::json;
    let cases: Vec<(String, &str)> = vec![
        (
            two(&|v| {
                v["data"][3]
                    .as_object_mut()
                    .map(|o| o.remove("detectors_used"));
            }),
            "data[3].detectors_used: expected an array of 2 detector numbers (required with 2 detectors per qubit), found nothing",
        ),
        (
            two(&|v| v["data"][3]["detectors_used"] = json!([0, 4])),
            "data[3].detectors_used[1]: expected a detector number from 0 to 3, found 4",
        ),
        (
            two(&|v| v["data"][3]["basis"] = json!(["V", "H"])),
            "data[3] measures the same outcome as data[2] (V,H)",
        ),
        (
            two(&|v| {
                v["data"].as_array_mut().map(|a| a.remove(1));
            }),
            "the setting of data[0] (H,H) has 3 of its 4 outcomes",
        ),
        (
            two(&|v| v["measurement_states"]["V"] = json!([0.1, 1])),
            "data[0].basis[0]: state 'H' has no orthogonal state",
        ),
        (
            two(&|v| v["relative_efficiency"][0][3] = json!(0)),
            "relative_efficiency[0][3]: expected a positive efficiency (used by data[1]",
        ),
        (
            two(&|v| v["relative_efficiency"] = json!([1, 1])),
            "relative_efficiency: expected an array of 4 arrays, found [1,1]",
        ),
        (
            two(&|v| v["coincidence_window"][1][1] = json!(-4)),
            "coincidence_window[1][1]: expected a non-negative finite window (ns), found -4",
        ),
    ];
    for (got, want) in cases {
        assert!(got.contains(want), "\n got: {got}\nwant: {want}");
    }
    // Accidental correction needs two qubits.
    let got = error_of(
        &doc(|v| v["coincidence_window"] = serde_json::json!([3])),
        "one.json",
        &on(),
    );
    assert!(
        got.contains("do_accidental_correction needs two qubits or more"),
        "{got}"
    );
}

#[test]
fn batch_errors_name_the_line_and_what_differs() {
    let opts = KwiatOptions::default();
    let a = doc(|_| {});
    let b = doc(|v| v["data"][2]["basis"] = serde_json::json!(["R"]));
    let got = error_of(&format!("{a}\n\n{b}\n"), "b.jsonl", &opts);
    assert!(
        got.starts_with(
            "DIR/b.jsonl:3: data[2] measures 'R', the first sample's data[2] measures 'D'"
        ),
        "{got}"
    );
    assert!(got.ends_with("(DIR/b.jsonl:1)"), "{got}");
    let got = error_of(&format!("{a}\n{{\"n_qubits\": 1,}}\n"), "c.jsonl", &opts);
    assert!(got.starts_with("DIR/c.jsonl:2:"), "{got}");
    let got = error_of("\n  \n", "d.jsonl", &opts);
    assert!(
        got.contains("no samples: expected one JSON object per line"),
        "{got}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notes.txt"), "x").expect("write");
    let e = read_batch(dir.path(), &opts).expect_err("empty dir");
    assert!(e.to_string().contains("at least one .json file"), "{e}");
    std::fs::write(dir.path().join("b.json"), &a).expect("write");
    let two = doc(|v| {
        v["n_qubits"] = serde_json::json!(2);
    });
    std::fs::write(dir.path().join("a.json"), two).expect("write");
    // a.json comes first by name, and is itself malformed for 2 qubits.
    let e = read_batch(dir.path(), &opts).expect_err("bad a.json");
    assert!(e.to_string().contains("a.json: data[0].basis"), "{e}");
}

#[test]
fn options_file() {
    let p = Path::new("conf.toml");
    let o = parse_options("do_drift_correction = \"yes\"\ndo_accidental_correction = 1\nmethod = \"HMLE\"\ndo_accidental_corection = true\n", p)
        .expect("parse");
    assert!(o.drift_correction && o.accidental_correction);
    assert_eq!(o.ignored, ["do_accidental_corection"]);
    let e = parse_options("do_accidental_correction = 2\n", p).expect_err("bad");
    assert_eq!(
        e.to_string(),
        "conf.toml: option 'do_accidental_correction': expected true or false, found 2"
    );
    let e = parse_options("a = 1\nb = [\n", p).expect_err("syntax");
    assert!(e.to_string().starts_with("conf.toml:"), "{e}");
    assert!(e.to_string().contains("not valid TOML"), "{e}");
}

#[test]
fn a_later_format_is_named() {
    let text = doc(|v| {
        v["measurement_states_per_qubit"] = v["measurement_states"].take();
        if let Some(o) = v.as_object_mut() {
            o.remove("measurement_states");
        }
    });
    let got = error_of(&text, "later.json", &KwiatOptions::default());
    assert!(
        got.contains("measurement_states: expected an object of named kets")
            && got.contains("found nothing (this file has measurement_states_per_qubit"),
        "{got}"
    );
}

#[test]
fn a_byte_order_mark_and_overflowing_products() {
    let text = format!("\u{feff}{}", doc(|_| {}));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bom.json");
    std::fs::write(&path, text).expect("write");
    assert!(read_batch(&path, &KwiatOptions::default()).is_ok());
    let got = error_of(
        &doc(|v| {
            v["data"][1]["integration_time"] = serde_json::json!(1e300);
            v["data"][1]["relative_intensity"] = serde_json::json!(1e300);
            for k in [0, 2, 3] {
                v["data"][k]["relative_intensity"] = serde_json::json!(1);
            }
        }),
        "big.json",
        &KwiatOptions::default(),
    );
    assert!(got.contains("data[1]: its scale"), "{got}");
    assert!(got.contains("is not a finite number"), "{got}");
}

/// `n_measurements_per_qubit` is required but unused: the package imports
/// `6.0`, `0`, `null` or a list there (only a string fails its
/// configuration dictionary), so qtomo must read such files too.
#[test]
fn n_measurements_per_qubit_is_required_but_not_read() {
    use serde_json::json;
    let none = KwiatOptions::default();
    let dir = tempfile::tempdir().expect("tempdir");
    let reference = {
        let path = dir.path().join("ref.json");
        std::fs::write(&path, doc(|_| {})).expect("write");
        read_batch(&path, &none).expect("the reference document")
    };
    for (k, value) in [json!(6.0), json!(0), json!(null), json!([4])]
        .into_iter()
        .enumerate()
    {
        let path = dir.path().join(format!("m{k}.json"));
        let text = doc(|v| v["n_measurements_per_qubit"] = value.clone());
        std::fs::write(&path, text).expect("write");
        let batch = read_batch(&path, &none).unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!(batch.rows, reference.rows, "{value}");
        assert_eq!(batch.samples[0].counts, reference.samples[0].counts);
    }
    let got = error_of(
        &doc(|v| v["n_measurements_per_qubit"] = json!("6")),
        "s.json",
        &none,
    );
    assert!(
        got.contains("n_measurements_per_qubit: expected a number, e.g. 6")
            && got.contains("found \"6\""),
        "{got}"
    );
    let got = error_of(
        &doc(|v| {
            v.as_object_mut()
                .map(|o| o.remove("n_measurements_per_qubit"));
        }),
        "m.json",
        &none,
    );
    assert!(
        got.contains("n_measurements_per_qubit: expected a number")
            && got.contains("found nothing"),
        "{got}"
    );
}

/// A zero ket that no entry measures is harmless, as in the package (which
/// normalises only the measured states); a measured one is located.
#[test]
fn an_unused_zero_state_is_accepted() {
    use serde_json::json;
    let none = KwiatOptions::default();
    let dir = tempfile::tempdir().expect("tempdir");
    let read = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        read_batch(&path, &none)
    };
    let reference = read("ref.json", doc(|_| {})).expect("reference");
    let unused = read(
        "z.json",
        doc(|v| v["measurement_states"]["Z"] = json!([0, "0j"])),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(unused.rows, reference.rows);
    assert_eq!(unused.samples[0].counts, reference.samples[0].counts);
    let got = error_of(
        &doc(|v| {
            v["measurement_states"]["Z"] = json!([0, 0]);
            v["data"][2]["basis"] = json!(["Z"]);
        }),
        "f.json",
        &none,
    );
    assert!(
        got.contains(
            "measurement_states.Z: expected a non-zero ket (data[2].basis[0] measures it), found the zero vector"
        ),
        "{got}"
    );
}

/// `intensity_from_singles` (two detectors): scaling every count of a
/// setting by f (a brighter source for that setting) scales its relative
/// intensity by f, up to the common normalisation; one detector per qubit,
/// or `relative_intensity` given as well, is refused.
#[test]
fn intensity_from_singles_follows_the_singles_of_each_setting() {
    let text = std::fs::read_to_string(data("two_det_plain.json")).expect("fixture");
    let plain: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let pair = |b: &serde_json::Value| match b.as_str() {
        Some("H" | "V") => 0,
        Some("D" | "A") => 1,
        _ => 2,
    };
    let factor = |e: &serde_json::Value| {
        let b = e["basis"].as_array().expect("basis");
        1.0 + 0.1 * f64::from(3 * pair(&b[0]) + pair(&b[1]))
    };
    let mut bright = plain.clone();
    for e in bright["data"].as_array_mut().expect("data") {
        let f = factor(e);
        for c in e["counts"].as_array_mut().expect("counts") {
            *c = serde_json::json!(c.as_f64().expect("a count") * f);
        }
    }
    let opts =
        parse_options("intensity_from_singles = true\n", Path::new("conf.toml")).expect("options");
    assert!(opts.intensity_from_singles && opts.ignored.is_empty());
    let dir = tempfile::tempdir().expect("tempdir");
    let read = |v: &serde_json::Value, name: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, v.to_string()).expect("write");
        one(&path, &opts).1
    };
    let (a, b) = (read(&plain, "plain.json"), read(&bright, "bright.json"));
    let entries = plain["data"].as_array().expect("data");
    let ratio: Vec<f64> = (0..entries.len())
        .map(|j| b.relative_intensity[j] / a.relative_intensity[j] / factor(&entries[j]))
        .collect();
    for (j, r) in ratio.iter().enumerate() {
        assert!(close(*r, ratio[0], 1e-12), "entry {j}: {r} vs {}", ratio[0]);
        assert!(close(
            b.scale[j],
            b.relative_intensity[j] * b.efficiency[j] * b.integration_time[j],
            1e-12
        ));
    }
    let mean: f64 = a.relative_intensity.iter().sum::<f64>() / entries.len() as f64;
    assert!(close(mean, 1.0, 1e-12), "normalised: mean {mean}");
    // One qubit with one detector has no singles: refused, and so is a
    // given relative intensity.
    let one_detector = error_of(&doc(|_| {}), "one.json", &opts);
    assert!(one_detector.contains("needs singles"), "{one_detector}");
    let mut given = plain.clone();
    given["data"][0]["relative_intensity"] = serde_json::json!(1.0);
    let both = error_of(&given.to_string(), "given.json", &opts);
    assert!(both.contains("must not give relative_intensity"), "{both}");
}

/// `intensity_from_singles` with one detector per qubit: singles made
/// exactly of an intensity per entry times a factor per qubit and local
/// state (its detector and the state's marginal) give back the entries'
/// intensities, up to the common normalisation.
#[test]
fn intensity_from_singles_with_one_detector_fits_the_log_linear_model() {
    let names = ["H", "V", "D", "A", "R", "L"];
    let mut entries = Vec::new();
    let mut truth = Vec::new();
    for (a, na) in names.iter().enumerate() {
        for (b, nb) in names.iter().enumerate() {
            let j = entries.len() as f64;
            let intensity = 1.0 + 0.4 * (0.37 * j).sin();
            let time = 1.0 + 0.25 * (b % 3) as f64;
            let g1 = 900.0 + 37.0 * a as f64;
            let g2 = 1100.0 - 23.0 * b as f64;
            truth.push(intensity);
            entries.push(serde_json::json!({
                "basis": [na, nb],
                "integration_time": time,
                "counts": [intensity * time * g1, intensity * time * g2, 50.0 + j],
            }));
        }
    }
    let v = serde_json::json!({
        "n_qubits": 2,
        "n_detectors_per_qubit": 1,
        "n_measurements_per_qubit": 6,
        "measurement_states": {"H": [1, 0], "V": [0, 1], "D": [1, 1], "A": [1, -1], "R": [1, "1j"], "L": [1, "-1j"]},
        "data": entries,
    });
    let opts =
        parse_options("intensity_from_singles = true\n", Path::new("conf.toml")).expect("options");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("one_det.json");
    std::fs::write(&path, v.to_string()).expect("write");
    let (_, sample) = one(&path, &opts);
    let mean = truth.iter().sum::<f64>() / truth.len() as f64;
    for (j, (&got, &want)) in sample.relative_intensity.iter().zip(&truth).enumerate() {
        assert!(
            close(got, want / mean, 1e-9),
            "entry {j}: {got} vs {}",
            want / mean
        );
    }
}
