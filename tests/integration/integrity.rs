//! Run-directory integrity (issue 11): content fingerprints, damage in the
//! results log detected and repaired, symbolic links never followed, `--out`
//! only ever a run directory, stale export temporaries removed.
//!
//! Every process runs through [`Sandbox`], with a hard time bound and
//! cleanup by pid; inputs are simulated from fixed seeds and small, so each
//! test takes a few seconds at most.

use super::util::{Sandbox, example_data};
use serde_json::Value;
use std::path::Path;

/// `qtomo simulate` of `samples` two-qubit Pauli samples (seed 11) to `name`.
fn simulate(sb: &Sandbox, name: &str, samples: u32) {
    sb.qtomo([
        "simulate", "--qubits", "2", "--seed", "11", "--shots", "500",
    ])
    .args(["--samples", &samples.to_string(), "--out", name])
    .ok();
}

/// `qtomo run INPUT --out DIR --workers 0 -q` plus `extra`.
fn run_cmd(sb: &Sandbox, input: &str, dir: &str, extra: &[&str]) -> super::util::QtomoCmd {
    sb.qtomo(["run", input, "--out", dir, "--workers", "0", "-q"])
        .args(extra)
}

/// Replaces the only occurrence of `from` in the file by `to` (same length).
fn replace_in_file(path: &Path, from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let text = std::fs::read_to_string(path).expect("read");
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from} in {}",
        path.display()
    );
    std::fs::write(path, text.replace(from, to)).expect("write");
}

/// Changes count digits of `bytes` (each by flipping its lowest bit, so a digit
/// stays a digit) such that the length and the CRC-32 stay the same: CRC-32
/// is affine over GF(2), so a set of single-bit changes whose CRC
/// contributions XOR to zero leaves the checksum unchanged.
fn crc_preserving_edit(bytes: &mut [u8]) {
    let zero = crc32fast::hash(&vec![0u8; bytes.len()]);
    // Digits of the counts only: after the first comma of a line (the
    // first column is the sample id).
    let mut positions = Vec::new();
    let mut in_counts = false;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\n' => in_counts = false,
            b',' => in_counts = true,
            b'0'..=b'9' if in_counts && positions.len() < 64 => positions.push(i),
            _ => {}
        }
    }
    assert!(positions.len() >= 40, "not enough digits to edit");
    // Gaussian elimination over GF(2): each row is a 32-bit contribution
    // plus the set of positions it combines.
    let mut basis: Vec<(u32, Vec<usize>)> = Vec::new();
    for &p in &positions {
        let mut unit = vec![0u8; bytes.len()];
        unit[p] = 1;
        let mut v = (crc32fast::hash(&unit) ^ zero, vec![p]);
        for (b, set) in &basis {
            let top = 31 - b.leading_zeros();
            if v.0 >> top & 1 == 1 {
                v.0 ^= b;
                for q in set {
                    if let Some(k) = v.1.iter().position(|x| x == q) {
                        v.1.remove(k);
                    } else {
                        v.1.push(*q);
                    }
                }
            }
        }
        if v.0 == 0 {
            let before = crc32fast::hash(bytes);
            for q in &v.1 {
                bytes[*q] ^= 1;
            }
            assert_eq!(crc32fast::hash(bytes), before, "CRC-32 preserved");
            assert!(!v.1.is_empty());
            return;
        }
        basis.push(v);
        basis.sort_by_key(|(b, _)| std::cmp::Reverse(31 - b.leading_zeros()));
    }
    panic!("no CRC-preserving edit found");
}

