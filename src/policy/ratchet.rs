use std::fmt;

use time::OffsetDateTime;
use zeroize::{Zeroize, Zeroizing};

use super::{Epoch, EpochKeys, KeyId, Rotation};

/// The context of one ratchet step: `S(e + 1) = derive_key(RATCHET, S(e))`.
const RATCHET: &str = "privlog ratchet v1";
/// The context of a ratchet key's fingerprint, taken from its first state.
const FINGERPRINT: &str = "privlog 2026-12 ratchet key fingerprint v1";
/// The first line of a ratchet key file.
pub(crate) const HEADER: &str = "privlog-ratchet-key v1";

/// A forward-secure pseudonym key: the secret state of its oldest epoch, from
/// which every later epoch's state is derived one-way.
///
/// `S(e + 1) = BLAKE3-derive_key("privlog ratchet v1", S(e))`, and the keys
/// of epoch `e` are derived from `S(e)` (one context per purpose). Holding
/// `S(e)` gives every epoch from `e` on and none before it: once
/// [`advance_to`](RatchetKey::advance_to) has moved the state past an epoch
/// and the old state is gone, nobody, the key holder included, can compute
/// that epoch's pseudonyms again. Moving forward never changes the keys of
/// the epochs that remain.
///
/// Its fingerprint ([`RatchetKey::id`], the records' `kid`) is taken from the
/// state it was created with and kept in its file, so it stays the same as
/// the state moves on.
///
/// ```
/// use privlog::{Rotation, policy::RatchetKey};
/// use time::macros::datetime;
/// let mut key = RatchetKey::generate(Rotation::Monthly, datetime!(2026-10-15 0:00 UTC))?;
/// let nov = Rotation::Monthly.epoch_of(datetime!(2026-11-01 0:00 UTC));
/// let before = key.epoch_keys(&nov)?.pseudonym(privlog::Purpose::Account, "557058:jane");
/// key.advance_to(&nov)?;
/// assert_eq!(key.oldest_epoch().as_str(), "2026-11");
/// assert_eq!(key.epoch_keys(&nov)?.pseudonym(privlog::Purpose::Account, "557058:jane"), before);
/// let oct = Rotation::Monthly.epoch_of(datetime!(2026-10-01 0:00 UTC));
/// assert!(key.epoch_keys(&oct).is_err()); // destroyed
/// # Ok::<(), privlog::policy::RatchetError>(())
/// ```
pub struct RatchetKey {
    rotation: Rotation,
    /// The number of the oldest epoch whose state is held.
    anchor: i64,
    state: [u8; 32],
    kid: KeyId,
}

impl RatchetKey {
    /// A new random ratchet key whose oldest epoch is `now`'s.
    ///
    /// # Errors
    /// [`RatchetError::Rotation`] for [`Rotation::None`] (one epoch has
    /// nothing to ratchet), [`RatchetError::Random`] when the operating
    /// system has no randomness to give.
    pub fn generate(rotation: Rotation, now: OffsetDateTime) -> Result<Self, RatchetError> {
        let anchor = rotation.epoch_index(now).ok_or(RatchetError::Rotation)?;
        let mut state = [0u8; 32];
        getrandom::fill(&mut state).map_err(|_| RatchetError::Random)?;
        Ok(Self::from_state(rotation, anchor, state))
    }

    /// A ratchet key from its first state (tests, or a state kept in a
    /// secret store); its fingerprint is taken from `state`.
    ///
    /// # Errors
    /// [`RatchetError::Rotation`] for [`Rotation::None`], or when
    /// `oldest` is not an epoch label of `rotation`.
    pub fn from_first_state(rotation: Rotation, oldest: &Epoch, state: [u8; 32]) -> Result<Self, RatchetError> {
        let anchor = rotation.index_of(oldest).ok_or(RatchetError::Rotation)?;
        Ok(Self::from_state(rotation, anchor, state))
    }

