//! Tests of the results log: format, torn tails, damage, concurrent writers.

use super::frame::header_bytes;
use super::*;
use crate::store::record::SampleRecord;
use crate::store::record::test_support::record;
use std::fs;

const METHODS: &[&str] = &["mle", "pls", "linear"];

fn write_log(path: &Path, records: &[SampleRecord]) -> Vec<u64> {
    let mut w = LogWriter::open(path, SyncPolicy::OnFlush).unwrap();
    let mut ends = vec![fs::metadata(path).unwrap().len()];
    for r in records {
        w.append(r).unwrap();
        ends.push(fs::metadata(path).unwrap().len());
    }
    w.flush_sync().unwrap();
    ends
}

fn sample_records(n: u64) -> Vec<SampleRecord> {
    (0..n)
        .map(|i| record(i, i % 4 != 3, METHODS, 1 + (i as u32 % 4)))
        .collect()
}

#[test]
fn frame_round_trip_and_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.log");
    let records = sample_records(20);
    let ends = write_log(&path, &records);
    let bytes = fs::read(&path).unwrap();
    assert_eq!(&bytes[..8], b"QTOMOLOG");
    assert_eq!(
        &bytes[8..12],
        &crate::store::format::FormatVersion::CURRENT.0.to_le_bytes()
    );
    let len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(bytes[16..20].try_into().unwrap());
    assert_eq!(crc, crc32fast::hash(&bytes[20..20 + len]));
    assert_eq!(20 + len as u64, ends[1]);

    let scan = LogReader::scan(&path).unwrap();
    assert_eq!(scan.records, records);
    assert_eq!(scan.valid_len, bytes.len() as u64);
    assert_eq!(scan.torn_tail, None);
    let header: &[u8; HEADER_LEN as usize] = bytes[..HEADER_LEN as usize].try_into().unwrap();
    assert_eq!(
        super::frame::parse_header(header, &path).unwrap(),
        FormatVersion::CURRENT
    );

    // Reopening appends after the existing frames.
    let more = record(20, true, METHODS, 2);
    let mut w = LogWriter::open(&path, SyncPolicy::EveryRecord).unwrap();
    w.append(&more).unwrap();
    let scan = LogReader::scan(&path).unwrap();
    assert_eq!(scan.records.len(), 21);
    assert_eq!(scan.records[20], more);
}

#[test]
fn batch_append_matches_single_appends() {
    let dir = tempfile::tempdir().unwrap();
    let records = sample_records(50);
    let a = dir.path().join("a.log");
    write_log(&a, &records);
    let b = dir.path().join("b.log");
    let mut w = LogWriter::open(&b, SyncPolicy::default()).unwrap();
    w.append_batch(&records).unwrap();
    w.flush_sync().unwrap();
    assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());
}

#[test]
fn torn_tail_at_every_offset_of_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.log");
    let records = sample_records(5);
    let ends = write_log(&full, &records);
    let bytes = fs::read(&full).unwrap();
    let (last_start, last_end) = (ends[4], ends[5]);
    let cut_path = dir.path().join("cut.log");
    for cut in last_start..last_end {
        fs::write(&cut_path, &bytes[..cut as usize]).unwrap();
        let scan = LogReader::scan(&cut_path).unwrap();
        assert_eq!(scan.records, records[..4], "cut at {cut}");
        assert_eq!(scan.valid_len, last_start, "cut at {cut}");
        if cut == last_start {
            assert_eq!(scan.torn_tail, None);
            continue;
        }
        let tail = scan.torn_tail.expect("torn tail flagged");
        assert_eq!(tail.offset, last_start);
        assert_eq!(tail.len, cut - last_start);
        truncate_torn_tail(&cut_path, &tail).unwrap();
        assert_eq!(fs::metadata(&cut_path).unwrap().len(), last_start);
        // Appending after the repair gives a clean log again.
        let mut w = LogWriter::open(&cut_path, SyncPolicy::OnFlush).unwrap();
        w.append(&records[4]).unwrap();
        drop(w);
        let scan = LogReader::scan(&cut_path).unwrap();
        assert_eq!(scan.records, records, "cut at {cut}");
        assert_eq!(scan.torn_tail, None);
    }
}

