//! Reading record files: any bytes (plain or gzip) give records or counted
//! damage, never a panic; a parsed record re-encodes to one valid line.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use privlog::read::RecordReader;
use privlog::record::parse_line;

fuzz_target!(|data: &[u8]| {
    for line in data.split(|b| *b == b'\n') {
        if let Ok(record) = parse_line(line) {
            let out = record.to_ndjson();
            assert_eq!(out.matches('\n').count(), 1, "one line per record: {out:?}");
            assert!(
                parse_line(out.trim_end().as_bytes()).is_ok(),
                "re-encoded record does not parse: {out:?}"
            );
        }
    }
    let path = std::env::temp_dir().join(format!("privlog-fuzz-reader-{}.ndjson", std::process::id()));
    let Ok(mut f) = std::fs::File::create(&path) else {
        return;
    };
    if f.write_all(data).is_err() {
        return;
    }
    drop(f);
    let mut reader = RecordReader::new(vec![path.clone()]);
    let mut ok = 0u64;
    for r in reader.by_ref() {
        if r.is_ok() {
            ok += 1;
        }
    }
    assert_eq!(reader.counts().records, ok);
    let _ = std::fs::remove_file(&path);
});