    fn from_state(rotation: Rotation, anchor: i64, state: [u8; 32]) -> Self {
        let mut digest = blake3::derive_key(FINGERPRINT, &state);
        let kid = KeyId::from_digest(&digest);
        digest.zeroize();
        RatchetKey {
            rotation,
            anchor,
            state,
            kid,
        }
    }

    /// The key's fingerprint, written in every record's `kid` field.
    pub fn id(&self) -> KeyId {
        self.kid.clone()
    }

    /// How often the key (and so the pseudonyms) changes.
    pub fn rotation(&self) -> Rotation {
        self.rotation
    }

    /// The oldest epoch whose pseudonyms this key can still compute; every
    /// later one can be computed too.
    pub fn oldest_epoch(&self) -> Epoch {
        self.label(self.anchor)
    }

    /// The number of the oldest epoch held.
    pub(crate) fn oldest_index(&self) -> i64 {
        self.anchor
    }

    fn label(&self, index: i64) -> Epoch {
        // The anchor is always an epoch of the rotation (it was set from one).
        self.rotation.epoch_at(index).unwrap_or_else(|| Epoch::numbered(index))
    }

    /// Moves the state forward to `epoch`, destroying (zeroizing) the states
    /// of every earlier epoch held; `Ok(false)` when `epoch` is not later than
    /// the oldest epoch held (the key never moves backwards).
    ///
    /// # Errors
    /// [`RatchetError::NotAnEpoch`] when `epoch` is not an epoch label of
    /// the key's rotation.
    pub fn advance_to(&mut self, epoch: &Epoch) -> Result<bool, RatchetError> {
        let target = self.rotation.index_of(epoch).ok_or_else(|| RatchetError::NotAnEpoch {
            epoch: epoch.as_str().to_owned(),
            rotation: self.rotation,
        })?;
        Ok(self.advance_to_index(target))
    }

    /// [`advance_to`](RatchetKey::advance_to) by epoch number.
    pub(crate) fn advance_to_index(&mut self, target: i64) -> bool {
        if target <= self.anchor {
            return false;
        }
        while self.anchor < target {
            step(&mut self.state);
            self.anchor += 1;
        }
        true
    }

    /// The keys of `epoch`, derived from the state held by ratcheting a copy
    /// forward (the held state does not move).
    ///
    /// # Errors
    /// [`RatchetError::Destroyed`] when `epoch` is older than the oldest
    /// epoch held, [`RatchetError::NotAnEpoch`] when it is not an epoch label
    /// of the key's rotation.
    pub fn epoch_keys(&self, epoch: &Epoch) -> Result<EpochKeys, RatchetError> {
        let index = self.rotation.index_of(epoch).ok_or_else(|| RatchetError::NotAnEpoch {
            epoch: epoch.as_str().to_owned(),
            rotation: self.rotation,
        })?;
        self.keys_at(index).ok_or_else(|| RatchetError::Destroyed {
            epoch: epoch.as_str().to_owned(),
            oldest: self.oldest_epoch().as_str().to_owned(),
        })
    }

    /// The keys of epoch number `index`; `None` when it is older than the
    /// oldest held.
    pub(crate) fn keys_at(&self, index: i64) -> Option<EpochKeys> {
        if index < self.anchor {
            return None;
        }
        let mut state = Zeroizing::new(self.state);
        for _ in self.anchor..index {
            step(&mut state);
        }
        Some(EpochKeys::from_ratchet_state(&state))
    }

    /// The keys of the oldest epoch held.
    pub(crate) fn oldest_keys(&self) -> EpochKeys {
        EpochKeys::from_ratchet_state(&self.state)
    }

    /// The key file's text (see [`RatchetKey::parse`]). Handle with care.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(160));
        s.push_str(HEADER);
        s.push_str("\nrotation ");
        s.push_str(self.rotation.as_str());
        s.push_str("\noldest ");
        s.push_str(self.oldest_epoch().as_str());
        s.push_str("\nkid ");
        s.push_str(self.kid.as_str());
        s.push_str("\nstate ");
        for b in &self.state {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        s.push('\n');
        s
    }