#[test]
fn torn_header_is_an_empty_log_with_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.log");
    let header = header_bytes(FormatVersion::CURRENT);
    for cut in 0..HEADER_LEN as usize {
        fs::write(&path, &header[..cut]).unwrap();
        let scan = LogReader::scan(&path).unwrap();
        assert!(scan.records.is_empty());
        assert_eq!(scan.valid_len, 0);
        assert_eq!(
            scan.torn_tail.map(|t| t.len),
            (cut > 0).then_some(cut as u64)
        );
        if cut > 0 {
            assert!(matches!(
                LogWriter::open(&path, SyncPolicy::OnFlush),
                Err(LogError::TornHeader { .. })
            ));
            truncate_torn_tail(&path, &scan.torn_tail.unwrap()).unwrap();
        }
        let mut w = LogWriter::open(&path, SyncPolicy::OnFlush).unwrap();
        w.append(&record(0, true, METHODS, 1)).unwrap();
        drop(w);
        assert_eq!(LogReader::scan(&path).unwrap().records.len(), 1);
    }
}

#[test]
fn checksum_failing_final_frame_is_torn() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.log");
    let records = sample_records(3);
    let ends = write_log(&path, &records);
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    fs::write(&path, &bytes).unwrap();
    let scan = LogReader::scan(&path).unwrap();
    assert_eq!(scan.records, records[..2]);
    let tail = scan.torn_tail.unwrap();
    assert_eq!(tail.offset, ends[2]);
    assert!(matches!(tail.defect, FrameDefect::ChecksumMismatch { .. }));
}

#[test]
fn zero_filled_tail_is_torn() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.log");
    let records = sample_records(3);
    let ends = write_log(&path, &records);
    let mut bytes = fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0u8; 4096]);
    fs::write(&path, &bytes).unwrap();
    let scan = LogReader::scan(&path).unwrap();
    assert_eq!(scan.records, records);
    let tail = scan.torn_tail.unwrap();
    assert_eq!(tail.offset, ends[3]);
    assert_eq!(tail.defect, FrameDefect::ImplausibleLength { len: 0 });
}

#[test]
fn mid_file_damage_is_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.log");
    let records = sample_records(5);
    let ends = write_log(&path, &records);
    let pristine = fs::read(&path).unwrap();
    let indices = |scan: &ScanResult| scan.records.iter().map(|r| r.index).collect::<Vec<_>>();

    // A flipped payload byte in frame 2: record 2 is dropped, the rest read.
    let mut bytes = pristine.clone();
    bytes[ends[2] as usize + 20] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    let scan = LogReader::scan(&path).unwrap();
    assert_eq!(
        indices(&scan),
        [
            records[0].index,
            records[1].index,
            records[3].index,
            records[4].index
        ]
    );
    assert_eq!(scan.skipped.len(), 1);
    assert_eq!(scan.skipped[0].offset, ends[2]);
    assert_eq!(scan.skipped[0].len, ends[3] - ends[2]);
    assert!(matches!(
        scan.skipped[0].defect,
        FrameDefect::ChecksumMismatch { .. }
    ));
    assert!(scan.torn_tail.is_none());
    assert_eq!(scan.valid_len, bytes.len() as u64);

    // A length field blown up past the end of the file in frame 1.
    let mut bytes = pristine.clone();
    bytes[ends[1] as usize..ends[1] as usize + 4].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    let scan = LogReader::scan(&path).unwrap();
    assert_eq!(scan.records.len(), 4);
    assert_eq!(scan.skipped[0].offset, ends[1]);

    // A frame cut short (a writer killed mid-append) before valid ones.
    let mut bytes = pristine[..ends[3] as usize - 7].to_vec();
    bytes.extend_from_slice(&pristine[ends[3] as usize..]);
    fs::write(&path, &bytes).unwrap();
    let scan = LogReader::scan(&path).unwrap();
    assert_eq!(
        indices(&scan),
        [
            records[0].index,
            records[1].index,
            records[3].index,
            records[4].index
        ]
    );
    assert_eq!(scan.skipped[0].offset, ends[2]);
    assert_eq!(scan.skipped[0].len, ends[3] - 7 - ends[2]);
}

