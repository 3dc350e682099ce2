//! Spool recovery from whatever an earlier run (or a disk fault, or someone
//! else) left in the directory: a segment with any bytes, any segment name,
//! any `acked` file. Opening never fails or panics, reading terminates, every
//! recovered record is accounted for (read or counted as damaged), and the
//! spool still takes and returns new records afterwards.
#![no_main]

use libfuzzer_sys::fuzz_target;
use privlog::Record;
use privlog::sink::spool::{Spool, SpoolConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("privlog-fuzz-spool-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let mut rest = rest;
    if flags & 1 != 0 {
        // The `acked` file: text up to the first newline.
        let end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len()).min(32);
        let _ = std::fs::write(dir.join("acked"), &rest[..end]);
        rest = rest.get(end + 1..).unwrap_or(&[]);
    }
    let first_seq = if flags & 2 != 0 && rest.len() >= 8 {
        let (n, tail) = rest.split_at(8);
        rest = tail;
        u64::from_le_bytes(n.try_into().unwrap_or([0; 8]))
    } else {
        1
    };
    let _ = std::fs::write(dir.join(format!("{first_seq:020}.spool")), rest);
    if flags & 4 != 0 {
        // A second segment holding the tail of the first one's bytes.
        let _ = std::fs::write(
            dir.join(format!("{:020}.spool", first_seq.saturating_add(7))),
            &rest[rest.len() / 2..],
        );
    }

    let (mut spool, recovery) = Spool::open(SpoolConfig::new(&dir)).expect("damaged content is never an error");
    let (mut read, mut damaged) = (0u64, 0u64);
    let mut rounds = 0;
    while let Ok(Some(batch)) = spool.peek(64, 1 << 20) {
        rounds += 1;
        assert!(rounds < 100_000, "reading the spool does not terminate");
        read += batch.records.len() as u64;
        damaged += batch.damaged;
        if spool.ack(&batch).is_err() {
            break;
        }
    }
    assert!(
        read + damaged <= recovery.records,
        "read {read} + damaged {damaged} > recovered {}",
        recovery.records
    );
    // The spool keeps working after recovery.
    let r = Record::new(time::OffsetDateTime::UNIX_EPOCH, "GET", "/after-recovery");
    if spool.append(std::slice::from_ref(&r)).is_ok_and(|n| n == 1) {
        let batch = spool.peek(64, 1 << 20).expect("readable").expect("the new record");
        assert_eq!(batch.records.last().map(|x| x.path.as_str()), Some("/after-recovery"));
    }
    drop(spool);
    let _ = std::fs::remove_dir_all(&dir);
});
