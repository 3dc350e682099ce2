//! The add-on itself: its routes, its handlers and the server loop. `main.rs`
//! wires it to the command line; the tests drive the same code over sockets.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Extension;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use privlog::pipeline::OPENMETRICS_CONTENT_TYPE;
use privlog::{AccountId, PrivlogLayer, StatsHandle, TenantId};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// How long a client may take to send a request's headers (HTTP/1). Slower
/// clients are disconnected, so a slowloris cannot hold connections open.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutdown waits for in-flight requests before giving up on them.
pub(crate) const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// How long after its `exp` claim a Connect JWT is still accepted, for
/// clocks a little apart.
const JWT_LEEWAY_SECS: u64 = 60;

/// The add-on's sign-in: who sent a request, as far as the add-on can
/// prove it.
///
/// Atlassian signs each Connect JWT (`?jwt=` on the iframe, `Authorization:
/// JWT …` on the iframe's own calls) with HS256 and the installation's
/// shared secret. A token whose signature checks out with that secret, and
/// that has not expired, names its user in `sub`: only then does the add-on
/// know the account and tell privlog ([`AccountId`]), which is what makes
/// the account count in k-anonymous statistics. The same token's `iss` (the
/// site's client key) is the request's tenant ([`TenantId`]), so a verified
/// user can never be grouped under a site a token nobody signed names.
/// Anything else — an unsigned or re-signed token, an expired one, an
/// account in a header, a query parameter or the path — is what the client
/// says, and signs nobody in.
///
/// The token read is the one privlog reads: `Authorization: JWT …` first,
/// then `?jwt=`. A request that carries both is judged by its header's
/// token alone, so the add-on never vouches for one token while privlog
/// reads the claims of another.
///
/// The example serves one installation, whose shared secret it is given at
/// start; an add-on with many keeps each installation's secret (from its
/// signed `installed` callback) and picks it by the token's `iss`.
#[derive(Clone)]
pub(crate) struct ConnectAuth {
    key: Option<Arc<ring::hmac::Key>>,
}

/// The account a verified Connect JWT names, put into the request's
/// extensions by [`session_account`] for the handlers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Session {
    /// The Atlassian account ID (`sub`).
    pub(crate) account: String,
    /// The site's client key (`iss`), when the token names one.
    pub(crate) tenant: Option<String>,
}

impl ConnectAuth {
    /// Verifies tokens signed with `shared_secret`.
    pub(crate) fn new(shared_secret: &[u8]) -> Self {
        ConnectAuth {
            key: Some(Arc::new(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, shared_secret))),
        }
    }

    /// Signs nobody in (no shared secret configured).
    pub(crate) fn nobody() -> Self {
        ConnectAuth { key: None }
    }

    /// The signed-in account of a request: from its Connect JWT
    /// (`Authorization: JWT …` first, then `?jwt=`, as privlog reads them),
    /// when the token verifies.
    pub(crate) fn session_of(&self, req: &Request) -> Option<Session> {
        let token = jwt_in_header(req.headers()).or_else(|| req.uri().query().and_then(jwt_in_query))?;
        self.verify(&token)
    }

    /// The `sub` and `iss` of `token` when it is an HS256 JWT signed with
    /// the shared secret and not expired.
    fn verify(&self, token: &str) -> Option<Session> {
        let key = self.key.as_ref()?;
        let mut parts = token.split('.');
        let (header, claims, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        // Only HS256: never `none`, never an algorithm the client picks.
        if header.get("alg")?.as_str()? != "HS256" {
            return None;
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let signed = &token[..token.rfind('.')?];
        ring::hmac::verify(key, signed.as_bytes(), &signature).ok()?;
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()?;
        let exp = claims.get("exp")?.as_u64()?;
        if exp.saturating_add(JWT_LEEWAY_SECS) < unix_now() {
            return None;
        }
        let sub = claims.get("sub")?.as_str()?;
        let tenant = claims
            .get("iss")
            .and_then(serde_json::Value::as_str)
            .filter(|iss| !iss.is_empty())
            .map(str::to_owned);
        (!sub.is_empty()).then(|| Session {
            account: sub.to_owned(),
            tenant,
        })
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn jwt_in_query(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let value = pair.strip_prefix("jwt=")?;
        percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .ok()
            .map(|v| v.into_owned())
    })
}

fn jwt_in_header(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("jwt").then(|| token.trim().to_owned())
}

/// The add-on's routes, without logging; `auth` signs requests in.
pub(crate) fn routes(auth: ConnectAuth) -> Router {
    Router::new()
        .route("/atlassian-connect.json", get(descriptor))
        .route("/installed", post(installed))
        .route("/uninstalled", post(uninstalled))
        .route("/macro", get(macro_view))
        .route("/rest/accounts/{account_id}/history", get(history))
        .route("/search", get(search))
        .route("/rest/pages/{page_id}/index", post(index_page))
        .route("/export/{name}", get(export))
        .route("/health", get(|| async { "ok" }))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(middleware::from_fn_with_state(auth, session_account))
}

/// The add-on with privlog around every route and the fallback, and
/// privlog's own metrics on `GET /metrics`, mounted outside the layer so
/// Prometheus's scrapes are not logged (nor counted as requests).
pub(crate) fn app(layer: PrivlogLayer, auth: ConnectAuth) -> Router {
    let stats = layer.stats_handle();
    routes(auth).layer(layer).merge(metrics(stats))
}

/// `GET /metrics`: every pipeline and per-sink counter of privlog in the
/// OpenMetrics text format, for Prometheus to scrape.
pub(crate) fn metrics(stats: StatsHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let stats = stats.clone();
            async move { ([(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)], stats.openmetrics()) }
        }),
    )
}

