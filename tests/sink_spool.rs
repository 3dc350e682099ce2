//! The durable spool on a real file system: reopening, damage of every kind,
//! the size cap, and deletion of delivered segments.
#![cfg(feature = "spool")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use privlog::Record;
use privlog::sink::spool::{Spool, SpoolConfig, SpoolFsync};
use proptest::prelude::*;
use support::files::TempDir;
use time::OffsetDateTime;

fn records(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let ts = OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap() + Duration::from_millis(i as u64);
            let mut r = Record::new(ts, "GET", format!("/r/{i}"));
            r.status = Some(200);
            r
        })
        .collect()
}

fn config(dir: &Path) -> SpoolConfig {
    SpoolConfig::new(dir).fsync(SpoolFsync::Never)
}

/// Reads and acknowledges everything: (records read, damaged records skipped).
fn drain(spool: &mut Spool) -> (Vec<Record>, u64) {
    let mut out = Vec::new();
    let mut damaged = 0;
    // Bounded: every round either acknowledges something or ends.
    for _ in 0..100_000 {
        match spool.peek(64, 1 << 20).unwrap() {
            Some(b) => {
                damaged += b.damaged;
                spool.ack(&b).unwrap();
                out.extend(b.records);
            }
            None => return (out, damaged),
        }
    }
    panic!("spool never ran dry");
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "spool"))
        .collect();
    v.sort();
    v
}

#[test]
fn appended_records_survive_a_reopen_in_order() {
    let tmp = TempDir::new("spool");
    let rs = records(100);
    {
        let (mut spool, rec) = Spool::open(config(&tmp.0)).unwrap();
        assert_eq!(rec.records, 0);
        assert_eq!(spool.append(&rs).unwrap(), 100);
        spool.sync().unwrap();
    }
    let (mut spool, rec) = Spool::open(config(&tmp.0)).unwrap();
    assert_eq!((rec.records, rec.torn), (100, 0));
    let (read, damaged) = drain(&mut spool);
    assert_eq!(read, rs);
    assert_eq!(damaged, 0);
    assert!(spool.is_empty());
}

#[test]
fn acknowledged_records_are_not_read_again_after_a_reopen() {
    let tmp = TempDir::new("spool");
    let rs = records(50);
    {
        let (mut spool, _) = Spool::open(config(&tmp.0)).unwrap();
        spool.append(&rs).unwrap();
        let b = spool.peek(20, 1 << 20).unwrap().unwrap();
        spool.ack(&b).unwrap();
    }
    let (mut spool, rec) = Spool::open(config(&tmp.0)).unwrap();
    assert_eq!(rec.records, 30);
    let (read, _) = drain(&mut spool);
    assert_eq!(read, rs[20..]);
}

#[test]
fn a_torn_tail_is_counted_and_the_valid_prefix_recovered() {
    let tmp = TempDir::new("spool");
    let rs = records(10);
    {
        let (mut spool, _) = Spool::open(config(&tmp.0)).unwrap();
        spool.append(&rs).unwrap();
    }
    let seg = &segments(&tmp.0)[0];
    let len = fs::metadata(seg).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(seg)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    let (mut spool, rec) = Spool::open(config(&tmp.0)).unwrap();
    assert_eq!((rec.records, rec.torn), (9, 1));
    let (read, damaged) = drain(&mut spool);
    assert_eq!(read, rs[..9]);
    assert_eq!(damaged, 0);
    // New appends after the damage are read too.
    spool.append(&records(3)).unwrap();
    assert_eq!(drain(&mut spool).0.len(), 3);
}

