//! How a batch becomes a request body: one trait, one type per collector.

use std::fmt;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::Record;
use crate::record::write_ndjson;
use crate::sink::SinkError;

/// Turns a batch of records into one request body for a kind of collector.
///
/// The built-in encoders are [`Ndjson`], [`ClickHouse`], [`Loki`],
/// [`Elasticsearch`](super::Elasticsearch) and [`Otlp`](super::Otlp).
/// Encoders see only sanitized records and must not add anything else.
pub trait Encoder: Send + Sync + fmt::Debug + 'static {
    /// A short name for statistics and warnings (`ndjson`, `clickhouse` …).
    fn name(&self) -> &'static str;

    /// The request's `Content-Type`.
    fn content_type(&self) -> &'static str;

    /// Appends the body for `batch` to `out`.
    fn encode(&self, batch: &[Record], out: &mut Vec<u8>);

    /// A query string (without `?`) added to the collector URL, if any.
    fn url_query(&self) -> Option<String> {
        None
    }

    /// Whether a successful response's body must be read for
    /// [`Encoder::item_failures`].
    fn reads_response(&self) -> bool {
        false
    }

    /// Whether a 5xx response says the batch itself is invalid (so retrying
    /// it would fail forever) rather than that the collector is unwell.
    fn refuses_batch(&self, status: u16, body: &[u8]) -> bool {
        let _ = (status, body);
        false
    }

    /// For collectors that answer 2xx while refusing some records (the
    /// Elasticsearch `_bulk` API): which records of a batch of `len` failed.
    fn item_failures(&self, body: &[u8], len: usize) -> Option<ItemFailures> {
        let _ = (body, len);
        None
    }
}

/// Records of a batch that a collector refused inside a successful response,
/// by their index in the batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ItemFailures {
    /// Refused for a passing reason (overload): sent again later.
    pub retry: Vec<usize>,
    /// Refused as invalid: written to the dead-letter file.
    pub rejected: Vec<usize>,
}

/// One record per line, in privlog's canonical NDJSON form (or, with
/// [`Ndjson::json_array`], one JSON array).
///
/// For Vector's `http_server` source, Logstash's `http` input (codec
/// `json_lines`), and anything that reads NDJSON; the array form suits
/// Fluent Bit's `http` input.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ndjson {
    array: bool,
}

impl Ndjson {
    /// Newline-delimited JSON, `Content-Type: application/x-ndjson`.
    pub fn new() -> Self {
        Ndjson { array: false }
    }

    /// One JSON array of records, `Content-Type: application/json`.
    pub fn json_array() -> Self {
        Ndjson { array: true }
    }
}

impl Encoder for Ndjson {
    fn name(&self) -> &'static str {
        "ndjson"
    }

    fn content_type(&self) -> &'static str {
        if self.array {
            "application/json"
        } else {
            "application/x-ndjson"
        }
    }

    fn encode(&self, batch: &[Record], out: &mut Vec<u8>) {
        if !self.array {
            for r in batch {
                write_ndjson(r, out);
            }
            return;
        }
        out.push(b'[');
        for (i, r) in batch.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_ndjson(r, out);
            out.pop(); // the newline
        }
        out.push(b']');
    }
}

/// ClickHouse's HTTP interface: `INSERT INTO <table> FORMAT JSONEachRow`
/// with the canonical NDJSON lines as rows.
///
/// Unknown fields are skipped (`input_format_skip_unknown_fields=1`), so a
/// table made for schema v1 keeps working when records gain fields, and `ts`
/// is parsed as RFC 3339 (`date_time_input_format=best_effort`) into a
/// `DateTime` column.
#[derive(Clone, Debug)]
pub struct ClickHouse {
    table: String,
}

