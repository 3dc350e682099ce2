//! Spool directories left damaged by crashes, disk faults or hands: opening
//! and reading must terminate, keep the valid records and accept new ones.
//! (The spool's own behaviour is tested in `spool.rs`; these are the inputs
//! fuzzing found.)
#![cfg(feature = "spool")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use privlog::Record;
use privlog::sink::spool::{Spool, SpoolConfig};
use support::PATIENCE;
use support::files::TempDir;

fn segment(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.spool"))
}

fn record(path: &str) -> Record {
    Record::new(time::OffsetDateTime::UNIX_EPOCH, "GET", path)
}

/// Writes `n` records through a real spool, so the segment holds real frames.
fn spool_with(dir: &Path, n: usize) {
    let (mut spool, _) = Spool::open(SpoolConfig::new(dir)).expect("open");
    let records: Vec<Record> = (0..n).map(|i| record(&format!("/r{i}"))).collect();
    assert_eq!(spool.append(&records).expect("append"), n);
    spool.sync().expect("sync");
}

/// Runs `f` on another thread and fails the test if it does not return.
fn terminates<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("{what} did not terminate"))
}

/// Reads and acknowledges everything; returns the paths read and the damage counted.
fn drain(spool: &mut Spool) -> (Vec<String>, u64) {
    let (mut paths, mut damaged) = (Vec::new(), 0);
    while let Some(batch) = spool.peek(64, 1 << 20).expect("peek") {
        paths.extend(batch.records.iter().map(|r| r.path.clone()));
        damaged += batch.damaged;
        spool.ack(&batch).expect("ack");
    }
    (paths, damaged)
}

#[test]
fn garbage_segments_after_the_valid_ones_do_not_make_reading_loop_forever() {
    // Two valid records in segment 1, then two segments that never got a
    // valid frame (crashes while starting them): the next append reuses the
    // first garbage segment's name.
    let d = TempDir::new("garbage-tail");
    spool_with(&d, 2);
    std::fs::write(segment(&d, 3), b"PLSPOOL1\x00\x01torn").expect("write");
    std::fs::write(segment(&d, 10), b"PLSPOOL1garbage").expect("write");
    let (paths, after) = terminates("reading a spool with garbage segments", move || {
        let (mut spool, _) = Spool::open(SpoolConfig::new(&d.0)).expect("open never fails on damage");
        let (paths, _) = drain(&mut spool);
        spool.append(&[record("/after")]).expect("append");
        let after = drain(&mut spool).0;
        let _ = std::fs::remove_dir_all(&d);
        (paths, after)
    });
    assert_eq!(paths, ["/r0", "/r1"]);
    assert_eq!(after, ["/after"], "a record appended after recovery is read back");
}

#[test]
fn a_segment_named_beyond_its_records_is_not_read_twice_or_forever() {
    // Segment 1 holds records 1..=3; a copy of it was saved under a later name.
    let d = TempDir::new("copied-segment");
    spool_with(&d, 3);
    std::fs::copy(segment(&d, 1), segment(&d, 8)).expect("copy");
    let (paths, after) = terminates("reading a spool with a copied segment", move || {
        let (mut spool, _) = Spool::open(SpoolConfig::new(&d.0)).expect("open");
        let (paths, _) = drain(&mut spool);
        spool.append(&[record("/after")]).expect("append");
        let after = drain(&mut spool).0;
        let _ = std::fs::remove_dir_all(&d);
        (paths, after)
    });
    assert_eq!(paths, ["/r0", "/r1", "/r2"], "records are delivered once");
    assert_eq!(after, ["/after"]);
}

#[test]
fn absurd_acknowledgements_and_segment_names_do_not_overflow() {
    let d = TempDir::new("absurd-numbers");
    spool_with(&d, 2);
    std::fs::write(d.join("acked"), format!("{}\n", u64::MAX)).expect("write");
    std::fs::write(segment(&d, u64::MAX), b"PLSPOOL1").expect("write");
    let after = terminates("opening a spool with absurd numbers", move || {
        let (mut spool, _) = Spool::open(SpoolConfig::new(&d.0)).expect("open");
        let _ = drain(&mut spool);
        spool.append(&[record("/after")]).expect("append");
        let after = drain(&mut spool).0;
        let _ = std::fs::remove_dir_all(&d);
        after
    });
    assert_eq!(after, ["/after"]);
}

