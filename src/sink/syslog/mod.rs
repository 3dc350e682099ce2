//! RFC 5424 syslog over UDP, TCP, TLS and Unix sockets. See [`SyslogSink`].

mod message;
#[cfg(feature = "config")]
mod settings;
mod sink;
#[cfg(feature = "syslog-tls")]
mod tls;
mod transport;

#[cfg(test)]
pub(super) use message::Header;
pub use message::{Facility, Severity};
#[cfg(feature = "config")]
pub use settings::SyslogSettings;
pub use sink::SyslogSink;
#[cfg(feature = "syslog-tls")]
pub use tls::SyslogTls;
