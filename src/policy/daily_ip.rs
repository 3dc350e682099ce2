//! The process's client-address key of the day, for
//! [`IpPolicy::PseudonymizeDaily`](super::IpPolicy::PseudonymizeDaily).
//!
//! One 256-bit key per UTC day, drawn from the operating system's generator
//! the first time a day is asked for, held in memory only and shared by
//! every pipeline of the process. When a later day is asked for, the old
//! key is zeroized and replaced: nobody, this process included, can compute
//! an earlier day's client pseudonyms again.

use std::sync::Mutex;

use zeroize::Zeroize;

use super::EpochKeys;

/// The day (days since 1970-01-01, UTC) and its key.
struct DayKey {
    day: i64,
    key: [u8; 32],
}

impl Drop for DayKey {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

/// One key of the day at a time (the process holds one, [`PROCESS`]).
struct DailyKeys {
    today: Mutex<Option<DayKey>>,
}

/// The process's keys of the day, shared by every pipeline.
static PROCESS: DailyKeys = DailyKeys::new();

/// The keys for client pseudonyms of UTC day `day` (days since 1970-01-01),
/// from the process's key of the day; see [`DailyKeys::keys`].
pub(crate) fn daily_ip_keys(day: i64) -> Option<EpochKeys> {
    PROCESS.keys(day)
}

impl DailyKeys {
    const fn new() -> Self {
        DailyKeys {
            today: Mutex::new(None),
        }
    }

    /// The keys for client pseudonyms of UTC day `day` (days since 1970-01-01);
    /// `None` when that day's key is gone (an earlier day than the newest one
    /// asked for) or the operating system gave no randomness: the client is then
    /// left out of the record rather than written under another day's key.
    fn keys(&self, day: i64) -> Option<EpochKeys> {
        // A panic elsewhere while the lock was held leaves a valid value.
        let mut today = self.today.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match today.as_ref() {
            Some(k) if k.day == day => return Some(EpochKeys::from_daily_ip_key(&k.key)),
            Some(k) if k.day > day => return None,
            _ => {}
        }
        let mut key = [0u8; 32];
        if getrandom::fill(&mut key).is_err() {
            return None;
        }
        // The old day's key is zeroized as it is dropped.
        let new = today.insert(DayKey { day, key });
        key.zeroize();
        Some(EpochKeys::from_daily_ip_key(&new.key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Purpose;

    #[test]
    fn one_key_per_day_and_earlier_days_are_gone() {
        let keys = DailyKeys::new();
        let daily_ip_keys = |day| keys.keys(day);
        let day = 20_000;
        let a = daily_ip_keys(day).expect("key");
        let b = daily_ip_keys(day).expect("key");
        assert_eq!(
            a.pseudonym(Purpose::Ip, "203.0.113.7"),
            b.pseudonym(Purpose::Ip, "203.0.113.7")
        );
        let next = daily_ip_keys(day + 1).expect("key");
        assert_ne!(
            a.pseudonym(Purpose::Ip, "203.0.113.7"),
            next.pseudonym(Purpose::Ip, "203.0.113.7")
        );
        assert!(daily_ip_keys(day).is_none(), "yesterday's key was destroyed");
    }
}
