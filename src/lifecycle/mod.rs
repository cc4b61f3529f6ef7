//! A package's lifecycle, as pure rules: which versions a retention policy deletes and
//! why, which tags may never move, how downloads add up, how webhooks are signed and
//! retried. The use cases in `registry` and `api` apply them; nothing here does I/O.

pub mod badge;
pub mod downloads;
pub mod immutable;
pub mod pattern;
pub mod retention;
pub mod webhooks;
