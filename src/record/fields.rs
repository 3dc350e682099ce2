//! Which record fields a destination receives: [`Field`] and [`Fields`].
//!
//! Every record field of schema v1 is either *required* (`v`, `ts`,
//! `method`, `path`, `req_bytes`, `resp_bytes`, `duration_us`, `outcome`,
//! `proto`, `epoch`, `kid`: every record carries them, and readers rely on
//! them) or *omittable* (the nullable fields, [`Field`]). An omitted field
//! is written as a record without it: `null` in JSON encodings, no attribute
//! or parameter in OTLP, syslog and `tracing`.

use std::fmt;

/// The fields every record carries; they cannot be omitted.
pub const REQUIRED_FIELDS: [&str; 11] = [
    "v",
    "ts",
    "method",
    "path",
    "req_bytes",
    "resp_bytes",
    "duration_us",
    "outcome",
    "proto",
    "epoch",
    "kid",
];

/// A record field a destination may go without (the nullable fields of the
/// schema).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// `client`: the client IP after the IP policy.
    Client,
    /// `route`: the matched route template.
    Route,
    /// `query`: the allowlisted query pairs.
    Query,
    /// `status`: the response status.
    Status,
    /// `ttfb_us`: time to the response head.
    TtfbUs,
    /// `account`: the account pseudonym. Without it there is no
    /// `account_src` either.
    Account,
    /// `account_src`: where the account came from.
    AccountSrc,
    /// `tenant`: the customer site pseudonym.
    Tenant,
}

impl Field {
    /// Every omittable field, in schema order.
    pub const ALL: [Field; 8] = [
        Field::Client,
        Field::Route,
        Field::Query,
        Field::Status,
        Field::TtfbUs,
        Field::Account,
        Field::AccountSrc,
        Field::Tenant,
    ];

    /// The field's name in the record (`account_src`).
    pub fn name(self) -> &'static str {
        match self {
            Field::Client => "client",
            Field::Route => "route",
            Field::Query => "query",
            Field::Status => "status",
            Field::TtfbUs => "ttfb_us",
            Field::Account => "account",
            Field::AccountSrc => "account_src",
            Field::Tenant => "tenant",
        }
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a list of field names was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldsError {
    /// A name that is not a record field.
    Unknown(String),
    /// A required field named in an `omit` list.
    Required(&'static str),
    /// A `fields` list that leaves out required fields.
    MissingRequired(Vec<&'static str>),
}

fn all_names() -> String {
    let mut names: Vec<&str> = REQUIRED_FIELDS.to_vec();
    names.extend(Field::ALL.iter().map(|f| f.name()));
    names.join(", ")
}

impl fmt::Display for FieldsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldsError::Unknown(name) => write!(f, "unknown record field {name:?}; the fields are {}", all_names()),
            FieldsError::Required(name) => write!(
                f,
                "`{name}` is required in every record and cannot be omitted; the fields that can be omitted \
                 are {}",
                Field::ALL.map(Field::name).join(", ")
            ),
            FieldsError::MissingRequired(names) => write!(
                f,
                "the list leaves out {}, required in every record; list them too, or name what to leave out \
                 with `omit` instead",
                names.join(", ")
            ),
        }
    }
}

impl std::error::Error for FieldsError {}

/// The set of record fields a destination receives: every required field
/// and a chosen set of [`Field`]s.
///
/// ```
/// use privlog::{Field, Fields};
///
/// let third_party = Fields::all().without(Field::Account).without(Field::Tenant);
/// assert!(!third_party.contains(Field::Account));
/// // `account_src` goes with `account`.
/// assert!(!third_party.contains(Field::AccountSrc));
/// assert_eq!(Fields::omitting(["tenant"]).unwrap(), Fields::all().without(Field::Tenant));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fields(u16);

impl Default for Fields {
    fn default() -> Self {
        Fields::all()
    }
}

impl Fields {
    /// Every field (the default).
    pub const fn all() -> Self {
        Fields(0xff)
    }

    /// The required fields only.
    pub const fn required() -> Self {
        Fields(0)
    }

    /// This set without `field` (without `account`, also without `account_src`).
    pub const fn without(self, field: Field) -> Self {
        let mut bits = self.0 & !field.bit();
        if matches!(field, Field::Account) {
            bits &= !Field::AccountSrc.bit();
        }
        Fields(bits)
    }

    /// This set with `field` (`account_src` is written only with `account`).
    pub const fn with(self, field: Field) -> Self {
        Fields(self.0 | field.bit())
    }

