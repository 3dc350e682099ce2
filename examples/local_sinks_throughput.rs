//! Measures how many records per second the local sinks write, driven
//! directly in batches of 512 the way the pipeline drives them.
//!
//! ```sh
//! cargo run --release --all-features --example local_sinks_throughput
//! ```
//!
//! Syslog is measured against in-process receivers on 127.0.0.1 that discard
//! what they read, so the figure is the sink's own cost.

// A measuring tool: printing the table is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use privlog::sink::{Ledger, RollingFileSink, RollingFsync, Sink, SyslogSink, TracingSink};
use privlog::{Outcome, Record};
use time::OffsetDateTime;

const RECORDS: usize = 200_000;
const BATCH: usize = 512;

fn records() -> Vec<Record> {
    let t0 = OffsetDateTime::now_utc();
    (0..RECORDS)
        .map(|i| {
            let mut r = Record::new(t0, "GET", format!("/rest/accounts/{{account_id}}/history/{}", i % 97));
            r.client = Some("203.0.113.0/24".into());
            r.route = Some("/rest/accounts/{account_id}/history/{page}".into());
            r.status = Some(200);
            r.resp_bytes = 512 + i as u64 % 4096;
            r.ttfb_us = Some(840);
            r.duration_us = 910;
            r.outcome = Outcome::Completed;
            r.account = Some("acc_3q2x9Vd1kQ0bZg7mH4sT1A".into());
            r.tenant = Some("ten_Jp0cX8aWm3nR5yE2uK9fLw".into());
            r.epoch = "2026-11".into();
            r.kid = "k_5d1f0a9c".into();
            r
        })
        .collect()
}

fn run(name: &str, mut sink: impl Sink, records: &[Record]) {
    let ledger = Ledger::detached(name);
    sink.attach(ledger.clone());
    let start = Instant::now();
    for batch in records.chunks(BATCH) {
        if let Err(e) = sink.write(batch) {
            eprintln!("{name}: {e}");
        }
    }
    if let Err(e) = sink.close(Instant::now() + Duration::from_secs(60)) {
        eprintln!("{name}: {e}");
    }
    let secs = start.elapsed().as_secs_f64();
    let s = ledger.stats();
    println!(
        "| {name:<36} | {:>12.0} | {:>9} | {:>7} |",
        s.delivered as f64 / secs,
        s.delivered,
        s.dropped_total()
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let records = records();
    let dir = std::env::temp_dir().join(format!("privlog-throughput-{}", std::process::id()));
    println!("| sink | records/s | delivered | dropped |\n|---|---:|---:|---:|");

    run(
        "rolling file, fsync never",
        RollingFileSink::new(dir.join("a"), "r")?,
        &records,
    );
    run(
        "rolling file, fsync every batch",
        RollingFileSink::new(dir.join("b"), "r")?.fsync(RollingFsync::EveryBatch),
        &records,
    );
    run(
        "rolling file, 16 MiB files, gzip",
        RollingFileSink::new(dir.join("c"), "r")?
            .max_file_size(16 << 20)
            .compress(true),
        &records,
    );

    let tcp = TcpListener::bind("127.0.0.1:0")?;
    let tcp_addr = tcp.local_addr()?.to_string();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        for conn in tcp.incoming().flatten() {
            let mut conn = conn;
            while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
        }
    });
    run("syslog tcp (octet counting)", SyslogSink::tcp(tcp_addr)?, &records);

    let udp = UdpSocket::bind("127.0.0.1:0")?;
    let udp_addr = udp.local_addr()?.to_string();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while udp.recv(&mut buf).is_ok() {}
    });
    run("syslog udp", SyslogSink::udp(udp_addr)?, &records);

    let subscriber = tracing_subscriber::fmt().json().with_writer(std::io::sink).finish();
    tracing::subscriber::with_default(subscriber, || {
        run("tracing -> fmt json (discarded)", TracingSink::new(), &records);
    });

    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
