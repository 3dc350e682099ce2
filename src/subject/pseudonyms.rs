use crate::policy::KeyRing;
use crate::{Epoch, Pseudonymizer, Purpose};

/// The pseudonyms `accounts` have in records made with key `kid` in
/// `epoch`, in the order of `accounts`: what a store other than record files
/// (ClickHouse, Elasticsearch, Loki) is searched for, and exactly what a
/// [`SubjectMatcher`](super::SubjectMatcher) matches in record files.
///
/// `None` when the ring holds no key `kid` (such records cannot be
/// attributed until that key is added) or when `epoch` is no label a
/// rotation writes.
///
/// ```
/// use privlog::{MasterKey, Pseudonymizer, Purpose, Rotation, policy::KeyRing};
///
/// let key = MasterKey::from_bytes([7; 32]);
/// let kid = key.id().as_str().to_owned();
/// let epoch = Rotation::Monthly.epoch_of(time::macros::datetime!(2026-11-22 9:30 UTC));
/// let expected = Pseudonymizer::new(&key).pseudonym(Purpose::Account, &epoch, "557058:jane").into_string();
/// let ring = KeyRing::from(key);
/// let found = privlog::subject::account_pseudonyms(&ring, &kid, epoch.as_str(), &["557058:jane".to_owned()]);
/// assert_eq!(found, Some(vec![expected]));
/// ```
pub fn account_pseudonyms(ring: &KeyRing, kid: &str, epoch: &str, accounts: &[String]) -> Option<Vec<String>> {
    let key = ring.get(kid)?;
    let epoch = Epoch::from_label(epoch)?;
    let keys = Pseudonymizer::new(key).epoch_keys(&epoch);
    Some(
        accounts
            .iter()
            .map(|a| keys.pseudonym(Purpose::Account, a).into_string())
            .collect(),
    )
}
