//! Opening, resuming, refusing and freshening run directories.

use super::*;
use crate::store::log::{LogWriter, SyncPolicy};
use crate::store::record::test_support::record;

pub(crate) fn fingerprint() -> Fingerprint {
    Fingerprint {
        files: BTreeMap::from([(
            "input".to_string(),
            FileDigest {
                path: "in.csv".into(),
                sha256: "ab12".repeat(16),
            },
        )]),
        input_sha: None,
        basis: "pauli".into(),
        dim: 4,
        methods: vec!["mle".into(), "pls".into()],
        options: BTreeMap::from([("retries".to_string(), "3".to_string())]),
        shard: None,
    }
}

#[test]
fn diff_lists_each_difference() {
    let a = fingerprint();
    assert!(a.diff(&a).is_empty());
    let mut b = a.clone();
    b.basis = "james16".into();
    b.options.insert("columns".into(), "positional".into());
    b.options.insert("retries".into(), "5".into());
    b.shard = Some((1, 4));
    assert_eq!(
        a.diff(&b),
        vec![
            "basis: pauli -> james16",
            "option columns: (unset) -> positional",
            "option retries: 3 -> 5",
            "shard: none -> 1/4",
        ]
    );
}

/// Manifests of older runs recorded the target; it is not compared.
#[test]
fn diff_ignores_a_recorded_target() {
    let a = fingerprint();
    let mut b = a.clone();
    b.options.insert("target".into(), "bell-phi+".into());
    b.files.insert(
        "target".into(),
        FileDigest {
            path: "sigma.npy".into(),
            sha256: "cd34".repeat(16),
        },
    );
    assert!(a.diff(&b).is_empty(), "{:?}", a.diff(&b));
    assert!(b.diff(&a).is_empty());
}

#[test]
fn create_resume_refuse_and_fresh() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("run");
    let run = open_run(&root, fingerprint(), 10, OpenMode::Resume).unwrap();
    assert_eq!(run.opened, Opened::Created);
    assert_eq!(run.resume.pending(), 10);
    let manifest = Manifest::read(&root).unwrap().unwrap();
    assert_eq!(manifest.basis, "pauli");

    // A second opener is refused while the first holds the lock.
    let err = open_run(&root, fingerprint(), 10, OpenMode::Resume).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("process {}", std::process::id())),
        "{err}"
    );

    let mut w = LogWriter::open(&run.dir.results_log(), SyncPolicy::OnFlush).unwrap();
    for i in 0..4 {
        w.append(&record(i, i != 2, &["mle", "pls"], 4)).unwrap();
    }
    drop(w);
    // Simulate a crash mid-append: a torn tail.
    let log = run.dir.results_log();
    let bytes = fs::read(&log).unwrap();
    fs::write(&log, &bytes[..bytes.len() - 10]).unwrap();
    drop(run);

    let run = open_run(&root, fingerprint(), 10, OpenMode::Resume).unwrap();
    assert_eq!(run.opened, Opened::Resumed);
    assert_eq!(Manifest::read(&root).unwrap().unwrap(), manifest);
    assert_eq!(run.resume.completed(), 2);
    assert_eq!(run.resume.failed_indices(), vec![2]);
    assert!(run.repaired_tail.is_some());
    assert!(fs::metadata(&log).unwrap().len() < bytes.len() as u64 - 10);
    drop(run);

    let mut other = fingerprint();
    other.basis = "james16".into();
    let err = open_run(&root, other.clone(), 10, OpenMode::Resume).unwrap_err();
    match &err {
        RunDirError::FingerprintMismatch { differences, .. } => {
            assert_eq!(differences, &vec!["basis: pauli -> james16".to_string()]);
        }
        e => panic!("expected mismatch, got {e:?}"),
    }
    assert!(err.to_string().contains("basis: pauli -> james16"), "{err}");
    // Refusal changed nothing.
    assert_eq!(Manifest::read(&root).unwrap().unwrap(), manifest);

    fs::write(run_dir(&root).summary(), "{}").unwrap();
    let run = open_run(&root, other, 10, OpenMode::Fresh).unwrap();
    assert_eq!(run.opened, Opened::Fresh);
    assert_eq!(run.resume.pending(), 10);
    assert!(!log.exists());
    assert!(!run.dir.summary().exists());
    assert_eq!(Manifest::read(&root).unwrap().unwrap().basis, "james16");
}

