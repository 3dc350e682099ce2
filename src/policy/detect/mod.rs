//! The detectors: one set of pure functions that recognise personal data and
//! secrets in a single value (a path segment, a query value, a word of a log
//! line), shared by the path policy, the query policy and the audit.
//!
//! Each `is_*` function looks at one whole, already decoded value (percent
//! escapes resolved by the caller) and allocates nothing. [`detect`] runs
//! them in a fixed precedence and names what it found with a [`Kind`],
//! whose [`placeholder`](Kind::placeholder) is what a path or query shows
//! instead of the value.
//!
//! ```
//! use privlog::policy::detect::{Kind, detect};
//! assert_eq!(detect("4111-1111-1111-1111"), Some(Kind::Card));
//! assert_eq!(detect("acme.atlassian.net"), Some(Kind::Host));
//! assert_eq!(detect("~jane.doe"), Some(Kind::Handle));
//! assert_eq!(detect("getting-started"), None);
//! ```
//!
//! Operator rules ([`RuleSet`] → [`CompiledRules`]) add detectors as data;
//! the built-in vocabulary lists the path words that are safe to keep.

pub(crate) mod ids;
mod net;
mod numbers;
mod rules;
mod vocabulary;

use std::fmt;

pub use rules::{CompiledRules, Rule, RuleError, RuleSet};

// The single detectors and the rules' limits, public for the benchmarks and
// tests that drive them one by one; [`detect`] and [`Kind`] are the API.
#[doc(hidden)]
pub use ids::{
    MIN_RANDOM_TOKEN_LEN, is_account_id, is_email, is_handle, is_jwt, is_number, is_random_token, is_token,
    is_user_key, is_uuid,
};
#[doc(hidden)]
pub use net::{CUSTOMER_SITE_DOMAINS, has_known_tld, is_customer_site, is_host, is_ip};
#[doc(hidden)]
pub use numbers::{is_card, is_iban, is_phone, is_ssn};
#[doc(hidden)]
pub use rules::{MAX_PATTERN_LEN, MAX_PLACEHOLDER_LEN, MAX_RULES, MAX_SAFE_WORDS, MAX_WORD_LEN};
#[doc(hidden)]
pub use vocabulary::{is_builtin_word, is_file_extension};

pub(crate) use rules::is_word_shape;
pub(crate) use vocabulary::cmp_ci;

/// What a detector recognised, each with a stable placeholder name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Kind {
    /// An e-mail address: `{email}`.
    Email,
    /// An Atlassian account ID (`557058:<uuid>`, 24 hex digits, also after
    /// `~`): `{account_id}`.
    AccountId,
    /// A payment card number (Luhn-valid): `{card}`.
    Card,
    /// An IBAN (mod-97-valid): `{iban}`.
    Iban,
    /// A phone number: `{phone}`.
    Phone,
    /// A national identity number (US SSN shape): `{national_id}`.
    NationalId,
    /// A host name, customer sites included: `{host}`.
    Host,
    /// A product user key (`JIRAUSER10100`): `{user_key}`.
    UserKey,
    /// An IPv4 or IPv6 address, with or without a port: `{ip}`.
    Ip,
    /// A UUID: `{uuid}`.
    Uuid,
    /// A JSON Web Token: `{jwt}`.
    Jwt,
    /// A long high-entropy token (keys, session IDs, hashes): `{token}`.
    Token,
    /// A number of 2 to 20 digits: `{id}`.
    Number,
    /// A handle, `~name` or `@name`: `{handle}`.
    Handle,
    /// Free text not known to be safe: `{text}`. [`detect`] never returns
    /// it; the path and query policies use it for unknown words.
    Text,
}

impl Kind {
    /// Every kind, in [`detect`]'s order of precedence (`Text` last).
    pub const ALL: [Kind; 15] = [
        Kind::Jwt,
        Kind::Email,
        Kind::AccountId,
        Kind::Uuid,
        Kind::Ip,
        Kind::Card,
        Kind::Iban,
        Kind::NationalId,
        Kind::Phone,
        Kind::UserKey,
        Kind::Handle,
        Kind::Host,
        Kind::Token,
        Kind::Number,
        Kind::Text,
    ];

