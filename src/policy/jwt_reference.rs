// The reading of JWT claims before the claims scanner: serde_json into a
// struct. What it accepts and returns is what the scanner must accept and
// return. Test code only, included (`include!`) into a `reference` module by
// the unit tests of `jwt.rs` and by the `jwt_peek` fuzz target; the parent
// module has `JwtClaims` and `MAX_JWT_LEN` in scope.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{JwtClaims, MAX_JWT_LEN};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<Id>,
    #[serde(default)]
    iss: Option<Id>,
}

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

pub(crate) fn peek_jwt(token: &str) -> Option<JwtClaims> {
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
    read_claims(&bytes)
}

// `JwtClaims` is non-exhaustive: the fuzz crate cannot write a literal.
#[allow(clippy::field_reassign_with_default)]
pub(crate) fn read_claims(bytes: &[u8]) -> Option<JwtClaims> {
    // Claims are a JSON object; serde would also accept an array for a struct.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let claims: Claims = serde_json::from_slice(bytes).ok()?;
    let mut out = JwtClaims::default();
    out.sub = claims.sub.and_then(|i| i.0);
    out.iss = claims.iss.and_then(|i| i.0);
    Some(out)
}
