//! An OCI distribution registry that runs as a Cloudflare Worker.
//!
//! Dependency direction: `edge -> api -> registry -> auth -> oci -> error`, never back
//! up. `registry` uses `auth` for the identity port its `Platform` names, the package
//! snapshot a deletion keeps and the scheduled clean-up's identity steps; `auth`
//! (identities, tokens, the access decision) knows nothing of the registry or the api.
//! `lifecycle` (pure rules: retention over the image graph, tag patterns, download
//! tallies, webhook signing) is used by `api` and `registry` and uses only `oci`, `error`;
//! `time` (how the APIs write times) is a leaf like `error`.
//! Everything but `edge` is platform-neutral and tested natively; only `edge` touches
//! `worker`.

pub mod api;
pub mod auth;
pub mod error;
pub mod lifecycle;
pub mod oci;
pub mod registry;
pub mod time;

#[cfg(target_arch = "wasm32")]
mod edge;
