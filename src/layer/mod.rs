//! The tower layer: captures request metadata on the request path, cheaply,
//! and hands one capture per request to the pipeline.
//!
//! The pieces, in the order a request meets them: [`PrivlogLayer`] wraps the
//! service (`layer.rs`); [`PrivlogService`] starts the capture
//! and copies what the policy needs from the request (`service.rs`); the
//! request body is counted ([`RequestBody`], `counter.rs`); the inner
//! service's future is polled ([`ResponseFuture`]) and the response head
//! noted; the response body is counted ([`ResponseBody`]); the once-only
//! record guard (`guard.rs`) hands the capture off exactly once, whatever
//! happens. The application talks to the layer through the request and
//! response extensions in `extensions.rs` ([`AccountId`], [`TenantId`],
//! [`RouteTemplate`], [`ClientAddr`]).
//!
//! # When the record is emitted
//!
//! Exactly once per request, at the first of:
//!
//! - the response body's last frame (or a frame after which the body reports
//!   `is_end_stream`), or the response being dropped unpolled when it has no
//!   body to send (HEAD, 1xx, 204, 304, an empty body): outcome `completed`;
//! - a response body error, or the inner service returning an error (status
//!   `null`): outcome `error`;
//! - the response future or body being dropped early — client gone, timeout,
//!   cancellation: outcome `aborted` with the bytes counted so far; during a
//!   panic: outcome `error`.
//!
//! A request whose body failed to arrive (the client went away mid-upload) is
//! `aborted` even when the service still answered it.
//!
//! Emitting is a non-blocking hand-off. When the queue is full the record is
//! dropped and counted
//! ([`Stats::dropped_queue_full`](crate::Stats::dropped_queue_full)), never
//! waited for.

mod body;
mod counter;
mod extensions;
mod future;
mod guard;
#[allow(clippy::module_inception)]
mod layer;
mod service;

pub use body::{RequestBody, ResponseBody};
pub use extensions::{AccountId, ClientAddr, RouteTemplate, TenantId};
pub use future::ResponseFuture;
pub use layer::PrivlogLayer;
pub(crate) use layer::{Clock, Shared};
pub use service::PrivlogService;
