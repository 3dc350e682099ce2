//! The syslog sink: framing, reconnects, accounting.

use std::path::Path;
use std::time::{Duration, Instant};

use super::message::{
    APP_NAME_MAX, Facility, HOSTNAME_MAX, Header, MSGID_MAX, PROCID_MAX, Severity, header_field, valid_sd_id,
};
#[cfg(feature = "syslog-tls")]
use super::tls::SyslogTls;
use super::transport::{Conn, Target};
use crate::Record;
use crate::sink::util::{Backoff, doubling};
use crate::sink::{Accounting, DropReason, Ledger, Sink, SinkError};

/// The first wait after a failed connection; doubled up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Records dropped because the server could not be reached.
const UNREACHABLE: DropReason = DropReason::Other("unreachable");
/// Records whose message exceeds the maximum length.
const TOO_LONG: DropReason = DropReason::Other("too_long");

/// Sends each record as one RFC 5424 syslog message over UDP, TCP, TLS or a
/// Unix (datagram or stream) socket.
///
/// The message is
///
/// ```text
/// <134>1 2026-11-22T09:30:00.123Z web-1 privlog 4242 request [privlog@32473 method="GET" route="/health" path="/health" status="200" outcome="completed" duration_us="63"] {"v":1,"ts":"2026-11-22T09:30:00.123Z",…}
/// ```
///
/// - PRI from the facility and severity (defaults: `local0`, `informational`);
/// - TIMESTAMP: the record's `ts` (request start, UTC, milliseconds);
/// - HOSTNAME (default: this machine's name), APP-NAME (`privlog`), PROCID (the
///   process id), MSGID (`request`): printable US-ASCII only (anything else
///   becomes `_`), cut to the RFC's 255/48/128/32 characters, `-` when empty;
/// - STRUCTURED-DATA: one element with a few fields for filtering in the
///   server (values escaped per RFC 5424: `"`, `\` and `]` get a backslash,
///   control characters removed, 256 bytes at most); the SD-ID defaults to
///   `privlog@32473`, the enterprise number RFC 5612 reserves for examples —
///   set your own with [`SyslogSink::structured_data_id`], or turn the element
///   off;
/// - MSG: the record as its NDJSON line without the newline. Pure ASCII
///   records (the usual case) are sent without a BOM; a record with any
///   non-ASCII character is sent as MSG-UTF8, starting with the UTF-8 BOM as
///   RFC 5424 requires.
///
/// Framing: one message per datagram over UDP (RFC 5426) and Unix datagram
/// sockets; octet counting (`LEN SP MSG`, RFC 6587 §3.4.1) over TCP and TLS
/// (RFC 5425); one message per line over Unix stream sockets.
///
/// Delivery: a record counts as delivered once the operating system accepted
/// its message (syslog has no acknowledgements; over UDP a message can still
/// be lost on the way). When the server cannot be reached the sink drops the
/// batch, counting it as `unreachable`, and retries the connection with a
/// back-off from 0.5 s to 30 s; before each batch a stream connection the
/// server closed is noticed and reopened. Messages longer than
/// [`SyslogSink::max_message_len`] are dropped as `too_long`.
///
/// ```no_run
/// use privlog::sink::{Facility, SyslogSink};
///
/// let sink = SyslogSink::tcp("127.0.0.1:601")?
///     .facility(Facility::Local3)
///     .app_name("billing-addon");
/// let (layer, guard) = privlog::builder().sink(sink).build()?;
/// # let _ = (layer, guard);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SyslogSink {
    name: String,
    target: Target,
    header: Header,
    max_len: usize,
    conn: Option<ConnSlot>,
    backoff: Backoff,
    ledger: Option<Ledger>,
    buf: Vec<u8>,
    msg: Vec<u8>,
    ends: Vec<usize>,
}

struct ConnSlot(Conn);

impl std::fmt::Debug for ConnSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Conn")
    }
}

impl SyslogSink {
    fn with_target(target: Target) -> Self {
        SyslogSink {
            name: format!("syslog:{}", target.describe()),
            target,
            header: Header::new(),
            max_len: 8192,
            conn: None,
            backoff: Backoff::default(),
            ledger: None,
            buf: Vec::with_capacity(64 * 1024),
            msg: Vec::with_capacity(1024),
            ends: Vec::new(),
        }
    }

    /// Messages over UDP (RFC 5426) to `addr` (`host:port`, usually port 514).
    ///
    /// # Errors
    /// `addr` has no port.
    pub fn udp(addr: impl Into<String>) -> Result<Self, SinkError> {
        Ok(Self::with_target(Target::Udp(check_addr(addr.into(), 514)?)))
    }

