//! Reading the claims of an Atlassian Connect JWT without verifying it.
//!
//! privlog only needs `sub` (the account) and `iss` (the customer site's
//! `clientKey`) to pseudonymize them; verifying the token is the application's
//! job. Reading is bounded and never panics.
//!
//! The worker reads a claim set per request, so the payload is decoded into a
//! stack buffer and walked once by a small JSON scanner that builds only the
//! two strings it returns. The scanner accepts exactly the payloads a strict
//! JSON parser reading `{"sub": …, "iss": …}` into a struct accepts:
//!
//! - the payload is one JSON object, with nothing but whitespace around it;
//! - `sub` and `iss` may each appear once: a token that repeats either key
//!   (even with the same value) yields no claims at all, as a struct parser
//!   rejects duplicate fields;
//! - a claim that is a non-empty string is returned decoded (escapes,
//!   `\uXXXX` and surrogate pairs); a number is returned as JSON writes it;
//!   `null`, `""`, booleans, arrays and objects count as absent;
//! - every other member is checked for syntax only, at any nesting depth,
//!   without recursion or allocation.

use std::borrow::Cow;

/// The longest token that is looked at; longer ones are ignored.
pub const MAX_JWT_LEN: usize = 8192;

/// The most bytes a payload of a token up to [`MAX_JWT_LEN`] decodes to.
const MAX_PAYLOAD: usize = MAX_JWT_LEN / 4 * 3;

/// Payloads up to this many bytes (Connect tokens are 200-400) are decoded
/// into a small buffer; larger ones into one of [`MAX_PAYLOAD`] bytes.
const SMALL_PAYLOAD: usize = 768;

/// The claims privlog reads from a JWT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtClaims {
    /// `sub`: the Atlassian account ID.
    pub sub: Option<String>,
    /// `iss`: the Connect `clientKey` of the customer site.
    pub iss: Option<String>,
}

/// Reads `sub` and `iss` from a compact JWT (`header.payload.signature`).
///
/// Returns `None` for anything that is not a readable JWT: too long, wrong
/// shape, bad base64, payload not a JSON object, `sub` or `iss` given twice.
///
/// ```
/// // {"alg":"HS256"} . {"sub":"557058:abc","iss":"client-key-1"} . sig
/// let t = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI1NTcwNTg6YWJjIiwiaXNzIjoiY2xpZW50LWtleS0xIn0.c2ln";
/// let c = privlog::peek_jwt(t).expect("claims");
/// assert_eq!(c.sub.as_deref(), Some("557058:abc"));
/// assert_eq!(c.iss.as_deref(), Some("client-key-1"));
/// ```
pub fn peek_jwt(token: &str) -> Option<JwtClaims> {
    payload_claims_with(payload_of(token)?, |sub, iss| JwtClaims {
        sub: sub.map(str::to_owned),
        iss: iss.map(str::to_owned),
    })
}

/// The claims in a token's payload segment (as [`payload_segment`] finds
/// it): `f` is given `sub` and `iss` borrowed from the decoded payload (on
/// the stack), so a caller that only copies them into its own buffers (the
/// worker's claims cache) allocates nothing.
pub(crate) fn payload_claims_with<R>(payload: &[u8], f: impl FnOnce(Option<&str>, Option<&str>) -> R) -> Option<R> {
    // Every 4 base64 characters are 3 bytes; a remainder of 2 or 3 adds 1 or 2.
    let len = payload.len() / 4 * 3 + (payload.len() % 4).saturating_sub(1);
    if len <= SMALL_PAYLOAD {
        claims_in::<SMALL_PAYLOAD, R>(payload, f)
    } else {
        claims_in::<MAX_PAYLOAD, R>(payload, f)
    }
}

/// The base64url payload of a compact token, without trailing `=`.
fn payload_of(token: &str) -> Option<&[u8]> {
    payload_segment(token.trim().as_bytes())
}

/// The signed part (`header.payload`) of the JWT in an `Authorization: JWT
/// <token>` value: the token without its signature segment, found from the
/// end without decoding or checking UTF-8. This is what the request path
/// keeps for the worker (so a capture never holds a usable token); the
/// worker takes the payload out with [`signed_part_payload`]. Together they
/// check what [`peek_jwt`] checks (at most [`MAX_JWT_LEN`] bytes, three
/// segments); only ASCII whitespace is trimmed.
pub(crate) fn authorization_signed_part(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.trim_ascii().split_first_chunk::<4>()?;
    // `JWT` in any case and a space, as one comparison: setting bit 5 of a
    // byte gives `j` only for `J` and `j` (`w`, `t` likewise).
    if u32::from_le_bytes(*scheme) | 0x0020_2020 != u32::from_le_bytes(*b"jwt ") {
        return None;
    }
    let token = rest.trim_ascii_start();
    if token.len() > MAX_JWT_LEN {
        return None;
    }
    token.get(..memchr::memrchr(b'.', token)?)
}

