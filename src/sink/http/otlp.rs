//! OTLP/HTTP JSON logs (`POST /v1/logs`).

use super::encoder::Encoder;
use crate::record::{write_str, write_u64};
use crate::{Outcome, Record};

/// OpenTelemetry's OTLP/HTTP logs export in its JSON encoding.
///
/// One log record per request, `timeUnixNano` from `ts`, the body a short
/// `METHOD path status` summary, and attributes named after the OpenTelemetry
/// HTTP semantic conventions:
///
/// | record field | attribute |
/// |---|---|
/// | `method` | `http.request.method` |
/// | `path` | `url.path` |
/// | `query` | `url.query` |
/// | `route` | `http.route` |
/// | `status` | `http.response.status_code` |
/// | `client` | `client.address` |
/// | `req_bytes` | `http.request.body.size` |
/// | `resp_bytes` | `http.response.body.size` |
/// | `proto` | `network.protocol.name` = `http`, `network.protocol.version` (`1.1`, `2`) |
/// | `account` | `user.hash` |
/// | `account_src`, `tenant`, `outcome`, `duration_us`, `ttfb_us`, `epoch`, `kid`, `v` | `privlog.account_src`, `privlog.tenant`, `privlog.outcome`, `privlog.duration_us`, `privlog.ttfb_us`, `privlog.epoch`, `privlog.kid`, `privlog.schema_version` |
/// | `sample_rate` (records kept by sampling) | `privlog.sample_rate` (a double) |
///
/// Severity is `INFO`, `WARN` for 5xx responses and aborted requests, `ERROR`
/// for requests that ended in an error.
#[derive(Clone, Debug)]
pub struct Otlp {
    service: String,
}

impl Default for Otlp {
    fn default() -> Self {
        Otlp {
            service: "privlog".to_owned(),
        }
    }
}

impl Otlp {
    /// Resource attribute `service.name` = `privlog`.
    pub fn new() -> Self {
        Self::default()
    }

    /// The resource's `service.name`. Defaults to `privlog`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service = name.into();
        self
    }
}

fn attr_str(key: &str, value: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b",{\"key\":\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\",\"value\":{\"stringValue\":");
    write_str(value, out);
    out.extend_from_slice(b"}}");
}

fn attr_int(key: &str, value: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(b",{\"key\":\"");
    out.extend_from_slice(key.as_bytes());
    // Protobuf's JSON mapping writes 64-bit integers as strings.
    out.extend_from_slice(b"\",\"value\":{\"intValue\":\"");
    write_u64(value, out);
    out.extend_from_slice(b"\"}}");
}

impl Encoder for Otlp {
    fn name(&self) -> &'static str {
        "otlp"
    }

    fn content_type(&self) -> &'static str {
        "application/json"
    }

    fn encode(&self, batch: &[Record], out: &mut Vec<u8>) {
        out.extend_from_slice(
            b"{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":",
        );
        write_str(&self.service, out);
        out.extend_from_slice(b"}}]},\"scopeLogs\":[{\"scope\":{\"name\":\"privlog\",\"version\":\"");
        out.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
        out.extend_from_slice(b"\"},\"logRecords\":[");
        for (i, r) in batch.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let (sev_num, sev) = match (r.outcome, r.status) {
                (Outcome::Error, _) => (17, "ERROR"),
                (Outcome::Aborted, _) => (13, "WARN"),
                (_, Some(500..)) => (13, "WARN"),
                _ => (9, "INFO"),
            };
            out.extend_from_slice(b"{\"timeUnixNano\":\"");
            out.extend_from_slice(r.ts.unix_timestamp_nanos().max(0).to_string().as_bytes());
            out.extend_from_slice(b"\",\"severityNumber\":");
            write_u64(sev_num, out);
            out.extend_from_slice(b",\"severityText\":\"");
            out.extend_from_slice(sev.as_bytes());
            out.extend_from_slice(b"\",\"body\":{\"stringValue\":");
            let summary = match r.status {
                Some(s) => format!("{} {} {s}", r.method, r.path),
                None => format!("{} {} -", r.method, r.path),
            };
            write_str(&summary, out);
            out.extend_from_slice(b"},\"attributes\":[{\"key\":\"http.request.method\",\"value\":{\"stringValue\":");
            write_str(&r.method, out);
            out.extend_from_slice(b"}}");
            attr_str("url.path", &r.path, out);
            if let Some(q) = &r.query {
                attr_str("url.query", q, out);
            }
            if let Some(route) = &r.route {
                attr_str("http.route", route, out);
            }
            if let Some(s) = r.status {
                attr_int("http.response.status_code", u64::from(s), out);
            }
            if let Some(c) = &r.client {
                attr_str("client.address", c, out);
            }
            attr_int("http.request.body.size", r.req_bytes, out);
            attr_int("http.response.body.size", r.resp_bytes, out);
            let version = r.proto.strip_prefix("HTTP/").unwrap_or(&r.proto);
            attr_str("network.protocol.name", "http", out);
            attr_str("network.protocol.version", version, out);
            if let Some(a) = &r.account {
                attr_str("user.hash", a, out);
            }
            if let Some(src) = r.account_src {
                attr_str("privlog.account_src", src.as_str(), out);
            }
            if let Some(t) = &r.tenant {
                attr_str("privlog.tenant", t, out);
            }
            attr_str("privlog.outcome", r.outcome.as_str(), out);
            attr_int("privlog.duration_us", r.duration_us, out);
            if let Some(t) = r.ttfb_us {
                attr_int("privlog.ttfb_us", t, out);
            }
            attr_str("privlog.epoch", &r.epoch, out);
            attr_str("privlog.kid", &r.kid, out);
            attr_int("privlog.schema_version", u64::from(r.v), out);
            if let Some(rate) = r.sample_rate {
                // A kept record stands for 1 / rate requests; without it
                // counts over sampled records come out too low.
                out.extend_from_slice(b",{\"key\":\"privlog.sample_rate\",\"value\":{\"doubleValue\":");
                out.extend_from_slice(rate.to_string().as_bytes());
                out.extend_from_slice(b"}}");
            }
            out.extend_from_slice(b"]}");
        }
        out.extend_from_slice(b"]}]}]}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    #[test]
    fn otlp_uses_semantic_convention_names_and_nanosecond_time() {
        let mut r = Record::new(
            OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("ts"),
            "POST",
            "/p",
        );
        r.status = Some(201);
        r.account = Some("acc_x".into());
        r.account_src = Some(crate::AccountSource::Jwt);
        r.route = Some("/p".into());
        r.req_bytes = 12;
        let mut out = Vec::new();
        Otlp::new().encode(&[r], &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid json");
        let lr = &v["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
        assert_eq!(lr["timeUnixNano"], "1700000000000000000");
        let attrs: std::collections::BTreeMap<String, serde_json::Value> = lr["attributes"]
            .as_array()
            .expect("attributes")
            .iter()
            .map(|a| (a["key"].as_str().expect("key").to_owned(), a["value"].clone()))
            .collect();
        assert_eq!(attrs["http.request.method"]["stringValue"], "POST");
        assert_eq!(attrs["http.response.status_code"]["intValue"], "201");
        assert_eq!(attrs["http.request.body.size"]["intValue"], "12");
        assert_eq!(attrs["network.protocol.version"]["stringValue"], "1.1");
        assert_eq!(attrs["user.hash"]["stringValue"], "acc_x");
        assert_eq!(attrs["privlog.account_src"]["stringValue"], "jwt");
        assert_eq!(attrs["http.route"]["stringValue"], "/p");
        assert!(!attrs.contains_key("url.query"));
    }
}
