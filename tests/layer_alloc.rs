//! The allocation budget of the request path: in steady state privlog adds no
//! heap allocation per request to what the bare service does.
//!
//! Allocations are counted on the request's thread only (the counting global
//! allocator keeps per-thread counts), so the worker sanitizing records on its
//! own thread does not count. Requests are driven by hand on the test thread:
//! `poll_ready`, `call`, the response future, the response body to its end,
//! with the inner service reading the request body to its end. Request parts
//! are clones of shared templates, as a server's parser hands out slices of
//! its read buffer.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use allocation_counter::measure;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Response, Uri, header};
use http_body::Body;
use http_body_util::Full;
use privlog::sink::MemorySink;
use privlog::{MasterKey, Policy, PrivlogLayer, TrustedProxies, WorkerGuard};
use tower::{Service, ServiceBuilder};

/// An Atlassian Connect JWT (`sub` and `iss` claims).
const CONNECT_JWT: &str =
    "JWT eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI1NTcwNTg6ZjBlMWQyYzMiLCJpc3MiOiJqaXJhOjFmNGM2ZDBlIn0.c2ln";
const WARM_UP: usize = 64;
const MEASURED: usize = 256;
/// Requests between two worker rounds: more than a busy server sends in the
/// millisecond the worker parks for, fewer than the boxes in the pool.
const ROUND: usize = 128;

/// Hello world that reads the request body to its end first, as a handler
/// that takes the body would.
fn hello<B: Body>(req: Request<B>) -> Ready<Result<Response<Full<Bytes>>, Infallible>> {
    let mut cx = Context::from_waker(Waker::noop());
    let mut body = pin!(req.into_body());
    while let Poll::Ready(Some(Ok(_))) = body.as_mut().poll_frame(&mut cx) {}
    ready(Ok(Response::new(Full::new(Bytes::from_static(b"Hello, World!")))))
}

