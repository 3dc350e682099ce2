//! `[[sinks]]` settings of the local sinks: rotating files, tracing, syslog.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use crate::limits::{DurationLimit, Limit, OutOfRange};
use crate::sink::util::parse_duration;
use crate::sink::{Facility, Fsync, Retention, RollingFileSink, Severity, Sink, SyslogSink, TracingSink};

/// `type = "rolling"`: NDJSON files per UTC day (and by size), see [`RollingFileSink`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RollingSettings {
    /// The directory of the files (created if missing).
    pub dir: PathBuf,
    /// File name prefix (default `requests`): `requests.2026-11-22.0000.ndjson`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Also roll over when a file reaches this many bytes (default: daily only).
    pub max_file_bytes: Option<u64>,
    /// Gzip closed files (default true).
    #[serde(default = "yes")]
    pub compress: bool,
    /// `never` (default), `every_batch`, or an interval such as `1s`.
    pub fsync: Option<String>,
    /// Delete files older than this (`30d`); default: keep.
    pub max_age: Option<String>,
    /// Keep at most this many files.
    pub max_files: Option<usize>,
    /// Keep `[daily, weekly, monthly]` files, e.g. `[7, 8, 12]`.
    pub schedule: Option<[usize; 3]>,
}

/// `max_file_bytes`.
const MAX_FILE_BYTES: Limit = Limit::bytes("max_file_bytes", 1 << 10, 1 << 40);
/// `max_files`.
const MAX_FILES: Limit = Limit::count("max_files", 1, 100_000);
/// Each number of `schedule`.
const SCHEDULE: Limit = Limit::count("schedule", 0, 10_000);
/// `max_age`: up to 100 years.
const MAX_AGE: DurationLimit =
    DurationLimit::new("max_age", Duration::from_secs(1), Duration::from_secs(36_500 * 86_400));
/// `fsync` as an interval.
const FSYNC_INTERVAL: DurationLimit = DurationLimit::new("fsync", Duration::ZERO, Duration::from_secs(3600));

/// A rolling sink's setting out of range, under its field.
fn out_of_range(e: OutOfRange) -> ConfigError {
    ConfigError::invalid(format!("sinks.rolling.{}", e.setting), e.to_string())
}

fn default_prefix() -> String {
    "requests".to_owned()
}

fn yes() -> bool {
    true
}

impl RollingSettings {
    pub(super) fn describe(&self) -> String {
        let mut keep = Vec::new();
        if let Some(a) = &self.max_age {
            keep.push(format!("max age {a}"));
        }
        if let Some(n) = self.max_files {
            keep.push(format!("{n} files"));
        }
        if let Some([d, w, m]) = self.schedule {
            keep.push(format!("{d} daily, {w} weekly, {m} monthly"));
        }
        format!(
            "rolling files {}/{}.YYYY-MM-DD.NNNN.ndjson{} (retention: {}, fsync: {})",
            self.dir.display(),
            self.prefix,
            if self.compress { " (gzip when closed)" } else { "" },
            if keep.is_empty() {
                "keep all".to_owned()
            } else {
                keep.join(", ")
            },
            self.fsync.as_deref().unwrap_or("never"),
        )
    }

