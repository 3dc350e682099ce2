//! The request threads: encode, compress, send, classify. The sink thread
//! hands them batches and collects their replies, so it never waits on the
//! network while records keep arriving.

use std::io::Write as _;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use flate2::Compression;
use flate2::write::GzEncoder;
use ureq::Agent;

use super::builder::{Headers, without_url};
use super::encoder::Encoder;
use super::retry::parse_retry_after;
use crate::Record;
use crate::sink::SinkError;

/// The most response-body bytes read (kept for warnings and bulk results).
const MAX_RESPONSE: u64 = 16 * 1024 * 1024;
/// Response-body bytes kept when the encoder does not need the body.
const MAX_RESPONSE_SNIPPET: u64 = 4 * 1024;

/// How one attempt ended.
#[derive(Debug)]
pub(crate) enum Reply {
    /// The collector answered.
    Status {
        status: u16,
        retry_after: Option<Duration>,
        body: Vec<u8>,
    },
    /// No answer: connection refused or reset, timeout, TLS failure.
    Transport(String),
}

struct Shared {
    agent: Agent,
    url: String,
    encoder: Arc<dyn Encoder>,
    headers: Headers,
    gzip: bool,
}

type Job = (u64, Arc<Vec<Record>>);

/// A fixed set of request threads.
#[derive(Debug)]
pub(crate) struct Client {
    jobs: Option<Sender<Job>>,
    replies: Receiver<(u64, Reply)>,
}

pub(crate) struct ClientConfig {
    pub(crate) url: String,
    pub(crate) encoder: Arc<dyn Encoder>,
    pub(crate) headers: Headers,
    pub(crate) gzip: bool,
    pub(crate) timeout: Duration,
    pub(crate) threads: usize,
    pub(crate) ca_pem: Option<Vec<u8>>,
    pub(crate) name: String,
}

impl Client {
    pub(crate) fn start(cfg: ClientConfig) -> Result<Client, SinkError> {
        let mut agent_cfg = Agent::config_builder()
            .timeout_global(Some(cfg.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("privlog/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &cfg.ca_pem {
            let certs = parse_ca_pem(pem)?;
            agent_cfg = agent_cfg.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
                    .build(),
            );
        }
        let shared = Arc::new(Shared {
            agent: agent_cfg.build().new_agent(),
            url: cfg.url,
            encoder: cfg.encoder,
            headers: cfg.headers,
            gzip: cfg.gzip,
        });
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (reply_tx, reply_rx) = mpsc::channel();
        for i in 0..cfg.threads.max(1) {
            let shared = Arc::clone(&shared);
            let job_rx = Arc::clone(&job_rx);
            let reply_tx = reply_tx.clone();
            std::thread::Builder::new()
                .name(format!("privlog-{}-{i}", cfg.name))
                .spawn(move || {
                    let mut body = Vec::with_capacity(256 * 1024);
                    loop {
                        let job = job_rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        let Ok((id, records)) = job else { return };
                        let reply = send(&shared, &records, &mut body);
                        if reply_tx.send((id, reply)).is_err() {
                            return;
                        }
                    }
                })
                .map_err(|e| SinkError::with_source("cannot start the http sink's request thread", e))?;
        }
        Ok(Client {
            jobs: Some(job_tx),
            replies: reply_rx,
        })
    }

    /// Queues a request; `false` when the threads are gone.
    pub(crate) fn send(&self, id: u64, records: Arc<Vec<Record>>) -> bool {
        self.jobs.as_ref().is_some_and(|j| j.send((id, records)).is_ok())
    }

    pub(crate) fn try_reply(&self) -> Option<(u64, Reply)> {
        self.replies.try_recv().ok()
    }

    pub(crate) fn reply_within(&self, d: Duration) -> Option<(u64, Reply)> {
        self.replies.recv_timeout(d).ok()
    }

    /// Lets the threads end after their current request.
    pub(crate) fn stop(&mut self) {
        self.jobs = None;
    }
}

/// The certificates of a PEM file of CA certificates.
///
/// # Errors
/// The PEM does not parse or holds no certificate.
pub(crate) fn parse_ca_pem(pem: &[u8]) -> Result<Vec<ureq::tls::Certificate<'static>>, SinkError> {
    let certs = ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SinkError::with_source("invalid ca certificate pem: pass PEM-encoded certificates", e))?;
    if certs.is_empty() {
        return Err(SinkError::new(
            "the ca certificate pem holds no certificate: pass PEM-encoded certificates",
        ));
    }
    Ok(certs)
}

fn send(shared: &Shared, records: &[Record], body: &mut Vec<u8>) -> Reply {
    body.clear();
    shared.encoder.encode(records, body);
    if shared.gzip {
        let mut gz = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::default());
        if gz.write_all(body).is_ok()
            && let Ok(z) = gz.finish()
        {
            *body = z;
        }
    }
    let mut req = shared
        .agent
        .post(&shared.url)
        .header("content-type", shared.encoder.content_type());
    if shared.gzip {
        req = req.header("content-encoding", "gzip");
    }
    for (k, v) in &shared.headers.0 {
        req = req.header(k, v);
    }
    match req.send(&body[..]) {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            let limit = if shared.encoder.reads_response() && (200..300).contains(&status) {
                MAX_RESPONSE
            } else {
                MAX_RESPONSE_SNIPPET
            };
            let body = resp
                .body_mut()
                .with_config()
                .limit(limit)
                .read_to_vec()
                .unwrap_or_default();
            Reply::Status {
                status,
                retry_after,
                body,
            }
        }
        // The error may quote the URL; it is shown without credentials, path or query.
        Err(e) => Reply::Transport(without_url(&e.to_string(), &shared.url)),
    }
}
