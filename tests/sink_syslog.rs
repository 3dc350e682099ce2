//! The syslog sink: RFC 5424 validity (property tests over real sockets) and
//! delivery to a real syslog-ng over UDP, TCP, TLS and a Unix socket.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use privlog::sink::{DropReason, Facility, Ledger, Severity, Sink, SyslogSink};
use privlog::{MasterKey, Outcome, Record};
use proptest::prelude::*;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tower::{Layer, ServiceExt};

// ---------------------------------------------------------------------------
// A strict RFC 5424 validator.

/// The parts of a valid message.
#[derive(Debug)]
struct Parsed {
    pri: u8,
    hostname: String,
    app_name: String,
    procid: String,
    msgid: String,
    /// SD-ID → (name → unescaped value)
    sd: BTreeMap<String, BTreeMap<String, String>>,
    msg: Vec<u8>,
    bom: bool,
}

fn is_print_ascii(b: u8) -> bool {
    (33..=126).contains(&b)
}

fn header_field(s: &[u8], max: usize, what: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > max || !s.iter().all(|&b| is_print_ascii(b)) {
        return Err(format!(
            "{what} {:?} not 1..{max} printable US-ASCII",
            String::from_utf8_lossy(s)
        ));
    }
    Ok(String::from_utf8_lossy(s).into_owned())
}

fn has_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
}

/// Checks `m` against RFC 5424's ABNF (§6) and returns its parts.
fn validate(m: &[u8]) -> Result<Parsed, String> {
    let text = std::str::from_utf8(m).map_err(|e| format!("not UTF-8: {e}"))?;
    if has_control(text) {
        return Err("control character in message".into());
    }
    let rest = m.strip_prefix(b"<").ok_or("no '<'")?;
    let close = rest.iter().position(|&b| b == b'>').ok_or("no '>'")?;
    let pri_s = &rest[..close];
    if pri_s.is_empty()
        || pri_s.len() > 3
        || !pri_s.iter().all(u8::is_ascii_digit)
        || (pri_s.len() > 1 && pri_s[0] == b'0')
    {
        return Err(format!("bad PRI {:?}", String::from_utf8_lossy(pri_s)));
    }
    let pri: u16 = std::str::from_utf8(pri_s)
        .map_err(|e| e.to_string())?
        .parse()
        .map_err(|e| format!("{e}"))?;
    if pri > 191 {
        return Err(format!("PRI {pri} > 191"));
    }
    let rest = rest[close + 1..].strip_prefix(b"1 ").ok_or("VERSION is not 1")?;
    let mut parts = rest.splitn(6, |&b| b == b' ');
    let ts = parts.next().ok_or("no TIMESTAMP")?;
    if ts != b"-" {
        let ts = std::str::from_utf8(ts).map_err(|e| e.to_string())?;
        OffsetDateTime::parse(ts, &Rfc3339).map_err(|e| format!("TIMESTAMP {ts:?}: {e}"))?;
        // RFC 5424 forbids leap seconds and allows at most 6 fraction digits, upper-case T and Z.
        let frac = ts
            .split_once('.')
            .map_or("", |(_, f)| f.trim_end_matches(|c: char| !c.is_ascii_digit()));
        if frac.len() > 6 || ts.contains('t') || ts.contains('z') {
            return Err(format!("TIMESTAMP {ts:?} outside RFC 5424"));
        }
    }
    let hostname = header_field(parts.next().ok_or("no HOSTNAME")?, 255, "HOSTNAME")?;
    let app_name = header_field(parts.next().ok_or("no APP-NAME")?, 48, "APP-NAME")?;
    let procid = header_field(parts.next().ok_or("no PROCID")?, 128, "PROCID")?;
    let msgid = header_field(parts.next().ok_or("no MSGID")?, 32, "MSGID")?;
    let rest = parts.next().ok_or("no STRUCTURED-DATA")?;
    let (sd, rest) = structured_data(rest)?;
    let msg = match rest {
        [] => Vec::new(),
        [b' ', msg @ ..] => msg.to_vec(),
        _ => return Err("no space before MSG".into()),
    };
    let bom = msg.starts_with(b"\xef\xbb\xbf");
    Ok(Parsed {
        pri: pri as u8,
        hostname,
        app_name,
        procid,
        msgid,
        sd,
        msg: if bom { msg[3..].to_vec() } else { msg },
        bom,
    })
}

