//! `targets::credentials` (fuzz/src/targets.rs) says what this target holds to.
#![no_main]
libfuzzer_sys::fuzz_target!(|input: &str| edge_registry_fuzz::targets::credentials(input));
