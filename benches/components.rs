//! What each step of sanitizing a record costs, in ns per operation: the
//! keyed pseudonym, path scrubbing, the JWT peek, the IP policy, resolving
//! the client through 32 trusted forwarding hops with 1, 1 000 and the most
//! trusted-proxy entries, the query filter and the NDJSON encoding (with
//! serde_json for comparison).
//!
//! ```sh
//! cargo bench --bench components
//! ```

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use criterion::Criterion;
use privlog::policy::{MAX_TRUSTED_PROXIES, resolve_client, xff_hops};
use privlog::record::write_ndjson;
use privlog::{
    IpPolicy, MasterKey, Outcome, Policy, Pseudonymizer, Purpose, Record, Rotation, TrustedProxies, peek_jwt,
    scrub_path,
};
use time::OffsetDateTime;

/// `{"sub":"557058:f0e1d2c3-…","iss":"jira:1f4c6d0e-…","qsh":"…","iat":…,"exp":…}`
const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI1NTcwNTg6ZjBlMWQyYzMtYjRhNS00Njk3LTg4OTktYWFiYmNjZGRlZWZmIiwiaXNzIjoiamlyYToxZjRjNmQwZS0yYjNhLTRjNWQtOGU5Zi0wYTFiMmMzZDRlNWYiLCJxc2giOiI4MDYzZmYyYmQwYjE2NjdjNWE3NDdmMmQ0ZTdjNjYxNTYwMjFjNmM2NTc1NDRjZDliMmFhMWY4ZDFlNTFlYzhmIiwiaWF0IjoxNzk1MDAwMDAwLCJleHAiOjE3OTUwMDAxODB9.c2lnbmF0dXJlLW5vdC1jaGVja2Vk";

fn record() -> Record {
    let ts = OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let mut r = Record::new(ts, "GET", "/rest/api/3/issue/{key}/comment");
    r.client = Some("203.0.113.0/24".into());
    r.query = Some("lic=active&cv=1001.0.0".into());
    r.status = Some(200);
    r.resp_bytes = 1234;
    r.ttfb_us = Some(180);
    r.duration_us = 240;
    r.outcome = Outcome::Completed;
    r.account = Some("q7Zr0m2bXb1mB7cN1h6Xkw".into());
    r.tenant = Some("Vb3Jd1dQ8lq0zYwA2o9Qjg".into());
    r.epoch = "2026-11".into();
    r.kid = "k_1f0e2d3c".into();
    r
}

fn components(c: &mut Criterion) {
    let key = MasterKey::from_bytes([7; 32]);
    let pseudo = Pseudonymizer::new(&key);
    let ts = OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let keys = pseudo.epoch_keys(&Rotation::Monthly.epoch_of(ts));

    let mut g = c.benchmark_group("component");
    g.bench_function("pseudonym/account", |b| {
        b.iter(|| {
            keys.pseudonym(
                Purpose::Account,
                black_box("557058:f0e1d2c3-b4a5-4697-8899-aabbccddeeff"),
            )
        })
    });
    g.bench_function("scrub_path/ids", |b| {
        b.iter(|| scrub_path(black_box("/rest/api/3/issue/PROJ-123/comment/10042")).path)
    });
    g.bench_function("scrub_path/email+account", |b| {
        b.iter(|| {
            scrub_path(black_box(
                "/rest/accounts/557058:f0e1d2c3-b4a5-4697-8899-aabbccddeeff/mail/jane@example.com",
            ))
            .path
        })
    });
    g.bench_function("peek_jwt", |b| b.iter(|| peek_jwt(black_box(JWT))));
    let v4 = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));
    let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 3, 4, 5, 6));
    let truncate = IpPolicy::default();
    g.bench_function("ip/truncate_v4", |b| b.iter(|| truncate.apply(black_box(v4), &keys)));
    g.bench_function("ip/truncate_v6", |b| b.iter(|| truncate.apply(black_box(v6), &keys)));
    g.bench_function("ip/pseudonymize_v4", |b| {
        b.iter(|| IpPolicy::Pseudonymize.apply(black_box(v4), &keys))
    });
    // The worst case: a trusted peer and a full chain of trusted hops, each
    // looked up among `n` networks that do not touch (no merging).
    for n in [1, 1000, MAX_TRUSTED_PROXIES] {
        let nets: Vec<String> = (0..n as u32)
            .map(|i| Ipv4Addr::from(0x0a00_0000 + (i << 9)).to_string() + "/24")
            .collect();
        let trusted = TrustedProxies::parse(&nets).expect("networks");
        let peer = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        let chain = vec!["10.0.0.7"; privlog::policy::MAX_HOPS].join(", ");
        let values: Vec<&[u8]> = vec![chain.as_bytes()];
        g.bench_function(format!("trusted_proxies/32_hops/{n}_entries"), |b| {
            b.iter(|| resolve_client(black_box(peer), &trusted, xff_hops(black_box(&values))))
        });
    }
    let connect = Policy::atlassian_connect();
    let query = connect.get_query();
    g.bench_function("query/connect_filter", |b| {
        b.iter(|| {
            query.filter(black_box(
                "lic=active&cv=1001.0.0&xdm_e=https%3A%2F%2Facme.atlassian.net&jwt=abc.def.ghi",
            ))
        })
    });
    let rec = record();
    let mut buf = Vec::with_capacity(1024);
    g.bench_function("encode/privlog", |b| {
        b.iter(|| {
            buf.clear();
            write_ndjson(black_box(&rec), &mut buf);
            buf.len()
        })
    });
    g.bench_function("encode/serde_json", |b| {
        b.iter(|| {
            buf.clear();
            serde_json::to_writer(&mut buf, black_box(&rec)).expect("serializable");
            buf.push(b'\n');
            buf.len()
        })
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    components(&mut c);
    c.final_summary();
}
