//! Hooks for privlog's own benchmarks, compiled only with the `bench`
//! feature. Not part of the API: hidden from the docs, no stability promise.
//!
//! They let `benches/pipeline.rs` drive the worker's sanitizer on captures
//! made up front, without the request path in the measurement.

use std::net::SocketAddr;
use std::time::SystemTime;

use http::{Request, header};

use crate::capture::RequestClock;
use crate::capture::{Capture, Readings, TEXT_CAPACITY};
use crate::record::Outcome;
use crate::sanitize::Sanitizer;
use crate::{MasterKey, Policy, Record};

/// What the request path hands the worker for one finished request.
#[derive(Debug)]
pub struct RawCapture(Capture);

/// The capture of a request the way the layer makes it for a policy that reads
/// Connect JWTs (the JWT is kept without its signature), answered with `status`.
///
/// Its times are clock readings, as the request path takes them (the start
/// is `start`, as with a configured clock), so the sanitizer turns them into
/// durations as the worker does.
pub fn capture<B>(req: &Request<B>, peer: SocketAddr, start: SystemTime, status: u16, resp_bytes: u64) -> RawCapture {
    let mut raw = Capture::with_capacity(TEXT_CAPACITY);
    raw.begin(start, req.method().clone(), req.version(), Some(peer));
    raw.readings = Some(Readings {
        start: 1 << 40,
        head: Some((1 << 40) + 540_000),
        end: (1 << 40) + 720_000,
        wall: false,
    });
    raw.push_uri(req.uri());
    raw.push_jwt(req.headers().get(header::AUTHORIZATION));
    raw.resp_bytes = resp_bytes;
    raw.status = Some(status);
    raw.outcome = Outcome::Completed;
    RawCapture(raw)
}

/// The worker's sanitizer, with the worker's clock.
pub struct BenchSanitizer(Sanitizer, RequestClock);

impl std::fmt::Debug for BenchSanitizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BenchSanitizer")
    }
}

impl BenchSanitizer {
    /// The sanitizer the builder would make for `policy` and `key`.
    ///
    /// # Errors
    /// The policy's [`PolicyError`](crate::PolicyError) when it cannot work.
    pub fn new(policy: Policy, key: &MasterKey) -> Result<Self, crate::PolicyError> {
        Ok(BenchSanitizer(
            Sanitizer::new(policy.compile()?, key),
            RequestClock::new(),
        ))
    }

    /// Turns one capture into a new record.
    pub fn sanitize(&mut self, mut raw: RawCapture) -> Record {
        raw.0.resolve_times(&self.1);
        self.0.sanitize(&mut raw.0)
    }

    /// Turns one capture into a record the way the worker does: into a
    /// record of an earlier batch, reusing its buffers, then readies the
    /// capture for the pool.
    pub fn sanitize_into(&mut self, raw: &mut RawCapture, out: &mut Record) {
        raw.0.resolve_times(&self.1);
        self.0.sanitize_into(&mut raw.0, out);
        raw.0.release();
    }
}
