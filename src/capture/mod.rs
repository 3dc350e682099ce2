//! The capture: what the request path copies out of a request for the
//! worker, with the clock it reads and the pool its boxes come back through.
//!
//! It holds copies of the request's text the worker needs (path and query in
//! one reusable buffer; route template, Connect JWT and selected header
//! values in another), plus counters and clocks. Copying a few hundred bytes
//! is cheaper than it looks: a clone of `Uri` or `HeaderValue` would share the
//! server's read buffer, keep it alive until the worker is done, and make the
//! server allocate a fresh one for the next read. The buffers keep their
//! capacity when the capture box goes back to the pool, so in steady state
//! nothing is allocated.
//!
//! It is crate-private: only the worker's sanitizer reads it, and what comes
//! out is a [`Record`](crate::Record).

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use http::{HeaderValue, Method, Uri, Version};

mod clock;
mod pool;

pub(crate) use crate::policy::MAX_CAPTURED;
pub(crate) use clock::RequestClock;
pub(crate) use pool::{BoxPool, CaptureBox, PREFILLED_BOXES};

use crate::policy::jwt::authorization_signed_part;
use crate::record::Outcome;

/// The capacity a pooled capture's text other than the path and query
/// starts with: enough for a Connect JWT and a few header values.
pub(crate) const TEXT_CAPACITY: usize = 1024;

/// The capacity a pooled capture's path and query text starts with.
const URI_CAPACITY: usize = 256;

/// A capture whose text grew past this gives the memory back when it is reset.
const TEXT_KEEP: usize = 16 * 1024;

/// The most text one capture holds in each of its buffers; what does not
/// fit is not captured (a request this large is refused by any server's
/// header limits long before).
const TEXT_MAX: usize = 1 << 20;

/// Where one copied value sits in a capture's text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    end: u32,
}

/// Up to [`MAX_CAPTURED`] copied header values, in header order.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct HeaderSpans {
    pub(crate) spans: [Option<Span>; MAX_CAPTURED],
}

/// What the application or an inner middleware said about the request
/// (via [`AccountId`](crate::AccountId) / [`TenantId`](crate::TenantId) /
/// [`RouteTemplate`](crate::RouteTemplate) response extensions).
#[derive(Clone, Debug, Default)]
pub(crate) struct AppProvided {
    pub(crate) account: Option<String>,
    pub(crate) tenant: Option<String>,
    pub(crate) route: Option<std::borrow::Cow<'static, str>>,
}

/// Counter readings ([`RequestClock`] readings) the request path took; the
/// worker turns them into times, since converting a reading costs more than
/// taking it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Readings {
    /// At the start of the request.
    pub(crate) start: u64,
    /// When the response head was ready.
    pub(crate) head: Option<u64>,
    /// When the record was handed off.
    pub(crate) end: u64,
    /// Whether the request's wall-clock start is still to be derived from
    /// `start` (no clock was configured).
    pub(crate) wall: bool,
}

/// Everything the request path captured about one request.
#[derive(Debug)]
pub(crate) struct Capture {
    pub(crate) start: SystemTime,
    /// Readings still to be turned into `start`, `ttfb` and `duration`
    /// ([`resolve_times`](Self::resolve_times)); `None` once they are (or
    /// when those were set directly).
    pub(crate) readings: Option<Readings>,
    pub(crate) method: Method,
    pub(crate) version: Version,
    pub(crate) peer: Option<SocketAddr>,
    /// The copied request text the spans below point into.
    text: Vec<u8>,
    /// The path and query as `path?query` (or `path`). Kept apart from
    /// `text` and as a `String` because it is copied from a `&str`: the
    /// worker reads it back without checking it is UTF-8 again.
    uri: String,
    /// Where the path ends in `uri`; a query follows (after its `?`) when
    /// `uri` goes on.
    path_end: usize,
    /// The route template known on the request path (axum `MatchedPath`).
    pub(crate) matched: Option<Span>,
    /// The signed part (`header.payload`) of a Connect JWT in
    /// `Authorization`, never its signature; kept only when a JWT account
    /// source is on.
    pub(crate) jwt_signed: Option<Span>,
    /// Configured account / tenant header values, in configured order.
    pub(crate) account_headers: HeaderSpans,
    /// `Forwarded` values, kept only when the peer is a trusted proxy.
    pub(crate) forwarded: HeaderSpans,
    /// `X-Forwarded-For` values, kept only when the peer is a trusted proxy.
    pub(crate) x_forwarded_for: HeaderSpans,
    pub(crate) declared_req_bytes: Option<u64>,
    pub(crate) req_bytes: Option<u64>,
    pub(crate) resp_bytes: u64,
    pub(crate) status: Option<u16>,
    pub(crate) ttfb: Option<Duration>,
    pub(crate) duration: Duration,
    pub(crate) outcome: Outcome,
    pub(crate) app: AppProvided,
}

