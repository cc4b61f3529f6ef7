//! The shared cache at the edge (the Cache API): a small port the platform implements,
//! and what may come from it and go into it, decided here once per request from the
//! facts its authorization rested on, so the adapter only moves bytes.
//!
//! Only content addressed by digest is cached: it never changes. Authorization is always
//! decided first; a cached body then serves any caller who may pull it, but only a public
//! package's content is ever stored. Keys carry the package's content epoch, which every
//! deletion bumps, so deleted content stops being served as soon as the new epoch is known
//! (within the hot cache's bound elsewhere).

use super::context::Context;
use super::gate::{Caller, RepoFacts};
use super::route::Route;
use super::{Method, Request, Response};
use crate::auth::Visibility;
use crate::oci::Reference;

/// The response header that says whether the shared cache answered (`hit`) or not (`miss`).
pub const STATUS_HEADER: &str = "x-cache";

/// Responses larger than this are not stored: storing tees the stream, and a slow
/// client would make the copy wait in memory. Bigger layers stream from R2 every time.
pub const MAX_STORED_BYTES: u64 = 8 * 1024 * 1024;

/// Looking answers up in the edge's shared cache. Storing is the platform's: it copies a
/// response as it sends it, when `Response::shared_cache_key` says so, since only it can
/// copy a body that streams to the client.
#[allow(async_fn_in_trait)]
pub trait SharedCache<B> {
    /// The answer stored under `key`, its headers as they were stored.
    async fn get(&self, key: &str) -> Option<Response<B>>;
}

/// No shared cache: every lookup misses (native tests, the fuzz harness).
pub struct NoSharedCache;

impl<B> SharedCache<B> for NoSharedCache {
    async fn get(&self, _key: &str) -> Option<Response<B>> {
        None
    }
}

/// What the shared cache may do for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub key: String,
    /// Whether to look the answer up before asking the origin.
    pub lookup: bool,
    /// Whether the origin's answer may be stored (if it is a whole 200 of bounded size).
    pub store: bool,
}

/// The plan for a request whose pull was allowed: a whole GET or HEAD of a blob or a
/// manifest by digest, of a package that exists. Callers with a PAT go to the origin.
pub fn plan(ctx: &Context, req: &Request) -> Option<Plan> {
    if !matches!(req.method, Method::Get | Method::Head) || req.header("range").is_some() {
        return None;
    }
    if !matches!(ctx.route, Route::Blob { .. } | Route::Manifest { reference: Reference::Digest(_), .. }) {
        return None;
    }
    let package = ctx.access.as_ref()?.facts.package.as_ref()?;
    Some(Plan {
        key: format!("{}{}?epoch={}", req.origin, ctx.route.path(), package.content_epoch),
        lookup: !matches!(ctx.caller, Caller::Pat { .. }),
        store: req.method == Method::Get && package.visibility == Visibility::Public,
    })
}

/// A stored answer, said to be one.
pub fn answered<R>(mut hit: Response<R>) -> Response<R> {
    hit.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(STATUS_HEADER));
    hit.header(STATUS_HEADER, "hit")
}

/// Marks the origin's answer to a pull: digest-addressed content is cacheable forever,
/// but only a public package's may sit in a shared cache; what the plan allows is stored.
pub fn after_pull<R>(facts: &RepoFacts, plan: Option<Plan>, looked_up: bool, resp: &mut Response<R>) {
    let public = facts.package.as_ref().is_some_and(|p| p.visibility == Visibility::Public);
    if !public {
        for (k, v) in resp.headers.iter_mut() {
            if k == "cache-control" && v.starts_with("public") {
                *v = v.replacen("public", "private", 1);
            }
        }
    }
    if looked_up {
        resp.headers.push((STATUS_HEADER.into(), "miss".into()));
    }
    let Some(plan) = plan else { return };
    let size = resp.get_header("content-length").and_then(|v| v.parse::<u64>().ok());
    if plan.store && resp.status == 200 && size.is_some_and(|s| s <= MAX_STORED_BYTES) {
        resp.shared_cache_key = Some(plan.key);
    }
}
