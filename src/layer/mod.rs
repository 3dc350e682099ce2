//! The tower layer: captures request metadata on the request path, cheaply,
//! and hands one raw record per request to the pipeline.

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