impl Capture {
    /// An empty capture whose text buffer holds `capacity` bytes before it grows.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Capture {
            start: SystemTime::UNIX_EPOCH,
            readings: None,
            method: Method::GET,
            version: Version::HTTP_11,
            peer: None,
            text: Vec::with_capacity(capacity),
            uri: String::with_capacity(URI_CAPACITY.min(capacity)),
            path_end: 0,
            matched: None,
            jwt_signed: None,
            account_headers: HeaderSpans::default(),
            forwarded: HeaderSpans::default(),
            x_forwarded_for: HeaderSpans::default(),
            declared_req_bytes: None,
            req_bytes: None,
            resp_bytes: 0,
            status: None,
            ttfb: None,
            duration: Duration::ZERO,
            outcome: Outcome::Aborted,
            app: AppProvided::default(),
        }
    }

    /// Starts the capture of a new request: every field is set (the previous
    /// request's values are gone), the text buffer emptied but kept.
    ///
    /// The request path sets every field here rather than the worker
    /// clearing them: the worker only reads a capture, so the cache lines
    /// the request path writes next are not ones the other core modified.
    pub(crate) fn begin(&mut self, start: SystemTime, method: Method, version: Version, peer: Option<SocketAddr>) {
        self.start = start;
        self.readings = None;
        self.method = method;
        self.version = version;
        self.peer = peer;
        self.text.clear();
        self.uri.clear();
        self.path_end = 0;
        self.matched = None;
        self.jwt_signed = None;
        self.account_headers = HeaderSpans::default();
        self.forwarded = HeaderSpans::default();
        self.x_forwarded_for = HeaderSpans::default();
        self.declared_req_bytes = None;
        self.req_bytes = None;
        self.resp_bytes = 0;
        self.status = None;
        self.ttfb = None;
        self.duration = Duration::ZERO;
        self.outcome = Outcome::Aborted;
        // The worker took what the application provided.
        if self.app.account.is_some() || self.app.tenant.is_some() || self.app.route.is_some() {
            self.app = AppProvided::default();
        }
    }

    /// Turns the request path's clock readings into the request's start,
    /// time to first byte and duration (worker thread).
    pub(crate) fn resolve_times(&mut self, clock: &RequestClock) {
        let Some(r) = self.readings.take() else { return };
        if r.wall {
            self.start = clock.wall(r.start);
        }
        self.ttfb = r.head.map(|head| clock.between(r.start, head));
        self.duration = clock.between(r.start, r.end);
    }

    /// Readies a capture the worker is done with for the pool: a text buffer
    /// an unusually large request grew is given back. Everything else is
    /// overwritten by the next [`begin`](Self::begin).
    pub(crate) fn release(&mut self) {
        if self.text.capacity() > TEXT_KEEP {
            self.text = Vec::with_capacity(TEXT_CAPACITY);
        }
        if self.uri.capacity() > TEXT_KEEP {
            self.uri = String::with_capacity(URI_CAPACITY);
        }
    }

    /// Copies the path and query of `uri`.
    pub(crate) fn push_uri(&mut self, uri: &Uri) {
        let path = uri.path();
        match (uri.path_and_query().map(|pq| pq.as_str()), uri.query()) {
            // `path?query` in one copy. The path is the start of the same
            // text when it sits at the same address (no bytes to compare).
            (Some(all), Some(q))
                if all.len() == path.len() + 1 + q.len() && std::ptr::eq(all.as_ptr(), path.as_ptr()) =>
            {
                self.uri.clear();
                if all.len() <= TEXT_MAX {
                    self.uri.push_str(all);
                    self.path_end = path.len();
                } else {
                    self.path_end = 0;
                }
            }
            _ => self.set_path_query(path, uri.query()),
        }
    }

    /// Copies `path` and `query` as the request's path and query; neither
    /// is kept when together they are longer than a capture holds.
    pub(crate) fn set_path_query(&mut self, path: &str, query: Option<&str>) {
        self.uri.clear();
        let len = path
            .len()
            .saturating_add(query.map_or(0, |q| q.len().saturating_add(1)));
        if len > TEXT_MAX {
            self.path_end = 0;
            return;
        }
        self.uri.push_str(path);
        self.path_end = path.len();
        if let Some(q) = query {
            self.uri.push('?');
            self.uri.push_str(q);
        }
    }

    /// Copies the Connect JWT of an `Authorization` value without its
    /// signature: a capture never holds a usable token.
    pub(crate) fn push_jwt(&mut self, authorization: Option<&HeaderValue>) {
        self.jwt_signed = authorization
            .and_then(|v| authorization_signed_part(v.as_bytes()))
            .and_then(|p| self.push(p));
    }

    /// Copies `bytes` into the text; `None` when the capture is full.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Option<Span> {
        let start = self.text.len();
        let end = start.checked_add(bytes.len()).filter(|&e| e <= TEXT_MAX)?;
        self.text.extend_from_slice(bytes);
        Some(Span {
            start: u32::try_from(start).ok()?,
            end: u32::try_from(end).ok()?,
        })
    }

    /// Copies the last [`MAX_CAPTURED`] of `values` (the ones nearest to us
    /// for forwarding headers), in their order.
    pub(crate) fn push_last<'a, I>(&mut self, values: I) -> HeaderSpans
    where
        I: DoubleEndedIterator<Item = &'a HeaderValue>,
    {
        let mut last: [Option<&HeaderValue>; MAX_CAPTURED] = [None; MAX_CAPTURED];
        let mut n = 0;
        for v in values.rev().take(MAX_CAPTURED) {
            n += 1;
            last[MAX_CAPTURED - n] = Some(v);
        }
        let mut out = HeaderSpans::default();
        for (slot, v) in out.spans.iter_mut().zip(last.iter().flatten()) {
            *slot = self.push(v.as_bytes());
        }
        out
    }

    /// The bytes of `span`; empty if the span is not from this capture.
    pub(crate) fn bytes(&self, span: Span) -> &[u8] {
        self.text
            .get(span.start as usize..span.end as usize)
            .unwrap_or_default()
    }

    /// The text of `span`, which was copied from a `&str`; empty otherwise.
    pub(crate) fn str(&self, span: Span) -> &str {
        std::str::from_utf8(self.bytes(span)).unwrap_or_default()
    }

    /// The path and query text.
    pub(crate) fn path_and_query(&self) -> (&str, Option<&str>) {
        match self.uri.split_at_checked(self.path_end) {
            // `rest` is empty or `?query`.
            Some((path, rest)) => (path, rest.get(1..)),
            None => ("", None),
        }
    }

    /// The copied values of `captured`, in order.
    pub(crate) fn values<'a>(&'a self, captured: &'a HeaderSpans) -> impl Iterator<Item = &'a [u8]> + 'a {
        captured.spans.iter().flatten().map(|s| self.bytes(*s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_turns_readings_into_start_first_byte_and_duration() {
        let (clock, mock) = RequestClock::mocked();
        mock.increment(Duration::from_secs(5));
        let t0 = clock.now();
        mock.increment(Duration::from_micros(180));
        let head = clock.now();
        mock.increment(Duration::from_micros(60));
        let end = clock.now();
        let readings = Readings {
            start: t0,
            head: Some(head),
            end,
            wall: true,
        };

        let mut raw = Capture::with_capacity(16);
        raw.begin(SystemTime::UNIX_EPOCH, Method::GET, Version::HTTP_11, None);
        raw.readings = Some(readings);
        raw.resolve_times(&clock);
        assert_eq!(raw.start, clock.wall(t0));
        assert_eq!(raw.ttfb, Some(Duration::from_micros(180)));
        assert_eq!(raw.duration, Duration::from_micros(240));
        assert_eq!(raw.readings, None);
        // Resolved once: a second call changes nothing.
        mock.increment(Duration::from_secs(1));
        raw.resolve_times(&clock);
        assert_eq!(raw.duration, Duration::from_micros(240));

        // A configured clock's start is kept; no response head, no first byte.
        let given = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        raw.begin(given, Method::GET, Version::HTTP_11, None);
        raw.readings = Some(Readings {
            head: None,
            wall: false,
            ..readings
        });
        raw.resolve_times(&clock);
        assert_eq!(raw.start, given);
        assert_eq!(raw.ttfb, None);
        assert_eq!(raw.duration, Duration::from_micros(240));
    }

    #[test]
    fn path_and_query_read_back_as_the_uri_has_them() {
        for uri in [
            "/a/b?x=1&y=%20",
            "/a?",
            "/a",
            "/",
            "*",
            "http://h/p?q",
            "http://h",
            "/\u{e9}?k=v",
        ] {
            let Ok(uri) = uri.parse::<Uri>() else { continue };
            let mut raw = Capture::with_capacity(0);
            raw.push(b"before").unwrap_or_default();
            raw.push_uri(&uri);
            assert_eq!(raw.path_and_query(), (uri.path(), uri.query()), "{uri}");
        }
        // Set apart (as tests and tools do), they read back the same.
        let mut raw = Capture::with_capacity(0);
        for (path, query) in [
            ("/p", Some("q=1")),
            ("/p", Some("")),
            ("/p", None),
            ("", None),
            ("/\u{e9}", Some("k=\u{e9}")),
        ] {
            raw.set_path_query(path, query);
            assert_eq!(raw.path_and_query(), (path, query));
        }
    }

    #[test]
    fn push_last_keeps_the_last_values_in_order() {
        let mut raw = Capture::with_capacity(0);
        let values: Vec<HeaderValue> = (0..6).map(|i| HeaderValue::from(i as u32)).collect();
        let c = raw.push_last(values.iter());
        let got: Vec<&[u8]> = raw.values(&c).collect();
        assert_eq!(got, vec![&b"2"[..], b"3", b"4", b"5"]);
        let few = raw.push_last(values[..2].iter());
        let got: Vec<&[u8]> = raw.values(&few).collect();
        assert_eq!(got, vec![&b"0"[..], b"1"]);
    }

    #[test]
    fn begin_forgets_the_last_request_and_keeps_the_buffer() {
        let mut raw = Capture::with_capacity(TEXT_CAPACITY);
        let span = raw.push(b"/rest/api").expect("fits");
        raw.set_path_query("/rest/api", Some("jwt=abc"));
        raw.status = Some(500);
        raw.app.account = Some("557058:abc".to_owned());
        assert_eq!(raw.str(span), "/rest/api");
        raw.release();
        raw.begin(SystemTime::UNIX_EPOCH, Method::POST, Version::HTTP_2, None);
        assert_eq!(raw.text.capacity(), TEXT_CAPACITY);
        assert_eq!(raw.bytes(span), b"", "a new capture has no text");
        assert_eq!(raw.path_and_query(), ("", None), "nor path and query");
        assert_eq!((raw.status, raw.app.account.as_deref()), (None, None));
        assert_eq!((raw.method.clone(), raw.version), (Method::POST, Version::HTTP_2));
    }

    #[test]
    fn release_gives_back_a_huge_buffer() {
        let mut raw = Capture::with_capacity(TEXT_CAPACITY);
        raw.push(&vec![b'a'; TEXT_KEEP + 1]).expect("fits");
        raw.release();
        assert_eq!(raw.text.capacity(), TEXT_CAPACITY);
    }

    #[test]
    fn text_beyond_the_cap_is_not_captured() {
        let mut raw = Capture::with_capacity(0);
        assert!(raw.push(&vec![b'a'; TEXT_MAX]).is_some());
        assert_eq!(raw.push(b"b"), None);
    }
}
