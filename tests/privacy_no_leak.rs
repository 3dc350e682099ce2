//! The no-leak property: generated requests carry secrets in every position —
//! path segments, query values, headers (cookies, `Authorization`), Connect
//! JWTs in the header and in `?jwt=`, userinfo-like strings, bodies — and none
//! of them, in plain, percent-encoded or base64 form, reaches any sink output.
//! Driven over a real socket against the connect_addon example.
#![allow(clippy::unwrap_used, clippy::print_stderr)] // tests: a failed unwrap is a failed test

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http_body_util::Full;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use privlog::Policy;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use support::addon::Server;
use support::client::{empty, get, post, send};
use support::jwt::signed_jwt;

#[derive(Debug, Clone)]
struct Secrets {
    /// An API token / session ID.
    token: String,
    /// A second token, sent as the value of an allowlisted query key.
    token2: String,
    email: String,
    account: String,
    client_key: String,
    user: String,
    password: String,
    host: String,
    site: String,
    space_key: String,
    body_secret: String,
}

fn uuid() -> impl Strategy<Value = String> {
    "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
}

fn secrets() -> impl Strategy<Value = Secrets> {
    let token = "[a-z]{6}[A-Z0-9]{12}[a-z0-9]{6}";
    (
        (
            token,
            token,
            "[a-z]{8,12}\\.[a-z]{6,10}@[a-z]{8,12}\\.(com|org|io)",
            uuid(),
            uuid(),
        ),
        (
            "[a-z]{8,12}",
            "[A-Za-z0-9]{12,20}",
            "[a-z]{10,14}",
            "[a-z]{12,16}",
            "[A-Z]{10,12}",
            "[A-Za-z0-9]{20,32}",
        ),
    )
        .prop_map(
            |((token, token2, email, account, client_key), (user, password, host, site, space_key, body_secret))| {
                Secrets {
                    token,
                    token2,
                    email,
                    account: format!("557058:{account}"),
                    client_key,
                    user,
                    password,
                    host,
                    site,
                    space_key,
                    body_secret,
                }
            },
        )
}

fn pct(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// Every form in which `s` must not appear.
fn forms(s: &str) -> Vec<String> {
    vec![
        s.to_owned(),
        pct(s),
        STANDARD.encode(s),
        URL_SAFE.encode(s),
        URL_SAFE_NO_PAD.encode(s),
    ]
}

/// Sends requests carrying `s` everywhere; returns how many were sent.
async fn send_all(server: &Server, s: &Secrets) -> usize {
    let addr = server.addr;
    let jwt = signed_jwt(&s.account, &s.client_key);
    let userinfo = format!("{}:{}@{}.example.com", s.user, s.password, s.host);
    let site = format!("https://{}.atlassian.net", s.site);
    let requests = vec![
        // Secrets in path segments, in query values (one on the allowlist),
        // in headers and cookies.
        get(
            addr,
            &format!(
                "/files/{}/{}/{}?q={}&lic={}&cv={}&api_key={}",
                s.token,
                s.email,
                pct(&s.email),
                s.token,
                s.token2,
                pct(&s.email),
                s.token
            ),
        )
        .header("cookie", format!("session={}; theme=dark", s.token))
        .header("authorization", format!("Bearer {}", s.token2))
        .header("x-api-key", &s.body_secret)
        .header("user-agent", format!("agent/{}", s.user))
        .body(empty()),
        // The Connect iframe: JWT in the query, site and context parameters.
        get(
            addr,
            &format!(
                "/macro?xdm_e={}&xdm_c=channel-{}&cp=%2Fwiki&lic=active&cv=1.0.0&jwt={jwt}&pageId=77&spaceKey={}",
                pct(&site),
                s.host,
                s.space_key
            ),
        )
        .body(empty()),
        // JWT in the header; account ID in the path.
        get(addr, &format!("/rest/accounts/{}/history", s.account))
            .header("authorization", format!("JWT {jwt}"))
            .body(empty()),
        get(addr, &format!("/rest/accounts/{}/history", pct(&s.account))).body(empty()),
        // Userinfo-like strings in the path and the query.
        get(
            addr,
            &format!(
                "/u/{userinfo}/{}?next={}&cv={}",
                pct(&userinfo),
                pct(&format!("http://{userinfo}/")),
                pct(&userinfo)
            ),
        )
        .body(empty()),
        // A matched route whose parameter is a secret.
        get(addr, &format!("/export/{}.csv?size=10&token={}", s.token, s.token2)).body(empty()),
        // Bodies.
        post(addr, "/rest/pages/1/index")
            .header("authorization", format!("JWT {jwt}"))
            .body(Full::new(Bytes::from(format!(
                "<p>{} {} {} {}</p>",
                s.body_secret, s.email, s.password, s.token
            )))),
        post(addr, "/installed")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(format!(
                r#"{{"clientKey":"{}","sharedSecret":"{}","baseUrl":"{site}"}}"#,
                s.client_key, s.body_secret
            )))),
        // A secret-looking whole path on the 404 fallback.
        get(addr, &format!("/{}", pct(&format!("{} {}", s.user, s.password)))).body(empty()),
    ];
    let n = requests.len();
    for req in requests {
        let (res, _) = send(addr, req.expect("valid request")).await;
        assert!(res.status().as_u16() < 500, "the app answers: {}", res.status());
    }
    n
}

#[test]
fn no_secret_reaches_any_sink_in_any_encoding() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(Server::connect_addon(Policy::atlassian_connect()));
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let seen = std::cell::Cell::new(0usize);
    let result = runner.run(&secrets(), |s| {
        let (mem, file) = rt.block_on(async {
            let n = send_all(&server, &s).await;
            seen.set(seen.get() + n);
            let mem = server.records(seen.get()).await;
            // The file sink runs on its own thread: wait for its lines too.
            let file = loop {
                let text = std::fs::read_to_string(&server.log).unwrap_or_default();
                if text.lines().count() >= seen.get() {
                    break text;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            };
            (mem, file)
        });
        let mut outputs = vec![("file", file)];
        for r in &mem {
            outputs.push(("memory (json)", serde_json::to_string(r).expect("json")));
            outputs.push(("memory (ndjson)", r.to_ndjson()));
            outputs.push(("memory (debug)", format!("{r:?}")));
        }
        let jwt = signed_jwt(&s.account, &s.client_key);
        let jwt_payload = jwt.split('.').nth(1).unwrap_or_default().to_owned();
        let mut needles = vec![jwt, jwt_payload, "127.0.0.1".to_owned()];
        for secret in [
            &s.token,
            &s.token2,
            &s.email,
            &s.account,
            &s.client_key,
            &s.user,
            &s.password,
            &s.host,
            &s.site,
            &s.space_key,
            &s.body_secret,
        ] {
            needles.extend(forms(secret));
        }
        for (sink, text) in &outputs {
            for needle in &needles {
                if text.contains(needle.as_str()) {
                    return Err(TestCaseError::fail(format!(
                        "{needle:?} leaked into the {sink} output: {text}"
                    )));
                }
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (report, text) = rt.block_on(server.stop());
    assert!(report.stats.is_balanced(), "{:?}", report.stats);
    assert_eq!(report.stats.delivered_everywhere() as usize, seen.get());
    assert_eq!(
        support::records::parse_file(&text).len(),
        seen.get(),
        "every line is a valid record"
    );
}
