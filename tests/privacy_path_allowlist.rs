//! The path allowlist through the real layer: requests over loopback to an
//! axum router whose fallback answers paths without a route template. Under
//! the default policy structural paths keep their words, names, user keys,
//! card and ID numbers and customer hosts never reach a record, the words of
//! matched route templates are learned, and operator rules from a
//! configuration file apply end to end.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod support;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get as route_get;
use privlog::config::Config;
use privlog::policy::PathPolicy;
use privlog::{Policy, PrivlogLayer};
use support::addon::Server;
use support::client::{empty, get, send};
use support::files::TempDir;

/// A router with one route and a 404 fallback, the layer inside it.
fn widgets(layer: PrivlogLayer) -> Router {
    Router::new()
        .route("/zorblax/quuxly/{id}", route_get(|| async { "widget" }))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .layer(layer)
}

/// Sends `path` and returns the path and route of its one record.
async fn path_of(server: &Server, path: &str) -> (String, Option<String>) {
    let before = server.mem.records().len();
    let (res, _) = send(server.addr, get(server.addr, path).body(empty()).unwrap()).await;
    assert!(res.status().as_u16() < 500, "{path}: {}", res.status());
    let r = server.one_record_after(before).await;
    (r.path, r.route)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn structural_paths_keep_their_words_under_the_default_policy() {
    let server = Server::connect_addon(Policy::atlassian_connect()).await;
    for path in [
        "/assets/app.js",
        "/docs/getting-started",
        "/api/v2/settings",
        "/robots.txt",
    ] {
        assert_eq!(path_of(&server, path).await, (path.to_owned(), None), "{path}");
    }
    server.stop().await;
}

/// Paths of realistic add-on traffic holding personal data, and the raw
/// pieces that must not reach any output.
const LEAKS: [(&str, &[&str]); 8] = [
    ("/display/~jane.doe", &["jane", "doe"]),
    ("/u/jane-doe", &["jane", "doe"]),
    ("/people/jane/doe", &["jane", "doe"]),
    ("/secure/ViewProfile.jspa/JIRAUSER10100", &["JIRAUSER10100", "10100"]),
    ("/billing/4111%201111%201111%201111", &["4111", "1111"]),
    ("/billing/4111-1111-1111-1111/receipt", &["4111", "1111"]),
    ("/profile/078-05-1120", &["078-05-1120", "1120"]),
    ("/sites/acme.atlassian.net/wiki", &["acme", "atlassian.net"]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leak_set_never_survives_the_default_policy() {
    let server = Server::connect_addon(Policy::atlassian_connect()).await;
    for (path, _) in LEAKS {
        let (written, route) = path_of(&server, path).await;
        assert_eq!(route, None, "{path} reached the fallback");
        assert!(
            written.contains('{'),
            "{path} -> {written}: a placeholder stands for the value"
        );
    }
    let records = server.mem.records();
    let (_, file) = server.stop().await;
    assert_eq!((records.len(), file.lines().count()), (LEAKS.len(), LEAKS.len()));
    let file_records = support::records::parse_file(&file);
    for (path, pieces) in LEAKS {
        for r in records.iter().chain(&file_records) {
            // Every text field a request can reach (numbers aside: a
            // duration may hold any digits).
            let text = [Some(&r.path), r.route.as_ref(), r.query.as_ref(), r.client.as_ref()]
                .into_iter()
                .flatten()
                .map(|s| s.to_lowercase())
                .collect::<Vec<_>>()
                .join(" ");
            for piece in pieces {
                assert!(
                    !text.contains(&piece.to_lowercase()),
                    "{piece:?} of {path} reached a record: {text}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scrub_path_policy_keeps_the_denylist_through_the_layer() {
    let policy = Policy::atlassian_connect().path_policy(PathPolicy::Scrub);
    let server = Server::connect_addon(policy).await;
    assert_eq!(
        path_of(&server, "/wiki/users/jane.doe%40example.com/12345").await,
        ("/wiki/users/{email}/{id}".to_owned(), None)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn words_of_a_matched_route_survive_in_a_fallback_path() {
    let server = Server::start(privlog::builder(), widgets).await;
    // Not yet learned: unknown words are placeholders.
    assert_eq!(
        path_of(&server, "/zorblax/quuxly").await,
        ("/{text}/{text}".to_owned(), None)
    );
    // A request the route matches teaches its literal words …
    assert_eq!(
        path_of(&server, "/zorblax/quuxly/7").await,
        (
            "/zorblax/quuxly/{id}".to_owned(),
            Some("/zorblax/quuxly/{id}".to_owned())
        )
    );
    // … so the fallback keeps them, and only them.
    assert_eq!(
        path_of(&server, "/zorblax/quuxly").await,
        ("/zorblax/quuxly".to_owned(), None)
    );
    assert_eq!(
        path_of(&server, "/zorblax/jane").await,
        ("/zorblax/{text}".to_owned(), None)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_and_safe_words_from_a_configuration_file_apply_end_to_end() {
    let dir = TempDir::new("config");
    let toml = format!(
        "[policy]\nsafe_words = [\"quuxly\"]\nquery_allow = [\"emp\"]\n\n\
         [[policy.rules]]\nname = \"employee-id\"\npattern = '^E[0-9]{{6}}$'\nplaceholder = \"{{employee}}\"\n\n\
         [[sinks]]\ntype = \"file\"\npath = {:?}\n",
        dir.path().join("from-config.ndjson")
    );
    let cfg = Config::from_toml(&toml, Vec::<(String, String)>::new()).unwrap();
    let server = Server::start(cfg.builder().unwrap(), widgets).await;
    let before = server.mem.records().len();
    let req = get(server.addr, "/quuxly/E123456/jane?emp=E654321")
        .body(empty())
        .unwrap();
    let (res, _) = send(server.addr, req).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let r = server.one_record_after(before).await;
    assert_eq!(r.path, "/quuxly/{employee}/{text}");
    assert_eq!(r.query.as_deref(), Some("emp={employee}"));
    server.stop().await;
    let from_config = std::fs::read_to_string(dir.path().join("from-config.ndjson")).unwrap();
    assert!(
        from_config.contains(r#""path":"/quuxly/{employee}/{text}""#) && !from_config.contains("E123456"),
        "{from_config}"
    );
}
