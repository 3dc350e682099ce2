//! Privacy-preserving request logging for tower, hyper and axum.
//!
//! privlog turns every HTTP request into exactly one record of metadata —
//! client network, time, method, route, sizes, latency, status — with account
//! and tenant IDs replaced by keyed, rotating pseudonyms and user content
//! stripped. The request path copies the text the record needs (path and
//! query, route template, Connect JWT, selected header values) into the
//! reusable buffers of a pooled capture box, counts bytes and reads the
//! clock, and queues the box with one non-blocking `try_send`; in steady
//! state it allocates nothing. Sanitizing and writing happen on background
//! threads.
//!
//! # Example
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use privlog::{MasterKey, Policy, sink::WriterSink};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let key = MasterKey::from_hex(&std::env::var("PRIVLOG_KEY")?)?;
//! let (layer, guard) = privlog::builder()
//!     .key(key)
//!     .policy(Policy::atlassian_connect())
//!     .sink(WriterSink::stdout())
//!     .build()?;
//!
//! let app = Router::new().route("/health", get(|| async { "ok" })).layer(layer);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
//!     .with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; }) // let requests finish
//!     .await?;
//! guard.shutdown_async().await; // then flush every queued record
//! # Ok(()) }
//! ```
//!
//! prints one line per request:
//!
//! ```text
//! {"v":1,"ts":"2026-11-22T09:30:00.123Z","client":"127.0.0.0/24","method":"GET","route":"/health","path":"/health","query":null,"status":200,"req_bytes":0,"resp_bytes":2,"ttfb_us":41,"duration_us":63,"outcome":"completed","proto":"HTTP/1.1","account":null,"account_src":null,"tenant":null,"epoch":"2026-11","kid":"k_1f0e2d3c"}
//! ```
//!
//! # When the record is emitted
//!
//! Exactly once per request; the [`layer`] module's documentation lists
//! when, with which outcome, and what happens when the queue is full.
//!
//! # What is never logged
//!
//! Bodies (never read), headers (none logged), query parameters off the
//! allowlist, raw account and tenant IDs, JWTs, e-mails and tokens in paths,
//! full client IPs (unless [`IpPolicy::Keep`] is chosen). See [`Policy`].

// Library code never prints and never unwraps; tests, examples, benches and
// the CLI may.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]
#![warn(clippy::print_stdout, clippy::print_stderr)]

#[cfg(feature = "tools")]
pub mod audit;
mod builder;
mod capture;
#[cfg(feature = "config")]
pub mod config;
pub mod layer;
pub mod limits;
#[cfg(unix)]
mod ownership;
pub mod pipeline;
pub mod policy;
#[cfg(feature = "tools")]
pub mod read;
pub mod record;
#[cfg(feature = "tools")]
pub mod retention;
mod sanitize;
mod secret_shape;
pub mod sink;
#[cfg(feature = "tools")]
pub mod subject;
pub mod usage;

pub use builder::{BuildError, Builder, builder};
pub use layer::{AccountId, ClientAddr, PrivlogLayer, PrivlogService, RouteTemplate, TenantId};
pub use pipeline::{Sampling, ShutdownReport, Skip, Stats, StatsHandle, WorkerGuard};
pub use policy::{
    AccountSources, CidrError, Epoch, EpochKeys, IpPolicy, JwtClaims, KeyError, KeyId, MasterKey, Policy, PolicyError,
    Pseudonym, Pseudonymizer, Purpose, QueryPolicy, Rotation, TrustedProxies, peek_jwt, scrub_path,
};
pub use record::{AccountSource, Field, Fields, Outcome, Record, SCHEMA_VERSION, SampleRate};

/// The code in the README and the guides under `docs/` is compiled (and, where
/// it can run without a server, run) as doc tests.
#[cfg(doctest)]
mod readme_doctests {
    #[doc = include_str!("../README.md")]
    struct Readme;
    #[doc = include_str!("../docs/guide.md")]
    struct Guide;
    #[doc = include_str!("../docs/sinks.md")]
    struct Sinks;
    #[doc = include_str!("../docs/analysts.md")]
    struct Analysts;
    #[doc = include_str!("../docs/privacy-operations.md")]
    struct PrivacyOperations;
    #[doc = include_str!("../docs/privacy-model.md")]
    struct PrivacyModel;
    #[doc = include_str!("../docs/performance.md")]
    struct Performance;
    #[doc = include_str!("../docs/hardening.md")]
    struct Hardening;
}
