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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::macros::datetime;

    use super::*;
    use crate::subject::{SubjectMatcher, export_file};
    use crate::{MasterKey, Record, Rotation};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// What a store is searched for (the pseudonyms per key and epoch)
        /// finds exactly the records `subject export` matches in a file.
        #[test]
        fn the_pseudonym_list_finds_exactly_what_export_matches(
            rows in proptest::collection::vec((0usize..2, 0i64..90, 0usize..5, any::<bool>()), 0..60),
            wanted in proptest::collection::btree_set(0usize..5, 1..4),
        ) {
            let keys = [MasterKey::from_bytes([31; 32]), MasterKey::from_bytes([32; 32])];
            let names = ["a", "557058:b", "c'", "d\\", "e"];
            let accounts: Vec<String> = wanted.iter().map(|i| names[*i].to_owned()).collect();
            let mut ring = KeyRing::from(keys[0].clone());
            ring.push(keys[1].clone());
            let mut lines = String::new();
            let mut records = Vec::new();
            for (k, day, who, daily) in &rows {
                let ts = datetime!(2026-09-01 0:00 UTC) + time::Duration::days(*day);
                let rotation = if *daily { Rotation::Daily } else { Rotation::Monthly };
                let epoch = rotation.epoch_of(ts);
                let mut r = Record::new(ts, "GET", "/x");
                r.account = Some(Pseudonymizer::new(&keys[*k]).pseudonym(Purpose::Account, &epoch, names[*who]).into_string());
                r.epoch = epoch.as_str().to_owned();
                r.kid = keys[*k].id().as_str().to_owned();
                lines.push_str(&r.to_ndjson());
                records.push(r);
            }
            let path = std::env::temp_dir().join(format!("privlog-pseudonyms-{}-{}.ndjson", std::process::id(), rows.len()));
            std::fs::write(&path, &lines).expect("write");
            let mut matcher = SubjectMatcher::new(ring.clone(), accounts.clone());
            let mut exported = Vec::new();
            export_file(&path, &mut matcher, |_, line| {
                exported.push(line.to_vec());
                Ok(())
            }).expect("export");
            let _ = std::fs::remove_file(&path);
            let searched: Vec<Vec<u8>> = records
                .iter()
                .filter(|r| {
                    let list = account_pseudonyms(&ring, &r.kid, &r.epoch, &accounts).expect("known key, valid epoch");
                    r.account.as_ref().is_some_and(|a| list.contains(a))
                })
                .map(|r| r.to_ndjson().into_bytes())
                .collect();
            prop_assert_eq!(exported, searched);
        }
    }

    #[test]
    fn no_list_for_a_key_missing_from_the_ring_or_an_epoch_no_rotation_writes() {
        let key = MasterKey::from_bytes([33; 32]);
        let kid = key.id().as_str().to_owned();
        let ring = KeyRing::from(key);
        let who = ["a".to_owned()];
        assert!(account_pseudonyms(&ring, "k_00000000", "2026-11", &who).is_none());
        assert!(account_pseudonyms(&ring, &kid, "2026-13-x", &who).is_none());
        assert_eq!(
            account_pseudonyms(&ring, &kid, "static", &who).map(|l| l.len()),
            Some(1)
        );
    }
}