impl ClickHouse {
    /// Inserts into `table` (`name` or `database.name`).
    ///
    /// # Errors
    /// When the name is not a plain identifier (letters, digits, `_`, one `.`).
    pub fn new(table: &str) -> Result<Self, SinkError> {
        let ident = |s: &str| {
            !s.is_empty()
                && !s.starts_with(|c: char| c.is_ascii_digit())
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        let ok = match table.split_once('.') {
            Some((db, t)) => ident(db) && ident(t),
            None => ident(table),
        };
        if !ok {
            return Err(SinkError::new(format!(
                "invalid clickhouse table name {table:?}: use letters, digits and `_`, optionally `database.table`"
            )));
        }
        Ok(ClickHouse {
            table: table.to_owned(),
        })
    }
}

impl Encoder for ClickHouse {
    fn name(&self) -> &'static str {
        "clickhouse"
    }

    fn content_type(&self) -> &'static str {
        "application/x-ndjson"
    }

    fn encode(&self, batch: &[Record], out: &mut Vec<u8>) {
        for r in batch {
            write_ndjson(r, out);
        }
    }

    fn refuses_batch(&self, status: u16, body: &[u8]) -> bool {
        // Older servers answer 500 to data they cannot parse; the exception
        // code in the body tells a bad batch from an unwell server.
        let text = String::from_utf8_lossy(&body[..body.len().min(64)]);
        let code = text
            .trim_start()
            .strip_prefix("Code: ")
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<u32>().ok());
        status >= 500 && code.is_some_and(|c| CLICKHOUSE_DATA_ERRORS.contains(&c))
    }

    fn url_query(&self) -> Option<String> {
        let q = format!("INSERT INTO {} FORMAT JSONEachRow", self.table);
        Some(format!(
            "query={}&input_format_skip_unknown_fields=1&date_time_input_format=best_effort",
            utf8_percent_encode(&q, NON_ALPHANUMERIC)
        ))
    }
}

/// ClickHouse exception codes that mean "this data or this table is wrong":
/// cannot parse (6, 26, 27, 38, 41, 72), unexpected end of data (32, 33),
/// no such column, table or database (16, 60, 81), syntax (62), type
/// mismatch or conversion (53, 70), out of bound (69), unknown format (73),
/// incorrect data (117), null into a non-nullable column (349).
const CLICKHOUSE_DATA_ERRORS: &[u32] = &[6, 16, 26, 27, 32, 33, 38, 41, 53, 60, 62, 69, 70, 72, 73, 81, 117, 349];

/// Writes `s` as a JSON string without a length cap (for whole lines).
pub(crate) fn write_json_string(s: &str, out: &mut Vec<u8>) {
    // Serializing a `str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    #[test]
    fn ndjson_array_is_one_json_array_of_records() {
        let rs = vec![
            Record::new(OffsetDateTime::UNIX_EPOCH, "GET", "/a"),
            Record::new(OffsetDateTime::UNIX_EPOCH, "PUT", "/b"),
        ];
        let mut out = Vec::new();
        Ndjson::json_array().encode(&rs, &mut out);
        let v: Vec<Record> = serde_json::from_slice(&out).expect("valid json array");
        assert_eq!(v, rs);
    }

    #[test]
    fn clickhouse_rejects_table_names_that_could_inject_sql() {
        assert!(ClickHouse::new("logs.requests").is_ok());
        for bad in ["", "t; DROP TABLE x", "a.b.c", "1abc", "t FORMAT CSV"] {
            assert!(ClickHouse::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn clickhouse_parse_errors_answered_with_500_refuse_the_batch() {
        let ch = ClickHouse::new("t").expect("valid");
        assert!(ch.refuses_batch(500, b"Code: 27, e.displayText() = DB::Exception: Cannot parse input"));
        assert!(!ch.refuses_batch(
            500,
            b"Code: 241, e.displayText() = DB::Exception: Memory limit exceeded"
        ));
        assert!(!ch.refuses_batch(503, b"Service Unavailable"));
    }

    #[test]
    fn clickhouse_query_names_the_table_and_format() {
        let q = ClickHouse::new("db.t").expect("valid").url_query().expect("query");
        assert!(
            q.starts_with("query=INSERT%20INTO%20db%2Et%20FORMAT%20JSONEachRow"),
            "{q}"
        );
    }
}
