use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{Epoch, MasterKey};

/// What a pseudonym is for. Each purpose has its own derived key, so the same
/// text pseudonymized as an account and as a tenant gives unlinkable values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Purpose {
    /// Account IDs (Atlassian `accountId`, the JWT `sub`).
    Account,
    /// Customer sites (Atlassian Connect `clientKey`, the JWT `iss`).
    Tenant,
    /// Client IP addresses under [`IpPolicy::Pseudonymize`](crate::IpPolicy::Pseudonymize).
    Ip,
}

impl Purpose {
    fn context(self) -> &'static str {
        match self {
            Purpose::Account => "privlog 2026-11 pseudonym v1 account",
            Purpose::Tenant => "privlog 2026-11 pseudonym v1 tenant",
            Purpose::Ip => "privlog 2026-11 pseudonym v1 ip",
        }
    }

    fn ratchet_context(self) -> &'static str {
        match self {
            Purpose::Account => "privlog 2026-12 ratchet epoch key v1 account",
            Purpose::Tenant => "privlog 2026-12 ratchet epoch key v1 tenant",
            Purpose::Ip => "privlog 2026-12 ratchet epoch key v1 ip",
        }
    }

    fn daily_context(self) -> &'static str {
        match self {
            Purpose::Account => "privlog 2026-12 daily ip key v1 unused account",
            Purpose::Tenant => "privlog 2026-12 daily ip key v1 unused tenant",
            Purpose::Ip => "privlog 2026-12 daily ip key v1 ip",
        }
    }
}

/// A keyed, per-purpose, per-epoch pseudonym: 128 bits of keyed BLAKE3 written
/// as 22 URL-safe base64 characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pseudonym(String);

impl Pseudonym {
    /// The pseudonym text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The pseudonym text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pseudonym({})", self.0)
    }
}

/// Derives pseudonyms from a [`MasterKey`].
///
/// `pseudonym(purpose, epoch, input)` is
/// `BLAKE3-keyed(K(purpose, epoch), input)` truncated to 128 bits, where
/// `K(purpose, epoch) = BLAKE3-keyed(derive_key(purpose, master), epoch)`.
/// Without the master key a dictionary of inputs matches nothing; the same
/// input in another epoch or purpose is unlinkable.
///
/// ```
/// use privlog::{MasterKey, Pseudonymizer, Purpose, Rotation};
/// let p = Pseudonymizer::new(&MasterKey::from_bytes([7; 32]));
/// let nov = Rotation::Monthly.epoch_of(time::macros::datetime!(2026-11-22 0:00 UTC));
/// let a = p.pseudonym(Purpose::Account, &nov, "557058:f00d");
/// assert_eq!(a, p.pseudonym(Purpose::Account, &nov, "557058:f00d"));
/// assert_ne!(a, p.pseudonym(Purpose::Tenant, &nov, "557058:f00d"));
/// assert_eq!(a.as_str().len(), 22);
/// ```
#[derive(Clone)]
pub struct Pseudonymizer {
    purpose_keys: [[u8; 32]; 3],
}

impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pseudonymizer { keys: <redacted> }")
    }
}

impl Drop for Pseudonymizer {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.purpose_keys);
    }
}

fn index(p: Purpose) -> usize {
    match p {
        Purpose::Account => 0,
        Purpose::Tenant => 1,
        Purpose::Ip => 2,
    }
}

impl Pseudonymizer {
    /// Derives the per-purpose keys from `key`.
    pub fn new(key: &MasterKey) -> Self {
        let mut purpose_keys = [[0u8; 32]; 3];
        for p in [Purpose::Account, Purpose::Tenant, Purpose::Ip] {
            purpose_keys[index(p)] = blake3::derive_key(p.context(), key.bytes());
        }
        Pseudonymizer { purpose_keys }
    }

    /// The keys of one epoch, for hashing many inputs of that epoch.
    pub fn epoch_keys(&self, epoch: &Epoch) -> EpochKeys {
        let mut keys = [[0u8; 32]; 3];
        for (i, k) in self.purpose_keys.iter().enumerate() {
            keys[i] = *blake3::keyed_hash(k, epoch.as_str().as_bytes()).as_bytes();
        }
        EpochKeys { keys }
    }