#[test]
fn a_corrupt_record_in_the_middle_is_skipped_and_counted_exactly() {
    let tmp = TempDir::new("spool");
    let rs = records(10);
    {
        let (mut spool, _) = Spool::open(config(&tmp.0)).unwrap();
        spool.append(&rs).unwrap();
    }
    let seg = &segments(&tmp.0)[0];
    let mut bytes = fs::read(seg).unwrap();
    let at = find(&bytes, b"/r/4").unwrap();
    bytes[at + 1] ^= 0x55;
    fs::write(seg, bytes).unwrap();
    let (mut spool, rec) = Spool::open(config(&tmp.0)).unwrap();
    assert_eq!((rec.records, rec.torn), (10, 0));
    let (read, damaged) = drain(&mut spool);
    let expected: Vec<Record> = rs.iter().filter(|r| r.path != "/r/4").cloned().collect();
    assert_eq!(read, expected);
    assert_eq!(damaged, 1);
}

#[test]
fn a_missing_segment_is_counted_by_its_sequence_gap() {
    let tmp = TempDir::new("spool");
    let rs = records(200);
    {
        let (mut spool, _) = Spool::open(config(&tmp.0).segment_bytes(4096)).unwrap();
        spool.append(&rs).unwrap();
    }
    let segs = segments(&tmp.0);
    assert!(segs.len() >= 3, "several segments: {}", segs.len());
    let first_seq = |p: &Path| p.file_stem().unwrap().to_str().unwrap().parse::<u64>().unwrap();
    let lost = first_seq(&segs[2]) - first_seq(&segs[1]);
    fs::remove_file(&segs[1]).unwrap();
    let (mut spool, rec) = Spool::open(config(&tmp.0).segment_bytes(4096)).unwrap();
    assert_eq!(rec.records, 200);
    let (read, damaged) = drain(&mut spool);
    assert_eq!(damaged, lost);
    assert_eq!(read.len() as u64 + damaged, 200);
}

#[test]
fn a_segment_of_garbage_never_hangs_or_fails_the_open() {
    let tmp = TempDir::new("spool");
    {
        let (mut spool, _) = Spool::open(config(&tmp.0)).unwrap();
        spool.append(&records(5)).unwrap();
    }
    let garbage: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(tmp.0.join("00000000000000000100.spool"), &garbage).unwrap();
    fs::write(tmp.0.join("acked"), b"not a number").unwrap();
    fs::write(tmp.0.join("notes.txt"), b"left alone").unwrap();
    let (mut spool, rec) = Spool::open(config(&tmp.0)).unwrap();
    assert_eq!(rec.torn, 1, "the newest segment ends in bytes that are no record");
    let (read, damaged) = drain(&mut spool);
    assert_eq!(read, records(5));
    assert_eq!(damaged, 0);
    assert!(
        tmp.0.join("notes.txt").exists(),
        "files that are not segments are never touched"
    );
}

#[test]
fn appends_stop_at_the_size_cap() {
    let tmp = TempDir::new("spool");
    let (mut spool, _) = Spool::open(config(&tmp.0).max_bytes(10_000)).unwrap();
    let n = spool.append(&records(1000)).unwrap();
    assert!(n > 0 && n < 1000, "{n} records fit");
    assert!(spool.bytes() <= 10_000);
    assert_eq!(spool.append(&records(1)).unwrap(), 0, "a full spool takes nothing");
    let (read, _) = drain(&mut spool);
    assert_eq!(read.len(), n);
    assert!(
        spool.append(&records(1)).unwrap() == 1,
        "space is given back after delivery"
    );
}

