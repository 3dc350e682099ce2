//! `https://` delivery through rustls to a real TLS server (Python's `ssl`,
//! `scripts/peers/https-collector.py`) with a certificate from a private CA
//! made by `openssl` for this test.
#![cfg(feature = "http")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use privlog::Record;
use privlog::sink::http::{BatchConfig, HttpSink};
use privlog::sink::{DropReason, Ledger, Sink};
use support::files::TempDir;
use time::OffsetDateTime;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is needed: install it with scripts/install-peers.sh (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it.
fn make_certs(dir: &Path) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=privlog test ca",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend(["-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1"]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ],
    );
}

struct Server {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(dir: &Path) -> Server {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/peers/https-collector.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(dir.join("leaf.pem"))
        .arg(dir.join("leaf.key"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is needed for the test collector");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("collector printed nothing").unwrap();
    let port = first.strip_prefix("port=").unwrap().parse().unwrap();
    Server { child, lines, port }
}

fn records(n: usize) -> Vec<Record> {
    let ts = OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap();
    (0..n).map(|i| Record::new(ts, "GET", format!("/tls/{i}"))).collect()
}

#[test]
fn https_delivers_to_a_server_of_a_private_ca_and_refuses_an_unknown_one() {
    let dir = TempDir::new("tls");
    make_certs(&dir);
    let mut server = start_server(&dir);
    let url = format!("https://127.0.0.1:{}/ingest", server.port);

    // Trusting the private CA: delivered.
    let mut sink = HttpSink::builder(&url)
        .ca_pem(std::fs::read(dir.join("ca.pem")).unwrap())
        .batch(BatchConfig::new().max_records(30))
        .gzip(true)
        .build()
        .unwrap();
    let ledger = Ledger::detached("tls");
    sink.attach(ledger.clone());
    sink.write(&records(30)).unwrap();
    let line = server.lines.next().expect("collector ended").unwrap();
    assert_eq!(line, "received 30");
    let limit = Instant::now() + Duration::from_secs(30);
    while ledger.stats().delivered < 30 {
        assert!(Instant::now() < limit, "{:?}", ledger.stats());
        sink.tick().unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }

    // With the public roots only, the same server is not trusted: nothing is
    // delivered, the batch waits for a retry.
    let mut sink = HttpSink::builder(&url)
        .batch(BatchConfig::new().max_records(5))
        .build()
        .unwrap();
    let ledger = Ledger::detached("tls-untrusted");
    sink.attach(ledger.clone());
    sink.write(&records(5)).unwrap();
    sink.close(Instant::now() + Duration::from_millis(500)).unwrap();
    let s = ledger.stats();
    assert_eq!((s.delivered, s.dropped_for(DropReason::Shutdown)), (0, 5), "{s:?}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