/// The base64url payload segment of a token's signed part (`header.payload`),
/// without trailing `=`; `None` unless the part has exactly two segments.
pub(crate) fn signed_part_payload(signed: &[u8]) -> Option<&[u8]> {
    let first = memchr::memchr(b'.', signed)?;
    let mut payload = signed.get(first + 1..)?;
    if memchr::memchr(b'.', payload).is_some() {
        return None;
    }
    while let [head @ .., b'='] = payload {
        payload = head;
    }
    Some(payload)
}

/// The base64url payload segment of compact token bytes, without trailing `=`.
pub(crate) fn payload_segment(token: &[u8]) -> Option<&[u8]> {
    if token.len() > MAX_JWT_LEN {
        return None;
    }
    let first = memchr::memchr(b'.', token)?;
    let rest = token.get(first + 1..)?;
    let second = memchr::memchr(b'.', rest)?;
    if memchr::memchr(b'.', rest.get(second + 1..)?).is_some() {
        return None;
    }
    let mut payload = rest.get(..second)?;
    while let [head @ .., b'='] = payload {
        payload = head;
    }
    Some(payload)
}

/// Decodes `payload` into an `N`-byte stack buffer and reads the claims.
#[inline(never)]
fn claims_in<const N: usize, R>(payload: &[u8], f: impl FnOnce(Option<&str>, Option<&str>) -> R) -> Option<R> {
    let mut buf = [0u8; N];
    let n = decode_base64url(payload, &mut buf)?;
    let claims = read_claims(buf.get(..n)?)?;
    Some(f(claims.sub.as_deref(), claims.iss.as_deref()))
}

/// The token of an `Authorization: JWT <token>` header value (scheme
/// case-insensitive), if it is one.
pub fn jwt_from_authorization(value: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(value).ok()?.trim();
    let (scheme, token) = s.split_once(' ')?;
    scheme.eq_ignore_ascii_case("JWT").then(|| token.trim())
}

/// Words of the bit stack that tracks open containers while a value is
/// skipped: one bit per level (set for an object), as many levels as a
/// payload has bytes.
const DEPTH_WORDS: usize = MAX_PAYLOAD / 64 + 1;

/// A claim key the scanner reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Sub,
    Iss,
    Other,
}

/// `sub` and `iss` of a payload, borrowed from it unless they held escapes
/// or were numbers.
#[derive(Debug, Default, PartialEq, Eq)]
struct Claims<'a> {
    sub: Option<Cow<'a, str>>,
    iss: Option<Cow<'a, str>>,
}

