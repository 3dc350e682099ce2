//! The syslog sink as the operator config file describes it (feature
//! `config`).

use std::path::PathBuf;

use serde::Deserialize;

use super::{Facility, Severity, SyslogSink};
use crate::sink::{SettingsError, SinkError};

/// A bad value of `field`.
fn invalid(field: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError::new("syslog", field, reason)
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
    /// The MSG: `ndjson` (default), `clf` or `combined`, see [`LineFormat`](crate::record::LineFormat).
    #[serde(default)]
    pub format: crate::record::LineFormat,
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
    fn facility(&self) -> Result<Facility, SettingsError> {
        let name = self.facility.as_deref().unwrap_or("local0");
        FACILITIES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                invalid(
                    "facility",
                    format!("unknown facility {name:?}; expected one of local0-local7, user, daemon, auth, …"),
                )
            })
    }

    fn severity(&self) -> Result<Severity, SettingsError> {
        let name = self.severity.as_deref().unwrap_or("info");
        SEVERITIES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
            .ok_or_else(|| {
                invalid(
                    "severity",
                    format!(
                        "unknown severity {name:?}; expected emerg, alert, crit, err, warning, notice, info or debug"
                    ),
                )
            })
    }

    /// A one-line description for `privlog check`.
    pub fn describe(&self) -> String {
        format!(
            "syslog RFC 5424 over {} to {} (facility {}, severity {})",
            self.transport,
            self.address,
            self.facility.as_deref().unwrap_or("local0"),
            self.severity.as_deref().unwrap_or("info")
        )
    }

    /// Checks every field and reads `ca_file`; building the sink opens
    /// nothing (it connects at the first write), so it is built and dropped.
    ///
    /// # Errors
    /// The first field with a bad value.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.build().map(drop)
    }

    /// Checks the names without building the sink.
    pub(crate) fn check(&self) -> Result<(), SettingsError> {
        self.facility()?;
        self.severity()?;
        match self.transport.as_str() {
            "udp" | "tcp" | "unix" | "unix_stream" => Ok(()),
            "tls" if cfg!(feature = "syslog-tls") => Ok(()),
            "tls" => Err(invalid(
                "transport",
                "tls needs privlog built with the `syslog-tls` feature",
            )),
            other => Err(invalid(
                "transport",
                format!("unknown transport {other:?}; expected udp, tcp, tls, unix or unix_stream"),
            )),
        }
    }

    /// Builds the sink; it connects at its first write.
    ///
    /// # Errors
    /// The first field with a bad value.
    pub fn build(&self) -> Result<SyslogSink, SettingsError> {
        self.check()?;
        let bad = |e: SinkError| invalid("address", e.to_string());
        let sink = match self.transport.as_str() {
            "udp" => SyslogSink::udp(self.address.clone()).map_err(bad)?,
            "tcp" => SyslogSink::tcp(self.address.clone()).map_err(bad)?,
            "unix" => SyslogSink::unix_datagram(&self.address),
            "unix_stream" => SyslogSink::unix_stream(&self.address),
            #[cfg(feature = "syslog-tls")]
            "tls" => {
                let host = self.address.rsplit_once(':').map_or(self.address.as_str(), |(h, _)| h);
                let name = self.server_name.as_deref().unwrap_or(host);
                let mut tls = super::SyslogTls::new(name).map_err(|e| invalid("server_name", e.to_string()))?;
                if let Some(ca) = &self.ca_file {
                    tls = tls.ca_file(ca).map_err(|e| invalid("ca_file", e.to_string()))?;
                }
                SyslogSink::tls(self.address.clone(), tls).map_err(bad)?
            }
            _ => {
                self.check()?;
                return Err(invalid("transport", "unsupported transport"));
            }
        };
        let mut sink = sink
            .facility(self.facility()?)
            .severity(self.severity()?)
            .format(self.format);
        if let Some(a) = &self.app_name {
            sink = sink.app_name(a);
        }
        if let Some(h) = &self.hostname {
            sink = sink.hostname(h);
        }
        Ok(sink)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> SyslogSettings {
        toml::from_str(s).expect("valid settings")
    }

    #[test]
    fn a_table_builds_a_sink_that_sends_to_its_address() {
        use crate::sink::Sink;
        let server = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let s = parse(&format!(
            "transport = \"udp\"\naddress = \"{}\"\nfacility = \"local3\"\nseverity = \"notice\"\napp_name = \"billing\"\n",
            server.local_addr().expect("addr")
        ));
        let mut sink = s.build().expect("builds");
        let r = crate::Record::new(time::OffsetDateTime::UNIX_EPOCH, "GET", "/syslog-settings");
        sink.write(&[r]).expect("write");
        let mut buf = [0u8; 4096];
        let n = server.recv(&mut buf).expect("a message");
        let msg = String::from_utf8_lossy(&buf[..n]);
        // local3 (19) * 8 + notice (5) = 157.
        assert!(
            msg.starts_with("<157>1 ") && msg.contains(" billing ") && msg.contains("/syslog-settings"),
            "{msg}"
        );
        assert!(s.describe().contains("facility local3"), "{}", s.describe());
    }

    #[test]
    fn bad_values_name_their_field() {
        for (table, field) in [
            ("transport = \"carrier\"\naddress = \"x\"", "transport"),
            (
                "transport = \"udp\"\naddress = \"127.0.0.1:514\"\nfacility = \"local9\"",
                "facility",
            ),
            (
                "transport = \"udp\"\naddress = \"127.0.0.1:514\"\nseverity = \"loud\"",
                "severity",
            ),
            ("transport = \"tcp\"\naddress = \"no-port\"", "address"),
        ] {
            let e = parse(table).validate().expect_err(table);
            assert_eq!((e.sink, e.field), ("syslog", field), "{table}: {e}");
        }
        assert!(toml::from_str::<SyslogSettings>("transport = \"udp\"\naddress = \"x\"\ncolour = 1").is_err());
    }
}
