use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use http::{Request, Response, header};
use http_body::Body;
use tower_service::Service;

use super::counter::ByteCounter;
use super::guard::{InFlight, RecordGuard};
use super::layer::Shared;
use super::{AccountId, ClientAddr, RequestBody, ResponseBody, ResponseFuture, TenantId};
use crate::capture::{MAX_CAPTURED, Readings};

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
        // One counter read; the worker derives the wall-clock start from it.
        let t0 = self.shared.handoff.clock.now();
        let configured = self.shared.clock.as_ref().map(|clock| clock());
        let cfg = &self.shared.capture;
        let headers = req.headers();
        // The declared length: hyper's bodies know it from `Content-Length`
        // (and say 0 for none), which saves looking the header up.
        let declared_req_bytes = req.body().size_hint().exact().or_else(|| {
            headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.trim().parse::<u64>().ok())
        });
        let ext = req.extensions();
        let peer = self.peer.or_else(|| ext.get::<ClientAddr>().map(|c| c.0));
        #[cfg(feature = "axum")]
        let peer = peer.or_else(|| ext.get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0));

        // The capture copies the text it needs: nothing of the request
        // (nor of the server's read buffer it lives in) outlives the request.
        let mut raw = self.shared.handoff.take_box();
        raw.begin(
            configured.unwrap_or(SystemTime::UNIX_EPOCH),
            req.method().clone(),
            req.version(),
            peer,
        );
        raw.readings = Some(Readings {
            start: t0,
            head: None,
            end: t0,
            wall: configured.is_none(),
        });
        raw.declared_req_bytes = declared_req_bytes;
        // Identity an auth middleware outside privlog vouched for; the
        // request keeps its copy for the handlers. A response extension
        // replaces it (see `RecordGuard::on_head`).
        if !ext.is_empty() {
            raw.app.account = ext.get::<AccountId>().map(|a| a.0.clone());
            raw.app.tenant = ext.get::<TenantId>().map(|t| t.0.clone());
        }
        raw.push_uri(req.uri());
        #[cfg(feature = "axum")]
        if let Some(m) = ext.get::<axum::extract::MatchedPath>() {
            raw.matched = raw.push(m.as_str().as_bytes());
        }
        if cfg.authorization {
            raw.push_jwt(headers.get(header::AUTHORIZATION));
        }
        for (i, name) in cfg.id_headers.iter().take(MAX_CAPTURED).enumerate() {
            raw.account_headers.spans[i] = headers.get(name).and_then(|v| raw.push(v.as_bytes()));
        }
        if cfg.forwarding {
            // Keep the rightmost values: they are nearest to us.
            raw.forwarded = raw.push_last(headers.get_all(header::FORWARDED).iter());
            raw.x_forwarded_for = raw.push_last(headers.get_all("x-forwarded-for").iter());
        }

        let (body_counter, req_counter) = if req.body().is_end_stream() {
            (None, None)
        } else {
            let (body, guard) = ByteCounter::pair();
            (Some(body), Some(guard))
        };
        let cap = InFlight { raw, req_counter };
        let guard = RecordGuard::new(cap, self.shared.clone());
        let req = req.map(|body| RequestBody::new(body, body_counter));
        ResponseFuture::new(self.inner.call(req), guard)
    }
}
