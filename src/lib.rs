//! An OCI distribution registry that runs as a Cloudflare Worker.
//!
//! Dependency direction: `edge -> api -> registry -> auth -> oci -> error`, never back
//! up. `registry` knows `auth` only through the identity port its `Platform` names;
//! `auth` (identities, tokens, the access decision) knows nothing of the registry.
//! Everything but `edge` is platform-neutral and tested natively.

pub mod api;
pub mod auth;
pub mod error;
pub mod oci;
pub mod registry;

#[cfg(target_arch = "wasm32")]
mod edge;
