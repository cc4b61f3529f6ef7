//! What may come from, and go into, the shared cache at the edge (the Cache API), decided
//! here so the adapter only moves bytes. Only content addressed by digest is cached: it
//! never changes. Authorization is always decided first; a cached body then serves any
//! caller who may pull it, but only a public package's content is ever stored or served.
//! Keys carry the package's id (unique per creation) and content epoch, which every
//! deletion bumps, so deleted content stops being served as soon as the new epoch is known
//! (within the hot cache's bound elsewhere), and a package never meets another's entries.

use super::gate::{self, Caller};
use super::route::Route;
use super::{App, Method, Request, Response};
use crate::auth::credentials::{self, Credentials};
use crate::auth::identity::{IdentityStore, Package};
use crate::auth::pat::PresentedToken;
use crate::auth::{Action, Visibility};
use crate::oci::{Digest, Reference, RepoName};
use crate::registry::ports::{Clock, ObjectStore};
use crate::registry::MetadataStore;

/// The response header that says whether the shared cache answered (`hit`) or not (`miss`).
pub const STATUS_HEADER: &str = "x-cache";

/// The digest-addressed content a request reads whole, if that is what it does.
fn cacheable(req: &Request) -> Option<(RepoName, &'static str, Digest)> {
    if !matches!(req.method, Method::Get | Method::Head) || req.header("range").is_some() {
        return None;
    }
    match Route::parse(&req.path)?.ok()? {
        Route::Blob { repo, digest } => Some((repo, "blobs", digest)),
        Route::Manifest { repo, reference: Reference::Digest(digest) } => Some((repo, "manifests", digest)),
        _ => None,
    }
}

/// Keys name the package by its id, unique per creation, and its content epoch, bumped by
/// every deletion in it: an entry is never found again once its content was deleted, nor by
/// another package of the same name.
fn key(req: &Request, repo: &RepoName, kind: &str, digest: &Digest, package: &Package) -> String {
    format!("{}/v2/{repo}/{kind}/{digest}?package={}.{}", req.origin, package.id, package.content_epoch)
}

/// Where the answer to `req` may be looked up, if anywhere: a whole GET or HEAD of a blob
/// or manifest by digest, by a caller who may pull it. Callers with a PAT go to the origin:
/// checking a PAT here and again there would count a wrong one twice.
pub async fn lookup_key<M, O, C, I>(app: &App<M, O, C, I>, req: &Request) -> Option<String>
where
    M: MetadataStore,
    O: ObjectStore,
    C: Clock,
    I: IdentityStore,
{
    let (repo, kind, digest) = cacheable(req)?;
    match credentials::parse(req.header("authorization")) {
        Credentials::None => {}
        Credentials::Bearer(t) if PresentedToken::parse(&t).is_none() => {}
        _ => return None,
    }
    let caller = gate::authenticate(app, req).await.ok()?;
    if matches!(caller, Caller::Pat { .. }) || !gate::allowed(app, &caller, &repo, Action::Pull).await.ok()? {
        return None;
    }
    // Only a public package's content is served from the cache: it carries public headers.
    let package = app.identity.package(&repo).await.ok()??;
    (package.visibility == Visibility::Public).then(|| key(req, &repo, kind, &digest, &package))
}

/// Marks a pull's answer for storing when it is a whole digest-addressed GET of a public
/// package's content.
pub async fn mark_storable<R, M, O, C, I>(app: &App<M, O, C, I>, req: &Request, resp: &mut Response<R>)
where
    M: MetadataStore,
    O: ObjectStore,
    C: Clock,
    I: IdentityStore,
{
    let Some((repo, kind, digest)) = cacheable(req) else { return };
    if req.method != Method::Get || resp.status != 200 {
        return;
    }
    if let Ok(Some(package)) = app.identity.package(&repo).await {
        if package.visibility == Visibility::Public {
            resp.shared_cache_key = Some(key(req, &repo, kind, &digest, &package));
        }
    }
}