#[test]
fn an_undecodable_record_is_damage_and_remove_damage_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.log");
    let records = sample_records(5);
    let ends = write_log(&path, &records);
    let pristine = fs::read(&path).unwrap();
    // Frame 2 loses the last byte of its payload; its length and
    // checksum are rewritten to match, so only decoding can tell.
    let (start, end) = (ends[2] as usize, ends[3] as usize);
    let payload = &pristine[start + 8..end - 1];
    let mut bytes = pristine[..start].to_vec();
    frame_payload(payload, &mut bytes);
    bytes.extend_from_slice(&pristine[end..]);
    bytes.extend_from_slice(&[9, 9, 9]); // and a torn tail
    fs::write(&path, &bytes).unwrap();

    let scan = LogReader::scan(&path).unwrap();
    let kept: Vec<u64> = scan.records.iter().map(|r| r.index).collect();
    assert_eq!(kept, [0, 1, 3, 4]);
    assert_eq!(
        scan.skipped,
        vec![SkippedRegion {
            offset: ends[2],
            len: ends[3] - ends[2] - 1,
            defect: FrameDefect::Undecodable,
        }]
    );
    let mut reader = LogReader::open(&path).unwrap();
    let mut heads = Vec::new();
    while let Some((_, head)) = reader.next_head().unwrap() {
        heads.push(head.index);
    }
    assert_eq!(heads, kept);
    assert_eq!(reader.skipped(), &scan.skipped[..]);
    assert_eq!(reader.file_len(), bytes.len() as u64);
    assert!(matches!(
        LogReader::scan_strict(&path),
        Err(LogError::Corrupt { offset, .. }) if offset == ends[2]
    ));

    remove_damage(
        &path,
        &scan.skipped,
        scan.torn_tail.as_ref(),
        bytes.len() as u64,
    )
    .unwrap();
    let mut expected = pristine[..start].to_vec();
    expected.extend_from_slice(&pristine[end..]);
    assert_eq!(fs::read(&path).unwrap(), expected);
    let scan = LogReader::scan_strict(&path).unwrap();
    assert!(scan.skipped.is_empty() && scan.torn_tail.is_none());
    assert_eq!(scan.records.len(), 4);
    // Only the log is left: no temporary file.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    // A log that changed since the scan is not rewritten.
    assert!(matches!(
        remove_damage(&path, &[], None, 1),
        Err(LogError::ChangedSinceScan { .. })
    ));
}

#[test]
fn bad_magic_and_newer_version_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.log");
    fs::write(&path, b"NOTALOG-at-all-really").unwrap();
    let err = LogReader::scan(&path).unwrap_err();
    assert!(matches!(err, LogError::BadMagic { .. }));
    assert!(err.to_string().contains("results.log"), "{err}");
    assert!(matches!(
        LogWriter::open(&path, SyncPolicy::OnFlush),
        Err(LogError::BadMagic { .. })
    ));

    fs::write(&path, header_bytes(FormatVersion(99))).unwrap();
    assert!(matches!(
        LogReader::scan(&path),
        Err(LogError::Version { .. })
    ));
    assert!(matches!(
        LogWriter::open(&path, SyncPolicy::OnFlush),
        Err(LogError::Version { .. })
    ));
}

