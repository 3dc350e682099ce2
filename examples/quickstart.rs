//! The smallest privlog setup: an axum app on 127.0.0.1:3000 that prints one
//! NDJSON record per request to stdout.
//!
//! ```sh
//! cargo run --example quickstart
//! curl 'http://127.0.0.1:3000/users/jane@example.com?token=secret'
//! ```
//!
//! `--addr 127.0.0.1:0` (or `ADDR`) listens elsewhere. Ctrl-C or SIGTERM
//! stops it gracefully: in-flight requests finish, then every record is
//! written before the process exits.
//!
//! Set `PRIVLOG_KEY` to 64 hex characters (`privlog keygen --stdout`) to keep
//! pseudonyms stable across restarts; without it a random key is used.

use std::net::SocketAddr;

use axum::{Router, extract::Path, routing::get};
use privlog::{AccountId, MasterKey, Policy, sink::WriterSink};

async fn hello() -> &'static str {
    "hello from privlog\n"
}

async fn user(Path(id): Path<String>) -> (AccountId, String) {
    // Tell privlog whose request this was; it logs only a pseudonym.
    (AccountId::new(id.clone()), format!("hello, {id}\n"))
}

fn app(layer: privlog::PrivlogLayer) -> Router {
    Router::new()
        .route("/", get(hello))
        .route("/users/{id}", get(user))
        .layer(layer)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let mut builder = privlog::builder()
        .policy(Policy::atlassian_connect())
        .sink(WriterSink::stdout());
    if let Ok(hex) = std::env::var("PRIVLOG_KEY") {
        builder = builder.key(MasterKey::from_hex(&hex)?);
    }
    let (layer, guard) = builder.build()?;

    let mut args = std::env::args().skip(1);
    let addr = match (args.next().as_deref(), args.next()) {
        (Some("--addr"), Some(addr)) => addr,
        (None, _) => std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into()),
        _ => return Err("usage: quickstart [--addr HOST:PORT]".into()),
    };
    let listener = tokio::net::TcpListener::bind(addr.parse::<SocketAddr>()?).await?;
    let addr = listener.local_addr()?;
    let shutdown = shutdown_signal();
    eprintln!("quickstart: listening on http://{addr}");
    eprintln!("try: curl http://{addr}/users/jane@example.com");
    // Stop taking connections on Ctrl-C or SIGTERM and let running requests
    // finish; only then shut the guard down, so that no record is lost.
    axum::serve(listener, app(layer).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await?;
    let report = guard.shutdown_async().await;
    eprintln!(
        "quickstart: {} records created, {} written",
        report.stats.created,
        report.stats.delivered_everywhere()
    );
    Ok(())
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM (what `docker stop` and systemd
/// send). The handlers are installed before this returns, so a signal that
/// arrives right after start-up is not lost.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    };
    async move {
        #[cfg(unix)]
        if let (Ok(mut int), Ok(mut term)) = signals {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