    /// Messages over TCP with octet-counting framing (RFC 6587) to `addr`
    /// (`host:port`, usually port 601).
    ///
    /// # Errors
    /// `addr` has no port.
    pub fn tcp(addr: impl Into<String>) -> Result<Self, SinkError> {
        Ok(Self::with_target(Target::Tcp(check_addr(addr.into(), 601)?)))
    }

    /// Messages over TLS (RFC 5425, octet counting) to `addr` (`host:port`,
    /// usually port 6514). Needs the `syslog-tls` feature.
    ///
    /// # Errors
    /// `addr` has no port, or `tls` trusts no certificate authority.
    #[cfg(feature = "syslog-tls")]
    pub fn tls(addr: impl Into<String>, mut tls: SyslogTls) -> Result<Self, SinkError> {
        tls.prepare()?;
        Ok(Self::with_target(Target::Tls(check_addr(addr.into(), 6514)?, tls)))
    }

    /// Messages as datagrams to the Unix socket at `path` (`/dev/log`, or a
    /// syslog-ng `unix-dgram()` source).
    #[cfg(unix)]
    pub fn unix_datagram(path: impl AsRef<Path>) -> Self {
        Self::with_target(Target::Unix(path.as_ref().to_path_buf()))
    }

    /// Messages over the Unix stream socket at `path` (a syslog-ng
    /// `unix-stream()` source), one per line: Unix stream receivers split on
    /// newlines (RFC 6587 §3.4.2), and a message never holds one.
    #[cfg(unix)]
    pub fn unix_stream(path: impl AsRef<Path>) -> Self {
        Self::with_target(Target::UnixStream(path.as_ref().to_path_buf()))
    }

    /// The facility. Defaults to [`Facility::Local0`].
    pub fn facility(mut self, facility: Facility) -> Self {
        self.header.facility = facility;
        self
    }

    /// The severity of every message. Defaults to [`Severity::Informational`].
    pub fn severity(mut self, severity: Severity) -> Self {
        self.header.severity = severity;
        self
    }

    /// HOSTNAME. Defaults to this machine's name.
    pub fn hostname(mut self, hostname: &str) -> Self {
        self.header.hostname = header_field(hostname, HOSTNAME_MAX);
        self
    }

    /// APP-NAME. Defaults to `privlog`.
    pub fn app_name(mut self, app_name: &str) -> Self {
        self.header.app_name = header_field(app_name, APP_NAME_MAX);
        self
    }

    /// PROCID. Defaults to this process's id.
    pub fn procid(mut self, procid: &str) -> Self {
        self.header.procid = header_field(procid, PROCID_MAX);
        self
    }

    /// The MSG: the record's NDJSON (the default), or its Common or Combined
    /// Log Format line ([`LineFormat`](crate::record::LineFormat)) for
    /// collectors that file syslog messages as access logs.
    pub fn format(mut self, format: crate::record::LineFormat) -> Self {
        self.header.format = format;
        self
    }

    /// MSGID. Defaults to `request`.
    pub fn msgid(mut self, msgid: &str) -> Self {
        self.header.msgid = header_field(msgid, MSGID_MAX);
        self
    }

    /// The SD-ID of the structured-data element (`name@enterprise-number`),
    /// or `None` for no element (`-`). Defaults to `privlog@32473`.
    ///
    /// # Errors
    /// `id` is empty, longer than 32 characters, or holds a space, `=`, `]`,
    /// `"` or a character outside printable US-ASCII.
    pub fn structured_data_id(mut self, id: Option<&str>) -> Result<Self, SinkError> {
        match id {
            Some(id) if !valid_sd_id(id) => Err(SinkError::new(format!(
                "invalid SD-ID {id:?}: use name@enterprise-number, at most 32 printable ASCII characters \
                 without space, '=', ']' or '\"'"
            ))),
            _ => {
                self.header.sd_id = id.map(str::to_owned);
                Ok(self)
            }
        }
    }

    /// The longest message sent, in bytes, framing not counted; longer ones
    /// are dropped and counted as `too_long`. Defaults to 8192 (syslog-ng
    /// accepts 65536 by default, rsyslog 8096; RFC 5426 guarantees only 480
    /// over UDP on IPv4, 1180 on IPv6).
    pub fn max_message_len(mut self, bytes: usize) -> Self {
        self.max_len = bytes.max(480);
        self
    }

    fn ledger(&self) -> Ledger {
        self.ledger.clone().unwrap_or_else(|| Ledger::detached("syslog"))
    }

