//! The raw capture handed from the request path to the worker.
//!
//! It holds cheap, reference-counted clones of request parts (method, URI,
//! selected header values) plus counters and clocks. It is crate-private: only
//! the worker's sanitizer reads it, and what comes out is a [`Record`](super::Record).

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use http::{HeaderValue, Method, Uri, Version};

use super::Outcome;

/// How many values of one header kind the request path keeps (forwarding
/// headers may repeat; account headers are configured by name).
pub(crate) const MAX_CAPTURED: usize = 4;

/// A fixed-size set of captured header values; no allocation.
#[derive(Clone, Debug, Default)]
pub(crate) struct Captured {
    pub(crate) values: [Option<HeaderValue>; MAX_CAPTURED],
}

impl Captured {
    /// Appends `v`; when full, the oldest value makes room.
    pub(crate) fn push_keep_last(&mut self, v: &HeaderValue) {
        if let Some(slot) = self.values.iter_mut().find(|s| s.is_none()) {
            *slot = Some(v.clone());
            return;
        }
        self.values.rotate_left(1);
        self.values[MAX_CAPTURED - 1] = Some(v.clone());
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &HeaderValue> {
        self.values.iter().flatten()
    }
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

/// Everything the request path captured about one request.
#[derive(Debug)]
pub(crate) struct RawRecord {
    pub(crate) start: SystemTime,
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) version: Version,
    pub(crate) peer: Option<SocketAddr>,
    /// The route template known on the request path (axum `MatchedPath`).
    #[cfg(feature = "axum")]
    pub(crate) matched: Option<axum::extract::MatchedPath>,
    /// `Authorization` value, kept only when a JWT account source is on.
    pub(crate) authorization: Option<HeaderValue>,
    /// Configured account / tenant header values, in configured order.
    pub(crate) account_headers: Captured,
    /// `Forwarded` values, kept only when the peer is a trusted proxy.
    pub(crate) forwarded: Captured,
    /// `X-Forwarded-For` values, kept only when the peer is a trusted proxy.
    pub(crate) x_forwarded_for: Captured,
    pub(crate) declared_req_bytes: Option<u64>,
    pub(crate) req_bytes: Option<u64>,
    pub(crate) resp_bytes: u64,
    pub(crate) status: Option<u16>,
    pub(crate) ttfb: Option<Duration>,
    pub(crate) duration: Duration,
    pub(crate) outcome: Outcome,
    pub(crate) app: AppProvided,
}
