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

static TODAY: Mutex<Option<DayKey>> = Mutex::new(None);

/// The keys for client pseudonyms of UTC day `day` (days since 1970-01-01);
/// `None` when that day's key is gone (an earlier day than the newest one
/// asked for) or the operating system gave no randomness: the client is then
/// left out of the record rather than written under another day's key.
pub(crate) fn daily_ip_keys(day: i64) -> Option<EpochKeys> {
    // A panic elsewhere while the lock was held leaves a valid value.
    let mut today = TODAY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Purpose;

    // One test only: the key is process-wide, and tests run in parallel.
    #[test]
    fn one_key_per_day_and_earlier_days_are_gone() {
        let day = 1_000_000;
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
