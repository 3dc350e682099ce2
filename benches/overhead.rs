//! What one request costs on the request path: a bare hello-world service,
//! the same service behind privlog, and behind tower-http's `TraceLayer` with
//! tracing-subscriber's JSON formatter.
//!
//! ```sh
//! cargo bench --bench overhead
//! ```
//!
//! Each request is driven by hand on the bench thread (`poll_ready`, `call`,
//! the response future, then the response body to its end) with a no-op
//! waker, so the figures are the middleware's own cost, without a runtime or
//! a socket. privlog hands its records to a worker thread whose sink discards
//! them; requests are sent in rounds smaller than the hand-off queue and the
//! worker is let drain between rounds (outside the timed part), so every
//! record takes the normal path into the queue rather than the "queue full"
//! path. At the end (not in `cargo test --benches`, nor with
//! `--profile-time`) the bench measures the three services again in
//! alternating rounds, so that all three see the same machine load, and
//! prints the medians, what each middleware adds and the ratio of the two.

// The bench prints its summary of ratios.
#![allow(clippy::print_stdout)]

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::Criterion;
use http::{Request, Response, header};
use http_body::Body;
use http_body_util::{Empty, Full};
use privlog::sink::{Sink, SinkError};
use privlog::{MasterKey, Policy, Record};
use tower::{Service, ServiceBuilder};
use tower_http::trace::TraceLayer;
use tracing::Span;

/// An Atlassian Connect JWT: `{"alg":"HS256","typ":"JWT"}` .
/// `{"sub":"557058:f0e1d2c3-b4a5-4697-8899-aabbccddeeff","iss":"jira:1f4c6d0e-2b3a-4c5d-8e9f-0a1b2c3d4e5f","qsh":"…","iat":1795000000,"exp":1795000180}` . signature
const CONNECT_JWT: &str = "JWT eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI1NTcwNTg6ZjBlMWQyYzMtYjRhNS00Njk3LTg4OTktYWFiYmNjZGRlZWZmIiwiaXNzIjoiamlyYToxZjRjNmQwZS0yYjNhLTRjNWQtOGU5Zi0wYTFiMmMzZDRlNWYiLCJxc2giOiI4MDYzZmYyYmQwYjE2NjdjNWE3NDdmMmQ0ZTdjNjYxNTYwMjFjNmM2NTc1NDRjZDliMmFhMWY4ZDFlNTFlYzhmIiwiaWF0IjoxNzk1MDAwMDAwLCJleHAiOjE3OTUwMDAxODB9.c2lnbmF0dXJlLW5vdC1jaGVja2Vk";
const URI: &str = "/rest/api/3/issue/PROJ-123/comment?lic=active&cv=1001.0.0&xdm_e=https%3A%2F%2Fexample.atlassian.net";
/// Requests per timed round; far below the hand-off queue (16 384 by default),
/// and short enough that the worker rarely wakes up in the middle of one.
const ROUND: u64 = 256;

/// The bare service: hello world, ready at once.
fn hello<B>(_req: Request<B>) -> Ready<Result<Response<Full<Bytes>>, Infallible>> {
    ready(Ok(Response::new(Full::new(Bytes::from_static(b"Hello, World!")))))
}

fn request(uri: &http::Uri, auth: &http::HeaderValue) -> Request<Empty<Bytes>> {
    let mut req = Request::new(Empty::new());
    *req.uri_mut() = uri.clone();
    req.headers_mut().insert(header::AUTHORIZATION, auth.clone());
    req.headers_mut()
        .insert(header::USER_AGENT, http::HeaderValue::from_static("bench/1.0"));
    req
}

/// Sends one request through `svc` and reads the response body to its end,
/// polling by hand; returns the number of body bytes.
fn drive<S, B>(svc: &mut S, req: Request<Empty<Bytes>>) -> usize
where
    S: Service<Request<Empty<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        _ => unreachable!("hello world is always ready"),
    }
    let fut = pin!(svc.call(req));
    let Poll::Ready(Ok(res)) = fut.poll(&mut cx) else {
        unreachable!("hello world answers at once")
    };
    let mut body = pin!(res.into_body());
    let mut n = 0;
    while let Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
        if let Ok(data) = frame.expect("body never fails").into_data() {
            n += data.len();
        }
    }
    n
}

/// A sink that throws records away.
struct Discard;

impl Sink for Discard {
    fn name(&self) -> &str {
        "discard"
    }
    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        black_box(batch);
        Ok(())
    }
}

/// Times `iters` requests in rounds of [`ROUND`], calling `between` (untimed)
/// after each round.
fn timed<S, B>(svc: &mut S, iters: u64, between: &mut dyn FnMut()) -> Duration
where
    S: Service<Request<Empty<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let uri = http::Uri::from_static(URI);
    let auth = http::HeaderValue::from_static(CONNECT_JWT);
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(ROUND);
        // Requests are made before the clock starts: building them is the
        // server's cost, not the middleware's.
        let reqs: Vec<_> = (0..n).map(|_| request(&uri, &auth)).collect();
        let t = Instant::now();
        for req in reqs {
            black_box(drive(svc, black_box(req)));
        }
        total += t.elapsed();
        left -= n;
        between();
    }
    total
}

