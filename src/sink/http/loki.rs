//! Grafana Loki's push API (JSON).

use std::collections::BTreeMap;

use super::encoder::{Encoder, write_json_string};
use crate::Record;
use crate::record::{write_ndjson, write_str};

/// Loki's `POST /loki/api/v1/push`, JSON body.
///
/// Each record's canonical NDJSON line is the log line. Labels are
/// low-cardinality only: `service_name` (fixed), `method`, `status_class`
/// (`2xx`, `4xx`, `none` …) and, unless turned off, `route` (the route
/// template, present only when the app matched one). Never the path, client,
/// account or tenant: they would create a stream per user.
#[derive(Clone, Debug)]
pub struct Loki {
    service: String,
    route_label: bool,
}

impl Default for Loki {
    fn default() -> Self {
        Loki {
            service: "privlog".to_owned(),
            route_label: true,
        }
    }
}

impl Loki {
    /// Labels streams `service_name="privlog"`, `method`, `status_class`, `route`.
    pub fn new() -> Self {
        Self::default()
    }

    /// The `service_name` label. Defaults to `privlog`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service = name.into();
        self
    }

    /// Whether the route template is a label. Defaults to on; turn it off for
    /// apps whose routes are many.
    pub fn route_label(mut self, on: bool) -> Self {
        self.route_label = on;
        self
    }
}

/// `2xx`, `4xx` … or `none` for a request without a response.
pub(crate) fn status_class(status: Option<u16>) -> &'static str {
    match status.map(|s| s / 100) {
        Some(1) => "1xx",
        Some(2) => "2xx",
        Some(3) => "3xx",
        Some(4) => "4xx",
        Some(5) => "5xx",
        Some(_) => "other",
        None => "none",
    }
}

impl Encoder for Loki {
    fn name(&self) -> &'static str {
        "loki"
    }

    fn content_type(&self) -> &'static str {
        "application/json"
    }

    fn encode(&self, batch: &[Record], out: &mut Vec<u8>) {
        let mut streams: BTreeMap<(&str, &str, Option<&str>), Vec<&Record>> = BTreeMap::new();
        for r in batch {
            let route = if self.route_label { r.route.as_deref() } else { None };
            streams
                .entry((r.method.as_str(), status_class(r.status), route))
                .or_default()
                .push(r);
        }
        let mut line = Vec::with_capacity(512);
        out.extend_from_slice(b"{\"streams\":[");
        for (i, ((method, class, route), records)) in streams.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"stream\":{\"service_name\":");
            write_str(&self.service, out);
            out.extend_from_slice(b",\"method\":");
            write_str(method, out);
            out.extend_from_slice(b",\"status_class\":\"");
            out.extend_from_slice(class.as_bytes());
            out.push(b'"');
            if let Some(route) = route {
                out.extend_from_slice(b",\"route\":");
                write_str(route, out);
            }
            out.extend_from_slice(b"},\"values\":[");
            for (j, r) in records.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"[\"");
                // Loki takes no time before 1970 (the line keeps the record's own).
                out.extend_from_slice(r.ts.unix_timestamp_nanos().max(0).to_string().as_bytes());
                out.extend_from_slice(b"\",");
                line.clear();
                write_ndjson(r, &mut line);
                line.pop();
                write_json_string(&String::from_utf8_lossy(&line), out);
                out.push(b']');
            }
            out.extend_from_slice(b"]}");
        }
        out.extend_from_slice(b"]}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    #[test]
    fn loki_labels_never_carry_path_client_or_account() {
        let mut r = Record::new(OffsetDateTime::UNIX_EPOCH, "GET", "/u/{account_id}");
        r.client = Some("203.0.113.0/24".into());
        r.account = Some("acc_secretish".into());
        r.status = Some(404);
        r.route = Some("/u/{id}".into());
        let mut out = Vec::new();
        Loki::new().encode(&[r.clone(), r], &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid json");
        let streams = v["streams"].as_array().expect("streams");
        assert_eq!(streams.len(), 1);
        let labels = streams[0]["stream"].as_object().expect("labels");
        let mut keys: Vec<_> = labels.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["method", "route", "service_name", "status_class"]);
        assert_eq!(labels["status_class"], "4xx");
        let values = streams[0]["values"].as_array().expect("values");
        assert_eq!(values.len(), 2);
        assert_eq!(values[0][0], "0");
        let line: Record = serde_json::from_str(values[0][1].as_str().expect("line")).expect("record line");
        assert_eq!(line.path, "/u/{account_id}");
    }
}
