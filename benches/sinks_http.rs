//! Encoding and spool throughput of the HTTP sink.
//!
//! Run with `cargo bench --features http --bench sinks_http`.
#![allow(missing_docs)] // the harness macros generate undocumented items

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use privlog::Record;
use privlog::sink::http::{ClickHouse, Elasticsearch, Encoder, Loki, Ndjson, Otlp};
use privlog::sink::spool::{Spool, SpoolConfig, SpoolFsync};
use time::OffsetDateTime;

/// Records shaped like the layer's: a route, a scrubbed path, pseudonyms.
fn records(n: usize) -> Vec<Record> {
    let t0 = OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    (0..n)
        .map(|i| {
            let mut r = Record::new(
                t0 + Duration::from_millis(i as u64),
                "GET",
                "/rest/accounts/{account_id}/history",
            );
            r.route = Some("/rest/accounts/{account_id}/history".into());
            r.client = Some("203.0.113.0/24".into());
            r.status = Some(if i % 10 == 0 { 404 } else { 200 });
            r.resp_bytes = 512;
            r.ttfb_us = Some(840);
            r.duration_us = 910;
            r.account = Some("acc_3q2x9Vd1kQ0bZg7mH4sT1A".into());
            r.tenant = Some("ten_Jp0cX8aWm3nR5yE2uK9fLw".into());
            r.epoch = "2026-11".into();
            r.kid = "k_5d1f0a9c".into();
            r
        })
        .collect()
}

fn encoders(c: &mut Criterion) {
    let batch = records(1000);
    let mut group = c.benchmark_group("encode_1000_records");
    group.throughput(Throughput::Elements(batch.len() as u64));
    let all: Vec<Box<dyn Encoder>> = vec![
        Box::new(Ndjson::new()),
        Box::new(ClickHouse::new("privlog_requests").unwrap_or_else(|e| panic!("{e}"))),
        Box::new(Loki::new()),
        Box::new(Elasticsearch::new()),
        Box::new(Otlp::new()),
    ];
    let mut out = Vec::with_capacity(2 << 20);
    for enc in &all {
        group.bench_with_input(BenchmarkId::from_parameter(enc.name()), &batch, |b, batch| {
            b.iter(|| {
                out.clear();
                enc.encode(black_box(batch), &mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();
}

fn spool(c: &mut Criterion) {
    let batch = records(1000);
    let dir = std::env::temp_dir().join(format!("privlog-bench-spool-{}", std::process::id()));
    let mut group = c.benchmark_group("spool_1000_records");
    group.throughput(Throughput::Elements(batch.len() as u64));
    for (name, fsync) in [
        ("append_read_ack_fsync_never", SpoolFsync::Never),
        ("append_read_ack_fsync_always", SpoolFsync::Always),
    ] {
        let _ = std::fs::remove_dir_all(&dir);
        let (mut spool, _) = Spool::open(SpoolConfig::new(&dir).fsync(fsync)).unwrap_or_else(|e| panic!("{e}"));
        group.bench_function(name, |b| {
            b.iter(|| {
                spool.append(black_box(&batch)).unwrap_or_else(|e| panic!("{e}"));
                while let Some(got) = spool.peek(1000, 1 << 20).unwrap_or_else(|e| panic!("{e}")) {
                    spool.ack(&got).unwrap_or_else(|e| panic!("{e}"));
                }
            })
        });
    }
    group.finish();

    // Start-up with a full spool: 100 000 records waiting.
    let _ = std::fs::remove_dir_all(&dir);
    {
        let (mut s, _) = Spool::open(SpoolConfig::new(&dir).fsync(SpoolFsync::Never)).unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..100 {
            s.append(&batch).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let mut group = c.benchmark_group("spool_open");
    group.sample_size(10);
    group.bench_function("recover_100000_records", |b| {
        b.iter(|| {
            let (_, rec) = Spool::open(SpoolConfig::new(&dir)).unwrap_or_else(|e| panic!("{e}"));
            black_box(rec.records)
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A loopback HTTP/1.1 collector on plain threads: reads each request's body
/// and answers 200, keeping connections alive.
fn loopback_collector() -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut w = match stream.try_clone() {
                    Ok(w) => w,
                    Err(_) => return,
                };
                let mut r = BufReader::new(stream);
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.to_ascii_lowercase();
                        if let Some(v) = l.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err()
                        || w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/ingest")
}

fn deliver(c: &mut Criterion) {
    use privlog::sink::http::{BatchConfig, HttpSink};
    use privlog::sink::{Ledger, Sink};
    let url = loopback_collector();
    let batch = records(10_000);
    let mut group = c.benchmark_group("deliver_10000_records_loopback");
    group.sample_size(10);
    group.throughput(Throughput::Elements(batch.len() as u64));
    for gzip in [false, true] {
        let mut sink = HttpSink::builder(&url)
            .batch(BatchConfig::new().max_records(1000).linger(Duration::from_secs(3600)))
            .gzip(gzip)
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let ledger = Ledger::detached("bench");
        sink.attach(ledger.clone());
        let name = if gzip { "ndjson_gzip" } else { "ndjson" };
        group.bench_function(name, |b| {
            b.iter(|| {
                let target = ledger.stats().delivered + batch.len() as u64;
                sink.write(&batch).unwrap_or_else(|e| panic!("{e}"));
                while ledger.stats().delivered < target {
                    sink.tick().unwrap_or_else(|e| panic!("{e}"));
                    std::thread::yield_now();
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, encoders, spool, deliver);
criterion_main!(benches);
