//! A privlog service for soak and fault testing: an axum app with the layer,
//! a file sink, and a second sink whose faults can be switched at run time.
//! It publishes the pipeline's accounting so a load test can check that every
//! record is accounted for while it runs.
//!
//! ```sh
//! cargo run --release --example soak -- --dir /tmp/privlog-soak --stats-file /tmp/privlog-soak/stats.json
//! curl http://127.0.0.1:3000/privlog/stats          # the accounting, as JSON
//! curl -X POST http://127.0.0.1:3000/privlog/fault/stuck   # ok | fail | slow | stuck
//! ```
//!
//! Options:
//!
//! - `--addr ADDR`        listen address (default `127.0.0.1:3000`; port 0 picks a free one)
//! - `--dir DIR`          where `records.ndjson` is appended (default: a temp dir)
//! - `--stats-file FILE`  rewrite the accounting to FILE every second and once more
//!   after shutdown (`"final": true`); it also names the bound address
//! - `--fault MODE`       the fault sink's mode at start (default `ok`)
//! - `--queue-capacity N` the hand-off queue size (default 16 384)
//!
//! `soak --verify FILE` checks a record file instead of serving: it prints
//! `{"lines":…,"records":…,"invalid":…}`, where a line is invalid when it does
//! not parse as a record or holds a raw control character (C0, DEL, C1,
//! U+2028/9).
//!
//! `scripts/soak.sh` and `scripts/stuck-sink-latency.sh` drive it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use privlog::sink::{FileSink, Sink, SinkError};
use privlog::{AccountId, MasterKey, Policy, Record, Stats, StatsHandle};

/// What the fault sink does with each batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Fault {
    /// Accepts every batch.
    Ok = 0,
    /// Fails every batch (counted as `sink_error`).
    Fail = 1,
    /// Takes 1 ms per record: roughly 100× slower than the traffic one core
    /// serves, so its queue overflows.
    Slow = 2,
    /// Blocks until the mode changes.
    Stuck = 3,
}

impl Fault {
    fn parse(s: &str) -> Option<Fault> {
        match s {
            "ok" => Some(Fault::Ok),
            "fail" => Some(Fault::Fail),
            "slow" => Some(Fault::Slow),
            "stuck" => Some(Fault::Stuck),
            _ => None,
        }
    }

    fn from_u8(v: u8) -> Fault {
        match v {
            1 => Fault::Fail,
            2 => Fault::Slow,
            3 => Fault::Stuck,
            _ => Fault::Ok,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Fault::Ok => "ok",
            Fault::Fail => "fail",
            Fault::Slow => "slow",
            Fault::Stuck => "stuck",
        }
    }
}

/// A sink whose behaviour is switched at run time; counts what it accepted
/// so its `delivered` figure can be checked.
struct FaultSink {
    mode: Arc<AtomicU8>,
    accepted: Arc<AtomicU64>,
}

impl Sink for FaultSink {
    fn name(&self) -> &str {
        "fault"
    }

    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        loop {
            match Fault::from_u8(self.mode.load(Relaxed)) {
                Fault::Ok => break,
                Fault::Fail => return Err(SinkError::new("fault sink set to fail")),
                Fault::Slow => {
                    std::thread::sleep(Duration::from_millis(1) * batch.len().min(1000) as u32);
                    break;
                }
                Fault::Stuck => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        self.accepted.fetch_add(batch.len() as u64, Relaxed);
        Ok(())
    }
}

#[derive(Clone)]
struct AppState {
    stats: StatsHandle,
    mode: Arc<AtomicU8>,
    accepted: Arc<AtomicU64>,
    addr: SocketAddr,
}

fn stats_json(s: &Stats, st: &AppState, extra: serde_json::Value) -> serde_json::Value {
    let sinks: Vec<serde_json::Value> = s
        .sinks
        .iter()
        .map(|k| {
            serde_json::json!({
                "name": k.name,
                "received": k.received,
                "recovered": k.recovered,
                "queued": k.queued,
                "buffered": k.buffered,
                "spooled": k.spooled,
                "delivered": k.delivered,
                "dropped": k.dropped,
                "balanced": k.is_balanced(),
            })
        })
        .collect();
    let mut v = serde_json::json!({
        "addr": st.addr.to_string(),
        "pid": std::process::id(),
        "created": s.created,
        "queued": s.queued,
        "dropped_queue_full": s.dropped_queue_full,
        "dropped_shutdown": s.dropped_shutdown,
        "dropped_sanitize_error": s.dropped_sanitize_error,
        "dispatched": s.dispatched,
        "balanced": s.is_balanced(),
        "fault": Fault::from_u8(st.mode.load(Relaxed)).name(),
        "fault_accepted": st.accepted.load(Relaxed),
        "sinks": sinks,
    });
    if let (Some(obj), serde_json::Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    v
}

async fn stats(State(st): State<AppState>) -> Json<serde_json::Value> {
    Json(stats_json(&st.stats.stats(), &st, serde_json::json!({})))
}

async fn set_fault(State(st): State<AppState>, UrlPath(mode): UrlPath<String>) -> (StatusCode, String) {
    match Fault::parse(&mode) {
        Some(f) => {
            st.mode.store(f as u8, Relaxed);
            (StatusCode::OK, format!("fault sink: {}\n", f.name()))
        }
        None => (
            StatusCode::BAD_REQUEST,
            format!("unknown fault mode {mode:?}: use ok, fail, slow or stuck\n"),
        ),
    }
}

async fn account(UrlPath(id): UrlPath<String>) -> (AccountId, &'static str) {
    (AccountId::new(id), "history\n")
}

fn write_atomically(path: &Path, v: &serde_json::Value) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{v}\n"))?;
    std::fs::rename(tmp, path)
}

struct Args {
    addr: SocketAddr,
    dir: PathBuf,
    stats_file: Option<PathBuf>,
    fault: Fault,
    queue_capacity: usize,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
        dir: std::env::temp_dir().join(format!("privlog-soak-{}", std::process::id())),
        stats_file: None,
        fault: Fault::Ok,
        queue_capacity: 16_384,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => a.addr = value()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--dir" => a.dir = value()?.into(),
            "--stats-file" => a.stats_file = Some(value()?.into()),
            "--fault" => {
                let v = value()?;
                a.fault = Fault::parse(&v).ok_or(format!("--fault {v:?}: use ok, fail, slow or stuck"))?;
            }
            "--queue-capacity" => a.queue_capacity = value()?.parse().map_err(|e| format!("--queue-capacity: {e}"))?,
            other => {
                return Err(format!(
                    "unknown option {other:?} (see the example's header for options)"
                ));
            }
        }
    }
    Ok(a)
}

