//! Everything an operator sets on the HTTP sink, with its default.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http::{HeaderName, HeaderValue, Uri};

use super::batch::BatchConfig;
use super::client::parse_ca_pem;
use super::encoder::{Encoder, Ndjson};
use super::retry::RetryPolicy;
use super::sink::HttpSink;
use crate::limits::{DurationLimit, Limit, OutOfRange};
use crate::sink::SinkError;
use crate::sink::spool::SpoolConfig;

/// Request headers sent with every request; the values are secrets (collector
/// credentials) and never appear in `Debug` output, logs or errors.
#[derive(Clone, Default)]
pub(crate) struct Headers(pub(crate) Vec<(HeaderName, HeaderValue)>);

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, _)| (k.as_str(), "<redacted>")))
            .finish()
    }
}

/// Builds an [`HttpSink`]. Every setting names its default.
///
/// ```no_run
/// use std::time::Duration;
/// use privlog::sink::http::{BatchConfig, HttpSink, Loki};
/// use privlog::sink::spool::SpoolConfig;
///
/// # fn main() -> Result<(), privlog::sink::SinkError> {
/// let sink = HttpSink::builder("https://loki.example.net/loki/api/v1/push")
///     .encoder(Loki::new())
///     .bearer_token("collector-token")
///     .batch(BatchConfig::new().max_records(500).linger(Duration::from_secs(2)))
///     .gzip(true)
///     .spool(SpoolConfig::new("/var/lib/myapp/spool"))
///     .dead_letter("/var/lib/myapp/privlog-rejected.ndjson")
///     .build()?;
/// # Ok(()) }
/// ```
pub struct HttpSinkBuilder {
    pub(crate) name: Option<String>,
    pub(crate) url: String,
    pub(crate) encoder: Arc<dyn Encoder>,
    pub(crate) headers: Headers,
    pub(crate) header_error: Option<String>,
    pub(crate) batch: BatchConfig,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Duration,
    pub(crate) max_in_flight: usize,
    pub(crate) max_buffered_records: usize,
    pub(crate) gzip: bool,
    pub(crate) spool: Option<SpoolConfig>,
    pub(crate) dead_letter: Option<PathBuf>,
    pub(crate) dead_letter_max_bytes: u64,
    pub(crate) ca_pem: Option<Vec<u8>>,
}

/// Shows the URL without credentials, query or fragment, and no header value.
impl fmt::Debug for HttpSinkBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSinkBuilder")
            .field("name", &self.name)
            .field("url", &shown(&self.url))
            .field("encoder", &self.encoder.name())
            .field("headers", &self.headers)
            .field("batch", &self.batch)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_buffered_records", &self.max_buffered_records)
            .field("gzip", &self.gzip)
            .field("spool", &self.spool)
            .field("dead_letter", &self.dead_letter)
            .field("dead_letter_max_bytes", &self.dead_letter_max_bytes)
            .field("ca_pem", &self.ca_pem.as_ref().map(|p| format!("{} bytes", p.len())))
            .finish()
    }
}

impl HttpSinkBuilder {
    pub(crate) fn new(url: impl Into<String>) -> Self {
        HttpSinkBuilder {
            name: None,
            url: url.into(),
            encoder: Arc::new(Ndjson::new()),
            headers: Headers::default(),
            header_error: None,
            batch: BatchConfig::default(),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(10),
            max_in_flight: 2,
            max_buffered_records: 10_000,
            gzip: false,
            spool: None,
            dead_letter: None,
            dead_letter_max_bytes: 256 * 1024 * 1024,
            ca_pem: None,
        }
    }

    /// The name in statistics and warnings. Defaults to the encoder's name
    /// (`ndjson`, `clickhouse`, `loki`, `elasticsearch`, `otlp`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// How batches are encoded. Defaults to [`Ndjson`].
    pub fn encoder(mut self, encoder: impl Encoder) -> Self {
        self.encoder = Arc::new(encoder);
        self
    }