    /// Whether records written with this set carry `field`. `account_src`
    /// counts only together with `account`.
    pub const fn contains(self, field: Field) -> bool {
        let has = self.0 & field.bit() != 0;
        if matches!(field, Field::AccountSrc) {
            has && self.0 & Field::Account.bit() != 0
        } else {
            has
        }
    }

    /// Whether this is every field.
    pub const fn is_all(self) -> bool {
        self.0 == Fields::all().0
    }

    /// The fields listed by name (a `fields = [...]` list): every required
    /// field must be listed.
    ///
    /// # Errors
    /// [`FieldsError::Unknown`] for a name outside the schema,
    /// [`FieldsError::MissingRequired`] when required fields are left out.
    pub fn only<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, FieldsError> {
        let mut set = Fields::required();
        let mut required = [false; REQUIRED_FIELDS.len()];
        for name in names {
            if let Some(i) = REQUIRED_FIELDS.iter().position(|r| *r == name) {
                if let Some(seen) = required.get_mut(i) {
                    *seen = true;
                }
            } else {
                set = set.with(parse(name)?);
            }
        }
        let missing: Vec<&'static str> = REQUIRED_FIELDS
            .iter()
            .zip(required)
            .filter(|(_, seen)| !seen)
            .map(|(name, _)| *name)
            .collect();
        if missing.is_empty() {
            Ok(set)
        } else {
            Err(FieldsError::MissingRequired(missing))
        }
    }

    /// Every field but those named (an `omit = [...]` list).
    ///
    /// # Errors
    /// [`FieldsError::Unknown`] for a name outside the schema,
    /// [`FieldsError::Required`] for a required field.
    pub fn omitting<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, FieldsError> {
        let mut set = Fields::all();
        for name in names {
            if let Some(required) = REQUIRED_FIELDS.iter().find(|r| **r == name) {
                return Err(FieldsError::Required(required));
            }
            set = set.without(parse(name)?);
        }
        Ok(set)
    }

    /// The names of the fields records carry with this set, in schema order.
    pub fn names(self) -> Vec<&'static str> {
        let mut out = Vec::with_capacity(REQUIRED_FIELDS.len() + Field::ALL.len());
        // Schema order: the optional fields sit between the required ones.
        let order = [
            "v",
            "ts",
            "client",
            "method",
            "route",
            "path",
            "query",
            "status",
            "req_bytes",
            "resp_bytes",
            "ttfb_us",
            "duration_us",
            "outcome",
            "proto",
            "account",
            "account_src",
            "tenant",
            "epoch",
            "kid",
        ];
        for name in order {
            match Field::ALL.iter().find(|f| f.name() == name) {
                Some(f) if !self.contains(*f) => {}
                _ => out.push(name),
            }
        }
        out
    }
}

fn parse(name: &str) -> Result<Field, FieldsError> {
    Field::ALL
        .into_iter()
        .find(|f| f.name() == name)
        .ok_or_else(|| FieldsError::Unknown(name.to_owned()))
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl fmt::Display for Fields {
    /// `all fields`, or the omitted fields: `all but account, account_src, tenant`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("all fields");
        }
        let omitted: Vec<&str> = Field::ALL
            .into_iter()
            .filter(|x| !self.contains(*x))
            .map(Field::name)
            .collect();
        write!(f, "all but {}", omitted.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_both_ways_and_bad_ones_are_named() {
        assert_eq!(
            Fields::omitting(["account", "tenant"]).expect("ok"),
            Fields::all().without(Field::Account).without(Field::Tenant)
        );
        let mut listed: Vec<&str> = REQUIRED_FIELDS.to_vec();
        listed.push("client");
        assert_eq!(
            Fields::only(listed.iter().copied()).expect("ok"),
            Fields::required().with(Field::Client)
        );
        let e = Fields::omitting(["acount"]).expect_err("unknown");
        assert_eq!(e, FieldsError::Unknown("acount".into()));
        assert!(
            e.to_string().contains("\"acount\"") && e.to_string().contains("account_src"),
            "{e}"
        );
        let e = Fields::omitting(["ts"]).expect_err("required");
        assert!(e.to_string().starts_with("`ts` is required"), "{e}");
        let e = Fields::only(["ts", "method"]).expect_err("missing");
        assert!(e.to_string().contains("v, path, req_bytes"), "{e}");
    }

    #[test]
    fn account_src_goes_with_account() {
        let f = Fields::all().without(Field::Account);
        assert!(!f.contains(Field::AccountSrc));
        assert!(
            !Fields::all()
                .with(Field::AccountSrc)
                .without(Field::Account)
                .contains(Field::AccountSrc)
        );
        assert_eq!(f.to_string(), "all but account, account_src");
        assert_eq!(Fields::all().to_string(), "all fields");
        assert_eq!(Fields::all().names().len(), 19);
    }
}
