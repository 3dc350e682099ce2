//! The privacy policy: keys, epochs and pseudonyms, the IP policy, trusted
//! proxies, the detectors of personal data ([`detect`]), the path allowlist
//! and query policy, and where account IDs come from.
//!
//! A [`Policy`] is plain data. It is checked once, when it is compiled (as
//! the layer is built, or a configuration file checked), into what the
//! request path copies and what the pipeline worker applies; nothing of it
//! runs on the request path beyond copying. Its defaults are in [`defaults`].

mod compiled;
mod daily_ip;
pub mod defaults;
pub mod detect;
mod epoch;
pub(crate) mod ip;
pub(crate) mod jwt;
mod key;
mod keyring;
mod path_policy;
#[allow(clippy::module_inception)]
mod policy;
mod pseudonym;
mod query;
mod ratchet;
pub(crate) mod scrub;
mod suppression;

pub(crate) use compiled::{CaptureConfig, CompiledPolicy, MAX_CAPTURED, Source};
// What a middleware user needs: the policy and its parts, keys, pseudonyms
// and their errors.
pub(crate) use daily_ip::daily_ip_keys;
pub use detect::{CompiledRules, Rule, RuleError, RuleSet};
pub use epoch::{Epoch, Rotation};
pub use ip::{CidrError, IpPolicy, MAX_TRUSTED_PROXIES, TrustedProxies};
pub use jwt::{JwtClaims, peek_jwt};
pub use key::{KeyError, KeyId, MasterKey};
pub use keyring::{Advanced, EpochKeysError, KeyRing, KeyRingError, RingKey, write_key_file, write_ratchet_key_file};
pub use path_policy::PathPolicy;
pub use policy::{AccountSources, CONNECT_DENIED_QUERY, Policy, PolicyError};
pub use pseudonym::{EpochKeys, Pseudonym, Pseudonymizer, Purpose};
pub use query::{MAX_QUERY_LEN, QueryPolicy};
pub use ratchet::{RatchetError, RatchetKey};

// Parser internals, public only for the fuzz targets, benchmarks and
// integration tests that drive them directly; not part of the API.
#[doc(hidden)]
pub use path_policy::{LearnedLiterals, MAX_BARE_CHARACTERS, MAX_LEARNED_LITERALS, write_safe_path};
#[doc(hidden)]
pub use scrub::{ScrubbedPath, scrub_path};
// The suppression list's file format, shared by the worker and
// `privlog subject erase --suppress`.
#[doc(hidden)]
pub use ip::{Hop, MAX_HOPS, forwarded_hops, normalize as normalize_ip, resolve_client, xff_hops};
#[doc(hidden)]
pub use jwt::{MAX_JWT_LEN, jwt_from_authorization};
#[doc(hidden)]
pub use scrub::{
    MAX_SEGMENT_LEN, MAX_SEGMENTS, Placeholder, classify as classify_segment, classify_value, is_token, is_uuid,
    sanitize_text,
};
#[doc(hidden)]
pub use suppression::{SUPPRESSION_HEADER, SuppressionKey, SuppressionList, SuppressionMark};
