//! Authorization headers (Basic, Bearer) and registry tokens: nothing forged verifies.
#![no_main]
use edge_registry::auth::bearer;
use edge_registry::auth::credentials::{self, Credentials};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Credentials::Basic { user, .. } = credentials::parse(Some(input)) {
        assert!(!user.contains(':'));
    }
    // Without the key, no input is a valid token.
    assert!(bearer::verify(input, b"the fuzzer does not know this key", 0).is_none());
    if let Credentials::Bearer(token) = credentials::parse(Some(input)) {
        assert!(bearer::verify(&token, b"the fuzzer does not know this key", 0).is_none());
    }
});
