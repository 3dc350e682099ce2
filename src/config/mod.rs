//! Operator configuration: one TOML file that sets the key source, the
//! privacy policy, the pipeline and the sinks, with environment overrides for
//! secrets and endpoints.
//!
//! ```
//! use privlog::config::Config;
//!
//! let cfg = Config::from_toml(r#"
//!     [key]
//!     env = "PRIVLOG_KEY"
//!
//!     [policy]
//!     preset = "atlassian-connect"
//!     rotation = "monthly"
//!     ip = "truncate"
//!
//!     [[sinks]]
//!     type = "stdout"
//! "#, [("PRIVLOG_KEY".to_owned(), "11".repeat(32))])?;
//! let (layer, guard) = cfg.build()?;
//! # drop(layer); guard.shutdown();
//! # Ok::<(), privlog::config::ConfigError>(())
//! ```
//!
//! Unknown fields and bad values are errors naming the field and the reason.
//!
//! # Environment overrides
//!
//! The library reads no environment by itself: callers pass the variables,
//! as `std::env::vars_os()` gives them, to [`Config::load_os`] (or
//! [`Config::from_toml_os`]). A variable that is not UTF-8 is left out,
//! and refused when its name starts with `PRIVLOG_` or it is the key's
//! (its value is never shown); `std::env::vars()` would panic on it. A variable `PRIVLOG__A__B=value` sets the field `a.b`
//! of the file (`PRIVLOG__POLICY__ROTATION=daily`,
//! `PRIVLOG__SINKS__CLICKHOUSE__ENDPOINT=https://…` for the sink named
//! `clickhouse`, `PRIVLOG__SINKS__0__ENDPOINT` for the first sink; see
//! [`Config::sink_names`]); the key is
//! read from the variable named by `key.env`. Names are not case-sensitive,
//! and as a variable name has no `-`, `_` in an HTTP header's name stands for
//! `-`: `PRIVLOG__SINKS__0__HEADERS__X_CLICKHOUSE_KEY=…` sets the header
//! `x-clickhouse-key`, replacing one of the file however it is capitalised.

mod named;
mod names;
mod secret;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use crate::sink::util::parse_duration;
// Each sink owns its settings; these are the `[[sinks]]` tables
// `SinkConfig` holds.
pub use crate::sink::{RollingSettings, SyslogSettings, TracingSettings};

use secret::{Secrets, check_var_name, path_refusal, schema_error, shown_var_name, syntax_error};

use crate::policy::{PathPolicy, Rule, defaults};
use crate::sink::{FileSink, SettingsError, Sink, WriterSink};
use crate::{
    BuildError, Builder, Fields, IpPolicy, MasterKey, Policy, PolicyError, PrivlogLayer, Rotation, TrustedProxies,
    WorkerGuard, policy::RingKey,
};

/// The prefix of environment overrides.
pub const ENV_PREFIX: &str = "PRIVLOG__";

/// A parsed, validated configuration file.
///
/// Its `Debug` output shows no secret: not the environment it was read with,
/// not header values, not a URL's credentials, not a value an environment
/// override set.
#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// Where the master key comes from.
    #[serde(default)]
    pub key: KeyConfig,
    /// The privacy policy.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Queue and shutdown tuning.
    #[serde(default)]
    pub pipeline: PipelineConfig,
    /// Where records go.
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
    /// The record fields each sink receives (`fields` or `omit` in its
    /// table), in the order of `sinks`.
    #[serde(skip)]
    sink_fields: Vec<Fields>,
    /// `[sampling]`: the fraction of successful requests kept.
    #[serde(default)]
    pub sampling: SamplingConfig,
    /// `[[skip]]`: requests that get no record.
    #[serde(default)]
    pub skip: Vec<SkipConfig>,
    #[serde(skip)]
    env: BTreeMap<String, String>,
    #[serde(skip)]
    secrets: Secrets,
    /// Names of variables whose value is not UTF-8 (left out of `env`).
    #[serde(skip)]
    not_utf8: NotUtf8,
    /// Each sink's name, explicit or default, in the order of `sinks`.
    #[serde(skip)]
    sink_names: Vec<String>,
    /// Where each `[[sinks]]` table starts in the file (line, column).
    #[serde(skip)]
    sink_positions: Vec<Option<(usize, usize)>>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = format!(
            "Config {{ key: {:?}, policy: {:?}, pipeline: {:?}, sinks: {:?}, .. }}",
            self.key, self.policy, self.pipeline, self.sinks
        );
        f.write_str(&self.secrets.mask(&inner))
    }
}

/// `[key]`: where the master key comes from. With neither field a random
/// per-process key is used, with a warning.
#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct KeyConfig {
    /// A key file (64 hex characters per key, one per line; the last is used for new
    /// records) or a directory of `*.key` files, readable by its owner only.
    pub file: Option<PathBuf>,
    /// The name of an environment variable holding the key as 64 hex
    /// characters (never the key itself).
    pub env: Option<String>,
}

impl fmt::Debug for KeyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self
            .file
            .as_deref()
            .map(|p| match crate::secret_shape::path_secret_shape(p) {
                Some(_) => "<not a path, hidden>".to_owned(),
                None => p.display().to_string(),
            });
        f.debug_struct("KeyConfig")
            .field("file", &file)
            .field("env", &self.env.as_deref().map(shown_var_name))
            .finish()
    }
}

/// `[policy]`: the privacy policy; every field defaults to the preset's value.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PolicyConfig {
    /// `default` (the secure baseline) or `atlassian-connect`.
    #[serde(default)]
    pub preset: Preset,
    /// `none`, `daily`, `weekly` or `monthly` (default
    /// [`ROTATION`](crate::policy::defaults::ROTATION)).
    pub rotation: Option<String>,
    /// `truncate` (default), `pseudonymize`, `pseudonymize-daily` (under an
    /// in-memory key of the day), `drop` or `keep`.
    pub ip: Option<String>,
    /// IPv4 prefix kept by `truncate` (default
    /// [`IPV4_PREFIX`](crate::policy::defaults::IPV4_PREFIX)).
    pub ipv4_prefix: Option<u8>,
    /// IPv6 prefix kept by `truncate` (default
    /// [`IPV6_PREFIX`](crate::policy::defaults::IPV6_PREFIX)).
    pub ipv6_prefix: Option<u8>,
    /// Networks of your reverse proxies (default none).
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Query keys kept (added to the preset's).
    #[serde(default)]
    pub query_allow: Vec<String>,
    /// Query keys never kept (added to the preset's).
    #[serde(default)]
    pub query_deny: Vec<String>,
    /// Headers holding the account ID.
    #[serde(default)]
    pub account_headers: Vec<String>,
    /// Headers holding the tenant ID.
    #[serde(default)]
    pub tenant_headers: Vec<String>,
    /// Query parameters holding the account ID (never logged).
    #[serde(default)]
    pub account_query: Vec<String>,
    /// Query parameters holding the tenant ID (never logged).
    #[serde(default)]
    pub tenant_query: Vec<String>,
    /// Use account IDs found in paths (default
    /// [`PATH_ACCOUNT_IDS`](crate::policy::defaults::PATH_ACCOUNT_IDS)).
    pub path_account_ids: Option<bool>,
    /// How a path without a route template is written: `allowlist`
    /// (default, [`PATH_POLICY`](crate::policy::defaults::PATH_POLICY)),
    /// `template-only` or `scrub`.
    pub path: Option<PathPolicy>,
    /// Path words kept as they are by the allowlist (added to the built-in
    /// vocabulary and the words of the application's route templates).
    #[serde(default)]
    pub safe_words: Vec<String>,
    /// Operator rules (`[[policy.rules]]`: `name`, `pattern`,
    /// `placeholder`): a path segment or allowlisted query value a pattern
    /// matches becomes the placeholder.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// The suppression file (accounts written without `account`), kept by
    /// `privlog subject erase --suppress FILE`; see
    /// [`Builder::suppression_file`](crate::Builder::suppression_file).
    pub suppression_file: Option<PathBuf>,
}

/// A policy preset.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Preset {
    /// [`Policy::default`].
    #[default]
    Default,
    /// [`Policy::atlassian_connect`].
    AtlassianConnect,
}

/// `[pipeline]`: queue sizes and the shutdown deadline.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PipelineConfig {
    /// Hand-off queue capacity in records (default
    /// [`DEFAULT_QUEUE_CAPACITY`](crate::pipeline::DEFAULT_QUEUE_CAPACITY)).
    pub queue_capacity: Option<usize>,
    /// Records per batch (default
    /// [`DEFAULT_BATCH_SIZE`](crate::pipeline::DEFAULT_BATCH_SIZE)).
    pub batch_size: Option<usize>,
    /// Batches each sink may have queued (default
    /// [`DEFAULT_SINK_QUEUE_BATCHES`](crate::pipeline::DEFAULT_SINK_QUEUE_BATCHES)).
    pub sink_queue_batches: Option<usize>,
    /// How long shutdown waits for queued records (default
    /// [`DEFAULT_SHUTDOWN_TIMEOUT`](crate::pipeline::DEFAULT_SHUTDOWN_TIMEOUT)).
    pub shutdown_timeout: Option<String>,
}

/// `[sampling]`: keep a fraction of the successful, fast requests; errors
/// (status 400 and above, or none), aborted and slow requests are always kept
/// (see [`Sampling`](crate::Sampling)).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SamplingConfig {
    /// The fraction kept, from `0.000001` to `1` (default `1`: all).
    pub keep: Option<f64>,
    /// Requests taking at least this long are always kept (`"1s"`).
    pub slow: Option<String>,
}

/// `[[skip]]`: one rule; a request matching every field set gets no record.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SkipConfig {
    /// Route template, or path prefix at a segment boundary (`/health`).
    pub route: Option<String>,
    /// HTTP method (`OPTIONS`).
    pub method: Option<String>,
    /// Response statuses (`[404]`).
    #[serde(default)]
    pub status: Vec<u16>,
}

/// `[[sinks]]`: one destination; `type` selects the kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum SinkConfig {
    /// NDJSON to standard output.
    Stdout {},
    /// NDJSON appended to one file.
    File {
        /// The file's path.
        path: PathBuf,
        /// `fsync` after each flush (default false).
        #[serde(default)]
        fsync: bool,
        /// Each line: `ndjson` (default), `clf` or `combined`.
        #[serde(default)]
        format: crate::record::LineFormat,
    },
    /// NDJSON files per UTC day with rotation, compression and retention.
    Rolling(Box<RollingSettings>),
    /// Each record as one `tracing` event.
    Tracing(TracingSettings),
    /// RFC 5424 syslog messages.
    Syslog(Box<SyslogSettings>),
    /// Batches to an HTTP collector (feature `http`), see
    /// [`HttpSinkSettings`](crate::sink::http::HttpSinkSettings).
    #[cfg(feature = "http")]
    Http(Box<crate::sink::http::HttpSinkSettings>),
    /// An HTTP collector sink in a build without the `http` feature: the
    /// type is known, so the file parses, and checking it names the feature
    /// to enable.
    #[cfg(not(feature = "http"))]
    Http(NotBuilt),
}

/// The settings of a sink type this build of privlog leaves out: accepted
/// as written and never used. Checking a configuration that holds one fails
/// with [`ConfigError::Invalid`] naming the Cargo feature to enable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NotBuilt {}

impl<'de> Deserialize<'de> for NotBuilt {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer).map(|_| NotBuilt {})
    }
}

