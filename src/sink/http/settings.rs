//! The HTTP sink as the operator config file describes it (features `http`
//! and `config`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::builder::shown;
use super::{BatchConfig, ClickHouse, Elasticsearch, HttpSink, HttpSinkBuilder, Loki, Ndjson, Otlp, RetryPolicy};
use crate::sink::SettingsError;
use crate::sink::spool::{SpoolConfig, SpoolFsync};
use crate::sink::util::parse_duration;

/// The body format, as written in `encoding`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EncodingName {
    /// [`Ndjson::new`] (Vector, Logstash). The default.
    #[default]
    Ndjson,
    /// [`Ndjson::json_array`] (Fluent Bit).
    NdjsonArray,
    /// [`ClickHouse`]; needs `table`.
    Clickhouse,
    /// [`Loki`].
    Loki,
    /// [`Elasticsearch`].
    Elasticsearch,
    /// [`Otlp`].
    Otlp,
}

impl EncodingName {
    /// The name as written in `encoding`.
    pub fn as_str(self) -> &'static str {
        match self {
            EncodingName::Ndjson => "ndjson",
            EncodingName::NdjsonArray => "ndjson_array",
            EncodingName::Clickhouse => "clickhouse",
            EncodingName::Loki => "loki",
            EncodingName::Elasticsearch => "elasticsearch",
            EncodingName::Otlp => "otlp",
        }
    }
}

/// One `[[sinks]]` table with `type = "http"`:
///
/// ```toml
/// [[sinks]]
/// type = "http"
/// endpoint = "http://127.0.0.1:8123/"
/// encoding = "clickhouse"          # ndjson (default), ndjson_array, clickhouse, loki, elasticsearch, otlp
/// table = "privlog_requests"       # clickhouse only
/// headers = { "X-ClickHouse-User" = "writer" }
/// gzip = true
/// spool_dir = "/var/lib/myapp/privlog-spool"
/// dead_letter = "/var/lib/myapp/privlog-rejected.ndjson"
/// ```
///
/// Every other field is optional and defaults as in [`HttpSinkBuilder`]:
/// `timeout`, `batch_linger`, `retry_initial`, `retry_max`, `retry_after_max`
/// (durations like `"500ms"`, `"10s"`), `max_in_flight`,
/// `max_buffered_records`, `batch_max_records`, `batch_max_bytes`,
/// `spool_max_bytes`, `spool_segment_bytes`, `spool_fsync` (`"always"`,
/// `"never"` or a duration), `dead_letter_max_bytes`, `service_name` (Loki,
/// OTLP), `ca_file`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpSinkSettings {
    /// The collector URL.
    pub endpoint: String,
    /// The body format.
    #[serde(default)]
    pub encoding: EncodingName,
    /// The ClickHouse table.
    pub table: Option<String>,
    /// `service_name` (Loki label, OTLP resource attribute).
    pub service_name: Option<String>,
    /// Request headers, e.g. credentials (never logged).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// gzip request bodies.
    #[serde(default)]
    pub gzip: bool,
    /// One attempt's limit.
    pub timeout: Option<String>,
    /// Requests at once.
    pub max_in_flight: Option<usize>,
    /// Records waiting in memory.
    pub max_buffered_records: Option<usize>,
    /// Records per batch.
    pub batch_max_records: Option<usize>,
    /// Bytes per batch.
    pub batch_max_bytes: Option<usize>,
    /// Linger time of a partial batch.
    pub batch_linger: Option<String>,
    /// First backoff cap.
    pub retry_initial: Option<String>,
    /// Longest backoff.
    pub retry_max: Option<String>,
    /// Longest `Retry-After` honoured.
    pub retry_after_max: Option<String>,
    /// The spool directory (no spool when absent).
    pub spool_dir: Option<PathBuf>,
    /// The spool's cap.
    pub spool_max_bytes: Option<u64>,
    /// The spool's segment size.
    pub spool_segment_bytes: Option<u64>,
    /// `always`, `never` or a duration.
    pub spool_fsync: Option<String>,
    /// The dead-letter file.
    pub dead_letter: Option<PathBuf>,
    /// The size the dead-letter file may reach.
    pub dead_letter_max_bytes: Option<u64>,
    /// PEM file of the CA to trust for `https://`.
    pub ca_file: Option<PathBuf>,
}