#[test]
fn changed_input_with_the_same_crc32_and_length_is_refused() {
    let sb = Sandbox::new();
    simulate(&sb, "in.csv", 12);
    run_cmd(&sb, "in.csv", "r", &[]).ok();
    let path = sb.join("in.csv");
    let mut bytes = std::fs::read(&path).expect("read input");
    let len = bytes.len();
    // Edit the counts, not the header.
    let header = bytes.iter().position(|&b| b == b'\n').expect("a header") + 1;
    crc_preserving_edit(&mut bytes[header..]);
    let crc_before = crc32fast::hash(&std::fs::read(&path).expect("read"));
    std::fs::write(&path, &bytes).expect("write");
    assert_eq!(crc32fast::hash(&bytes), crc_before);
    assert_eq!(bytes.len(), len);

    let refused = run_cmd(&sb, "in.csv", "r", &[]).expect_code(2);
    refused.stderr_has(&["input file in.csv changed", "--fresh"]);
    run_cmd(&sb, "in.csv", "r", &["--fresh"]).ok();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(sb.join("r/manifest.json")).expect("manifest"))
            .expect("manifest JSON");
    let sha = manifest["fingerprint"]["files"]["input"]["sha256"]
        .as_str()
        .expect("input sha256 in the manifest");
    assert_eq!(sha.len(), 64, "{manifest}");
}

#[test]
fn changed_basis_file_is_refused_naming_it() {
    let sb = Sandbox::new();
    let kets = sb.join("kets.csv");
    std::fs::copy(example_data("spdc36.kets.csv"), &kets).expect("copy kets");
    let input = example_data("spdc36.csv");
    let input = input.to_str().expect("utf-8 path");
    run_cmd(&sb, input, "r", &["--basis", "kets.csv"]).ok();
    run_cmd(&sb, input, "r", &["--basis", "kets.csv"]).ok();
    // Swap the kets of ZZ:00 and ZZ:01: same length, different set.
    replace_in_file(
        &kets,
        "ZZ:00,1.0,0.0,0.0,0.0,1.0,0.0,0.0,0.0,",
        "ZZ:00,1.0,0.0,0.0,0.0,0.0,0.0,1.0,0.0,",
    );
    replace_in_file(
        &kets,
        "ZZ:01,1.0,0.0,0.0,0.0,0.0,0.0,1.0,0.0,",
        "ZZ:01,1.0,0.0,0.0,0.0,1.0,0.0,0.0,0.0,",
    );
    let refused = run_cmd(&sb, input, "r", &["--basis", "kets.csv"]).expect_code(2);
    refused.stderr_has(&["basis file kets.csv changed"]);
    run_cmd(&sb, input, "r", &["--basis", "kets.csv", "--fresh"]).ok();
}

/// The target is no part of the fingerprint (issue 13): a changed target
/// file is no new run. The resume needs no --fresh, recomputes nothing,
/// and every sample is then measured against the new target.
#[test]
fn a_changed_target_file_resumes_and_replaces_the_stored_target() {
    use ndarray_npy::WriteNpyExt;
    let sb = Sandbox::new();
    simulate(&sb, "in.csv", 6);
    let write_target = |diag: [f64; 4]| {
        let rho = ndarray::Array2::from_diag(&ndarray::arr1(&diag));
        let file = std::fs::File::create(sb.join("t.npy")).expect("create t.npy");
        rho.write_npy(file).expect("write t.npy");
    };
    let fidelities = |out: &str| -> Vec<f64> {
        export(&sb, "r", out)
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let v: Value = serde_json::from_slice(l).expect("JSONL");
                v["methods"]["mle"]["fidelity"].as_f64().expect("fidelity")
            })
            .collect()
    };
    write_target([0.5, 0.0, 0.0, 0.5]);
    run_cmd(&sb, "in.csv", "r", &["--target", "t.npy"]).ok();
    let before = fidelities("a.jsonl");
    let log = std::fs::metadata(sb.join("r/results.log"))
        .expect("log")
        .len();
    write_target([0.25, 0.25, 0.25, 0.25]);
    run_cmd(&sb, "in.csv", "r", &["--target", "t.npy"]).ok();
    assert_eq!(
        std::fs::metadata(sb.join("r/results.log"))
            .expect("log")
            .len(),
        log,
        "nothing recomputed"
    );
    let after = fidelities("b.jsonl");
    assert_eq!(after.len(), before.len());
    assert!(
        before.iter().zip(&after).all(|(a, b)| (a - b).abs() > 1e-6),
        "measured against the new target: {before:?} -> {after:?}"
    );
}

