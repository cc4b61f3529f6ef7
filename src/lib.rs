//! An OCI distribution registry that runs as a Cloudflare Worker.
//!
//! Dependency direction: `edge -> api -> registry -> auth -> oci -> error`, never back
//! up. `registry` uses `auth` for the identity port its `Platform` names, the package
//! snapshot a deletion keeps and the scheduled clean-up's identity steps; `auth`
//! (identities, tokens, the access decision) knows nothing of the registry or the api.
//! Everything but `edge` is platform-neutral and tested natively; only `edge` touches
//! `worker`.

pub mod api;
pub mod auth;
pub mod error;
pub mod oci;
pub mod registry;

#[cfg(target_arch = "wasm32")]
mod edge;