/// Reads the claims from a decoded payload; `None` when it is not one valid
/// JSON object or names `sub` or `iss` twice.
fn read_claims(json: &[u8]) -> Option<Claims<'_>> {
    let mut s = Scanner { b: json, i: 0 };
    let mut claims = Claims::default();
    let (mut seen_sub, mut seen_iss) = (false, false);
    s.ws();
    s.expect(b'{')?;
    s.ws();
    if s.peek() == Some(b'}') {
        s.i += 1;
    } else {
        loop {
            s.expect(b'"')?;
            let key = s.key()?;
            s.ws();
            s.expect(b':')?;
            match key {
                Key::Sub if !seen_sub => {
                    seen_sub = true;
                    claims.sub = s.claim()?;
                }
                Key::Iss if !seen_iss => {
                    seen_iss = true;
                    claims.iss = s.claim()?;
                }
                Key::Sub | Key::Iss => return None,
                Key::Other => s.skip_value(false)?,
            }
            s.ws();
            match s.next()? {
                b',' => s.ws(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    s.ws();
    (s.i == json.len()).then_some(claims)
}

/// A cursor over a decoded payload. Every read is bounds-checked; running off
/// the end is a syntax error (`None`).
struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn expect(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    /// Skips JSON whitespace (space, tab, LF, CR only).
    fn ws(&mut self) {
        // A local index keeps the loop in registers.
        let mut i = self.i;
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(i) {
            i += 1;
        }
        self.i = i;
    }

    fn literal(&mut self, lit: &[u8]) -> Option<()> {
        let end = self.i.checked_add(lit.len())?;
        (self.b.get(self.i..end)? == lit).then(|| self.i = end)
    }

    /// Reads a string whose opening quote was read, strictly: `\u` surrogates
    /// must pair up and the content must be UTF-8 (the rules for a string
    /// that is read). Returns the raw content and whether it holds escapes.
    fn strict_string(&mut self) -> Option<(&'a str, bool)> {
        let (raw, escaped) = self.string(true)?;
        Some((std::str::from_utf8(raw).ok()?, escaped))
    }

    /// Skips a string whose opening quote was read. With `strict`, `\u`
    /// surrogates must pair up; without, only the syntax is checked (the
    /// rules for a string that is skipped). Returns the raw content and
    /// whether it holds escapes.
    fn string(&mut self, strict: bool) -> Option<(&'a [u8], bool)> {
        let start = self.i;
        let mut escaped = false;
        loop {
            self.i = string_stop(self.b, self.i)?;
            match self.next()? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.escape(strict)?;
                }
                _ => return None,
            }
        }
        Some((self.b.get(start..self.i - 1)?, escaped))
    }

    /// Checks one escape after its backslash.
    fn escape(&mut self, strict: bool) -> Option<()> {
        match self.next()? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(()),
            b'u' => {
                let n = self.hex4()?;
                if !strict {
                    return Some(());
                }
                match n {
                    0xDC00..=0xDFFF => None,
                    0xD800..=0xDBFF => {
                        self.literal(b"\\u")?;
                        matches!(self.hex4()?, 0xDC00..=0xDFFF).then_some(())
                    }
                    _ => Some(()),
                }
            }
            _ => None,
        }
    }

    fn hex4(&mut self) -> Option<u16> {
        let end = self.i.checked_add(4)?;
        let digits = self.b.get(self.i..end)?;
        self.i = end;
        digits
            .iter()
            .try_fold(0u16, |n, &d| Some(n << 4 | char::from(d).to_digit(16)? as u16))
    }

    /// Reads an object key whose opening quote was read.
    fn key(&mut self) -> Option<Key> {
        // The claims, as they are nearly always written.
        let fast = match self.b.get(self.i..).and_then(|rest| rest.get(..4)) {
            Some(b"sub\"") => Some(Key::Sub),
            Some(b"iss\"") => Some(Key::Iss),
            _ => None,
        };
        if let Some(key) = fast {
            self.i += 4;
            return Some(key);
        }
        let (raw, escaped) = self.string(true)?;
        if !raw.is_ascii() {
            std::str::from_utf8(raw).ok()?;
        }
        let mut small = [0u8; 3];
        let name: &[u8] = if escaped {
            // Only a key that decodes to three bytes can be a claim.
            match unescape(raw)? {
                d if d.len() == 3 => {
                    small.copy_from_slice(&d);
                    &small
                }
                _ => return Some(Key::Other),
            }
        } else {
            raw
        };
        Some(match name {
            b"sub" => Key::Sub,
            b"iss" => Key::Iss,
            _ => Key::Other,
        })
    }

    /// Reads the value of `sub` or `iss`: `Some(None)` when it is not an ID.
    fn claim(&mut self) -> Option<Option<Cow<'a, str>>> {
        self.ws();
        match self.peek()? {
            b'n' => self.literal(b"null").map(|()| None),
            b't' => self.literal(b"true").map(|()| None),
            b'f' => self.literal(b"false").map(|()| None),
            b'"' => {
                self.i += 1;
                let (raw, escaped) = self.strict_string()?;
                let s = if escaped {
                    Cow::Owned(String::from_utf8(unescape(raw.as_bytes())?).ok()?)
                } else {
                    Cow::Borrowed(raw)
                };
                Some((!s.is_empty()).then_some(s))
            }
            b'-' | b'0'..=b'9' => {
                let (token, integer) = self.number()?;
                number_text(token, integer)
            }
            b'[' | b'{' => self.skip_container(true).map(|()| None),
            _ => None,
        }
    }

    /// Skips a number; returns its text and whether it is an integer (no
    /// fraction, no exponent).
    fn number(&mut self) -> Option<(&'a [u8], bool)> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.i += 1;
            integer = false;
            self.digits1()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            integer = false;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            self.digits1()?;
        }
        Some((self.b.get(start..self.i)?, integer))
    }

    fn digits(&mut self) {
        let mut i = self.i;
        while let Some(b'0'..=b'9') = self.b.get(i) {
            i += 1;
        }
        self.i = i;
    }

    fn digits1(&mut self) -> Option<()> {
        let start = self.i;
        self.digits();
        (self.i > start).then_some(())
    }

    /// Skips any value after checking its syntax. With `strict_keys`, the
    /// keys of an object this value opens are read strictly (as a parser
    /// reading that object does).
    fn skip_value(&mut self, strict_keys: bool) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'"' => {
                self.i += 1;
                self.string(false).map(drop)
            }
            b'-' | b'0'..=b'9' => self.number().map(drop),
            b'n' => self.literal(b"null"),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'[' | b'{' => self.skip_container(strict_keys),
            _ => None,
        }
    }

    /// Skips an array or object. Nesting is tracked in a bit stack as deep as
    /// a payload is long, so depth needs no recursion and no allocation.
    #[inline(never)]
    fn skip_container(&mut self, strict_keys: bool) -> Option<()> {
        // One bit per open container: set for an object, clear for an array.
        let mut open = [0u64; DEPTH_WORDS];
        let mut depth = 0usize;
        loop {
            // A value.
            self.ws();
            let opened = match self.peek()? {
                c @ (b'[' | b'{') => {
                    self.i += 1;
                    Some(c == b'{')
                }
                _ => {
                    self.skip_value(false)?;
                    None
                }
            };
            if let Some(object) = opened {
                let word = open.get_mut(depth / 64)?;
                let bit = 1u64 << (depth % 64);
                *word = if object { *word | bit } else { *word & !bit };
                depth += 1;
                self.ws();
                let close = if object { b'}' } else { b']' };
                if self.peek() == Some(close) {
                    self.i += 1;
                    depth -= 1;
                } else {
                    if object {
                        self.member_key(strict_keys && depth == 1)?;
                    }
                    continue;
                }
            }
            // After a value: close containers until one continues with `,`.
            loop {
                if depth == 0 {
                    return Some(());
                }
                let object = open.get((depth - 1) / 64)? >> ((depth - 1) % 64) & 1 == 1;
                self.ws();
                match self.next()? {
                    b',' => {
                        if object {
                            self.ws();
                            self.member_key(strict_keys && depth == 1)?;
                        }
                        break;
                    }
                    b'}' if object => depth -= 1,
                    b']' if !object => depth -= 1,
                    _ => return None,
                }
            }
        }
    }

    /// Reads `"key" :` inside a skipped object.
    fn member_key(&mut self, strict: bool) -> Option<()> {
        self.expect(b'"')?;
        if strict {
            self.strict_string()?;
        } else {
            self.string(false)?;
        }
        self.ws();
        self.expect(b':')
    }
}