type Sd = BTreeMap<String, BTreeMap<String, String>>;

fn sd_name(s: &[u8], i: &mut usize) -> Result<String, String> {
    let start = *i;
    while *i < s.len() && is_print_ascii(s[*i]) && !matches!(s[*i], b'=' | b']' | b'"') {
        *i += 1;
    }
    let n = &s[start..*i];
    if n.is_empty() || n.len() > 32 {
        return Err(format!("SD-NAME {:?} not 1..32 characters", String::from_utf8_lossy(n)));
    }
    Ok(String::from_utf8_lossy(n).into_owned())
}

fn structured_data(s: &[u8]) -> Result<(Sd, &[u8]), String> {
    let mut sd = Sd::new();
    if let Some(rest) = s.strip_prefix(b"-") {
        return Ok((sd, rest));
    }
    let mut i = 0;
    if s.first() != Some(&b'[') {
        return Err("STRUCTURED-DATA is neither '-' nor '['".into());
    }
    while s.get(i) == Some(&b'[') {
        i += 1;
        let id = sd_name(s, &mut i)?;
        let mut params = BTreeMap::new();
        loop {
            match s.get(i) {
                Some(b']') => {
                    i += 1;
                    break;
                }
                Some(b' ') => {
                    i += 1;
                    let name = sd_name(s, &mut i)?;
                    if s.get(i..i + 2) != Some(b"=\"") {
                        return Err(format!("SD-PARAM {name} without =\""));
                    }
                    i += 2;
                    let mut value = Vec::new();
                    loop {
                        match s.get(i) {
                            None => return Err("unterminated PARAM-VALUE".into()),
                            Some(b'"') => {
                                i += 1;
                                break;
                            }
                            Some(b'\\') => {
                                match s.get(i + 1) {
                                    Some(&c @ (b'"' | b'\\' | b']')) => value.push(c),
                                    _ => return Err("backslash not escaping '\"', '\\' or ']'".into()),
                                }
                                i += 2;
                            }
                            Some(b']') => return Err("unescaped ']' in PARAM-VALUE".into()),
                            Some(&c) => {
                                value.push(c);
                                i += 1;
                            }
                        }
                    }
                    let value = String::from_utf8(value).map_err(|e| format!("PARAM-VALUE not UTF-8: {e}"))?;
                    params.insert(name, value);
                }
                _ => return Err("SD-ELEMENT not closed".into()),
            }
        }
        sd.insert(id, params);
    }
    Ok((sd, &s[i..]))
}

// ---------------------------------------------------------------------------
// Records.

fn record(path: &str) -> Record {
    let mut r = Record::new(
        OffsetDateTime::from_unix_timestamp(1_795_340_000).expect("ts") + time::Duration::milliseconds(123),
        "GET",
        path,
    );
    r.client = Some("203.0.113.0/24".into());
    r.route = Some("/items/{id}".into());
    r.status = Some(200);
    r.resp_bytes = 512;
    r.duration_us = 910;
    r.epoch = "2026-11".into();
    r.kid = "k_5d1f0a9c".into();
    r
}

/// Paths that stress the escaping: quotes, backslashes, brackets, non-ASCII.
fn tricky_paths() -> Vec<String> {
    vec![
        "/plain".into(),
        r#"/q"uote"#.into(),
        r"/back\slash\".into(),
        "/br]ack[et]".into(),
        "/caf\u{e9}/\u{65e5}\u{672c}".into(),
        r#"/all"\]mixed\"]"#.into(),
    ]
}