/// `qtomo status DIR --json`, parsed.
fn status_json(sb: &Sandbox, dir: &str) -> Value {
    let out = sb.qtomo(["status", dir, "--json"]).ok();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON: {e}\n{out}"))
}

/// The JSONL export of `dir` to `out`, as bytes.
fn export(sb: &Sandbox, dir: &str, out: &str) -> Vec<u8> {
    sb.qtomo(["export", dir, "--format", "jsonl", "--out", out])
        .ok();
    std::fs::read(sb.join(out)).expect("export written")
}

/// Byte offsets of the frames of a results log (header 12 bytes, then
/// `u32 len | u32 crc | payload` frames).
fn frame_offsets(log: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = 12;
    while at + 8 <= log.len() {
        out.push(at);
        let len = u32::from_le_bytes(log[at..at + 4].try_into().expect("4 bytes")) as usize;
        at += 8 + len;
    }
    assert_eq!(at, log.len(), "a whole number of frames");
    out
}

#[test]
fn a_flipped_bit_mid_log_is_reported_and_a_resume_repairs_it() {
    let sb = Sandbox::new();
    simulate(&sb, "in.csv", 40);
    run_cmd(&sb, "in.csv", "clean", &[]).ok();
    let clean = export(&sb, "clean", "clean.jsonl");
    run_cmd(&sb, "in.csv", "r", &[]).ok();

    let log_path = sb.join("r/results.log");
    let mut log = std::fs::read(&log_path).expect("read log");
    let frames = frame_offsets(&log);
    assert_eq!(frames.len(), 40);
    // A bit in the middle of the payload of frame 17, and the length field
    // of frame 25.
    log[(frames[17] + frames[18]) / 2] ^= 0x10;
    log[frames[25] + 1] ^= 0x04;
    std::fs::write(&log_path, &log).expect("write log");

    let st = status_json(&sb, "r");
    assert!(
        st["damaged_regions"].as_u64().expect("damaged_regions") >= 2,
        "{st}"
    );
    assert!(
        st["damaged_bytes"].as_u64().expect("damaged_bytes") > 0,
        "{st}"
    );
    assert_eq!(st["done"], 38, "{st}");
    assert_eq!(st["pending"], 2, "{st}");
    sb.qtomo(["status", "r"])
        .ok()
        .stdout_has(&["damaged region"]);
    // Exporting does not pretend the damaged samples are done (exit 2, as
    // any export of an unfinished run without --partial).
    sb.qtomo(["export", "r", "--format", "jsonl", "--out", "early.jsonl"])
        .expect_code(2)
        .stderr_has(&["no record for sample 17", "--partial"]);

    let resumed = sb
        .qtomo(["run", "in.csv", "--out", "r", "--workers", "0"])
        .ok();
    resumed.stderr_has(&["damaged", &format!("byte offset {}", frames[17])]);
    let st = status_json(&sb, "r");
    assert_eq!(st["damaged_regions"], 0, "{st}");
    assert_eq!(st["done"], 40, "{st}");
    assert!(
        export(&sb, "r", "r.jsonl") == clean,
        "repaired export differs from a clean run's"
    );
}