/// The index of the first `"`, `\` or control character in `b` from `from`
/// on. Claims are mostly long plain runs, so 8 bytes are checked at a time.
fn string_stop(b: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES * 0x80;
    let mut i = from;
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().ok()?);
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        // A byte's high bit is set when it is zero (after the xor) or below
        // 0x20; borrows make only bytes after the first hit unreliable.
        let hits = (quote.wrapping_sub(ONES) & !quote
            | backslash.wrapping_sub(ONES) & !backslash
            | w.wrapping_sub(ONES * 0x20) & !w)
            & HIGH;
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let tail = b.get(i..)?;
    tail.iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|p| i + p)
}

/// Decodes base64url without padding into `out`, exactly as strictly as the
/// base64 crate's `URL_SAFE_NO_PAD` engine: no `=`, no other alphabet, no
/// stray bits in the last character. Returns the decoded length, or `None`
/// (also when `out` is too short).
///
/// Each character is looked up in a table that already holds its value
/// shifted to its place in a 4-character group, so a group is four loads
/// or-ed together; characters outside the alphabet carry bit 31, which the
/// or of all groups reveals once, at the end.
fn decode_base64url(input: &[u8], out: &mut [u8]) -> Option<usize> {
    if input.len() % 4 == 1 {
        return None;
    }
    let n = input.len() / 4 * 3 + (input.len() % 4).saturating_sub(1);
    let out = out.get_mut(..n)?;
    let mut bad = 0u32;
    let mut quads = input.chunks_exact(4);
    let mut triples = out.chunks_exact_mut(3);
    for (q, o) in quads.by_ref().zip(triples.by_ref()) {
        let v = B64[0][usize::from(q[0])]
            | B64[1][usize::from(q[1])]
            | B64[2][usize::from(q[2])]
            | B64[3][usize::from(q[3])];
        bad |= v;
        o.copy_from_slice(&v.to_be_bytes()[1..]);
    }
    // 2 or 3 characters left make 1 or 2 bytes; their unused low bits must be 0.
    let (v, stray) = match *quads.remainder() {
        [] => (0, 0),
        [a, b] => {
            let v = B64[0][usize::from(a)] | B64[1][usize::from(b)];
            (v, v & 0xffff)
        }
        [a, b, c] => {
            let v = B64[0][usize::from(a)] | B64[1][usize::from(b)] | B64[2][usize::from(c)];
            (v, v & 0xff)
        }
        _ => return None,
    };
    bad |= v;
    let bytes = v.to_be_bytes();
    let tail = triples.into_remainder();
    let len = tail.len();
    tail.copy_from_slice(bytes.get(1..1 + len)?);
    (bad & 1 << 31 == 0 && stray == 0).then_some(n)
}

