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

use super::catalog::Viewer;
use super::token::iso8601;
use super::{App, Method, Request, Response};
use crate::auth::identity::IdentityStore;
use crate::auth::{Login, OrgRole};
use crate::error::{RegistryError, Result};
use crate::lifecycle::downloads::{self, Downloads};
use crate::lifecycle::retention::RetentionPolicy;
use crate::lifecycle::webhooks::{Event, Payload};
use crate::oci::{Digest, RepoName, Tag};
use crate::registry::lifecycle::{Preview, Scope};
use crate::registry::ports::{read_small, ChunkSource, Clock, ObjectStore};
use crate::registry::webhooks::{self, Delivery, Hook, MAX_DELIVERIES_LISTED};
use crate::registry::MetadataStore;
use serde_json::{json, Value};

/// The largest policy or webhook body.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// A lifecycle endpoint of a package or a namespace.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Retention(Scope),
    Preview(RepoName),
    Tag(RepoName, Tag),
    Webhooks(Scope),
    Webhook(Scope, String),
    Deliveries(Scope, String),
}

impl Target {
    /// A lifecycle path under `/api/packages/`, if it is one. Names are read from the right.
    pub fn parse_package(path: &str) -> Option<Result<Target>> {
        let name = |n: &str| RepoName::parse(n).map_err(|_| RegistryError::NotFound("package".into()));
        if let Some(n) = path.strip_suffix("/retention/preview") {
            return Some(name(n).map(Target::Preview));
        }
        if let Some((n, tag)) = path.rsplit_once("/tags/") {
            return Some(name(n).and_then(|repo| Ok(Target::Tag(repo, Tag::parse(tag)?))));
        }
        let (n, rest) = split_scope(path)?;
        Some(name(n).and_then(|repo| rest.target(Scope::Package(repo))))
    }

    /// The package the endpoint acts on (none for a namespace's).
    pub fn package(&self) -> Option<&RepoName> {
        match self {
            Target::Preview(repo) | Target::Tag(repo, _) => Some(repo),
            Target::Retention(s) | Target::Webhooks(s) | Target::Webhook(s, _) | Target::Deliveries(s, _) => match s {
                Scope::Package(repo) => Some(repo),
                Scope::Namespace(_) => None,
            },
        }
    }

    /// The namespace an endpoint under `/api/namespaces/` acts on.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Target::Retention(Scope::Namespace(ns))
            | Target::Webhooks(Scope::Namespace(ns))
            | Target::Webhook(Scope::Namespace(ns), _)
            | Target::Deliveries(Scope::Namespace(ns), _) => Some(ns),
            _ => None,
        }
    }

    /// A path under `/api/namespaces/`.
    pub fn parse_namespace(path: &str) -> Result<Target> {
        let not_found = || RegistryError::NotFound("route".into());
        let (ns, rest) = split_scope(path).ok_or_else(not_found)?;
        let ns = Login::parse(ns).map_err(|_| RegistryError::NotFound("namespace".into()))?;
        rest.target(Scope::Namespace(ns.to_string()))
    }
}

/// What follows a scope in a path.
enum Rest<'a> {
    Retention,
    Webhooks,
    Webhook(&'a str),
    Deliveries(&'a str),
}

impl Rest<'_> {
    fn target(self, scope: Scope) -> Result<Target> {
        let id = |id: &str| {
            let valid = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
            valid.then(|| id.to_string()).ok_or_else(|| RegistryError::NotFound("webhook".into()))
        };
        Ok(match self {
            Rest::Retention => Target::Retention(scope),
            Rest::Webhooks => Target::Webhooks(scope),
            Rest::Webhook(i) => Target::Webhook(scope, id(i)?),
            Rest::Deliveries(i) => Target::Deliveries(scope, id(i)?),
        })
    }
}

