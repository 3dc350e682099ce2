//! The Elasticsearch / OpenSearch `_bulk` API.

use super::encoder::{Encoder, ItemFailures};
use super::retry::{Class, classify};
use crate::Record;
use crate::record::write_ndjson;

/// Elasticsearch's and OpenSearch's `POST /<index>/_bulk`: a `create` action
/// line, then the record, per record.
///
/// Every action names the document's `_id`: the first 128 bits of the BLAKE3
/// hash of the record's NDJSON line, in hex. The id depends on the record
/// only, so a batch sent again (after a timeout, a lost answer, or from the
/// spool after a restart) names the same documents, and `create` refuses them
/// with a per-item `409` instead of indexing them twice. Two records equal in
/// every field (same millisecond, same microsecond duration, same client
/// network, path, status, sizes, account...) are the same document: the
/// index keeps one of them, and the second counts as delivered.
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
        let mut line = Vec::with_capacity(512);
        for r in batch {
            line.clear();
            write_ndjson(r, &mut line);
            out.extend_from_slice(b"{\"create\":{\"_id\":\"");
            out.extend_from_slice(&document_id(&line));
            out.extend_from_slice(b"\"}}\n{\"@timestamp\":\"");
            crate::record::write_ts(r.ts, out);
            out.extend_from_slice(b"\",");
            // Skip the record's opening brace: it continues the object above.
            out.extend_from_slice(line.get(1..).unwrap_or_default());
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

/// The document id of a record whose NDJSON line is `line`: 32 lowercase hex
/// digits (128 bits of its BLAKE3 hash).
fn document_id(line: &[u8]) -> [u8; 32] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hash = blake3::hash(line);
    let mut id = [0u8; 32];
    for (pair, byte) in id.chunks_exact_mut(2).zip(hash.as_bytes()) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0x0f)];
    }
    id
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
        let id = lines[0]["create"]["_id"].as_str().expect("an _id");
        assert_eq!(id.len(), 32);
        assert_ne!(lines[2]["create"]["_id"], lines[0]["create"]["_id"]);
        assert_eq!(lines[1]["@timestamp"], "1970-01-01T00:00:00.000Z");
        assert_eq!(lines[3]["path"], "/b");
    }

    #[test]
    fn document_ids_are_the_same_on_every_encoding_and_differ_by_any_field() {
        let a = Record::new(OffsetDateTime::UNIX_EPOCH, "GET", "/a");
        let mut b = a.clone();
        b.duration_us += 1;
        let ids = |rs: &[Record]| {
            let mut out = Vec::new();
            Elasticsearch::new().encode(rs, &mut out);
            out.split(|c| *c == b'\n')
                .filter(|l| l.starts_with(b"{\"create\""))
                .map(|l| serde_json::from_slice::<serde_json::Value>(l).expect("json")["create"]["_id"].clone())
                .collect::<Vec<_>>()
        };
        let first = ids(&[a.clone(), b.clone()]);
        assert_eq!(first, ids(&[a.clone(), b.clone()]));
        assert_eq!(ids(&[b]), first[1..]);
        assert_ne!(first[0], first[1]);
        // Decoded from its NDJSON line (as the spool replays it), the id is the same.
        let replayed = crate::record::parse_line(a.to_ndjson().trim_end().as_bytes()).expect("parse");
        assert_eq!(ids(&[replayed]), first[..1]);
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