    /// A ratchet key from its file's text: the line `privlog-ratchet-key v1`,
    /// then `rotation daily|weekly|monthly`, `oldest EPOCH`, `kid k_…` and
    /// `state` with 64 hex digits, one per line.
    ///
    /// # Errors
    /// [`RatchetError::Format`] naming the line that is wrong (never the
    /// state's digits).
    pub fn parse(text: &str) -> Result<Self, RatchetError> {
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        let bad = |line: &'static str| RatchetError::Format { line };
        if lines.next() != Some(HEADER) {
            return Err(bad("the first line (privlog-ratchet-key v1)"));
        }
        let mut field = |name: &'static str| {
            lines
                .next()
                .and_then(|l| l.strip_prefix(name))
                .and_then(|v| v.strip_prefix(' '))
                .map(str::trim)
                .ok_or(RatchetError::Format { line: name })
        };
        let rotation: Rotation = field("rotation")?.parse().map_err(|_| bad("rotation"))?;
        if rotation == Rotation::None {
            return Err(RatchetError::Rotation);
        }
        let anchor = Epoch::from_label(field("oldest")?)
            .and_then(|e| rotation.index_of(&e))
            .ok_or(bad("oldest"))?;
        let kid = KeyId::parse(field("kid")?).ok_or(bad("kid"))?;
        let hex = field("state")?;
        let key = super::MasterKey::from_hex(hex).map_err(|_| bad("state"))?;
        let state = *key.bytes();
        if lines.next().is_some() {
            return Err(bad("after state (the file holds more than one key)"));
        }
        Ok(RatchetKey {
            rotation,
            anchor,
            state,
            kid,
        })
    }

    /// Whether key-file text is a ratchet key's (its first line is the header).
    pub(crate) fn is_ratchet_text(text: &str) -> bool {
        text.lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .is_some_and(|l| l.starts_with("privlog-ratchet-key"))
    }
}

/// One ratchet step in place: the old state is overwritten.
fn step(state: &mut [u8; 32]) {
    let mut next = blake3::derive_key(RATCHET, state);
    state.copy_from_slice(&next);
    next.zeroize();
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl Clone for RatchetKey {
    fn clone(&self) -> Self {
        RatchetKey {
            rotation: self.rotation,
            anchor: self.anchor,
            state: self.state,
            kid: self.kid.clone(),
        }
    }
}

impl Drop for RatchetKey {
    fn drop(&mut self) {
        self.state.zeroize();
    }
}

impl fmt::Debug for RatchetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RatchetKey")
            .field("id", &self.kid.as_str())
            .field("rotation", &self.rotation)
            .field("oldest", &self.oldest_epoch().as_str())
            .field("state", &"<redacted>")
            .finish()
    }
}

/// Why a ratchet key could not be made, read or used. Never holds key material.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RatchetError {
    /// A ratchet key needs a rotation that changes (daily, weekly, monthly).
    Rotation,
    /// The operating system gave no randomness.
    Random,
    /// A line of a ratchet key file is missing or wrong.
    Format {
        /// Which line.
        line: &'static str,
    },
    /// The label is not an epoch of the key's rotation.
    NotAnEpoch {
        /// The label.
        epoch: String,
        /// The key's rotation.
        rotation: Rotation,
    },
    /// The epoch's state was destroyed: its pseudonyms can no longer be computed.
    Destroyed {
        /// The epoch asked for.
        epoch: String,
        /// The oldest epoch the key still holds.
        oldest: String,
    },
}

