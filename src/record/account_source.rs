//! Where a record's account came from, and whether the application vouched for it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where the sanitizer found a record's account ID (the record field
/// `account_src`).
///
/// Only [`AccountSource::App`] is vouched for: the application told the
/// layer who the account is ([`AccountId`](crate::AccountId) in the
/// response), after its own authentication. Every other source is text
/// the client sent and privlog could not verify: the Connect JWT is read
/// without checking its signature, and headers, query parameters and
/// paths are whatever the request says. Statistics count only vouched
/// accounts toward k-anonymity, so forged identities cannot make a group
/// look bigger than it is.
///
/// ```
/// use privlog::AccountSource;
/// assert_eq!(AccountSource::parse("app"), Some(AccountSource::App));
/// assert!(AccountSource::App.is_vouched());
/// assert!(!AccountSource::Jwt.is_vouched());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AccountSource {
    /// `app`: the application's [`AccountId`](crate::AccountId). Vouched.
    App,
    /// `jwt`: the `sub` claim of the Connect JWT, read without verifying
    /// the token.
    Jwt,
    /// `header`: a configured request header.
    Header,
    /// `query`: a configured query parameter.
    Query,
    /// `path`: an account ID found in the request path.
    Path,
}

impl AccountSource {
    /// The name written in records: `app`, `jwt`, `header`, `query`, `path`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountSource::App => "app",
            AccountSource::Jwt => "jwt",
            AccountSource::Header => "header",
            AccountSource::Query => "query",
            AccountSource::Path => "path",
        }
    }

    /// The source a record names, or `None` for a name privlog does not know.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "app" => AccountSource::App,
            "jwt" => AccountSource::Jwt,
            "header" => AccountSource::Header,
            "query" => AccountSource::Query,
            "path" => AccountSource::Path,
            _ => return None,
        })
    }

    /// Whether the application vouched for the account (only
    /// [`AccountSource::App`]).
    pub fn is_vouched(self) -> bool {
        self == AccountSource::App
    }
}

impl std::fmt::Display for AccountSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AccountSource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Reads `account_src` leniently: a name privlog does not know (from a newer
/// writer, or a damaged file) reads as no source, which vouches for nothing,
/// rather than making the whole record unreadable.
pub(crate) fn deserialize_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AccountSource>, D::Error> {
    let s = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
    Ok(s.as_deref().and_then(AccountSource::parse))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [AccountSource; 5] = [
        AccountSource::App,
        AccountSource::Jwt,
        AccountSource::Header,
        AccountSource::Query,
        AccountSource::Path,
    ];

    #[test]
    fn every_source_parses_back_from_its_name() {
        for s in ALL {
            assert_eq!(AccountSource::parse(s.as_str()), Some(s));
        }
        assert_eq!(AccountSource::parse("App"), None);
        assert_eq!(AccountSource::parse("verified"), None);
    }

    #[test]
    fn only_the_application_vouches() {
        let vouched: Vec<_> = ALL.into_iter().filter(|s| s.is_vouched()).collect();
        assert_eq!(vouched, [AccountSource::App]);
    }
}
