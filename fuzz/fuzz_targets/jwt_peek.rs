//! Reading Connect JWT claims from hostile tokens and Authorization headers:
//! never panics, and reads exactly what a serde_json struct parse of the
//! payload reads (the implementation the claims scanner replaced).
#![no_main]

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use privlog::policy::{JwtClaims, MAX_JWT_LEN, jwt_from_authorization};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<Id>,
    #[serde(default)]
    iss: Option<Id>,
}

/// A claim read as an ID: a non-empty string, or a number as JSON writes it.
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

fn reference(token: &str) -> Option<JwtClaims> {
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
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    let mut out = JwtClaims::default();
    out.sub = claims.sub.and_then(|i| i.0);
    out.iss = claims.iss.and_then(|i| i.0);
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    if let Some(token) = jwt_from_authorization(data) {
        assert_eq!(privlog::peek_jwt(token), reference(token), "token {token:?}");
    }
    let s = String::from_utf8_lossy(data);
    let claims = privlog::peek_jwt(&s);
    if claims.is_some() {
        assert!(s.trim().len() <= MAX_JWT_LEN);
    }
    assert_eq!(claims, reference(&s), "token {s:?}");
    // The input as a raw payload, so the fuzzer steers the JSON directly.
    let token = format!("e30.{}.c2ln", URL_SAFE_NO_PAD.encode(data));
    assert_eq!(privlog::peek_jwt(&token), reference(&token), "payload {:?}", String::from_utf8_lossy(data));
});