/// The error for a sink of type `kind` in a build that leaves out the
/// Cargo `feature` it needs.
#[cfg_attr(feature = "http", allow(dead_code))]
fn not_built_error(kind: &str, feature: &str) -> ConfigError {
    ConfigError::invalid(
        "sinks.type",
        format!(
            "sink type `{kind}` needs privlog built with the `{feature}` feature; rebuild with `--features              {feature}` (the `privlog` command line has it), or remove this sink"
        ),
    )
}

impl SinkConfig {
    /// The sink's kind, as written in `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkConfig::Stdout {} => "stdout",
            SinkConfig::File { .. } => "file",
            SinkConfig::Rolling(_) => "rolling",
            SinkConfig::Tracing(_) => "tracing",
            SinkConfig::Syslog(_) => "syslog",
            SinkConfig::Http(_) => "http",
        }
    }

    /// A one-line description for `privlog check` (never contains credentials).
    pub fn describe(&self) -> String {
        match self {
            SinkConfig::Stdout {} => "stdout (NDJSON)".to_owned(),
            SinkConfig::File { path, fsync, format } => {
                format!("file {} ({}, fsync on flush: {fsync})", path.display(), format.name())
            }
            SinkConfig::Rolling(r) => r.describe(),
            SinkConfig::Tracing(t) => t.describe(),
            SinkConfig::Syslog(s) => s.describe(),
            #[cfg(feature = "http")]
            SinkConfig::Http(h) => h.describe(),
            #[cfg(not(feature = "http"))]
            SinkConfig::Http(_) => "http (not built: needs the `http` feature)".to_owned(),
        }
    }

    /// Checks the settings without touching the file system.
    fn check(&self) -> Result<(), ConfigError> {
        match self {
            SinkConfig::Stdout {} | SinkConfig::File { .. } => Ok(()),
            SinkConfig::Rolling(r) => r.check().map_err(sink_error),
            SinkConfig::Tracing(t) => t.validate().map_err(sink_error),
            SinkConfig::Syslog(s) => s.check().map_err(sink_error),
            #[cfg(feature = "http")]
            SinkConfig::Http(h) => h.check().map_err(sink_error),
            #[cfg(not(feature = "http"))]
            SinkConfig::Http(_) => Err(not_built_error("http", "http")),
        }
    }

    /// Checks everything building the sink checks, creating and opening
    /// nothing: the settings, the files it reads (CA certificates), and
    /// that the paths it opens or creates can be what they name.
    fn validate(&self) -> Result<(), ConfigError> {
        match self {
            SinkConfig::Stdout {} => Ok(()),
            SinkConfig::File { path, .. } => {
                crate::sink::paths::check_file(path).map_err(|e| ConfigError::invalid("sinks.file.path", e))
            }
            SinkConfig::Rolling(r) => r.validate().map_err(sink_error),
            SinkConfig::Tracing(t) => t.validate().map_err(sink_error),
            SinkConfig::Syslog(s) => s.validate().map_err(sink_error),
            #[cfg(feature = "http")]
            SinkConfig::Http(h) => h.validate().map_err(sink_error),
            #[cfg(not(feature = "http"))]
            SinkConfig::Http(_) => Err(not_built_error("http", "http")),
        }
    }

    /// Validates, then opens the sink.
    fn build(&self) -> Result<Box<dyn Sink>, ConfigError> {
        self.validate()?;
        Ok(match self {
            SinkConfig::Stdout {} => Box::new(WriterSink::stdout()),
            SinkConfig::File { path, fsync, format } => Box::new(
                FileSink::open(path)
                    .map_err(|e| ConfigError::invalid("sinks.file.path", e.to_string()))?
                    .sync_on_flush(*fsync)
                    .format(*format),
            ),
            SinkConfig::Rolling(r) => Box::new(r.build().map_err(sink_error)?),
            SinkConfig::Tracing(t) => Box::new(t.build().map_err(sink_error)?),
            SinkConfig::Syslog(s) => Box::new(s.build().map_err(sink_error)?),
            #[cfg(feature = "http")]
            SinkConfig::Http(h) => Box::new(h.build().map_err(sink_error)?),
            #[cfg(not(feature = "http"))]
            SinkConfig::Http(_) => return Err(not_built_error("http", "http")),
        })
    }

    /// Every path the sink opens, creates, reads or connects to, with its
    /// field and an example of a good value.
    fn paths(&self) -> Vec<(&'static str, &Path, &'static str)> {
        match self {
            SinkConfig::File { path, .. } => vec![("sinks.file.path", path, "/var/log/myapp/requests.ndjson")],
            SinkConfig::Rolling(r) => vec![("sinks.rolling.dir", &r.dir, "/var/log/myapp")],
            SinkConfig::Syslog(s) => {
                let mut out = vec![(
                    "sinks.syslog.address",
                    Path::new(&s.address),
                    "/dev/log or 127.0.0.1:514",
                )];
                if let Some(ca) = &s.ca_file {
                    out.push(("sinks.syslog.ca_file", ca, "/etc/ssl/certs/my-ca.pem"));
                }
                out
            }
            #[cfg(feature = "http")]
            SinkConfig::Http(h) => [
                (
                    "sinks.http.spool_dir",
                    h.spool_dir.as_deref(),
                    "/var/lib/myapp/privlog-spool",
                ),
                (
                    "sinks.http.dead_letter",
                    h.dead_letter.as_deref(),
                    "/var/lib/myapp/privlog-rejected.ndjson",
                ),
                ("sinks.http.ca_file", h.ca_file.as_deref(), "/etc/ssl/certs/my-ca.pem"),
            ]
            .into_iter()
            .filter_map(|(field, p, example)| Some((field, p?, example)))
            .collect(),
            _ => Vec::new(),
        }
    }

    /// The paths of [`SinkConfig::paths`] that name a file (not a
    /// directory, not a socket address).
    fn file_paths(&self) -> Vec<(&'static str, &Path, &'static str)> {
        const FILE_FIELDS: [&str; 4] = [
            "sinks.file.path",
            "sinks.http.dead_letter",
            "sinks.http.ca_file",
            "sinks.syslog.ca_file",
        ];
        self.paths()
            .into_iter()
            .filter(|(field, ..)| FILE_FIELDS.contains(field))
            .collect()
    }

    /// Every name the sink shows or builds file names or messages from,
    /// with its field and an example of a good value.
    fn names(&self) -> Vec<(&'static str, &str, &'static str)> {
        let out: Vec<(&'static str, Option<&str>, &'static str)> = match self {
            SinkConfig::Rolling(r) => vec![("sinks.rolling.prefix", Some(r.prefix.as_str()), "requests")],
            SinkConfig::Syslog(s) => vec![
                ("sinks.syslog.app_name", s.app_name.as_deref(), "privlog"),
                ("sinks.syslog.hostname", s.hostname.as_deref(), "web-1"),
                ("sinks.syslog.server_name", s.server_name.as_deref(), "logs.example.com"),
            ],
            #[cfg(feature = "http")]
            SinkConfig::Http(h) => vec![
                ("sinks.http.table", h.table.as_deref(), "privlog_requests"),
                ("sinks.http.service_name", h.service_name.as_deref(), "myapp"),
            ],
            _ => Vec::new(),
        };
        out.into_iter()
            .filter_map(|(field, name, example)| Some((field, name?, example)))
            .collect()
    }

    /// What the sink writes to, each with its field and the path as
    /// written, `locate` applied to the path.
    fn destinations(&self, locate: &impl Fn(&Path) -> PathBuf) -> Vec<(&'static str, Destination, String)> {
        match self {
            SinkConfig::File { path, .. } => vec![(
                "sinks.file.path",
                Destination::File(locate(path)),
                path.display().to_string(),
            )],
            SinkConfig::Rolling(r) => vec![(
                "sinks.rolling.dir",
                Destination::Rolling(locate(&r.dir), r.prefix.clone()),
                format!("{}.*", r.dir.join(&r.prefix).display()),
            )],
            #[cfg(feature = "http")]
            SinkConfig::Http(h) => {
                let mut out = Vec::new();
                if let Some(d) = &h.spool_dir {
                    out.push((
                        "sinks.http.spool_dir",
                        Destination::Spool(locate(d)),
                        d.display().to_string(),
                    ));
                }
                if let Some(f) = &h.dead_letter {
                    out.push((
                        "sinks.http.dead_letter",
                        Destination::File(locate(f)),
                        f.display().to_string(),
                    ));
                }
                out
            }
            _ => Vec::new(),
        }
    }
}

/// Where a sink writes.
#[derive(PartialEq, Eq)]
enum Destination {
    /// One file it appends to.
    File(PathBuf),
    /// The files of a prefix in a directory.
    Rolling(PathBuf, String),
    /// A spool directory.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    Spool(PathBuf),
}

/// The prefix of every variable privlog reads by default (`PRIVLOG_KEY`,
/// `PRIVLOG__…` overrides).
const VAR_PREFIX: &str = "PRIVLOG_";

/// The names of variables whose value is not UTF-8.
type NotUtf8 = std::collections::BTreeSet<String>;

/// Splits an environment as `std::env::vars_os()` gives it into its UTF-8
/// variables and the names of those whose value is not UTF-8. A variable
/// whose name or value is not UTF-8 and whose name starts with `PRIVLOG_` is
/// refused; other such variables are left out (a name that is not UTF-8
/// cannot be one privlog reads).
fn utf8_env<I>(vars: I) -> Result<(Vec<(String, String)>, NotUtf8), ConfigError>
where
    I: IntoIterator<Item = (OsString, OsString)>,
{
    let mut env = Vec::new();
    let mut not_utf8 = std::collections::BTreeSet::new();
    for (name, value) in vars {
        match (name.into_string(), value.into_string()) {
            (Ok(name), Ok(value)) => env.push((name, value)),
            (Ok(name), Err(_)) => {
                if name.to_ascii_uppercase().starts_with(VAR_PREFIX) {
                    return Err(not_utf8_error(&name));
                }
                not_utf8.insert(name);
            }
            (Err(name), _) => {
                if name
                    .as_encoded_bytes()
                    .to_ascii_uppercase()
                    .starts_with(VAR_PREFIX.as_bytes())
                {
                    return Err(ConfigError::Env {
                        var: "starting with PRIVLOG_ (the name is not shown)".to_owned(),
                        reason: "its name is not valid UTF-8; rename or unset it".to_owned(),
                    });
                }
            }
        }
    }
    Ok((env, not_utf8))
}

/// The error for a variable privlog reads whose value is not UTF-8.
fn not_utf8_error(name: &str) -> ConfigError {
    // A name can hold a key (`PRIVLOG__KEY__<hex>`): such a one is not shown.
    let var = if std::iter::once(name)
        .chain(name.split('_'))
        .any(|part| crate::secret_shape::secret_shape(part).is_some())
    {
        "starting with PRIVLOG_ (the name is not shown)".to_owned()
    } else {
        name.to_owned()
    };
    ConfigError::Env {
        var,
        reason: "its value is not valid UTF-8 (the value is not shown); set it to UTF-8 text, e.g. 64 hex \
                 characters for a key, or unset it"
            .to_owned(),
    }
}

/// A policy the builder refused, under the `[policy]` field at fault.
fn policy_error(e: PolicyError) -> ConfigError {
    ConfigError::invalid(format!("policy.{}", e.field()), e.to_string())
}

