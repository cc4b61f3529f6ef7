//! Digests: what parses renders back unchanged, and its hex has the algorithm's length.
#![no_main]
use edge_registry::oci::Digest;
use edge_registry_fuzz::check_error;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    match Digest::parse(input) {
        Ok(d) => {
            assert_eq!(d.to_string(), input);
            assert!(matches!(d.hex().len(), 64 | 128));
            assert!(d.hex().bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        }
        Err(e) => check_error(&e),
    }
});
