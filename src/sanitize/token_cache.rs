//! What the worker remembers of the Connect tokens it has read: whether each
//! could be read and the pseudonyms of its claims, by the token's bytes.

use super::Ids;
use super::reuse::set_opt;
use super::slot_cache::SlotCache;
use crate::policy::jwt::payload_claims_with;
use crate::policy::{Purpose, SuppressionMark};

/// What the worker remembers of one token: whether it could be read and the
/// pseudonyms of its `sub` and `iss` claims in the current epoch (the claims
/// themselves are not kept). A token seen again costs one cache lookup.
#[derive(Default)]
pub(super) struct Token {
    /// Whether the token is a readable JWT.
    pub(super) readable: bool,
    pub(super) account: TokenId,
    pub(super) tenant: TokenId,
}

/// One ID claim of a remembered token.
#[derive(Default)]
pub(super) struct TokenId {
    /// Whether the token has the claim: it is then the ID, even when too
    /// long to be one.
    pub(super) present: bool,
    /// The claim's pseudonym; `None` when the claim is longer than an ID.
    pub(super) pseudonym: Option<String>,
    /// The suppression-list mark of the account claim, when a list is
    /// configured (the claim itself is not kept).
    pub(super) mark: Option<SuppressionMark>,
}

impl TokenId {
    /// Remembers `claim` as the pseudonym `ids` gives it.
    #[inline]
    fn set(&mut self, claim: Option<&str>, ids: &mut Ids<'_>, purpose: Purpose) {
        self.present = claim.is_some();
        self.mark = match (purpose, ids.suppress, claim) {
            (Purpose::Account, Some(key), Some(c)) => Some(key.mark(c)),
            _ => None,
        };
        set_opt(&mut self.pseudonym, claim.and_then(|c| ids.pseudonym(purpose, c)));
    }
}

