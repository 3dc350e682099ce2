//! The Elasticsearch / OpenSearch `_bulk` API.

use super::encoder::{Encoder, ItemFailures};
use super::retry::{Class, classify};
use crate::Record;
use crate::record::write_ndjson;

/// Elasticsearch's and OpenSearch's `POST /<index>/_bulk`: a `create` action
/// line, then the record, per record.
///
/// Each document is the canonical record plus `@timestamp` (the same instant
/// as `ts`), so the index can be a data stream. The bulk API answers 200 even
/// when it refuses some documents; those are found in the response: the ones
/// refused for overload (429, 5xx) are sent again, the invalid ones go to the
/// dead-letter file, and `409` (already created by an earlier attempt) counts
/// as delivered.
#[derive(Clone, Copy, Debug, Default)]
pub struct Elasticsearch {
    _private: (),
}

impl Elasticsearch {
    /// The bulk encoder; the index is part of the URL (`http://es:9200/privlog/_bulk`).
    pub fn new() -> Self {
        Self::default()
    }
}

impl Encoder for Elasticsearch {
    fn name(&self) -> &'static str {
        "elasticsearch"
    }

    fn content_type(&self) -> &'static str {
        "application/x-ndjson"
    }

    fn encode(&self, batch: &[Record], out: &mut Vec<u8>) {
        for r in batch {
            out.extend_from_slice(b"{\"create\":{}}\n{\"@timestamp\":\"");
            crate::record::write_ts(r.ts, out);
            out.extend_from_slice(b"\",");
            let start = out.len();
            write_ndjson(r, out);
            // Drop the record's opening brace: it continues the object above.
            out.remove(start);
        }
    }

    fn reads_response(&self) -> bool {
        true
    }

    fn item_failures(&self, body: &[u8], len: usize) -> Option<ItemFailures> {
        #[derive(serde::Deserialize)]
        struct Bulk {
            #[serde(default)]
            errors: bool,
            #[serde(default)]
            items: Vec<std::collections::BTreeMap<String, Item>>,
        }
        #[derive(serde::Deserialize)]
        struct Item {
            #[serde(default)]
            status: u16,
        }
        let bulk: Bulk = serde_json::from_slice(body).ok()?;
        if !bulk.errors {
            return None;
        }
        let mut f = ItemFailures::default();
        for (i, item) in bulk.items.iter().take(len).enumerate() {
            let Some(status) = item.values().next().map(|it| it.status) else {
                continue;
            };
            match (status, classify(status)) {
                (409, _) | (_, Class::Delivered) => {}
                (_, Class::Retry) => f.retry.push(i),
                (_, Class::Reject) => f.rejected.push(i),
            }
        }
        Some(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    #[test]
    fn bulk_body_alternates_create_actions_and_documents() {
        let rs = [
            Record::new(OffsetDateTime::UNIX_EPOCH, "GET", "/a"),
            Record::new(OffsetDateTime::UNIX_EPOCH, "GET", "/b"),
        ];
        let mut out = Vec::new();
        Elasticsearch::new().encode(&rs, &mut out);
        let lines: Vec<serde_json::Value> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("json line"))
            .collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0]["create"].is_object());
        assert_eq!(lines[1]["@timestamp"], "1970-01-01T00:00:00.000Z");
        assert_eq!(lines[3]["path"], "/b");
    }

    #[test]
    fn bulk_item_errors_are_split_into_retry_and_rejected() {
        let body = br#"{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":429}},{"create":{"status":400}},{"create":{"status":409}}]}"#;
        let f = Elasticsearch::new().item_failures(body, 4).expect("failures");
        assert_eq!(f.retry, [1]);
        assert_eq!(f.rejected, [2]);
        assert!(
            Elasticsearch::new()
                .item_failures(br#"{"errors":false,"items":[]}"#, 0)
                .is_none()
        );
    }
}
