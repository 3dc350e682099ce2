//! The suppression list: accounts (erased, or objecting to processing)
//! whose records are written without an account.
//!
//! The list never holds an account ID, nor a record pseudonym (those change
//! per epoch and appear in records). Each entry is the key ID and a keyed
//! BLAKE3 hash of the raw account ID under a key derived from the master
//! key for this purpose only:
//!
//! ```text
//! # privlog suppression list v1
//! k_5d1f0a9c Yx0c4bT2…(43 characters)
//! ```
//!
//! Without the master key an entry matches nothing; with another key it is
//! not read (a list can hold entries for several keys).

use std::collections::HashSet;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::MasterKey;

/// The first line of a suppression file.
pub const SUPPRESSION_HEADER: &str = "# privlog suppression list v1";

/// The derivation context of the suppression key (never used for pseudonyms).
const CONTEXT: &str = "privlog 2026-12 suppression v1 account";

/// A keyed hash of one raw account ID, as the suppression list holds it.
pub type SuppressionMark = [u8; 32];

/// The key that turns account IDs into suppression-list entries.
#[derive(Clone)]
pub struct SuppressionKey {
    key: [u8; 32],
    kid: String,
}

impl fmt::Debug for SuppressionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SuppressionKey {{ kid: {}, key: <redacted> }}", self.kid)
    }
}

impl Drop for SuppressionKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

impl SuppressionKey {
    /// The suppression key of `master`.
    pub fn new(master: &MasterKey) -> Self {
        SuppressionKey {
            key: blake3::derive_key(CONTEXT, master.bytes()),
            kid: master.id().as_str().to_owned(),
        }
    }

    /// The master key's ID, which every entry made with this key starts with.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The mark of the raw account ID `account`.
    pub fn mark(&self, account: &str) -> SuppressionMark {
        *blake3::keyed_hash(&self.key, account.as_bytes()).as_bytes()
    }

    /// The list entry of `account` (one line, without its newline).
    pub fn entry(&self, account: &str) -> String {
        format!("{} {}", self.kid, URL_SAFE_NO_PAD.encode(self.mark(account)))
    }
}

/// The marks of one key in a suppression list's text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SuppressionList {
    /// The marks of entries made with the key asked for.
    pub marks: HashSet<SuppressionMark>,
    /// Lines that are neither an entry, a comment nor blank.
    pub bad_lines: usize,
}

impl SuppressionList {
    /// Reads the entries of key `kid` in `text`; entries of other keys are
    /// skipped, lines that are not entries counted.
    pub fn parse(text: &str, kid: &str) -> Self {
        let mut list = SuppressionList::default();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_ascii_whitespace();
            let mark = match (parts.next(), parts.next(), parts.next()) {
                (Some(k), Some(m), None) => decode_mark(m).map(|m| (k, m)),
                _ => None,
            };
            match mark {
                Some((k, m)) if k == kid => {
                    list.marks.insert(m);
                }
                Some(_) => {}
                None => list.bad_lines += 1,
            }
        }
        list
    }

    /// Whether `mark` is on the list.
    pub fn contains(&self, mark: &SuppressionMark) -> bool {
        self.marks.contains(mark)
    }
}

fn decode_mark(text: &str) -> Option<SuppressionMark> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Epoch, Pseudonymizer, Purpose};

    #[test]
    fn an_entry_is_found_with_its_key_only_and_holds_neither_the_id_nor_a_pseudonym() {
        let master = MasterKey::from_bytes([9; 32]);
        let key = SuppressionKey::new(&master);
        let id = "557058:0c7b7d4e-6a4b-4c6b-9b7e-1f2e3d4c5b6a";
        let entry = key.entry(id);
        assert!(!entry.contains(id) && !entry.contains("0c7b7d4e"));
        let p = Pseudonymizer::new(&master);
        for label in ["static", "2026-11", "2026-12", "2026-11-22"] {
            let epoch = Epoch::from_label(label).expect("an epoch label");
            assert!(!entry.contains(p.pseudonym(Purpose::Account, &epoch, id).as_str()));
        }
        let text = format!("{SUPPRESSION_HEADER}\n{entry}\nnot an entry\n");
        let list = SuppressionList::parse(&text, key.kid());
        assert!(list.contains(&key.mark(id)));
        assert!(!list.contains(&key.mark("557058:other")));
        assert_eq!(list.bad_lines, 1);
        let other = SuppressionKey::new(&MasterKey::from_bytes([8; 32]));
        assert!(SuppressionList::parse(&text, other.kid()).marks.is_empty());
        assert_ne!(other.mark(id), key.mark(id));
    }
}