    /// The pseudonym of `input` for `purpose` in `epoch`.
    pub fn pseudonym(&self, purpose: Purpose, epoch: &Epoch, input: &str) -> Pseudonym {
        self.epoch_keys(epoch).pseudonym(purpose, input)
    }
}

/// The derived keys of one epoch (see [`Pseudonymizer::epoch_keys`]).
#[derive(Clone)]
pub struct EpochKeys {
    keys: [[u8; 32]; 3],
}

impl fmt::Debug for EpochKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EpochKeys { keys: <redacted> }")
    }
}

impl Drop for EpochKeys {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.keys);
    }
}

impl EpochKeys {
    /// The keys of the epoch whose ratchet state is `state`
    /// ([`RatchetKey`](super::RatchetKey)): one key per purpose, each
    /// derived one-way from the state under its own context.
    pub(crate) fn from_ratchet_state(state: &[u8; 32]) -> EpochKeys {
        let mut keys = [[0u8; 32]; 3];
        for p in [Purpose::Account, Purpose::Tenant, Purpose::Ip] {
            keys[index(p)] = blake3::derive_key(p.ratchet_context(), state);
        }
        EpochKeys { keys }
    }

    /// Keys whose client-address key is `ip_key` (the process's key of the
    /// day); the account and tenant keys are derived from it too, under
    /// their own contexts, and never used.
    pub(crate) fn from_daily_ip_key(ip_key: &[u8; 32]) -> EpochKeys {
        let mut keys = [[0u8; 32]; 3];
        for p in [Purpose::Account, Purpose::Tenant, Purpose::Ip] {
            keys[index(p)] = blake3::derive_key(p.daily_context(), ip_key);
        }
        EpochKeys { keys }
    }

    /// Whether `self` and `other` are the same keys (tests only: the keys
    /// are never shown).
    #[cfg(test)]
    pub(crate) fn same_as(&self, other: &EpochKeys) -> bool {
        self.keys == other.keys
    }

    /// The pseudonym of `input` for `purpose` in this epoch.
    pub fn pseudonym(&self, purpose: Purpose, input: &str) -> Pseudonym {
        let hash = blake3::keyed_hash(&self.keys[index(purpose)], input.as_bytes());
        Pseudonym(URL_SAFE_NO_PAD.encode(&hash.as_bytes()[..16]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rotation;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn epochs() -> (Epoch, Epoch) {
        (
            Rotation::Monthly.epoch_of(datetime!(2026-11-01 0:00 UTC)),
            Rotation::Monthly.epoch_of(datetime!(2026-12-01 0:00 UTC)),
        )
    }

    proptest! {
        #[test]
        fn stable_within_epoch_and_purpose_unlinkable_across(input in "\\PC{1,64}", other in "\\PC{1,64}") {
            let p = Pseudonymizer::new(&MasterKey::from_bytes([9; 32]));
            let (nov, dec) = epochs();
            let a = p.pseudonym(Purpose::Account, &nov, &input);
            prop_assert_eq!(&a, &p.pseudonym(Purpose::Account, &nov, &input));
            prop_assert_ne!(&a, &p.pseudonym(Purpose::Account, &dec, &input));
            prop_assert_ne!(&a, &p.pseudonym(Purpose::Tenant, &nov, &input));
            prop_assert_ne!(&a, &p.pseudonym(Purpose::Ip, &nov, &input));
            if input != other {
                prop_assert_ne!(&a, &p.pseudonym(Purpose::Account, &nov, &other));
            }
            // another key gives another pseudonym: a dictionary without the key matches nothing
            let q = Pseudonymizer::new(&MasterKey::from_bytes([10; 32]));
            prop_assert_ne!(&a, &q.pseudonym(Purpose::Account, &nov, &input));
            prop_assert!(!a.as_str().contains(input.as_str()) || input.len() < 3);
            prop_assert_eq!(a.as_str().len(), 22);
        }
    }

    #[test]
    fn pseudonym_has_128_bits() {
        let p = Pseudonymizer::new(&MasterKey::from_bytes([1; 32]));
        let e = epochs().0;
        let s = p.pseudonym(Purpose::Account, &e, "x");
        let raw = URL_SAFE_NO_PAD.decode(s.as_str()).expect("base64");
        assert_eq!(raw.len(), 16);
    }
}
