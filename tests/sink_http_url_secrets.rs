//! Collector URLs and secrets: a URL with credentials is refused whatever
//! characters its password holds (before any name is resolved), and the
//! warnings of a sink retrying a collector that cannot be reached show the URL
//! only as its scheme, host and port (a path can hold a token).
#![cfg(feature = "http")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use privlog::Record;
use privlog::sink::http::{BatchConfig, HttpSink, RetryPolicy};
use privlog::sink::{Ledger, Sink};
use time::OffsetDateTime;

/// Everything a `tracing` subscriber writes, for the test thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A local port nothing listens on: connecting to it is refused.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}

#[test]
fn a_password_holding_hash_question_mark_slash_or_at_is_refused_and_never_shown() {
    // A listener that would see a request if the URL were used anyway.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    for password in ["2024#Pw9x", "2024?Pw9x", "20/24Pw9x", "2024@Pw9x", "hun#ter2"] {
        let url = format!("http://alice7:{password}@127.0.0.1:{port}/ingest");
        let e = HttpSink::builder(url.clone())
            .build()
            .expect_err(&format!("{url} is refused"));
        let text = format!("{e} {e:?}");
        assert!(text.contains("credentials"), "{text}");
        for piece in ["alice7", "Pw9x", "2024", "hun", "ter2"] {
            assert!(!text.contains(piece), "{piece} shown: {text}");
        }
    }
    assert!(listener.accept().is_err(), "no request was sent");
}

#[test]
fn a_port_past_65535_is_refused_and_nothing_is_connected_to() {
    // The port a 16-bit wrap of the configured one would reach.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{}/ingest", u32::from(port) + 65_536);
    let e = HttpSink::builder(url).build().expect_err("refused");
    let text = e.to_string();
    assert!(text.contains("out of range") && text.contains("1 to 65535"), "{text}");
    assert!(listener.accept().is_err(), "no connection was made");
}

#[test]
fn retry_warnings_show_the_collector_url_as_scheme_host_and_port_only() {
    let port = closed_port();
    // A token in the path (as Sumo Logic's receiver URLs have), the query and the fragment.
    let url =
        format!("http://127.0.0.1:{port}/receiver/v1/http/ZaVnC4dhaV2Wk3KZ8qO9?token=Qk9fU2VjcmV0VG9rZW4#frag-s3cr3t");
    let mut sink = HttpSink::builder(url)
        .batch(BatchConfig::new().max_records(1).linger(Duration::ZERO))
        .retry(
            RetryPolicy::new()
                .initial(Duration::from_millis(5))
                .max(Duration::from_millis(20)),
        )
        .build()
        .unwrap();
    let ledger = Ledger::detached("test");
    sink.attach(ledger.clone());
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let ts = OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap();
        sink.write(&[Record::new(ts, "GET", "/a")]).unwrap();
        let limit = Instant::now() + Duration::from_secs(60);
        while !captured.text().contains("will retry") {
            assert!(Instant::now() < limit, "no retry warning: {}", captured.text());
            sink.tick().unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let text = captured.text();
    assert!(text.contains(&format!("url=http://127.0.0.1:{port}/… ")), "{text}");
    for secret in [
        "receiver",
        "ZaVnC4dhaV2Wk3KZ8qO9",
        "token",
        "Qk9fU2VjcmV0VG9rZW4",
        "frag",
        "s3cr3t",
    ] {
        assert!(!text.contains(secret), "{secret} shown: {text}");
    }
}