/// Base64url character values, shifted to each of the four places of a
/// group (18, 12, 6, 0 bits); bit 31 marks a byte outside the alphabet.
const B64: [[u32; 256]; 4] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut t = [[1u32 << 31; 256]; 4];
    let mut i = 0;
    while i < alphabet.len() {
        let v = i as u32;
        t[0][alphabet[i] as usize] = v << 18;
        t[1][alphabet[i] as usize] = v << 12;
        t[2][alphabet[i] as usize] = v << 6;
        t[3][alphabet[i] as usize] = v;
        i += 1;
    }
    t
};

/// Decodes the escapes of a string the scanner checked strictly.
fn unescape(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut s = Scanner { b: raw, i: 0 };
    loop {
        let rest = s.b.get(s.i..)?;
        let run = memchr::memchr(b'\\', rest).unwrap_or(rest.len());
        out.extend_from_slice(rest.get(..run)?);
        s.i += run;
        if s.i == raw.len() {
            return Some(out);
        }
        s.i += 1;
        let c = match s.next()? {
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let n = u32::from(s.hex4()?);
                let cp = if (0xD800..=0xDBFF).contains(&n) {
                    s.literal(b"\\u")?;
                    let low = u32::from(s.hex4()?);
                    0x10000 + ((n - 0xD800) << 10) + low.checked_sub(0xDC00)?
                } else {
                    n
                };
                char::from_u32(cp)?
            }
            c => char::from(c),
        };
        let mut utf8 = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
    }
}