/// The add-on descriptor Atlassian fetches at install time; revalidated with
/// its ETag, so repeat fetches get `304 Not Modified`.
const DESCRIPTOR: &str = r#"{"key":"privlog-demo","name":"privlog demo","baseUrl":"https://addon.example.com","authentication":{"type":"jwt"},"lifecycle":{"installed":"/installed","uninstalled":"/uninstalled"},"scopes":["READ"],"modules":{"staticContentMacros":[{"key":"page-stats","name":{"value":"Page statistics"},"url":"/macro?pageId={page.id}&spaceKey={space.key}"}]}}"#;
const DESCRIPTOR_ETAG: &str = "\"descriptor-v1\"";

async fn descriptor(headers: HeaderMap) -> Response {
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == DESCRIPTOR_ETAG.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, DESCRIPTOR_ETAG)]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::ETAG, DESCRIPTOR_ETAG),
        ],
        DESCRIPTOR,
    )
        .into_response()
}

/// The Connect lifecycle payload; only `clientKey` is used, `sharedSecret` is
/// read (the add-on would store it) and dropped.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Lifecycle {
    client_key: String,
    #[allow(dead_code)] // read to validate the payload, then dropped
    shared_secret: Option<String>,
}

async fn installed(body: Bytes) -> Response {
    // A real add-on stores `clientKey` and `sharedSecret` here.
    lifecycle(&body)
}

async fn uninstalled(body: Bytes) -> Response {
    // A real add-on deletes the installation's data here.
    lifecycle(&body)
}

fn lifecycle(body: &[u8]) -> Response {
    match serde_json::from_slice::<Lifecycle>(body) {
        // Tell privlog which customer site this was: it logs only a pseudonym.
        Ok(event) => (TenantId::new(event.client_key), StatusCode::NO_CONTENT).into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, "expected a Connect lifecycle payload\n").into_response(),
    }
}

/// The iframe Confluence loads for the macro:
/// `/macro?xdm_e=…&xdm_c=…&cp=…&lic=active&cv=…&jwt=…&pageId=…&spaceKey=…`.
async fn macro_view(Query(q): Query<std::collections::HashMap<String, String>>) -> impl IntoResponse {
    let licensed = q.get("lic").is_some_and(|l| l == "active");
    let page_id: u64 = q.get("pageId").and_then(|p| p.parse().ok()).unwrap_or(0);
    let html = format!(
        "<!doctype html><html><body><div id=\"page-stats\" data-page=\"{page_id}\" data-licensed=\"{licensed}\">\
         loading page statistics</div></body></html>\n"
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html)
}