/// The remembered reading of a token, by `key`: the token's signed part
/// (`header.payload`) or its payload segment, from which `payload` takes the
/// payload on a first reading. `None` when the token is not readable.
#[inline]
pub(super) fn token<'c>(
    tokens: &'c mut SlotCache<[u8], Token>,
    key: &[u8],
    payload: impl FnOnce(&[u8]) -> Option<&[u8]>,
    ids: &mut Ids<'_>,
) -> Option<&'c Token> {
    let t = tokens.get_or_fill(key, |t| {
        let (account, tenant) = (&mut t.account, &mut t.tenant);
        t.readable = payload(key)
            .and_then(|p| {
                payload_claims_with(p, |sub, iss| {
                    account.set(sub, ids, Purpose::Account);
                    tenant.set(iss, ids, Purpose::Tenant);
                })
            })
            .is_some();
    })?;
    t.readable.then_some(t)
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::super::slot_cache::Slot;
    use super::super::{ACCOUNT_SLOTS, MAX_ID_LEN, TENANT_SLOTS, TOKEN_SLOTS};
    use super::*;
    use crate::policy::jwt::payload_segment;
    use crate::policy::{EpochKeys, MasterKey, Pseudonymizer};

    fn token(sub: &str) -> String {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!(
            "{}.{}.c2lnbmF0dXJlLXNhbWUtZm9yLWV2ZXJ5LXRva2VuLWluLXRoaXMtdGVzdA",
            b64(r#"{"alg":"HS256"}"#),
            b64(&format!(r#"{{"sub":"{sub}","iss":"jira:1"}}"#))
        )
    }

    fn payload(token: &str) -> &[u8] {
        payload_segment(token.as_bytes()).unwrap_or_default()
    }

    /// A worker's token cache with the keys and pseudonym caches of one epoch.
    struct Cache {
        tokens: SlotCache<[u8], Token>,
        keys: EpochKeys,
        accounts: SlotCache<[u8], String>,
        tenants: SlotCache<[u8], String>,
    }

    impl Cache {
        fn new() -> Self {
            let pseudo = Pseudonymizer::new(&MasterKey::from_bytes([7; 32]));
            Cache {
                tokens: SlotCache::new(TOKEN_SLOTS),
                keys: pseudo.epoch_keys(&crate::Rotation::None.epoch_of(OffsetDateTime::UNIX_EPOCH)),
                accounts: SlotCache::new(ACCOUNT_SLOTS),
                tenants: SlotCache::new(TENANT_SLOTS),
            }
        }

        /// The (account, tenant) pseudonyms the cache gives the token with
        /// this payload; `None` when it is not readable.
        fn read(&mut self, payload: &[u8]) -> Option<(Option<String>, Option<String>)> {
            let mut ids = Ids {
                keys: &self.keys,
                suppress: None,
                accounts: &mut self.accounts,
                tenants: &mut self.tenants,
            };
            super::token(&mut self.tokens, payload, |p: &[u8]| Some(p), &mut ids)
                .map(|t| (t.account.pseudonym.clone(), t.tenant.pseudonym.clone()))
        }

        /// The account pseudonym the cache gives `token`.
        fn sub(&mut self, token: &str) -> Option<String> {
            self.read(payload(token)).and_then(|(a, _)| a)
        }

        /// The pseudonym `sub` must have.
        fn expected(&self, purpose: Purpose, id: &str) -> Option<String> {
            Some(self.keys.pseudonym(purpose, id).as_str().to_owned())
        }
    }

    #[test]
    fn a_remembered_token_reads_as_the_first_time() {
        let mut c = Cache::new();
        let t = token("557058:a");
        let first = c.read(payload(&t));
        assert_eq!(
            first,
            Some((
                c.expected(Purpose::Account, "557058:a"),
                c.expected(Purpose::Tenant, "jira:1")
            ))
        );
        assert_eq!(c.read(payload(&t)), first);
    }

    #[test]
    fn tokens_of_the_same_length_are_not_confused() {
        let mut c = Cache::new();
        let (a, b) = (token("557058:a"), token("557058:b"));
        let (pa, pb) = (
            c.expected(Purpose::Account, "557058:a"),
            c.expected(Purpose::Account, "557058:b"),
        );
        assert_eq!(c.sub(&a), pa);
        assert_eq!(c.sub(&b), pb);
        assert_eq!(c.sub(&a), pa);
    }

    #[test]
    fn an_unreadable_token_is_remembered_as_unreadable() {
        let mut c = Cache::new();
        assert!(c.read(b"not").is_none());
        assert!(c.read(b"not").is_none());
    }

    #[test]
    fn a_claim_too_long_for_an_id_has_no_pseudonym() {
        let mut c = Cache::new();
        let long = format!("557058:{}", "a".repeat(MAX_ID_LEN));
        let t = token(&long);
        let read = c.read(payload(&t));
        assert_eq!(read, Some((None, c.expected(Purpose::Tenant, "jira:1"))));
        let t = c.tokens.get_or_fill(payload(&t), |_| {}).map(|t| t.account.present);
        assert_eq!(t, Some(true), "the claim is there, so no other source is used");
    }

    #[test]
    fn the_cache_stays_bounded() {
        let mut c = Cache::new();
        for i in 0..TOKEN_SLOTS * 3 {
            let id = format!("557058:{i}");
            assert_eq!(c.sub(&token(&id)), c.expected(Purpose::Account, &id));
        }
        assert_eq!(c.tokens.slots.len(), TOKEN_SLOTS);
    }

    #[test]
    fn colliding_tokens_are_read_each_time_and_never_mixed_up() {
        // A cache whose every token lands in one slot (as crafted collisions would).
        let mut c = Cache::new();
        c.tokens.slots.resize_with(1, Slot::default);
        let (a, b) = (token("557058:a"), token("557058:b"));
        let (pa, pb) = (
            c.expected(Purpose::Account, "557058:a"),
            c.expected(Purpose::Account, "557058:b"),
        );
        for _ in 0..3 {
            assert_eq!(c.sub(&a), pa);
            assert_eq!(c.sub(&b), pb);
        }
    }
}
