//! The hyper_server example (plain hyper 1, no axum) run as a child process:
//! the client address comes from `layer_with_peer`, route templates from
//! `RouteTemplate`, and SIGTERM writes every record to stdout before exit.
#![allow(clippy::unwrap_used, clippy::print_stderr)] // tests: a failed unwrap is a failed test

mod support;

use bytes::Bytes;
use http_body_util::Full;
use privlog::{MasterKey, Outcome};
use support::addon::KEY;
use support::client::{empty, get, post, send, send_h2};
use support::process::Example;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_hyper_service_gets_one_record_per_request_with_peer_and_route() {
    let mut ex = Example::start("hyper_server", &["--addr".as_ref(), "127.0.0.1:0".as_ref()]);
    let addr = ex.addr;
    let (res, body) = send(addr, get(addr, "/items/12345").body(empty()).unwrap()).await;
    assert_eq!(res.status(), 200);
    let item_len = body.len() as u64;
    let (res, _) = send(
        addr,
        post(addr, "/upload")
            .body(Full::new(Bytes::from(vec![b'z'; 4096])))
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), 200);
    let (res, _) = send(addr, get(addr, "/users/jane%40example.com").body(empty()).unwrap()).await;
    assert_eq!(res.status(), 404);
    let (res, _) = send_h2(
        addr,
        hyper::Request::get(format!("http://{addr}/")).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(res.status(), 200);

    ex.terminate();
    let (status, ex) = tokio::task::spawn_blocking(move || (ex.wait(), ex)).await.unwrap();
    assert!(status.success(), "{}", ex.stderr());
    let records = support::records::parse_file(&ex.stdout());
    assert_eq!(records.len(), 4, "one record per request: {}", ex.stdout());
    for r in &records {
        assert_eq!(r.client.as_deref(), Some("127.0.0.0/24"), "peer from layer_with_peer");
        assert_eq!(r.outcome, Outcome::Completed);
        assert_eq!(r.kid, MasterKey::from_bytes(KEY).id().as_str());
    }
    let [item, upload, missing, root] = &records[..] else {
        unreachable!()
    };
    assert_eq!(item.route.as_deref(), Some("/items/{id}"));
    assert_eq!(item.path, "/items/{id}");
    assert_eq!(item.resp_bytes, item_len);
    assert_eq!(upload.route.as_deref(), Some("/upload"));
    assert_eq!(upload.req_bytes, 4096);
    assert_eq!(missing.route, None);
    assert_eq!(missing.path, "/users/{email}");
    assert_eq!(missing.status, Some(404));
    assert_eq!(root.proto, "HTTP/2");
    assert!(
        ex.stderr().contains("hyper_server: 4 records created, 4 written"),
        "{}",
        ex.stderr()
    );
}
