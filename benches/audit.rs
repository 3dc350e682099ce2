//! Throughput of `privlog audit`'s scanner.
//!
//! ```sh
//! cargo bench --features cli --bench audit
//! ```
//!
//! Two inputs of 16 MiB each: an nginx combined-format access log (full IPs,
//! a planted e-mail, JWT or token on some lines) and privlog NDJSON records.
//! `scan_line` runs on one core; `audit_files` reads a file and scans it on
//! every core.

// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::io::Write as _;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use privlog::audit::{AuditOptions, audit_files, scan_line};

const UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const SIZE: usize = 16 << 20;

fn access_log() -> Vec<u8> {
    let mut out = Vec::with_capacity(SIZE + 512);
    let mut i = 0u64;
    while out.len() < SIZE {
        i += 1;
        let path = match i % 50 {
            0 => format!("/rest/users/user{i}@example.com/profile"),
            1 => "/plugin?jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI1NTcwNTg6ZjAwZCJ9.c2lnbmF0dXJl".to_owned(),
            2 => format!("/download?sig=Q2hhbmdlTWVOb3dQbGVhc2U4Nzg5{i:08}"),
            _ => format!("/rest/api/2/issue/PROJ-{}/comments?startAt=0&maxResults=50", i % 9973),
        };
        let _ = writeln!(
            out,
            "198.51.{}.{} - - [22/Nov/2026:09:30:{:02} +0000] \"GET {path} HTTP/1.1\" 200 {} \"https://app.example.com/\" \"{UA}\"",
            (i / 250) % 250,
            i % 250,
            i % 60,
            512 + i % 4096
        );
    }
    out
}

fn records() -> Vec<u8> {
    let mut out = Vec::with_capacity(SIZE + 512);
    let mut i = 0u64;
    while out.len() < SIZE {
        i += 1;
        let _ = writeln!(
            out,
            "{{\"v\":1,\"ts\":\"2026-11-22T09:30:00.{:03}Z\",\"client\":\"203.0.113.0/24\",\"method\":\"GET\",\"route\":\"/rest/accounts/{{account_id}}/history\",\"path\":\"/rest/accounts/{{account_id}}/history\",\"query\":\"lic=active&cv=1.0\",\"status\":200,\"req_bytes\":0,\"resp_bytes\":{},\"ttfb_us\":840,\"duration_us\":910,\"outcome\":\"completed\",\"proto\":\"HTTP/1.1\",\"account\":\"3q2x9Vd1kQ0bZg7mH4sT1A\",\"tenant\":\"Jp0cX8aWm3nR5yE2uK9fLw\",\"epoch\":\"2026-11\",\"kid\":\"k_5d1f0a9c\"}}",
            i % 1000,
            i % 9000
        );
    }
    out
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("privlog-bench-audit-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let mut group = c.benchmark_group("audit");
    group.sample_size(10);
    for (name, data) in [("access_log", access_log()), ("privlog_records", records())] {
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(format!("scan_line/{name}"), |b| {
            b.iter(|| {
                let mut n = 0u64;
                for line in data.split(|c| *c == b'\n') {
                    scan_line(black_box(line), &mut |_| n += 1);
                }
                n
            })
        });
        let file = dir.join(format!("{name}.log"));
        let _ = std::fs::write(&file, &data);
        let files = vec![file];
        group.bench_function(format!("audit_files/{name}"), |b| {
            b.iter(|| audit_files(black_box(&files), &AuditOptions::default()).map(|r| r.total()))
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
