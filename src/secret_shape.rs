//! Recognising a secret written where a name or a path belongs.
//!
//! Names and paths are shown in messages (`cannot access key file …`), so a
//! key or token written in their place would be printed. Every value that
//! reaches a message as a name or a path but may be a secret — the key file
//! and key directory, a variable name, a sink's path, an HTTP header name —
//! is first checked here, and refused without being shown when it has the
//! shape of a secret.

use std::path::Path;

/// The shape of a secret found where a name or a path belongs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SecretShape {
    /// 32 or more hex digits: a master key or another hex secret.
    Key,
    /// A long run of letters and digits of mixed case, as base64 tokens and
    /// passwords are.
    Token,
}

impl SecretShape {
    /// What the value looks like, for messages: `a key (hex digits)`.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            SecretShape::Key => "a key (hex digits)",
            SecretShape::Token => "a secret (a token or password)",
        }
    }
}

/// The fewest hex digits that make a key: 128 bits.
const MIN_KEY_DIGITS: usize = 32;
/// The shortest token recognised.
const MIN_TOKEN_LEN: usize = 20;

/// Whether `s` (surrounding whitespace ignored) is 32 or more hex digits,
/// with or without a `0x` prefix: the shape of privlog's key (64 digits).
pub(crate) fn is_key_like(s: &str) -> bool {
    let s = s.trim();
    let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    digits.len() >= MIN_KEY_DIGITS && digits.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The shape of a secret when `s` (surrounding whitespace ignored) has one:
/// a key ([`is_key_like`]), or 20 or more characters of the base64 alphabets
/// (`A-Z a-z 0-9 + / = _ -`) mixing upper case, lower case and digits.
///
/// A value starting with `/` or `.` is a path and never a token, so any path
/// can be written in a form this does not refuse (`./Keys2026/Ring`).
pub(crate) fn secret_shape(s: &str) -> Option<SecretShape> {
    let s = s.trim();
    if is_key_like(s) {
        return Some(SecretShape::Key);
    }
    if s.len() < MIN_TOKEN_LEN || s.starts_with(['/', '.']) {
        return None;
    }
    let b = s.as_bytes();
    let alphabet = b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'_' | b'-'));
    let has = |f: fn(&u8) -> bool| b.iter().any(f);
    let mixed = has(u8::is_ascii_uppercase) && has(u8::is_ascii_lowercase) && has(u8::is_ascii_digit);
    (alphabet && mixed).then_some(SecretShape::Token)
}

/// [`secret_shape`] of a path, as the text it was written with.
pub(crate) fn path_secret_shape(path: &Path) -> Option<SecretShape> {
    secret_shape(&path.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_tokens_are_recognised_and_paths_and_names_are_not() {
        let key = "8348a1f0".repeat(8);
        for (s, shape) in [
            (key.as_str(), SecretShape::Key),
            (&key.to_uppercase(), SecretShape::Key),
            (&format!(" {key}\n"), SecretShape::Key),
            (&format!("0x{}", &key[..32]), SecretShape::Key),
            ("dGhpcyBpcyBhIHNlY3JldCB0b2tlbg==", SecretShape::Token),
            ("aB3dE5gH7jK9mN1pQ3sT5vX7", SecretShape::Token),
            ("s3cret-Token_9xQ2wE4rT6y", SecretShape::Token),
        ] {
            assert_eq!(secret_shape(s), Some(shape), "{s}");
        }
        for s in [
            "/etc/privlog/privlog.key",
            "/var/lib/Keys2026/Ring42Holder",
            "./Keys2026/RingHolder42ab",
            "privlog.key",
            "keys",
            "X-ClickHouse-Key",
            "Authorization",
            "x-custom-header-name-long",
            "PRIVLOG_MASTER_KEY_2026_NOV",
            &key[..31],
            "",
        ] {
            assert_eq!(secret_shape(s), None, "{s}");
        }
        assert_eq!(path_secret_shape(Path::new(&key)), Some(SecretShape::Key));
    }
}
