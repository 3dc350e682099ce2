//! The policy's defaults, each stated once: [`Policy::default`](crate::Policy),
//! the `[policy]` table of a configuration file and the documentation all
//! refer to these.

use super::{PathPolicy, Rotation};

/// The IPv4 prefix kept when client addresses are truncated: `/24`.
pub const IPV4_PREFIX: u8 = 24;

/// The IPv6 prefix kept when client addresses are truncated: `/48`.
pub const IPV6_PREFIX: u8 = 48;

/// The longest IPv4 prefix (the whole address).
pub const MAX_IPV4_PREFIX: u8 = 32;

/// The longest IPv6 prefix (the whole address).
pub const MAX_IPV6_PREFIX: u8 = 128;

/// How often pseudonyms change: each UTC month.
pub const ROTATION: Rotation = Rotation::Monthly;

/// Whether an account ID found in the path is used when nothing better is
/// known.
pub const PATH_ACCOUNT_IDS: bool = true;

/// How a path without a route template is written:
/// [`PathPolicy::Allowlist`], so a segment reaches a record only because it
/// is known to be safe (a name looks like any other word, so no denylist can
/// keep that promise).
pub const PATH_POLICY: PathPolicy = PathPolicy::Allowlist;
