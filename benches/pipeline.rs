//! The worker's throughput on one core: records sanitized (Atlassian Connect
//! policy: JWT peeked, account and tenant pseudonymized, path scrubbed, query
//! filtered, IP truncated) into the reused records of a batch of 512 as the
//! pipeline does, encoded as NDJSON and written to a file.
//!
//! ```sh
//! cargo bench --features bench --bench pipeline
//! ```
//!
//! Criterion prints `thrpt` in records per second (`elem/s`). Two traffic
//! mixes: the same Connect tokens again and again (an add-on's front end
//! calling its back end with its context token; the worker remembers the
//! claims of recent tokens), and `every token new` (each request signed
//! afresh, so every JWT is decoded). The captures
//! are made before the clock starts; what is timed is exactly the worker's
//! and the file sink's work. `encode/*` compares the crate's NDJSON encoder
//! with serde_json on the same records.

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, Criterion, Throughput};
use http::{HeaderValue, Request, header};
use privlog::pipeline::bench::{BenchSanitizer, RawCapture, capture};
use privlog::record::write_ndjson;
use privlog::{MasterKey, Policy, Record};

/// Records per batch, as the pipeline's default batch size.
const BATCH: usize = 512;
/// The file is emptied (untimed) when it grows past this.
const MAX_FILE: u64 = 256 << 20;

fn jwt(account: usize, tenant: usize, iat: usize) -> String {
    let exp = iat + 180;
    let claims = format!(
        r#"{{"sub":"557058:{account:08x}-b4a5-4697-8899-aabbccddeeff","iss":"jira:{tenant:08x}-2b3a-4c5d-8e9f-0a1b2c3d4e5f","qsh":"8063ff2bd0b1667c5a747f2d4e7c66156021c6c657544cd9b2aa1f8d1e51ec8f","iat":{iat},"exp":{exp}}}"#
    );
    format!(
        "JWT {}.{}.c2lnbmF0dXJl",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims)
    )
}

/// A mix of Connect add-on traffic: `n` distinct requests. With `new_tokens`
/// every JWT is another (an `iat` of its own), as when each request is a page
/// load signed by Atlassian; otherwise the 64 accounts each send one token
/// again and again, as an add-on's front end does with its context token.
fn requests(n: usize, new_tokens: bool) -> Vec<(Request<()>, SocketAddr)> {
    (0..n)
        .map(|i| {
            let uri = match i % 5 {
                0 => format!(
                    "/rest/api/3/issue/PROJ-{i}/comment?lic=active&cv=1001.0.0&xdm_e=https%3A%2F%2Facme.atlassian.net"
                ),
                1 => format!(
                    "/wiki/rest/api/content/{}/child/page?expand=body.storage&lic=active",
                    100_000 + i
                ),
                2 => format!("/rest/accounts/557058:{i:08x}-b4a5-4697-8899-aabbccddeeff/history"),
                3 => format!("/users/jane.doe{i}@example.com/avatar?size=48"),
                _ => "/assets/app.js".to_owned(),
            };
            let mut req = Request::builder().uri(uri);
            if i % 5 != 4 {
                let iat = if new_tokens { 1_795_000_000 + i } else { 1_795_000_000 };
                let value = HeaderValue::from_str(&jwt(i % 64, i % 8, iat)).expect("valid header");
                req = req.header(header::AUTHORIZATION, value);
            }
            let req = req.body(()).expect("valid request");
            let ip = if i % 4 == 0 {
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, i as u16, 0, 0, 0, 0, 1))
            } else {
                IpAddr::V4(Ipv4Addr::new(203, 0, 113, i as u8))
            };
            (req, SocketAddr::new(ip, 40_000))
        })
        .collect()
}

fn batch(reqs: &[(Request<()>, SocketAddr)], from: &mut usize) -> Vec<RawCapture> {
    let now = SystemTime::now();
    (0..BATCH)
        .map(|_| {
            let (req, peer) = &reqs[*from % reqs.len()];
            *from += 1;
            capture(req, *peer, now, 200, 1234)
        })
        .collect()
}

struct Scratch {
    path: PathBuf,
    file: File,
}

impl Scratch {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("privlog-bench-pipeline-{}.ndjson", std::process::id()));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("temp file");
        Scratch { path, file }
    }

    fn keep_small(&self) {
        if self.file.metadata().map(|m| m.len() > MAX_FILE).unwrap_or(false) {
            let _ = self.file.set_len(0);
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn pipeline(c: &mut Criterion) {
    let reqs = requests(256, false);
    // More tokens than the worker remembers: every one is read afresh.
    let fresh = requests(8192, true);
    let key = MasterKey::from_bytes([7; 32]);
    let mut sanitizer = BenchSanitizer::new(Policy::atlassian_connect(), &key).expect("valid policy");
    let scratch = Scratch::new();
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut next = 0;

    let mut group = c.benchmark_group("worker");
    group.throughput(Throughput::Elements(BATCH as u64));
    // The worker fills the records of an earlier batch again.
    let mut reused: Vec<Record> = batch(&reqs, &mut next)
        .into_iter()
        .map(|r| sanitizer.sanitize(r))
        .collect();
    let mut next_fresh = 0;
    for (mix, reqs, next) in [("", &reqs, &mut next), (", every token new", &fresh, &mut next_fresh)] {
        group.bench_function(format!("sanitize+encode+write{mix}"), |b| {
            b.iter_batched_ref(
                || {
                    scratch.keep_small();
                    batch(reqs, next)
                },
                |raws| {
                    for (raw, record) in raws.iter_mut().zip(reused.iter_mut()) {
                        sanitizer.sanitize_into(raw, record);
                    }
                    buf.clear();
                    for record in &reused {
                        write_ndjson(record, &mut buf);
                    }
                    (&scratch.file).write_all(&buf).expect("write");
                },
                BatchSize::LargeInput,
            )
        });
        group.bench_function(format!("sanitize{mix}"), |b| {
            b.iter_batched_ref(
                || batch(reqs, next),
                |raws| {
                    for (raw, record) in raws.iter_mut().zip(reused.iter_mut()) {
                        sanitizer.sanitize_into(raw, record);
                    }
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();

    let records: Vec<Record> = batch(&reqs, &mut next)
        .into_iter()
        .map(|r| sanitizer.sanitize(r))
        .collect();
    let mut group = c.benchmark_group("encode+write");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("privlog", |b| {
        b.iter(|| {
            scratch.keep_small();
            buf.clear();
            for r in &records {
                write_ndjson(black_box(r), &mut buf);
            }
            (&scratch.file).write_all(&buf).expect("write");
        })
    });
    group.bench_function("serde_json", |b| {
        b.iter(|| {
            scratch.keep_small();
            buf.clear();
            for r in &records {
                serde_json::to_writer(&mut buf, black_box(r)).expect("serializable");
                buf.push(b'\n');
            }
            (&scratch.file).write_all(&buf).expect("write");
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    pipeline(&mut c);
    c.final_summary();
}
