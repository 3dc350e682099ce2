//! Identity vouched for by the application, over real sockets: an auth
//! middleware outside the privlog layer puts `AccountId` / `TenantId` in the
//! request's extensions, a handler in the response's. The response's word
//! beats the request's, and both beat the Connect JWT.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod support;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::{Router, routing::get};
use privlog::{AccountId, AccountSource, Policy, Purpose, Record, TenantId};
use support::addon::{Server, expected_pseudonym};
use support::client::{empty, get as req, send};
use support::jwt::connect_jwt;

/// The outer auth middleware: signs the request in as the `x-user` /
/// `x-site` it names (a stand-in for a verified session).
async fn auth(mut req: Request, next: Next) -> Response {
    if let Some(user) = req.headers().get("x-user").and_then(|v| v.to_str().ok()) {
        let user = user.to_owned();
        req.extensions_mut().insert(AccountId::new(user));
    }
    if let Some(site) = req.headers().get("x-site").and_then(|v| v.to_str().ok()) {
        let site = site.to_owned();
        req.extensions_mut().insert(TenantId::new(site));
    }
    next.run(req).await
}

fn app(layer: privlog::PrivlogLayer) -> Router {
    Router::new()
        // The handler still sees what the auth middleware inserted.
        .route(
            "/me",
            get(|req: Request| async move {
                if req.extensions().get::<AccountId>().is_some() {
                    "signed in"
                } else {
                    "anonymous"
                }
            }),
        )
        .route(
            "/switch",
            get(|| async { (AccountId::new("557058:from-response"), "switched") }),
        )
        .layer(layer)
        .layer(middleware::from_fn(auth))
}

async fn one(server: &Server, before: usize, path: &str, headers: &[(&str, &str)]) -> (String, Record) {
    let mut b = req(server.addr, path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let (res, body) = send(server.addr, b.body(empty()).unwrap()).await;
    assert_eq!(res.status(), 200);
    let record = server.one_record_after(before).await;
    (String::from_utf8(body.to_vec()).unwrap(), record)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_extensions_from_an_outer_auth_middleware_name_the_account_and_tenant() {
    let server = Server::start(privlog::builder().policy(Policy::atlassian_connect()), app).await;
    let (body, r) = one(&server, 0, "/me", &[("x-user", "557058:outer"), ("x-site", "site-1")]).await;
    assert_eq!(body, "signed in", "the handler still sees the request extension");
    assert_eq!(
        r.account,
        Some(expected_pseudonym(Purpose::Account, r.ts, "557058:outer"))
    );
    assert_eq!(r.account_src, Some(AccountSource::App));
    assert_eq!(r.tenant, Some(expected_pseudonym(Purpose::Tenant, r.ts, "site-1")));

    // Nobody signed in: no account.
    let (body, r) = one(&server, 1, "/me", &[]).await;
    assert_eq!(body, "anonymous");
    assert_eq!((r.account, r.tenant), (None, None));
    let (report, text) = server.stop().await;
    assert!(report.stats.is_balanced());
    assert!(!text.contains("557058:outer") && !text.contains("site-1"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_extension_beats_a_request_extension_which_beats_the_jwt() {
    let server = Server::start(privlog::builder().policy(Policy::atlassian_connect()), app).await;
    let jwt = format!("JWT {}", connect_jwt("557058:from-jwt", "jira:client"));
    // Request extension over the JWT.
    let (_, r) = one(
        &server,
        0,
        "/me",
        &[("x-user", "557058:outer"), ("authorization", &jwt)],
    )
    .await;
    assert_eq!(
        r.account,
        Some(expected_pseudonym(Purpose::Account, r.ts, "557058:outer"))
    );
    assert_eq!(r.account_src, Some(AccountSource::App));
    // Response extension over the request extension (and the JWT); the
    // tenant the response did not name still comes from the request.
    let (_, r) = one(
        &server,
        1,
        "/switch",
        &[
            ("x-user", "557058:outer"),
            ("x-site", "site-1"),
            ("authorization", &jwt),
        ],
    )
    .await;
    assert_eq!(
        r.account,
        Some(expected_pseudonym(Purpose::Account, r.ts, "557058:from-response"))
    );
    assert_eq!(r.account_src, Some(AccountSource::App));
    assert_eq!(r.tenant, Some(expected_pseudonym(Purpose::Tenant, r.ts, "site-1")));
    // Without any extension the JWT decides.
    let (_, r) = one(&server, 2, "/me", &[("authorization", &jwt)]).await;
    assert_eq!(
        r.account,
        Some(expected_pseudonym(Purpose::Account, r.ts, "557058:from-jwt"))
    );
    assert_eq!(r.account_src, Some(AccountSource::Jwt));
    let (report, _) = server.stop().await;
    assert!(report.stats.is_balanced());
}