#[test]
fn a_record_with_a_valid_checksum_that_does_not_decode_is_recomputed() {
    let sb = Sandbox::new();
    simulate(&sb, "in.csv", 20);
    run_cmd(&sb, "in.csv", "clean", &[]).ok();
    let clean = export(&sb, "clean", "clean.jsonl");
    run_cmd(&sb, "in.csv", "r", &[]).ok();

    // Frame 9 loses the last byte of its payload, with its length and
    // checksum rewritten to match: the frame is whole, the record is not.
    let log_path = sb.join("r/results.log");
    let log = std::fs::read(&log_path).expect("read log");
    let frames = frame_offsets(&log);
    let (start, end) = (frames[9], frames[10]);
    let payload = &log[start + 8..end - 1];
    let mut damaged = log[..start].to_vec();
    damaged.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    damaged.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    damaged.extend_from_slice(payload);
    damaged.extend_from_slice(&log[end..]);
    std::fs::write(&log_path, &damaged).expect("write log");

    let st = status_json(&sb, "r");
    assert_eq!(st["damaged_regions"], 1, "{st}");
    assert_eq!(st["damage"][0]["offset"], start as u64, "{st}");
    assert_eq!(st["pending"], 1, "{st}");
    run_cmd(&sb, "in.csv", "r", &[]).ok();
    assert_eq!(status_json(&sb, "r")["damaged_regions"], 0);
    assert!(
        export(&sb, "r", "r.jsonl") == clean,
        "export after recomputing differs"
    );
}

#[test]
fn a_planted_run_lock_symlink_is_refused_and_its_target_kept() {
    let sb = Sandbox::new();
    simulate(&sb, "in.csv", 4);
    let precious = sb.write("thesis.tex", "\\chapter{One}\n");
    std::fs::create_dir(sb.join("r")).expect("mkdir");
    std::os::unix::fs::symlink(&precious, sb.join("r/run.lock")).expect("symlink");
    run_cmd(&sb, "in.csv", "r", &[])
        .expect_code(2)
        .stderr_has(&["run.lock", "symbolic link"]);
    assert_eq!(
        std::fs::read_to_string(&precious).expect("target"),
        "\\chapter{One}\n"
    );
    // The same inside an existing run directory.
    run_cmd(&sb, "in.csv", "ok", &[]).ok();
    std::fs::remove_file(sb.join("ok/run.lock")).expect("rm");
    std::os::unix::fs::symlink(&precious, sb.join("ok/run.lock")).expect("symlink");
    run_cmd(&sb, "in.csv", "ok", &[]).expect_code(2);
    assert_eq!(
        std::fs::read_to_string(&precious).expect("target"),
        "\\chapter{One}\n"
    );
}

#[test]
fn a_dangling_results_log_symlink_is_refused() {
    let sb = Sandbox::new();
    simulate(&sb, "in.csv", 4);
    run_cmd(&sb, "in.csv", "r", &[]).ok();
    std::fs::remove_file(sb.join("r/results.log")).expect("rm");
    let elsewhere = sb.join("elsewhere.log");
    std::os::unix::fs::symlink(&elsewhere, sb.join("r/results.log")).expect("symlink");
    run_cmd(&sb, "in.csv", "r", &[])
        .expect_code(2)
        .stderr_has(&["results.log", "symbolic link"]);
    assert!(!elsewhere.exists(), "nothing written through the link");
    // Readers refuse it too.
    sb.qtomo(["export", "r", "--format", "jsonl"])
        .expect_code(2)
        .stderr_has(&["symbolic link"]);
    assert!(!elsewhere.exists());
}