/// What the validator and a receiver should see in the SD `path` value.
/// Control characters (and U+2028/9, U+FEFF) removed, cut to 256 bytes at a
/// character boundary.
fn sd_path(path: &str) -> String {
    let mut out = String::new();
    for c in path
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}'))
    {
        if out.len() + c.len_utf8() > 256 {
            break;
        }
        out.push(c);
    }
    out
}

fn arb_record() -> impl Strategy<Value = Record> {
    let text = proptest::collection::vec(
        prop_oneof![
            any::<char>(),
            Just('"'),
            Just('\\'),
            Just(']'),
            Just('\n'),
            Just('\u{85}'),
            Just('\u{2028}'),
            Just('\u{feff}'),
        ],
        0..300,
    )
    .prop_map(|v| v.into_iter().collect::<String>());
    (
        text.clone(),
        proptest::option::of(text.clone()),
        text,
        any::<Option<u16>>(),
        any::<u64>(),
    )
        .prop_map(|(path, route, method, status, d)| {
            let mut r = Record::new(
                OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds((d % (1 << 40)) as i64),
                method,
                path,
            );
            r.route = route;
            r.status = status;
            r.duration_us = d;
            r.outcome = [Outcome::Completed, Outcome::Aborted, Outcome::Error][(d % 3) as usize];
            r
        })
}

fn arb_header() -> impl Strategy<Value = (String, String, String, String)> {
    let any_text = ".{0,300}";
    (any_text, any_text, any_text, any_text)
}

fn configure(sink: SyslogSink, h: &(String, String, String, String)) -> SyslogSink {
    sink.hostname(&h.0).app_name(&h.1).procid(&h.2).msgid(&h.3)
}

fn recv_datagrams(sock: &UdpSocket, n: usize) -> Vec<Vec<u8>> {
    sock.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut buf = vec![0u8; 70_000];
    (0..n)
        .map(|_| {
            let len = sock.recv(&mut buf).expect("datagram");
            buf[..len].to_vec()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// UDP: one valid message per datagram, whatever the record and header.
    #[test]
    fn every_udp_datagram_is_one_valid_rfc5424_message(
        records in proptest::collection::vec(arb_record(), 1..8),
        header in arb_header(),
    ) {
        let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = server.local_addr().expect("addr").to_string();
        let mut sink = configure(SyslogSink::udp(addr).expect("sink").max_message_len(65_000), &header);
        let ledger = Ledger::detached("syslog");
        sink.attach(ledger.clone());
        sink.write(&records).expect("write");
        for (m, r) in recv_datagrams(&server, records.len()).iter().zip(&records) {
            let p = validate(m).map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(m))))?;
            prop_assert_eq!(p.pri, 16 * 8 + 6);
            let back: Record = serde_json::from_slice(&p.msg).expect("MSG is the record's JSON");
            prop_assert_eq!(back.duration_us, r.duration_us);
            prop_assert_eq!(&p.sd["privlog@32473"]["path"], &sd_path(&r.path));
            prop_assert_eq!(p.bom, !p.msg.is_ascii());
        }
        prop_assert_eq!(ledger.stats().delivered, records.len() as u64);
    }

    /// TCP: octet-counted frames, each exactly one valid message.
    #[test]
    fn every_tcp_frame_is_one_valid_rfc5424_message(
        records in proptest::collection::vec(arb_record(), 1..8),
        header in arb_header(),
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let mut sink = configure(SyslogSink::tcp(addr).expect("sink").max_message_len(65_000), &header);
        let ledger = Ledger::detached("syslog");
        sink.attach(ledger.clone());
        sink.write(&records).expect("write");
        sink.close(Instant::now()).expect("close");
        let (conn, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(conn);
        let mut frames = Vec::new();
        loop {
            let mut len = Vec::new();
            if reader.read_until(b' ', &mut len).expect("read") == 0 {
                break;
            }
            let len: usize = std::str::from_utf8(&len[..len.len() - 1]).expect("ascii").parse().expect("MSG-LEN");
            let mut msg = vec![0u8; len];
            reader.read_exact(&mut msg).expect("whole frame");
            frames.push(msg);
        }
        prop_assert_eq!(frames.len(), records.len());
        for m in &frames {
            validate(m).map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(m))))?;
        }
        prop_assert_eq!(ledger.stats().delivered, records.len() as u64);
    }
}

