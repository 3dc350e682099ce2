use std::fmt;

use zeroize::Zeroize;

/// The 32-byte secret every pseudonym is derived from.
///
/// Keep it apart from the logs (a secret store, a `0600` file): whoever holds it
/// can link pseudonyms back to known account IDs, and nobody else can.
///
/// The key is never printed: `Debug` shows only its fingerprint, and the bytes
/// are zeroized when the key is dropped.
///
/// ```
/// let key = privlog::MasterKey::from_hex(
///     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
/// )?;
/// assert!(key.id().as_str().starts_with("k_"));
/// assert!(!format!("{key:?}").contains("0001020304"));
/// # Ok::<(), privlog::KeyError>(())
/// ```
pub struct MasterKey {
    bytes: [u8; 32],
}

impl MasterKey {
    /// Length of a key in bytes.
    pub const LEN: usize = 32;

    /// A key from its 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        MasterKey { bytes }
    }

    /// A key from 64 hexadecimal characters (surrounding whitespace is ignored).
    ///
    /// # Errors
    /// [`KeyError`] when the text is not exactly 64 hex digits. The error never
    /// contains the text itself.
    pub fn from_hex(hex: &str) -> Result<Self, KeyError> {
        let hex = hex.trim().as_bytes();
        if hex.len() != 64 {
            return Err(KeyError::Length(hex.len()));
        }
        let mut bytes = [0u8; 32];
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            let hi = hex_val(pair[0]).ok_or(KeyError::NotHex(i * 2))?;
            let lo = hex_val(pair[1]).ok_or(KeyError::NotHex(i * 2 + 1))?;
            bytes[i] = hi << 4 | lo;
        }
        Ok(MasterKey { bytes })
    }

    /// A fresh random key from the operating system's generator.
    ///
    /// # Errors
    /// [`KeyError::Random`] when the operating system has no randomness to give.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|_| KeyError::Random)?;
        Ok(MasterKey { bytes })
    }

    /// The key's public fingerprint (`k_` and 8 hex digits), written in every
    /// record's `kid` field so a record can be matched to the key that made it.
    pub fn id(&self) -> KeyId {
        let digest = blake3::derive_key("privlog 2026-11 key fingerprint v1", &self.bytes);
        KeyId::from_digest(&digest)
    }

    /// The key as 64 lowercase hex digits, for writing a key file. Handle with care.
    pub fn to_hex(&self) -> zeroize::Zeroizing<String> {
        let mut s = zeroize::Zeroizing::new(String::with_capacity(64));
        for b in &self.bytes {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        s
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl Clone for MasterKey {
    fn clone(&self) -> Self {
        MasterKey { bytes: self.bytes }
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id().0)
            .field("bytes", &"<redacted>")
            .finish()
    }
}

/// A key's public fingerprint, as written in the `kid` record field.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// The fingerprint written for a one-way digest of a key (its first 4 bytes).
    pub(crate) fn from_digest(digest: &[u8; 32]) -> KeyId {
        let mut s = String::with_capacity(10);
        s.push_str("k_");
        for b in &digest[..4] {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        KeyId(s)
    }

    /// A fingerprint read back from a key file: `k_` and 8 lowercase hex digits.
    pub(crate) fn parse(text: &str) -> Option<KeyId> {
        let hex = text.strip_prefix("k_")?;
        (hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .then(|| KeyId(text.to_owned()))
    }

    /// The fingerprint text (`k_` and 8 hex digits).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a key could not be loaded. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The hex text had this many characters instead of 64.
    Length(usize),
    /// The character at this position is not a hex digit.
    NotHex(usize),
    /// The operating system's random generator failed.
    Random,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Length(n) => write!(
                f,
                "key must be 64 hex characters (32 bytes), got {n} characters; generate one with `privlog keygen`"
            ),
            KeyError::NotHex(i) => write!(
                f,
                "key has a non-hex character at position {i}; a key is 64 characters of 0-9 and a-f"
            ),
            KeyError::Random => f.write_str("the operating system's random generator failed"),
        }
    }
}

impl std::error::Error for KeyError {}

#[cfg(test)]
mod tests {
    use super::*;

    const HEXKEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn hex_round_trips() {
        let k = MasterKey::from_hex(HEXKEY).expect("valid");
        assert_eq!(k.to_hex().as_str(), HEXKEY);
    }

    #[test]
    fn bad_hex_names_the_problem_but_not_the_key() {
        let e = MasterKey::from_hex("abc").expect_err("error");
        assert!(e.to_string().contains("got 3 characters"));
        let bad = HEXKEY.replace("0f", "0g");
        let e = MasterKey::from_hex(&bad).expect_err("error");
        assert!(e.to_string().contains("position 31"));
        assert!(!e.to_string().contains("0g"));
    }

    #[test]
    fn debug_shows_only_the_fingerprint() {
        let k = MasterKey::from_hex(HEXKEY).expect("valid");
        let dbg = format!("{k:?}");
        assert!(dbg.contains(k.id().as_str()));
        assert!(!dbg.contains("0001020304"));
        assert!(!dbg.contains("[0, 1, 2"));
    }

    #[test]
    fn different_keys_have_different_ids() {
        let a = MasterKey::from_bytes([1; 32]);
        let b = MasterKey::from_bytes([2; 32]);
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id(), a.clone().id());
    }
}
