//! Audits log files for personal data and secrets: full IP addresses, e-mail
//! addresses, JWTs, Atlassian account IDs, credentials, long random tokens,
//! card numbers, IBANs, phone numbers, national IDs, customer sites, user
//! keys, handles and names in profile URLs, and the operator's own rules
//! ([`AuditRules`]) — in privlog's own output or any other access log (nginx
//! and Apache combined format, application logs). The values are judged by
//! the detectors the path allowlist uses ([`crate::policy::detect`]).
//!
//! ```
//! use privlog::audit::{Kind, scan_line};
//! let mut found = Vec::new();
//! scan_line(b"198.51.100.23 - - \"GET /u/jane@example.com HTTP/1.1\"", &mut |f| {
//!     found.push((f.kind(), f.masked()))
//! });
//! assert_eq!(found[0], (Kind::Ipv4, "198.***.***.***".to_owned()));
//! assert_eq!(found[1], (Kind::Email, "j***@e***.com".to_owned()));
//! ```
//!
//! Findings are reported masked, never in full. privlog records are
//! understood: the pseudonyms in `account`, `tenant` and `client` are not
//! findings, but everything else in a record (path, query, route) is scanned,
//! and a raw value in those fields is still found.
//!
//! The scanner splits lines into URLs and words and hands the detectors only
//! the values whose bytes make a finding possible; [`audit_files`] runs it on
//! every core.

mod detect;
mod finding;
mod rules;
mod scan;

pub use detect::{scan_line, scan_line_with};
pub use finding::{Finding, Kind};
pub use rules::{AuditRules, AuditRulesError};
pub use scan::{AuditError, AuditOptions, AuditReport, Example, audit_files};
