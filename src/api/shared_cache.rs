//! The shared cache at the edge (the Cache API): a small port the platform implements,
//! and what may come from it and go into it, decided here once per request from the
//! facts its authorization rested on, so the adapter only moves bytes.
//!
//! Content addressed by digest is cached: it never changes. A public tag's manifest is
//! cached only when `Config::tag_cache_secs` allows it, for that long, and purged where it
//! is pushed again (other locations see the new one within the bound). Authorization is always
//! decided first; a cached body then serves any caller who may pull it, but only a public
//! package's content is ever stored or served. Keys carry the package's id (unique per
//! creation) and content epoch, which every deletion bumps, so deleted content stops being
//! served as soon as the new epoch is known (within the hot cache's bound elsewhere), and a
//! package never meets another's entries.

use super::context::Context;
use super::gate::{Caller, RepoFacts};
use super::route::Route;
use super::{Method, Request, Response};
use crate::auth::identity::Package;
use crate::auth::Visibility;
use crate::oci::{Reference, RepoName, Tag};

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
    /// The answer stored under the plan's key, its headers as they were stored.
    async fn get(&self, plan: &Plan) -> Option<Response<B>>;
    /// Drops what is stored under `key` (here; other locations keep theirs until it expires).
    async fn forget(&self, key: &str);
}

/// No shared cache: every lookup misses (native tests, the fuzz harness).
pub struct NoSharedCache;

impl<B> SharedCache<B> for NoSharedCache {
    async fn get(&self, _plan: &Plan) -> Option<Response<B>> {
        None
    }

    async fn forget(&self, _key: &str) {}
}

/// What the shared cache may do for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub key: String,
    /// Whether to look the answer up before asking the origin.
    pub lookup: bool,
    /// Whether the origin's answer may be stored (if it is a whole 200 of bounded size).
    pub store: bool,
    /// For a tag's answer: how long it may be stored (a digest's is immutable).
    pub max_age_secs: Option<u64>,
    /// A HEAD whose answer is made as a GET's, so that it can be stored whole: docker
    /// asks for a tag by HEAD only, and would otherwise never find it stored.
    pub as_get: bool,
    /// Whether the isolate may keep its own copy (`memory_cache`): a public manifest by
    /// digest, immutable under its key.
    pub memory: bool,
}

/// The plan for a request whose pull was allowed: a whole GET or HEAD of a blob or a
/// manifest by digest (or by tag, when `tag_cache_secs` is not 0), of a package that
/// exists. Callers with a PAT go to the origin.
pub fn plan(ctx: &Context, req: &Request, tag_cache_secs: u64) -> Option<Plan> {
    if !matches!(req.method, Method::Get | Method::Head) || req.header("range").is_some() {
        return None;
    }
    let max_age_secs = match &ctx.route {
        Route::Blob { .. } | Route::Manifest { reference: Reference::Digest(_), .. } => None,
        Route::Manifest { reference: Reference::Tag(_), .. } if tag_cache_secs > 0 => Some(tag_cache_secs),
        _ => return None,
    };
    let decided = ctx.access.as_ref().filter(|d| !d.as_absent)?;
    let package = decided.facts.package.as_ref()?;
    let public = package.visibility == Visibility::Public;
    let as_get = req.method == Method::Head && max_age_secs.is_some() && public;
    let by_digest = matches!(&ctx.route, Route::Manifest { reference: Reference::Digest(_), .. });
    Some(Plan {
        key: key(&req.origin, &ctx.route, package),
        // Only a public package's content is served from the cache: it was stored with
        // public headers.
        lookup: public && !matches!(ctx.caller, Caller::Pat { .. }),
        store: (req.method == Method::Get || as_get) && public,
        max_age_secs,
        as_get,
        memory: by_digest && public,
    })
}

/// The package's id is unique per creation, and its epoch moves with every deletion in
/// it: a key is never reused by other content.
fn key(origin: &str, route: &Route, package: &Package) -> String {
    format!("{origin}{}?package={}.{}", route.path(), package.id, package.content_epoch)
}

/// The keys a manifest push to `tags` of `package` makes stale.
pub fn pushed_tag_keys(origin: &str, repo: &RepoName, tags: &[Tag], package: &Package) -> Vec<String> {
    tags.iter()
        .map(|t| key(origin, &Route::Manifest { repo: repo.clone(), reference: Reference::Tag(t.clone()) }, package))
        .collect()
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
        if let Some(secs) = plan.max_age_secs {
            // The cache keeps what the answer allows: the tag's bound, here and downstream.
            resp.headers.retain(|(k, _)| k != "cache-control");
            resp.headers.push(("cache-control".into(), format!("public, max-age={secs}")));
        }
        resp.shared_cache_key = Some(plan.key);
    }
}
