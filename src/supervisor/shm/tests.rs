//! Segments built, passed to real child processes, and damaged.

use super::*;
use crate::supervisor::testutil::{ChildRole, child_role, run_child};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, RawFd};

fn sample() -> (Vec<f64>, Vec<f64>, Vec<u8>) {
    let a: Vec<f64> = (0..37).map(|i| i as f64 * 0.5 - 3.0).collect();
    let counts: Vec<f64> = (0..101).map(|i| (i * i) as f64).collect();
    let plan = b"plan-bytes\x00\xff".to_vec();
    (a, counts, plan)
}

fn build_sample(a: &[f64], counts: &[f64], plan: &[u8]) -> Segment {
    SegmentBuilder::new()
        .section("A", a)
        .section("counts", counts)
        .bytes("plan", plan)
        .build()
        .expect("build segment")
}

#[test]
fn round_trip_within_process() {
    let (a, counts, plan) = sample();
    let seg = build_sample(&a, &counts, &plan);
    let v = seg.view();
    assert_eq!(v.f64_section("A").expect("A"), &a[..]);
    assert_eq!(v.f64_section("counts").expect("counts"), &counts[..]);
    assert_eq!(v.bytes_section("plan").expect("plan"), &plan[..]);
    // A second, independent mapping through a duplicate descriptor.
    let dup = seg.fd_for_child().expect("dup");
    let v2 = SegmentView::open_fd(dup.as_fd()).expect("open dup");
    drop(dup);
    assert_eq!(v2.f64_section("A").expect("A"), &a[..]);
    assert!(matches!(
        v.f64_section("plan"),
        Err(ShmError::WrongKind { .. })
    ));
    assert!(matches!(
        v.bytes_section("nope"),
        Err(ShmError::NoSuchSection { .. })
    ));
    let names: Vec<_> = v.sections().map(|(n, _)| n).collect();
    assert_eq!(names, ["A", "counts", "plan"]);
}

#[test]
fn sections_are_aligned() {
    let (a, counts, plan) = sample();
    let seg = build_sample(&a, &counts, &plan);
    for e in &seg.view().entries {
        assert_eq!(e.offset % SECTION_ALIGN, 0, "{}", e.name);
    }
}

#[test]
fn no_dev_shm_entry_survives_build() {
    let (a, counts, plan) = sample();
    let seg = build_sample(&a, &counts, &plan);
    let leaf = seg.unlinked_name().trim_start_matches('/').to_owned();
    assert!(leaf.starts_with(&format!("qtomo-{}-", std::process::id())));
    let listing: Vec<String> = std::fs::read_dir("/dev/shm")
        .expect("read /dev/shm")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !listing.contains(&leaf),
        "{leaf} still listed in /dev/shm: {listing:?}"
    );
    // The segment is still perfectly usable without its name.
    assert_eq!(seg.view().f64_section("A").expect("A"), &a[..]);
}

#[test]
fn rejects_bad_names() {
    let x = [1.0];
    let long = "x".repeat(MAX_NAME_LEN + 1);
    assert!(matches!(
        SegmentBuilder::new().section(&long, &x).build(),
        Err(ShmError::InvalidName { .. })
    ));
    assert!(matches!(
        SegmentBuilder::new()
            .section("a", &x)
            .bytes("a", b"")
            .build(),
        Err(ShmError::DuplicateSection { .. })
    ));
}

fn encoded_file(mutate: impl FnOnce(&mut Vec<u8>)) -> std::fs::File {
    let (a, counts, plan) = sample();
    let b = SegmentBuilder::new()
        .section("A", &a)
        .section("counts", &counts)
        .bytes("plan", &plan);
    let mut buf = vec![0; b.encoded_len().expect("len")];
    b.encode_into(&mut buf).expect("encode");
    mutate(&mut buf);
    let mut f = tempfile::tempfile().expect("tempfile");
    f.write_all(&buf).expect("write");
    f
}

