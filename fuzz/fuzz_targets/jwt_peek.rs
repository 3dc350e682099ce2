//! Reading Connect JWT claims from hostile tokens and Authorization headers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use privlog::policy::{MAX_JWT_LEN, jwt_from_authorization};

fuzz_target!(|data: &[u8]| {
    if let Some(token) = jwt_from_authorization(data) {
        let _ = privlog::peek_jwt(token);
    }
    let s = String::from_utf8_lossy(data);
    let claims = privlog::peek_jwt(&s);
    if claims.is_some() {
        assert!(s.trim().len() <= MAX_JWT_LEN);
    }
});