/// Whether `line` (without its newline) holds a byte sequence no record line
/// may contain raw: C0 controls, DEL, C1 controls, U+2028 or U+2029.
fn has_raw_control(line: &[u8]) -> bool {
    line.iter().enumerate().any(|(i, &b)| {
        b < 0x20
            || b == 0x7f
            || (b == 0xc2 && matches!(line.get(i + 1), Some(0x80..=0x9f)))
            || (b == 0xe2 && line.get(i + 1) == Some(&0x80) && matches!(line.get(i + 2), Some(0xa8 | 0xa9)))
    })
}

fn verify(path: &Path) -> std::io::Result<serde_json::Value> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let (mut lines, mut records, mut invalid) = (0u64, 0u64, 0u64);
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        lines += 1;
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        if line.last() != Some(&b'\n') || has_raw_control(body) || privlog::record::parse_line(body).is_err() {
            invalid += 1;
        } else {
            records += 1;
        }
    }
    Ok(serde_json::json!({ "lines": lines, "records": records, "invalid": invalid }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut argv = std::env::args().skip(1);
    if argv.next().as_deref() == Some("--verify") {
        let path: PathBuf = argv.next().ok_or("--verify needs a record file")?.into();
        println!("{}", verify(&path)?);
        return Ok(());
    }
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let args = args()?;
    std::fs::create_dir_all(&args.dir)?;
    let mode = Arc::new(AtomicU8::new(args.fault as u8));
    let accepted = Arc::new(AtomicU64::new(0));
    let (layer, guard) = privlog::builder()
        .key(MasterKey::from_bytes([0x42; 32]))
        .policy(Policy::atlassian_connect())
        .queue_capacity(args.queue_capacity)
        .sink(FileSink::open(args.dir.join("records.ndjson"))?)
        .sink(FaultSink {
            mode: mode.clone(),
            accepted: accepted.clone(),
        })
        .build()?;

    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let addr = listener.local_addr()?;
    let state = AppState {
        stats: guard.stats_handle().ok_or("pipeline not running")?,
        mode,
        accepted,
        addr,
    };
    let app = Router::new()
        .route("/", get(|| async { "ok\n" }))
        .route("/rest/accounts/{id}/history", get(account))
        .fallback(|| async { "fallback\n" })
        .layer(layer)
        // Operator endpoints sit outside the layer: reading the stats is not traffic.
        .merge(
            Router::new()
                .route("/privlog/stats", get(stats))
                .route("/privlog/fault/{mode}", post(set_fault))
                .with_state(state.clone()),
        );

    if let Some(path) = args.stats_file.clone() {
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let v = stats_json(&st.stats.stats(), &st, serde_json::json!({ "final": false }));
                if let Err(e) = write_atomically(&path, &v) {
                    eprintln!("soak: cannot write {}: {e}", path.display());
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    eprintln!("soak: listening on http://{addr}, records in {}", args.dir.display());
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async {
                    match term.as_mut() {
                        Some(t) => { t.recv().await; }
                        None => std::future::pending::<()>().await,
                    }
                } => {}
            }
        })
        .await?;
    let report = guard.shutdown_async_within(Duration::from_secs(5)).await;
    let v = stats_json(
        &report.stats,
        &state,
        serde_json::json!({ "final": true, "shutdown_complete": report.complete }),
    );
    if let Some(path) = &args.stats_file {
        write_atomically(path, &v)?;
    }
    eprintln!("soak: stopped: {v}");
    Ok(())
}
