//! Per-destination field minimization: a sink given a field set never
//! receives the omitted fields, in any encoding, while the sinks beside it
//! get everything; the ledgers stay balanced.

mod support;

use std::io::Write;
use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use privlog::config::Config;
use privlog::sink::http::{ClickHouse, Elasticsearch, Encoder, Loki, Ndjson, Otlp};
use privlog::sink::{MemorySink, Minimized, Sink, SyslogSink, TracingSink};
use privlog::{AccountSource, Field, Fields, Outcome, Purpose, Record};
use proptest::prelude::*;
use time::OffsetDateTime;

use support::addon::{KEY, Server, addon, expected_pseudonym};
use support::cli;
use support::client::{empty, get, send};
use support::files::TempDir;
use support::jwt::connect_jwt;

const CLIENT_KEY: &str = "c8a7d2f1-5b3e-4c9a-8e7d-6f5a4b3c2d1e";

fn key_hex() -> String {
    KEY.iter().map(|b| format!("{b:02x}")).collect()
}

fn macro_request(addr: std::net::SocketAddr, account: &str) -> Request<Full<Bytes>> {
    let jwt = connect_jwt(account, CLIENT_KEY);
    get(addr, &format!("/macro?lic=active&jwt={jwt}"))
        .body(empty())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_party_syslog_sink_without_account_and_tenant_never_receives_them_while_the_file_sink_does() {
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    udp.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout");
    let dir = TempDir::new("minimized");
    let log = dir.path().join("records.ndjson");
    let text = format!(
        "[key]\nenv = \"TEST_PRIVLOG_KEY\"\n[policy]\npreset = \"atlassian-connect\"\nrotation = \"monthly\"\n\
         [[sinks]]\ntype = \"file\"\npath = {:?}\n\
         [[sinks]]\ntype = \"syslog\"\ntransport = \"udp\"\naddress = \"{}\"\nomit = [\"account\", \"tenant\"]\n",
        log.display().to_string(),
        udp.local_addr().expect("addr")
    );
    let cfg = Config::from_toml(&text, [("TEST_PRIVLOG_KEY".to_owned(), key_hex())]).expect("config");
    assert_eq!(cfg.fields_of(0), Fields::all());
    assert_eq!(
        cfg.fields_of(1),
        Fields::all().without(Field::Account).without(Field::Tenant)
    );
    let (layer, guard) = cfg.build().expect("build");
    let s = Server::serve(addon(layer.clone()), layer, guard, MemorySink::new(), log.clone(), dir).await;
    let accounts = ["557058:aaaa", "557058:bbbb", "557058:cccc"];
    for a in accounts {
        let (res, _) = send(s.addr, macro_request(s.addr, a)).await;
        assert_eq!(res.status(), 200);
    }
    let (report, file_text) = s.stop().await;

    let mut datagrams = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while datagrams.len() < accounts.len() {
        let n = udp.recv(&mut buf).expect("a syslog message per record");
        datagrams.push(String::from_utf8(buf[..n].to_vec()).expect("utf-8"));
    }
    let lines: Vec<Record> = file_text
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect();
    assert_eq!(lines.len(), accounts.len());
    let tenant = expected_pseudonym(Purpose::Tenant, lines[0].ts, CLIENT_KEY);
    for (r, a) in lines.iter().zip(accounts) {
        let account = expected_pseudonym(Purpose::Account, r.ts, a);
        assert_eq!(
            r.account.as_deref(),
            Some(account.as_str()),
            "the file sink gets the account"
        );
        assert_eq!(
            r.tenant.as_deref(),
            Some(tenant.as_str()),
            "the file sink gets the tenant"
        );
        for d in &datagrams {
            assert!(!d.contains(&account), "account reached syslog: {d}");
            assert!(!d.contains(&tenant), "tenant reached syslog: {d}");
            assert!(!d.contains("\"account_src\":\""), "account_src reached syslog: {d}");
        }
    }
    // The omitted fields are null in the message's JSON; the rest arrives.
    assert!(
        datagrams
            .iter()
            .all(|d| d.contains("/macro") && d.contains("\"account\":null,\"account_src\":null,\"tenant\":null")),
        "{datagrams:?}"
    );
    let stats = report.stats;
    assert!(stats.is_balanced(), "{stats:#?}");
    assert_eq!(stats.sinks.len(), 2);
    for sink in &stats.sinks {
        assert_eq!(sink.delivered, accounts.len() as u64, "{sink:?}");
    }
}

#[test]
fn privlog_check_names_a_bad_field_and_shows_each_sink_s_fields() {
    let dir = TempDir::new("check-fields");
    let bad = "[[sinks]]\ntype = \"stdout\"\nomit = [\"acount\"]\n";
    let out = cli::check(dir.path(), bad, &[]);
    let all = cli::all_output(&out);
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("sinks.stdout.omit") && all.contains("\"acount\""), "{all}");
    assert!(
        all.contains("account_src, tenant"),
        "the valid fields are listed: {all}"
    );

    let required = "[[sinks]]\ntype = \"stdout\"\nomit = [\"ts\"]\n";
    let all = cli::all_output(&cli::check(dir.path(), required, &[]));
    assert!(
        all.contains("`ts` is required in every record and cannot be omitted"),
        "{all}"
    );

    let good = "[[sinks]]\ntype = \"stdout\"\n[[sinks]]\ntype = \"stdout\"\nomit = [\"tenant\", \"client\"]\n";
    let out = cli::check(dir.path(), good, &[]);
    let all = cli::all_output(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("fields: v, ts, client, method"), "{all}");
    assert!(
        all.contains("fields: v, ts, method") && all.contains("omitted: client, tenant"),
        "{all}"
    );
}