fn run_dir(root: &Path) -> RunDir {
    RunDir::new(root)
}

#[test]
fn changed_file_contents_are_named_and_paths_ignored() {
    let a = fingerprint();
    let mut moved = a.clone();
    moved.files.get_mut("input").unwrap().path = "elsewhere/in.csv".into();
    assert!(a.diff(&moved).is_empty(), "a moved file is the same file");
    let mut changed = a.clone();
    changed.files.get_mut("input").unwrap().sha256 = "cd34".repeat(16);
    changed.files.insert(
        "basis".into(),
        FileDigest {
            path: "kets.csv".into(),
            sha256: "ef56".repeat(16),
        },
    );
    assert_eq!(
        a.diff(&changed),
        vec![
            "basis file: (none) -> kets.csv",
            "input file in.csv changed since the run started (sha256 ab12ab12ab12... -> cd34cd34cd34...)",
        ]
    );
}

#[test]
fn a_manifest_with_the_old_crc_fingerprint_is_refused_for_resuming() {
    let tmp = tempfile::tempdir().unwrap();
    drop(open_run(tmp.path(), fingerprint(), 3, OpenMode::Resume).unwrap());
    // Rewrite the manifest as the CRC-32 era wrote it.
    let path = tmp.path().join(MANIFEST);
    let mut json: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let fp = json["fingerprint"].as_object_mut().unwrap();
    fp.remove("files");
    fp.insert("input_sha".into(), "crc32:1234abcd:len:99".into());
    fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    // Readers still read it; a resume is refused, --fresh starts over.
    assert_eq!(Manifest::read(tmp.path()).unwrap().unwrap().total, 3);
    let err = open_run(tmp.path(), fingerprint(), 3, OpenMode::Resume).unwrap_err();
    assert!(
        matches!(err, RunDirError::LegacyFingerprint { .. }),
        "{err}"
    );
    assert!(err.is_refusal());
    assert!(err.to_string().contains("--fresh"), "{err}");
    let _run = open_run(tmp.path(), fingerprint(), 3, OpenMode::Fresh).unwrap();
    let manifest = Manifest::read(tmp.path()).unwrap().unwrap();
    assert_eq!(manifest.fingerprint.input_sha, None);
}

#[test]
fn shard_ranges_cover_the_input_once() {
    let mut fp = fingerprint();
    assert_eq!(fp.sample_range(10), 0..10);
    let mut next = 0;
    for i in 0..4 {
        fp.shard = Some((i, 4));
        let r = fp.sample_range(10);
        assert_eq!(r.start, next);
        next = r.end;
    }
    assert_eq!(next, 10);
}

#[test]
fn only_a_missing_empty_or_run_directory_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(check_run_dir(&tmp.path().join("missing")).is_ok());
    assert!(check_run_dir(tmp.path()).is_ok());
    // What a run leaves before its manifest exists is still a run's.
    fs::write(tmp.path().join(RUN_LOCK), b"").unwrap();
    fs::write(tmp.path().join(".manifest.json.qtomo-tmp.1.0"), b"").unwrap();
    assert!(check_run_dir(tmp.path()).is_ok());
    fs::write(tmp.path().join("thesis.tex"), b"x").unwrap();
    let err = check_run_dir(tmp.path()).unwrap_err();
    assert!(err.is_refusal());
    assert!(err.to_string().contains("thesis.tex"), "{err}");
    let file = tmp.path().join("thesis.tex");
    let err = check_run_dir(&file).unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
    assert!(matches!(
        open_run(tmp.path(), fingerprint(), 3, OpenMode::Fresh),
        Err(RunDirError::NotARunDir { .. })
    ));
    assert_eq!(fs::read(&file).unwrap(), b"x");
}

#[test]
fn orphan_log_and_bad_manifest_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join(RESULTS_LOG), b"").unwrap();
    assert!(matches!(
        open_run(tmp.path(), fingerprint(), 3, OpenMode::Resume),
        Err(RunDirError::OrphanLog { .. })
    ));
    fs::write(tmp.path().join(MANIFEST), b"{not json").unwrap();
    let err = open_run(tmp.path(), fingerprint(), 3, OpenMode::Resume).unwrap_err();
    assert!(matches!(err, RunDirError::BadManifest { .. }));
    assert!(err.to_string().contains("manifest.json"), "{err}");
}