    /// Checks every field without touching the file system.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        crate::sink::check_prefix(&self.prefix).map_err(|e| ConfigError::invalid("sinks.rolling.prefix", e))?;
        if let Some(b) = self.max_file_bytes {
            MAX_FILE_BYTES.check(b).map_err(out_of_range)?;
        }
        self.fsync_policy()?;
        self.retention()?;
        Ok(())
    }

    /// [`RollingSettings::check`], and that `dir` is or can become a directory.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.check()?;
        crate::sink::paths::check_dir(&self.dir).map_err(|e| ConfigError::invalid("sinks.rolling.dir", e))
    }

    fn fsync_policy(&self) -> Result<Fsync, ConfigError> {
        Ok(match self.fsync.as_deref().unwrap_or("never") {
            "never" => Fsync::Never,
            "every_batch" => Fsync::EveryBatch,
            other => Fsync::Interval(
                FSYNC_INTERVAL
                    .check(parse_duration(other).map_err(|e| {
                        ConfigError::invalid("sinks.rolling.fsync", format!("{e}; or use never / every_batch"))
                    })?)
                    .map_err(out_of_range)?,
            ),
        })
    }

    fn retention(&self) -> Result<Retention, ConfigError> {
        let mut r = Retention::keep_all();
        if let Some(a) = &self.max_age {
            let age: Duration = parse_duration(a).map_err(|e| ConfigError::invalid("sinks.rolling.max_age", e))?;
            r = r.max_age(MAX_AGE.check(age).map_err(out_of_range)?);
        }
        if let Some(n) = self.max_files {
            r = r.max_files(MAX_FILES.check_usize(n).map_err(out_of_range)?);
        }
        if let Some([d, w, m]) = self.schedule {
            for n in [d, w, m] {
                SCHEDULE.check_usize(n).map_err(out_of_range)?;
            }
            if d + w + m == 0 {
                return Err(ConfigError::invalid(
                    "sinks.rolling.schedule",
                    "[0, 0, 0] keeps no file; give at least one number above 0, e.g. [7, 8, 12]",
                ));
            }
            r = r.schedule(d, w, m);
        }
        Ok(r)
    }

    pub(super) fn build(&self) -> Result<Box<dyn Sink>, ConfigError> {
        self.validate()?;
        let mut sink = RollingFileSink::new(&self.dir, self.prefix.clone())
            .map_err(|e| ConfigError::invalid("sinks.rolling.dir", e.to_string()))?
            .compress(self.compress)
            .fsync(self.fsync_policy()?)
            .retention(self.retention()?);
        if let Some(b) = self.max_file_bytes {
            sink = sink.max_file_size(b);
        }
        Ok(Box::new(sink))
    }
}

/// `type = "tracing"`: each record as one `tracing` event, see [`TracingSink`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TracingSettings {
    /// `trace`, `debug`, `info` (default), `warn` or `error`.
    pub level: Option<String>,
}

impl TracingSettings {
    fn level(&self) -> Result<tracing::Level, ConfigError> {
        match self.level.as_deref().unwrap_or("info") {
            "trace" => Ok(tracing::Level::TRACE),
            "debug" => Ok(tracing::Level::DEBUG),
            "info" => Ok(tracing::Level::INFO),
            "warn" => Ok(tracing::Level::WARN),
            "error" => Ok(tracing::Level::ERROR),
            other => Err(ConfigError::invalid(
                "sinks.tracing.level",
                format!("unknown level {other:?}; expected trace, debug, info, warn or error"),
            )),
        }
    }

    pub(super) fn describe(&self) -> String {
        format!(
            "tracing events on target privlog::record at level {}",
            self.level.as_deref().unwrap_or("info")
        )
    }

    /// Checks the level: all that building the sink does, which opens nothing.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.level().map(|_| ())
    }

    pub(super) fn build(&self) -> Result<Box<dyn Sink>, ConfigError> {
        Ok(Box::new(TracingSink::new().level(self.level()?)))
    }
}

/// `type = "syslog"`: RFC 5424 messages, see [`SyslogSink`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SyslogSettings {
    /// `udp`, `tcp` (octet counting), `tls` (feature `syslog-tls`), `unix` (datagram) or `unix_stream`.
    pub transport: String,
    /// `host:port` for udp/tcp/tls, a socket path for unix.
    pub address: String,
    /// Facility name, `local0` (default) … `local7`, `user`, `daemon`, …
    pub facility: Option<String>,
    /// Severity name: `info` (default), `notice`, `warning`, …
    pub severity: Option<String>,
    /// APP-NAME (default `privlog`).
    pub app_name: Option<String>,
    /// HOSTNAME (default: this host's name).
    pub hostname: Option<String>,
    /// TLS: the name the server's certificate must carry (default: the host of `address`).
    pub server_name: Option<String>,
    /// TLS: a PEM file of CA certificates to trust.
    pub ca_file: Option<PathBuf>,
}

const FACILITIES: [(&str, Facility); 24] = [
    ("kern", Facility::Kern),
    ("user", Facility::User),
    ("mail", Facility::Mail),
    ("daemon", Facility::Daemon),
    ("auth", Facility::Auth),
    ("syslog", Facility::Syslog),
    ("lpr", Facility::Lpr),
    ("news", Facility::News),
    ("uucp", Facility::Uucp),
    ("cron", Facility::Cron),
    ("authpriv", Facility::Authpriv),
    ("ftp", Facility::Ftp),
    ("ntp", Facility::Ntp),
    ("audit", Facility::Audit),
    ("alert", Facility::Alert),
    ("clock", Facility::Clock),
    ("local0", Facility::Local0),
    ("local1", Facility::Local1),
    ("local2", Facility::Local2),
    ("local3", Facility::Local3),
    ("local4", Facility::Local4),
    ("local5", Facility::Local5),
    ("local6", Facility::Local6),
    ("local7", Facility::Local7),
];

