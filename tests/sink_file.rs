//! The single-file sink over real files: it follows its path when the file is
//! replaced or removed, waits for a rewriter's lock, and `subject erase`
//! between its batches never costs a later record.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod support;

use std::fs::File;
use std::path::Path;

use privlog::policy::KeyRing;
use privlog::sink::{FileSink, Ledger, Sink};
use privlog::subject::{SubjectMatcher, erase_file};
use privlog::{MasterKey, Pseudonymizer, Purpose, Record, Rotation};
use proptest::prelude::*;
use support::files::TempDir;
use time::macros::datetime;

const ACCOUNTS: [&str; 3] = ["557058:jane", "557058:joe", "5b10ac8d82e05b22cc7d4ef5"];

fn key() -> MasterKey {
    MasterKey::from_bytes([7; 32])
}

/// Record `i`, made by account `owner`.
fn record(i: usize, owner: usize) -> Record {
    let ts = datetime!(2026-11-20 10:00 UTC);
    let epoch = Rotation::Monthly.epoch_of(ts);
    let mut r = Record::new(ts, "GET", format!("/r/{i}"));
    r.account = Some(
        Pseudonymizer::new(&key())
            .pseudonym(Purpose::Account, &epoch, ACCOUNTS[owner])
            .into_string(),
    );
    r.epoch = epoch.as_str().to_owned();
    r.kid = key().id().as_str().to_owned();
    r
}

fn batch(from: usize, owners: &[usize]) -> Vec<Record> {
    owners.iter().enumerate().map(|(i, o)| record(from + i, *o)).collect()
}

/// The paths of the records in `path`, in order; every line must be whole.
fn paths_in(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| privlog::record::parse_line(l.as_bytes()).expect("a whole record").path)
        .collect()
}

fn open(path: &Path) -> (FileSink, Ledger) {
    let mut sink = FileSink::open(path).unwrap();
    let ledger = Ledger::detached("file");
    sink.attach(ledger.clone());
    (sink, ledger)
}

/// Replaces `path` by a copy without its first `skip` lines, the way an
/// in-place rewrite (`sed -i`, an editor) does: new file, rename over.
fn replace_with_copy(path: &Path, skip: usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let kept: String = text.split_inclusive('\n').skip(skip).collect();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, kept).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn a_file_replaced_under_the_sink_is_followed_and_later_records_land_in_it() {
    let dir = TempDir::new("replaced");
    let log = dir.0.join("requests.ndjson");
    let (mut sink, ledger) = open(&log);
    sink.write(&batch(0, &[0; 10])).unwrap();
    replace_with_copy(&log, 3);
    sink.write(&batch(10, &[0; 10])).unwrap();
    sink.flush().unwrap();
    let expected: Vec<String> = (3..20).map(|i| format!("/r/{i}")).collect();
    assert_eq!(
        paths_in(&log),
        expected,
        "the later records are in the file at the path"
    );
    let s = ledger.stats();
    assert_eq!((s.delivered, s.dropped_total()), (20, 0), "{s:?}");
}

#[test]
fn a_file_removed_under_the_sink_is_made_again() {
    let dir = TempDir::new("removed");
    let log = dir.0.join("requests.ndjson");
    let (mut sink, ledger) = open(&log);
    sink.write(&batch(0, &[1; 4])).unwrap();
    std::fs::remove_file(&log).unwrap();
    sink.write(&batch(4, &[1; 5])).unwrap();
    let expected: Vec<String> = (4..9).map(|i| format!("/r/{i}")).collect();
    assert_eq!(paths_in(&log), expected);
    assert_eq!(ledger.stats().delivered, 9);
}

#[test]
fn a_batch_waits_for_a_rewriters_lock_and_lands_in_its_copy() {
    let dir = TempDir::new("locked");
    let log = dir.0.join("requests.ndjson");
    let (mut sink, ledger) = open(&log);
    sink.write(&batch(0, &[0; 6])).unwrap();
    // A rewriter that honours the lock: exclusive lock on the old file
    // while it writes its copy and renames it over the path.
    let old = File::open(&log).unwrap();
    old.lock().unwrap();
    let writer = std::thread::spawn(move || {
        sink.write(&batch(6, &[2; 6])).unwrap();
        sink
    });
    replace_with_copy(&log, 2);
    old.unlock().unwrap();
    let _sink = writer.join().unwrap();
    let expected: Vec<String> = (2..12).map(|i| format!("/r/{i}")).collect();
    assert_eq!(
        paths_in(&log),
        expected,
        "the batch written during the rewrite is in the new file"
    );
    assert_eq!(ledger.stats().delivered, 12);
}

/// What happens to the file between two batches.
#[derive(Clone, Debug)]
enum Op {
    /// A batch of records by these accounts.
    Write(Vec<usize>),
    /// `subject erase` of one account.
    Erase(usize),
    /// An in-place rewrite that keeps everything.
    Rewrite,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => proptest::collection::vec(0usize..3, 1..8).prop_map(Op::Write),
        1 => (0usize..3).prop_map(Op::Erase),
        1 => Just(Op::Rewrite),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_file_holds_every_delivered_record_not_erased(ops in proptest::collection::vec(op(), 1..12)) {
        let dir = TempDir::new("prop");
        let log = dir.0.join("requests.ndjson");
        let (mut sink, ledger) = open(&log);
        let mut expected: Vec<(String, usize)> = Vec::new();
        let mut n = 0;
        for op in &ops {
            match op {
                Op::Write(owners) => {
                    sink.write(&batch(n, owners)).unwrap();
                    expected.extend(owners.iter().enumerate().map(|(i, o)| (format!("/r/{}", n + i), *o)));
                    n += owners.len();
                }
                Op::Erase(who) => {
                    let mut m = SubjectMatcher::new(KeyRing::from(key()), [ACCOUNTS[*who].to_owned()]);
                    if log.exists() {
                        erase_file(&log, &mut m, false).unwrap();
                    }
                    expected.retain(|(_, o)| o != who);
                }
                Op::Rewrite => {
                    if log.exists() {
                        replace_with_copy(&log, 0);
                    }
                }
            }
        }
        let want: Vec<String> = expected.into_iter().map(|(p, _)| p).collect();
        prop_assert_eq!(paths_in(&log), want);
        let s = ledger.stats();
        prop_assert_eq!((s.delivered, s.dropped_total()), (n as u64, 0));
    }
}