#[test]
fn delivered_segments_are_deleted() {
    let tmp = TempDir::new("spool");
    let (mut spool, _) = Spool::open(config(&tmp.0).segment_bytes(4096)).unwrap();
    spool.append(&records(300)).unwrap();
    assert!(segments(&tmp.0).len() > 2);
    let (read, _) = drain(&mut spool);
    assert_eq!(read.len(), 300);
    assert!(segments(&tmp.0).is_empty(), "{:?}", segments(&tmp.0));
    assert_eq!(spool.bytes(), 0);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[derive(Clone, Debug)]
enum Damage {
    Flip { segment: usize, at: usize, bits: u8 },
    Truncate { segment: usize, cut: usize },
    Remove { segment: usize },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (0usize..8, any::<usize>(), 1u8..=255).prop_map(|(segment, at, bits)| Damage::Flip { segment, at, bits }),
        (0usize..8, any::<usize>()).prop_map(|(segment, cut)| Damage::Truncate { segment, cut }),
        (0usize..8).prop_map(|segment| Damage::Remove { segment }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the damage, opening never fails, reading ends, every record read
    /// is one that was written (in order, none twice), and with the
    /// acknowledgement file intact every record is either read or counted.
    #[test]
    fn damage_never_loses_count_or_invents_records(n in 1usize..400, damages in prop::collection::vec(damage(), 0..4)) {
        let tmp = TempDir::new("spool");
        let rs = records(n);
        {
            let (mut spool, _) = Spool::open(config(&tmp.0).segment_bytes(2048)).unwrap();
            prop_assert_eq!(spool.append(&rs).unwrap(), n);
        }
        for d in &damages {
            let segs = segments(&tmp.0);
            if segs.is_empty() {
                break;
            }
            match *d {
                Damage::Flip { segment, at, bits } => {
                    let p = &segs[segment % segs.len()];
                    let mut b = fs::read(p).unwrap();
                    if !b.is_empty() {
                        let i = at % b.len();
                        b[i] ^= bits;
                        fs::write(p, b).unwrap();
                    }
                }
                Damage::Truncate { segment, cut } => {
                    let p = &segs[segment % segs.len()];
                    let len = fs::metadata(p).unwrap().len() as usize;
                    fs::OpenOptions::new().write(true).open(p).unwrap().set_len((cut % (len + 1)) as u64).unwrap();
                }
                Damage::Remove { segment } => {
                    let i = segment % segs.len();
                    fs::remove_file(&segs[i]).unwrap();
                }
            }
        }
        let (mut spool, rec) = Spool::open(config(&tmp.0).segment_bytes(2048)).unwrap();
        let (read, damaged) = drain(&mut spool);
        // Read records are written ones, in order, without repeats.
        let mut next = 0;
        for r in &read {
            let pos = rs[next..].iter().position(|w| w == r);
            prop_assert!(pos.is_some(), "record {:?} was never written or came out of order", r.path);
            next += pos.unwrap_or(0) + 1;
        }
        // Everything the open announced is read or counted as damaged.
        prop_assert_eq!(read.len() as u64 + damaged, rec.records);
        prop_assert!(spool.is_empty());
    }
}

#[test]
fn a_second_spool_on_the_same_directory_is_refused_until_the_first_closes() {
    let dir = TempDir::new("spool");
    let (first, _) = Spool::open(config(&dir.0)).expect("first opens");
    let err = Spool::open(config(&dir.0)).expect_err("the directory is taken");
    let msg = err.to_string();
    assert!(msg.contains("in use by another spool"), "{msg}");
    assert!(
        msg.contains(&dir.0.display().to_string()),
        "the message names the directory: {msg}"
    );
    drop(first);
    Spool::open(config(&dir.0)).expect("free again once the first spool is closed");
}

/// Deletes every empty file in `dir`, as a clean-up of files untouched for
/// days (`find DIR -mtime +N -delete`) does to a lock file.
fn delete_empty_files(dir: &Path) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && fs::metadata(&path).unwrap().len() == 0 {
            fs::remove_file(&path).unwrap();
        }
    }
}

fn assert_names_the_directory_in_use(err: &privlog::sink::SinkError, dir: &Path) {
    let msg = err.to_string();
    assert!(msg.contains("in use by another spool"), "{msg}");
    assert!(
        msg.contains(&dir.display().to_string()),
        "the message names the directory: {msg}"
    );
    assert!(
        msg.contains("its own spool directory"),
        "the message names the fix: {msg}"
    );
}

