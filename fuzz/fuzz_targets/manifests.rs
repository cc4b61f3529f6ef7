//! `targets::manifests` (fuzz/src/targets.rs) says what this target holds to.
#![no_main]
libfuzzer_sys::fuzz_target!(|input: (Option<&str>, &[u8])| edge_registry_fuzz::targets::manifests(input));
