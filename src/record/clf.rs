//! Common and Combined Log Format lines, for the tools that read web server
//! access logs (GoAccess, AWStats, `goaccess --log-format=COMBINED`).

use serde::Deserialize;
use time::OffsetDateTime;

use super::Record;
use super::encode::write_ndjson;

/// How a file or syslog sink writes each record.
///
/// `ndjson` (the default) is the canonical record, the only format the
/// `privlog` tools read back. `clf` and `combined` carry the same sanitized
/// fields in the layout of a web server's access log:
///
/// ```text
/// 203.0.113.0 - k3v9Qm2x8TnA0pLw7yRb1c [10/Oct/2000:13:55:36 +0000] "GET /issues/{id}?lic=active HTTP/1.1" 200 2326
/// ```
///
/// - host: the client after the IP policy; a truncated prefix is written as
///   its network address (`203.0.113.0`, without `/24`, so log analysers
///   that check for an IP address accept it), a pseudonym as it is, `-`
///   when dropped;
/// - ident: always `-`;
/// - user: the account pseudonym, or `-`;
/// - the request start in UTC;
/// - the request line from the method, the sanitized path, the allowlisted
///   query and the protocol;
/// - the status (`-` when no response was produced) and the response body
///   bytes (`-` when none, as web servers write it).
///
/// `combined` adds the referer and the user agent, always `"-" "-"`: privlog
/// never logs request headers. Route, durations, outcome, tenant, epoch and
/// key id are not in these formats; use `ndjson` where they are needed.
/// Every byte outside printable ASCII, every `"` and `\`, and a space
/// outside the request line are written as escapes (`\x0a`, `\"`, `\\`), as Apache does, so a
/// line is always one line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LineFormat {
    /// The canonical record, one JSON object per line.
    #[default]
    Ndjson,
    /// Common Log Format.
    Clf,
    /// Combined Log Format (CLF plus referer and user agent, both `-`).
    Combined,
}

impl LineFormat {
    /// The name used in the configuration file (`ndjson`, `clf`, `combined`).
    pub fn name(self) -> &'static str {
        match self {
            LineFormat::Ndjson => "ndjson",
            LineFormat::Clf => "clf",
            LineFormat::Combined => "combined",
        }
    }

    /// Appends `record` to `out` in this format, ending in `\n`.
    pub fn write(self, record: &Record, out: &mut Vec<u8>) {
        match self {
            LineFormat::Ndjson => write_ndjson(record, out),
            LineFormat::Clf => {
                write_clf(record, out);
                out.push(b'\n');
            }
            LineFormat::Combined => {
                write_clf(record, out);
                out.extend_from_slice(b" \"-\" \"-\"\n");
            }
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s`, escaping what may not appear in a CLF field: bytes outside
/// printable ASCII, a space outside quotes, `"` and `\`.
fn write_escaped(s: &str, quoted: bool, out: &mut Vec<u8>) {
    for &b in s.as_bytes() {
        match b {
            b'"' | b'\\' => {
                out.push(b'\\');
                out.push(b);
            }
            b' ' if quoted => out.push(b),
            0x21..=0x7e => out.push(b),
            _ => {
                out.extend_from_slice(b"\\x");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0x0f)]);
            }
        }
    }
}

/// An unquoted field: `-` when absent or empty.
fn write_token(s: Option<&str>, out: &mut Vec<u8>) {
    match s {
        Some(s) if !s.is_empty() => write_escaped(s, false, out),
        _ => out.push(b'-'),
    }
}

fn write_u64(n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn write_2(n: u8, out: &mut Vec<u8>) {
    out.push(b'0' + n / 10);
    out.push(b'0' + n % 10);
}

/// `[10/Oct/2000:13:55:36 +0000]`, in UTC.
fn write_clf_time(ts: OffsetDateTime, out: &mut Vec<u8>) {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
    ];
    let ts = ts.to_offset(time::UtcOffset::UTC);
    out.push(b'[');
    write_2(ts.day(), out);
    out.push(b'/');
    out.extend_from_slice(MONTHS[usize::from(u8::from(ts.month())) - 1]);
    out.push(b'/');
    // Years outside 0..=9999 cannot be read back by anything; write them as they are.
    let year = ts.year();
    if year < 0 {
        out.push(b'-');
    }
    let y = u64::from(year.unsigned_abs());
    for d in [1000, 100, 10] {
        if y < d {
            out.push(b'0');
        }
    }
    write_u64(y, out);
    out.push(b':');
    write_2(ts.hour(), out);
    out.push(b':');
    write_2(ts.minute(), out);
    out.push(b':');
    write_2(ts.second(), out);
    out.extend_from_slice(b" +0000]");
}

