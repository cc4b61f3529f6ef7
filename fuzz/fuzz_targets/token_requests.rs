//! `targets::token_requests` (fuzz/src/targets.rs) says what this target holds to.
#![no_main]
use edge_registry_fuzz::targets;
libfuzzer_sys::fuzz_target!(|input: targets::TokenRequest| targets::token_requests(input));