    /// The placeholder written instead of the value (`{email}` …).
    pub fn placeholder(self) -> &'static str {
        match self {
            Kind::Email => "{email}",
            Kind::AccountId => "{account_id}",
            Kind::Card => "{card}",
            Kind::Iban => "{iban}",
            Kind::Phone => "{phone}",
            Kind::NationalId => "{national_id}",
            Kind::Host => "{host}",
            Kind::UserKey => "{user_key}",
            Kind::Ip => "{ip}",
            Kind::Uuid => "{uuid}",
            Kind::Jwt => "{jwt}",
            Kind::Token => "{token}",
            Kind::Number => "{id}",
            Kind::Handle => "{handle}",
            Kind::Text => "{text}",
        }
    }

    /// The placeholder without its braces (`email`, `id` …).
    pub fn name(self) -> &'static str {
        let p = self.placeholder();
        p.get(1..p.len() - 1).unwrap_or(p)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.placeholder())
    }
}

/// The longest value the detectors look at; longer values are none of the
/// kinds but a JWT or a token.
const MAX_VALUE_LEN: usize = 8192;

/// Recognises one whole decoded value, in this order of precedence (the
/// first that matches wins):
///
/// 1. [`Kind::Jwt`] ([`is_jwt`]),
/// 2. [`Kind::Email`] ([`is_email`]),
/// 3. [`Kind::AccountId`] ([`is_account_id`]),
/// 4. [`Kind::Uuid`] ([`is_uuid`]),
/// 5. [`Kind::Ip`] ([`is_ip`]),
/// 6. [`Kind::Card`] ([`is_card`]),
/// 7. [`Kind::Iban`] ([`is_iban`]),
/// 8. [`Kind::NationalId`] ([`is_ssn`]),
/// 9. [`Kind::Phone`] ([`is_phone`]),
/// 10. [`Kind::UserKey`] ([`is_user_key`]),
/// 11. [`Kind::Handle`] ([`is_handle`]), or [`Kind::AccountId`] /
///     [`Kind::UserKey`] when the handle is one (`~557058:…`, `~JIRAUSER1`),
/// 12. [`Kind::Host`] ([`is_host`]),
/// 13. [`Kind::Token`] ([`is_token`]),
/// 14. [`Kind::Number`] ([`is_number`]).
///
/// `None` means no detector matched; it does not make the value safe to keep
/// (that is the path policy's allowlist).
pub fn detect(s: &str) -> Option<Kind> {
    if s.len() > MAX_VALUE_LEN {
        return if is_jwt(s) {
            Some(Kind::Jwt)
        } else {
            is_token(s).then_some(Kind::Token)
        };
    }
    // Most path words: letters joined by `-` or `_`, shorter than a token.
    // Every kind needs a digit, `.`, `@`, `:`, `~`, or the length of a
    // token, so none is looked for.
    if s.len() < 16 && s.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_') {
        return None;
    }
    detect_each(s)
}

/// [`detect`] without its shortcut for plain words: every detector in turn.
fn detect_each(s: &str) -> Option<Kind> {
    if is_jwt(s) {
        Some(Kind::Jwt)
    } else if is_email(s) {
        Some(Kind::Email)
    } else if is_account_id(s) {
        Some(Kind::AccountId)
    } else if is_uuid(s) {
        Some(Kind::Uuid)
    } else if is_ip(s) {
        Some(Kind::Ip)
    } else if is_card(s) {
        Some(Kind::Card)
    } else if is_iban(s) {
        Some(Kind::Iban)
    } else if is_ssn(s) {
        Some(Kind::NationalId)
    } else if is_phone(s) {
        Some(Kind::Phone)
    } else if is_user_key(s) {
        Some(Kind::UserKey)
    } else if let Some(body) = ids::handle_body(s) {
        Some(if is_account_id(body) {
            Kind::AccountId
        } else if is_user_key(body) {
            Kind::UserKey
        } else {
            Kind::Handle
        })
    } else if is_host(s) {
        Some(Kind::Host)
    } else if is_token(s) {
        Some(Kind::Token)
    } else if is_number(s) {
        Some(Kind::Number)
    } else {
        None
    }
}

/// [`detect`] over bytes; bytes that are not UTF-8 are none of the kinds.
pub fn detect_bytes(b: &[u8]) -> Option<Kind> {
    std::str::from_utf8(b).ok().and_then(detect)
}

/// The built-in vocabulary, for tests elsewhere in the crate.
#[cfg(test)]
pub(crate) fn vocabulary_words() -> &'static [&'static str] {
    &vocabulary::WORDS
}

#[cfg(test)]
mod tests;
