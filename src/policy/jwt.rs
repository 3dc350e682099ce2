//! Reading the claims of an Atlassian Connect JWT without verifying it.
//!
//! privlog only needs `sub` (the account) and `iss` (the customer site's
//! `clientKey`) to pseudonymize them; verifying the token is the application's
//! job. Reading is bounded and never panics.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

/// The longest token that is looked at; longer ones are ignored.
pub const MAX_JWT_LEN: usize = 8192;

/// The claims privlog reads from a JWT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtClaims {
    /// `sub`: the Atlassian account ID.
    pub sub: Option<String>,
    /// `iss`: the Connect `clientKey` of the customer site.
    pub iss: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<serde_json::Value>,
    #[serde(default)]
    iss: Option<serde_json::Value>,
}

fn as_id(v: Option<serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads `sub` and `iss` from a compact JWT (`header.payload.signature`).
///
/// Returns `None` for anything that is not a readable JWT: too long, wrong
/// shape, bad base64, payload not a JSON object.
///
/// ```
/// // {"alg":"HS256"} . {"sub":"557058:abc","iss":"client-key-1"} . sig
/// let t = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI1NTcwNTg6YWJjIiwiaXNzIjoiY2xpZW50LWtleS0xIn0.c2ln";
/// let c = privlog::peek_jwt(t).expect("claims");
/// assert_eq!(c.sub.as_deref(), Some("557058:abc"));
/// assert_eq!(c.iss.as_deref(), Some("client-key-1"));
/// ```
pub fn peek_jwt(token: &str) -> Option<JwtClaims> {
    let token = token.trim();
    if token.len() > MAX_JWT_LEN {
        return None;
    }
    let mut parts = token.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let payload = payload.trim_end_matches('=');
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    // Claims are a JSON object; serde would also accept an array for a struct.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    Some(JwtClaims {
        sub: as_id(claims.sub),
        iss: as_id(claims.iss),
    })
}

/// The token of an `Authorization: JWT <token>` header value (scheme
/// case-insensitive), if it is one.
pub fn jwt_from_authorization(value: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(value).ok()?.trim();
    let (scheme, token) = s.split_once(' ')?;
    scheme.eq_ignore_ascii_case("JWT").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn token(payload: &str) -> String {
        format!("eyJhbGciOiJIUzI1NiJ9.{}.c2ln", URL_SAFE_NO_PAD.encode(payload))
    }

    #[test]
    fn reads_sub_and_iss() {
        let c = peek_jwt(&token(r#"{"sub":"557058:x","iss":"ck","qsh":"h"}"#)).expect("claims");
        assert_eq!(
            c,
            JwtClaims {
                sub: Some("557058:x".into()),
                iss: Some("ck".into())
            }
        );
    }

    #[test]
    fn rejects_malformed_tokens() {
        assert_eq!(peek_jwt("not a token"), None);
        assert_eq!(peek_jwt("a.b"), None);
        assert_eq!(peek_jwt("a.!!!.c"), None);
        assert_eq!(peek_jwt(&token("[1,2]")), None);
        assert_eq!(
            peek_jwt(&token(&format!("{{\"sub\":\"{}\"}}", "x".repeat(MAX_JWT_LEN)))),
            None
        );
    }

    #[test]
    fn authorization_scheme_is_case_insensitive() {
        assert_eq!(jwt_from_authorization(b"JWT abc"), Some("abc"));
        assert_eq!(jwt_from_authorization(b"jwt  abc "), Some("abc"));
        assert_eq!(jwt_from_authorization(b"Bearer abc"), None);
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = peek_jwt(&s);
            let _ = jwt_from_authorization(s.as_bytes());
        }
    }
}