impl fmt::Debug for HttpSinkSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSinkSettings")
            .field("endpoint", &shown(&self.endpoint))
            .field("encoding", &self.encoding)
            .field(
                "headers",
                &self
                    .headers
                    .keys()
                    .map(|k| (k, "<redacted>"))
                    .collect::<BTreeMap<_, _>>(),
            )
            .field("spool_dir", &self.spool_dir)
            .field("dead_letter", &self.dead_letter)
            .finish_non_exhaustive()
    }
}

fn err(field: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError::new("http", field, reason)
}

fn duration(field: &'static str, v: &Option<String>) -> Result<Option<Duration>, SettingsError> {
    v.as_deref()
        .map(|s| parse_duration(s).map_err(|e| err(field, e)))
        .transpose()
}

impl HttpSinkSettings {
    /// A one-line description for `privlog check` (never shows credentials).
    pub fn describe(&self) -> String {
        let mut s = format!("http {} to {}", self.encoding.as_str(), shown(&self.endpoint));
        match &self.spool_dir {
            Some(d) => s.push_str(&format!(", spool {}", d.display())),
            None => s.push_str(", no spool"),
        }
        if let Some(d) = &self.dead_letter {
            s.push_str(&format!(", dead letter {}", d.display()));
        }
        s
    }

    /// The builder these settings describe (reads `ca_file`).
    ///
    /// # Errors
    /// The first field with a bad value.
    pub fn builder(&self) -> Result<HttpSinkBuilder, SettingsError> {
        let ca = match &self.ca_file {
            Some(p) => Some(std::fs::read(p).map_err(|e| err("ca_file", format!("cannot read {}: {e}", p.display())))?),
            None => None,
        };
        self.assemble(ca)
    }

    fn assemble(&self, ca_pem: Option<Vec<u8>>) -> Result<HttpSinkBuilder, SettingsError> {
        let mut b = HttpSink::builder(self.endpoint.clone());
        let service = self.service_name.clone();
        b = match self.encoding {
            EncodingName::Ndjson => b.encoder(Ndjson::new()),
            EncodingName::NdjsonArray => b.encoder(Ndjson::json_array()),
            EncodingName::Clickhouse => {
                let table = self
                    .table
                    .as_deref()
                    .ok_or_else(|| err("table", "encoding \"clickhouse\" needs the table to insert into"))?;
                b.encoder(ClickHouse::new(table).map_err(|e| err("table", e.to_string()))?)
            }
            EncodingName::Loki => b.encoder(service.map_or_else(Loki::new, |s| Loki::new().service_name(s))),
            EncodingName::Elasticsearch => b.encoder(Elasticsearch::new()),
            EncodingName::Otlp => b.encoder(service.map_or_else(Otlp::new, |s| Otlp::new().service_name(s))),
        };
        for (k, v) in &self.headers {
            b = b.header(k, v);
        }
        b = b.gzip(self.gzip);
        if let Some(d) = duration("timeout", &self.timeout)? {
            b = b.timeout(d);
        }
        if let Some(n) = self.max_in_flight {
            b = b.max_in_flight(n);
        }
        if let Some(n) = self.max_buffered_records {
            b = b.max_buffered_records(n);
        }
        let mut batch = BatchConfig::new();
        if let Some(n) = self.batch_max_records {
            batch = batch.max_records(n);
        }
        if let Some(n) = self.batch_max_bytes {
            batch = batch.max_bytes(n);
        }
        if let Some(d) = duration("batch_linger", &self.batch_linger)? {
            batch = batch.linger(d);
        }
        b = b.batch(batch);
        let mut retry = RetryPolicy::new();
        if let Some(d) = duration("retry_initial", &self.retry_initial)? {
            retry = retry.initial(d);
        }
        if let Some(d) = duration("retry_max", &self.retry_max)? {
            retry = retry.max(d);
        }
        if let Some(d) = duration("retry_after_max", &self.retry_after_max)? {
            retry = retry.max_retry_after(d);
        }
        b = b.retry(retry);
        if let Some(dir) = &self.spool_dir {
            let mut spool = SpoolConfig::new(dir);
            if let Some(n) = self.spool_max_bytes {
                spool = spool.max_bytes(n);
            }
            if let Some(n) = self.spool_segment_bytes {
                spool = spool.segment_bytes(n);
            }
            if let Some(f) = &self.spool_fsync {
                spool = spool.fsync(match f.trim() {
                    "always" => SpoolFsync::Always,
                    "never" => SpoolFsync::Never,
                    d => SpoolFsync::Interval(
                        parse_duration(d)
                            .map_err(|e| err("spool_fsync", format!("{e}; or write \"always\" or \"never\"")))?,
                    ),
                });
            }
            b = b.spool(spool);
        } else if self.spool_max_bytes.is_some() || self.spool_segment_bytes.is_some() || self.spool_fsync.is_some() {
            return Err(err(
                "spool_dir",
                "spool settings are given but no spool_dir; add spool_dir",
            ));
        }
        if let Some(p) = &self.dead_letter {
            b = b.dead_letter(p);
        }
        if let Some(n) = self.dead_letter_max_bytes {
            b = b.dead_letter_max_bytes(n);
        }
        if let Some(pem) = ca_pem {
            b = b.ca_pem(pem);
        }
        Ok(b)
    }

