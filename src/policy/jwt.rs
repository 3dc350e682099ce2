//! Reading the claims of an Atlassian Connect JWT without verifying it.
//!
//! privlog only needs `sub` (the account) and `iss` (the customer site's
//! `clientKey`) to pseudonymize them; verifying the token is the application's
//! job. Reading is bounded and never panics.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The longest token that is looked at; longer ones are ignored.
pub const MAX_JWT_LEN: usize = 8192;

/// Payloads that decode to at most this many bytes are decoded on the stack.
const STACK_PAYLOAD: usize = 1024;

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
    sub: Option<Id>,
    #[serde(default)]
    iss: Option<Id>,
}

/// A claim read as an ID: a non-empty string, or a number as JSON writes it;
/// any other value (booleans, arrays, objects) is skipped without being built.
struct Id(Option<String>);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IdVisitor)
    }
}

struct IdVisitor;

impl<'de> Visitor<'de> for IdVisitor {
    type Value = Id;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Id, E> {
        Ok(Id((!s.is_empty()).then(|| s.to_owned())))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Id, E> {
        Ok(Id((!s.is_empty()).then_some(s)))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Id, E> {
        Ok(Id(Some(serde_json::Number::from(n).to_string())))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Id, E> {
        Ok(Id(Some(serde_json::Number::from(n).to_string())))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Id, E> {
        Ok(Id(serde_json::Number::from_f64(n).map(|n| n.to_string())))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Id, E> {
        Ok(Id(None))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Id, E> {
        Ok(Id(None))
    }

    fn visit_none<E: de::Error>(self) -> Result<Id, E> {
        Ok(Id(None))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Id, D::Error> {
        Id::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Id, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Id(None))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Id, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Id(None))
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
    let mut stack = [0u8; STACK_PAYLOAD];
    let heap;
    let bytes: &[u8] = if payload.len() / 4 * 3 + 3 <= STACK_PAYLOAD {
        let n = URL_SAFE_NO_PAD.decode_slice(payload, &mut stack).ok()?;
        stack.get(..n)?
    } else {
        heap = URL_SAFE_NO_PAD.decode(payload).ok()?;
        &heap
    };
    // Claims are a JSON object; serde would also accept an array for a struct.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let claims: Claims = serde_json::from_slice(bytes).ok()?;
    Some(JwtClaims {
        sub: claims.sub.and_then(|i| i.0),
        iss: claims.iss.and_then(|i| i.0),
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

    /// The reading before claims were decoded on the stack, kept as the reference.
    fn peek_jwt_reference(token: &str) -> Option<JwtClaims> {
        #[derive(Deserialize)]
        struct ValueClaims {
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
        let token = token.trim();
        if token.len() > MAX_JWT_LEN {
            return None;
        }
        let mut parts = token.split('.');
        let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return None;
        }
        let claims: ValueClaims = serde_json::from_slice(&bytes).ok()?;
        Some(JwtClaims {
            sub: as_id(claims.sub),
            iss: as_id(claims.iss),
        })
    }

    fn claim_value() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\PC{0,20}".prop_map(|s| serde_json::Value::String(s).to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|n| format!("{n:e}")),
            Just("-0".to_owned()),
            Just("1e400".to_owned()),
            Just("\"\"".to_owned()),
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("[1,{\"a\":[]}]".to_owned()),
            Just("{\"sub\":\"x\"}".to_owned()),
            Just("\"a\\u00e9\\n\"".to_owned()),
        ]
    }

    proptest! {
        #[test]
        fn reads_claims_as_the_reference_does(
            fields in proptest::collection::vec(
                (prop_oneof![Just("sub"), Just("iss"), Just("qsh"), Just("exp")], claim_value()),
                0..5,
            ),
            pad in 0usize..2000,
            wrap in prop_oneof![Just(("{", "}")), Just(("[", "]")), Just((" {", "} ")), Just(("{", ""))],
        ) {
            let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let mut payload = format!("{}{}", wrap.0, body.join(","));
            if !body.is_empty() {
                payload.push(',');
            }
            payload.push_str(&format!("\"pad\":\"{}\"{}", "p".repeat(pad), wrap.1));
            let t = token(&payload);
            prop_assert_eq!(peek_jwt(&t), peek_jwt_reference(&t));
        }

        #[test]
        fn malformed_tokens_as_the_reference(s in "[A-Za-z0-9_=.-]{0,200}") {
            prop_assert_eq!(peek_jwt(&s), peek_jwt_reference(&s));
        }

        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = peek_jwt(&s);
            let _ = jwt_from_authorization(s.as_bytes());
        }
    }
}