#[test]
fn header_fields_are_cut_to_their_rfc_limits() {
    let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut sink = SyslogSink::udp(server.local_addr().expect("addr").to_string())
        .expect("sink")
        .hostname(&"h".repeat(300))
        .app_name(&"a".repeat(300))
        .procid(&"p".repeat(300))
        .msgid("m s\u{e9}g");
    sink.attach(Ledger::detached("syslog"));
    sink.write(&[record("/x")]).expect("write");
    let m = &recv_datagrams(&server, 1)[0];
    let p = validate(m).expect("valid");
    assert_eq!((p.hostname.len(), p.app_name.len(), p.procid.len()), (255, 48, 128));
    assert_eq!(p.msgid, "m_s_g");
}

#[test]
fn too_long_messages_are_dropped_and_counted() {
    let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut sink = SyslogSink::udp(server.local_addr().expect("addr").to_string())
        .expect("sink")
        .max_message_len(600);
    let ledger = Ledger::detached("syslog");
    sink.attach(ledger.clone());
    sink.write(&[record("/short"), record(&format!("/{}", "x".repeat(1000)))])
        .expect("write");
    assert_eq!(recv_datagrams(&server, 1).len(), 1);
    let s = ledger.stats();
    assert_eq!((s.delivered, s.dropped_for(DropReason::Other("too_long"))), (1, 1));
}

#[test]
fn unreachable_server_drops_are_counted_with_an_error_naming_the_address() {
    // A port nobody listens on: bind, note it, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut sink = SyslogSink::tcp(format!("127.0.0.1:{port}")).expect("sink");
    let ledger = Ledger::detached("syslog");
    sink.attach(ledger.clone());
    let err = sink.write(&[record("/a"), record("/b")]).expect_err("nothing listens");
    assert!(err.to_string().contains(&format!("tcp://127.0.0.1:{port}")), "{err}");
    // Within the back-off the next batch is dropped without a new attempt.
    sink.write(&[record("/c")]).expect_err("still backing off");
    let s = ledger.stats();
    assert_eq!((s.delivered, s.dropped_for(DropReason::Other("unreachable"))), (0, 3));
}

#[test]
fn address_without_port_is_refused_with_an_example() {
    let err = SyslogSink::tcp("localhost").expect_err("no port");
    assert!(err.to_string().contains("host:port"), "{err}");
    assert!(err.to_string().contains("127.0.0.1:601"), "{err}");
}

// ---------------------------------------------------------------------------
// The real peer: syslog-ng.

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/peers/syslog-ng.sh")
}

struct SyslogNg {
    dir: PathBuf,
    env: BTreeMap<String, String>,
}

