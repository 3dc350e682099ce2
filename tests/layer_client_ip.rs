//! Client address resolution over the wire: `X-Forwarded-For` and `Forwarded`
//! are believed only when the socket peer is a trusted proxy, and then only up
//! to the rightmost untrusted hop. Every test connects from 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::print_stderr)] // tests: a failed unwrap is a failed test

mod support;

use privlog::{IpPolicy, Policy, TrustedProxies};
use support::addon::Server;
use support::client::{empty, get, send};

/// A server that trusts `trusted` as proxies, keeping full addresses so the
/// resolution itself is visible.
async fn server(trusted: &[&str]) -> Server {
    let policy = Policy::atlassian_connect()
        .ip(IpPolicy::Keep)
        .trusted_proxies(TrustedProxies::parse(trusted).expect("valid CIDRs"));
    Server::connect_addon(policy).await
}

/// Sends `/health` with `headers` and returns the record's client field.
async fn client_for(s: &Server, headers: &[(&str, &str)]) -> Option<String> {
    let before = s.mem.len();
    let mut req = get(s.addr, "/health");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let (res, _) = send(s.addr, req.body(empty()).expect("request")).await;
    assert_eq!(res.status(), 200);
    s.one_record_after(before).await.client
}

/// Request headers of one case.
type Headers<'a> = &'a [(&'a str, &'a str)];

const XFF: &str = "x-forwarded-for";
const FWD: &str = "forwarded";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_from_a_trusted_proxy_give_the_rightmost_untrusted_hop() {
    // The peer (127.0.0.1) and the internal 10/8 network are proxies.
    let s = server(&["127.0.0.1/32", "10.0.0.0/8"]).await;
    let cases: &[(Headers, Option<&str>)] = &[
        (&[], Some("127.0.0.1")),
        (&[(XFF, "203.0.113.7")], Some("203.0.113.7")),
        // The client may prepend anything; only the hop our proxy saw counts.
        (&[(XFF, "198.51.100.1, 203.0.113.7")], Some("203.0.113.7")),
        (&[(XFF, "1.2.3.4"), (XFF, "203.0.113.7")], Some("203.0.113.7")),
        // Trusted internal hops are skipped.
        (&[(XFF, "203.0.113.7, 10.1.2.3, 10.9.9.9")], Some("203.0.113.7")),
        (&[(XFF, "203.0.113.7:51234")], Some("203.0.113.7")),
        (&[(XFF, "2001:db8::1")], Some("2001:db8::1")),
        (&[(XFF, "::ffff:203.0.113.7")], Some("203.0.113.7")),
        // Garbage or hidden nearest hop: unknown, never an earlier (forgeable) one.
        (&[(XFF, "203.0.113.7, not-an-ip")], None),
        (&[(XFF, "unknown")], None),
        // Only trusted hops: the leftmost trusted address is as near as we get.
        (&[(XFF, "10.0.0.5")], Some("10.0.0.5")),
        (&[(FWD, "for=203.0.113.9")], Some("203.0.113.9")),
        (&[(FWD, "for=\"[2001:db8::7]:4711\";proto=https")], Some("2001:db8::7")),
        (
            &[(FWD, "for=198.51.100.1, for=203.0.113.9;by=10.0.0.1")],
            Some("203.0.113.9"),
        ),
        (&[(FWD, "for=_hidden")], None),
        (&[(FWD, "proto=https")], None),
        // Forwarded wins over X-Forwarded-For.
        (&[(FWD, "for=203.0.113.9"), (XFF, "198.51.100.77")], Some("203.0.113.9")),
    ];
    for (headers, expected) in cases {
        let got = client_for(&s, headers).await;
        assert_eq!(got.as_deref(), *expected, "headers {headers:?}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    // A proxy network is configured, but the peer is not in it.
    let s = server(&["10.0.0.0/8"]).await;
    for headers in [
        &[(XFF, "203.0.113.7")][..],
        &[(XFF, "10.0.0.1, 203.0.113.7")],
        &[(FWD, "for=203.0.113.9")],
        &[(FWD, "for=_hidden")],
        &[(XFF, "garbage")],
    ] {
        let got = client_for(&s, headers).await;
        assert_eq!(got.as_deref(), Some("127.0.0.1"), "headers {headers:?}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_trusted_proxies_forwarding_headers_are_ignored() {
    let s = server(&[]).await;
    let got = client_for(&s, &[(XFF, "203.0.113.7"), (FWD, "for=203.0.113.9")]).await;
    assert_eq!(got.as_deref(), Some("127.0.0.1"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_hops_are_bounded_and_answered() {
    let s = server(&["127.0.0.1/32", "10.0.0.0/8"]).await;
    let chain = (0..10_000)
        .map(|i| format!("10.{}.{}.{}", i / 65_536, (i / 256) % 256, i % 256))
        .collect::<Vec<_>>()
        .join(", ");
    // Every hop is trusted and the chain is longer than the hop cap: the
    // address reached at the cap is reported, after bounded work.
    let got = client_for(&s, &[(XFF, &chain)]).await;
    let ip: std::net::IpAddr = got.as_deref().expect("a client").parse().expect("an address");
    assert!(
        TrustedProxies::parse(["10.0.0.0/8"]).unwrap().contains(ip),
        "{ip} is one of the hops"
    );
    let fwd = (0..10_000).map(|_| "for=_hidden").collect::<Vec<_>>().join(", ");
    assert_eq!(client_for(&s, &[(FWD, &fwd)]).await, None);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_client_is_truncated_by_the_default_ip_policy() {
    let policy =
        Policy::atlassian_connect().trusted_proxies(TrustedProxies::parse(["127.0.0.1/32"]).expect("valid CIDR"));
    let s = Server::connect_addon(policy).await;
    assert_eq!(
        client_for(&s, &[(XFF, "203.0.113.77")]).await.as_deref(),
        Some("203.0.113.0/24")
    );
    assert_eq!(
        client_for(&s, &[(XFF, "2001:db8:1234:5678::1")]).await.as_deref(),
        Some("2001:db8:1234::/48")
    );
    s.stop().await;
}
