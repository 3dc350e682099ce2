//! Atlassian Connect JWTs: signed with the installation's shared secret, as
//! Atlassian signs them, or only shaped like one, as anyone can make.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::app;

/// The shared secret of the add-on's installation in tests: what Atlassian
/// signs its Connect JWTs with ([`signed_jwt`]). The example process gets it
/// as `CONNECT_SHARED_SECRET`.
pub const CONNECT_SECRET: &str = "test-installation-shared-secret-0123456789abcdef";

/// The add-on's sign-in, verifying tokens signed with [`CONNECT_SECRET`].
pub fn connect_auth() -> app::ConnectAuth {
    app::ConnectAuth::new(CONNECT_SECRET.as_bytes())
}

/// A Connect JWT for `sub` on site `iss`, signed (HS256) with
/// [`CONNECT_SECRET`] as Atlassian signs them: the add-on signs its user in.
pub fn signed_jwt(sub: &str, iss: &str) -> String {
    signed_jwt_with(CONNECT_SECRET.as_bytes(), sub, iss)
}

/// A Connect JWT for `sub` on site `iss`, signed (HS256) with `secret`.
pub fn signed_jwt_with(secret: &[u8], sub: &str, iss: &str) -> String {
    sign_jwt(
        secret,
        &serde_json::json!({
            "sub": sub,
            "iss": iss,
            "qsh": "context-qsh",
            "iat": 1_790_000_000u64,
            "exp": 4_000_000_000u64,
        }),
    )
}

/// A Connect JWT for `sub` signed with [`CONNECT_SECRET`] and without the
/// `iss` claim (so privlog finds no tenant in it).
pub fn signed_jwt_without_iss(sub: &str) -> String {
    sign_jwt(
        CONNECT_SECRET.as_bytes(),
        &serde_json::json!({"sub": sub, "qsh": "context-qsh", "exp": 4_000_000_000u64}),
    )
}

/// `claims` as an HS256 JWT signed with `secret`.
pub fn sign_jwt(secret: &[u8], claims: &serde_json::Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let signed = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let sig = URL_SAFE_NO_PAD.encode(ring::hmac::sign(&key, signed.as_bytes()));
    format!("{signed}.{sig}")
}

/// An Atlassian Connect JWT with `sub` and `iss`, shaped like a real one
/// but not signed by Atlassian: what anyone can make. privlog reads its
/// claims (`account_src` `jwt`); the add-on signs nobody in with it.
pub fn connect_jwt(sub: &str, iss: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "sub": sub,
        "iss": iss,
        "qsh": "8063ff4ca1e41df7bc90c8ab6d0f6207d491cf6dad7c66ea797b4614b71922e9",
        "iat": 1_790_000_000u64,
        "exp": 1_790_000_180u64,
    });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let sig = URL_SAFE_NO_PAD.encode([0x42u8; 32]);
    format!("{header}.{payload}.{sig}")
}