    /// Adds a header to every request, e.g. collector credentials. Values are
    /// never logged or shown by `Debug`. An invalid name or value, a name
    /// given twice (in any case), or a name that looks like a secret (it was
    /// written where the value belongs) makes [`HttpSinkBuilder::build`] fail.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let Some(shape) = crate::secret_shape::secret_shape(name) {
            self.header_error.get_or_insert_with(|| {
                format!(
                    "the name of an http header looks like {}; write the header's name, e.g. Authorization, and \
                     the secret as its value (the name is not shown)",
                    shape.describe()
                )
            });
            return self;
        }
        if self
            .headers
            .0
            .iter()
            .any(|(n, _)| n.as_str().eq_ignore_ascii_case(name))
        {
            self.header_error.get_or_insert_with(|| {
                format!(
                    "http header {} is given twice (names are not case-sensitive); give it once",
                    name.to_ascii_lowercase()
                )
            });
            return self;
        }
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(n), Ok(mut v)) => {
                v.set_sensitive(true);
                self.headers.0.push((n, v));
            }
            // Neither the value nor a name that is not a header name (it may
            // be a credential written in the wrong place) is shown.
            (Ok(n), Err(_)) => {
                self.header_error.get_or_insert_with(|| {
                    format!(
                        "invalid value of http header {}: use visible ASCII characters only",
                        n.as_str()
                    )
                });
            }
            (Err(_), _) => {
                self.header_error.get_or_insert_with(|| {
                    "invalid http header name: a name is letters, digits and `-` (the name is not shown, \
                     as it may be a value written in the wrong place)"
                        .to_owned()
                });
            }
        }
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer_token(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// `Authorization: Basic …` from a user name and password.
    pub fn basic_auth(self, user: &str, password: &str) -> Self {
        let creds = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.header("authorization", &format!("Basic {creds}"))
    }

    /// When a batch is sent (count, bytes, linger). Defaults to
    /// [`BatchConfig::default`]: 1000 records, 1 MiB, 1 s.
    pub fn batch(mut self, batch: BatchConfig) -> Self {
        self.batch = batch;
        self
    }

    /// How failed requests are retried. Defaults to [`RetryPolicy::default`]:
    /// 1 s → 30 s with full jitter, `Retry-After` honoured up to 300 s.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The limit for one attempt: connecting, sending and reading the
    /// response. A request that takes longer is retried. Defaults to 10 s;
    /// 1 ms to 1 h.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Requests sent at the same time. While the collector is failing only one
    /// request at a time probes it. Defaults to 2; 1 to 64.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// Records held in memory waiting to be sent. Beyond it the oldest batches
    /// go to the spool, or, without a spool, are dropped and counted as
    /// `buffer_full`. Defaults to 10 000; 1 to 262 144.
    pub fn max_buffered_records(mut self, n: usize) -> Self {
        self.max_buffered_records = n;
        self
    }

    /// Compresses request bodies with gzip (`Content-Encoding: gzip`).
    /// Defaults to off.
    pub fn gzip(mut self, on: bool) -> Self {
        self.gzip = on;
        self
    }

    /// Keeps undeliverable batches in a durable on-disk spool and delivers
    /// them later, also after a restart. Defaults to none: without a spool,
    /// batches wait in memory (see [`HttpSinkBuilder::max_buffered_records`])
    /// and what is left at shutdown is dropped and counted as `shutdown`.
    pub fn spool(mut self, spool: SpoolConfig) -> Self {
        self.spool = Some(spool);
        self
    }

    /// The file (NDJSON, appended) that receives batches the collector
    /// refused as invalid (4xx other than 408 and 429, and 501). Those records
    /// are counted as `rejected` in any case. Defaults to none: refused records
    /// are counted and a warning is logged, but they are not kept.
    pub fn dead_letter(mut self, path: impl Into<PathBuf>) -> Self {
        self.dead_letter = Some(path.into());
        self
    }

    /// The size the dead-letter file may reach: refused records that would
    /// take it past are dropped as `dead_letter_full` (and a warning says
    /// so) until the file is moved away or emptied; a collector refusing
    /// everything (bad credentials) cannot fill the disk. Defaults to
    /// 256 MiB; 1 KiB to 1 TiB.
    pub fn dead_letter_max_bytes(mut self, bytes: u64) -> Self {
        self.dead_letter_max_bytes = bytes;
        self
    }

    /// Trusts only these PEM root certificates for `https://` (a private CA).
    /// Defaults to the Mozilla root set.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// Checks the settings, opens the spool and starts the request threads.
    ///
    /// # Errors
    /// An invalid URL (not `http://` or `https://`, no host, credentials in
    /// it), an invalid header, a size or duration out of range, an invalid CA
    /// certificate, a spool directory that cannot be created or is in use, or
    /// a request thread that cannot be started.
    pub fn build(self) -> Result<HttpSink, SinkError> {
        self.check().map_err(|r| SinkError::new(r.reason))?;
        HttpSink::from_builder(self).map_err(|r| match r.source {
            Some(source) => SinkError::with_source(r.reason, source),
            None => SinkError::new(r.reason),
        })
    }

    /// Everything [`HttpSinkBuilder::build`] checks before it opens or starts
    /// anything; the configuration file's check runs the same.
    pub(crate) fn check(&self) -> Result<(), Refused> {
        if let Some(e) = &self.header_error {
            return Err(Refused::new("headers", e.clone()));
        }
        check_url(&self.url).map_err(|reason| Refused::new("endpoint", reason))?;
        let range = |e: OutOfRange| Refused::new(e.setting, e.to_string());
        TIMEOUT.check(self.timeout).map_err(range)?;
        MAX_IN_FLIGHT.check_usize(self.max_in_flight).map_err(range)?;
        MAX_BUFFERED_RECORDS
            .check_usize(self.max_buffered_records)
            .map_err(range)?;
        self.batch.validate().map_err(range)?;
        self.retry.validate().map_err(range)?;
        if let Some(spool) = &self.spool {
            spool.validate().map_err(range)?;
        }
        DEAD_LETTER_MAX_BYTES.check(self.dead_letter_max_bytes).map_err(range)?;
        if let Some(pem) = &self.ca_pem {
            parse_ca_pem(pem).map_err(|e| Refused::new("ca_file", e.to_string()))?;
        }
        Ok(())
    }
}

