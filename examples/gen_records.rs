//! Writes realistic privlog records (NDJSON) for benchmarks and demos:
//! Atlassian-Connect-style routes with a long tail, a few thousand account
//! pseudonyms over a few hundred tenants, mostly-2xx statuses and log-normal
//! latencies, spread over 30 days.
//!
//! ```sh
//! cargo run --release --example gen_records -- --bytes 1000000000 > /tmp/records.ndjson
//! cargo run --example gen_records -- --records 5000 --days 7 --seed 3 > sample.ndjson
//! ```

use std::io::{BufWriter, Write};

use privlog::{AccountSource, Outcome, Record};
use time::{Duration, OffsetDateTime};

const ROUTES: &[(&str, &str)] = &[
    ("GET", "/rest/issues/{id}"),
    ("GET", "/rest/issues/{id}/comments"),
    ("POST", "/rest/issues/{id}/comments"),
    ("GET", "/panel/issue-glance"),
    ("GET", "/rest/accounts/{account_id}/history"),
    ("GET", "/macro/render"),
    ("POST", "/installed"),
    ("POST", "/uninstalled"),
    ("GET", "/health"),
    ("GET", "/rest/search"),
    ("PUT", "/rest/settings"),
    ("GET", "/rest/settings"),
    ("GET", "/dashboard/gadget/{gadget_id}"),
    ("DELETE", "/rest/issues/{id}/comments/{comment_id}"),
    ("GET", "/rest/projects/{project_key}/report"),
    ("POST", "/webhooks/issue-updated"),
    ("GET", "/static/app.js"),
    ("GET", "/rest/export/{uuid}"),
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: fast and good enough for synthetic data.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Zipf-like pick: index i with weight 1/(i+1).
    fn zipf(&mut self, n: usize) -> usize {
        let h: f64 = (1..=n).map(|i| 1.0 / i as f64).sum();
        let mut x = self.unit() * h;
        for i in 0..n {
            x -= 1.0 / (i + 1) as f64;
            if x <= 0.0 {
                return i;
            }
        }
        n - 1
    }
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.unit().max(1e-12), self.unit());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

fn pseudonym(prefix: &str, n: u64) -> String {
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5bd1_e995;
    let mut s = String::from(prefix);
    for _ in 0..22 {
        x = x.rotate_left(7).wrapping_mul(0xff51_afd7_ed55_8ccd) ^ n;
        s.push(ALPHA[(x >> 58) as usize] as char);
    }
    s
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str, default: u64| -> Result<u64, Box<dyn std::error::Error>> {
        match args.iter().position(|a| a == name) {
            Some(i) => Ok(args.get(i + 1).ok_or(format!("{name} needs a value"))?.parse()?),
            None => Ok(default),
        }
    };
    let bytes = opt("--bytes", 0)?;
    let records = opt("--records", if bytes == 0 { 100_000 } else { u64::MAX })?;
    let days = opt("--days", 30)?.max(1);
    let accounts = opt("--accounts", 5_000)?.max(1);
    let tenants = opt("--tenants", 300)?.max(1);
    let mut rng = Rng(opt("--seed", 42)?.max(1));

    let start = OffsetDateTime::from_unix_timestamp(1_793_491_200)?; // 2026-11-01T00:00:00Z
    let span_ms = days * 86_400_000;
    let step = span_ms as f64
        / if bytes > 0 {
            bytes as f64 / 330.0
        } else {
            records as f64
        };
    let tenant_names: Vec<String> = (0..tenants).map(|t| pseudonym("ten_", t)).collect();
    let account_names: Vec<String> = (0..accounts).map(|a| pseudonym("acc_", a)).collect();
    let out = std::io::stdout();
    let mut w = BufWriter::with_capacity(1 << 20, out.lock());
    let mut buf = Vec::with_capacity(1 << 16);
    let (mut written, mut n, mut t_ms) = (0u64, 0u64, 0f64);
    while n < records && (bytes == 0 || written < bytes) {
        t_ms += step * (0.5 + rng.unit());
        let ts = start + Duration::milliseconds((t_ms as u64 % span_ms) as i64);
        let (method, route) = ROUTES[rng.zipf(ROUTES.len())];
        let mut r = Record::new(ts, method, route);
        r.route = Some(route.to_owned());
        r.client = Some(format!("203.0.{}.0/24", rng.next() % 256));
        let x = rng.unit();
        r.status = Some(match x {
            x if x < 0.90 => 200,
            x if x < 0.93 => 201,
            x if x < 0.95 => 304,
            x if x < 0.975 => 404,
            x if x < 0.985 => 401,
            x if x < 0.995 => 500,
            _ => 503,
        });
        let latency = (7.3 + 0.9 * rng.normal()).exp() as u64; // median ~1.5 ms
        r.duration_us = latency.max(30);
        r.ttfb_us = Some(r.duration_us * 9 / 10);
        r.req_bytes = if method == "GET" { 0 } else { 200 + rng.next() % 4000 };
        r.resp_bytes = 100 + rng.next() % 20_000;
        if rng.unit() < 0.002 {
            r.outcome = Outcome::Aborted;
        }
        if route != "/health" {
            let tenant = rng.zipf(tenants as usize);
            r.tenant = Some(tenant_names[tenant].clone());
            let acc = (tenant as u64 * 17 + rng.zipf(64) as u64 * 31 + rng.next() % 3) % accounts;
            r.account = Some(account_names[acc as usize].clone());
            // The app signs its users in and names them with `AccountId`.
            r.account_src = Some(AccountSource::App);
        }
        r.epoch = format!("{}-{:02}", ts.year(), u8::from(ts.month()));
        r.kid = "k_5d1f0a9c".into();
        buf.clear();
        privlog::record::write_ndjson(&r, &mut buf);
        w.write_all(&buf)?;
        written += buf.len() as u64;
        n += 1;
    }
    w.flush()?;
    eprintln!("gen_records: {n} records, {written} bytes");
    Ok(())
}