// ---------------------------------------------------------------------------
// Every encoding honours the field set.

/// A value no other part of a record can hold.
fn marker(tag: &'static str) -> impl Strategy<Value = String> {
    "[a-z]{16}".prop_map(move |s| format!("{tag}zq{s}"))
}

fn field_set() -> impl Strategy<Value = Fields> {
    proptest::collection::vec(any::<bool>(), Field::ALL.len()).prop_map(|keep| {
        Field::ALL
            .into_iter()
            .zip(keep)
            .fold(Fields::all(), |set, (f, k)| if k { set } else { set.without(f) })
    })
}

fn record() -> impl Strategy<Value = Record> {
    (
        marker("cl"),
        marker("ro"),
        marker("qu"),
        marker("ac"),
        marker("te"),
        any::<bool>(),
    )
        .prop_map(|(client, route, query, account, tenant, with_account)| {
            let mut r = Record::new(OffsetDateTime::UNIX_EPOCH, "GET", "/p/{uuid}");
            r.client = Some(client);
            r.route = Some(format!("/{route}"));
            r.query = Some(format!("k={query}"));
            r.status = Some(200);
            r.ttfb_us = Some(7);
            r.duration_us = 9;
            r.outcome = Outcome::Completed;
            if with_account {
                r.account = Some(account);
                r.account_src = Some(AccountSource::Jwt);
            }
            r.tenant = Some(tenant);
            r.epoch = "2026-11".into();
            r.kid = "k_0123abcd".into();
            r
        })
}