// The directory itself is locked on Unix only.
#[cfg(unix)]
#[test]
fn deleting_the_files_of_an_open_spool_does_not_release_its_directory() {
    let dir = TempDir::new("spool");
    let (mut first, _) = Spool::open(config(&dir.0)).expect("first opens");
    first.append(&records(3)).unwrap();
    delete_empty_files(&dir.0);
    let err = Spool::open(config(&dir.0)).expect_err("the directory is still taken");
    assert_names_the_directory_in_use(&err, &dir.0);
    drop(first);
    let (mut again, recovery) = Spool::open(config(&dir.0)).expect("free once the first spool is closed");
    assert_eq!(recovery.records, 3);
    assert_eq!(drain(&mut again).0, records(3));
}

const HOLDER_ENV: &str = "PRIVLOG_TEST_SPOOL_HOLDER";

/// The records the holder process appends: the first half before the other
/// process tries the directory, the second half after.
fn holder_records() -> Vec<Record> {
    records(2000)
}

/// Re-invoked as a child process: holds the spool in `dir` open, appends
/// the first half of the records, waits for a line on stdin, appends the
/// second half and exits.
fn hold_spool(dir: &str) {
    use std::io::BufRead;
    let rs = holder_records();
    let (mut spool, _) = Spool::open(config(Path::new(dir))).expect("the holder opens the spool");
    assert_eq!(spool.append(&rs[..1000]).unwrap(), 1000);
    println!("holding");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).unwrap();
    assert_eq!(spool.append(&rs[1000..]).unwrap(), 1000);
    println!("done");
}

/// A child process, killed if the test ends before it does.
struct Holder(std::process::Child);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// The directory itself is locked on Unix only.
#[cfg(unix)]
#[test]
fn a_second_process_cannot_open_a_spool_whose_lock_file_was_deleted() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    if let Ok(dir) = std::env::var(HOLDER_ENV) {
        hold_spool(&dir);
        return;
    }
    let dir = TempDir::new("spool");
    let mut holder = Holder(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_second_process_cannot_open_a_spool_whose_lock_file_was_deleted",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HOLDER_ENV, &dir.0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(holder.0.stdout.take().unwrap()).lines();
    // The test harness may print its own text before the child's on a line.
    let mut said = |what: &str| {
        for line in lines.by_ref() {
            if line.unwrap().ends_with(what) {
                return;
            }
        }
        panic!("the holder process ended before saying {what:?}");
    };
    said("holding");
    delete_empty_files(&dir.0);
    let err = Spool::open(config(&dir.0)).expect_err("another process holds the directory");
    assert_names_the_directory_in_use(&err, &dir.0);
    writeln!(holder.0.stdin.take().unwrap()).unwrap();
    said("done");
    assert!(holder.0.wait().unwrap().success(), "the holder process failed");
    let (mut spool, recovery) = Spool::open(config(&dir.0)).expect("free once the holder exited");
    assert_eq!(recovery.records, 2000);
    let (read, damaged) = drain(&mut spool);
    assert_eq!(damaged, 0);
    assert_eq!(read, holder_records(), "every record of the holder, once, in order");
}

fn tagged(tag: &str, from: usize, n: usize) -> Vec<Record> {
    (from..from + n)
        .map(|i| {
            let ts = OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap();
            Record::new(ts, "GET", format!("/{tag}/{i}"))
        })
        .collect()
}

