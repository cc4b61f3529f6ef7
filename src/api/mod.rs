//! HTTP, platform-neutral: a request comes in as `Request` plus a body to read, is routed
//! (`route::Route`, one table for every surface), has what its route requires checked
//! once in `serve` (authenticate, gather the facts, decide: `gate`), and reaches its
//! surface's handler with a `context::Context`; it leaves as a `Response`.

pub mod admin;
mod app;
mod byteranges;
mod catalog;
pub mod context;
mod cross_site;
pub mod distribution;
pub mod gate;
mod html;
mod http;
mod json_body;
pub mod lifecycle;
pub mod memory_cache;
mod offboarding;
mod oidc_exchange;
pub mod package_views;
pub mod packages;
mod pages;
pub mod route;
pub mod shared_cache;
pub mod token;
mod trusted_publishers;

pub use app::{serve, serve_with_cache, App};
pub use http::{Body, Method, Request, Response, Trace};
