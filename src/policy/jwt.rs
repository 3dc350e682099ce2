//! Reading the claims of an Atlassian Connect JWT without verifying it.
//!
//! privlog only needs `sub` (the account) and `iss` (the customer site's
//! `clientKey`) to pseudonymize them; verifying the token is the application's
//! job. Reading is bounded and never panics.

use std::fmt;

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

/// The base64url alphabet.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The 6-bit value of each byte in [`ALPHABET`], `0xff` for every other byte.
const SEXTETS: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 64 {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// The number of bytes `len` unpadded base64url characters decode to; `None`
/// for a length no encoder writes (one character left over).
fn decoded_len(len: usize) -> Option<usize> {
    match len % 4 {
        1 => None,
        0 => Some(len / 4 * 3),
        r => Some(len / 4 * 3 + r - 1),
    }
}

/// Decodes unpadded base64url into `out` (exactly [`decoded_len`] bytes), as
/// strictly as the `base64` crate's `URL_SAFE_NO_PAD`: `None` for a byte
/// outside the alphabet, a wrong length or non-zero trailing bits. The claims
/// of every request pass here, so it is a table lookup per character.
fn decode_base64url<'a>(s: &[u8], out: &'a mut [u8]) -> Option<&'a [u8]> {
    if decoded_len(s.len()) != Some(out.len()) {
        return None;
    }
    let sextet = |b: u8| u32::from(SEXTETS[usize::from(b)]);
    let mut bad = 0u32;
    let chunks = s.chunks_exact(4);
    let tail = chunks.remainder();
    let mut outs = out.chunks_exact_mut(3);
    for (c, o) in chunks.zip(&mut outs) {
        let (a, b, x, d) = (sextet(c[0]), sextet(c[1]), sextet(c[2]), sextet(c[3]));
        bad |= a | b | x | d;
        let v = (a << 18) | (b << 12) | (x << 6) | d;
        o.copy_from_slice(&[(v >> 16) as u8, (v >> 8) as u8, v as u8]);
    }
    let rest = outs.into_remainder();
    match (tail, rest) {
        ([], []) => {}
        ([a, b], [o0]) => {
            let (a, b) = (sextet(*a), sextet(*b));
            bad |= a | b | if b & 0x0f != 0 { 0x80 } else { 0 };
            *o0 = ((a << 2) | (b >> 4)) as u8;
        }
        ([a, b, x], [o0, o1]) => {
            let (a, b, x) = (sextet(*a), sextet(*b), sextet(*x));
            bad |= a | b | x | if x & 0x03 != 0 { 0x80 } else { 0 };
            let v = (a << 12) | (b << 6) | x;
            *o0 = (v >> 10) as u8;
            *o1 = (v >> 2) as u8;
        }
        _ => return None,
    }
    (bad & 0x80 == 0).then_some(out)
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
    let mut heap = Vec::new();
    let out: &mut [u8] = match decoded_len(payload.len()) {
        Some(n) if n <= STACK_PAYLOAD => &mut stack[..n],
        Some(n) => {
            heap.resize(n, 0);
            &mut heap
        }
        None => return None,
    };
    let bytes: &[u8] = decode_base64url(payload.as_bytes(), out)?;
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
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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
        fn base64url_decoding_matches_the_base64_crate(s in "[A-Za-z0-9_-]{0,64}|[A-Za-z0-9_=+/. -]{0,64}|\\PC{0,16}") {
            let want = URL_SAFE_NO_PAD.decode(&s).ok();
            let got = decoded_len(s.len()).and_then(|n| {
                let mut out = vec![0u8; n];
                decode_base64url(s.as_bytes(), &mut out).map(<[u8]>::to_vec)
            });
            prop_assert_eq!(got, want);
        }

        #[test]
        fn base64url_decodes_what_was_encoded(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let text = URL_SAFE_NO_PAD.encode(&bytes);
            let mut out = vec![0u8; decoded_len(text.len()).unwrap_or(0)];
            prop_assert_eq!(decode_base64url(text.as_bytes(), &mut out), Some(&bytes[..]));
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
