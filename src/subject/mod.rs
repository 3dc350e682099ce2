//! Data-subject requests over pseudonymous record files: find every record of
//! a person (right of access) and erase them (right to erasure).
//!
//! Records hold only keyed pseudonyms, so only the key holder can find a
//! person's records: for each record's key (`kid`) and epoch the
//! [`SubjectMatcher`] derives the account's pseudonym with the matching key
//! from a [`KeyRing`](crate::policy::KeyRing) and compares.
//!
//! ```no_run
//! use std::path::Path;
//! use privlog::{policy::KeyRing, subject::{SubjectMatcher, erase_file}};
//!
//! let ring = KeyRing::load(Path::new("/etc/privlog/keys"))?;
//! let mut matcher = SubjectMatcher::new(ring, ["557058:f00d".to_owned()]);
//! let report = erase_file(Path::new("/var/log/app/privlog.2026-11-22.0000.ndjson.gz"), &mut matcher, false)?;
//! eprintln!("erased {} of {} records", report.matched, report.records);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Erasing rewrites a file atomically and keeps every other line byte for
//! byte; see [`erase_file`]. Records made with a key that is not in the ring
//! cannot be attributed and are counted in [`FileReport::unknown_keys`].
//!
//! The same records in other stores are found by their pseudonyms:
//! [`account_pseudonyms`] lists them per key and epoch, and (with the `http`
//! feature) [`clickhouse::erase`] deletes them from a ClickHouse table.

#[cfg(feature = "http")]
pub mod clickhouse;
mod matcher;
mod pseudonyms;
mod rewrite;
mod suppress;

