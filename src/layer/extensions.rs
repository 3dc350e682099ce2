use std::borrow::Cow;
use std::net::SocketAddr;

/// The account a response belongs to, as the application knows it.
///
/// Put it in the response's extensions — from a handler or from an inner
/// authentication middleware — or in the request's extensions from an
/// authentication middleware outside the privlog layer, and the layer
/// pseudonymizes it into the record's `account` field (`account_src` `app`).
/// The value never leaves the process: the layer takes it out of the
/// response, and copies it from the request (which keeps it for the handlers).
///
/// Precedence: a response extension beats a request extension, and either
/// beats every other account source (Connect JWT, header, query, path). A
/// middleware *inside* the layer (between it and the handler) changes a
/// request the layer has already seen: it must put the ID in the response.
///
/// From an axum handler, return it as a response part:
///
/// ```
/// # #[cfg(feature = "axum")] {
/// use privlog::AccountId;
/// async fn handler() -> (AccountId, &'static str) {
///     (AccountId::new("557058:f0e1d2c3-b4a5-4697-8899-aabbccddeeff"), "hello")
/// }
/// # }
/// ```
///
/// From an inner middleware (anything between the privlog layer and the
/// handler), after calling the inner service:
///
/// ```
/// # fn f(mut res: http::Response<()>, account_from_auth: String) {
/// res.extensions_mut().insert(privlog::AccountId::new(account_from_auth));
/// # }
/// ```
///
/// From an outer middleware (added after the privlog layer in axum, so it
/// runs first), before calling the next service:
///
/// ```
/// # #[cfg(feature = "axum")] {
/// use axum::{extract::Request, middleware::Next, response::Response};
/// async fn auth(mut req: Request, next: Next) -> Response {
///     // … verify the session, then:
///     req.extensions_mut().insert(privlog::AccountId::new("557058:f0e1d2c3"));
///     next.run(req).await
/// }
/// // Router::new().route(…).layer(privlog_layer).layer(axum::middleware::from_fn(auth))
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AccountId(pub(crate) String);

impl AccountId {
    /// The account ID (an Atlassian `accountId`, a user ID of yours …).
    pub fn new(id: impl Into<String>) -> Self {
        AccountId(id.into())
    }
}

impl std::fmt::Debug for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountId(<redacted>)")
    }
}

/// The tenant (customer site) a response belongs to, as the application knows
/// it — for Atlassian Connect the installation's `clientKey`. Works like
/// [`AccountId`].
#[derive(Clone, PartialEq, Eq)]
pub struct TenantId(pub(crate) String);

impl TenantId {
    /// The tenant ID.
    pub fn new(id: impl Into<String>) -> Self {
        TenantId(id.into())
    }
}

impl std::fmt::Debug for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TenantId(<redacted>)")
    }
}

/// The route template that served a response (`/pages/{id}`), for routers
/// other than axum (axum's `MatchedPath` is read automatically). Put it in the
/// response's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteTemplate(pub(crate) Cow<'static, str>);

impl RouteTemplate {
    /// A route template.
    pub fn new(template: impl Into<Cow<'static, str>>) -> Self {
        RouteTemplate(template.into())
    }
}

/// The socket peer of a request, for servers that are not axum (axum's
/// `ConnectInfo<SocketAddr>` is read automatically). Put it in the request's
/// extensions, or build the service with
/// [`PrivlogLayer::layer_with_peer`](crate::PrivlogLayer::layer_with_peer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

#[cfg(feature = "axum")]
mod axum_parts {
    use axum::response::{IntoResponseParts, ResponseParts};

    use super::{AccountId, RouteTemplate, TenantId};

    macro_rules! as_part {
        ($t:ty) => {
            impl IntoResponseParts for $t {
                type Error = std::convert::Infallible;
                fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
                    res.extensions_mut().insert(self);
                    Ok(res)
                }
            }
        };
    }
    as_part!(AccountId);
    as_part!(TenantId);
    as_part!(RouteTemplate);
}