/// A sink's bad field, under its place in the file (`sinks.rolling.max_age`).
fn sink_error(e: SettingsError) -> ConfigError {
    ConfigError::invalid(format!("sinks.{}.{}", e.sink, e.field), e.reason)
}

/// Why a configuration could not be loaded or used.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML did not parse or did not match the schema (unknown field, wrong type).
    Parse(String),
    /// A field has a value that cannot work.
    Invalid {
        /// The field, as a dotted path (`policy.rotation`).
        field: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The layer could not be built.
    Build(BuildError),
    /// An environment variable privlog reads cannot be used (its value is
    /// never shown).
    Env {
        /// The variable's name, or a description when the name cannot be
        /// shown.
        var: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
}

impl ConfigError {
    fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, .. } => write!(f, "cannot read config file {}", path.display()),
            ConfigError::Parse(msg) => write!(f, "invalid config: {msg}"),
            ConfigError::Invalid { field, reason } => write!(f, "invalid config field `{field}`: {reason}"),
            ConfigError::Build(e) => write!(f, "cannot start privlog from config: {e}"),
            ConfigError::Env { var, reason } => write!(f, "environment variable {var}: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } => Some(source),
            ConfigError::Build(e) => Some(e),
            _ => None,
        }
    }
}

impl Config {
    /// Reads and validates a configuration file, applying the `PRIVLOG__…`
    /// overrides found in `env`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, field and reason; a `path` that looks
    /// like a key or token is refused without being shown.
    pub fn load<I>(path: &Path, env: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        if let Some(shape) = crate::secret_shape::path_secret_shape(path) {
            return Err(ConfigError::Parse(format!(
                "the path of the configuration file looks like {}, not a path; name the file, e.g. \
                 /etc/myapp/privlog.toml (the value is not shown; a path that only looks like this can be written \
                 starting with ./ or /)",
                shape.describe()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, env)
    }

    /// [`Config::load`] with the environment as `std::env::vars_os()` gives
    /// it: `Config::load_os(path, std::env::vars_os())`. A variable that is
    /// not UTF-8 is left out; one whose name starts with `PRIVLOG_`, or the
    /// one `key.env` names, is refused, its value not shown.
    ///
    /// # Errors
    /// As [`Config::load`], and [`ConfigError::Env`] for such a variable.
    pub fn load_os<I>(path: &Path, env: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (OsString, OsString)>,
    {
        let (env, not_utf8) = utf8_env(env)?;
        let mut cfg = Self::load(path, env)?;
        cfg.set_not_utf8(not_utf8)?;
        Ok(cfg)
    }

    /// [`Config::from_toml`] with the environment as `std::env::vars_os()`
    /// gives it; variables that are not UTF-8 as in [`Config::load_os`].
    ///
    /// # Errors
    /// As [`Config::from_toml`], and [`ConfigError::Env`] for a `PRIVLOG_`
    /// variable or the key's variable that is not UTF-8.
    pub fn from_toml_os<I>(text: &str, env: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (OsString, OsString)>,
    {
        let (env, not_utf8) = utf8_env(env)?;
        let mut cfg = Self::from_toml(text, env)?;
        cfg.set_not_utf8(not_utf8)?;
        Ok(cfg)
    }

    /// Records the variables left out for not being UTF-8; refuses the key's.
    fn set_not_utf8(&mut self, not_utf8: NotUtf8) -> Result<(), ConfigError> {
        if let Some(var) = self.key.env.as_ref().filter(|v| not_utf8.contains(*v)) {
            return Err(not_utf8_error(var));
        }
        self.not_utf8 = not_utf8;
        Ok(())
    }

    /// Parses and checks configuration text, applying the `PRIVLOG__…`
    /// overrides found in `env`. Touches no file: [`Config::validate`] also
    /// loads the key and checks the paths.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field and reason, never a value that can
    /// be a secret.
    pub fn from_toml<I>(text: &str, env: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let env: BTreeMap<String, String> = env.into_iter().collect();
        let doc: toml::Table = toml::from_str(text).map_err(|e| syntax_error(&e, text))?;
        let mut root = toml::Value::Table(doc);
        let names = names::take_names(&mut root)?;
        let mut secrets = Secrets::default();
        for (name, value) in &env {
            if let Some(path) = name.strip_prefix(ENV_PREFIX) {
                // The name is shown in messages and masks: one that holds a
                // key (`PRIVLOG__KEY__<hex>`) is refused without it.
                if let Some(shape) = path.split("__").find_map(crate::secret_shape::secret_shape) {
                    return Err(ConfigError::invalid(
                        ENV_PREFIX,
                        format!(
                            "the name of an environment override looks like it holds {}; an override is \
                             PRIVLOG__FIELD__SUBFIELD=value, e.g. PRIVLOG__KEY__ENV=PRIVLOG_KEY (the name is not \
                             shown)",
                            shape.describe()
                        ),
                    ));
                }
                // Whatever a variable holds may be a secret: a misspelt
                // override (`PRIVLOG__KEY` for `PRIVLOG_KEY`) holds the key.
                secrets.add(&format!("<value of {name}>"), value);
                apply_override(&mut root, path, value, &names)?;
            }
        }
        // Which record fields each sink receives (taken out of its table
        // before the table is read as the sink's settings).
        let sink_fields = take_sink_fields(&mut root).map_err(|e| secrets.mask_error(e))?;
        // A sink table that does not match its type's schema is named with
        // its place in the file.
        let positions = names::sink_positions(text);
        if let Some(toml::Value::Array(sinks)) = root.get("sinks") {
            for (i, sink) in sinks.iter().enumerate() {
                if let Err(e) = SinkConfig::deserialize(sink.clone()) {
                    let e = secrets.mask_error(schema_error(&e));
                    return Err(names::at_sink(e, i, names.get(i), positions.get(i).copied().flatten()));
                }
            }
        }
        let mut cfg: Config = Config::deserialize(root).map_err(|e| secrets.mask_error(schema_error(&e)))?;
        cfg.sink_fields = sink_fields;
        if let Some(value) = cfg.key.env.as_ref().and_then(|var| env.get(var)) {
            secrets.add("<the key>", value);
        }
        #[cfg(feature = "http")]
        for sink in &cfg.sinks {
            if let SinkConfig::Http(h) = sink {
                for (name, value) in &h.headers {
                    secrets.add(&format!("<value of header {name}>"), value);
                }
            }
        }
        cfg.env = env;
        cfg.secrets = secrets;
        cfg.sink_names = names;
        cfg.sink_positions = positions;
        cfg.check().map(drop).map_err(|e| cfg.secrets.mask_error(e))?;
        Ok(cfg)
    }

    /// Checks every field without touching the file system; returns the
    /// builder with the policy and pipeline settings, checked.
    fn check(&self) -> Result<Builder, ConfigError> {
        if let Some(var) = &self.key.env {
            check_var_name(var).map_err(|e| ConfigError::invalid("key.env", e))?;
        }
        self.check_paths_are_paths()?;
        let settings = self.settings()?;
        for (i, sink) in self.sinks.iter().enumerate() {
            sink.check().map_err(|e| self.at_sink(i, e))?;
        }
        if self.sinks.is_empty() {
            return Err(ConfigError::invalid(
                "sinks",
                "no sink configured; add at least one [[sinks]] table, e.g. type = \"stdout\"",
            ));
        }
        // The same files, written as the same path.
        self.check_destinations(|p| p.components().collect())?;
        Ok(settings)
    }

    /// Refuses two sinks that write to the same files: the same file (file
    /// sink or dead-letter file), the same directory and prefix of rolling
    /// files, or the same spool directory. Each would write every record
    /// twice, or two writers would interleave, rotate and delete each
    /// other's files. `locate` gives what a path is compared as: the path
    /// with its `.` and trailing `/` removed, or where it really is.
    fn check_destinations(&self, locate: impl Fn(&Path) -> PathBuf) -> Result<(), ConfigError> {
        let mut seen: Vec<(usize, Destination)> = Vec::new();
        for (i, sink) in self.sinks.iter().enumerate() {
            for (field, dest, shown) in sink.destinations(&locate) {
                if let Some((j, _)) = seen.iter().find(|(_, d)| *d == dest) {
                    let reason = match &dest {
                        Destination::Spool(_) => {
                            format!("sinks {j} and {i} share the spool directory {shown}; give each sink its own")
                        }
                        Destination::File(_) => {
                            format!("sinks {j} and {i} both write the file {shown}; give each sink its own file")
                        }
                        Destination::Rolling(..) => format!(
                            "sinks {j} and {i} both write the files {shown}, so every record would be written \
                             twice; give each sink its own directory or prefix"
                        ),
                    };
                    return Err(ConfigError::invalid(field, reason));
                }
                seen.push((i, dest));
            }
        }
        Ok(())
    }

    /// Refuses a path or a name (a rolling prefix, a syslog app name, an
    /// HTTP table) that looks like a key or another secret (a key written
    /// where its file's path belongs): every message about the path, and
    /// `privlog check`, would show it.
    fn check_paths_are_paths(&self) -> Result<(), ConfigError> {
        let key = self
            .key
            .file
            .as_deref()
            .map(|p| ("key.file", p, "/etc/privlog/privlog.key"));
        let sinks = self.sinks.iter().flat_map(SinkConfig::paths);
        for (field, path, example) in key.into_iter().chain(sinks) {
            if let Some(shape) = crate::secret_shape::path_secret_shape(path) {
                return Err(ConfigError::invalid(field, path_refusal(shape, example)));
            }
        }
        // `x.ndjson/` names a directory: opening it as a file fails.
        for (field, path, example) in self.sinks.iter().flat_map(SinkConfig::file_paths) {
            if let Some(e) = crate::sink::paths::directory_syntax(path) {
                return Err(ConfigError::invalid(field, format!("{e}, e.g. {example}")));
            }
        }
        for (field, name, example) in self.sinks.iter().flat_map(SinkConfig::names) {
            if let Some(shape) = crate::secret_shape::secret_shape(name) {
                return Err(ConfigError::invalid(
                    field,
                    format!(
                        "this looks like {}, not a name; write a name, e.g. {example} (the value is not shown)",
                        shape.describe()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Each sink's name, in the order of [`Config::sinks`]: its `name`, or
    /// by default its type (`http`), `<type>-<n>` when several sinks share
    /// the type (`file-1`, `file-2`). Environment overrides address a sink
    /// by it: `PRIVLOG__SINKS__<NAME>__FIELD`.
    pub fn sink_names(&self) -> &[String] {
        &self.sink_names
    }

    /// `e`, about sink `i`, with the sink's name and where its table starts
    /// in the file.
    fn at_sink(&self, i: usize, e: ConfigError) -> ConfigError {
        names::at_sink(
            e,
            i,
            self.sink_names.get(i),
            self.sink_positions.get(i).copied().flatten(),
        )
    }

    /// Everything [`Config::build`] checks before it opens a sink or starts
    /// a thread, and in the same code: every field and size, the key (read
    /// from its variable or file), the files sinks read, and that the paths
    /// sinks open or create can be what they name. Creates nothing; this is
    /// what `privlog check` runs.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field and reason.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.prepare().map(drop)
    }

    /// A builder with the policy, pipeline settings and key, every sink
    /// validated but none opened yet.
    fn prepare(&self) -> Result<Builder, ConfigError> {
        let masked = |e| self.secrets.mask_error(e);
        let mut b = self.check().map_err(masked)?;
        match self.ring_key()? {
            Some(RingKey::Master(k)) => b = b.key(k),
            Some(RingKey::Ratchet(k)) => b = b.ratchet_key(k),
            _ => {}
        }
        for (i, sink) in self.sinks.iter().enumerate() {
            sink.validate().map_err(|e| masked(self.at_sink(i, e)))?;
        }
        // The same files under other names: links, `..`, another spelling.
        self.check_destinations(crate::sink::paths::real_location)
            .map_err(masked)?;
        Ok(b)
    }

    /// The effective privacy policy.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the bad field.
    pub fn policy(&self) -> Result<Policy, ConfigError> {
        self.policy_unmasked().map_err(|e| self.secrets.mask_error(e))
    }

    fn policy_unmasked(&self) -> Result<Policy, ConfigError> {
        let p = &self.policy;
        let mut policy = match p.preset {
            Preset::Default => Policy::default(),
            Preset::AtlassianConnect => Policy::atlassian_connect(),
        };
        if let Some(r) = &p.rotation {
            policy = policy.rotation(
                r.parse::<Rotation>()
                    .map_err(|e| ConfigError::invalid("policy.rotation", e))?,
            );
        }
        let truncate = IpPolicy::Truncate {
            v4_prefix: p.ipv4_prefix.unwrap_or(defaults::IPV4_PREFIX),
            v6_prefix: p.ipv6_prefix.unwrap_or(defaults::IPV6_PREFIX),
        };
        // The prefixes are checked whatever the mode: a wrong one is a
        // mistake even where it is not used.
        truncate.check().map_err(policy_error)?;
        let ip = match p.ip.as_deref().unwrap_or("truncate") {
            "truncate" => truncate,
            "pseudonymize" => IpPolicy::Pseudonymize,
            "pseudonymize-daily" => IpPolicy::PseudonymizeDaily,
            "drop" => IpPolicy::Drop,
            "keep" => IpPolicy::Keep,
            other => {
                return Err(ConfigError::invalid(
                    "policy.ip",
                    format!(
                        "unknown value {other:?}; expected truncate, pseudonymize, pseudonymize-daily, drop or keep"
                    ),
                ));
            }
        };
        policy = policy.ip(ip);
        policy = policy.trusted_proxies(
            TrustedProxies::parse(&p.trusted_proxies)
                .map_err(|e| ConfigError::invalid("policy.trusted_proxies", e.to_string()))?,
        );
        let q = policy
            .get_query()
            .clone()
            .allow(p.query_allow.iter().cloned())
            .deny(p.query_deny.iter().cloned());
        policy = policy.query(q);
        for (field, names, tenant) in [
            ("policy.account_headers", &p.account_headers, false),
            ("policy.tenant_headers", &p.tenant_headers, true),
        ] {
            for n in names {
                let name = http::HeaderName::from_bytes(n.as_bytes())
                    .map_err(|_| ConfigError::invalid(field, format!("{n:?} is not a valid header name")))?;
                policy = if tenant {
                    policy.tenant_header(name)
                } else {
                    policy.account_header(name)
                };
            }
        }
        for k in &p.account_query {
            policy = policy.account_query_param(k.clone());
        }
        for k in &p.tenant_query {
            policy = policy.tenant_query_param(k.clone());
        }
        if let Some(on) = p.path_account_ids {
            policy = policy.path_account_ids(on);
        }
        if let Some(path) = p.path {
            policy = policy.path_policy(path);
        }
        policy = policy.safe_words(p.safe_words.iter().cloned());
        for rule in &p.rules {
            policy = policy.rule(rule.clone());
        }
        // Checked once, when the builder compiles it (see `settings`).
        Ok(policy)
    }

    /// `[sampling]` and `[[skip]]` as rules.
    fn sampling_rules(&self) -> Result<crate::Sampling, ConfigError> {
        let mut rules = crate::Sampling::new();
        if let Some(keep) = self.sampling.keep {
            let rate = crate::SampleRate::new(keep).ok_or_else(|| {
                ConfigError::invalid(
                    "sampling.keep",
                    format!("{keep} is not a fraction; use a value from 0.000001 to 1 (0.1 keeps one in ten)"),
                )
            })?;
            rules = rules.keep(rate);
        }
        if let Some(slow) = &self.sampling.slow {
            rules = rules.slow(parse_duration(slow).map_err(|e| ConfigError::invalid("sampling.slow", e))?);
        }
        for (i, s) in self.skip.iter().enumerate() {
            let field = |name: &str| format!("skip[{i}].{name}");
            let mut rule = crate::Skip::default();
            if let Some(route) = &s.route {
                if !route.starts_with('/') {
                    return Err(ConfigError::invalid(
                        field("route"),
                        format!("{route:?} is not a path; start it with / (\"/health\")"),
                    ));
                }
                rule = rule.and_route(route.clone());
            }
            if let Some(m) = &s.method {
                let method = http::Method::from_bytes(m.to_ascii_uppercase().as_bytes()).map_err(|_| {
                    ConfigError::invalid(
                        field("method"),
                        format!("{m:?} is not an HTTP method; use e.g. \"OPTIONS\""),
                    )
                })?;
                rule = rule.and_method(method);
            }
            if let Some(bad) = s.status.iter().find(|&&c| !(100..=599).contains(&c)) {
                return Err(ConfigError::invalid(
                    field("status"),
                    format!("{bad} is not an HTTP status; use codes from 100 to 599"),
                ));
            }
            if !s.status.is_empty() {
                rule = rule.and_status(s.status.iter().copied());
            }
            if rule.is_empty() {
                return Err(ConfigError::invalid(
                    format!("skip[{i}]"),
                    "the rule names nothing to skip; set route, method or status",
                ));
            }
            rules = rules.skip(rule);
        }
        Ok(rules)
    }

    /// The shutdown deadline.
    fn shutdown_timeout(&self) -> Result<Duration, ConfigError> {
        match &self.pipeline.shutdown_timeout {
            Some(s) => parse_duration(s).map_err(|e| ConfigError::invalid("pipeline.shutdown_timeout", e)),
            None => Ok(crate::pipeline::DEFAULT_SHUTDOWN_TIMEOUT),
        }
    }

    /// A builder with the policy and the pipeline settings, checked with the
    /// very check [`Builder::build`] runs.
    fn settings(&self) -> Result<Builder, ConfigError> {
        let mut b = crate::builder()
            .policy(self.policy_unmasked()?)
            .shutdown_timeout(self.shutdown_timeout()?);
        if let Some(n) = self.pipeline.queue_capacity {
            b = b.queue_capacity(n);
        }
        if let Some(path) = &self.policy.suppression_file {
            b = b.suppression_file(path.clone());
        }
        if let Some(n) = self.pipeline.batch_size {
            b = b.batch_size(n);
        }
        if let Some(n) = self.pipeline.sink_queue_batches {
            b = b.sink_queue_batches(n);
        }
        b = b.sampling(self.sampling_rules()?);
        b.check().map_err(|e| match e {
            BuildError::OutOfRange(e) => ConfigError::invalid(format!("pipeline.{}", e.setting), e.to_string()),
            BuildError::Policy(e) => policy_error(e),
            other => ConfigError::Build(other),
        })?;
        Ok(b)
    }

    /// The master key, from `key.file` or the variable named by `key.env`;
    /// `None` when neither is set.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] when the source is set but unusable. The
    /// message never holds the key, nor `key.env` when it is not a variable
    /// name.
    /// `None` too when `key.file` holds a ratchet key ([`Config::ring_key`]).
    pub fn master_key(&self) -> Result<Option<MasterKey>, ConfigError> {
        match self.ring_key()? {
            Some(RingKey::Master(k)) => Ok(Some(k)),
            _ => Ok(None),
        }
    }

    /// The key new records are written with, master or ratchet key, from
    /// `key.file` (its newest key) or the variable named by `key.env` (a
    /// master key); `None` when neither is set.
    ///
    /// # Errors
    /// As [`Config::master_key`].
    pub fn ring_key(&self) -> Result<Option<RingKey>, ConfigError> {
        self.ring_key_unmasked().map_err(|e| self.secrets.mask_error(e))
    }

    fn ring_key_unmasked(&self) -> Result<Option<RingKey>, ConfigError> {
        if let Some(var) = &self.key.env {
            check_var_name(var).map_err(|e| ConfigError::invalid("key.env", e))?;
            if self.not_utf8.contains(var) {
                return Err(not_utf8_error(var));
            }
            let hex = self.env.get(var).ok_or_else(|| {
                ConfigError::invalid(
                    "key.env",
                    format!("environment variable {var} is not set; export it with the 64-hex-character key"),
                )
            })?;
            return MasterKey::from_hex(hex)
                .map(|k| Some(RingKey::Master(k)))
                .map_err(|e| ConfigError::invalid("key.env", format!("{var}: {e}")));
        }
        if let Some(path) = &self.key.file {
            // A key file may hold a ring of keys; new records use the newest.
            let ring =
                crate::policy::KeyRing::load(path).map_err(|e| ConfigError::invalid("key.file", e.to_string()))?;
            return ring.newest().map(Some).ok_or_else(|| {
                ConfigError::invalid(
                    "key.file",
                    format!(
                        "{} holds no key; create one with `privlog keygen -o {}`",
                        path.display(),
                        path.display()
                    ),
                )
            });
        }
        Ok(None)
    }

    /// A builder with the key, policy, pipeline settings and sinks of this
    /// file. Everything is validated ([`Config::validate`]) before the first
    /// sink is opened.
    ///
    /// # Errors
    /// [`ConfigError`] when a setting is invalid, or the key or a sink cannot
    /// be set up.
    pub fn builder(&self) -> Result<Builder, ConfigError> {
        let mut b = self.prepare()?;
        for (i, s) in self.sinks.iter().enumerate() {
            let inner = s.build().map_err(|e| self.secrets.mask_error(self.at_sink(i, e)))?;
            let named: Box<dyn Sink> = match self.sink_names.get(i) {
                Some(name) => Box::new(named::Named {
                    name: name.clone(),
                    inner,
                }),
                None => inner,
            };
            b = match self.fields_of(i) {
                f if f.is_all() => b.boxed_sink(named),
                f => b.sink(crate::sink::Minimized::new(named, f)),
            };
        }
        Ok(b)
    }

    /// Builds the layer and starts the pipeline.
    ///
    /// # Errors
    /// [`ConfigError`] when a setting is invalid, or the key, a sink or the
    /// pipeline cannot be set up.
    pub fn build(&self) -> Result<(PrivlogLayer, WorkerGuard), ConfigError> {
        self.builder()?.build().map_err(ConfigError::Build)
    }

    /// A human-readable summary of the effective settings: policy, key source
    /// and fingerprint, pipeline, sinks. Never contains the key.
    ///
    /// # Errors
    /// [`ConfigError`] when a setting is invalid or the key cannot be loaded.
    pub fn describe(&self) -> Result<String, ConfigError> {
        let policy = self.policy()?;
        let kid = match self.ring_key()? {
            Some(RingKey::Master(k)) => Some(k.id().as_str().to_owned()),
            Some(RingKey::Ratchet(k)) => Some(format!(
                "{}, ratchet key, rotation {} replaces the policy's, oldest epoch {}",
                k.id(),
                k.rotation().as_str(),
                k.oldest_epoch()
            )),
            _ => None,
        };
        let key = match (kid, &self.key.env, &self.key.file) {
            (Some(k), Some(var), _) => format!("from environment variable {var} (kid {k})"),
            (Some(k), None, Some(path)) => format!("from file {} (kid {k})", path.display()),
            _ => "none: a random key per process (pseudonyms change at every restart)".to_owned(),
        };
        let mut out = format!("key:              {key}\n{}", policy.describe());
        if let Some(path) = &self.policy.suppression_file {
            out.push_str(&format!("suppression file: {}\n", path.display()));
        }
        out.push_str(&format!(
            "queue capacity:   {}\nshutdown timeout: {:?}\nsinks:\n",
            self.pipeline
                .queue_capacity
                .unwrap_or(crate::pipeline::DEFAULT_QUEUE_CAPACITY),
            self.shutdown_timeout().map_err(|e| self.secrets.mask_error(e))?
        ));
        for (i, s) in self.sinks.iter().enumerate() {
            let fields = self.fields_of(i);
            out.push_str(&format!(
                "  - {}\n    fields: {}\n",
                s.describe(),
                fields.names().join(", ")
            ));
            if !fields.is_all() {
                out.push_str(&format!(
                    "    omitted: {}\n",
                    fields.to_string().trim_start_matches("all but ")
                ));
            }
        }
        Ok(out)
    }

    /// The record fields sink `i` receives (every field unless its table
    /// has `fields` or `omit`).
    pub fn fields_of(&self, i: usize) -> Fields {
        self.sink_fields.get(i).copied().unwrap_or_default()
    }
}

/// Takes `fields` and `omit` out of every `[[sinks]]` table (they are
/// common to every kind of sink, whose own settings refuse unknown fields)
/// and parses them, in the order of the tables.
fn take_sink_fields(root: &mut toml::Value) -> Result<Vec<Fields>, ConfigError> {
    let Some(toml::Value::Array(sinks)) = root.get_mut("sinks") else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(sinks.len());
    for table in sinks.iter_mut() {
        let Some(table) = table.as_table_mut() else {
            out.push(Fields::all());
            continue;
        };
        let kind = table
            .get("type")
            .and_then(toml::Value::as_str)
            .unwrap_or("?")
            .to_owned();
        let names = |key: &str, value: Option<toml::Value>| -> Result<Option<Vec<String>>, ConfigError> {
            let Some(value) = value else { return Ok(None) };
            let field = format!("sinks.{kind}.{key}");
            let list = value.as_array().ok_or_else(|| {
                ConfigError::invalid(
                    &field,
                    format!("expected a list of field names, e.g. {key} = [\"account\", \"tenant\"]"),
                )
            })?;
            list.iter()
                .map(|v| {
                    v.as_str().map(str::to_owned).ok_or_else(|| {
                        ConfigError::invalid(
                            &field,
                            format!("expected field names as strings, found a {}", v.type_str()),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        };
        let fields = names("fields", table.remove("fields"))?;
        let omit = names("omit", table.remove("omit"))?;
        let set = match (fields, omit) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    format!("sinks.{kind}.fields"),
                    "give either `fields` (what the sink receives) or `omit` (what it does not), not both",
                ));
            }
            (Some(list), None) => Fields::only(list.iter().map(String::as_str))
                .map_err(|e| ConfigError::invalid(format!("sinks.{kind}.fields"), e.to_string()))?,
            (None, Some(list)) => Fields::omitting(list.iter().map(String::as_str))
                .map_err(|e| ConfigError::invalid(format!("sinks.{kind}.omit"), e.to_string()))?,
            (None, None) => Fields::all(),
        };
        out.push(set);
    }
    Ok(out)
}

fn apply_override(root: &mut toml::Value, path: &str, value: &str, sink_names: &[String]) -> Result<(), ConfigError> {
    let mut parts: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
    // A variable name holds no `-`: in the name of an HTTP header, `_` stands
    // for it (`X_CLICKHOUSE_KEY` sets `x-clickhouse-key`), and the header
    // replaces one of the file that differs only in case.
    let header = matches!(parts.as_slice(), [sinks, _, headers, _] if sinks == "sinks" && headers == "headers");
    if header && let Some(name) = parts.last_mut() {
        *name = name.replace('_', "-");
    }
    let field = parts.join(".");
    let parsed: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_owned()));
    let mut cur: &mut toml::Value = root;
    let (last, parents) = parts
        .split_last()
        .ok_or_else(|| ConfigError::invalid(ENV_PREFIX, "empty override name"))?;
    for p in parents {
        cur = match cur {
            toml::Value::Table(t) => t
                .entry(p.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new())),
            toml::Value::Array(a) => {
                // A sink by its name (`PRIVLOG__SINKS__CLICKHOUSE__…`), or
                // any list entry by its index.
                let by_name = sink_names.iter().position(|n| names::normalized(n) == *p);
                let i: usize = match by_name {
                    Some(i) => i,
                    None => p.parse().map_err(|_| {
                        ConfigError::invalid(
                            &field,
                            format!(
                                "{p:?} is neither a sink's name ({}) nor an index into the list",
                                sink_names.join(", ")
                            ),
                        )
                    })?,
                };
                let len = a.len();
                a.get_mut(i).ok_or_else(|| {
                    ConfigError::invalid(&field, format!("index {i} is past the {len} entries in the file"))
                })?
            }
            _ => {
                return Err(ConfigError::invalid(
                    &field,
                    format!("{p:?} is not a table in the file"),
                ));
            }
        };
    }
    match cur {
        toml::Value::Table(t) => {
            if header {
                t.retain(|name, _| !name.eq_ignore_ascii_case(last));
            }
            t.insert(last.clone(), parsed);
            Ok(())
        }
        _ => Err(ConfigError::invalid(
            &field,
            "the parent of this field is not a table in the file",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    const MIN: &str = "[[sinks]]\ntype = \"stdout\"\n";

    #[test]
    fn local_sinks_parse_validate_and_describe() {
        let text = "[[sinks]]\ntype = \"rolling\"\ndir = \"/var/log/app\"\nmax_age = \"30d\"\nschedule = [7, 8, 12]\n\
                    [[sinks]]\ntype = \"tracing\"\nlevel = \"debug\"\n\
                    [[sinks]]\ntype = \"syslog\"\ntransport = \"udp\"\naddress = \"127.0.0.1:514\"\nfacility = \"local3\"\n";
        let cfg = Config::from_toml(text, env(&[])).expect("valid");
        let d = cfg.describe().expect("describe");
        assert!(
            d.contains("max age 30d") && d.contains("7 daily, 8 weekly, 12 monthly"),
            "{d}"
        );
        assert!(d.contains("level debug") && d.contains("facility local3"), "{d}");
        let e = Config::from_toml(
            "[[sinks]]\ntype = \"syslog\"\ntransport = \"carrier\"\naddress = \"x\"\n",
            env(&[]),
        )
        .expect_err("error");
        assert!(
            e.to_string().contains("sinks.syslog.transport") && e.to_string().contains("udp"),
            "{e}"
        );
        let e = Config::from_toml(
            "[[sinks]]\ntype = \"rolling\"\ndir = \"/x\"\nmax_age = \"a month\"\n",
            env(&[]),
        )
        .expect_err("error");
        assert!(e.to_string().contains("sinks.rolling.max_age"), "{e}");
    }

    #[test]
    fn sink_settings_errors_keep_their_place_and_words_in_the_file() {
        for (table, message) in [
            (
                "type = \"rolling\"\ndir = \"/x\"\nschedule = [0, 0, 0]",
                "invalid config field `sinks.rolling.schedule`: [0, 0, 0] keeps no file; give at least one number \
                 above 0, e.g. [7, 8, 12]",
            ),
            (
                "type = \"tracing\"\nlevel = \"loud\"",
                "invalid config field `sinks.tracing.level`: unknown level \"loud\"; expected trace, debug, info, \
                 warn or error",
            ),
            (
                "type = \"syslog\"\ntransport = \"udp\"\naddress = \"127.0.0.1:514\"\nseverity = \"loud\"",
                "invalid config field `sinks.syslog.severity`: unknown severity \"loud\"; expected emerg, alert, \
                 crit, err, warning, notice, info or debug",
            ),
        ] {
            let kind = table.split('"').nth(1).expect("type");
            let e = Config::from_toml(&format!("[[sinks]]\n{table}\n"), env(&[])).expect_err(table);
            assert_eq!(
                e.to_string(),
                format!("{message} (sink `{kind}`, index 0, [[sinks]] table at line 1, column 1)")
            );
        }
    }

    #[cfg(feature = "http")]
    #[test]
    fn the_config_file_accepts_an_http_sink_and_names_its_bad_fields() {
        let toml = "[[sinks]]\ntype = \"http\"\nendpoint = \"http://127.0.0.1:9/\"\nencoding = \"loki\"\n";
        let cfg = Config::from_toml(toml, Vec::<(String, String)>::new()).expect("valid config");
        assert_eq!(cfg.sinks[0].kind(), "http");
        let (_layer, guard) = cfg.build().expect("builds");
        guard.shutdown();
        let bad = "[[sinks]]\ntype = \"http\"\nendpoint = \"http://h/\"\ntimeout = \"soon\"\n";
        let e = Config::from_toml(bad, Vec::<(String, String)>::new())
            .and_then(|c| c.build().map(|_| ()))
            .expect_err("bad timeout");
        assert!(e.to_string().contains("sinks.http.timeout"), "{e}");
    }

    #[test]
    fn each_sink_table_chooses_its_fields_and_bad_names_are_named() {
        let text = "[policy]\nsuppression_file = \"/var/lib/app/suppressed\"\n\
                    [[sinks]]\ntype = \"stdout\"\n\
                    [[sinks]]\ntype = \"tracing\"\nomit = [\"account\", \"tenant\"]\n\
                    [[sinks]]\ntype = \"stdout\"\nfields = [\"v\", \"ts\", \"method\", \"path\", \"req_bytes\", \
                    \"resp_bytes\", \"duration_us\", \"outcome\", \"proto\", \"epoch\", \"kid\", \"status\"]\n";
        let cfg = Config::from_toml(text, env(&[])).expect("valid");
        assert_eq!(cfg.fields_of(0), Fields::all());
        assert_eq!(
            cfg.fields_of(1),
            Fields::all()
                .without(crate::Field::Account)
                .without(crate::Field::Tenant)
        );
        assert_eq!(cfg.fields_of(2), Fields::required().with(crate::Field::Status));
        let shown = cfg.describe().expect("describe");
        assert!(shown.contains("suppression file: /var/lib/app/suppressed"), "{shown}");
        assert!(shown.contains("omitted: account, account_src, tenant"), "{shown}");
        for (table, field, words) in [
            (
                "omit = [\"tenantt\"]",
                "sinks.stdout.omit",
                "unknown record field \"tenantt\"",
            ),
            ("omit = [\"kid\"]", "sinks.stdout.omit", "`kid` is required"),
            ("fields = [\"ts\"]", "sinks.stdout.fields", "leaves out v, method"),
            ("omit = \"account\"", "sinks.stdout.omit", "expected a list"),
            ("omit = []\nfields = []", "sinks.stdout.fields", "not both"),
        ] {
            let e = Config::from_toml(&format!("[[sinks]]\ntype = \"stdout\"\n{table}\n"), env(&[])).expect_err(table);
            let msg = e.to_string();
            assert!(
                msg.contains(&format!("`{field}`")) && msg.contains(words),
                "{table}: {msg}"
            );
        }
    }

    #[test]
    fn a_sink_type_left_out_of_the_build_names_the_feature_to_enable() {
        let e = not_built_error("http", "http").to_string();
        assert!(
            e.contains("sink type `http` needs privlog built with the `http` feature"),
            "{e}"
        );
        assert!(e.contains("sinks.type"), "{e}");
    }

    /// In a build without the `http` feature, an `http` sink parses (its
    /// type is known) and checking it names the feature, never "unknown
    /// variant".
    #[cfg(not(feature = "http"))]
    #[test]
    fn an_http_sink_without_the_http_feature_is_refused_naming_the_feature() {
        let text = "[[sinks]]\ntype = \"http\"\nendpoint = \"http://127.0.0.1:8123/\"\nspool_dir = \"/tmp/s\"\n";
        let e = Config::from_toml(text, env(&[])).expect_err("refused").to_string();
        assert!(
            e.contains("sink type `http` needs privlog built with the `http` feature"),
            "{e}"
        );
        assert!(!e.contains("unknown variant"), "{e}");
    }

    #[test]
    fn overrides_address_a_sink_by_name_wherever_it_stands_and_errors_give_its_name_and_line() {
        let text = "[policy]\nrotation = \"daily\"\n\n[[sinks]]\ntype = \"stdout\"\n\n[[sinks]]\nname = \"audit-log\"\n\
                    type = \"file\"\npath = \"/tmp/a.ndjson\"\n";
        let vars = env(&[("PRIVLOG__SINKS__AUDIT_LOG__PATH", "/tmp/b.ndjson")]);
        let cfg = Config::from_toml(text, vars.clone()).expect("valid");
        assert_eq!(cfg.sink_names(), ["stdout", "audit-log"]);
        assert!(matches!(&cfg.sinks[1], SinkConfig::File { path, .. } if path == Path::new("/tmp/b.ndjson")));
        // The same variable reaches the same sink after the sinks are reordered.
        let (a, b) = text.split_at(text.find("\n[[sinks]]").expect("sinks"));
        let (first, second) = b[1..].split_at(b[1..].find("[[sinks]]\nname").expect("second"));
        let reordered = format!("{a}\n{second}\n{first}");
        let cfg = Config::from_toml(&reordered, vars).expect("valid");
        assert_eq!(cfg.sink_names(), ["audit-log", "stdout"]);
        assert!(matches!(&cfg.sinks[0], SinkConfig::File { path, .. } if path == Path::new("/tmp/b.ndjson")));
        // A name no sink has is refused, naming the sinks there are.
        let e = Config::from_toml(text, env(&[("PRIVLOG__SINKS__NOPE__PATH", "/tmp/c")])).expect_err("no such sink");
        assert!(
            e.to_string().contains("neither a sink's name (stdout, audit-log)"),
            "{e}"
        );
        // A field a sink does not have, or of the wrong type, names the sink and where it starts.
        let unknown = "[[sinks]]\ntype = \"stdout\"\n\n[[sinks]]\nname = \"main\"\ntype = \"file\"\npath = \"/tmp/x\"\nfsynk = true\n";
        let e = Config::from_toml(unknown, env(&[]))
            .expect_err("unknown field")
            .to_string();
        assert!(
            e.contains("unknown field `fsynk`")
                && e.contains("(sink `main`, index 1, [[sinks]] table at line 4, column 1)"),
            "{e}"
        );
        // A bad field of a sink names it and where its table starts.
        let bad = "[[sinks]]\ntype = \"stdout\"\n\n[[sinks]]\nname = \"app\"\ntype = \"tracing\"\nlevel = \"loud\"\n";
        let e = Config::from_toml(bad, env(&[])).expect_err("bad level").to_string();
        assert!(
            e.contains("(sink `app`, index 1, [[sinks]] table at line 4, column 1)"),
            "{e}"
        );
    }

    #[test]
    fn a_built_sink_is_accounted_and_labelled_under_its_configured_name() {
        let text = "[[sinks]]\nname = \"console\"\ntype = \"tracing\"\n[[sinks]]\ntype = \"tracing\"\n";
        let (layer, guard) = Config::from_toml(text, env(&[]))
            .expect("valid")
            .build()
            .expect("builds");
        let metrics = layer.stats_handle().openmetrics();
        let names: Vec<String> = guard.stats().sinks.into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["console", "tracing-2"]);
        assert!(
            metrics.contains("privlog_sink_records_delivered_total{sink=\"console\"} 0\n"),
            "{metrics}"
        );
        assert!(metrics.contains("{sink=\"tracing-2\"}"), "{metrics}");
        drop(layer);
        guard.shutdown();
    }

    #[test]
    fn unknown_fields_are_named() {
        let e = Config::from_toml(&format!("[policy]\nrotaton = \"daily\"\n{MIN}"), env(&[])).expect_err("error");
        assert!(e.to_string().contains("rotaton"), "{e}");
        let e = Config::from_toml("[[sinks]]\ntype = \"stdout\"\ncolour = 1\n", env(&[])).expect_err("error");
        assert!(e.to_string().contains("colour"), "{e}");
        let e = Config::from_toml("[[sinks]]\ntype = \"carrier-pigeon\"\n", env(&[])).expect_err("error");
        assert!(e.to_string().contains("carrier-pigeon"), "{e}");
    }

    #[test]
    fn bad_values_name_field_and_fix() {
        let e = Config::from_toml(&format!("[policy]\nrotation = \"hourly\"\n{MIN}"), env(&[])).expect_err("error");
        assert!(
            e.to_string().contains("policy.rotation") && e.to_string().contains("monthly"),
            "{e}"
        );
        let e = Config::from_toml(
            &format!("[policy]\ntrusted_proxies = [\"10.0.0.0/33\"]\n{MIN}"),
            env(&[]),
        )
        .expect_err("error");
        assert!(e.to_string().contains("policy.trusted_proxies"), "{e}");
        let e = Config::from_toml("", env(&[])).expect_err("error");
        assert!(e.to_string().contains("sinks"), "{e}");
    }

    #[test]
    fn a_policy_the_builder_refuses_is_reported_under_the_field_at_fault() {
        for (policy, field, shown) in [
            ("ipv4_prefix = 33", "`policy.ipv4_prefix`", "use 0-32 (default 24)"),
            ("ipv6_prefix = 129", "`policy.ipv6_prefix`", "use 0-128 (default 48)"),
            // Checked whatever the IP mode, as the field is always read.
            ("ip = \"drop\"\nipv4_prefix = 40", "`policy.ipv4_prefix`", "use 0-32"),
            (
                "account_headers = [\"a\", \"b\", \"c\"]\ntenant_headers = [\"d\", \"e\"]",
                "`policy.account_headers`",
                "at most 4 are supported",
            ),
        ] {
            let e = Config::from_toml(&format!("[policy]\n{policy}\n{MIN}"), env(&[]))
                .expect_err("refused")
                .to_string();
            assert!(e.contains(field) && e.contains(shown), "{policy}: {e}");
        }
    }

    #[test]
    fn the_path_policy_rules_and_safe_words_are_read_from_the_policy_table() {
        let toml = format!(
            "[policy]\npath = \"template-only\"\nsafe_words = [\"zorblax\", \"quuxly\"]\n\
             [[policy.rules]]\nname = \"employee-id\"\npattern = \"^E[0-9]{{6}}$\"\nplaceholder = \"{{employee}}\"\n{MIN}"
        );
        let cfg = Config::from_toml(&toml, env(&[])).expect("valid config");
        let p = cfg.policy().expect("policy");
        assert_eq!(p.get_path_policy(), PathPolicy::TemplateOnly);
        assert_eq!(p.get_safe_words(), ["zorblax", "quuxly"]);
        assert_eq!(p.get_rules(), [Rule::new("employee-id", "^E[0-9]{6}$", "{employee}")]);
        let described = cfg.describe().expect("describe");
        assert!(
            described.contains("template-only")
                && described.contains("employee-id -> {employee}")
                && described.contains("safe words:       2"),
            "{described}"
        );
        let default = Config::from_toml(MIN, env(&[])).expect("valid config");
        assert_eq!(
            default.policy().expect("policy").get_path_policy(),
            PathPolicy::Allowlist
        );
        for (mode, want) in [("allowlist", PathPolicy::Allowlist), ("scrub", PathPolicy::Scrub)] {
            let cfg = Config::from_toml(&format!("[policy]\npath = \"{mode}\"\n{MIN}"), env(&[])).expect(mode);
            assert_eq!(cfg.policy().expect("policy").get_path_policy(), want);
        }
    }

    #[test]
    fn a_bad_rule_is_reported_under_its_place_in_the_list() {
        let rule = |name: &str, pattern: &str| {
            format!("[[policy.rules]]\nname = \"{name}\"\npattern = '{pattern}'\nplaceholder = \"{{x}}\"\n")
        };
        let toml = format!(
            "{}{}{}{MIN}",
            rule("a", "^a$"),
            rule("b", "^b$"),
            rule("employee-id", "E[0-9")
        );
        let e = Config::from_toml(&toml, env(&[])).expect_err("refused").to_string();
        assert!(
            e.contains("`policy.rules[2] (employee-id)`") && e.contains("fix the regular expression"),
            "{e}"
        );
        let e = Config::from_toml(&format!("[policy]\nsafe_words = [\"ok\", \"a b\"]\n{MIN}"), env(&[]))
            .expect_err("refused")
            .to_string();
        assert!(e.contains("`policy.safe_words[1]`"), "{e}");
        let e = Config::from_toml(&format!("[policy]\npath = \"denylist\"\n{MIN}"), env(&[]))
            .expect_err("refused")
            .to_string();
        assert!(e.contains("denylist") && e.contains("template-only"), "{e}");
        let e = Config::from_toml(&format!("{}colour = 1\n{MIN}", rule("a", "^a$")), env(&[]))
            .expect_err("refused")
            .to_string();
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn trusted_proxies_past_the_limit_are_refused_naming_the_field_and_range() {
        let list = |n: u32| {
            (0..n)
                .map(|i| format!("\"{}/32\"", std::net::Ipv4Addr::from(0x0a00_0000 + i)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let max = crate::policy::MAX_TRUSTED_PROXIES as u32;
        let at = Config::from_toml(&format!("[policy]\ntrusted_proxies = [{}]\n{MIN}", list(max)), env(&[]))
            .expect("at the limit");
        assert_eq!(
            at.policy().expect("policy").get_trusted_proxies().networks().len(),
            4096
        );
        let e = Config::from_toml(
            &format!("[policy]\ntrusted_proxies = [{}]\n{MIN}", list(max + 1)),
            env(&[]),
        )
        .expect_err("past the limit")
        .to_string();
        assert!(
            e.contains("`policy.trusted_proxies`") && e.contains("trusted_proxies = 4097 is out of range"),
            "{e}"
        );
    }

    #[test]
    fn sampling_and_skip_tables_become_the_rules_and_bad_ones_are_named() {
        let text = "[sampling]\nkeep = 0.1\nslow = \"1s\"\n[[skip]]\nroute = \"/health\"\n\
                    [[skip]]\nmethod = \"options\"\n[[skip]]\nstatus = [404]\nroute = \"/static/\"\n"
            .to_string()
            + MIN;
        let cfg = Config::from_toml(&text, env(&[])).expect("valid");
        let expected = crate::Sampling::new()
            .keep(crate::SampleRate::new(0.1).expect("rate"))
            .slow(Duration::from_secs(1))
            .skip(crate::Skip::route("/health"))
            .skip(crate::Skip::method(http::Method::OPTIONS))
            .skip(crate::Skip::route("/static/").and_status([404]));
        assert_eq!(cfg.sampling_rules().expect("rules"), expected);
        let _built = cfg.builder().expect("builds");
        for (bad, says) in [
            ("[sampling]\nkeep = 1.5\n", "`sampling.keep`"),
            ("[sampling]\nkeep = 0.0\n", "0.000001 to 1"),
            ("[sampling]\nslow = \"soon\"\n", "`sampling.slow`"),
            ("[[skip]]\n", "`skip[0]`"),
            ("[[skip]]\nroute = \"health\"\n", "start it with /"),
            ("[[skip]]\nstatus = [99]\n", "`skip[0].status`"),
            ("[[skip]]\nmethod = \"GE T\"\n", "`skip[0].method`"),
        ] {
            let e = Config::from_toml(&format!("{bad}{MIN}"), env(&[]))
                .and_then(|c| c.builder().map(|_| ()))
                .expect_err(bad)
                .to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn env_overrides_fields_and_list_entries() {
        let text =
            "[policy]\nrotation = \"monthly\"\n[[sinks]]\ntype = \"file\"\npath = \"/nonexistent/a\"\n".to_string();
        let cfg = Config::from_toml(
            &text,
            env(&[
                ("PRIVLOG__POLICY__ROTATION", "daily"),
                ("PRIVLOG__SINKS__0__PATH", "/tmp/b.ndjson"),
                ("HOME", "/root"),
            ]),
        )
        .expect("valid");
        assert_eq!(cfg.policy().expect("policy").get_rotation(), Rotation::Daily);
        assert!(matches!(&cfg.sinks[0], SinkConfig::File { path, .. } if path == Path::new("/tmp/b.ndjson")));
        let e = Config::from_toml(&text, env(&[("PRIVLOG__SINKS__3__PATH", "x")])).expect_err("error");
        assert!(e.to_string().contains("sinks.3.path"), "{e}");
    }

    #[cfg(feature = "http")]
    #[test]
    fn header_names_set_by_overrides_take_dashes_and_replace_the_files_header() {
        let text = "[[sinks]]\ntype = \"http\"\nendpoint = \"http://127.0.0.1:9/\"\n\
                    headers = { \"X-ClickHouse-Key\" = \"old-pw\", \"X-ClickHouse-User\" = \"writer\" }\n";
        let cfg = Config::from_toml(
            text,
            env(&[
                ("PRIVLOG__SINKS__0__HEADERS__X_CLICKHOUSE_KEY", "new-pw"),
                ("PRIVLOG__SINKS__0__HEADERS__AUTHORIZATION", "Bearer tok"),
            ]),
        )
        .expect("valid");
        let SinkConfig::Http(h) = &cfg.sinks[0] else {
            panic!("an http sink")
        };
        let headers: Vec<(&str, &str)> = h.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            headers,
            [
                ("X-ClickHouse-User", "writer"),
                ("authorization", "Bearer tok"),
                ("x-clickhouse-key", "new-pw"),
            ]
        );
        // Other fields keep their `_`.
        let cfg = Config::from_toml(text, env(&[("PRIVLOG__SINKS__0__MAX_IN_FLIGHT", "4")])).expect("valid");
        assert!(matches!(&cfg.sinks[0], SinkConfig::Http(h) if h.max_in_flight == Some(4)));
    }

    #[test]
    fn key_comes_from_the_named_variable_and_is_never_described() {
        let hex = "ab".repeat(32);
        let cfg =
            Config::from_toml(&format!("[key]\nenv = \"MY_KEY\"\n{MIN}"), env(&[("MY_KEY", &hex)])).expect("valid");
        let k = cfg.master_key().expect("ok").expect("some");
        let d = cfg.describe().expect("describe");
        assert!(d.contains(k.id().as_str()));
        assert!(!d.contains(&hex) && !d.contains("abababab"));
        let missing = Config::from_toml(&format!("[key]\nenv = \"MY_KEY\"\n{MIN}"), env(&[])).expect("parses");
        let e = missing.master_key().expect_err("error");
        assert!(e.to_string().contains("MY_KEY is not set"), "{e}");
    }

    /// A TOML basic string holding `s`.
    fn quoted(s: &str) -> String {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }

    #[test]
    fn pipeline_sizes_out_of_range_name_the_field_the_value_and_the_range() {
        let e = Config::from_toml(&format!("[pipeline]\nbatch_size = 100000000\n{MIN}"), env(&[])).expect_err("error");
        assert_eq!(
            e.to_string(),
            "invalid config field `pipeline.batch_size`: batch_size = 100000000 is out of range; use a value \
             from 1 to 16384"
        );
        let e = Config::from_toml(
            &format!("[pipeline]\nqueue_capacity = 1000000000000000000\n{MIN}"),
            env(&[]),
        )
        .expect_err("error");
        assert!(e.to_string().contains("pipeline.queue_capacity"), "{e}");
        let e =
            Config::from_toml(&format!("[pipeline]\nshutdown_timeout = \"2h\"\n{MIN}"), env(&[])).expect_err("error");
        assert!(
            e.to_string()
                .contains("shutdown_timeout = 2h is out of range; use a value from 0s to 1h"),
            "{e}"
        );
        let e = Config::from_toml(&format!("[pipeline]\nsink_queue_batches = 0\n{MIN}"), env(&[])).expect_err("error");
        assert!(e.to_string().contains("pipeline.sink_queue_batches"), "{e}");
    }

    #[test]
    fn the_key_written_where_a_variable_name_belongs_is_never_shown() {
        let key = "0123456789abcdef".repeat(4);
        let e = Config::from_toml(&format!("[key]\nenv = \"{key}\"\n{MIN}"), env(&[])).expect_err("error");
        let text = format!("{e} {e:?}");
        assert!(text.contains("key.env") && text.contains("looks like a key"), "{text}");
        assert!(!text.contains("0123456789abcdef"), "{text}");
        let e = Config::from_toml(MIN, env(&[("PRIVLOG__KEY", &key)])).expect_err("error");
        let text = format!("{e} {e:?}");
        assert!(text.contains("`key`") && text.contains("[key]"), "{text}");
        assert!(!text.contains("0123456789abcdef"), "{text}");
    }

    #[test]
    fn the_key_written_where_its_file_belongs_is_refused_and_never_shown() {
        let key = "8348a1f09c2b7e4d".repeat(4);
        let e = Config::from_toml(&format!("[key]\nfile = \"{key}\"\n{MIN}"), env(&[])).expect_err("error");
        let text = format!("{e} {e:?}");
        assert!(
            text.contains("`key.file`") && text.contains("looks like a key"),
            "{text}"
        );
        assert!(!text.contains(&key[..16]), "{text}");
        let e = Config::from_toml(
            &format!("[[sinks]]\ntype = \"file\"\npath = \"{}\"\n", key.to_uppercase()),
            env(&[]),
        )
        .expect_err("error");
        assert!(e.to_string().contains("`sinks.file.path`"), "{e}");
        // Whatever built the configuration, its `Debug` does not show it.
        let mut cfg = Config::from_toml(MIN, env(&[])).expect("valid");
        cfg.key.file = Some(PathBuf::from(&key));
        let text = format!("{cfg:?}");
        assert!(!text.contains(&key[..16]), "{text}");
        let e = cfg.validate().expect_err("refused");
        assert!(!format!("{e} {e:?}").contains(&key[..16]), "{e}");
    }

    #[test]
    fn an_override_whose_name_holds_the_key_is_refused_without_it() {
        let key = "8348a1f09c2b7e4d".repeat(4);
        for name in [
            format!("PRIVLOG__KEY__{key}"),
            format!("PRIVLOG__SINKS__{}__PATH", key.to_uppercase()),
        ] {
            let e = Config::from_toml(MIN, env(&[(&name, "x")])).expect_err("refused");
            let text = format!("{e} {e:?}");
            assert!(text.contains("looks like it holds a key"), "{text}");
            assert!(!text.to_lowercase().contains(&key[..16]), "{text}");
        }
        // A name that is a name passes on to the field's own check.
        let e = Config::from_toml(MIN, env(&[("PRIVLOG__SINKS__0__HEADERS__X_CLICKHOUSE_KEY", "x")]))
            .expect_err("no headers on stdout")
            .to_string();
        assert!(e.contains("headers") && !e.contains("looks like"), "{e}");
    }

    #[test]
    fn a_syntax_error_gives_line_and_column_but_not_the_line() {
        let text = format!("{MIN}[[sinks]]\ntype = \"http\"\nheaders = {{ Authorization = \"Bearer tok-9Xq2\" \n");
        let e = Config::from_toml(&text, env(&[])).expect_err("error").to_string();
        assert!(e.contains("line 5, column"), "{e}");
        assert!(!e.contains("tok-9Xq2") && !e.contains("Authorization"), "{e}");
    }

    #[test]
    fn debug_shows_neither_the_environment_nor_values_set_by_it() {
        let hex = "cd".repeat(32);
        let cfg = Config::from_toml(
            &format!("[key]\nenv = \"MY_KEY\"\n{MIN}"),
            env(&[
                ("MY_KEY", &hex),
                ("PRIVLOG__POLICY__ROTATION", "daily"),
                ("DB_PASSWORD", "pw-Zk81"),
            ]),
        )
        .expect("valid");
        let dbg = format!("{cfg:?}");
        assert!(dbg.contains("MY_KEY"), "{dbg}");
        assert!(
            !dbg.contains("cdcdcdcd") && !dbg.contains("pw-Zk81") && !dbg.contains("DB_PASSWORD"),
            "{dbg}"
        );
    }

    #[test]
    fn validate_creates_nothing_and_finds_what_build_would_refuse() {
        let d = std::env::temp_dir().join(format!("privlog-config-validate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        let rolling = d.join("logs");
        let cfg = Config::from_toml(
            &format!(
                "[[sinks]]\ntype = \"rolling\"\ndir = {}\n",
                quoted(&rolling.display().to_string())
            ),
            env(&[]),
        )
        .expect("valid");
        cfg.validate().expect("valid");
        assert!(!rolling.exists(), "validate created nothing");
        let file = d.join("a-file");
        std::fs::write(&file, "x").expect("write");
        let cfg = Config::from_toml(
            &format!(
                "[[sinks]]\ntype = \"rolling\"\ndir = {}\n",
                quoted(&file.display().to_string())
            ),
            env(&[]),
        )
        .expect("parses");
        let e = cfg.validate().expect_err("a file is no directory");
        assert!(e.to_string().contains("sinks.rolling.dir"), "{e}");
        assert!(cfg.build().is_err());
        let cfg = Config::from_toml(
            &format!(
                "[[sinks]]\ntype = \"file\"\npath = {}\n",
                quoted(&d.join("missing/r.ndjson").display().to_string())
            ),
            env(&[]),
        )
        .expect("parses");
        assert!(
            cfg.validate()
                .expect_err("no directory")
                .to_string()
                .contains("sinks.file.path")
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn two_sinks_writing_the_same_files_are_refused_however_the_path_is_written() {
        let d = std::env::temp_dir().join(format!("privlog-config-dup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("logs")).expect("dir");
        #[cfg(unix)]
        std::os::unix::fs::symlink(d.join("logs"), d.join("alias")).expect("link");
        let rolling = |dir: &Path, prefix: &str| {
            format!(
                "[[sinks]]\ntype = \"rolling\"\ndir = {}\nprefix = \"{prefix}\"\n",
                quoted(&dir.display().to_string())
            )
        };
        let file = |path: &Path| {
            format!(
                "[[sinks]]\ntype = \"file\"\npath = {}\n",
                quoted(&path.display().to_string())
            )
        };
        let logs = d.join("logs");
        // Written alike: refused when the file is read.
        for (text, field) in [
            (
                rolling(&logs, "requests") + &rolling(Path::new(&format!("{}/", logs.display())), "requests"),
                "sinks.rolling.dir",
            ),
            (
                rolling(&logs, "requests") + &rolling(&logs.join("."), "requests"),
                "sinks.rolling.dir",
            ),
            (
                file(&logs.join("a.ndjson")) + &file(&logs.join("./a.ndjson")),
                "sinks.file.path",
            ),
        ] {
            let e = Config::from_toml(&text, env(&[])).expect_err("refused").to_string();
            assert!(
                e.contains(&format!("`{field}`")) && e.contains("sinks 0 and 1 both write"),
                "{e}"
            );
        }
        // Another prefix or another file is another destination.
        let ok = rolling(&logs, "requests") + &rolling(&logs, "audit") + &file(&logs.join("b.ndjson"));
        Config::from_toml(&ok, env(&[]))
            .expect("valid")
            .validate()
            .expect("valid");
        // The same directory under another name: refused by validate and build.
        let mut aliases = vec![(
            rolling(&logs, "requests") + &rolling(&d.join("logs/../logs"), "requests"),
            "sinks.rolling.dir",
        )];
        #[cfg(unix)]
        aliases.extend([
            (
                rolling(&logs, "requests") + &rolling(&d.join("alias"), "requests"),
                "sinks.rolling.dir",
            ),
            (
                file(&logs.join("c.ndjson")) + &file(&d.join("alias/c.ndjson")),
                "sinks.file.path",
            ),
        ]);
        for (text, field) in aliases {
            let cfg = Config::from_toml(&text, env(&[])).expect("parses");
            for e in [
                cfg.validate().expect_err("refused"),
                cfg.build().map(drop).expect_err("refused"),
            ] {
                let e = e.to_string();
                assert!(
                    e.contains(&format!("`{field}`")) && e.contains("sinks 0 and 1 both write"),
                    "{e}"
                );
            }
        }
        assert!(
            std::fs::read_dir(&logs).expect("dir").next().is_none(),
            "nothing was written"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[cfg(feature = "http")]
    #[test]
    fn a_spool_that_cannot_be_opened_is_reported_under_spool_dir() {
        let d = std::env::temp_dir().join(format!("privlog-config-spool-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let (held, _) = crate::sink::spool::Spool::open(crate::sink::spool::SpoolConfig::new(&d)).expect("spool");
        let text = format!(
            "[[sinks]]\ntype = \"http\"\nendpoint = \"http://127.0.0.1:9/\"\nspool_dir = {}\n",
            quoted(&d.display().to_string())
        );
        let cfg = Config::from_toml(&text, env(&[])).expect("valid");
        cfg.validate().expect("nothing wrong before opening");
        let e = cfg.build().map(drop).expect_err("the spool is in use").to_string();
        assert!(e.contains("invalid config field `sinks.http.spool_dir`"), "{e}");
        assert!(e.contains("in use by another spool"), "{e}");
        drop(held);
        let twice = format!("{text}{text}");
        let e = Config::from_toml(&twice, env(&[])).expect_err("shared").to_string();
        assert!(
            e.contains("sinks.http.spool_dir") && e.contains("sinks 0 and 1 share"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[cfg(feature = "http")]
    mod secrets {
        use base64::Engine as _;
        use proptest::prelude::*;

        use super::super::Config;
        use super::{env, quoted};

        /// What a secret looks like: a key (64 hex digits), a token (base64
        /// of random bytes) or a password (printable characters).
        fn secret() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<[u8; 32]>().prop_map(|b| b.iter().map(|x| format!("{x:02x}")).collect()),
                any::<[u8; 32]>().prop_map(|b| b.iter().map(|x| format!("{x:02X}")).collect()),
                proptest::collection::vec(any::<u8>(), 24..48)
                    .prop_map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
                proptest::collection::vec(any::<u8>(), 24..48)
                    .prop_map(|b| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)),
            ]
        }

        /// A password: a secret, printable characters, one holding both
        /// quotes and a backslash, or one longer than any error shows.
        fn password() -> impl Strategy<Value = String> {
            prop_oneof![
                secret(),
                "[!-~]{12,40}",
                ("[!-~]{4,12}", "[!-~]{4,12}", "[!-~]{4,12}", "[!-~]{0,8}")
                    .prop_map(|(a, b, c, d)| format!("{a}'{b}\"{c}\\{d}")),
                "[!-~]{101,160}",
                (secret(), secret(), secret(), secret()).prop_map(|(a, b, c, d)| format!("{a}{b}{c}{d}")),
            ]
        }

        /// Whether `out` shows `secret`, or a run of 12 of its characters,
        /// as it is or escaped as messages escape it.
        fn shows(out: &str, secret: &str) -> bool {
            let debug = format!("{secret:?}");
            let forms = [
                secret.to_owned(),
                debug[1..debug.len() - 1].to_owned(),
                secret.escape_debug().to_string(),
                secret.escape_default().to_string(),
            ];
            forms.iter().any(|form| {
                let chars: Vec<char> = form.chars().collect();
                chars.windows(12).any(|w| out.contains(&w.iter().collect::<String>()))
            })
        }

        const HTTP: &str = "[[sinks]]\ntype = \"http\"\nendpoint = \"http://127.0.0.1:9/x\"\nencoding = \"clickhouse\"\ntable = \"t\"\n";

        /// Every error, `Debug` and description the text and environment lead to.
        fn outputs(text: &str, vars: &[(&str, &str)]) -> Vec<String> {
            match Config::from_toml(text, env(vars)) {
                Err(e) => vec![e.to_string(), format!("{e:?}")],
                Ok(cfg) => {
                    let mut out = vec![format!("{cfg:?}")];
                    for r in [cfg.validate().map(|()| String::new()), cfg.describe()] {
                        out.push(r.unwrap_or_else(|e| format!("{e} {e:?}")));
                    }
                    if let Err(e) = cfg.master_key() {
                        out.push(format!("{e} {e:?}"));
                    }
                    out
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(48))]

            #[test]
            fn no_error_or_debug_output_holds_a_secret_wherever_it_was_put(s in secret(), pw in password()) {
                let mut cases: Vec<(String, Vec<(String, String)>)> = vec![
                    // The key where its variable's name belongs, in the file or by override.
                    (format!("[key]\nenv = {}\n{HTTP}", quoted(&s)), vec![]),
                    (HTTP.to_owned(), vec![("PRIVLOG__KEY__ENV".to_owned(), s.clone())]),
                    // The key in a variable that is not a key.
                    (format!("[key]\nenv = \"PRIVLOG_KEY\"\n{HTTP}"), vec![("PRIVLOG_KEY".to_owned(), pw.clone())]),
                    // A header value on a line with a syntax error, and valid
                    // next to another field's error.
                    (format!("{HTTP}headers = {{ Authorization = {} \n", quoted(&pw)), vec![]),
                    (format!("{HTTP}headers = {{ Authorization = {} }}\ntimeout = \"soon\"\n", quoted(&pw)), vec![]),
                    (format!("{HTTP}headers = {{ Authorization = {} }}\n", quoted(&pw)), vec![]),
                    (format!("{HTTP}headers = {}\n", quoted(&pw)), vec![]),
                    // Credentials in the collector URL.
                    (
                        format!("[[sinks]]\ntype = \"http\"\nendpoint = {}\n", quoted(&format!("http://ops:{pw}@127.0.0.1:9/x"))),
                        vec![],
                    ),
                ];
                // The key (or a token) where a path belongs. A value starting
                // with `/` is a path by its form and shown as one.
                if !s.starts_with('/') {
                    let q = quoted(&s);
                    cases.extend([
                        format!("[key]\nfile = {q}\n{HTTP}"),
                        format!("[[sinks]]\ntype = \"file\"\npath = {q}\n"),
                        format!("[[sinks]]\ntype = \"rolling\"\ndir = {q}\n"),
                        format!("{HTTP}spool_dir = {q}\n"),
                        format!("{HTTP}dead_letter = {q}\n"),
                        format!("{HTTP}ca_file = {q}\n"),
                        format!("{HTTP}table = {q}\n"),
                        format!("[[sinks]]\ntype = \"syslog\"\ntransport = \"tls\"\naddress = \"127.0.0.1:6514\"\nca_file = {q}\n"),
                        format!("[[sinks]]\ntype = \"syslog\"\ntransport = \"unix\"\naddress = {q}\n"),
                        format!("[[sinks]]\ntype = \"syslog\"\ntransport = \"udp\"\naddress = \"127.0.0.1:514\"\napp_name = {q}\n"),
                        format!("[[sinks]]\ntype = \"rolling\"\ndir = \"/tmp/privlog-never\"\nprefix = {q}\n"),
                    ].map(|text| (text, vec![])));
                }
                // A secret in any override: misspelt, or of the wrong type.
                for field in [
                    "KEY", "KEY__FILE", "POLICY__ROTATION", "POLICY__IP", "POLICY__IPV4_PREFIX",
                    "POLICY__TRUSTED_PROXIES", "POLICY__ACCOUNT_HEADERS", "PIPELINE__BATCH_SIZE",
                    "PIPELINE__SHUTDOWN_TIMEOUT", "SINKS__0__TYPE", "SINKS__0__ENDPOINT", "SINKS__0__TIMEOUT",
                    "SINKS__0__HEADERS", "SINKS__0__GZIP", "SINKS__0__CA_FILE", "SINKS__0__ENCODING",
                    "SINKS__0__TABLE", "SINKS__0__SPOOL_FSYNC",
                ] {
                    cases.push((HTTP.to_owned(), vec![(format!("PRIVLOG__{field}"), pw.clone())]));
                }
                // A secret at any position of a list, with spaces around it.
                for position in 0..3 {
                    let mut list = vec![quoted("10.0.0.0/8"), quoted("192.168.0.1")];
                    list.insert(position, quoted(&format!("  {pw} ")));
                    for field in ["POLICY__TRUSTED_PROXIES", "POLICY__ACCOUNT_HEADERS"] {
                        cases.push((HTTP.to_owned(), vec![(format!("PRIVLOG__{field}"), format!("[{}]", list.join(", ")))]));
                    }
                }
                for (text, vars) in &cases {
                    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    for out in outputs(text, &vars) {
                        for secret in [&s, &pw] {
                            // As written, or inside a TOML string.
                            let q = quoted(secret);
                            let written = [secret.as_str(), &q[1..q.len() - 1]];
                            let used = written
                                .iter()
                                .any(|w| text.contains(w) || vars.iter().any(|(_, v)| v.contains(w)));
                            prop_assert!(!used || !shows(&out, secret), "{secret} in {out:?}\nfrom {text:?} {vars:?}");
                        }
                    }
                }
            }
        }
    }
}
