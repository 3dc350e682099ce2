use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;

use crate::Purpose;
use crate::policy::{EpochKeysError, KeyRing};

/// Finds the records of given accounts in pseudonymous record files.
///
/// A record holds only the account's pseudonym for the record's key (`kid`)
/// and epoch. The matcher derives, once per (key, epoch) pair it meets, the
/// pseudonym of every account it looks for, so a line costs one small JSON
/// parse and one hash-map look-up.
///
/// ```
/// use privlog::{MasterKey, Record, policy::KeyRing, subject::{LineMatch, SubjectMatcher}};
/// use privlog::{Pseudonymizer, Purpose, Rotation};
///
/// let key = MasterKey::from_bytes([7; 32]);
/// let ts = time::macros::datetime!(2026-11-22 9:30 UTC);
/// let epoch = Rotation::Monthly.epoch_of(ts);
/// let mut record = Record::new(ts, "GET", "/");
/// record.account = Some(Pseudonymizer::new(&key).pseudonym(Purpose::Account, &epoch, "557058:jane").into_string());
/// record.epoch = epoch.as_str().to_owned();
/// record.kid = key.id().as_str().to_owned();
///
/// let mut matcher = SubjectMatcher::new(KeyRing::from(key), ["557058:jane".to_owned()]);
/// assert_eq!(matcher.match_line(record.to_ndjson().as_bytes()), LineMatch::Subject(0));
/// ```
#[derive(Debug)]
pub struct SubjectMatcher {
    ring: KeyRing,
    accounts: Vec<String>,
    cache: HashMap<(String, String), Option<HashMap<String, usize>>>,
    /// Records whose epoch's key state was destroyed, by key and epoch.
    unsearchable: std::collections::BTreeMap<(String, String), u64>,
}

/// What one line of a record file is to a [`SubjectMatcher`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LineMatch {
    /// A record of the account at this index of the matcher's account list.
    Subject(usize),
    /// A record of someone else, or of no account.
    Other,
    /// A record with an account pseudonym made by a key that is not in the
    /// ring: whose it is cannot be known until that key is added.
    UnknownKey(String),
    /// Not a record (a blank, torn or damaged line).
    NotARecord,
}

#[derive(Deserialize)]
struct Keys<'a> {
    #[serde(borrow, default)]
    account: Option<Cow<'a, str>>,
    #[serde(borrow)]
    epoch: Cow<'a, str>,
    #[serde(borrow)]
    kid: Cow<'a, str>,
}

impl SubjectMatcher {
    /// A matcher for `accounts` (raw account IDs, e.g. Atlassian `accountId`s)
    /// using every key of `ring`.
    pub fn new(ring: KeyRing, accounts: impl IntoIterator<Item = String>) -> Self {
        SubjectMatcher {
            ring,
            accounts: accounts.into_iter().collect(),
            cache: HashMap::new(),
            unsearchable: std::collections::BTreeMap::new(),
        }
    }

    /// The accounts looked for, in the order given.
    pub fn accounts(&self) -> &[String] {
        &self.accounts
    }

    /// Classifies one NDJSON line (with or without its trailing newline).
    pub fn match_line(&mut self, line: &[u8]) -> LineMatch {
        let trimmed = line.trim_ascii();
        if trimmed.first() != Some(&b'{') {
            return LineMatch::NotARecord;
        }
        let Ok(keys) = serde_json::from_slice::<Keys<'_>>(trimmed) else {
            return LineMatch::NotARecord;
        };
        let Some(account) = keys.account else {
            return LineMatch::Other;
        };
        self.match_pseudonym(&keys.kid, &keys.epoch, &account)
    }

    /// Classifies a record's `account` pseudonym made by key `kid` in `epoch`.
    pub fn match_pseudonym(&mut self, kid: &str, epoch: &str, account: &str) -> LineMatch {
        if self.epoch_destroyed(kid, epoch) {
            *self.unsearchable.entry((kid.to_owned(), epoch.to_owned())).or_default() += 1;
            // Nobody can tell whose it is any more: it is counted as another's.
            return LineMatch::Other;
        }
        let found = self.table(kid, epoch).map(|t| t.get(account).copied());
        match found {
            Some(Some(i)) => LineMatch::Subject(i),
            Some(None) => LineMatch::Other,
            None if matches!(self.ring.epoch_keys(kid, epoch), Err(EpochKeysError::UnknownKey)) => {
                LineMatch::UnknownKey(kid.to_owned())
            }
            // A known key but an epoch label no rotation writes: not a record.
            None => LineMatch::NotARecord,
        }
    }

    /// The records seen so far that can no longer be searched, by key
    /// fingerprint and epoch: their key is a ratchet key whose state for
    /// that epoch was destroyed (`privlog keys advance`), so nobody can
    /// compute that epoch's pseudonyms again.
    pub fn unsearchable_epochs(&self) -> &std::collections::BTreeMap<(String, String), u64> {
        &self.unsearchable
    }

    /// Whether `kid` is a ratchet key of the ring that no longer holds `epoch`.
    fn epoch_destroyed(&mut self, kid: &str, epoch: &str) -> bool {
        // A table was built: the epoch is available (or not an epoch at all).
        if self
            .cache
            .get(&(kid.to_owned(), epoch.to_owned()))
            .is_some_and(Option::is_some)
        {
            return false;
        }
        matches!(self.ring.epoch_keys(kid, epoch), Err(EpochKeysError::Destroyed { .. }))
    }

    fn table(&mut self, kid: &str, epoch: &str) -> Option<&HashMap<String, usize>> {
        let slot = (kid.to_owned(), epoch.to_owned());
        if !self.cache.contains_key(&slot) {
            let built = match self.ring.epoch_keys(kid, epoch) {
                Ok(keys) => {
                    let mut t = HashMap::with_capacity(self.accounts.len());
                    for (i, a) in self.accounts.iter().enumerate() {
                        t.entry(keys.pseudonym(Purpose::Account, a).into_string()).or_insert(i);
                    }
                    Some(t)
                }
                Err(_) => None,
            };
            self.cache.insert(slot.clone(), built);
        }
        self.cache.get(&slot).and_then(Option::as_ref)
    }
}