#[test]
fn corrupted_byte_is_detected() {
    // Sanity: the unmodified image verifies.
    let f = encoded_file(|_| {});
    SegmentView::open_fd(f.as_fd()).expect("clean image opens");
    // One flipped bit in the payload.
    let f = encoded_file(|b| {
        let last = b.len() - 3;
        b[last] ^= 0x10;
    });
    assert!(matches!(
        SegmentView::open_fd(f.as_fd()),
        Err(ShmError::ChecksumMismatch { .. })
    ));
    // One flipped bit in the section table.
    let f = encoded_file(|b| b[FIXED_HEADER_LEN + 41] ^= 1);
    assert!(matches!(
        SegmentView::open_fd(f.as_fd()),
        Err(ShmError::ChecksumMismatch { .. })
    ));
    let f = encoded_file(|b| b[0] = b'X');
    assert!(matches!(
        SegmentView::open_fd(f.as_fd()),
        Err(ShmError::BadMagic)
    ));
    let f = encoded_file(|b| b[8] = 9);
    assert!(matches!(
        SegmentView::open_fd(f.as_fd()),
        Err(ShmError::UnsupportedVersion { found: 9, .. })
    ));
    let f = encoded_file(|b| b.truncate(b.len() - 1));
    assert!(matches!(
        SegmentView::open_fd(f.as_fd()),
        Err(ShmError::LengthMismatch { .. })
    ));
}

#[test]
fn fd_reaches_only_the_child_it_is_given_to() {
    use crate::supervisor::process::WorkerCommand;
    use std::time::Duration;
    let (a, counts, plan) = sample();
    let seg = build_sample(&a, &counts, &plan);
    let probe = |fd: RawFd| format!("test -e /proc/$$/fd/{fd}");
    // Not passed: close-on-exec keeps the segment out of the child.
    let mut c = WorkerCommand::new("/bin/sh")
        .arg("-c")
        .arg(probe(seg.as_raw_fd()))
        .spawn()
        .expect("spawn");
    let st = c.wait_timeout(Duration::from_secs(10)).expect("wait");
    assert_eq!(st.and_then(|s| s.code()), Some(1), "segment fd leaked");
    // Passed explicitly: present under the number in the variable.
    let fd = seg.fd_for_child().expect("dup");
    let mut c = WorkerCommand::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "{} && test \"${SEGMENT_FD_ENV}\" = {}",
            probe(fd.as_raw_fd()),
            fd.as_raw_fd()
        ))
        .inherit_fd(fd, SEGMENT_FD_ENV)
        .spawn()
        .expect("spawn");
    let st = c.wait_timeout(Duration::from_secs(10)).expect("wait");
    assert_eq!(
        st.and_then(|s| s.code()),
        Some(0),
        "segment fd not inherited"
    );
}

/// Child side of [`child_reads_same_data`]; a no-op in a normal run.
#[test]
fn child_entry_shm_reader() {
    if child_role() != Some(ChildRole::ShmReader) {
        return;
    }
    let v = SegmentView::open_inherited(SEGMENT_FD_ENV).expect("open inherited");
    let a = v.f64_section("A").expect("A");
    let counts = v.f64_section("counts").expect("counts");
    let plan = v.bytes_section("plan").expect("plan");
    let sum: f64 = a.iter().chain(counts).sum();
    println!(
        "QTOMO-CHILD a_len={} counts_len={} sum={sum} plan={plan:?}",
        a.len(),
        counts.len()
    );
    // A second take-over of the same number must be refused.
    assert!(matches!(
        SegmentView::open_inherited(SEGMENT_FD_ENV),
        Err(ShmError::Inherited { .. })
    ));
}

#[test]
fn child_reads_same_data() {
    let (a, counts, plan) = sample();
    let seg = build_sample(&a, &counts, &plan);
    let fd = seg.fd_for_child().expect("fd for child");
    let out = run_child(
        ChildRole::ShmReader,
        "supervisor::shm::tests::child_entry_shm_reader",
        |cmd| cmd.inherit_fd(fd, SEGMENT_FD_ENV),
    );
    let sum: f64 = a.iter().chain(&counts).sum();
    let expected = format!(
        "a_len={} counts_len={} sum={sum} plan={plan:?}",
        a.len(),
        counts.len()
    );
    assert!(
        out.lines.iter().any(|l| l == &expected),
        "expected {expected:?} in child output {out:?}"
    );
}