#[test]
fn deleting_run_lock_during_a_run_does_not_let_a_second_run_in() {
    use std::time::{Duration, Instant};
    let sb = Sandbox::new();
    sb.qtomo([
        "simulate", "--qubits", "4", "--seed", "3", "--shots", "1000",
    ])
    // Long enough (4-qubit MLE, ~5–10 ms a sample) that the first run is
    // still going after the second run and a status call; it is stopped
    // with SIGTERM, so a larger batch costs nothing.
    .args(["--samples", "2000", "--out", "big.csv"])
    .ok();
    let mut first = sb
        .qtomo([
            "run",
            "big.csv",
            "--out",
            "r",
            "--workers",
            "0",
            "--method",
            "mle",
        ])
        .timeout(Duration::from_secs(300))
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !sb.join("r/results.log").exists() {
        assert!(!first.has_exited(), "the first run ended early");
        assert!(Instant::now() < deadline, "no results.log after 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::remove_file(sb.join("r/run.lock")).expect("rm run.lock");
    let second = sb
        .qtomo([
            "run",
            "big.csv",
            "--out",
            "r",
            "--workers",
            "0",
            "--method",
            "mle",
        ])
        .run();
    second.check(
        matches!(second.code(), Some(1 | 2)),
        "a second run on a busy directory is refused",
    );
    second.stderr_has(&["in use"]);
    assert!(
        sb.qtomo(["status", "r", "--json"])
            .ok()
            .stdout
            .contains("\"running\": true")
    );
    assert!(
        !first.has_exited(),
        "the first run ended before the check; make it longer"
    );
    first.signal(nix::sys::signal::Signal::SIGTERM);
    first.wait().expect_code(75);
    // Every sample at most once: no second writer shared the log.
    let st = status_json(&sb, "r");
    assert_eq!(st["records"], st["done"], "{st}");
}

#[test]
fn a_killed_exports_temporary_file_is_gone_after_the_next_export() {
    let sb = Sandbox::new();
    simulate(&sb, "in.csv", 6);
    run_cmd(&sb, "in.csv", "r", &[]).ok();
    // The pid of a process that has exited, as a killed export's would be.
    let mut child = std::process::Command::new("true")
        .spawn()
        .expect("spawn true");
    let dead = child.id();
    child.wait().expect("wait");
    let stale = [
        format!("r/.results.jsonl.tmp.{dead}.0"),
        format!("r/.results.jsonl.qtomo-tmp.{dead}.0"),
    ];
    for s in &stale {
        sb.write(s, vec![0u8; 4096]);
    }
    std::fs::create_dir(sb.join("r/npy")).expect("mkdir");
    let stale_npy = format!("r/npy/.rho_mle.npy.qtomo-tmp.{dead}.1");
    sb.write(&stale_npy, "x");
    // Any export from the run directory clears what killed exports to its
    // default paths left, whatever the format.
    sb.qtomo(["export", "r", "--format", "csv"]).ok();
    for s in stale.iter().chain([&stale_npy]) {
        assert!(!sb.join(s).exists(), "{s} was not removed");
    }
    // And an export to another place clears its own destination's.
    let elsewhere = format!(".out.jsonl.qtomo-tmp.{dead}.0");
    sb.write(&elsewhere, "x");
    sb.qtomo(["export", "r", "--format", "jsonl", "--out", "out.jsonl"])
        .ok();
    assert!(!sb.join(&elsewhere).exists());
    sb.qtomo(["export", "r", "--format", "npy"]).ok();
    let hidden: Vec<String> = std::fs::read_dir(sb.join("r"))
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

/// Names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_out_that_is_not_a_run_directory_is_refused_with_nothing_written() {
    let sb = Sandbox::new();
    simulate(&sb, "in.csv", 4);
    std::fs::create_dir(sb.join("notrun")).expect("mkdir");
    sb.write("notrun/thesis.tex", "\\begin{document}\n");
    run_cmd(&sb, "in.csv", "notrun", &[])
        .expect_code(2)
        .stderr_has(&["notrun", "thesis.tex", "not a qtomo run directory"]);
    run_cmd(&sb, "in.csv", "notrun", &["--fresh"]).expect_code(2);
    assert_eq!(listing(&sb.join("notrun")), ["thesis.tex"]);

    let file = sb.write("report.pdf", "%PDF-1.4\n");
    run_cmd(&sb, "in.csv", "report.pdf", &[])
        .expect_code(2)
        .stderr_has(&["report.pdf", "not a directory"]);
    assert_eq!(std::fs::read(&file).expect("read"), b"%PDF-1.4\n");

    // An empty directory and a missing one are fine.
    std::fs::create_dir(sb.join("empty")).expect("mkdir");
    run_cmd(&sb, "in.csv", "empty", &[]).ok();
    run_cmd(&sb, "in.csv", "new/run", &[]).ok();
}

#[test]
fn fresh_removes_what_the_previous_run_wrote_exports_included() {
    let sb = Sandbox::new();
    simulate(&sb, "in.csv", 6);
    run_cmd(&sb, "in.csv", "r", &[]).ok();
    for format in ["jsonl", "csv", "npy"] {
        sb.qtomo(["export", "r", "--format", format]).ok();
    }
    sb.write("r/notes.txt", "mine");
    assert!(sb.join("r/results.jsonl").exists() && sb.join("r/npy/index.csv").exists());
    run_cmd(&sb, "in.csv", "r", &["--method", "pls", "--fresh"]).ok();
    assert_eq!(
        listing(&sb.join("r")),
        [
            "manifest.json",
            "notes.txt",
            "results.log",
            "run.lock",
            "summary.json"
        ]
    );
}

#[test]
fn status_survives_a_damaged_summary_and_counts_a_shard_against_its_range() {
    let sb = Sandbox::new();
    simulate(&sb, "in.csv", 40);
    run_cmd(&sb, "in.csv", "s1", &["--shard", "1/4"]).ok();
    let st = status_json(&sb, "s1");
    assert_eq!(
        (st["total"].as_u64(), st["done"].as_u64()),
        (Some(10), Some(10)),
        "{st}"
    );
    assert_eq!(st["pending"], 0, "{st}");
    sb.write("s1/summary.json", "{\"status\": \"compl");
    let text = sb.qtomo(["status", "s1"]).ok();
    text.stdout_has(&["summary.json is damaged", "10/10 finished"]);
    let st = status_json(&sb, "s1");
    assert!(st["summary_error"].is_string(), "{st}");
}

#[test]
fn an_export_killed_mid_write_leaves_a_temporary_file_the_next_export_removes() {
    use std::time::{Duration, Instant};
    let sb = Sandbox::new();
    // 4-qubit linear inversion: cheap to compute, 16×16 matrices make a
    // JSONL export of tens of MB that takes long enough to be caught.
    sb.qtomo(["simulate", "--qubits", "4", "--seed", "5", "--shots", "200"])
        .args(["--samples", "1000", "--out", "in.csv"])
        .ok();
    sb.qtomo(["run", "in.csv", "--out", "r", "--method", "linear,pls"])
        .args(["--workers", "2", "-q"])
        .ok();
    let temps = || -> Vec<String> {
        std::fs::read_dir(sb.join("r"))
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".results.jsonl."))
            .collect()
    };
    let mut export = sb
        .qtomo(["export", "r", "--format", "jsonl"])
        .timeout(Duration::from_secs(60))
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if !temps().is_empty() {
            export.signal(nix::sys::signal::Signal::SIGKILL);
            break;
        }
        assert!(
            !export.has_exited(),
            "the export finished before it could be killed; make it larger"
        );
        assert!(Instant::now() < deadline, "no temporary file after 30 s");
        std::thread::sleep(Duration::from_millis(1));
    }
    let killed = export.wait();
    assert_eq!(killed.code(), None, "killed by SIGKILL\n{killed}");
    let left = temps();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].contains(".qtomo-tmp."), "{left:?}");
    assert!(
        !sb.join("r/results.jsonl").exists(),
        "no half export in place"
    );
    sb.qtomo(["export", "r", "--format", "jsonl"])
        .timeout(Duration::from_secs(60))
        .ok();
    assert!(temps().is_empty(), "{:?}", temps());
    assert!(sb.join("r/results.jsonl").exists());
}

#[test]
fn an_npy_symlink_in_the_run_directory_does_not_redirect_the_export() {
    let sb = Sandbox::new();
    simulate(&sb, "in.csv", 4);
    run_cmd(&sb, "in.csv", "r", &[]).ok();
    std::fs::create_dir(sb.join("elsewhere")).expect("mkdir");
    std::os::unix::fs::symlink(sb.join("elsewhere"), sb.join("r/npy")).expect("symlink");
    sb.qtomo(["export", "r", "--format", "npy"])
        .expect_code(2)
        .stderr_has(&["symbolic link"]);
    assert_eq!(
        std::fs::read_dir(sb.join("elsewhere"))
            .expect("list")
            .count(),
        0
    );
}