#[test]
fn truncate_refuses_when_file_changed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.log");
    let ends = write_log(&path, &sample_records(2));
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    let tail = LogReader::scan(&path).unwrap().torn_tail.unwrap();
    assert_eq!(tail.offset, ends[1]);
    fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        truncate_torn_tail(&path, &tail),
        Err(LogError::ChangedSinceScan { .. })
    ));
}

#[test]
fn threads_with_separate_handles_append_whole_frames() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.log");
    let threads = 4u64;
    let per = 300u64;
    std::thread::scope(|s| {
        for t in 0..threads {
            let path = &path;
            s.spawn(move || {
                let mut w = LogWriter::open(path, SyncPolicy::OnFlush).unwrap();
                for k in 0..per {
                    let i = t * per + k;
                    w.append(&record(i, true, METHODS, 1 + (i % 8) as u32))
                        .unwrap();
                }
            });
        }
    });
    let scan = LogReader::scan(&path).unwrap();
    assert_eq!(scan.torn_tail, None);
    let mut seen: Vec<u64> = scan.records.iter().map(|r| r.index).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..threads * per).collect::<Vec<_>>());
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config {
        cases: 96,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x5107e),
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    })]

    /// Whatever happens to the last frame (cut anywhere, one byte
    /// damaged), a scan recovers every earlier record and never calls
    /// it corruption.
    #[test]
    fn damaged_last_frame_never_loses_earlier_records(
        n in 1u64..6,
        dim in 1u32..5,
        keep in 0.0f64..=1.0,
        flip in proptest::option::of((0.0f64..1.0, 1u8..=255)),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.log");
        let records: Vec<_> = (0..n).map(|i| record(i, i != 1, METHODS, dim)).collect();
        let ends = write_log(&path, &records);
        let mut bytes = fs::read(&path).unwrap();
        let (start, end) = (ends[n as usize - 1] as usize, ends[n as usize] as usize);
        let cut = start + ((end - start) as f64 * keep) as usize;
        bytes.truncate(cut);
        let damaged = match flip {
            Some((at, mask)) if cut > start => {
                let i = start + ((cut - start) as f64 * at) as usize;
                bytes[i] ^= mask;
                true
            }
            _ => false,
        };
        fs::write(&path, &bytes).unwrap();
        let scan = LogReader::scan(&path).unwrap();
        if cut == end && !damaged {
            proptest::prop_assert_eq!(&scan.records, &records);
            proptest::prop_assert_eq!(scan.torn_tail, None);
        } else {
            proptest::prop_assert_eq!(&scan.records[..], &records[..n as usize - 1]);
            proptest::prop_assert_eq!(scan.valid_len, start as u64);
            proptest::prop_assert_eq!(scan.torn_tail.map(|t| t.offset), (cut > start).then_some(start as u64));
        }
    }
}

const CHILD_ENV: &str = "QTOMO_STORE_TEST_APPEND_CHILD";

/// Child half of `processes_append_concurrently`: does nothing unless
/// the parent test set the environment variable.
#[test]
fn append_child_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (path, first) = spec.split_once(':').unwrap();
    let first: u64 = first.parse().unwrap();
    let mut w = LogWriter::open(Path::new(path), SyncPolicy::OnFlush).unwrap();
    for i in first..first + 500 {
        w.append(&record(i, i % 7 != 0, METHODS, 1 + (i % 6) as u32))
            .unwrap();
    }
    w.flush_sync().unwrap();
}

#[test]
fn processes_append_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.log");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = [0u64, 500, 1000]
        .iter()
        .map(|first| {
            std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "store::log::tests::append_child_process",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, format!("{}:{first}", path.display()))
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let scan = LogReader::scan(&path).unwrap();
    assert_eq!(scan.torn_tail, None);
    let mut seen: Vec<u64> = scan.records.iter().map(|r| r.index).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..1500).collect::<Vec<_>>());
    for r in &scan.records {
        assert_eq!(
            *r,
            record(r.index, r.index % 7 != 0, METHODS, 1 + (r.index % 6) as u32)
        );
    }
}
