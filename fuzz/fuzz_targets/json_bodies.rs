//! `targets::json_bodies` (fuzz/src/targets.rs) says what this target holds to.
#![no_main]
use edge_registry_fuzz::targets;
libfuzzer_sys::fuzz_target!(|input: targets::JsonBody| targets::json_bodies(input));
