//! RFC 5424 messages: header fields within their limits, escaped structured
//! data, the record as the MSG.

use crate::Record;
use crate::record::{LineFormat, write_ts};

/// Syslog facility (RFC 5424 §6.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Facility {
    Kern = 0,
    User = 1,
    Mail = 2,
    Daemon = 3,
    Auth = 4,
    Syslog = 5,
    Lpr = 6,
    News = 7,
    Uucp = 8,
    Cron = 9,
    Authpriv = 10,
    Ftp = 11,
    Ntp = 12,
    Audit = 13,
    Alert = 14,
    Clock = 15,
    Local0 = 16,
    Local1 = 17,
    Local2 = 18,
    Local3 = 19,
    Local4 = 20,
    Local5 = 21,
    Local6 = 22,
    Local7 = 23,
}

/// Syslog severity (RFC 5424 §6.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Severity {
    Emergency = 0,
    Alert = 1,
    Critical = 2,
    Error = 3,
    Warning = 4,
    Notice = 5,
    Informational = 6,
    Debug = 7,
}

/// The largest HOSTNAME, APP-NAME, PROCID and MSGID (RFC 5424 §6).
pub(super) const HOSTNAME_MAX: usize = 255;
pub(super) const APP_NAME_MAX: usize = 48;
pub(super) const PROCID_MAX: usize = 128;
pub(super) const MSGID_MAX: usize = 32;
const SD_NAME_MAX: usize = 32;
/// Structured-data values are capped; the MSG carries the whole record.
const SD_VALUE_MAX: usize = 256;

/// The parts of every message that come from configuration.
#[derive(Clone, Debug)]
pub(in crate::sink) struct Header {
    pub(super) facility: Facility,
    pub(super) severity: Severity,
    pub(super) hostname: String,
    pub(super) app_name: String,
    pub(super) procid: String,
    pub(super) msgid: String,
    pub(super) sd_id: Option<String>,
    pub(super) format: LineFormat,
}

impl Header {
    pub(in crate::sink) fn new() -> Self {
        Header {
            facility: Facility::Local0,
            severity: Severity::Informational,
            hostname: header_field(&local_hostname(), HOSTNAME_MAX),
            app_name: "privlog".to_owned(),
            procid: std::process::id().to_string(),
            msgid: "request".to_owned(),
            sd_id: Some("privlog@32473".to_owned()),
            format: LineFormat::Ndjson,
        }
    }

    /// Appends one RFC 5424 message for `r` (no framing, no trailing newline).
    pub(in crate::sink) fn encode(&self, r: &Record, out: &mut Vec<u8>) {
        let pri = (self.facility as u8) * 8 + self.severity as u8;
        out.push(b'<');
        out.extend_from_slice(pri.to_string().as_bytes());
        out.extend_from_slice(b">1 ");
        write_ts(r.ts, out);
        for field in [&self.hostname, &self.app_name, &self.procid, &self.msgid] {
            out.push(b' ');
            out.extend_from_slice(if field.is_empty() { b"-" } else { field.as_bytes() });
        }
        out.push(b' ');
        match &self.sd_id {
            Some(id) => {
                out.push(b'[');
                out.extend_from_slice(id.as_bytes());
                sd_param(out, "method", &r.method);
                if let Some(route) = &r.route {
                    sd_param(out, "route", route);
                }
                sd_param(out, "path", &r.path);
                if let Some(status) = r.status {
                    sd_param(out, "status", &status.to_string());
                }
                sd_param(out, "outcome", r.outcome.as_str());
                sd_param(out, "duration_us", &r.duration_us.to_string());
                out.push(b']');
            }
            None => out.push(b'-'),
        }
        out.push(b' ');
        let msg_start = out.len();
        self.format.write(r, out);
        if out.last() == Some(&b'\n') {
            out.pop();
        }
        if !out[msg_start..].is_ascii() {
            // MSG-UTF8 must start with a byte order mark (RFC 5424 §6.4).
            out.splice(msg_start..msg_start, [0xef, 0xbb, 0xbf]);
        }
    }
}

/// Appends ` name="value"` with `"`, `\` and `]` escaped (RFC 5424 §6.3.3),
/// control characters removed and the value capped.
fn sd_param(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(b' ');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    let mut len = 0;
    for c in value.chars() {
        if is_control(c) {
            continue;
        }
        len += c.len_utf8();
        if len > SD_VALUE_MAX {
            break;
        }
        if matches!(c, '"' | '\\' | ']') {
            out.push(b'\\');
        }
        let mut b = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
    }
    out.push(b'"');
}

fn is_control(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}' || c == '\u{feff}'
}

/// `value` as a header field: printable US-ASCII only (others become `_`),
/// at most `max` bytes; empty means NILVALUE.
pub(super) fn header_field(value: &str, max: usize) -> String {
    let s: String = value
        .trim()
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(max)
        .collect();
    if s == "-" { String::new() } else { s }
}

/// Checks an SD-ID: `name@number` or a plain name, printable US-ASCII
/// without `=`, space, `]` or `"`, at most 32 characters.
pub(super) fn valid_sd_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= SD_NAME_MAX
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'=' | b']' | b'"'))
}

/// This machine's name, from the kernel; empty when unknown.
fn local_hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn header() -> Header {
        Header {
            hostname: "web-1".into(),
            procid: "42".into(),
            ..Header::new()
        }
    }

    #[test]
    fn message_has_the_rfc_5424_layout() {
        let mut r = Record::new(datetime!(2026-11-22 09:30:00.123 UTC), "GET", "/health");
        r.status = Some(200);
        let mut out = Vec::new();
        header().encode(&r, &mut out);
        let s = String::from_utf8(out).expect("utf-8");
        let expected_prefix = "<134>1 2026-11-22T09:30:00.123Z web-1 privlog 42 request \
             [privlog@32473 method=\"GET\" path=\"/health\" status=\"200\" outcome=\"completed\" duration_us=\"0\"] {\"v\":1,";
        assert!(s.starts_with(expected_prefix), "{s}");
        assert!(s.ends_with('}'));
    }

    #[test]
    fn sd_values_escape_quote_backslash_and_bracket() {
        let r = Record::new(datetime!(2026-11-22 09:30 UTC), "GET", "/a\"b\\c]d\ne");
        let mut out = Vec::new();
        header().encode(&r, &mut out);
        let s = String::from_utf8(out).expect("utf-8");
        assert!(s.contains(r#"path="/a\"b\\c\]de""#), "{s}");
    }

    #[test]
    fn non_ascii_msg_starts_with_a_bom_and_ascii_msg_does_not() {
        let mut out = Vec::new();
        header().encode(
            &Record::new(datetime!(2026-11-22 09:30 UTC), "GET", "/caf\u{e9}"),
            &mut out,
        );
        assert!(out.windows(5).any(|w| w == b" \xef\xbb\xbf{"));
        out.clear();
        header().encode(&Record::new(datetime!(2026-11-22 09:30 UTC), "GET", "/cafe"), &mut out);
        assert!(!out.windows(3).any(|w| w == b"\xef\xbb\xbf"));
    }

    #[test]
    fn header_fields_are_printable_ascii_and_capped() {
        assert_eq!(header_field("my app\u{e9}\tx", 48), "my_app__x");
        assert_eq!(header_field(&"x".repeat(100), APP_NAME_MAX).len(), 48);
        assert_eq!(header_field("-", 48), "");
        assert!(valid_sd_id("privlog@32473"));
        assert!(!valid_sd_id("a b") && !valid_sd_id("a=b") && !valid_sd_id("") && !valid_sd_id(&"x".repeat(33)));
    }
}
