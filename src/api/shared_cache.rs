//! What may come from, and go into, the shared cache at the edge (the Cache API), decided
//! here so the adapter only moves bytes. Only content addressed by digest is cached: it
//! never changes. Authorization is always decided first; a cached body then serves any
//! caller who may pull it, but only a public package's content is ever stored. Keys carry
//! the package's content epoch, which every deletion bumps, so deleted content stops being
//! served as soon as the new epoch is known (within the hot cache's bound elsewhere).

use super::gate::{self, Caller};
use super::route::Route;
use super::{App, Method, Request, Response};
use crate::auth::credentials::{self, Credentials};
use crate::auth::identity::IdentityStore;
use crate::auth::pat::PresentedToken;
use crate::auth::{Action, Visibility};
use crate::oci::{Reference, RepoName};
use crate::registry::Platform;

/// The response header that says whether the shared cache answered (`hit`) or not (`miss`).
pub const STATUS_HEADER: &str = "x-cache";

/// The digest-addressed content a request reads whole, if that is what it does.
fn cacheable(req: &Request) -> Option<(RepoName, Route)> {
    if !matches!(req.method, Method::Get | Method::Head) || req.header("range").is_some() {
        return None;
    }
    match Route::parse(&req.path).ok()? {
        route @ (Route::Blob { .. } | Route::Manifest { reference: Reference::Digest(_), .. }) => {
            Some((route.repo()?.clone(), route))
        }
        _ => None,
    }
}

fn key(req: &Request, route: &Route, epoch: u64) -> String {
    format!("{}{}?epoch={epoch}", req.origin, route.path())
}

/// Where the answer to `req` may be looked up, if anywhere: a whole GET or HEAD of a blob
/// or manifest by digest, by a caller who may pull it. Callers with a PAT go to the origin:
/// checking a PAT here and again there would count a wrong one twice.
pub async fn lookup_key<P: Platform>(app: &App<P>, req: &Request) -> Option<String> {
    let (repo, route) = cacheable(req)?;
    match credentials::parse(req.header("authorization")) {
        Credentials::None => {}
        Credentials::Bearer(t) if PresentedToken::parse(&t).is_none() => {}
        _ => return None,
    }
    let caller = gate::authenticate(app, req).await.ok()?;
    if matches!(caller, Caller::Pat { .. }) || !gate::allowed(app, &caller, &repo, Action::Pull).await.ok()? {
        return None;
    }
    let package = app.identity.package(&repo).await.ok()??;
    Some(key(req, &route, package.content_epoch))
}

/// Marks a pull's answer for storing when it is a whole digest-addressed GET of a public
/// package's content.
pub async fn mark_storable<R, P: Platform>(app: &App<P>, req: &Request, resp: &mut Response<R>) {
    let Some((repo, route)) = cacheable(req) else { return };
    if req.method != Method::Get || resp.status != 200 {
        return;
    }
    if let Ok(Some(package)) = app.identity.package(&repo).await {
        if package.visibility == Visibility::Public {
            resp.shared_cache_key = Some(key(req, &route, package.content_epoch));
        }
    }
}