/// `timeout`.
pub(crate) const TIMEOUT: DurationLimit =
    DurationLimit::new("timeout", Duration::from_millis(1), Duration::from_secs(3600));
/// `max_in_flight`: each is a thread.
pub(crate) const MAX_IN_FLIGHT: Limit = Limit::count("max_in_flight", 1, 64);
/// `max_buffered_records`: records held in memory.
pub(crate) const MAX_BUFFERED_RECORDS: Limit = Limit::count("max_buffered_records", 1, 262_144);

/// `dead_letter_max_bytes`: the size the dead-letter file may reach.
pub(crate) const DEAD_LETTER_MAX_BYTES: Limit = Limit::bytes("dead_letter_max_bytes", 1 << 10, 1 << 40);

/// A setting the HTTP sink refuses: the setting as a configuration file names
/// it, and why.
#[derive(Debug)]
pub(crate) struct Refused {
    /// Read by the configuration file's errors.
    #[cfg_attr(not(feature = "config"), allow(dead_code))]
    pub(crate) field: &'static str,
    pub(crate) reason: String,
    pub(crate) source: Option<SinkError>,
}

impl Refused {
    pub(crate) fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Refused {
            field,
            reason: reason.into(),
            source: None,
        }
    }
}

/// Checks a collector URL: `http://` or `https://`, a host, a port from 1
/// to 65535 when one is given, and no credentials. The error shows the URL
/// only as [`shown`] does, and not at all when its host and port are not
/// valid (they may hold a password).
///
/// Any `@` counts as credentials: in `http://user:hun#ter2@host/` the `#`
/// ends the host at `user` for a URL parser (the resolver would be asked for
/// `user`, and messages would show `http://user:hun`), and a `/` or `?` in
/// a password does the same. A literal `@` in a path or query is written
/// `%40`; in the host and port, where no `%` belongs, `%40` is taken for an
/// `@` too.
pub(crate) fn check_url(url: &str) -> Result<Uri, String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(
            "invalid collector url: use http://host:port/path or https://… (the value is not shown)".to_owned(),
        );
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        let named = if is_scheme(scheme) {
            format!(" {scheme}://")
        } else {
            String::new()
        };
        return Err(format!(
            "invalid collector url: the scheme{named} is not http:// or https://; use http://host:port/path or \
             https://…"
        ));
    }
    let authority = authority_of(rest);
    if url.contains('@') || authority.contains('%') {
        return Err(
            "collector url contains credentials (an `@`, or a `%` in the host and port): remove them from the \
             url and pass them with .basic_auth(), .bearer_token() or .header() (in a config file: headers = { \
             Authorization = \"…\" }); an `@` that belongs to the path or query is written %40 (the url is not \
             shown)"
                .to_owned(),
        );
    }
    let Some((host, port)) = host_port(authority) else {
        return Err(format!(
            "invalid collector url {scheme}://…: the host and port are not valid; use http://host:port/path, \
             a host name or address and a port from 1 to 65535 (the rest of the url is not shown)"
        ));
    };
    if host.is_empty() {
        return Err(format!(
            "invalid collector url {}: it names no host; use http://host:port/path",
            shown(url)
        ));
    }
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return Err(format!(
            "invalid collector url {scheme}://{host}:{port}: the port {port} is out of range; use a port from 1 \
             to 65535"
        ));
    }
    url.parse::<Uri>().map_err(|_| {
        format!(
            "invalid collector url {}: use http://host:port/path or https://… (only the scheme, host and port are \
             shown)",
            shown(url)
        )
    })
}