impl SyslogNg {
    /// Starts syslog-ng in a fresh temp dir, on the given ports if any.
    fn start(tag: &str, ports: &[(&str, String)]) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("privlog-syslog-ng-{tag}-{}-{nanos}", std::process::id()));
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(&dir)
            .envs(ports.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("run scripts/peers/syslog-ng.sh");
        assert!(
            out.status.success(),
            "syslog-ng could not be started (install it with scripts/install-peers.sh, \
             Debian package syslog-ng-core): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env = std::fs::read_to_string(dir.join("ports.env"))
            .expect("ports.env")
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect();
        SyslogNg { dir, env }
    }

    fn addr(&self, key: &str) -> String {
        format!("127.0.0.1:{}", self.env[key])
    }

    /// Waits (bounded) until `file` has `n` messages, and returns them.
    fn received(&self, file: &str, n: usize) -> Vec<Value> {
        let path = self.dir.join(file);
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let lines: Vec<Value> = std::fs::read_to_string(&path)
                .unwrap_or_default()
                .lines()
                .map(|l| serde_json::from_str(l).expect("syslog-ng wrote JSON"))
                .collect();
            if lines.len() >= n || Instant::now() > until {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&self) {
        let _ = Command::new("bash").arg(script()).arg("stop").arg(&self.dir).status();
    }
}

impl Drop for SyslogNg {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends the tricky records and checks what syslog-ng parsed.
fn roundtrip(ng: &SyslogNg, mut sink: SyslogSink, file: &str) {
    let sink_ledger = Ledger::detached("syslog");
    sink.attach(sink_ledger.clone());
    let records: Vec<Record> = tricky_paths().iter().map(|p| record(p)).collect();
    sink = sink.facility(Facility::Local3).severity(Severity::Notice);
    sink.write(&records).expect("write");
    sink.write(&records[..2]).expect("second batch");
    sink.close(Instant::now() + Duration::from_secs(5)).expect("close");
    let got = ng.received(file, records.len() + 2);
    assert_eq!(got.len(), records.len() + 2, "{got:?}");
    for (m, r) in got.iter().zip(records.iter().chain(&records[..2])) {
        let raw = m["RAWMSG"].as_str().expect("RAWMSG");
        let p = validate(raw.as_bytes()).unwrap_or_else(|e| panic!("{e}: {raw}"));
        assert_eq!(m["PRI"], (19 * 8 + 5).to_string());
        assert_eq!(m["FACILITY"], "local3");
        assert_eq!(m["SEVERITY"], "notice");
        assert_eq!(m["HOST"], "web-1");
        assert_eq!(m["PROGRAM"], "billing");
        assert_eq!(m["PID"], "77");
        assert_eq!(m["MSGID"], "request");
        let back: Record = serde_json::from_str(m["MESSAGE"].as_str().expect("MESSAGE")).expect("MSG is a record");
        assert_eq!(&back, r);
        assert_eq!(m["_SDATA"]["privlog@32473"]["path"], r.path.as_str());
        assert_eq!(m["_SDATA"]["privlog@32473"]["status"], "200");
        assert_eq!(p.bom, !r.path.is_ascii());
    }
    let s = sink_ledger.stats();
    assert_eq!((s.delivered, s.dropped_total()), (records.len() as u64 + 2, 0));
}

fn configured(sink: SyslogSink) -> SyslogSink {
    sink.hostname("web-1").app_name("billing").procid("77")
}

#[test]
fn syslog_ng_receives_every_record_over_tcp() {
    let ng = SyslogNg::start("tcp", &[]);
    roundtrip(
        &ng,
        configured(SyslogSink::tcp(ng.addr("TCP_PORT")).expect("sink")),
        "tcp.log",
    );
}

#[test]
fn syslog_ng_receives_every_record_over_udp() {
    let ng = SyslogNg::start("udp", &[]);
    roundtrip(
        &ng,
        configured(SyslogSink::udp(ng.addr("UDP_PORT")).expect("sink")),
        "udp.log",
    );
}

#[test]
fn syslog_ng_receives_every_record_over_a_unix_socket() {
    let ng = SyslogNg::start("unix", &[]);
    roundtrip(
        &ng,
        configured(SyslogSink::unix_datagram(&ng.env["UNIX_SOCKET"])),
        "unix.log",
    );
}

#[test]
fn syslog_ng_receives_every_record_over_a_unix_stream_socket() {
    let ng = SyslogNg::start("unix-stream", &[]);
    roundtrip(
        &ng,
        configured(SyslogSink::unix_stream(&ng.env["UNIX_STREAM_SOCKET"])),
        "unix-stream.log",
    );
}

#[cfg(feature = "syslog-tls")]
#[test]
fn syslog_ng_receives_every_record_over_tls() {
    use privlog::sink::SyslogTls;
    let ng = SyslogNg::start("tls", &[]);
    let tls = SyslogTls::new("localhost")
        .expect("name")
        .ca_file(&ng.env["CA_CERT"])
        .expect("ca");
    roundtrip(
        &ng,
        configured(SyslogSink::tls(ng.addr("TLS_PORT"), tls).expect("sink")),
        "tls.log",
    );
}

#[cfg(feature = "syslog-tls")]
#[test]
fn tls_refuses_a_server_whose_certificate_is_not_trusted() {
    use privlog::sink::SyslogTls;
    let ng = SyslogNg::start("tls-untrusted", &[]);
    // A CA that did not sign the server's certificate.
    let other = SyslogNg::start("tls-other-ca", &[]);
    let tls = SyslogTls::new("localhost")
        .expect("name")
        .ca_file(&other.env["CA_CERT"])
        .expect("ca");
    let mut sink = SyslogSink::tls(ng.addr("TLS_PORT"), tls).expect("sink");
    let ledger = Ledger::detached("syslog");
    sink.attach(ledger.clone());
    let err = sink.write(&[record("/secret")]).expect_err("untrusted server");
    assert!(
        err.to_string().contains("cannot connect to syslog server tls://"),
        "{err}"
    );
    assert_eq!(ledger.stats().dropped_for(DropReason::Other("unreachable")), 1);
    assert!(ng.received("tls.log", 1).is_empty());
}

#[test]
fn tcp_reconnects_after_the_server_restarts_and_counts_what_was_lost() {
    let first = SyslogNg::start("restart-a", &[]);
    let port = first.env["TCP_PORT"].clone();
    let mut sink = SyslogSink::tcp(first.addr("TCP_PORT")).expect("sink");
    let ledger = Ledger::detached("syslog");
    sink.attach(ledger.clone());
    sink.write(&[record("/before")]).expect("write");
    assert_eq!(first.received("tcp.log", 1).len(), 1);
    first.stop();

    let mut sent = 1u64;
    // While the server is down, batches are dropped and counted (the first one
    // may still be taken by the kernel before the reset is seen).
    for _ in 0..3 {
        let _ = sink.write(&[record("/down")]);
        sent += 1;
    }
    let second = SyslogNg::start("restart-b", &[("TCP_PORT", port)]);
    // Bounded: the back-off after three failures is at most a few seconds.
    let until = Instant::now() + Duration::from_secs(30);
    let mut after = 0u64;
    while after < 3 && Instant::now() < until {
        if sink.write(&[record("/after")]).is_ok() {
            after += 1;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(after, 3, "the sink reconnected");
    let got = second.received("tcp.log", 3);
    let paths: Vec<&str> = got
        .iter()
        .filter_map(|m| m["_SDATA"]["privlog@32473"]["path"].as_str())
        .collect();
    assert_eq!(paths, ["/after"; 3]);
    let s = ledger.stats();
    assert_eq!(s.delivered + s.dropped_total(), sent, "{s:?}");
    assert!(s.dropped_for(DropReason::Other("unreachable")) >= 2, "{s:?}");
}

#[test]
fn requests_through_the_pipeline_reach_syslog_ng_and_balance() {
    let ng = SyslogNg::start("pipeline", &[]);
    let sink = SyslogSink::tcp(ng.addr("TCP_PORT")).expect("sink");
    let (layer, guard) = privlog::builder()
        .key(MasterKey::from_bytes([9; 32]))
        .sink(sink)
        .build()
        .expect("build");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let svc = layer.layer(tower::service_fn(|_req: http::Request<_>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
        }));
        for i in 0..50 {
            let req = http::Request::get(format!("/items/{i}"))
                .body(Full::new(Bytes::new()))
                .expect("request");
            let resp = svc.clone().oneshot(req).await.expect("infallible");
            resp.into_body().collect().await.expect("body");
        }
    });
    let report = guard.shutdown_within(Duration::from_secs(30));
    assert!(report.complete);
    assert!(report.stats.is_balanced(), "{:?}", report.stats);
    assert_eq!(report.stats.sinks[0].delivered, 50);
    let got = ng.received("tcp.log", 50);
    assert_eq!(got.len(), 50);
    for m in &got {
        validate(m["RAWMSG"].as_str().expect("raw").as_bytes()).expect("valid RFC 5424");
    }
}