#[test]
fn a_spool_whose_directory_is_renamed_keeps_writing_there_and_never_touches_the_new_one() {
    let root = TempDir::new("spool");
    let live = root.0.join("spool");
    let moved = root.0.join("spool.old");
    let small = |dir: &Path| config(dir).segment_bytes(1024);
    let (mut first, _) = Spool::open(small(&live)).expect("first opens");
    // The directory is moved away under the open spool (a deploy switching
    // paths), and a second spool opens a new directory on the old path.
    fs::rename(&live, &moved).unwrap();
    let (mut second, _) = Spool::open(small(&live)).expect("second opens the new directory");
    let (mut a, mut b) = (Vec::new(), Vec::new());
    // Both number their records alike, so their segment files have the same names.
    for round in 0..50 {
        let ra = tagged("a", round * 10, 10);
        let rb = tagged("b", round * 10, 10);
        assert_eq!(first.append(&ra).unwrap(), 10);
        assert_eq!(second.append(&rb).unwrap(), 10);
        a.extend(ra);
        b.extend(rb);
    }
    assert!(segments(&moved).len() > 10, "the first spool wrote many segments");
    drop(first);
    drop(second);
    for (dir, expected) in [(&moved, a), (&live, b)] {
        let (mut spool, recovery) = Spool::open(config(dir)).unwrap();
        assert_eq!(recovery.records, 500, "{}", dir.display());
        let (read, damaged) = drain(&mut spool);
        assert_eq!(damaged, 0, "{}", dir.display());
        assert!(
            read == expected,
            "{} holds exactly its own spool's records",
            dir.display()
        );
    }
}

/// The first sequence number of each segment in `dir`, oldest first.
fn segment_firsts(dir: &Path) -> Vec<u64> {
    segments(dir)
        .iter()
        .map(|p| p.file_stem().unwrap().to_str().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn a_segment_deleted_while_the_spool_runs_is_counted_and_delivery_goes_on() {
    let dir = TempDir::new("spool");
    let (mut spool, _) = Spool::open(config(&dir.0).segment_bytes(1024)).unwrap();
    let all = tagged("r", 0, 100);
    assert_eq!(spool.append(&all).unwrap(), 100);
    // Deliver the first records, so that the cursor is inside the first segment.
    let b = spool.peek(3, 1 << 20).unwrap().unwrap();
    spool.ack(&b).unwrap();
    let firsts = segment_firsts(&dir.0);
    assert!(firsts.len() >= 4, "{firsts:?}");
    // A segment the cursor has not reached yet, and the one being appended to.
    let (gone, after) = (firsts[1], firsts[2]);
    fs::remove_file(dir.0.join(format!("{gone:020}.spool"))).unwrap();
    let newest = *firsts.last().unwrap();
    fs::remove_file(dir.0.join(format!("{newest:020}.spool"))).unwrap();
    // Appends after the deletion go on, to a new segment.
    let later = tagged("r", 100, 20);
    assert_eq!(spool.append(&later).unwrap(), 20);
    let (read, damaged) = drain(&mut spool);
    let lost = (after - gone) + (101 - newest);
    assert_eq!(damaged, lost, "exactly the records of the deleted segments");
    let mut expected: Vec<Record> = all[3..].to_vec();
    expected.retain(|r| {
        let i: u64 = r.path.rsplit('/').next().unwrap().parse().unwrap();
        let seq = i + 1;
        !(gone..after).contains(&seq) && seq < newest
    });
    expected.extend(later.iter().cloned());
    assert_eq!(read.len() as u64 + damaged, 117, "every record read or counted");
    assert!(
        read == expected,
        "every record of the segments left, and the later ones"
    );
    assert!(spool.is_empty());
    // More records still flow.
    assert_eq!(spool.append(&tagged("r", 200, 5)).unwrap(), 5);
    let (read, damaged) = drain(&mut spool);
    assert_eq!((read, damaged), (tagged("r", 200, 5), 0));
}

#[test]
fn records_appended_after_the_open_segment_was_deleted_go_to_a_new_one() {
    let dir = TempDir::new("spool");
    let (mut spool, _) = Spool::open(config(&dir.0)).unwrap();
    assert_eq!(spool.append(&tagged("r", 0, 10)).unwrap(), 10);
    let open = segments(&dir.0);
    assert_eq!(open.len(), 1);
    fs::remove_file(&open[0]).unwrap();
    let later = tagged("r", 10, 10);
    assert_eq!(spool.append(&later).unwrap(), 10);
    let (read, damaged) = drain(&mut spool);
    assert_eq!(damaged, 10, "the records of the deleted segment");
    assert!(read == later, "the records appended after it are delivered");
}