fn split_scope(path: &str) -> Option<(&str, Rest<'_>)> {
    if let Some(n) = path.strip_suffix("/retention") {
        return Some((n, Rest::Retention));
    }
    if let Some(n) = path.strip_suffix("/webhooks") {
        return Some((n, Rest::Webhooks));
    }
    if let Some((n, id)) = path.strip_suffix("/deliveries").and_then(|p| p.rsplit_once("/webhooks/")) {
        return Some((n, Rest::Deliveries(id)));
    }
    path.rsplit_once("/webhooks/").map(|(n, id)| (n, Rest::Webhook(id)))
}

/// Serves a lifecycle endpoint for a viewer already known to administer its scope (or,
/// for untagging, to may delete from the package).
pub async fn handle<M, O, C, I>(
    app: &App<M, O, C, I>,
    target: Target,
    method: Method,
    body: &mut impl ChunkSource,
    viewer: &Viewer,
) -> Result<Response<O::Reader>>
where
    M: MetadataStore,
    O: ObjectStore,
    C: Clock,
    I: IdentityStore,
{
    let reg = &app.registry;
    let now = reg.clock.now_ms();
    let login = viewer.login().map(|l| l.to_string()).unwrap_or_default();
    match (method, target) {
        (Method::Get, Target::Retention(scope)) => Ok(Response::json(200, &retention_json(app, &scope).await?)),
        (Method::Put, Target::Retention(scope)) => {
            let policy = RetentionPolicy::from_json(&read_small(body, MAX_BODY_BYTES, "a policy").await?)?;
            reg.meta.set_retention(&scope, Some(&policy), now).await?;
            Ok(Response::json(200, &retention_json(app, &scope).await?))
        }
        (Method::Delete, Target::Retention(scope)) => {
            reg.meta.set_retention(&scope, None, now).await?;
            Ok(Response::new(204))
        }
        (Method::Get, Target::Preview(repo)) => {
            let preview = reg.preview_retention(&repo).await?;
            Ok(Response::json(200, &preview_json(&preview)))
        }
        (Method::Delete, Target::Tag(repo, tag)) => {
            reg.untag(&repo, &tag).await?;
            Ok(Response::new(204))
        }
        (Method::Get, Target::Webhooks(scope)) => {
            let hooks = reg.meta.hooks(scope.key()).await?;
            Ok(Response::json(200, &json!(hooks.iter().map(hook_json).collect::<Vec<_>>())))
        }
        (Method::Post, Target::Webhooks(scope)) => {
            let bytes = read_small(body, MAX_BODY_BYTES, "a webhook").await?;
            let hook = webhooks::create(&reg.meta, scope.key(), &bytes, &login, now).await?;
            let mut v = hook_json(&hook);
            // Shown this once, as the receiver needs it to check signatures.
            v["secret"] = json!(hook.secret);
            Ok(Response::json(201, &v))
        }
        (Method::Delete, Target::Webhook(scope, id)) => match reg.meta.remove_hook(scope.key(), &id).await? {
            true => Ok(Response::new(204)),
            false => Err(RegistryError::NotFound("webhook".into())),
        },
        (Method::Get, Target::Deliveries(scope, id)) => {
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

async fn retention_json<M, O, C, I>(app: &App<M, O, C, I>, scope: &Scope) -> Result<Value>
where
    M: MetadataStore,
    O: ObjectStore,
    C: Clock,
    I: IdentityStore,
{
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

/// An event of `repo` for its webhooks.
pub fn event(
    event: Event,
    repo: &RepoName,
    digest: Option<&Digest>,
    tags: Vec<String>,
    actor: &str,
    now_ms: u64,
    details: Value,
) -> Payload {
    Payload {
        event,
        package: repo.to_string(),
        digest: digest.map(|d| d.to_string()),
        tags,
        actor: actor.to_string(),
        time: iso8601(now_ms / 1000),
        details,
    }
}

/// The version a response hands out as a pull, if it is one: a manifest GET (by tag or
/// digest) answered 200. HEAD requests only ask whether it is there.
pub fn pulled(method: Method, path: &str, status: u16, digest: Option<&str>) -> Option<(RepoName, Digest)> {
    if method != Method::Get || status != 200 {
        return None;
    }
    match super::route::Route::parse(path)?.ok()? {
        super::route::Route::Manifest { repo, .. } => Some((repo, Digest::parse(digest?).ok()?)),
        _ => None,
    }
}

/// A package's downloads and its versions' (by digest), as of now.
pub async fn downloads_of<M, O, C, I>(
    app: &App<M, O, C, I>,
    repo: &RepoName,
    versions: &[Digest],
) -> Result<(Downloads, Vec<(Digest, u64)>)>
where
    M: MetadataStore,
    O: ObjectStore,
    C: Clock,
    I: IdentityStore,
{
    let today = downloads::day(app.registry.clock.now_ms());
    let package = app.registry.meta.package_downloads(repo, today).await?;
    Ok((package, app.registry.meta.version_downloads(repo, versions).await?))
}

/// `GET /NAMESPACE/NAME/badge.svg`: the package's download count as an image, for public
/// packages only (anything else is as absent as a missing package).
pub async fn badge<M, O, C, I>(app: &App<M, O, C, I>, req: &Request) -> Option<Response<O::Reader>>
where
    M: MetadataStore,
    O: ObjectStore,
    C: Clock,
    I: IdentityStore,
{
    let name = req.path.strip_prefix('/')?.strip_suffix("/badge.svg")?;
    let repo = RepoName::parse(name).ok()?;
    let public = |p: &Option<crate::auth::identity::Package>| {
        p.as_ref().is_some_and(|p| p.visibility == crate::auth::Visibility::Public)
    };
    let answer = match app.identity.package(&repo).await {
        Ok(p) if public(&p) => match downloads_of(app, &repo, &[]).await {
            Ok((d, _)) => Response::bytes(200, "image/svg+xml", crate::lifecycle::badge::svg(d.total).into_bytes())
                // Counts move slowly; README images are fetched through caching proxies.
                .header("cache-control", "public, max-age=300"),
            Err(e) => Response::error(&e),
        },
        Ok(_) => Response::error(&RegistryError::NotFound("package".into())),
        Err(e) => Response::error(&e),
    };
    Some(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_paths_are_read_from_the_right() {
        let p = |s: &str| Target::parse_package(s).map(|r| r.unwrap());
        let repo = |s: &str| RepoName::parse(s).unwrap();
        assert_eq!(p("acme/app/retention"), Some(Target::Retention(Scope::Package(repo("acme/app")))));
        assert_eq!(p("acme/a/b/retention/preview"), Some(Target::Preview(repo("acme/a/b"))));
        assert_eq!(p("acme/tags/tags/v1"), Some(Target::Tag(repo("acme/tags"), Tag::parse("v1").unwrap())));
        assert_eq!(p("acme/app/webhooks"), Some(Target::Webhooks(Scope::Package(repo("acme/app")))));
        assert_eq!(
            p("acme/app/webhooks/00ff/deliveries"),
            Some(Target::Deliveries(Scope::Package(repo("acme/app")), "00ff".into()))
        );
        assert_eq!(p("acme/app/versions"), None);
        assert_eq!(Target::parse_package("acme/app/webhooks/x!").unwrap().unwrap_err().status(), 404);
        assert_eq!(Target::parse_package("acme/app/tags/-bad").unwrap().unwrap_err().status(), 400);
        assert_eq!(
            Target::parse_namespace("acme/retention").unwrap(),
            Target::Retention(Scope::Namespace("acme".into()))
        );
        assert_eq!(Target::parse_namespace("acme").unwrap_err().status(), 404);
        assert_eq!(Target::parse_namespace("Bad/retention").unwrap_err().status(), 404);
    }

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
