//! The once-only record guard: whatever happens to the request, exactly one
//! record is handed off, and handing it off never panics or blocks.

use std::sync::Arc;

use http::{Method, Response};

use super::counter::ByteCounter;
use super::layer::Shared;
use super::{AccountId, RouteTemplate, TenantId};
use crate::capture::CaptureBox;
use crate::record::Outcome;

/// What the request path captured before calling the inner service.
pub(crate) struct InFlight {
    /// The capture handed to the worker, filled in as the request goes on.
    pub(crate) raw: CaptureBox,
    pub(crate) req_counter: Option<ByteCounter>,
}

struct Pending {
    cap: InFlight,
    /// The response has no body to send (HEAD, 204, 304, empty), so the body
    /// being dropped unpolled is a normal end.
    bodiless: bool,
}

pub(crate) struct RecordGuard {
    pending: Option<Pending>,
    shared: Arc<Shared>,
}

impl RecordGuard {
    pub(crate) fn new(cap: InFlight, shared: Arc<Shared>) -> Self {
        RecordGuard {
            pending: Some(Pending { cap, bodiless: false }),
            shared,
        }
    }

    /// The response head is ready: note status and time, and take what the
    /// application said about the account out of the response.
    pub(crate) fn on_head<B: http_body::Body>(&mut self, res: &mut Response<B>) {
        let Some(p) = self.pending.as_mut() else { return };
        let status = res.status();
        let raw = &mut p.cap.raw;
        raw.status = Some(status.as_u16());
        if let Some(r) = raw.readings.as_mut() {
            r.head = Some(self.shared.handoff.clock.now());
        }
        p.bodiless = raw.method == Method::HEAD
            || status.is_informational()
            || status == http::StatusCode::NO_CONTENT
            || status == http::StatusCode::NOT_MODIFIED
            || res.body().is_end_stream();
        let ext = res.extensions_mut();
        if !ext.is_empty() {
            // The response's word beats the request's (an auth middleware
            // outside privlog), each ID on its own.
            if let Some(a) = ext.remove::<AccountId>() {
                raw.app.account = Some(a.0);
            }
            if let Some(t) = ext.remove::<TenantId>() {
                raw.app.tenant = Some(t.0);
            }
            raw.app.route = ext.remove::<RouteTemplate>().map(|r| r.0);
        }
    }

    pub(crate) fn add_resp_bytes(&mut self, n: usize) {
        if let Some(p) = self.pending.as_mut() {
            p.cap.raw.resp_bytes += n as u64;
        }
    }

    /// Hands the record off with `outcome`. Later calls and the drop do nothing.
    pub(crate) fn finish(&mut self, outcome: Outcome) {
        let Some(p) = self.pending.take() else { return };
        let InFlight { mut raw, req_counter } = p.cap;
        // A response to a request the client never finished sending says
        // nothing about what the client got: the client went away.
        raw.outcome = match &req_counter {
            Some(c) if c.failed() && outcome == Outcome::Completed => Outcome::Aborted,
            _ => outcome,
        };
        raw.req_bytes = req_counter.map(|c| c.get());
        if let Some(r) = raw.readings.as_mut() {
            r.end = self.shared.handoff.clock.now();
        }
        self.shared.handoff.submit(raw);
    }
}

impl Drop for RecordGuard {
    fn drop(&mut self) {
        let Some(p) = self.pending.as_ref() else { return };
        let outcome = if std::thread::panicking() {
            Outcome::Error
        } else if p.cap.raw.status.is_some() && p.bodiless {
            Outcome::Completed
        } else {
            Outcome::Aborted
        };
        self.finish(outcome);
    }
}