/// Whether `s` is a URI scheme (a letter, then letters, digits, `+ - .`) of
/// a length a scheme has, so that showing it shows no secret.
fn is_scheme(s: &str) -> bool {
    s.len() <= 10
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// The authority of a URL after its `scheme://`: up to the first `/`, `?`
/// or `#`.
fn authority_of(rest: &str) -> &str {
    rest.split(['/', '?', '#']).next().unwrap_or("")
}

/// The host and port of an authority without credentials, when both are
/// what they may be: a name or IPv4 address (letters, digits, `-`, `.`) or
/// an IPv6 address in brackets, and digits (at most 10: a longer number is
/// not shown, its range is checked after). (Names take `_` and `~`
/// too, as container names do.)
fn host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, after) = authority.split_at(end + 1);
        let inside = &host[1..host.len() - 1];
        if inside.is_empty()
            || !inside
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))
        {
            return None;
        }
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        {
            return None;
        }
        (host, port)
    };
    match port {
        Some(p) if p.is_empty() || p.len() > 10 || !p.bytes().all(|b| b.is_ascii_digit()) => None,
        _ => Some((host, port)),
    }
}

/// `text` (a message of the HTTP client) with `url` in it shown as [`shown`]
/// shows it, and its path, query and fragment wherever they appear alone
/// replaced by `/…`.
pub(crate) fn without_url(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &shown(url));
    if let Some((_, rest)) = url.split_once("://") {
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        let tail = &rest[authority_of(rest).len()..];
        if tail.len() > 1 {
            out = out.replace(tail, "/…");
        }
    }
    out
}