fn overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("request");

    let mut bare = tower::service_fn(hello::<Empty<Bytes>>);
    group.bench_function("bare", |b| b.iter_custom(|iters| timed(&mut bare, iters, &mut || {})));

    let (layer, guard) = privlog::builder()
        .key(MasterKey::from_bytes([7; 32]))
        .policy(Policy::atlassian_connect())
        .sink(Discard)
        .build()
        .expect("privlog builds");
    let stats = guard.stats_handle().expect("running pipeline");
    let mut with_privlog = ServiceBuilder::new().layer(layer).service_fn(hello);
    let mut drain = || {
        // Let the worker empty the hand-off queue before the next round.
        while stats.stats().queued > 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
    };
    group.bench_function("privlog", |b| {
        b.iter_custom(|iters| timed(&mut with_privlog, iters, &mut drain))
    });

    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::sink)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    let mut with_trace = ServiceBuilder::new()
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<Empty<Bytes>>| {
                    tracing::info_span!("request", method = %req.method(), path = req.uri().path())
                })
                .on_request(())
                .on_response(|res: &Response<Full<Bytes>>, latency: Duration, _span: &Span| {
                    tracing::info!(
                        status = res.status().as_u16(),
                        latency_us = latency.as_micros() as u64,
                        resp_bytes = res.body().size_hint().exact(),
                        "response"
                    );
                })
                .on_body_chunk(())
                .on_eos(())
                .on_failure(()),
        )
        .service_fn(hello);
    group.bench_function("tracelayer", |b| {
        b.iter_custom(|iters| timed(&mut with_trace, iters, &mut || {}))
    });
    group.finish();

    // Not when profiling one service (`--profile-time`), so a profiler sees only it.
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--profile-time") {
        paired(&mut bare, &mut with_privlog, &mut with_trace, &mut drain);
    }
    drop(with_privlog);
    let report = guard.shutdown();
    assert_eq!(report.stats.dropped_queue_full, 0, "every record took the normal path");
    assert!(report.stats.delivered_everywhere() > 0 && report.stats.is_balanced());
    println!("privlog records delivered: {}", report.stats.delivered_everywhere());
}

/// Per-request time of one round of `n` requests through `svc`, in ns.
fn round_ns<S, B>(svc: &mut S, n: u64) -> f64
where
    S: Service<Request<Empty<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    timed(svc, n, &mut || {}).as_nanos() as f64 / n as f64
}

/// The figures the summary prints: the three services measured in
/// alternating rounds, so that all three see the same machine load, and the
/// medians of the per-round differences.
fn paired<A, P, T, BA, BP, BT>(bare: &mut A, privlog: &mut P, trace: &mut T, drain: &mut dyn FnMut())
where
    A: Service<Request<Empty<Bytes>>, Response = Response<BA>>,
    P: Service<Request<Empty<Bytes>>, Response = Response<BP>>,
    T: Service<Request<Empty<Bytes>>, Response = Response<BT>>,
    A::Error: std::fmt::Debug,
    P::Error: std::fmt::Debug,
    T::Error: std::fmt::Debug,
    BA: Body<Data = Bytes>,
    BP: Body<Data = Bytes>,
    BT: Body<Data = Bytes>,
    BA::Error: std::fmt::Debug,
    BP::Error: std::fmt::Debug,
    BT::Error: std::fmt::Debug,
{
    const ROUNDS: usize = 400;
    let (mut b, mut p, mut t, mut dp, mut dt) = (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        let rb = round_ns(bare, ROUND);
        let rp = round_ns(privlog, ROUND);
        drain();
        let rt = round_ns(trace, ROUND / 4);
        let rb2 = round_ns(bare, ROUND);
        // The bare service is measured on both sides of the others.
        let base = (rb + rb2) / 2.0;
        b.push(base);
        p.push(rp);
        t.push(rt);
        dp.push(rp - base);
        dt.push(rt - base);
    }
    let m = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (b, p, t, dp, dt) = (m(&mut b), m(&mut p), m(&mut t), m(&mut dp), m(&mut dt));
    println!();
    println!("per request, {ROUNDS} alternating rounds (medians):");
    println!("  bare        {b:8.1} ns");
    println!("  privlog     {p:8.1} ns   adds {dp:7.1} ns");
    println!("  tracelayer  {t:8.1} ns   adds {dt:7.1} ns");
    println!("  tracelayer adds {:.0}x what privlog adds", dt / dp.max(1.0));
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    overhead(&mut c);
    c.final_summary();
}