/// The Common Log Format line of `record`, without the line end.
fn write_clf(record: &Record, out: &mut Vec<u8>) {
    // A truncated prefix is written as its network address.
    let host = record.client.as_deref().map(|c| match c.split_once('/') {
        Some((addr, bits)) if !addr.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()) => addr,
        _ => c,
    });
    write_token(host, out);
    out.extend_from_slice(b" - ");
    write_token(record.account.as_deref(), out);
    out.push(b' ');
    write_clf_time(record.ts, out);
    out.extend_from_slice(b" \"");
    write_escaped(&record.method, true, out);
    out.push(b' ');
    write_escaped(&record.path, true, out);
    if let Some(q) = record.query.as_deref() {
        out.push(b'?');
        write_escaped(q, true, out);
    }
    out.push(b' ');
    write_escaped(&record.proto, true, out);
    out.extend_from_slice(b"\" ");
    match record.status {
        Some(s) => write_u64(u64::from(s), out),
        None => out.push(b'-'),
    }
    out.push(b' ');
    match record.resp_bytes {
        0 => out.push(b'-'),
        n => write_u64(n, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(format: LineFormat, r: &Record) -> String {
        let mut out = Vec::new();
        format.write(r, &mut out);
        String::from_utf8(out).expect("ascii")
    }

    #[test]
    fn clf_and_combined_carry_the_sanitized_fields() {
        let ts = OffsetDateTime::from_unix_timestamp(971_185_736).expect("ts") + time::Duration::milliseconds(250);
        let mut r = Record::new(ts, "GET", "/issues/{id}");
        r.client = Some("203.0.113.0/24".into());
        r.query = Some("lic=active".into());
        r.status = Some(200);
        r.resp_bytes = 2326;
        r.account = Some("k3v9Qm2x".into());
        assert_eq!(
            line(LineFormat::Clf, &r),
            "203.0.113.0 - k3v9Qm2x [10/Oct/2000:13:48:56 +0000] \"GET /issues/{id}?lic=active HTTP/1.1\" 200 2326\n"
        );
        r.client = None;
        r.account = None;
        r.status = None;
        r.resp_bytes = 0;
        r.query = None;
        assert_eq!(
            line(LineFormat::Combined, &r),
            "- - - [10/Oct/2000:13:48:56 +0000] \"GET /issues/{id} HTTP/1.1\" - - \"-\" \"-\"\n"
        );
    }

    proptest! {
        /// Whatever the fields hold, a CLF line is one line of printable ASCII
        /// with exactly the quotes of its quoted fields unescaped.
        #[test]
        fn a_clf_line_is_one_line_of_printable_ascii(
            path in ".{0,40}", method in "\\PC{0,8}", client in proptest::option::of(".{0,20}"),
            account in proptest::option::of(".{0,20}"), query in proptest::option::of(".{0,20}"),
        ) {
            let mut r = Record::new(OffsetDateTime::UNIX_EPOCH, method, path);
            r.client = client;
            r.account = account;
            r.query = query;
            let l = line(LineFormat::Combined, &r);
            let body = l.strip_suffix('\n').expect("ends in a newline");
            prop_assert!(body.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{body:?}");
            let unescaped = body.replace("\\\\", "");
            let bare_quotes = unescaped.as_bytes().iter().enumerate()
                .filter(|&(i, &b)| b == b'"' && (i == 0 || unescaped.as_bytes()[i - 1] != b'\\'))
                .count();
            prop_assert_eq!(bare_quotes, 6, "{}", body);
            // Host, ident and user hold no space.
            prop_assert_eq!(body.split(' ').nth(3).map(|t| t.starts_with('[')), Some(true), "{}", body);
        }
    }
}
