//! The syslog sink against a real rsyslog (`rsyslogd -n`, a child of the
//! test, on loopback ports and a Unix socket in a temp dir) with the
//! configuration docs/sinks.md gives: the RFC 5424 parser on every input
//! (imuxsock's own parser would misread the header), and a file template
//! keeping the structured data and the MSG. A missing rsyslog fails.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use privlog::Record;
use privlog::sink::{Sink, SyslogSink};
use support::files::TempDir;
use time::OffsetDateTime;

struct Rsyslog {
    child: Child,
    dir: TempDir,
    udp: u16,
    tcp: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Rsyslog {
    fn start(tag: &str) -> Rsyslog {
        let dir = TempDir::new(tag);
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let tcp = free_port();
        let d = dir.0.display();
        let conf = format!(
            r#"global(workDirectory="{d}")
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
template(name="privlog" type="list") {{
  property(name="structured-data") constant(value="\t")
  property(name="msg" droplastlf="on") constant(value="\n")
}}
ruleset(name="privlog" parser=["rsyslog.rfc5424"]) {{
  action(type="omfile" file="{d}/out.log" template="privlog")
}}
input(type="imudp" address="127.0.0.1" port="{udp}" ruleset="privlog")
input(type="imtcp" address="127.0.0.1" port="{tcp}" ruleset="privlog")
input(type="imuxsock" Socket="{d}/log.sock" UseSpecialParser="off" ParseHostname="on" Ruleset="privlog")
"#
        );
        std::fs::write(dir.join("rsyslog.conf"), conf).unwrap();
        // rsyslog is unpacked beside syslog-ng (the packages conflict).
        let located = Command::new("scripts/peers/rsyslog.sh")
            .arg("locate")
            .output()
            .expect("scripts/peers/rsyslog.sh runs");
        assert!(
            located.status.success(),
            "rsyslogd is a test peer: run scripts/install-peers.sh ({})",
            String::from_utf8_lossy(&located.stderr)
        );
        let located = String::from_utf8_lossy(&located.stdout).into_owned();
        let (bin, moddir) = located
            .trim()
            .split_once(' ')
            .expect("rsyslogd and its module directory");
        let child = Command::new(bin)
            .arg("-M")
            .arg(moddir)
            .arg("-n")
            .arg("-f")
            .arg(dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rsyslogd is a test peer: run scripts/install-peers.sh (Debian package rsyslog)");
        let r = Rsyslog { child, dir, udp, tcp };
        let limit = Instant::now() + support::PATIENCE;
        while !(r.sock().exists() && std::net::TcpStream::connect(("127.0.0.1", tcp)).is_ok()) {
            assert!(Instant::now() < limit, "rsyslogd did not open its inputs");
            std::thread::sleep(Duration::from_millis(20));
        }
        r
    }

    fn sock(&self) -> PathBuf {
        self.dir.join("log.sock")
    }

    /// The lines of the output file once it holds `n`.
    fn received(&self, n: usize) -> Vec<String> {
        let limit = Instant::now() + support::PATIENCE;
        loop {
            let text = std::fs::read_to_string(self.dir.join("out.log")).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(str::to_owned).collect();
            if lines.len() >= n {
                return lines;
            }
            assert!(Instant::now() < limit, "rsyslog wrote {} of {n} lines", lines.len());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn records() -> Vec<Record> {
    ["/items/{id}", "/caf\u{e9}/{uuid}", "/a \"quoted\" ] path"]
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let ts =
                OffsetDateTime::from_unix_timestamp(1_795_340_000).unwrap() + time::Duration::milliseconds(i as i64);
            let mut r = Record::new(ts, "GET", *p);
            r.client = Some("203.0.113.0/24".into());
            r.status = Some(200);
            r.resp_bytes = 512;
            r
        })
        .collect()
}

/// Sends the records and checks what rsyslog filed: the structured data
/// parsed as such, and the MSG that is the record's NDJSON (after the byte
/// order mark RFC 5424 puts before a UTF-8 MSG, which rsyslog keeps).
fn roundtrip(rs: &Rsyslog, mut sink: SyslogSink) {
    let records = records();
    sink.write(&records).unwrap();
    sink.flush().unwrap();
    let lines = rs.received(records.len());
    assert_eq!(lines.len(), records.len(), "{lines:?}");
    for (line, r) in lines.iter().zip(&records) {
        let (sd, msg) = line.split_once('\t').expect("structured data, a tab, then the MSG");
        assert!(sd.starts_with("[privlog@32473 method=\"GET\""), "{sd}");
        let msg = match msg.strip_prefix('\u{feff}') {
            Some(m) => {
                assert!(!m.is_ascii(), "a byte order mark only before a UTF-8 MSG");
                m
            }
            None => msg,
        };
        let got = privlog::record::parse_line(msg.as_bytes()).expect("the MSG is the record's NDJSON");
        assert_eq!(&got, r);
    }
}

#[test]
fn rsyslog_receives_every_record_over_udp() {
    let rs = Rsyslog::start("rsyslog-udp");
    roundtrip(&rs, SyslogSink::udp(format!("127.0.0.1:{}", rs.udp)).unwrap());
}

#[test]
fn rsyslog_receives_every_record_over_tcp() {
    let rs = Rsyslog::start("rsyslog-tcp");
    roundtrip(&rs, SyslogSink::tcp(format!("127.0.0.1:{}", rs.tcp)).unwrap());
}

#[test]
fn rsyslog_receives_every_record_over_its_unix_socket() {
    let rs = Rsyslog::start("rsyslog-unix");
    let sock: &Path = &rs.sock();
    roundtrip(&rs, SyslogSink::unix_datagram(sock));
}
