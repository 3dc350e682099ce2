use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response, header};
use http_body::Body;
use tower_service::Service;

use super::counter::ByteCounter;
use super::guard::{Capture, RecordGuard};
use super::layer::Shared;
use super::{ClientAddr, RequestBody, ResponseBody, ResponseFuture};
use crate::record::Outcome;
use crate::record::raw::{AppProvided, Captured, RawRecord};

/// The service made by [`PrivlogLayer`](crate::PrivlogLayer).
///
/// Responses pass through unchanged (their body wrapped to count bytes),
/// errors pass through unchanged, and the request never waits on logging.
#[derive(Clone, Debug)]
pub struct PrivlogService<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
    pub(crate) peer: Option<SocketAddr>,
}

impl<S> PrivlogService<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for PrivlogService<S>
where
    S: Service<Request<RequestBody<ReqB>>, Response = Response<ResB>>,
    ReqB: Body,
    ResB: Body,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        // One clock read: the wall-clock start is derived from the monotonic one.
        let t0 = self.shared.handoff.clock.now();
        let start = match &self.shared.clock {
            None => self.shared.handoff.clock.wall(t0),
            Some(clock) => clock(),
        };
        let cfg = &self.shared.capture;
        let headers = req.headers();

        let authorization = if cfg.authorization {
            headers.get(header::AUTHORIZATION).cloned()
        } else {
            None
        };
        let mut account_headers = Captured::default();
        for (slot, name) in account_headers.values.iter_mut().zip(&cfg.id_headers) {
            *slot = headers.get(name).cloned();
        }
        let mut forwarded = Captured::default();
        let mut x_forwarded_for = Captured::default();
        if cfg.forwarding {
            // Keep the rightmost values: they are nearest to us.
            for v in headers.get_all(header::FORWARDED) {
                forwarded.push_keep_last(v);
            }
            for v in headers.get_all("x-forwarded-for") {
                x_forwarded_for.push_keep_last(v);
            }
        }
        let declared_req_bytes = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok());

        let ext = req.extensions();
        let peer = self.peer.or_else(|| ext.get::<ClientAddr>().map(|c| c.0));
        #[cfg(feature = "axum")]
        let peer = peer.or_else(|| ext.get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0));
        #[cfg(feature = "axum")]
        let matched = ext.get::<axum::extract::MatchedPath>().cloned();

        let (body_counter, req_counter) = if req.body().is_end_stream() {
            (None, None)
        } else {
            let (body, guard) = ByteCounter::pair();
            (Some(body), Some(guard))
        };
        let mut raw = self.shared.handoff.take_box();
        *raw = RawRecord {
            start,
            method: req.method().clone(),
            uri: req.uri().clone(),
            version: req.version(),
            peer,
            #[cfg(feature = "axum")]
            matched,
            authorization,
            account_headers,
            forwarded,
            x_forwarded_for,
            declared_req_bytes,
            req_bytes: None,
            resp_bytes: 0,
            status: None,
            ttfb: None,
            duration: Duration::ZERO,
            outcome: Outcome::Aborted,
            app: AppProvided::default(),
        };
        let cap = Capture { raw, t0, req_counter };
        let guard = RecordGuard::new(cap, self.shared.clone());
        let req = req.map(|body| RequestBody::new(body, body_counter));
        ResponseFuture::new(self.inner.call(req), guard)
    }
}
