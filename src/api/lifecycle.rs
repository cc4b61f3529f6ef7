//! The lifecycle endpoints: retention policies and their preview, untagging, webhooks and
//! their deliveries (for a package under `/api/packages/NAME/...`, for a namespace under
//! `/api/namespaces/NAMESPACE/...`), the download badge, and the events a request raises.
//!
//! | request                                   | does                                        |
//! |-------------------------------------------|---------------------------------------------|
//! | `GET, PUT, DELETE .../retention`          | the policy in force; set; remove (package: fall back to the namespace's) |
//! | `GET NAME/retention/preview`              | what the policy would delete now, and why   |
//! | `DELETE NAME/tags/TAG`                    | remove the tag; the version stays           |
//! | `GET, POST .../webhooks`                  | list; create (the secret is not shown again) |
//! | `DELETE .../webhooks/ID`                  | remove                                      |
//! | `GET .../webhooks/ID/deliveries`          | the newest deliveries with their outcomes   |
//!
//! All of them need the package's (or the namespace's) admin role; removing a tag needs
//! what deleting needs (`delete:packages`), as `DELETE /v2/NAME/manifests/TAG` does.

use super::package_views::Viewer;
use super::route::Route;
use super::{App, Method, Response};
use crate::auth::identity::IdentityStore;
use crate::auth::OrgRole;
use crate::error::{RegistryError, Result};
use crate::lifecycle::downloads::{self, Downloads};
use crate::lifecycle::retention::RetentionPolicy;
use crate::oci::{Digest, RepoName};
use crate::registry::downloads::DownloadIndex;
use crate::registry::lifecycle::{LifecycleIndex, Preview, Scope};
use crate::registry::ports::{read_small, ChunkSource, Clock};
use crate::registry::webhooks::{self, Delivery, Hook, WebhookIndex, MAX_DELIVERIES_LISTED};
use crate::registry::{Platform, Reader};
use crate::time::iso8601;
use serde_json::{json, Value};

/// The largest policy or webhook body.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// Serves a lifecycle endpoint for a viewer already known to administer its scope (or,
/// for untagging, to may delete from the package).
pub async fn handle<P: Platform>(
    app: &App<P>,
    route: Route,
    method: Method,
    body: &mut impl ChunkSource,
    viewer: &Viewer,
) -> Result<Response<Reader<P>>> {
    let reg = &app.registry;
    let now = reg.clock.now_ms();
    let login = viewer.login().map(|l| l.to_string()).unwrap_or_default();
    match (method, route) {
        (Method::Get, Route::Retention { scope }) => Ok(Response::json(200, &retention_json(app, &scope).await?)),
        (Method::Put, Route::Retention { scope }) => {
            let policy = RetentionPolicy::from_json(&read_small(body, MAX_BODY_BYTES, "a policy").await?)?;
            reg.meta.set_retention(&scope, Some(&policy), now).await?;
            Ok(Response::json(200, &retention_json(app, &scope).await?))
        }
        (Method::Delete, Route::Retention { scope }) => {
            reg.meta.set_retention(&scope, None, now).await?;
            Ok(Response::new(204))
        }
        (Method::Get, Route::RetentionPreview { repo }) => {
            let preview = reg.preview_retention(&repo).await?;
            Ok(Response::json(200, &preview_json(&preview)))
        }
        (Method::Delete, Route::PackageTag { repo, tag }) => {
            reg.untag(&repo, &tag).await?;
            // As after any deletion, cached answers (a public tag's, `TAG_CACHE_SECONDS`)
            // stop: their keys carry the epoch this moves.
            app.identity.bump_content_epoch(&repo).await?;
            Ok(Response::new(204))
        }
        (Method::Get, Route::Webhooks { scope }) => {
            let hooks = reg.meta.hooks(scope.key()).await?;
            Ok(Response::json(200, &json!(hooks.iter().map(hook_json).collect::<Vec<_>>())))
        }
        (Method::Post, Route::Webhooks { scope }) => {
            let bytes = read_small(body, MAX_BODY_BYTES, "a webhook").await?;
            let hook = webhooks::create(&reg.meta, scope.key(), &bytes, &login, now).await?;
            let mut v = hook_json(&hook);
            // Shown this once, as the receiver needs it to check signatures.
            v["secret"] = json!(hook.secret);
            Ok(Response::json(201, &v))
        }
        (Method::Delete, Route::Webhook { scope, id }) => match reg.meta.remove_hook(scope.key(), &id).await? {
            true => Ok(Response::new(204)),
            false => Err(RegistryError::NotFound("webhook".into())),
        },
        (Method::Get, Route::WebhookDeliveries { scope, id }) => {
            if !reg.meta.hooks(scope.key()).await?.iter().any(|h| h.id == id) {
                return Err(RegistryError::NotFound("webhook".into()));
            }
            let log = reg.meta.deliveries(&id, MAX_DELIVERIES_LISTED).await?;
            Ok(Response::json(200, &json!(log.iter().map(delivery_json).collect::<Vec<_>>())))
        }
        _ => Err(RegistryError::Unsupported("method not allowed here".into())),
    }
}