const SEVERITIES: [(&str, Severity); 8] = [
    ("emerg", Severity::Emergency),
    ("alert", Severity::Alert),
    ("crit", Severity::Critical),
    ("err", Severity::Error),
    ("warning", Severity::Warning),
    ("notice", Severity::Notice),
    ("info", Severity::Informational),
    ("debug", Severity::Debug),
];

impl SyslogSettings {
    fn facility(&self) -> Result<Facility, ConfigError> {
        let name = self.facility.as_deref().unwrap_or("local0");
        FACILITIES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                ConfigError::invalid(
                    "sinks.syslog.facility",
                    format!("unknown facility {name:?}; expected one of local0-local7, user, daemon, auth, …"),
                )
            })
    }

    fn severity(&self) -> Result<Severity, ConfigError> {
        let name = self.severity.as_deref().unwrap_or("info");
        SEVERITIES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
            .ok_or_else(|| {
                ConfigError::invalid(
                    "sinks.syslog.severity",
                    format!(
                        "unknown severity {name:?}; expected emerg, alert, crit, err, warning, notice, info or debug"
                    ),
                )
            })
    }

    pub(super) fn describe(&self) -> String {
        format!(
            "syslog RFC 5424 over {} to {} (facility {}, severity {})",
            self.transport,
            self.address,
            self.facility.as_deref().unwrap_or("local0"),
            self.severity.as_deref().unwrap_or("info")
        )
    }

    /// Checks every field; building the sink opens nothing (it connects at
    /// the first write), so it is built and dropped.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.build().map(drop)
    }

    /// Checks the names without building the sink.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        self.facility()?;
        self.severity()?;
        match self.transport.as_str() {
            "udp" | "tcp" | "unix" | "unix_stream" => Ok(()),
            "tls" if cfg!(feature = "syslog-tls") => Ok(()),
            "tls" => Err(ConfigError::invalid(
                "sinks.syslog.transport",
                "tls needs privlog built with the `syslog-tls` feature",
            )),
            other => Err(ConfigError::invalid(
                "sinks.syslog.transport",
                format!("unknown transport {other:?}; expected udp, tcp, tls, unix or unix_stream"),
            )),
        }
    }

    pub(super) fn build(&self) -> Result<Box<dyn Sink>, ConfigError> {
        self.check()?;
        let bad = |e: crate::sink::SinkError| ConfigError::invalid("sinks.syslog.address", e.to_string());
        let sink = match self.transport.as_str() {
            "udp" => SyslogSink::udp(self.address.clone()).map_err(bad)?,
            "tcp" => SyslogSink::tcp(self.address.clone()).map_err(bad)?,
            "unix" => SyslogSink::unix_datagram(&self.address),
            "unix_stream" => SyslogSink::unix_stream(&self.address),
            #[cfg(feature = "syslog-tls")]
            "tls" => {
                let host = self.address.rsplit_once(':').map_or(self.address.as_str(), |(h, _)| h);
                let name = self.server_name.as_deref().unwrap_or(host);
                let mut tls = crate::sink::SyslogTls::new(name)
                    .map_err(|e| ConfigError::invalid("sinks.syslog.server_name", e.to_string()))?;
                if let Some(ca) = &self.ca_file {
                    tls = tls
                        .ca_file(ca)
                        .map_err(|e| ConfigError::invalid("sinks.syslog.ca_file", e.to_string()))?;
                }
                SyslogSink::tls(self.address.clone(), tls).map_err(bad)?
            }
            _ => {
                self.check()?;
                return Err(ConfigError::invalid("sinks.syslog.transport", "unsupported transport"));
            }
        };
        let mut sink = sink.facility(self.facility()?).severity(self.severity()?);
        if let Some(a) = &self.app_name {
            sink = sink.app_name(a);
        }
        if let Some(h) = &self.hostname {
            sink = sink.hostname(h);
        }
        Ok(Box::new(sink))
    }
}
