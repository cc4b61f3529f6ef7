//! An OCI distribution registry that runs as a Cloudflare Worker.
//!
//! Dependency direction: `edge -> api -> registry -> lifecycle -> {oci, error}` (`lifecycle`
//! holds pure rules the use cases apply). Everything but
//! `edge` is platform-neutral and tested natively.

pub mod api;
pub mod auth;
pub mod error;
pub mod lifecycle;
pub mod oci;
pub mod registry;

#[cfg(target_arch = "wasm32")]
mod edge;
