//! Every field of the record, route by route, for the connect_addon example
//! served on a real socket: sizes (exact, chunked, streamed), HEAD, 204, 404,
//! aborted downloads and uploads, panicking handlers, HTTP/2, and accounts
//! told by the application.
#![allow(clippy::unwrap_used, clippy::print_stderr)] // tests: a failed unwrap is a failed test

mod support;

use std::time::Duration;

use axum::routing::get as route_get;
use bytes::Bytes;
use http_body_util::Full;
use privlog::{MasterKey, Outcome, Policy, Purpose, Record, Rotation};
use support::addon::{KEY, Server, expected_pseudonym};
use support::app;
use support::client::{empty, get, post, send, send_h2};
use support::jwt::{connect_jwt, signed_jwt, signed_jwt_without_iss};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ACCOUNT: &str = "557058:f0e1d2c3-b4a5-4697-8899-aabbccddeeff";
const CLIENT_KEY: &str = "c8a7d2f1-5b3e-4c9a-8e7d-6f5a4b3c2d1e";

/// The fields every record of these tests shares, checked once.
fn assert_common(r: &Record, started: time::OffsetDateTime) {
    assert_eq!(r.v, 1);
    // The request's own time, give or take the millisecond truncation and a
    // wall clock derived from a monotonic one.
    let now = time::OffsetDateTime::now_utc();
    let slack = Duration::from_secs(2);
    assert!(
        r.ts >= started - slack && r.ts <= now + slack,
        "ts {} is not the request's time ({started} .. {now})",
        r.ts
    );
    assert_eq!(r.ts.nanosecond() % 1_000_000, 0, "millisecond precision");
    assert_eq!(r.client.as_deref(), Some("127.0.0.0/24"), "client truncated to /24");
    assert_eq!(r.epoch, Rotation::Monthly.epoch_of(r.ts).as_str());
    assert_eq!(r.kid, MasterKey::from_bytes(KEY).id().as_str());
    if let Some(ttfb) = r.ttfb_us {
        assert!(ttfb <= r.duration_us, "ttfb {ttfb} > duration {}", r.duration_us);
    }
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn macro_iframe_keeps_only_lic_and_cv_and_pseudonymizes_jwt_claims() {
    let s = Server::connect_addon(Policy::atlassian_connect()).await;
    let jwt = connect_jwt(ACCOUNT, CLIENT_KEY);
    let t0 = now();
    let uri = format!(
        "/macro?xdm_e=https%3A%2F%2Facme.atlassian.net&xdm_c=channel-privlog__macro&cp=%2Fwiki\
         &lic=active&cv=1001.0.0-SNAPSHOT&jwt={jwt}&pageId=98765&spaceKey=HR"
    );
    let (res, body) = send(s.addr, get(s.addr, &uri).body(empty()).unwrap()).await;
    assert_eq!(res.status(), 200);
    let r = s.one_record_after(0).await;
    assert_common(&r, t0);
    assert_eq!(r.method, "GET");
    assert_eq!(r.route.as_deref(), Some("/macro"));
    assert_eq!(r.path, "/macro");
    assert_eq!(r.query.as_deref(), Some("lic=active&cv=1001.0.0-SNAPSHOT"));
    assert_eq!(r.status, Some(200));
    assert_eq!(r.req_bytes, 0);
    assert_eq!(r.resp_bytes, body.len() as u64);
    assert_eq!(r.outcome, Outcome::Completed);
    assert_eq!(r.proto, "HTTP/1.1");
    assert_eq!(r.account, Some(expected_pseudonym(Purpose::Account, r.ts, ACCOUNT)));
    assert_eq!(r.tenant, Some(expected_pseudonym(Purpose::Tenant, r.ts, CLIENT_KEY)));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_history_names_the_account_of_the_token_privlog_reads() {
    let s = Server::connect_addon(Policy::atlassian_connect()).await;
    let other = "557058:00000000-1111-4222-8333-444444444444";
    // A signed token in the query does not sign in a request whose header
    // carries one nobody signed: the add-on judges the token privlog reads.
    let req = get(
        s.addr,
        &format!(
            "/rest/accounts/{ACCOUNT}/history?jwt={}",
            signed_jwt(ACCOUNT, CLIENT_KEY)
        ),
    )
    .header("authorization", format!("JWT {}", connect_jwt(other, CLIENT_KEY)))
    .body(empty())
    .unwrap();
    let (res, _) = send(s.addr, req).await;
    assert_eq!(res.status(), 401);
    let r = s.one_record_after(0).await;
    assert_eq!(r.account, Some(expected_pseudonym(Purpose::Account, r.ts, other)));
    assert_eq!(r.account_src, Some(privlog::AccountSource::Jwt));

    let t0 = now();
    // The header's token, signed by Atlassian, signs the user in; the
    // query's, which nobody signed, names another account and is ignored.
    let req = get(
        s.addr,
        &format!(
            "/rest/accounts/{ACCOUNT}/history?jwt={}",
            connect_jwt(other, CLIENT_KEY)
        ),
    )
    .header("authorization", format!("JWT {}", signed_jwt(ACCOUNT, CLIENT_KEY)))
    .body(empty())
    .unwrap();
    let (res, body) = send(s.addr, req).await;
    assert_eq!(res.status(), 200);
    let r = s.one_record_after(1).await;
    assert_common(&r, t0);
    assert_eq!(r.account_src, Some(privlog::AccountSource::App));
    assert_eq!(r.route.as_deref(), Some("/rest/accounts/{account_id}/history"));
    assert_eq!(r.path, "/rest/accounts/{account_id}/history");
    assert_eq!(r.query, None);
    assert_eq!(r.resp_bytes, body.len() as u64);
    assert_eq!(r.account, Some(expected_pseudonym(Purpose::Account, r.ts, ACCOUNT)));
    assert_eq!(r.tenant, Some(expected_pseudonym(Purpose::Tenant, r.ts, CLIENT_KEY)));
    assert_eq!(r.outcome, Outcome::Completed);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inner_middleware_tells_the_account_when_the_handler_does_not() {
    let s = Server::connect_addon(Policy::atlassian_connect()).await;
    let t0 = now();
    // A token without `iss`: the add-on needs only the signature and `sub`,
    // and privlog finds no tenant in it.
    let req = post(s.addr, "/rest/pages/4242/index")
        .header("authorization", format!("JWT {}", signed_jwt_without_iss(ACCOUNT)))
        .body(Full::new(Bytes::from_static(b"<p>release notes</p>")))
        .unwrap();
    let (res, _) = send(s.addr, req).await;
    assert_eq!(res.status(), 200);
    let r = s.one_record_after(0).await;
    assert_common(&r, t0);
    assert_eq!(r.account, Some(expected_pseudonym(Purpose::Account, r.ts, ACCOUNT)));
    assert_eq!(r.tenant, None);

    // The handler names the signed-in account; an account the client puts
    // in a header names nobody.
    let req = get(s.addr, &format!("/rest/accounts/{ACCOUNT}/history"))
        .header("authorization", format!("JWT {}", signed_jwt_without_iss(ACCOUNT)))
        .header("x-addon-account", "557058:99999999-8888-4777-8666-555555555555")
        .body(empty())
        .unwrap();
    send(s.addr, req).await;
    let r = s.one_record_after(1).await;
    assert_eq!(r.account, Some(expected_pseudonym(Purpose::Account, r.ts, ACCOUNT)));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_query_is_dropped_entirely() {
    let s = Server::connect_addon(Policy::atlassian_connect()).await;
    let t0 = now();
    let (res, body) = send(
        s.addr,
        get(s.addr, "/search?q=salary+review+jane%40example.com&limit=20")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), 200);
    let r = s.one_record_after(0).await;
    assert_common(&r, t0);
    assert_eq!(r.route.as_deref(), Some("/search"));
    assert_eq!(r.path, "/search");
    assert_eq!(r.query, None);
    assert_eq!(r.resp_bytes, body.len() as u64);
    assert_eq!(r.account, None);
    assert_eq!(r.tenant, None);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_with_content_length_counts_every_request_byte() {
    let s = Server::connect_addon(Policy::atlassian_connect()).await;
    let payload = Bytes::from(vec![b'p'; 300_001]);
    let t0 = now();
    let req = post(s.addr, "/rest/pages/77/index")
        .body(Full::new(payload.clone()))
        .unwrap();
    let (res, body) = send(s.addr, req).await;
    assert_eq!(res.status(), 200);
    assert_eq!(&body[..], b"{\"page\":77,\"indexed_bytes\":300001}\n");
    let r = s.one_record_after(0).await;
    assert_common(&r, t0);
    assert_eq!(r.method, "POST");
    assert_eq!(r.route.as_deref(), Some("/rest/pages/{page_id}/index"));
    assert_eq!(r.req_bytes, 300_001);
    assert_eq!(r.resp_bytes, body.len() as u64);
    assert_eq!(r.status, Some(200));
    assert_eq!(r.outcome, Outcome::Completed);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_upload_counts_every_request_byte() {
    let s = Server::connect_addon(Policy::atlassian_connect()).await;
    let total: u64 = 70_003;
    let conn = TcpStream::connect(s.addr).await.unwrap();
    let (mut sender, c) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(conn))
        .await
        .unwrap();
    tokio::spawn(c);
    // No length known up front: the client sends it chunked.
    let req = post(s.addr, "/rest/pages/5/index")
        .body(app::Chunks::new(total, 10_000))
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let r = s.one_record_after(0).await;
    assert_eq!(r.req_bytes, total);
    assert_eq!(r.outcome, Outcome::Completed);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_export_counts_every_response_byte() {
    let s = Server::connect_addon(Policy::atlassian_connect()).await;
    let t0 = now();
    let (res, body) = send(
        s.addr,
        get(s.addr, "/export/quarterly.csv?size=1000003").body(empty()).unwrap(),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers().get("content-length").is_none(),
        "streamed without a length"
    );
    assert_eq!(body.len(), 1_000_003);
    let r = s.one_record_after(0).await;
    assert_common(&r, t0);
    assert_eq!(r.route.as_deref(), Some("/export/{name}"));
    assert_eq!(r.path, "/export/{name}");
    assert_eq!(r.query, None, "size is not on the allowlist");
    assert_eq!(r.resp_bytes, 1_000_003);
    assert_eq!(r.outcome, Outcome::Completed);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installed_and_uninstalled_answer_204_with_the_client_key_as_tenant() {
    let s = Server::connect_addon(Policy::atlassian_connect()).await;
    let payload = format!(
        r#"{{"key":"privlog-demo","clientKey":"{CLIENT_KEY}","sharedSecret":"aGVsbG8tc2hhcmVkLXNlY3JldC0xMjM0NTY3ODkw","baseUrl":"https://acme.atlassian.net/wiki","eventType":"installed"}}"#
    );
    for (i, path) in ["/installed", "/uninstalled"].into_iter().enumerate() {
        let t0 = now();
        let req = post(s.addr, path)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(payload.clone())))
            .unwrap();
        let (res, body) = send(s.addr, req).await;
        assert_eq!(res.status(), 204);
        assert!(body.is_empty());
        let r = s.one_record_after(i).await;
        assert_common(&r, t0);
        assert_eq!(r.route.as_deref(), Some(path));
        assert_eq!(r.status, Some(204));
        assert_eq!(r.req_bytes, payload.len() as u64);
        assert_eq!(r.resp_bytes, 0);
        assert_eq!(r.outcome, Outcome::Completed);
        assert_eq!(r.tenant, Some(expected_pseudonym(Purpose::Tenant, r.ts, CLIENT_KEY)));
        assert_eq!(r.account, None);
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_request_is_completed_with_no_response_bytes() {
    let s = Server::connect_addon(Policy::atlassian_connect()).await;
    let t0 = now();
    let req = hyper::Request::head("/health")
        .header("host", s.addr.to_string())
        .body(empty())
        .unwrap();
    let (res, _) = send(s.addr, req).await;
    assert_eq!(res.status(), 200);
    let r = s.one_record_after(0).await;
    assert_common(&r, t0);
    assert_eq!(r.method, "HEAD");
    assert_eq!(r.route.as_deref(), Some("/health"));
    assert_eq!(r.resp_bytes, 0);
    assert_eq!(r.outcome, Outcome::Completed);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_path_is_a_scrubbed_404_without_route() {
    let s = Server::connect_addon(Policy::atlassian_connect()).await;
    let t0 = now();
    let (res, body) = send(
        s.addr,
        get(
            s.addr,
            "/wiki/users/jane.doe%40example.com/a1b2c3d4-e5f6-4789-8abc-def012345678/12345?token=abc",
        )
        .body(empty())
        .unwrap(),
    )
    .await;
    assert_eq!(res.status(), 404);
    let r = s.one_record_after(0).await;
    assert_common(&r, t0);
    assert_eq!(r.route, None);
    assert_eq!(r.path, "/wiki/users/{email}/{uuid}/{id}");
    assert_eq!(r.query, None);
    assert_eq!(r.status, Some(404));
    assert_eq!(r.resp_bytes, body.len() as u64);
    assert_eq!(r.outcome, Outcome::Completed);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_requests_record_proto_and_streamed_sizes() {
    let s = Server::connect_addon(Policy::atlassian_connect()).await;
    let t0 = now();
    let jwt = connect_jwt(ACCOUNT, CLIENT_KEY);
    let req = hyper::Request::get(s.url("/export/h2.csv?size=200000"))
        .header("authorization", format!("JWT {jwt}"))
        .body(empty())
        .unwrap();
    let (res, body) = send_h2(s.addr, req).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.version(), hyper::Version::HTTP_2);
    assert_eq!(body.len(), 200_000);
    let r = s.one_record_after(0).await;
    assert_common(&r, t0);
    assert_eq!(r.proto, "HTTP/2");
    assert_eq!(r.route.as_deref(), Some("/export/{name}"));
    assert_eq!(r.resp_bytes, 200_000);
    assert_eq!(r.outcome, Outcome::Completed);
    assert_eq!(r.account, Some(expected_pseudonym(Purpose::Account, r.ts, ACCOUNT)));

    let req = hyper::Request::post(s.url("/rest/pages/9/index"))
        .body(Full::new(Bytes::from(vec![b'u'; 70_000])))
        .unwrap();
    let (res, _) = send_h2(s.addr, req).await;
    assert_eq!(res.status(), 200);
    let r = s.one_record_after(1).await;
    assert_eq!(r.proto, "HTTP/2");
    assert_eq!(r.req_bytes, 70_000);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_gone_mid_download_is_aborted_with_partial_bytes() {
    let s = Server::connect_addon(Policy::atlassian_connect()).await;
    let size: u64 = 256 << 20;
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    conn.write_all(format!("GET /export/big.csv?size={size} HTTP/1.1\r\nhost: {}\r\n\r\n", s.addr).as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut read = 0;
    while read < 100_000 {
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0, "server closed early");
        read += n;
    }
    drop(conn);
    let r = s.one_record_after(0).await;
    assert_eq!(r.route.as_deref(), Some("/export/{name}"));
    assert_eq!(r.status, Some(200));
    assert_eq!(r.outcome, Outcome::Aborted);
    assert!(r.resp_bytes > 0 && r.resp_bytes < size, "partial: {}", r.resp_bytes);
    assert!(r.ttfb_us.is_some_and(|t| t <= r.duration_us));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_gone_mid_upload_is_aborted_with_partial_bytes() {
    let s = Server::connect_addon(Policy::atlassian_connect()).await;
    let declared: u64 = 10 << 20;
    let sent: usize = 256 * 1024;
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    conn.write_all(
        format!(
            "POST /rest/pages/3/index HTTP/1.1\r\nhost: {}\r\ncontent-length: {declared}\r\n\r\n",
            s.addr
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    conn.write_all(&vec![b'u'; sent]).await.unwrap();
    conn.flush().await.unwrap();
    // Let the handler read what was sent before the client goes away.
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(conn);
    let r = s.one_record_after(0).await;
    assert_eq!(r.route.as_deref(), Some("/rest/pages/{page_id}/index"));
    assert_eq!(r.outcome, Outcome::Aborted, "{r:?}");
    assert!(
        r.req_bytes > 0 && r.req_bytes <= sent as u64,
        "partial upload counted: {}",
        r.req_bytes
    );
    s.stop().await;
}

async fn boom() -> &'static str {
    panic!("handler bug")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_handler_without_catch_panic_gives_one_error_record() {
    let s = Server::start(privlog::builder().policy(Policy::atlassian_connect()), |layer| {
        app::routes(support::jwt::connect_auth())
            .route("/boom", route_get(boom))
            .layer(layer)
    })
    .await;
    let conn = TcpStream::connect(s.addr).await.unwrap();
    let (mut sender, c) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(conn))
        .await
        .unwrap();
    tokio::spawn(c);
    let res = sender.send_request(get(s.addr, "/boom").body(empty()).unwrap()).await;
    assert!(res.is_err(), "the connection dies with the panicking task");
    let r = s.one_record_after(0).await;
    assert_eq!(r.route.as_deref(), Some("/boom"));
    assert_eq!(r.status, None);
    assert_eq!(r.ttfb_us, None);
    assert_eq!(r.outcome, Outcome::Error);
    // The server keeps serving.
    let (res, _) = send(s.addr, get(s.addr, "/health").body(empty()).unwrap()).await;
    assert_eq!(res.status(), 200);
    s.records(2).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_handler_inside_catch_panic_gives_one_500_record() {
    let s = Server::start(privlog::builder().policy(Policy::atlassian_connect()), |layer| {
        app::routes(support::jwt::connect_auth())
            .route("/boom", route_get(boom))
            .layer(tower_http::catch_panic::CatchPanicLayer::new())
            .layer(layer)
    })
    .await;
    let (res, body) = send(s.addr, get(s.addr, "/boom").body(empty()).unwrap()).await;
    assert_eq!(res.status(), 500);
    let r = s.one_record_after(0).await;
    assert_eq!(r.route.as_deref(), Some("/boom"));
    assert_eq!(r.status, Some(500));
    assert_eq!(r.resp_bytes, body.len() as u64);
    assert_eq!(r.outcome, Outcome::Completed);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sink_holds_the_same_records_as_memory_sink() {
    let s = Server::connect_addon(Policy::atlassian_connect()).await;
    for path in ["/health", "/search?q=x", "/nowhere", "/export/a.csv?size=10"] {
        send(s.addr, get(s.addr, path).body(empty()).unwrap()).await;
    }
    let mem = s.records(4).await;
    let mem_sink = s.mem.clone();
    let (report, text) = s.stop().await;
    assert!(report.complete);
    assert!(report.stats.is_balanced(), "{:?}", report.stats);
    assert_eq!(report.stats.created, 4);
    assert_eq!(report.stats.delivered_everywhere(), 4);
    assert_eq!(
        support::records::parse_file(&text),
        mem,
        "a record read back equals the one written"
    );
    assert_eq!(mem_sink.len(), 4);
    let expected: String = mem.iter().map(Record::to_ndjson).collect();
    assert_eq!(text, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptor_revalidation_is_a_304_without_response_bytes() {
    let s = Server::connect_addon(Policy::atlassian_connect()).await;
    let (res, body) = send(s.addr, get(s.addr, "/atlassian-connect.json").body(empty()).unwrap()).await;
    assert_eq!(res.status(), 200);
    let etag = res.headers().get("etag").expect("etag").clone();
    let r = s.one_record_after(0).await;
    assert_eq!(r.resp_bytes, body.len() as u64);
    let t0 = now();
    let req = get(s.addr, "/atlassian-connect.json")
        .header("if-none-match", etag)
        .body(empty())
        .unwrap();
    let (res, body) = send(s.addr, req).await;
    assert_eq!(res.status(), 304);
    assert!(body.is_empty());
    let r = s.one_record_after(1).await;
    assert_common(&r, t0);
    assert_eq!(r.route.as_deref(), Some("/atlassian-connect.json"));
    assert_eq!(r.status, Some(304));
    assert_eq!(r.resp_bytes, 0);
    assert_eq!(r.outcome, Outcome::Completed);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_gone_before_the_response_is_aborted_without_status() {
    let s = Server::start(privlog::builder().policy(Policy::atlassian_connect()), |layer| {
        app::routes(support::jwt::connect_auth())
            .route(
                "/slow",
                route_get(|| async {
                    tokio::time::sleep(Duration::from_secs(600)).await;
                    "too late"
                }),
            )
            .layer(layer)
    })
    .await;
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    conn.write_all(format!("GET /slow HTTP/1.1\r\nhost: {}\r\n\r\n", s.addr).as_bytes())
        .await
        .unwrap();
    conn.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(conn);
    let r = s.one_record_after(0).await;
    assert_eq!(r.route.as_deref(), Some("/slow"));
    assert_eq!(r.status, None);
    assert_eq!(r.ttfb_us, None);
    assert_eq!(r.resp_bytes, 0);
    assert_eq!(r.outcome, Outcome::Aborted);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_stream_reset_mid_download_is_aborted_with_partial_bytes() {
    use http_body_util::BodyExt as _;
    let s = Server::connect_addon(Policy::atlassian_connect()).await;
    let size: u64 = 256 << 20;
    let conn = TcpStream::connect(s.addr).await.unwrap();
    let (mut sender, c) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(conn))
            .await
            .unwrap();
    tokio::spawn(c);
    let req = hyper::Request::get(s.url(&format!("/export/big.csv?size={size}")))
        .body(empty())
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let mut body = res.into_body();
    let mut read = 0;
    while read < 100_000 {
        let frame = body.frame().await.expect("a frame").expect("data");
        read += frame.data_ref().map_or(0, Bytes::len);
    }
    // Dropping the body resets the stream; the connection stays open.
    drop(body);
    let r = s.one_record_after(0).await;
    assert_eq!(r.proto, "HTTP/2");
    assert_eq!(r.status, Some(200));
    assert_eq!(r.outcome, Outcome::Aborted);
    assert!(
        r.resp_bytes >= read as u64 && r.resp_bytes < size,
        "partial: {}",
        r.resp_bytes
    );
    // The same connection still serves requests.
    let res = sender
        .send_request(hyper::Request::get(s.url("/health")).body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    drop(sender);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_client_is_disconnected_after_the_header_read_timeout() {
    let s = Server::connect_addon(Policy::atlassian_connect()).await;
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    // Half a request head, then silence.
    conn.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nx-slow: ")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(app::HEADER_READ_TIMEOUT * 6, conn.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "the connection is still open after {:?}",
        started.elapsed()
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "closed, at most with a 408: {answer:?}"
    );
    // The request never reached the service: there is nothing to record.
    assert_eq!(s.mem.len(), 0);
    let (report, _) = s.stop().await;
    assert_eq!(report.stats.created, 0);
}

/// Sends a raw request head on a fresh connection and reads until the server closes.
async fn raw_exchange(s: &Server, head: &str) -> String {
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http10_request_records_its_protocol() {
    let s = Server::connect_addon(Policy::atlassian_connect()).await;
    let answer = raw_exchange(&s, "GET /health HTTP/1.0\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    let r = s.one_record_after(0).await;
    assert_eq!(r.proto, "HTTP/1.0");
    assert_eq!(r.route.as_deref(), Some("/health"));
    assert_eq!(r.resp_bytes, 2);
    assert_eq!(r.outcome, Outcome::Completed);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_method_is_recorded_as_other() {
    let s = Server::connect_addon(Policy::atlassian_connect()).await;
    let answer = raw_exchange(&s, "BREW /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    let r = s.one_record_after(0).await;
    assert_eq!(r.method, "_OTHER");
    assert_eq!(r.status, Some(405));
    assert_eq!(r.outcome, Outcome::Completed);
    s.stop().await;
}

/// A body the service never reads counts with its declared length: hyper's
/// bodies know it from `Content-Length`; for a body type that does not say,
/// the header itself is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_body_counts_its_declared_length() {
    use axum::routing::post as route_post;
    use tower::ServiceExt as _;
    let ignore = |layer| {
        axum::Router::new()
            .route("/ignore", route_post(|| async { "ok" }))
            .layer(layer)
    };
    let s = Server::start(privlog::builder().policy(Policy::atlassian_connect()), ignore).await;
    let req = post(s.addr, "/ignore")
        .body(Full::new(Bytes::from(vec![b'x'; 5000])))
        .unwrap();
    let (res, _) = send(s.addr, req).await;
    assert_eq!(res.status(), 200);
    assert_eq!(s.one_record_after(0).await.req_bytes, 5000);

    // A body of unknown length, with the length in the header.
    let req = http::Request::post("/ignore")
        .header("content-length", "3")
        .body(axum::body::Body::new(NoLength(Some(Bytes::from_static(b"abc")))))
        .unwrap();
    let res = ignore(s.layer.clone()).oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    drop(res);
    assert_eq!(s.one_record_after(1).await.req_bytes, 3);
    s.stop().await;
}

/// A body that does not say how long it is.
struct NoLength(Option<Bytes>);

impl http_body::Body for NoLength {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.take().map(|b| Ok(http_body::Frame::data(b))))
    }
}
