//! An Atlassian Connect add-on on axum, logging every request with privlog.
//!
//! ```sh
//! export PRIVLOG_KEY=$(openssl rand -hex 32)   # 64 hex characters, keep it secret
//! export CONNECT_SHARED_SECRET=...             # the installation's sharedSecret
//! cargo run --release --example connect_addon -- --addr 127.0.0.1:8080 --log-file requests.ndjson
//! curl -s 'http://127.0.0.1:8080/search?q=quarterly+report'
//! curl -s 'http://127.0.0.1:8080/export/report.csv?size=100000' >/dev/null
//! tail -n 2 requests.ndjson
//! ```
//!
//! Options:
//!
//! - `--addr HOST:PORT` where to listen (port 0 picks a free port; the bound
//!   address is printed on stderr);
//! - `--log-file FILE` where NDJSON records are appended;
//! - `--trusted-proxy CIDR` (repeatable) reverse proxies whose `Forwarded` /
//!   `X-Forwarded-For` headers are believed;
//! - `--clock-offset-days N` shifts record timestamps by N days (may be
//!   negative), to produce traffic in other pseudonym epochs;
//! - `--suppression-file FILE` a suppression list kept by `privlog subject
//!   erase --suppress FILE`: accounts on it are logged without their
//!   account, the file is re-read when it changes (no restart).
//!
//! Without `PRIVLOG_KEY` a random key is used (with a warning), so pseudonyms
//! change at every restart.
//!
//! `CONNECT_SHARED_SECRET` (at least 32 bytes) is the shared secret Atlassian
//! signs the installation's Connect JWTs with: a request whose token verifies
//! with it is signed in, and only its account is told to privlog as the
//! application's own (`AccountId`), the accounts k-anonymous statistics
//! count. Without it nobody is signed in (with a warning). On SIGTERM or Ctrl-C the server stops accepting,
//! lets in-flight requests finish, writes every record and prints a summary.
#![allow(clippy::print_stderr)] // an example's messages go to the terminal

mod app;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use privlog::sink::FileSink;
use privlog::{MasterKey, Policy, TrustedProxies};

const USAGE: &str = "usage: connect_addon --addr HOST:PORT --log-file FILE [--trusted-proxy CIDR]... [--clock-offset-days N] [--suppression-file FILE]";

struct Args {
    addr: SocketAddr,
    log_file: PathBuf,
    trusted: Vec<String>,
    clock_offset_days: i64,
    suppression_file: Option<PathBuf>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut addr, mut log_file, mut trusted, mut offset) = (None, None, Vec::new(), 0i64);
    let mut suppression_file = None;
    while let Some(flag) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--addr" => {
                let v = value("--addr")?;
                addr = Some(
                    v.parse::<SocketAddr>()
                        .map_err(|_| format!("--addr {v:?} is not HOST:PORT (e.g. 127.0.0.1:8080)"))?,
                );
            }
            "--log-file" => log_file = Some(PathBuf::from(value("--log-file")?)),
            "--trusted-proxy" => trusted.push(value("--trusted-proxy")?),
            "--suppression-file" => suppression_file = Some(PathBuf::from(value("--suppression-file")?)),
            "--clock-offset-days" => {
                let v = value("--clock-offset-days")?;
                offset = v
                    .parse()
                    .map_err(|_| format!("--clock-offset-days {v:?} is not a whole number of days"))?;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Args {
        addr: addr.ok_or("--addr is required")?,
        log_file: log_file.ok_or("--log-file is required")?,
        trusted,
        clock_offset_days: offset,
        suppression_file,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("connect_addon: {msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("connect_addon: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let trusted = TrustedProxies::parse(&args.trusted)?;
    let mut builder = privlog::builder()
        .policy(Policy::atlassian_connect().trusted_proxies(trusted))
        .sink(FileSink::open(&args.log_file)?);
    // Without a key the builder warns and uses a random one.
    if let Ok(hex) = std::env::var("PRIVLOG_KEY") {
        builder = builder.key(MasterKey::from_hex(hex.trim()).map_err(|e| format!("PRIVLOG_KEY: {e}"))?);
    }
    // Accounts on this list (`privlog subject erase --suppress FILE`) are
    // logged without their account; the file is re-read when it changes.
    if let Some(path) = &args.suppression_file {
        builder = builder.suppression_file(path);
    }
    if args.clock_offset_days != 0 {
        let days = args.clock_offset_days;
        let shift = Duration::from_secs(days.unsigned_abs() * 86_400);
        builder = builder.clock(move || {
            let now = SystemTime::now();
            if days > 0 { now + shift } else { now - shift }
        });
    }
    let (layer, guard) = builder.build()?;
    let auth = connect_auth()?;

    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let shutdown = shutdown_signal();
    eprintln!("connect_addon: listening on http://{}", listener.local_addr()?);
    app::serve(listener, app::app(layer, auth), shutdown).await;

    // Every connection is closed, so no new record can appear: write them all.
    let report = guard.shutdown_async().await;
    let s = &report.stats;
    let lost = s.created.saturating_sub(s.delivered_everywhere());
    let mut why: Vec<String> = Vec::new();
    if s.dropped_queue_full > 0 {
        why.push(format!("queue_full {}", s.dropped_queue_full));
    }
    for sink in &s.sinks {
        why.extend(sink.dropped.iter().map(|(reason, n)| format!("{reason} {n}")));
    }
    eprintln!(
        "connect_addon: {} records created, {} written to {}{}{}",
        s.created,
        s.delivered_everywhere(),
        args.log_file.display(),
        if s.suppressed == 0 {
            String::new()
        } else {
            format!(", {} without their account (suppression list)", s.suppressed)
        },
        if lost == 0 {
            String::new()
        } else {
            format!(" ({lost} not written: {}; see the warnings above)", why.join(", "))
        }
    );
    Ok(())
}

/// The shortest shared secret accepted: Atlassian's are far longer, and a
/// short one could be guessed, letting anyone sign in as anyone.
const MIN_SHARED_SECRET_LEN: usize = 32;

/// Verification of Connect JWTs with `CONNECT_SHARED_SECRET`, or nobody
/// signed in when it is not set.
fn connect_auth() -> Result<app::ConnectAuth, String> {
    match std::env::var("CONNECT_SHARED_SECRET") {
        Ok(secret) if secret.len() >= MIN_SHARED_SECRET_LEN => Ok(app::ConnectAuth::new(secret.as_bytes())),
        Ok(secret) => Err(format!(
            "CONNECT_SHARED_SECRET is {} bytes long: set the installation's sharedSecret ({MIN_SHARED_SECRET_LEN} bytes or more)",
            secret.len()
        )),
        Err(_) => {
            eprintln!(
                "connect_addon: CONNECT_SHARED_SECRET is not set: no Connect JWT can be verified, so no request is signed in and statistics about signed-in use are withheld"
            );
            Ok(app::ConnectAuth::nobody())
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed before this
/// returns, so a signal that arrives right after start-up is not lost.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    };
    async move {
        #[cfg(unix)]
        match signals {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("connect_addon: cannot watch SIGTERM/SIGINT ({e}); stop with Ctrl-C");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("connect_addon: shutting down");
    }
}