/// The text of a claim that is a number, as a JSON parser reading it and
/// writing it back gives it: integers that fit 64 bits keep their digits,
/// anything else is read as a float. `None` when the number is out of range.
fn number_text(token: &[u8], integer: bool) -> Option<Option<Cow<'_, str>>> {
    if integer {
        let (negative, digits) = match token {
            [b'-', rest @ ..] => (true, rest),
            _ => (false, token),
        };
        let magnitude = digits.iter().try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d.wrapping_sub(b'0')))
        });
        // `-0` and negatives beyond i64 are floats to JSON parsers.
        let fits = match magnitude {
            Some(m) => !negative || (1..=1u64 << 63).contains(&m),
            None => false,
        };
        if fits {
            return Some(Some(Cow::Borrowed(std::str::from_utf8(token).ok()?)));
        }
    }
    let float: f64 = serde_json::from_slice(token).ok()?;
    Some(serde_json::Number::from_f64(float).map(|n| Cow::Owned(n.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;

    /// The claims the scanner reads from a payload, owned.
    fn read(json: &[u8]) -> Option<JwtClaims> {
        read_claims(json).map(|c| JwtClaims {
            sub: c.sub.map(Cow::into_owned),
            iss: c.iss.map(Cow::into_owned),
        })
    }

    fn token(payload: &str) -> String {
        token_bytes(payload.as_bytes())
    }

    fn token_bytes(payload: &[u8]) -> String {
        format!("eyJhbGciOiJIUzI1NiJ9.{}.c2ln", URL_SAFE_NO_PAD.encode(payload))
    }

    fn claims(sub: Option<&str>, iss: Option<&str>) -> Option<JwtClaims> {
        Some(JwtClaims {
            sub: sub.map(str::to_owned),
            iss: iss.map(str::to_owned),
        })
    }

    #[test]
    fn reads_sub_and_iss() {
        let c = peek_jwt(&token(r#"{"sub":"557058:x","iss":"ck","qsh":"h"}"#));
        assert_eq!(c, claims(Some("557058:x"), Some("ck")));
    }

    #[test]
    fn rejects_malformed_tokens() {
        assert_eq!(peek_jwt("not a token"), None);
        assert_eq!(peek_jwt("a.b"), None);
        assert_eq!(peek_jwt("a.b.c.d"), None);
        assert_eq!(peek_jwt("a.!!!.c"), None);
        assert_eq!(peek_jwt(&token("[1,2]")), None);
        assert_eq!(
            peek_jwt(&token(&format!("{{\"sub\":\"{}\"}}", "x".repeat(MAX_JWT_LEN)))),
            None
        );
    }

    #[test]
    fn a_repeated_claim_key_yields_no_claims() {
        assert_eq!(peek_jwt(&token(r#"{"sub":"a","sub":"a"}"#)), None);
        assert_eq!(peek_jwt(&token(r#"{"iss":null,"sub":"a","iss":"b"}"#)), None);
        assert_eq!(peek_jwt(&token(r#"{"sub":"a","s\u0075b":"b"}"#)), None);
        assert_eq!(
            peek_jwt(&token(r#"{"sub":"a","exp":1,"exp":2}"#)),
            claims(Some("a"), None)
        );
    }

    #[test]
    fn claim_strings_are_decoded() {
        let c = peek_jwt(&token(
            r#"{"sub":"a\"b\\c\/d\u00e9\ud83d\ude00\n","\u0069ss":"\u0041"}"#,
        ));
        assert_eq!(c, claims(Some("a\"b\\c/d\u{e9}\u{1f600}\n"), Some("A")));
    }

    #[test]
    fn numeric_claims_read_as_json_writes_them() {
        let read = |v: &str| peek_jwt(&token(&format!("{{\"sub\":{v}}}"))).map(|c| c.sub);
        assert_eq!(read("42"), Some(Some("42".into())));
        assert_eq!(read("-42"), Some(Some("-42".into())));
        assert_eq!(read("-0"), Some(Some("-0.0".into())));
        assert_eq!(read("1.50"), Some(Some("1.5".into())));
        assert_eq!(
            read("18446744073709551616"),
            Some(Some("1.8446744073709552e+19".into()))
        );
        assert_eq!(read("1e400"), None);
    }

    #[test]
    fn claims_that_are_not_ids_are_absent() {
        let c = peek_jwt(&token(r#"{"sub":"","iss":{"a":[1,{"b":"c"}],"d":true}}"#));
        assert_eq!(c, claims(None, None));
        let c = peek_jwt(&token(r#"{"sub":[[[]],{}],"iss":false}"#));
        assert_eq!(c, claims(None, None));
    }

    /// JSON strings no claims reader accepts: lone or broken surrogates, bad
    /// escapes, raw control characters, no closing quote.
    const BROKEN_STRINGS: &[&str] = &[
        r#""\ud83d""#,
        r#""\ude00""#,
        r#""\ud83dx""#,
        r#""\ud83d\n""#,
        r#""\ud83d\ud83d""#,
        r#""\u12g4""#,
        r#""\x""#,
        r#""\u00""#,
        "\"tab\there\"",
        "\"open",
    ];

    #[test]
    fn broken_strings_in_claims_and_keys_reject_the_token() {
        for b in BROKEN_STRINGS {
            for payload in [
                format!("{{\"sub\":{b}}}"),
                format!("{{{b}:1}}"),
                format!("{{\"iss\":{{{b}:1}}}}"),
            ] {
                assert_eq!(read(payload.as_bytes()), None, "{payload}");
                assert_eq!(reference::read_claims(payload.as_bytes()), None, "{payload}");
            }
        }
        for invalid_utf8 in [&b"{\"sub\":\"\xff\"}"[..], b"{\"\xc3\":1}", b"{\"iss\":{\"\xff\":1}}"] {
            assert_eq!(read(invalid_utf8), None);
        }
        // Skipped members are checked for syntax only, as a struct parser does.
        let lenient = br#"{"x":"\ud800","y":{"\udc00":["\ud83d"]},"sub":"a"}"#;
        assert_eq!(read(lenient), claims(Some("a"), None));
        assert_eq!(read(b"{\"x\":\"\xff\",\"sub\":\"a\"}"), claims(Some("a"), None));
    }

    #[test]
    fn deep_nesting_is_skipped_without_recursion() {
        let deep = format!("{{\"ctx\":{}1{},\"sub\":\"x\"}}", "[".repeat(2000), "]".repeat(2000));
        assert_eq!(peek_jwt(&token(&deep)), claims(Some("x"), None));
        let torn = format!("{{\"ctx\":{}1{},\"sub\":\"x\"}}", "[".repeat(2000), "]".repeat(1999));
        assert_eq!(peek_jwt(&token(&torn)), None);
    }

    #[test]
    fn payloads_of_every_length_decode_as_the_reference() {
        for n in (0..100).chain(SMALL_PAYLOAD - 40..SMALL_PAYLOAD + 40) {
            let t = token(&format!("{{\"sub\":\"{}\"}}", "s".repeat(n)));
            assert_eq!(peek_jwt(&t), reference::peek_jwt(&t), "{n}");
        }
    }

    #[test]
    fn the_request_path_keeps_the_signed_part_and_never_the_signature() {
        let part = authorization_signed_part(b" jwt  hdr.cGF5bG9hZA==.c2lnbmF0dXJl ");
        assert_eq!(part, Some(&b"hdr.cGF5bG9hZA=="[..]));
        assert_eq!(part.and_then(signed_part_payload), Some(&b"cGF5bG9hZA"[..]));
        assert_eq!(authorization_signed_part(b"Bearer hdr.cGF5.sig"), None);
        assert_eq!(authorization_signed_part(b"JWTx hdr.cGF5.sig"), None);
        let four = authorization_signed_part(b"JWT hdr.cGF5.sig.extra");
        assert_eq!(four.and_then(signed_part_payload), None);
        let two = authorization_signed_part(b"JWT hdr.cGF5");
        assert_eq!(two.and_then(signed_part_payload), None);
    }

    #[test]
    fn authorization_scheme_is_case_insensitive() {
        assert_eq!(jwt_from_authorization(b"JWT abc"), Some("abc"));
        assert_eq!(jwt_from_authorization(b"jwt  abc "), Some("abc"));
        assert_eq!(jwt_from_authorization(b"Bearer abc"), None);
    }

    /// The reading before the claims scanner (shared with the fuzz target).
    mod reference {
        include!("jwt_reference.rs");
    }

    /// Picks from `good` 39 times in 40 and from `bad` otherwise.
    fn mostly(good: &'static [&'static str], bad: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            39 => prop::sample::select(good),
            1 => prop::sample::select(bad),
        ]
        .prop_map(|s| s.as_bytes().to_vec())
    }

    /// JSON-ish text: mostly valid, with the corner cases of strings, numbers
    /// and nesting, and now and then a piece that breaks it.
    fn json_value() -> impl Strategy<Value = Vec<u8>> {
        json_leaf().prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                5 => (proptest::collection::vec(inner.clone(), 0..4), ws(), trailer()).prop_map(|(items, w, t)| {
                    let mut v = b"[".to_vec();
                    v.extend_from_slice(&w);
                    v.extend(items.join(&b","[..]));
                    v.extend_from_slice(&t);
                    v.push(b']');
                    v
                }),
                5 => (proptest::collection::vec((json_key(), inner), 0..4), ws(), trailer()).prop_map(
                    |(members, w, t)| {
                        let mut v = b"{".to_vec();
                        let members: Vec<Vec<u8>> = members
                            .into_iter()
                            .map(|(k, val)| {
                                let mut m = k;
                                m.extend_from_slice(&w);
                                m.push(b':');
                                m.extend_from_slice(&w);
                                m.extend(val);
                                m
                            })
                            .collect();
                        v.extend(members.join(&b","[..]));
                        v.extend_from_slice(&t);
                        v.push(b'}');
                        v
                    }
                ),
                1 => mostly(&["[]", "{}", "[[]]"], &["[1}", "{\"a\"}", "{1:2}", "[", "{\"a\":1"]),
            ]
        })
    }

    /// A string, number or literal.
    fn json_leaf() -> impl Strategy<Value = Vec<u8>> {
        let string = prop_oneof![
            18 => "\\PC{0,12}".prop_map(|s| serde_json::Value::String(s).to_string().into_bytes()),
            36 => mostly(
                &[
                    r#""""#,
                    r#""a\"b\\c\/d\b\f\n\r\t""#,
                    r#""\u00e9\u0041\uFFFF\u0000""#,
                    r#""\ud83d\ude00""#,
                    "\"caf\u{e9}\"",
                    "\"557058:f0e1d2c3-b4a5-4697-8899-aabbccddeeff\"",
                ],
                BROKEN_STRINGS,
            ),
            1 => prop::sample::select(vec![b"\"\xff\xfe\"".to_vec(), b"\"\xc3\"".to_vec()]),
        ];
        let number = prop_oneof![
            any::<i64>().prop_map(|n| n.to_string().into_bytes()),
            any::<u64>().prop_map(|n| n.to_string().into_bytes()),
            any::<f64>().prop_map(|n| format!("{n:e}").into_bytes()),
            mostly(
                &[
                    "0",
                    "-0",
                    "-0.0",
                    "1.5",
                    "1E-3",
                    "2.5e+3",
                    "18446744073709551615",
                    "18446744073709551616",
                    "-9223372036854775808",
                    "-9223372036854775809",
                    "123456789012345678901234567890",
                    "1e400",
                ],
                &["01", "1.", ".5", "-", "1e", "1e+", "+1", "0x10"],
            ),
        ];
        let literal = mostly(&["null", "true", "false"], &["nul", "nulls", "tru", "NaN"]);
        prop_oneof![4 => string, 3 => number, 1 => literal]
    }

    fn json_key() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            39 => mostly(
                &[
                    "\"sub\"",
                    "\"iss\"",
                    "\"qsh\"",
                    "\"exp\"",
                    "\"context\"",
                    "\"s\\u0075b\"",
                    "\"\\u0069ss\"",
                    "\"su\"",
                    "\"subs\"",
                    "\"\\u0000\"",
                ],
                &["\"s\\ub\"", "\"\\ud800\"", "sub", "\"sub"],
            ),
            1 => Just(b"\"\xff\"".to_vec()),
        ]
    }

    fn ws() -> impl Strategy<Value = Vec<u8>> {
        mostly(&["", "", " ", "\n\t\r "], &["\x0c"])
    }

    fn trailer() -> impl Strategy<Value = Vec<u8>> {
        mostly(&["", " "], &[","])
    }

    /// A claims object of random members, sometimes damaged by one byte.
    fn payload() -> impl Strategy<Value = Vec<u8>> {
        (
            proptest::collection::vec(
                prop_oneof![
                    (
                        mostly(
                            &["\"sub\"", "\"iss\"", "\"\\u0073ub\"", "\"is\\u0073\""],
                            &["\"sub\\u0000\""]
                        ),
                        json_leaf()
                    ),
                    (json_key(), json_value()),
                ],
                0..5,
            ),
            ws(),
            prop_oneof![
                9 => prop::sample::select(vec![("{", "}"), (" {", "}\n")]),
                1 => prop::sample::select(vec![("[", "]"), ("{", ""), ("{", "} x"), ("\x0c{", "}")]),
            ],
            proptest::option::weighted(0.1, (any::<prop::sample::Index>(), any::<u8>(), 0u8..3)),
        )
            .prop_map(|(members, w, (open, close), damage)| {
                let mut v = open.as_bytes().to_vec();
                let members: Vec<Vec<u8>> = members
                    .into_iter()
                    .map(|(k, val)| {
                        let mut m = w.clone();
                        m.extend(k);
                        m.push(b':');
                        m.extend_from_slice(&w);
                        m.extend(val);
                        m
                    })
                    .collect();
                v.extend(members.join(&b","[..]));
                v.extend_from_slice(close.as_bytes());
                if let Some((at, byte, how)) = damage {
                    let i = at.index(v.len() + 1);
                    match how {
                        0 => v.insert(i, byte),
                        1 if i < v.len() => v[i] = byte,
                        _ => v.truncate(i),
                    }
                }
                v
            })
    }

    proptest! {
        #[test]
        fn the_request_path_finds_the_payload_the_worker_would(
            scheme in prop_oneof![
                Just("JWT".to_owned()),
                Just("jwt".to_owned()),
                Just("Bearer".to_owned()),
                "[A-Za-z]{0,5}",
                "[jJ*][wW7][tT4][\\x00\\t]?",
                "[\\x00-\\x7f]{0,4}",
            ],
            pad in "[ \t]{0,3}",
            token in prop_oneof![
                "[A-Za-z0-9_=-]{0,12}\\.[A-Za-z0-9_=-]{0,40}\\.[A-Za-z0-9_-]{0,12}",
                "[A-Za-z0-9_.= -]{0,60}",
            ],
        ) {
            let value = format!("{pad}{scheme} {pad}{token}{pad}");
            let worker = jwt_from_authorization(value.as_bytes()).and_then(payload_of);
            let split = authorization_signed_part(value.as_bytes()).and_then(signed_part_payload);
            prop_assert_eq!(split, worker);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn scanner_reads_claims_as_the_serde_reference(p in payload()) {
            prop_assert_eq!(read(&p), reference::read_claims(&p), "{}", String::from_utf8_lossy(&p));
        }

        #[test]
        fn scanner_agrees_with_the_reference_on_garbage(p in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(read(&p), reference::read_claims(&p));
        }
    }

    proptest! {
        #[test]
        fn tokens_read_as_the_reference(p in payload(), pad in 0usize..1200, eq in 0usize..3) {
            let mut t = token_bytes(&p);
            // Padding and length move the payload across both buffer sizes.
            t = t.replacen('.', &format!(".{}", "A".repeat(pad / 4 * 4)), usize::from(pad % 2 == 1));
            let t = t.replacen(".c2ln", &format!("{}.c2ln", "=".repeat(eq)), 1);
            prop_assert_eq!(peek_jwt(&t), reference::peek_jwt(&t));
        }

        #[test]
        fn string_stop_finds_the_first_quote_backslash_or_control(
            b in proptest::collection::vec(prop_oneof![4 => 0x20u8..0xff, 1 => any::<u8>()], 0..40),
            from in 0usize..45,
        ) {
            let naive = b.get(from..).and_then(|t| {
                t.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20).map(|p| from + p)
            });
            prop_assert_eq!(string_stop(&b, from), naive);
        }

        #[test]
        fn base64url_decodes_as_the_base64_crate(
            s in "[A-Za-z0-9_-]{0,40}[A-Za-z0-9_=+/.-]{0,3}[A-Za-z0-9_-]{0,3}",
        ) {
            let mut out = [0u8; 64];
            let ours = decode_base64url(s.as_bytes(), &mut out).map(|n| out[..n].to_vec());
            prop_assert_eq!(ours, URL_SAFE_NO_PAD.decode(&s).ok(), "{}", s);
        }

        #[test]
        fn malformed_tokens_as_the_reference(s in "[A-Za-z0-9_=.-]{0,200}") {
            prop_assert_eq!(peek_jwt(&s), reference::peek_jwt(&s));
        }

        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = peek_jwt(&s);
            let _ = jwt_from_authorization(s.as_bytes());
        }
    }
}
