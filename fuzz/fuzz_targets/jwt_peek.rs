//! Reading Connect JWT claims from hostile tokens and Authorization headers:
//! never panics, and reads exactly what a serde_json struct parse of the
//! payload reads (the implementation the claims scanner replaced).
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use privlog::policy::{JwtClaims, MAX_JWT_LEN, jwt_from_authorization};

/// The serde_json reading the claims scanner replaced, shared with the
/// crate's unit tests.
mod reference {
    include!("../../src/policy/jwt_reference.rs");
}

fuzz_target!(|data: &[u8]| {
    if let Some(token) = jwt_from_authorization(data) {
        assert_eq!(privlog::peek_jwt(token), reference::peek_jwt(token), "token {token:?}");
    }
    let s = String::from_utf8_lossy(data);
    let claims = privlog::peek_jwt(&s);
    if claims.is_some() {
        assert!(s.trim().len() <= MAX_JWT_LEN);
    }
    assert_eq!(claims, reference::peek_jwt(&s), "token {s:?}");
    // The input as a raw payload, so the fuzzer steers the JSON directly.
    let token = format!("e30.{}.c2ln", URL_SAFE_NO_PAD.encode(data));
    assert_eq!(
        privlog::peek_jwt(&token),
        reference::peek_jwt(&token),
        "payload {:?}",
        String::from_utf8_lossy(data)
    );
});