/// A signed-in user's own page views. The account in the path is only what
/// the client asks for: the handler serves it to that account alone, and
/// names the signed-in account to privlog, never the path's.
async fn history(Path(account_id): Path<String>, session: Option<Extension<Session>>) -> Response {
    let Some(Extension(session)) = session else {
        return (StatusCode::UNAUTHORIZED, "sign in with a Connect JWT\n").into_response();
    };
    if session.account != account_id {
        return (StatusCode::FORBIDDEN, "that is another account's history\n").into_response();
    }
    (
        AccountId::new(session.account),
        [(header::CONTENT_TYPE, "application/json")],
        "{\"views\":[{\"page\":98765,\"count\":3},{\"page\":4242,\"count\":1}]}\n",
    )
        .into_response()
}

async fn search(Query(q): Query<std::collections::HashMap<String, String>>) -> impl IntoResponse {
    let terms = q.get("q").map(|s| s.split_whitespace().count()).unwrap_or(0);
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!("{{\"terms\":{terms},\"results\":[]}}\n"),
    )
}

/// Reads the whole page body (any size) and reports how much was indexed.
async fn index_page(Path(page_id): Path<u64>, body: Body) -> Response {
    let mut body = body;
    let mut n: u64 = 0;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => n += frame.data_ref().map_or(0, |d| d.len() as u64),
            Err(_) => return (StatusCode::BAD_REQUEST, "upload interrupted\n").into_response(),
        }
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!("{{\"page\":{page_id},\"indexed_bytes\":{n}}}\n"),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct ExportParams {
    size: Option<u64>,
}

/// Streams `size` bytes (default 1 MiB) in chunks, without a Content-Length.
async fn export(Path(_name): Path<String>, Query(p): Query<ExportParams>) -> Response {
    let size = p.size.unwrap_or(1 << 20);
    (
        [(header::CONTENT_TYPE, "text/csv")],
        Body::new(Chunks::new(size, 16 * 1024)),
    )
        .into_response()
}

/// A streamed body of `remaining` bytes in chunks of at most `chunk` bytes.
pub(crate) struct Chunks {
    remaining: u64,
    chunk: Bytes,
}

impl Chunks {
    /// `total` bytes in chunks of `chunk` bytes.
    pub(crate) fn new(total: u64, chunk: usize) -> Self {
        Chunks {
            remaining: total,
            chunk: Bytes::from(vec![b'x'; chunk.max(1)]),
        }
    }
}

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(self.chunk.len() as u64);
        self.remaining -= n;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..n as usize)))))
    }

    fn size_hint(&self) -> SizeHint {
        // Deliberately inexact: the response goes out chunked.
        SizeHint::default()
    }
}

/// The add-on's session middleware, inside the privlog layer: it signs the
/// request in ([`ConnectAuth`]), hands the [`Session`] to the handlers, and
/// tells privlog the verified account and site through the response, unless
/// the handler already did. A request it cannot verify names no account and
/// no site.
async fn session_account(State(auth): State<ConnectAuth>, mut req: Request, next: Next) -> Response {
    let session = auth.session_of(&req);
    if let Some(session) = &session {
        req.extensions_mut().insert(session.clone());
    }
    let mut res = next.run(req).await;
    if let Some(session) = session {
        if res.extensions().get::<AccountId>().is_none() {
            res.extensions_mut().insert(AccountId::new(session.account));
        }
        if let Some(tenant) = session.tenant
            && res.extensions().get::<TenantId>().is_none()
        {
            res.extensions_mut().insert(TenantId::new(tenant));
        }
    }
    res
}

/// Serves `app` on `listener` (HTTP/1.1 and HTTP/2 with prior knowledge)
/// until `shutdown` resolves, then stops accepting, lets in-flight requests
/// finish (up to [`DRAIN_TIMEOUT`]) and returns.
pub(crate) async fn serve(listener: TcpListener, app: Router, shutdown: impl Future<Output = ()>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    eprintln!("connect_addon: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            app.clone().oneshot(req)
        });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // Connection errors (client gone, timeout) are the client's business;
            // the privlog record already says how the request ended.
            let _ = conn.await;
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        eprintln!(
            "connect_addon: requests still running after {}s; stopping anyway",
            DRAIN_TIMEOUT.as_secs()
        );
    }
}