/// Request parts shared the way a server's parser shares its read buffer.
struct Template {
    method: Method,
    uri: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

fn shared(s: &str) -> Bytes {
    // `copy_from_slice` gives a uniquely owned buffer; one clone makes it
    // shared, like the slices a parser hands out.
    let b = Bytes::copy_from_slice(s.as_bytes());
    drop(b.clone());
    b
}

impl Template {
    fn new(method: Method, uri: &str, headers: &[(&'static str, &str)], body: &str) -> Self {
        Template {
            method,
            uri: Uri::from_maybe_shared(shared(uri)).expect("valid uri"),
            headers: headers
                .iter()
                .map(|(n, v)| {
                    (
                        HeaderName::from_static(n),
                        HeaderValue::from_maybe_shared(shared(v)).expect("valid header"),
                    )
                })
                .collect(),
            body: shared(body),
        }
    }

    fn request(&self) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        for (n, v) in &self.headers {
            req.headers_mut().append(n.clone(), v.clone());
        }
        req
    }
}

/// Sends one request through `svc` and reads the response body to its end.
fn drive<S, B>(svc: &mut S, req: Request<Full<Bytes>>) -> usize
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    B: Body<Data = Bytes>,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    let fut = pin!(svc.call(req));
    let Poll::Ready(Ok(res)) = fut.poll(&mut cx) else {
        panic!("hello world answers at once")
    };
    let mut body = pin!(res.into_body());
    let mut n = 0;
    while let Poll::Ready(Some(Ok(frame))) = body.as_mut().poll_frame(&mut cx) {
        n += frame.into_data().map(|d| d.len()).unwrap_or(0);
    }
    n
}

/// Heap allocations made on this thread by `MEASURED` requests through
/// `svc`, after `WARM_UP` requests to reach the steady state. Requests go in
/// rounds of `ROUND`; between rounds (not counted) `settle` lets privlog's
/// worker take what was queued, as it does every millisecond under load.
fn allocations<S, B>(svc: &mut S, template: &Template, settle: impl Fn()) -> u64
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    B: Body<Data = Bytes>,
{
    for _ in 0..WARM_UP {
        assert_eq!(drive(svc, template.request()), 13);
    }
    settle();
    let mut total = 0;
    for _ in 0..MEASURED / ROUND {
        let reqs: Vec<_> = (0..ROUND).map(|_| template.request()).collect();
        total += measure(|| {
            for req in reqs {
                assert_eq!(drive(svc, req), 13);
            }
        })
        .count_total;
        settle();
    }
    total
}

/// Waits until privlog's worker has taken every record made so far.
fn worker_caught_up(guard: &WorkerGuard) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = guard.stats();
        if s.dispatched + s.dropped_queue_full >= s.created || Instant::now() > deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn privlog(policy: Policy) -> (PrivlogLayer, WorkerGuard, MemorySink) {
    let sink = MemorySink::new();
    let (layer, guard) = privlog::builder()
        .key(MasterKey::from_bytes([7; 32]))
        .policy(policy)
        .sink(sink.clone())
        .build()
        .expect("privlog builds");
    (layer, guard, sink)
}

/// Asserts privlog adds no allocation for `template` under `policy`, and that
/// it did log every request.
fn assert_no_extra_allocations(policy: Policy, template: &Template) {
    let mut bare = tower::service_fn(hello::<Full<Bytes>>);
    let bare_allocs = allocations(&mut bare, template, || {});

    let (layer, guard, sink) = privlog(policy);
    let mut logged = ServiceBuilder::new().layer(layer).service_fn(hello);
    let logged_allocs = allocations(&mut logged, template, || worker_caught_up(&guard));
    drop(logged);
    let report = guard.shutdown();

    assert_eq!(
        logged_allocs, bare_allocs,
        "privlog allocated {} times over {MEASURED} requests on the request thread, the bare service {}",
        logged_allocs, bare_allocs
    );
    assert_eq!(report.stats.created, (WARM_UP + MEASURED) as u64);
    assert_eq!(sink.len(), WARM_UP + MEASURED, "every request was logged");
}

#[test]
fn the_allocation_counter_counts_this_thread() {
    // Guards the tests below against passing because nothing is counted.
    let n = measure(|| drop(std::hint::black_box(Box::new(1u64)))).count_total;
    assert_eq!(n, 1);
}

#[test]
fn a_bodiless_get_with_a_connect_jwt_allocates_nothing_extra() {
    let template = Template::new(
        Method::GET,
        "/rest/api/3/issue/PROJ-123/comment?lic=active&jwt=abc",
        &[("authorization", CONNECT_JWT), ("user-agent", "test/1.0")],
        "",
    );
    assert_no_extra_allocations(Policy::atlassian_connect(), &template);
}

#[test]
fn a_post_with_a_body_allocates_nothing_extra() {
    let template = Template::new(
        Method::POST,
        "/rest/api/3/issue",
        &[
            ("authorization", CONNECT_JWT),
            ("content-type", "application/json"),
            ("content-length", "27"),
        ],
        r#"{"fields":{"summary":"hi"}}"#,
    );
    assert_no_extra_allocations(Policy::atlassian_connect(), &template);
}

#[test]
fn capturing_forwarding_and_id_headers_allocates_nothing_extra() {
    let policy = Policy::atlassian_connect()
        .trusted_proxies(TrustedProxies::parse(["10.0.0.0/8"]).expect("valid cidr"))
        .account_header(header::HeaderName::from_static("x-account-id"))
        .tenant_header(header::HeaderName::from_static("x-tenant-id"));
    let template = Template::new(
        Method::GET,
        "/pages/42",
        &[
            ("x-forwarded-for", "198.51.100.7, 10.0.0.2"),
            ("forwarded", "for=198.51.100.7;proto=https"),
            ("x-account-id", "557058:f0e1d2c3"),
            ("x-tenant-id", "tenant-1"),
        ],
        "",
    );
    assert_no_extra_allocations(policy, &template);
}