/// The URL for messages and `Debug`: only its scheme, host and port, as
/// written (never lowercased), with `<redacted>@` where it holds credentials
/// and `/…` where a path, query or fragment follows (a path can hold a
/// token). A text whose scheme, host or port is not valid is not shown at
/// all.
pub(crate) fn shown(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<not a url>".to_owned();
    };
    if !is_scheme(scheme) {
        return "<not a url>".to_owned();
    }
    let (masked, rest) = match rest.rfind('@') {
        Some(at) => ("<redacted>@", &rest[at + 1..]),
        None => ("", rest),
    };
    let authority = authority_of(rest);
    let tail = match &rest[authority.len()..] {
        "" => "",
        "/" => "/",
        _ => "/…",
    };
    match host_port(authority) {
        Some(_) if !authority.is_empty() => format!("{scheme}://{masked}{authority}{tail}"),
        _ => format!("{scheme}://<invalid host>{tail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_header_values_or_the_urls_credentials_or_query() {
        let b = HttpSinkBuilder::new("http://ops:pw-81Zq@127.0.0.1:9/x?token=tk-5Rr")
            .bearer_token("s3cr3t-token")
            .basic_auth("user", "hunter2");
        let dbg = format!("{b:?}");
        assert!(dbg.contains("authorization"), "{dbg}");
        assert!(
            !dbg.contains("s3cr3t") && !dbg.contains("hunter2") && !dbg.contains("dXNlcjpodW50ZXIy"),
            "{dbg}"
        );
        assert!(
            !dbg.contains("pw-81Zq") && !dbg.contains("tk-5Rr") && !dbg.contains("ops"),
            "{dbg}"
        );
    }

    #[test]
    fn urls_with_credentials_or_other_schemes_are_refused() {
        let e = HttpSinkBuilder::new("http://u:pw@127.0.0.1:9/")
            .build()
            .expect_err("refused");
        assert!(!e.to_string().contains("pw"), "{e}");
        assert!(HttpSinkBuilder::new("ftp://127.0.0.1/").build().is_err());
        assert!(HttpSinkBuilder::new("not a url").build().is_err());
    }

    #[test]
    fn shown_url_is_scheme_host_and_port_as_written() {
        assert_eq!(shown("http://h:1/p?password=x"), "http://h:1/…");
        assert_eq!(shown("http://a:b@h/p"), "http://<redacted>@h/…");
        assert_eq!(shown("http://u:hun#ter2@h:9/p"), "http://<redacted>@h:9/…");
        assert_eq!(shown("http://u:a/?b@h:9/p?q#f"), "http://<redacted>@h:9/…");
        assert_eq!(shown("http://h?token=x"), "http://h/…");
        assert_eq!(shown("http://h:9/"), "http://h:9/");
        assert_eq!(
            shown("HTTPS://Collector.Example:8443"),
            "HTTPS://Collector.Example:8443"
        );
        assert_eq!(shown("http://[2001:db8::1]:9/x"), "http://[2001:db8::1]:9/…");
        assert_eq!(
            shown("https://collectors.sumologic.com/receiver/v1/http/ZaVnC4dhaV2Wk3KZ8qO9"),
            "https://collectors.sumologic.com/…"
        );
        // An authority that is no host and port may be a password: not shown.
        assert_eq!(
            shown("http://writer:s3cretPW%40collector.example:8123/"),
            "http://<invalid host>/"
        );
        assert_eq!(shown("http://writer:s3cretPW/x"), "http://<invalid host>/…");
        assert_eq!(shown("s3cr3t-token"), "<not a url>");
        assert_eq!(shown("s3cr3t-t0ken-of-many-characters://h"), "<not a url>");
    }

    #[test]
    fn a_header_named_twice_or_named_like_a_secret_is_refused() {
        let b = || HttpSinkBuilder::new("http://127.0.0.1:9/x");
        let e = b()
            .header("X-Key", "a")
            .header("x-key", "b")
            .check()
            .expect_err("twice");
        assert!(e.reason.contains("x-key is given twice"), "{}", e.reason);
        let token = "dG9rLTlYcTItU2VjcmV0VmFsdWU";
        let e = b().header(token, "Authorization").check().expect_err("a token");
        assert_eq!(e.field, "headers");
        assert!(
            e.reason.contains("looks like a secret") && !e.reason.contains(token),
            "{}",
            e.reason
        );
        assert!(
            b().header("X-ClickHouse-Key", "pw")
                .header("X-ClickHouse-User", "w")
                .check()
                .is_ok()
        );
    }

    #[test]
    fn client_messages_lose_the_url_path() {
        let url = "http://collector.example:9/receiver/v1/http/ZaVnC4dhaV2Wk3KZ8qO9?x=1";
        assert_eq!(
            without_url(&format!("bad uri: {url}"), url),
            "bad uri: http://collector.example:9/…"
        );
        assert_eq!(
            without_url("failed: /receiver/v1/http/ZaVnC4dhaV2Wk3KZ8qO9?x=1", url),
            "failed: /…"
        );
        assert_eq!(without_url("io: connection refused", url), "io: connection refused");
    }

    #[test]
    fn ports_past_65535_and_port_zero_are_refused() {
        for url in [
            "http://127.0.0.1:99999/",
            "http://h:65536/",
            "http://h:0/",
            "http://[::1]:70000/",
        ] {
            let e = check_url(url).expect_err(url);
            assert!(e.contains("out of range") && e.contains("1 to 65535"), "{url}: {e}");
        }
        for url in ["http://127.0.0.1:65535/", "http://h:1/", "http://[::1]:8123/"] {
            assert!(check_url(url).is_ok(), "{url}");
        }
        assert!(check_url("http://h:123456/").is_err());
    }

    #[test]
    fn a_password_before_a_percent_encoded_at_is_refused_and_never_shown() {
        for url in [
            "http://writer:s3cretPW%40collector.example:8123/",
            "http://writer:s3cretPW%40collector.example/x",
            "http://s3cretPW%40collector.example/",
        ] {
            let e = check_url(url).expect_err(url);
            assert!(e.contains("credentials"), "{e}");
            assert!(!e.contains("s3cretPW") && !e.contains("writer"), "{e}");
        }
        // A host or port that is not one is not shown either.
        let e = check_url("http://writer:s3cretPW/x").expect_err("bad port");
        assert!(!e.contains("s3cretPW") && !e.contains("writer"), "{e}");
        // `%40` in the path is a literal `@`.
        assert!(check_url("http://h:9/a%40b").is_ok());
    }

    #[test]
    fn urls_without_a_host_or_with_an_at_anywhere_are_refused() {
        assert!(check_url("http://127.0.0.1:9/x?q=1").is_ok());
        assert!(check_url("HTTPS://collector.example/x").is_ok());
        assert!(check_url("http:///x").is_err());
        assert!(check_url("http://h/p?user=me@example.com").is_err());
        assert!(check_url("http://h?x=a@b").is_err());
    }

    #[test]
    fn every_size_and_duration_is_checked_before_anything_starts() {
        let b = || HttpSinkBuilder::new("http://127.0.0.1:9/x");
        let refused = |b: HttpSinkBuilder| b.check().expect_err("refused");
        assert!(b().max_in_flight(64).check().is_ok());
        assert_eq!(refused(b().max_in_flight(65)).field, "max_in_flight");
        assert_eq!(refused(b().max_in_flight(0)).field, "max_in_flight");
        assert!(b().dead_letter_max_bytes(1 << 10).check().is_ok());
        assert_eq!(refused(b().dead_letter_max_bytes(1000)).field, "dead_letter_max_bytes");
        assert_eq!(
            refused(b().dead_letter_max_bytes((1 << 40) + 1)).field,
            "dead_letter_max_bytes"
        );
        assert_eq!(refused(b().max_buffered_records(262_145)).field, "max_buffered_records");
        assert_eq!(refused(b().timeout(Duration::ZERO)).field, "timeout");
        assert_eq!(
            refused(b().batch(BatchConfig::new().max_records(65_537))).field,
            "batch_max_records"
        );
        assert_eq!(
            refused(b().batch(BatchConfig::new().max_bytes((64 << 20) + 1))).field,
            "batch_max_bytes"
        );
        assert_eq!(
            refused(b().retry(RetryPolicy::new().max_retry_after(Duration::from_secs(86_401)))).field,
            "retry_after_max"
        );
        let spool = SpoolConfig::new("/nonexistent/privlog-spool").segment_bytes((64 << 20) + 1);
        let r = refused(b().spool(spool));
        assert_eq!(r.field, "spool_segment_bytes");
        assert!(r.reason.contains("67108864 (64 MiB)"), "{}", r.reason);
        assert!(!std::path::Path::new("/nonexistent/privlog-spool").exists());
        let e = b().max_in_flight(1000).build().expect_err("refused").to_string();
        assert!(e.contains("max_in_flight = 1000") && e.contains("1 to 64"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn a_url_with_credentials_is_refused_and_no_message_shows_them(
            user in "[a-zA-Z0-9._~-]{1,12}",
            password in "[ -~]{1,24}",
        ) {
            let url = format!("http://{user}:{password}@collector.example:8080/ingest?x=1");
            let e = check_url(&url).expect_err("refused");
            let shown = shown(&url);
            proptest::prop_assert_eq!(&shown, "http://<redacted>@collector.example:8080/…");
            let built = HttpSinkBuilder::new(url.clone()).build().expect_err("refused");
            for text in [e, shown, built.to_string(), format!("{built:?}")] {
                proptest::prop_assert!(!text.contains(&format!("{user}:{password}")), "{}", text);
            }
        }
    }
}
