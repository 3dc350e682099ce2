use std::net::SocketAddr;
use std::sync::Arc;

use tower_layer::Layer;

use super::PrivlogService;
use crate::pipeline::{Handoff, Stats, StatsHandle};
/// Which request parts the request path keeps: compiled from the policy.
pub(crate) use crate::policy::CaptureConfig;

/// What the request path needs to know, shared by every service clone.
pub(crate) struct Shared {
    pub(crate) handoff: Arc<Handoff>,
    pub(crate) stats: StatsHandle,
    pub(crate) capture: CaptureConfig,
    /// Where request start times come from; `None` is the system clock.
    pub(crate) clock: Option<Clock>,
}

/// A source of wall-clock time for record timestamps.
pub(crate) type Clock = Arc<dyn Fn() -> std::time::SystemTime + Send + Sync>;

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("capture", &self.capture)
            .field("clock", &self.clock.is_some())
            .finish_non_exhaustive()
    }
}

/// The privlog tower [`Layer`]: one privacy-safe record per request.
///
/// Built with [`crate::builder`], together with the [`WorkerGuard`](crate::WorkerGuard)
/// that flushes the records at shutdown. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PrivlogLayer {
    pub(crate) shared: Arc<Shared>,
}

impl PrivlogLayer {
    /// Wraps `inner` for a connection whose socket peer is `peer` — the way to
    /// give a plain hyper server the client address without touching requests.
    pub fn layer_with_peer<S>(&self, inner: S, peer: SocketAddr) -> PrivlogService<S> {
        PrivlogService {
            inner,
            shared: self.shared.clone(),
            peer: Some(peer),
        }
    }

    /// The pipeline's accounting right now.
    pub fn stats(&self) -> Stats {
        self.shared.stats.stats()
    }

    /// A handle for reading the accounting from elsewhere (a metrics endpoint).
    pub fn stats_handle(&self) -> StatsHandle {
        self.shared.stats.clone()
    }
}

impl<S> Layer<S> for PrivlogLayer {
    type Service = PrivlogService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PrivlogService {
            inner,
            shared: self.shared.clone(),
            peer: None,
        }
    }
}