    /// Opens a connection unless one is open, or says why there is none.
    fn connect(&mut self) -> Result<(), SinkError> {
        if self.conn.as_mut().is_some_and(|c| c.0.peer_closed()) {
            self.conn = None;
        }
        if self.conn.is_none() {
            if !self.backoff.ready(Instant::now()) {
                return Err(SinkError::new(format!(
                    "syslog server {} unreachable; retrying in the background",
                    self.target.describe()
                )));
            }
            match self.target.connect() {
                Ok(c) => {
                    self.conn = Some(ConnSlot(c));
                    self.backoff.succeeded();
                }
                Err(e) => {
                    self.backoff
                        .failed(Instant::now(), |n| doubling(BACKOFF_MIN, BACKOFF_MAX, n));
                    return Err(SinkError::with_source(
                        format!(
                            "cannot connect to syslog server {} (check it is running and the address, \
                             port and transport match its source)",
                            self.target.describe()
                        ),
                        e,
                    ));
                }
            }
        }
        Ok(())
    }

    /// Encodes the batch into `buf` (framed for streams), `ends` marking
    /// where each sendable message ends. Returns the records too long to send.
    fn encode(&mut self, batch: &[Record]) -> u64 {
        self.buf.clear();
        self.ends.clear();
        let counted = !self.target.is_datagram() && !self.target.is_newline_framed();
        let newline = self.target.is_newline_framed();
        let mut too_long = 0;
        for r in batch {
            self.msg.clear();
            self.header.encode(r, &mut self.msg);
            if self.msg.len() > self.max_len {
                too_long += 1;
                continue;
            }
            if counted {
                self.buf.extend_from_slice(self.msg.len().to_string().as_bytes());
                self.buf.push(b' ');
            }
            self.buf.extend_from_slice(&self.msg);
            if newline {
                self.buf.push(b'\n');
            }
            self.ends.push(self.buf.len());
        }
        too_long
    }

    fn send(&mut self) -> Result<(), SinkError> {
        let ledger = self.ledger();
        let total = self.ends.len();
        let mut sent = 0;
        // One reconnect within a batch: a server restart costs no records.
        for attempt in 0..2 {
            if let Err(e) = self.connect() {
                ledger.dropped(UNREACHABLE, (total - sent) as u64);
                return Err(e);
            }
            let Some(ConnSlot(conn)) = self.conn.as_mut() else {
                ledger.dropped(UNREACHABLE, (total - sent) as u64);
                return Err(SinkError::new("no connection to the syslog server"));
            };
            let start = if sent == 0 { 0 } else { self.ends[sent - 1] };
            let error = if self.target.is_datagram() {
                let mut err = None;
                let mut from = start;
                for &end in &self.ends[sent..] {
                    if let Err(e) = conn.send_datagram(&self.buf[from..end]) {
                        err = Some(e);
                        break;
                    }
                    from = end;
                    sent += 1;
                    ledger.delivered(1);
                }
                err
            } else {
                let (written, err) = conn.write_stream(&self.buf[start..self.ends[total - 1]]);
                let whole = self.ends[sent..].iter().take_while(|&&e| e - start <= written).count();
                ledger.delivered(whole as u64);
                sent += whole;
                err
            };
            let Some(e) = error else { return Ok(()) };
            self.conn = None;
            if attempt == 1 || sent == total {
                ledger.dropped(UNREACHABLE, (total - sent) as u64);
                return Err(SinkError::with_source(
                    format!(
                        "cannot send to syslog server {} ({} records dropped)",
                        self.target.describe(),
                        total - sent
                    ),
                    e,
                ));
            }
        }
        Ok(())
    }
}

fn check_addr(addr: String, default_port: u16) -> Result<String, SinkError> {
    let has_port = addr
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if has_port {
        Ok(addr)
    } else {
        Err(SinkError::new(format!(
            "invalid syslog server address {addr:?}: use host:port, e.g. \"127.0.0.1:{default_port}\" \
             (IPv6: \"[::1]:{default_port}\")"
        )))
    }
}

impl Sink for SyslogSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn attach(&mut self, ledger: Ledger) -> Accounting {
        self.ledger = Some(ledger);
        Accounting::Sink
    }

    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        let too_long = self.encode(batch);
        self.ledger().dropped(TOO_LONG, too_long);
        if self.ends.is_empty() {
            return Ok(());
        }
        self.send()
    }

    fn close(&mut self, _deadline: Instant) -> Result<(), SinkError> {
        // Dropping the connection closes it; TLS sends close_notify first.
        #[cfg(feature = "syslog-tls")]
        if let Some(ConnSlot(Conn::Tls(s))) = self.conn.as_mut() {
            s.conn.send_close_notify();
            let _ = s.conn.complete_io(&mut s.sock);
        }
        self.conn = None;
        Ok(())
    }
}