pub use matcher::{LineMatch, SubjectMatcher};
pub use pseudonyms::account_pseudonyms;
pub use rewrite::{FileReport, SubjectError, erase_file, export_file};
pub use suppress::add_to_suppression_file;

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::path::PathBuf;

    use proptest::prelude::*;
    use time::OffsetDateTime;
    use time::macros::datetime;

    use super::*;
    use crate::policy::KeyRing;
    use crate::{MasterKey, Pseudonymizer, Purpose, Record, Rotation};

    fn record(key: &MasterKey, ts: OffsetDateTime, account: Option<&str>) -> Record {
        let epoch = Rotation::Daily.epoch_of(ts);
        let mut r = Record::new(ts, "GET", "/x");
        r.account = account.map(|a| {
            Pseudonymizer::new(key)
                .pseudonym(Purpose::Account, &epoch, a)
                .into_string()
        });
        r.epoch = epoch.as_str().to_owned();
        r.kid = key.id().as_str().to_owned();
        r
    }

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("privlog-subject-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        d
    }

    #[test]
    fn matcher_finds_the_account_under_every_key_and_epoch() {
        let old = MasterKey::from_bytes([1; 32]);
        let new = MasterKey::from_bytes([2; 32]);
        let mut ring = KeyRing::from(old.clone());
        ring.push(new.clone());
        let mut m = SubjectMatcher::new(ring, ["a".to_owned(), "b".to_owned()]);
        for (key, ts) in [
            (&old, datetime!(2026-10-30 1:00 UTC)),
            (&new, datetime!(2026-11-02 1:00 UTC)),
        ] {
            assert_eq!(
                m.match_line(record(key, ts, Some("a")).to_ndjson().as_bytes()),
                LineMatch::Subject(0)
            );
            assert_eq!(
                m.match_line(record(key, ts, Some("b")).to_ndjson().as_bytes()),
                LineMatch::Subject(1)
            );
            assert_eq!(
                m.match_line(record(key, ts, Some("c")).to_ndjson().as_bytes()),
                LineMatch::Other
            );
            assert_eq!(
                m.match_line(record(key, ts, None).to_ndjson().as_bytes()),
                LineMatch::Other
            );
        }
        let stranger = MasterKey::from_bytes([3; 32]);
        let line = record(&stranger, datetime!(2026-11-02 1:00 UTC), Some("a")).to_ndjson();
        assert_eq!(
            m.match_line(line.as_bytes()),
            LineMatch::UnknownKey(stranger.id().as_str().to_owned())
        );
        assert_eq!(m.match_line(b"{\"v\":1,\"ts\":"), LineMatch::NotARecord);
        assert_eq!(m.match_line(b"\n"), LineMatch::NotARecord);
    }

    #[test]
    fn erase_keeps_other_lines_byte_for_byte_and_gzip_stays_gzip() {
        let key = MasterKey::from_bytes([9; 32]);
        let d = tempdir("erase");
        let mut plain = Vec::new();
        let mut expected = Vec::new();
        for i in 0..50u8 {
            let who = ["jane", "joe", "ann"][usize::from(i % 3)];
            let ts = datetime!(2026-11-20 0:00 UTC) + time::Duration::hours(i64::from(i));
            // a line that is not what the encoder writes: must still be kept as is
            let line = record(&key, ts, Some(who))
                .to_ndjson()
                .replacen("{\"v\":1,", "{ \"v\": 1, ", 1);
            plain.extend_from_slice(line.as_bytes());
            if who != "jane" {
                expected.extend_from_slice(line.as_bytes());
            }
        }
        plain.extend_from_slice(b"garbage line\n{\"torn");
        expected.extend_from_slice(b"garbage line\n{\"torn");
        let p = d.join("privlog.2026-11-20.ndjson");
        std::fs::write(&p, &plain).expect("write");
        let gzp = d.join("privlog.2026-11-21.ndjson.gz");
        let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gzp).expect("create"), Default::default());
        enc.write_all(&plain).expect("gz");
        enc.finish().expect("finish");

        let mut m = SubjectMatcher::new(KeyRing::from(key), ["jane".to_owned()]);
        let dry = erase_file(&p, &mut m, true).expect("dry run");
        assert_eq!(
            (dry.records, dry.matched, dry.not_records, dry.rewritten),
            (50, 17, 2, false)
        );
        assert_eq!(std::fs::read(&p).expect("read"), plain);

        let r = erase_file(&p, &mut m, false).expect("erase");
        assert!(r.rewritten);
        assert_eq!(std::fs::read(&p).expect("read"), expected);
        let r = erase_file(&gzp, &mut m, false).expect("erase gz");
        assert_eq!(r.matched, 17);
        let raw = std::fs::read(&gzp).expect("read");
        assert_eq!(&raw[..2], &[0x1f, 0x8b]);
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&raw[..]), &mut back).expect("gunzip");
        assert_eq!(back, expected);
        // nothing left to erase: the file is not rewritten again
        assert!(!erase_file(&p, &mut m, false).expect("again").rewritten);
        let leftovers: Vec<_> = std::fs::read_dir(&d).expect("dir").filter_map(Result::ok).collect();
        assert_eq!(leftovers.len(), 2, "no temporary file is left behind");
        let _ = std::fs::remove_dir_all(d);
    }

    fn jane_and_joe(key: &MasterKey, path: &std::path::Path) -> Vec<u8> {
        let mut all = Vec::new();
        for (i, who) in ["jane", "joe", "jane"].iter().enumerate() {
            let ts = datetime!(2026-11-20 0:00 UTC) + time::Duration::hours(i as i64);
            all.extend_from_slice(record(key, ts, Some(who)).to_ndjson().as_bytes());
        }
        std::fs::write(path, &all).expect("write");
        all
    }

    #[test]
    fn erase_refuses_a_file_kept_locked_and_leaves_it_unchanged() {
        let key = MasterKey::from_bytes([5; 32]);
        let d = tempdir("locked");
        let p = d.join("privlog.2026-11-20.0000.ndjson");
        let all = jane_and_joe(&key, &p);
        // A writer that holds its shared lock and never lets go.
        let holder = std::fs::File::open(&p).expect("open");
        holder.lock_shared().expect("lock");
        let mut m = SubjectMatcher::new(KeyRing::from(key), ["jane".to_owned()]);
        let e = rewrite::erase_waiting(&p, &mut m, false, std::time::Duration::from_millis(100))
            .expect_err("refused while locked");
        assert!(matches!(e, SubjectError::Locked { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains(&p.display().to_string()), "names the file: {msg}");
        assert!(
            msg.contains("unchanged") && msg.contains("run again"),
            "names the fix: {msg}"
        );
        assert_eq!(std::fs::read(&p).expect("read"), all);
        let leftovers = std::fs::read_dir(&d).expect("dir").count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn erase_waits_for_a_lock_let_go_of_and_then_erases() {
        let key = MasterKey::from_bytes([6; 32]);
        let d = tempdir("wait");
        let p = d.join("privlog.2026-11-20.0000.ndjson");
        jane_and_joe(&key, &p);
        let holder = std::fs::File::open(&p).expect("open");
        holder.lock_shared().expect("lock");
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            drop(holder);
        });
        let mut m = SubjectMatcher::new(KeyRing::from(key.clone()), ["jane".to_owned()]);
        let r = erase_file(&p, &mut m, false).expect("erased once the lock is free");
        release.join().expect("join");
        assert_eq!((r.matched, r.rewritten), (2, true));
        let joe = record(&key, datetime!(2026-11-20 1:00 UTC), Some("joe")).to_ndjson();
        assert_eq!(std::fs::read(&p).expect("read"), joe.as_bytes());
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn two_erases_of_one_file_at_once_both_finish_and_erase_everything() {
        let key = MasterKey::from_bytes([11; 32]);
        let d = tempdir("two-erases");
        let p = d.join("privlog.2026-11-20.0000.ndjson");
        jane_and_joe(&key, &p);
        // A sink appending: both erases read, make their copy and wait.
        let holder = std::fs::File::open(&p).expect("open");
        holder.lock_shared().expect("lock");
        let erases: Vec<_> = (0..2)
            .map(|_| {
                let (p, key) = (p.clone(), key.clone());
                std::thread::spawn(move || {
                    let mut m = SubjectMatcher::new(KeyRing::from(key), ["jane".to_owned()]);
                    erase_file(&p, &mut m, false)
                })
            })
            .collect();
        let temp = d.join(".privlog.2026-11-20.0000.ndjson.erase.tmp");
        while !temp.exists() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(holder);
        let erased: u64 = erases
            .into_iter()
            .map(|e| e.join().expect("join").expect("both erases finish").matched)
            .sum();
        assert_eq!(erased, 2, "jane's two records, erased once");
        let joe = record(&key, datetime!(2026-11-20 1:00 UTC), Some("joe")).to_ndjson();
        assert_eq!(std::fs::read(&p).expect("read"), joe.as_bytes());
        assert_eq!(std::fs::read_dir(&d).expect("dir").count(), 1, "no temporary copy left");
        let _ = std::fs::remove_dir_all(d);
    }

    #[cfg(unix)]
    #[test]
    fn export_of_a_fifo_is_refused_without_waiting_for_a_writer() {
        let d = tempdir("fifo");
        let fifo = d.join("pipe.ndjson");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("run mkfifo");
        assert!(made.success());
        let mut m = SubjectMatcher::new(KeyRing::from(MasterKey::from_bytes([3; 32])), ["jane".to_owned()]);
        let e = export_file(&fifo, &mut m, |_, _| Ok(())).expect_err("refused");
        assert!(matches!(e, SubjectError::NotAFile { .. }), "{e:?}");
        assert!(
            e.to_string().contains("is a FIFO (named pipe), not a regular file"),
            "{e}"
        );
        let e = erase_file(&fifo, &mut m, true).expect_err("refused");
        assert!(matches!(e, SubjectError::NotAFile { .. }), "{e:?}");
        let e = export_file(&d, &mut m, |_, _| Ok(())).expect_err("a directory");
        assert!(e.to_string().contains("is a directory"), "{e}");
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn a_rolling_file_compressed_while_it_is_erased_is_erased_in_its_gz() {
        let key = MasterKey::from_bytes([8; 32]);
        let d = tempdir("compressed");
        let plain = d.join("r.2026-11-20.0003.ndjson");
        let all = jane_and_joe(&key, &plain);
        // The rolling sink compressed it and removed it.
        let gz = d.join("r.2026-11-20.0003.ndjson.gz");
        let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).expect("create"), Default::default());
        enc.write_all(&all).expect("gz");
        enc.finish().expect("finish");
        std::fs::remove_file(&plain).expect("remove");
        let mut m = SubjectMatcher::new(KeyRing::from(key.clone()), ["jane".to_owned()]);
        let r = erase_file(&plain, &mut m, false).expect("erased in the gz");
        assert_eq!((r.matched, r.rewritten), (2, true));
        assert_eq!(r.path, plain);
        assert_eq!(r.target.as_deref(), Some(gz.as_path()));
        let mut back = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::MultiGzDecoder::new(std::fs::File::open(&gz).expect("open")),
            &mut back,
        )
        .expect("gunzip");
        let joe = record(&key, datetime!(2026-11-20 1:00 UTC), Some("joe")).to_ndjson();
        assert_eq!(back, joe.as_bytes());
        // Neither there nor compressed: the file is missing, and said so.
        let gone = d.join("r.2026-11-20.0009.ndjson");
        let e = erase_file(&gone, &mut m, false).expect_err("missing");
        assert!(
            e.to_string().starts_with(&format!("cannot open {}", gone.display())),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(d);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn erase_removes_exactly_the_subjects_records(owners in proptest::collection::vec(0usize..4, 0..40)) {
            let key = MasterKey::from_bytes([4; 32]);
            let d = tempdir(&format!("prop-{}", owners.len()));
            let names = ["a", "b", "c", "d"];
            let mut all = Vec::new();
            let mut kept = Vec::new();
            for (i, o) in owners.iter().enumerate() {
                let ts = datetime!(2026-11-01 0:00 UTC) + time::Duration::hours(7 * i as i64);
                let line = record(&key, ts, Some(names[*o])).to_ndjson();
                all.extend_from_slice(line.as_bytes());
                if *o != 1 { kept.extend_from_slice(line.as_bytes()); }
            }
            let p = d.join("f.ndjson");
            std::fs::write(&p, &all).expect("write");
            let mut m = SubjectMatcher::new(KeyRing::from(key), ["b".to_owned()]);
            let mut exported = Vec::new();
            let r = export_file(&p, &mut m, |_, l| { exported.extend_from_slice(l); Ok(()) }).expect("export");
            prop_assert_eq!(r.matched as usize, owners.iter().filter(|o| **o == 1).count());
            prop_assert_eq!(exported.len() + kept.len(), all.len());
            erase_file(&p, &mut m, false).expect("erase");
            prop_assert_eq!(std::fs::read(&p).expect("read"), kept);
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
