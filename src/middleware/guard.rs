//! The once-only record guard: whatever happens to the request, exactly one
//! record is handed off, and handing it off never panics or blocks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

use http::{HeaderValue, Method, Response, Uri, Version};

use super::body::REQ_BODY_FAILED;
use super::layer::Shared;
use super::{AccountId, RouteTemplate, TenantId};
use crate::record::Outcome;
use crate::record::raw::{AppProvided, Captured, RawRecord};

/// What the request path captured before calling the inner service.
pub(crate) struct Capture {
    pub(crate) start: SystemTime,
    pub(crate) t0: Instant,
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) version: Version,
    pub(crate) peer: Option<SocketAddr>,
    #[cfg(feature = "axum")]
    pub(crate) matched: Option<axum::extract::MatchedPath>,
    pub(crate) authorization: Option<HeaderValue>,
    pub(crate) account_headers: Captured,
    pub(crate) forwarded: Captured,
    pub(crate) x_forwarded_for: Captured,
    pub(crate) declared_req_bytes: Option<u64>,
    pub(crate) req_counter: Option<Arc<AtomicU64>>,
}

struct Pending {
    cap: Capture,
    status: Option<u16>,
    ttfb: Option<Duration>,
    resp_bytes: u64,
    /// The response has no body to send (HEAD, 204, 304, empty), so the body
    /// being dropped unpolled is a normal end.
    bodiless: bool,
    app: AppProvided,
}

pub(crate) struct RecordGuard {
    pending: Option<Pending>,
    shared: Arc<Shared>,
}

impl RecordGuard {
    pub(crate) fn new(cap: Capture, shared: Arc<Shared>) -> Self {
        RecordGuard {
            pending: Some(Pending {
                cap,
                status: None,
                ttfb: None,
                resp_bytes: 0,
                bodiless: false,
                app: AppProvided::default(),
            }),
            shared,
        }
    }

    /// The response head is ready: note status and time, and take what the
    /// application said about the account out of the response.
    pub(crate) fn on_head<B: http_body::Body>(&mut self, res: &mut Response<B>) {
        let Some(p) = self.pending.as_mut() else { return };
        let status = res.status();
        p.status = Some(status.as_u16());
        p.ttfb = Some(p.cap.t0.elapsed());
        p.bodiless = p.cap.method == Method::HEAD
            || status.is_informational()
            || status == http::StatusCode::NO_CONTENT
            || status == http::StatusCode::NOT_MODIFIED
            || res.body().is_end_stream();
        let ext = res.extensions_mut();
        if !ext.is_empty() {
            p.app.account = ext.remove::<AccountId>().map(|a| a.0);
            p.app.tenant = ext.remove::<TenantId>().map(|t| t.0);
            p.app.route = ext.remove::<RouteTemplate>().map(|r| r.0);
        }
    }

    pub(crate) fn add_resp_bytes(&mut self, n: usize) {
        if let Some(p) = self.pending.as_mut() {
            p.resp_bytes += n as u64;
        }
    }

    /// Hands the record off with `outcome`. Later calls and the drop do nothing.
    pub(crate) fn finish(&mut self, outcome: Outcome) {
        let Some(p) = self.pending.take() else { return };
        let cap = p.cap;
        let req = cap.req_counter.map(|c| c.load(Relaxed));
        // A response to a request the client never finished sending says
        // nothing about what the client got: the client went away.
        let outcome = match req {
            Some(n) if n & REQ_BODY_FAILED != 0 && outcome == Outcome::Completed => Outcome::Aborted,
            _ => outcome,
        };
        let raw = RawRecord {
            start: cap.start,
            method: cap.method,
            uri: cap.uri,
            version: cap.version,
            peer: cap.peer,
            #[cfg(feature = "axum")]
            matched: cap.matched,
            authorization: cap.authorization,
            account_headers: cap.account_headers,
            forwarded: cap.forwarded,
            x_forwarded_for: cap.x_forwarded_for,
            declared_req_bytes: cap.declared_req_bytes,
            req_bytes: req.map(|n| n & !REQ_BODY_FAILED),
            resp_bytes: p.resp_bytes,
            status: p.status,
            ttfb: p.ttfb,
            duration: cap.t0.elapsed(),
            outcome,
            app: p.app,
        };
        self.shared.handoff.submit(raw);
    }
}

impl Drop for RecordGuard {
    fn drop(&mut self) {
        let Some(p) = self.pending.as_ref() else { return };
        let outcome = if std::thread::panicking() {
            Outcome::Error
        } else if p.status.is_some() && p.bodiless {
            Outcome::Completed
        } else {
            Outcome::Aborted
        };
        self.finish(outcome);
    }
}
