use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::account_source::{AccountSource, deserialize_lenient};
use super::{Outcome, SampleRate};

/// The record schema version written in the `v` field.
///
/// Adding a field is a minor change; renaming or retyping one bumps this number.
pub const SCHEMA_VERSION: u32 = 1;

/// One sanitized, privacy-safe log record: the metadata of one HTTP request.
///
/// Field names are SQL-friendly so DuckDB and ClickHouse can query NDJSON files
/// directly. Every string has passed the privacy policy: no raw account ID,
/// client key, token, e-mail address or full IP address (unless the IP policy
/// is explicitly `keep`) can be in it.
///
/// A sample line:
///
/// ```json
/// {"v":1,"ts":"2026-11-22T09:30:00.123Z","client":"203.0.113.0/24","method":"GET","route":"/rest/accounts/{account_id}/history","path":"/rest/accounts/{account_id}/history","query":null,"status":200,"req_bytes":0,"resp_bytes":512,"ttfb_us":840,"duration_us":910,"outcome":"completed","proto":"HTTP/1.1","account":"acc_3q2x9Vd1kQ0bZg7mH4sT1A","account_src":"app","tenant":"ten_Jp0cX8aWm3nR5yE2uK9fLw","epoch":"2026-11","kid":"k_5d1f0a9c"}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Record {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub v: u32,
    /// Request start, RFC 3339 UTC with millisecond precision.
    #[serde(with = "ts_format")]
    pub ts: OffsetDateTime,
    /// Client IP after the IP policy: a truncated prefix (`203.0.113.0/24`),
    /// a pseudonym, the full address (only under an explicit `keep`), or `None`.
    #[serde(default)]
    pub client: Option<String>,
    /// HTTP method; methods outside the registered set are written as `_OTHER`.
    pub method: String,
    /// The matched route template (`/rest/accounts/{account_id}/history`) when known.
    #[serde(default)]
    pub route: Option<String>,
    /// The request path with identifiers, e-mails, tokens and free text replaced by
    /// placeholders (`{uuid}`, `{email}`, `{account_id}`, `{token}`, `{ip}`, `{text}` …).
    pub path: String,
    /// Allowlisted query pairs only (`lic=active&cv=1.0`), or `None`.
    #[serde(default)]
    pub query: Option<String>,
    /// Response status; `None` when no response was produced.
    #[serde(default)]
    pub status: Option<u16>,
    /// Request body bytes read by the service (the declared `Content-Length` when unread).
    pub req_bytes: u64,
    /// Response body bytes sent.
    pub resp_bytes: u64,
    /// Microseconds from request start to the response head; `None` without a response.
    #[serde(default)]
    pub ttfb_us: Option<u64>,
    /// Microseconds from request start to the last response byte, error or abort.
    pub duration_us: u64,
    /// How the request ended.
    pub outcome: Outcome,
    /// Protocol version: `HTTP/1.0`, `HTTP/1.1`, `HTTP/2`, `HTTP/3`.
    pub proto: String,
    /// Pseudonym of the account (keyed BLAKE3, per epoch), or `None`.
    #[serde(default)]
    pub account: Option<String>,
    /// Where the account came from: `app` (the application vouched for it),
    /// `jwt`, `header`, `query` or `path` (what the request said, unverified);
    /// `None` without an account. See [`AccountSource`].
    #[serde(default, deserialize_with = "deserialize_lenient")]
    pub account_src: Option<AccountSource>,
    /// Pseudonym of the customer site (Atlassian Connect `clientKey`), or `None`.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The key period the pseudonyms belong to (`2026-11-22`, `2026-W47`, `2026-11`, `static`).
    pub epoch: String,
    /// Short fingerprint of the master key that made the pseudonyms (never the key).
    pub kid: String,
    /// Set when sampling kept this record as one of a fraction of its kind
    /// (successful, fast requests): count it as `1 / sample_rate` requests.
    /// Absent when every request of its kind is written (errors, slow and
    /// aborted requests, or no sampling). An optional field: schema v1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<SampleRate>,
    /// Which strings privlog's sanitizer wrote from text it made itself.
    #[serde(skip)]
    pub(crate) vouched: Vouched,
}

/// Whether privlog's sanitizer vouches that a [`Record`]'s generated strings
/// need no escaping in JSON, so the encoder copies them without looking at
/// them.
///
/// The sanitizer writes the method, protocol, client, account, tenant, epoch
/// and key id from text it makes itself (names from fixed tables, formatted
/// addresses, pseudonyms); when there is no route template, the path is the
/// scrubbed request path, which holds only kept segments of unreserved
/// characters, placeholders, `/` and `…`. Request bytes never reach those
/// fields unchecked, so checking them again for characters to escape would
/// only cost time. (With a route template the path is the template, which
/// can hold any character, and is checked.)
///
/// Only the sanitizer sets it, on the records of a batch, which sinks can
/// read but not change. Anything that could change a record's strings
/// afterwards starts from a record that vouches for nothing: a clone (clones
/// are owned, so their fields can be changed), a deserialized record, or one
/// made with [`Record::new`]. Vouching never changes what is written, only
/// how fast: a test compares each sanitized record's line with that of its
/// clone.
#[derive(Default)]
pub(crate) struct Vouched(bool);

impl Vouched {
    /// Set by the sanitizer once it has written every generated field.
    pub(crate) const SANITIZED: Vouched = Vouched(true);

    /// Whether the generated fields (and, without a route, the path) need no escaping.
    pub(crate) fn generated(&self) -> bool {
        self.0
    }
}

impl Clone for Vouched {
    /// A copy vouches for nothing: its strings can be changed.
    fn clone(&self) -> Self {
        Vouched::default()
    }
}

impl PartialEq for Vouched {
    /// Vouching is not part of a record's value.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Vouched {}

impl std::fmt::Debug for Vouched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Vouched").field(&self.0).finish()
    }
}

impl Record {
    /// A record with the given start time, method and path and every other field
    /// empty or zero (`outcome` is [`Outcome::Completed`]).
    ///
    /// Records are normally built by the layer; this is for sinks' tests and tools.
    pub fn new(ts: OffsetDateTime, method: impl Into<String>, path: impl Into<String>) -> Self {
        Record {
            v: SCHEMA_VERSION,
            ts,
            client: None,
            method: method.into(),
            route: None,
            path: path.into(),
            query: None,
            status: None,
            req_bytes: 0,
            resp_bytes: 0,
            ttfb_us: None,
            duration_us: 0,
            outcome: Outcome::Completed,
            proto: "HTTP/1.1".to_owned(),
            account: None,
            account_src: None,
            tenant: None,
            epoch: "static".to_owned(),
            kid: String::new(),
            sample_rate: None,
            vouched: Vouched::default(),
        }
    }

    /// The record as one NDJSON line (with the trailing `\n`).
    pub fn to_ndjson(&self) -> String {
        let mut out = Vec::with_capacity(320);
        super::write_ndjson(self, &mut out);
        // The encoder writes only ASCII and valid UTF-8 taken from `String`s.
        String::from_utf8(out).unwrap_or_default()
    }
}

pub(crate) mod ts_format {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub(crate) fn serialize<S: Serializer>(ts: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = Vec::with_capacity(24);
        crate::record::encode::write_ts(*ts, &mut buf);
        s.serialize_str(std::str::from_utf8(&buf).unwrap_or_default())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        OffsetDateTime::parse(&s, &Rfc3339).map_err(|e| D::Error::custom(format_args!("invalid `ts` {s:?}: {e}")))
    }
}
