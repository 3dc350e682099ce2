//! The one support module of privlog's integration tests, by topic:
//!
//! - [`addon`]: the connect_addon example's app served on a real socket with
//!   a memory sink and a file sink, and the test key;
//! - [`jwt`]: Atlassian Connect JWTs, signed and forged;
//! - [`client`]: HTTP/1.1 and HTTP/2 requests with hyper's client;
//! - [`socket`]: an axum app behind hyper with a header-read timeout, and a
//!   raw TCP client that sends any bytes;
//! - [`traffic`]: simulated days of traffic through the real layer into a
//!   record file, and hand-built records that k-anonymity must withhold;
//! - [`traffic_gen`]: realistic Confluence/Jira add-on requests from a seed,
//!   each with the personal data planted in it;
//! - [`records`]: reading records back; [`output`]: what a record line must
//!   look like on the wire;
//! - [`files`]: temporary directories and record files as text;
//! - [`cli`]: the `privlog` binary as a child process;
//! - [`process`]: an example run as a child process;
//! - [`peers`]: the real programs some tests talk to (DuckDB).
//!
//! Every test file declares `mod support;` and imports from the submodules
//! it needs; what one file leaves unused is not dead code in another.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

#[path = "../../examples/connect_addon/app.rs"]
pub mod app;

pub mod addon;
pub mod cli;
pub mod client;
pub mod files;
pub mod jwt;
pub mod output;
pub mod peers;
pub mod process;
pub mod records;
pub mod socket;
pub mod traffic;
pub mod traffic_gen;

/// The upper bound any wait in these tests is allowed, so a broken build
/// fails instead of hanging. Never asserted as a duration.
pub const PATIENCE: Duration = Duration::from_secs(30);
