//! The smallest privlog setup: an axum app on 127.0.0.1:3000 that prints one
//! NDJSON record per request to stdout.
//!
//! ```sh
//! cargo run --example quickstart
//! curl 'http://127.0.0.1:3000/users/jane@example.com?token=secret'
//! ```
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

    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".into())
        .parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("listening on http://{addr} — try: curl http://{addr}/users/jane@example.com");
    axum::serve(listener, app(layer).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    let report = guard.shutdown();
    eprintln!(
        "privlog: {} records created, {} written",
        report.stats.created,
        report.stats.delivered_everywhere()
    );
    Ok(())
}