#[test]
fn a_spool_of_only_garbage_segments_accepts_and_returns_new_records() {
    // Found by fuzzing: no valid frame anywhere, segments 1 and 8. The first
    // append reuses the name of segment 1; reading used to cycle between the
    // stale and the new entry forever.
    let d = TempDir::new("garbage-only");
    std::fs::write(segment(&d, 1), b"PLSPOOL1PLFR\x01\x01\x00\x00garbage").expect("write");
    std::fs::write(segment(&d, 8), b"PLFR\x00\x00not a frame").expect("write");
    let (first, after) = terminates("reading a spool of garbage segments", move || {
        let (mut spool, recovery) = Spool::open(SpoolConfig::new(&d.0)).expect("open");
        assert_eq!(recovery.records, 0);
        let first = drain(&mut spool);
        spool.append(&[record("/a"), record("/b")]).expect("append");
        let after = drain(&mut spool).0;
        let _ = std::fs::remove_dir_all(&d);
        (first, after)
    });
    assert_eq!(first, (Vec::<String>::new(), 0));
    assert_eq!(after, ["/a", "/b"]);
}

#[cfg(unix)]
fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[cfg(unix)]
#[test]
fn a_spool_directory_others_can_write_or_own_is_refused() {
    let d = TempDir::new("untrusted");
    for mode in [0o777, 0o1777, 0o770, 0o702] {
        chmod(&d, mode);
        let err = Spool::open(SpoolConfig::new(&d.0)).expect_err("others can write the directory");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("mode {mode:04o}")) && msg.contains(&format!("chmod 700 {}", d.display())),
            "names the directory, its mode and the fix: {msg}"
        );
    }
    chmod(&d, 0o755);
    drop(Spool::open(SpoolConfig::new(&d.0)).expect("a directory only its owner can write"));
    // A spool directory privlog creates is private.
    let created = d.join("created");
    drop(Spool::open(SpoolConfig::new(&created)).expect("created"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&created).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    if rustix::process::geteuid().is_root() {
        // Giving a directory to another user needs root (as the tests run in CI).
        std::os::unix::fs::lchown(&d, Some(65_534), Some(65_534)).expect("chown");
        let err = Spool::open(SpoolConfig::new(&d.0)).expect_err("another user's directory");
        let msg = err.to_string();
        assert!(msg.contains("belongs to user 65534") && msg.contains("chown"), "{msg}");
        std::os::unix::fs::lchown(&d, Some(0), Some(0)).expect("chown");
        drop(Spool::open(SpoolConfig::new(&d.0)).expect("root's own directory"));
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[cfg(unix)]
#[test]
fn links_planted_in_the_spool_directory_are_never_followed() {
    use std::os::unix::fs::symlink;
    let d = TempDir::new("links");
    let outside = TempDir::new("links-outside");
    // A file the spool must never write, and a forged segment of valid frames.
    let precious = outside.join("precious");
    std::fs::write(&precious, "precious\n").unwrap();
    let forged_dir = outside.join("forged");
    std::fs::create_dir(&forged_dir).unwrap();
    spool_with(&forged_dir, 5);
    let forged = segment(&forged_dir, 1);
    let forged_bytes = std::fs::read(&forged).unwrap();
    symlink(&precious, d.join("acked.tmp")).unwrap();
    symlink(&forged, segment(&d, 1)).unwrap();
    let (mut spool, recovery) = Spool::open(SpoolConfig::new(&d.0)).expect("open");
    assert_eq!(recovery.records, 0, "a linked segment is not read");
    let ours: Vec<Record> = (0..3).map(|i| record(&format!("/ours{i}"))).collect();
    assert_eq!(spool.append(&ours).expect("append"), 3);
    let (read, damaged) = drain(&mut spool);
    assert_eq!(read, ["/ours0", "/ours1", "/ours2"]);
    assert_eq!(damaged, 0);
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "precious\n");
    assert_eq!(std::fs::read(&forged).unwrap(), forged_bytes);
    let acked = std::fs::symlink_metadata(d.join("acked")).unwrap();
    assert!(acked.is_file());
    assert_eq!(std::fs::read_to_string(d.join("acked")).unwrap(), "3\n");
    let _ = std::fs::remove_dir_all(&d);
    let _ = std::fs::remove_dir_all(&outside);
}

/// One frame as the spool writes it, with any sequence number.
fn frame(seq: u64, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap();
    let mut checked = Vec::new();
    checked.extend_from_slice(&len.to_le_bytes());
    checked.extend_from_slice(&seq.to_le_bytes());
    checked.extend_from_slice(payload);
    let mut out = b"PLFR".to_vec();
    out.extend_from_slice(&checked[..12]);
    out.extend_from_slice(&crc32fast::hash(&checked).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// A segment in which every 8 bytes look like the start of a frame of `len` bytes.
fn fake_frame_starts(len: u32, bytes: usize) -> Vec<u8> {
    let mut seg = b"PLSPOOL1".to_vec();
    while seg.len() < bytes {
        seg.extend_from_slice(b"PLFR");
        seg.extend_from_slice(&len.to_le_bytes());
    }
    seg
}

#[test]
fn segments_of_fake_frame_starts_are_read_with_bounded_work() {
    let d = TempDir::new("fake-frame-starts");
    spool_with(&d, 5);
    // Each position claims a frame as long as a record can be, or longer.
    std::fs::write(segment(&d, 6), fake_frame_starts(120_000, 1_200_000)).expect("write");
    std::fs::write(segment(&d, 7), fake_frame_starts(0xF0000, 1_200_000)).expect("write");
    let (paths, recovered, after) = terminates("reading segments of fake frame starts", move || {
        let (mut spool, recovery) = Spool::open(SpoolConfig::new(&d.0)).expect("open");
        let (paths, _) = drain(&mut spool);
        spool.append(&[record("/after")]).expect("append");
        let after = drain(&mut spool).0;
        let _ = std::fs::remove_dir_all(&d);
        (paths, recovery.records, after)
    });
    assert_eq!(paths, ["/r0", "/r1", "/r2", "/r3", "/r4"]);
    assert_eq!(recovered, 5);
    assert_eq!(after, ["/after"]);
}

#[test]
fn a_segment_file_far_larger_than_any_segment_is_not_read() {
    let d = TempDir::new("huge-segment");
    spool_with(&d, 5);
    // Valid records at its start, then (sparse) bytes no segment reaches.
    let f = std::fs::OpenOptions::new().write(true).open(segment(&d, 1)).unwrap();
    f.set_len(80 << 20).unwrap();
    drop(f);
    let (mut spool, recovery) = Spool::open(SpoolConfig::new(&d.0)).expect("open");
    assert_eq!(recovery.records, 0, "nothing of the oversized file was read");
    spool.append(&[record("/after")]).expect("append");
    assert_eq!(drain(&mut spool).0, ["/after"]);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn sequence_numbers_no_spool_writes_do_not_inflate_the_count_or_block_later_records() {
    let d = TempDir::new("huge-seq");
    spool_with(&d, 5);
    let line = br#"{"v":1,"ts":"1970-01-01T00:00:00Z","method":"GET","path":"/forged"}"#;
    let huge = (1u64 << 62) - 10;
    // A valid frame with a huge number at the end of the real segment, and a
    // segment named after it.
    let mut seg = std::fs::OpenOptions::new().append(true).open(segment(&d, 1)).unwrap();
    std::io::Write::write_all(&mut seg, &frame(huge, line)).unwrap();
    drop(seg);
    let mut forged = b"PLSPOOL1".to_vec();
    forged.extend(frame(huge, line));
    std::fs::write(segment(&d, huge), forged).unwrap();
    let (mut spool, recovery) = Spool::open(SpoolConfig::new(&d.0)).expect("open");
    assert_eq!(recovery.records, 5, "only the real records are waiting");
    let (paths, _) = drain(&mut spool);
    assert_eq!(paths, ["/r0", "/r1", "/r2", "/r3", "/r4"]);
    spool.append(&[record("/after")]).expect("append");
    assert_eq!(spool.pending(), 1);
    drop(spool);
    let (mut spool, recovery) = Spool::open(SpoolConfig::new(&d.0)).expect("reopen");
    assert_eq!(recovery.records, 1);
    assert_eq!(drain(&mut spool).0, ["/after"], "later records stay readable");
    let _ = std::fs::remove_dir_all(&d);
}