    /// Checks every field without touching the file system: what the
    /// configuration file's parser runs.
    ///
    /// # Errors
    /// The first field with a bad value.
    pub(crate) fn check(&self) -> Result<(), SettingsError> {
        self.assemble(None)?.check().map_err(refused)
    }

    /// Checks every field and range, reads and parses `ca_file`, and checks
    /// that `spool_dir` and `dead_letter` can be what they name: what
    /// [`HttpSinkSettings::build`] runs before it opens anything, and all that
    /// `privlog check` can find out without creating anything.
    ///
    /// # Errors
    /// The first field with a bad value.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.checked().map(drop)
    }

    fn checked(&self) -> Result<HttpSinkBuilder, SettingsError> {
        let b = self.builder()?;
        b.check().map_err(refused)?;
        if let Some(dir) = &self.spool_dir {
            crate::sink::paths::check_dir(dir).map_err(|e| err("spool_dir", e))?;
        }
        if let Some(file) = &self.dead_letter {
            crate::sink::paths::check_file(file).map_err(|e| err("dead_letter", e))?;
        }
        Ok(b)
    }

    /// Builds the sink: checks the settings, opens the spool, starts the
    /// request threads.
    ///
    /// # Errors
    /// The first field with a bad value, or the field whose resource could
    /// not be opened (`spool_dir`).
    pub fn build(&self) -> Result<HttpSink, SettingsError> {
        HttpSink::from_builder(self.checked()?).map_err(refused)
    }
}

fn refused(r: super::builder::Refused) -> SettingsError {
    let reason = match r.source {
        Some(source) => format!("{}: {source}", r.reason),
        None => r.reason,
    };
    err(r.field, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> HttpSinkSettings {
        toml::from_str(s).expect("valid settings")
    }

    #[test]
    fn a_full_table_builds_a_sink() {
        let dir = std::env::temp_dir().join(format!("privlog-settings-{}", std::process::id()));
        let s = parse(&format!(
            r#"
            endpoint = "http://127.0.0.1:9/"
            encoding = "clickhouse"
            table = "db.requests"
            headers = {{ "X-ClickHouse-Key" = "pw-123" }}
            gzip = true
            timeout = "2s"
            batch_max_records = 10
            batch_linger = "250ms"
            retry_max = "1m"
            spool_dir = "{}"
            spool_fsync = "always"
            dead_letter_max_bytes = 4096
            "#,
            dir.display()
        ));
        let sink = s.build().expect("builds");
        assert!(!format!("{s:?}{sink:?}").contains("pw-123"));
        assert!(s.describe().contains("clickhouse"), "{}", s.describe());
        drop(sink);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bad_values_name_their_field() {
        let e = parse("endpoint = \"http://h/\"\nencoding = \"clickhouse\"")
            .build()
            .expect_err("no table");
        assert_eq!(e.field, "table");
        let e = parse("endpoint = \"http://h/\"\ntimeout = \"soon\"")
            .build()
            .expect_err("bad duration");
        assert_eq!(e.field, "timeout");
        let e = parse("endpoint = \"http://h/\"\nspool_fsync = \"always\"")
            .build()
            .expect_err("no dir");
        assert_eq!(e.field, "spool_dir");
        let e = parse("endpoint = \"ftp://h/\"").build().expect_err("bad scheme");
        assert_eq!(e.field, "endpoint");
        assert!(toml::from_str::<HttpSinkSettings>("endpoint = \"http://h/\"\ncolour = 1").is_err());
        assert!(toml::from_str::<HttpSinkSettings>("endpoint = \"http://h/\"\nencoding = \"xml\"").is_err());
    }
}
