//! The fuzz targets' properties (`targets`) and what the api-level ones share (`harness`).
//! `tests/fuzz_regressions.rs` compiles these same files into `cargo test`.
pub mod harness;
pub mod targets;