impl fmt::Display for RatchetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RatchetError::Rotation => f.write_str(
                "a ratchet key needs a rotation that changes: choose daily, weekly or monthly (a static \
                 key is a plain master key, `privlog keygen` without --ratchet)",
            ),
            RatchetError::Random => f.write_str("the operating system gave no randomness for a new key; try again"),
            RatchetError::Format { line } => write!(
                f,
                "not a ratchet key file: {line} is missing or wrong (expected the lines privlog-ratchet-key v1, \
                 rotation, oldest, kid and state, as `privlog keygen --ratchet` writes them)"
            ),
            RatchetError::NotAnEpoch { epoch, rotation } => write!(
                f,
                "{epoch:?} is not an epoch of a {} ratchet key; use that rotation's labels",
                rotation.as_str()
            ),
            RatchetError::Destroyed { epoch, oldest } => write!(
                f,
                "epoch {epoch} can no longer be computed: the key's state for it was destroyed (the oldest \
                 epoch this key still holds is {oldest})"
            ),
        }
    }
}

impl std::error::Error for RatchetError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Purpose;
    use proptest::prelude::*;

    fn rotation(r: usize) -> Rotation {
        [Rotation::Daily, Rotation::Weekly, Rotation::Monthly][r]
    }

    proptest! {
        /// An epoch's keys are the same whatever older epoch the key was
        /// advanced from.
        #[test]
        fn same_epoch_same_keys_whatever_the_anchor(
            seed in any::<[u8; 32]>(), r in 0usize..3, start in 20_000i64..20_500, a in 0i64..40, b in 0i64..40, ahead in 0i64..40,
        ) {
            let rotation = rotation(r);
            let first = rotation.epoch_at(start).expect("epoch");
            let key = RatchetKey::from_first_state(rotation, &first, seed).expect("key");
            let target = start + a.max(b) + ahead;
            let direct = key.keys_at(target).expect("held");
            for from in [start + a, start + b] {
                let mut moved = key.clone();
                prop_assert!(moved.advance_to(&rotation.epoch_at(from).expect("epoch")).expect("valid") == (from > start));
                prop_assert!(moved.keys_at(target).expect("held").same_as(&direct));
                prop_assert_eq!(moved.id(), key.id());
                if from > start {
                    prop_assert!(moved.keys_at(from - 1).is_none());
                }
            }
        }

        /// Different epochs give unlinkable pseudonyms: distinct keys and
        /// distinct values for the same input.
        #[test]
        fn different_epochs_are_unlinkable(seed in any::<[u8; 32]>(), r in 0usize..3, gap in 1i64..60, input in "\\PC{1,40}") {
            let rotation = rotation(r);
            let first = rotation.epoch_at(20_000).expect("epoch");
            let key = RatchetKey::from_first_state(rotation, &first, seed).expect("key");
            let (x, y) = (key.keys_at(20_000).expect("held"), key.keys_at(20_000 + gap).expect("held"));
            prop_assert!(!x.same_as(&y));
            for p in [Purpose::Account, Purpose::Tenant, Purpose::Ip] {
                prop_assert_ne!(x.pseudonym(p, &input), y.pseudonym(p, &input));
            }
        }
    }

    #[test]
    fn the_file_text_round_trips_and_never_debug_prints_the_state() {
        let first = Rotation::Daily.epoch_at(20_000).expect("epoch");
        let mut key = RatchetKey::from_first_state(Rotation::Daily, &first, [7; 32]).expect("key");
        key.advance_to_index(20_010);
        let back = RatchetKey::parse(&key.to_text()).expect("parses");
        assert_eq!(back.id(), key.id());
        assert_eq!(back.oldest_epoch(), key.oldest_epoch());
        assert!(
            back.keys_at(20_010)
                .expect("held")
                .same_as(&key.keys_at(20_010).expect("held"))
        );
        assert!(!format!("{key:?}").contains("0707"));
        let e = RatchetKey::parse(&key.to_text().replace("state ", "state x")).expect_err("bad");
        assert!(e.to_string().contains("state"));
    }

    #[test]
    fn a_static_rotation_cannot_ratchet() {
        assert_eq!(
            RatchetKey::generate(Rotation::None, OffsetDateTime::UNIX_EPOCH).expect_err("refused"),
            RatchetError::Rotation
        );
    }
}
