//! Exports of real logs, read back.

use super::*;
use crate::store::log::{LogWriter, SyncPolicy};
use crate::store::record::test_support::record;
use crate::store::rundir::{OpenMode, open_run, tests::fingerprint};
use ndarray::Array3;
use ndarray_npy::ReadNpyExt;

const METHODS: &[&str] = &["mle", "pls"];

/// A run of 6 samples, dim 4: 0,1,3,5 ok; 2 failed then fixed by a
/// retry; 4 failed; optionally 5 missing.
fn make_run(dir: &Path, with_last: bool) -> Vec<SampleRecord> {
    let run = open_run(dir, fingerprint(), 6, OpenMode::Resume).unwrap();
    let mut w = LogWriter::open(&run.dir.results_log(), SyncPolicy::OnFlush).unwrap();
    let mut effective = Vec::new();
    for i in [3u64, 0, 2, 1, 4, 5] {
        if i == 5 && !with_last {
            continue;
        }
        let r = record(i, i != 2 && i != 4, METHODS, 4);
        w.append(&r).unwrap();
        effective.push(r);
    }
    let fixed = record(2, true, METHODS, 4);
    w.append(&fixed).unwrap();
    effective.retain(|r| r.index != 2);
    effective.push(fixed);
    effective.sort_by_key(|r| r.index);
    effective
}

/// serde_json's default float parser may be off by one ulp.
fn close(v: &serde_json::Value, x: f64) {
    let y = v.as_f64().unwrap();
    assert!((y - x).abs() <= 4.0 * f64::EPSILON * x.abs(), "{y} vs {x}");
}

#[test]
fn jsonl_lists_every_index_in_order_with_the_contract_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let expected = make_run(&run, true);
    let out = tmp.path().join("out.jsonl");
    let stats = export(&run, ExportFormat::Jsonl, &out, MissingPolicy::Error, None).unwrap();
    assert_eq!(
        stats,
        ExportStats {
            total: 6,
            ok: 5,
            failed: 1,
            missing: 0
        }
    );
    let text = fs::read_to_string(&out).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    for (line, rec) in lines.iter().zip(&expected) {
        assert_eq!(line["index"], rec.index);
        assert_eq!(line["id"], rec.id.as_str());
        assert_eq!(line["status"], rec.status.as_str());
        match rec.status.error() {
            None => assert!(line["error"].is_null()),
            Some(e) => assert_eq!(line["error"], e),
        }
        let methods = line["methods"].as_object().unwrap();
        assert_eq!(methods.len(), rec.methods.len());
        for m in &rec.methods {
            let j = &methods[&m.method];
            let re = j["rho_re"].as_array().unwrap();
            assert_eq!(re.len(), 4);
            close(&re[1][2], m.rho_re[6]);
            close(&j["rho_im"][3][0], m.rho_im[12]);
            close(&j["purity"], m.metrics.purity);
            assert_eq!(j["physical"], m.metrics.physical);
            assert_eq!(j["converged"], serde_json::json!(m.metrics.converged));
            assert!(j.get("gap_bound").is_some());
            assert!(j.get("fidelity").is_some());
        }
    }
    // Methods keep the record's order in the text.
    let first = text.lines().next().unwrap();
    assert!(first.find("\"mle\"").unwrap() < first.find("\"pls\"").unwrap());
    assert!(
        text.lines()
            .nth(4)
            .unwrap()
            .contains("\"error\":\"all counts zero")
    );
}

#[test]
fn missing_index_is_refused_or_marked() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    make_run(&run, false);
    let out = tmp.path().join("out.jsonl");
    let err = export(&run, ExportFormat::Jsonl, &out, MissingPolicy::Error, None).unwrap_err();
    assert!(matches!(
        err,
        ExportError::Missing {
            index: 5,
            count: 1,
            ..
        }
    ));
    assert!(err.to_string().contains("sample 5"), "{err}");
    assert!(!out.exists(), "nothing written on refusal");

    let stats = export(&run, ExportFormat::Jsonl, &out, MissingPolicy::Mark, None).unwrap();
    assert_eq!(stats.missing, 1);
    let last: serde_json::Value =
        serde_json::from_str(fs::read_to_string(&out).unwrap().lines().last().unwrap()).unwrap();
    assert_eq!(last["index"], 5);
    assert_eq!(last["status"], "missing");
    assert!(last["id"].is_null());
}

#[test]
fn csv_has_one_row_per_sample_and_method() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let expected = make_run(&run, true);
    let out = tmp.path().join("out.csv");
    export(&run, ExportFormat::Csv, &out, MissingPolicy::Error, None).unwrap();
    let mut r = csv::Reader::from_path(&out).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, CSV_COLUMNS);
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5 * 2 + 1);
    assert_eq!(&rows[0][0], "0");
    assert_eq!(&rows[0][4], "mle");
    assert_eq!(&rows[1][4], "pls");
    let purity: f64 = rows[0][7].parse().unwrap();
    assert_eq!(purity, expected[0].methods[0].metrics.purity);
    let failed = rows.iter().find(|row| &row[2] == "failed").unwrap();
    assert_eq!(&failed[0], "4");
    assert_eq!(&failed[4], "");
    assert!(failed[3].starts_with("all counts zero"));
}

#[test]
fn npy_arrays_read_back_with_nan_rows_for_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let expected = make_run(&run, true);
    let out = tmp.path().join("npy");
    export(&run, ExportFormat::Npy, &out, MissingPolicy::Error, None).unwrap();
    for (k, method) in METHODS.iter().enumerate() {
        let file = File::open(out.join(format!("rho_{method}.npy"))).unwrap();
        let a = Array3::<c64>::read_npy(file).unwrap();
        assert_eq!(a.shape(), &[6, 4, 4]);
        for rec in &expected {
            let i = rec.index as usize;
            if rec.is_ok() {
                let m = &rec.methods[k];
                for r in 0..4 {
                    for c in 0..4 {
                        assert_eq!(
                            a[[i, r, c]],
                            c64::new(m.rho_re[r * 4 + c], m.rho_im[r * 4 + c])
                        );
                    }
                }
            } else {
                assert!(
                    a.index_axis(ndarray::Axis(0), i)
                        .iter()
                        .all(|z| z.re.is_nan() && z.im.is_nan())
                );
            }
        }
    }
    let index = fs::read_to_string(out.join(NPY_INDEX)).unwrap();
    let lines: Vec<&str> = index.lines().collect();
    assert_eq!(lines[0], "index,id,status,error");
    assert_eq!(lines.len(), 7);
    assert!(lines[5].starts_with("4,s4,failed,all counts zero"));
    assert_eq!(lines[1], "0,s0,ok,");
    let leftovers: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn export_of_a_directory_without_manifest_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let err = export(
        tmp.path(),
        ExportFormat::Csv,
        &tmp.path().join("x.csv"),
        MissingPolicy::Mark,
        None,
    )
    .unwrap_err();
    assert!(matches!(err, ExportError::NoManifest { .. }));
    assert!(err.to_string().contains("manifest.json"), "{err}");
}
