//! `targets::ranges` (fuzz/src/targets.rs) says what this target holds to.
#![no_main]
libfuzzer_sys::fuzz_target!(|input: (&str, u64)| edge_registry_fuzz::targets::ranges(input));