/// Whether `viewer` administers namespace `ns`: it is theirs, or they own the organization.
pub async fn administers_namespace<I: IdentityStore>(identity: &I, ns: &str, viewer: &Viewer) -> Result<bool> {
    let Some((login, scopes)) = &viewer.user else { return Ok(false) };
    if !scopes.write {
        return Ok(false);
    }
    Ok(login.as_str() == ns || identity.org_role(ns, login).await? == Some(OrgRole::Owner))
}

async fn retention_json<P: Platform>(app: &App<P>, scope: &Scope) -> Result<Value> {
    let (policy, from) = match scope {
        Scope::Package(repo) => app.registry.effective_retention(repo).await?.unzip(),
        Scope::Namespace(_) => (app.registry.meta.retention(scope).await?, Some(scope.clone())),
    };
    Ok(json!({"policy": policy, "set_on": from.filter(|_| policy.is_some()).map(|s| scope_json(&s))}))
}

fn scope_json(scope: &Scope) -> Value {
    match scope {
        Scope::Namespace(ns) => json!({"namespace": ns}),
        Scope::Package(repo) => json!({"package": repo.as_str()}),
    }
}

fn preview_json(preview: &Preview) -> Value {
    let delete: Vec<Value> = preview
        .verdicts()
        .into_iter()
        .map(|v| {
            json!({
                "digest": v.digest,
                "tags": v.tags,
                "pushed_at": iso8601(v.pushed_ms / 1000),
                "rule": v.rule,
                "reason": v.reason,
                "deleted_with": v.group,
            })
        })
        .collect();
    json!({
        "policy": preview.policy.as_ref().map(|(p, _)| p),
        "set_on": preview.policy.as_ref().map(|(_, s)| scope_json(s)),
        "delete": delete,
        "kept": preview.plan.kept,
    })
}

fn hook_json(h: &Hook) -> Value {
    json!({
        "id": h.id,
        "url": h.url,
        "events": h.events,
        "created_at": iso8601(h.created_ms / 1000),
        "created_by": h.created_by,
    })
}

fn delivery_json(d: &Delivery) -> Value {
    json!({
        "id": d.id,
        "event": d.event,
        "state": d.state,
        "attempts": d.attempts,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "created_at": iso8601(d.created_ms / 1000),
        "updated_at": iso8601(d.updated_ms / 1000),
        "next_attempt_at": (d.state == webhooks::DeliveryState::Pending).then(|| iso8601(d.next_attempt_ms / 1000)),
        "payload": serde_json::from_str::<Value>(&d.payload).unwrap_or(Value::Null),
    })
}

/// The version a response hands out as a pull, if it is one: a manifest GET (by tag or
/// digest) answered 200. HEAD requests only ask whether it is there.
pub fn pulled(method: Method, path: &str, status: u16, digest: Option<&str>) -> Option<(RepoName, Digest)> {
    if method != Method::Get || status != 200 {
        return None;
    }
    match Route::parse(path).ok()? {
        Route::Manifest { repo, .. } => Some((repo, Digest::parse(digest?).ok()?)),
        _ => None,
    }
}

/// A package's downloads and its versions' (by digest), as of now.
pub async fn downloads_of<P: Platform>(
    app: &App<P>,
    repo: &RepoName,
    versions: &[Digest],
) -> Result<(Downloads, Vec<(Digest, u64)>)> {
    let today = downloads::day(app.registry.clock.now_ms());
    let package = app.registry.meta.package_downloads(repo, today).await?;
    Ok((package, app.registry.meta.version_downloads(repo, versions).await?))
}

/// `GET /NAMESPACE/NAME/badge.svg`: the package's download count as an image, for public
/// packages only (anything else is as absent as a missing package).
pub async fn badge<P: Platform>(app: &App<P>, repo: &RepoName) -> Result<Response<Reader<P>>> {
    let public = app.identity.package(repo).await?.is_some_and(|p| p.visibility == crate::auth::Visibility::Public);
    if !public {
        return Err(RegistryError::NotFound("package".into()));
    }
    let (downloads, _) = downloads_of(app, repo, &[]).await?;
    Ok(Response::bytes(200, "image/svg+xml", crate::lifecycle::badge::svg(downloads.total).into_bytes())
        // Counts move slowly; README images are fetched through caching proxies.
        .header("cache-control", "public, max-age=300"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_manifest_gets_answered_200_are_pulls() {
        let d = format!("sha256:{}", "a".repeat(64));
        let pulled = |m, path: &str, status| pulled(m, path, status, Some(&d)).map(|(r, _)| r.to_string());
        assert_eq!(pulled(Method::Get, "/v2/acme/app/manifests/latest", 200), Some("acme/app".into()));
        assert_eq!(pulled(Method::Get, &format!("/v2/acme/app/manifests/{d}"), 200), Some("acme/app".into()));
        assert_eq!(pulled(Method::Head, "/v2/acme/app/manifests/latest", 200), None);
        assert_eq!(pulled(Method::Get, "/v2/acme/app/manifests/latest", 404), None);
        assert_eq!(pulled(Method::Get, &format!("/v2/acme/app/blobs/{d}"), 200), None);
    }
}
