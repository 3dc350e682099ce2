//! `Forwarded` and `X-Forwarded-For` parsing: bounded work, no panic, and the
//! resolved client is always the peer or an address taken from the headers.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use privlog::TrustedProxies;
use privlog::policy::{Hop, MAX_HOPS, forwarded_hops, resolve_client, xff_hops};

fuzz_target!(|data: &[u8]| {
    // Newlines separate repeated header values.
    let values: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    let peer = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let Ok(trusted) = TrustedProxies::parse(["127.0.0.0/8", "10.0.0.0/8", "fd00::/8"]) else {
        return;
    };
    for hops in [
        xff_hops(&values).take(MAX_HOPS * 4).collect::<Vec<_>>(),
        forwarded_hops(&values).take(MAX_HOPS * 4).collect::<Vec<_>>(),
    ] {
        let client = resolve_client(Some(peer), &trusted, hops.iter().copied());
        if let Some(ip) = client {
            let from_headers = hops.iter().any(|h| match h {
                Hop::Addr(a) => privlog::policy::normalize_ip(*a) == ip,
                Hop::Opaque => false,
            });
            assert!(ip == peer || from_headers, "client {ip} came from nowhere");
        }
        // An untrusted peer is never overridden.
        let untrusted = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));
        assert_eq!(
            resolve_client(Some(untrusted), &trusted, hops.iter().copied()),
            Some(untrusted)
        );
    }
});