/// The string values of `r`'s omittable fields `fields` leaves out.
fn omitted_values(r: &Record, fields: Fields) -> Vec<String> {
    let mut out = Vec::new();
    for (f, v) in [
        (Field::Client, &r.client),
        (Field::Route, &r.route),
        (Field::Query, &r.query),
        (Field::Account, &r.account),
        (Field::Tenant, &r.tenant),
    ] {
        if !fields.contains(f)
            && let Some(v) = v
        {
            // The route's and query's markers without their `/` and `k=`.
            out.push(v.trim_start_matches('/').trim_start_matches("k=").to_owned());
        }
    }
    out
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn encodings(batch: &[Record]) -> Vec<(&'static str, Vec<u8>)> {
    let encoders: Vec<Box<dyn Encoder>> = vec![
        Box::new(Ndjson::new()),
        Box::new(ClickHouse::new("privlog_requests").expect("table")),
        Box::new(Loki::new().route_label(true)),
        Box::new(Elasticsearch::new()),
        Box::new(Otlp::new()),
    ];
    encoders
        .into_iter()
        .map(|e| {
            let mut out = Vec::new();
            e.encode(batch, &mut out);
            (e.name(), out)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_encoding_leaves_out_the_omitted_fields(
        fields in field_set(),
        batch in proptest::collection::vec(record(), 1..5),
    ) {
        let secrets: Vec<String> = batch.iter().flat_map(|r| omitted_values(r, fields)).collect();
        let kept: Vec<&String> = batch
            .iter()
            .filter_map(|r| r.tenant.as_ref().filter(|_| fields.contains(Field::Tenant)))
            .collect();

        // What the sink receives, and every HTTP encoding of it.
        let mem = MemorySink::new();
        let mut minimized = Minimized::new(mem.clone(), fields);
        minimized.write(&batch).expect("write");
        let received = mem.take();
        prop_assert_eq!(received.len(), batch.len());
        let mut outputs: Vec<(&str, Vec<u8>)> = encodings(&received);
        let mut ndjson = Vec::new();
        for r in &received {
            privlog::record::write_ndjson(r, &mut ndjson);
            prop_assert!(fields.contains(Field::AccountSrc) || r.account_src.is_none());
        }
        outputs.push(("record ndjson", ndjson));

        // Syslog over a real UDP socket.
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
        udp.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let syslog = SyslogSink::udp(udp.local_addr().expect("addr").to_string()).expect("syslog");
        let mut syslog = Minimized::new(syslog, fields);
        syslog.write(&batch).expect("syslog write");
        syslog.flush().expect("flush");
        let mut buf = vec![0u8; 65_536];
        let mut datagrams = Vec::new();
        for _ in 0..batch.len() {
            let n = udp.recv(&mut buf).expect("one datagram per record");
            datagrams.extend_from_slice(&buf[..n]);
            datagrams.push(b'\n');
        }
        outputs.push(("syslog", datagrams));

        // tracing events, as JSON.
        let events = Buffer::default();
        let writer = events.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        let mut tracing_sink = Minimized::new(TracingSink::new(), fields);
        tracing::subscriber::with_default(subscriber, || tracing_sink.write(&batch).expect("tracing write"));
        let traced = events.0.lock().expect("lock").clone();
        prop_assert!(!traced.is_empty());
        outputs.push(("tracing", traced));

        for (name, out) in &outputs {
            let text = String::from_utf8_lossy(out);
            for s in &secrets {
                prop_assert!(!text.contains(s.as_str()), "{} holds omitted {}: {}", name, s, text);
            }
            // Kept fields still arrive (the check above is not vacuous).
            for t in &kept {
                prop_assert!(text.contains(t.as_str()), "{} lost kept tenant {}: {}", name, t, text);
            }
        }
    }
}

/// A sink that only looks at what it receives.
struct Discard(usize);

impl Sink for Discard {
    fn name(&self) -> &str {
        "discard"
    }
    fn write(&mut self, batch: &[Record]) -> Result<(), privlog::sink::SinkError> {
        self.0 += batch.iter().filter(|r| r.account.is_some()).count();
        Ok(())
    }
}

#[test]
fn a_warm_minimized_sink_copies_batches_without_allocating() {
    let batch_of = |offset: usize| -> Vec<Record> {
        (0..64)
            .map(|i| {
                let mut r = Record::new(OffsetDateTime::UNIX_EPOCH, "GET", "/p");
                r.client = Some("203.0.113.0/24".into());
                r.query = Some("lic=active".into());
                // The account comes and goes from one record to the next.
                if (i + offset).is_multiple_of(2) {
                    r.account = Some("acc_0123456789abcdefghij".into());
                    r.account_src = Some(AccountSource::App);
                }
                r.tenant = Some("ten_0123456789abcdefghij".into());
                r
            })
            .collect()
    };
    let (a, b) = (batch_of(0), batch_of(1));
    let mut sink = Minimized::new(Discard(0), Fields::all().without(Field::Tenant));
    // Warm: the buffers and the spare string buffers have grown.
    for _ in 0..2 {
        sink.write(&a).expect("write");
        sink.write(&b).expect("write");
    }
    let mut per_write = Vec::new();
    for _ in 0..10 {
        per_write.push(allocation_counter::measure(|| sink.write(&a).expect("write")).count_total);
        per_write.push(allocation_counter::measure(|| sink.write(&b).expect("write")).count_total);
    }
    assert_eq!(per_write, vec![0; 20], "allocations per write");
    assert_eq!(sink.get_ref().0, 24 * 32, "the kept account arrives");
}
