//! The package API (`/api/packages/...`), for a user's PAT:
//!
//! | request                                          | does                                  |
//! |--------------------------------------------------|---------------------------------------|
//! | `GET NAMESPACE`                                  | the namespace's packages the caller sees |
//! | `GET, PATCH, DELETE NAMESPACE/NAME`              | describe, change visibility, delete   |
//! | `POST NAMESPACE/NAME/restore`                    | undo the package's latest deletion    |
//! | `GET NAMESPACE/NAME/versions`                    | versions with tags, sizes, metadata   |
//! | `DELETE NAMESPACE/NAME/versions/DIGEST`          | delete one version                    |
//! | `POST NAMESPACE/NAME/versions/DIGEST/restore`    | undo that version's latest deletion   |
//! | `PUT, DELETE NAMESPACE/NAME/collaborators/LOGIN` | grant or take a role                  |
//!
//! Reading needs read access, as for pulls; changing needs the package's admin role, and
//! deleting or restoring also `delete:packages`.

use super::package_views::{self, PackageView, Viewer};

use super::context::Context;
use super::gate;
use super::lifecycle as lc;
use super::route::Route;
use super::{json_body, App, Method, Request, Response};
use crate::auth::identity::{AccountKind, IdentityStore, Package, PackageSnapshot};
use crate::auth::oidc::{Provenance, TrustStore};
use crate::auth::policy::Relation;
use crate::auth::{Action, Login, OrgRole, Role, Visibility};
use crate::error::{RegistryError, Result};
use crate::lifecycle::pattern::TagPatterns;
use crate::lifecycle::webhooks::{Event, Payload};
use crate::oci::{Digest, RepoName};
use crate::registry::lifecycle::{LifecycleIndex, Scope};
use crate::registry::ports::{ChunkSource, ManifestIndex, Version};
use crate::registry::{Platform, Reader};
use crate::time::iso8601;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Package settings a PATCH may change; absent fields stay as they are.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsChange {
    visibility: Option<String>,
    /// `keep` (the default) or `collect`: whether untagged manifests are collected.
    untagged: Option<String>,
    /// Tag patterns that may not move or be deleted once set (`[]` lifts them).
    immutable_tags: Option<TagPatterns>,
    /// The source repository the package is connected to (a URL); pushes then leave it.
    source: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleChange {
    role: String,
}

pub async fn handle<P: Platform>(
    app: &App<P>,
    ctx: &Context,
    req: &Request,
    body: &mut impl ChunkSource,
) -> Result<Response<Reader<P>>> {
    // `serve` let only PAT callers in.
    let viewer = ctx.caller.viewer();
    let id = &app.identity;
    let (now, actor) = (ctx.now_ms, viewer.login().map(|l| l.to_string()).unwrap_or_default());
    match (req.method, ctx.route.clone()) {
        (Method::Get, Route::Packages { namespace: ns }) => {
            let packages = package_views::namespace(app, &ns, &viewer).await?;
            Ok(Response::json(200, &json!(packages.iter().map(summary).collect::<Vec<_>>())))
        }
        (Method::Get, Route::Package { repo }) => {
            let view = package_views::package(app, &repo, &viewer).await?;
            Ok(Response::json(200, &describe(app, &view, &viewer).await?))
        }
        (Method::Get, Route::Versions { repo }) => {
            let view = package_views::package(app, &repo, &viewer).await?;
            let digests: Vec<Digest> = view.versions.iter().map(|v| v.manifest.digest.clone()).collect();
            let (_, counts) = lc::downloads_of(app, &repo, &digests).await?;
            let pushers = pushers(app, &view).await?;
            let versions: Vec<Value> = view
                .versions
                .iter()
                .map(|v| {
                    let mut out = version(v, &counts);
                    if let Some(p) = pushers.get(&v.manifest.digest) {
                        out["provenance"] = json!(p);
                        out["pushed_by"] = json!(p.describe());
                    }
                    out
                })
                .collect();
            Ok(Response::json(200, &json!(versions)))
        }
        (Method::Patch, Route::Package { repo }) => {
            administered(app, &repo, &viewer).await?;
            let change: SettingsChange = json_body::read(body).await?;
            let collect = match change.untagged.as_deref() {
                None => None,
                Some("keep") => Some(false),
                Some("collect") => Some(true),
                Some(other) => {
                    return Err(RegistryError::BadRequest(format!("untagged must be keep or collect, not {other}")))
                }
            };
            let visibility = change.visibility.as_deref().map(Visibility::parse).transpose()?;
            let before = id.package(&repo).await?.map(|p| p.visibility);
            if let Some(v) = visibility {
                id.set_visibility(&repo, v).await?;
            }
            if let Some(c) = collect {
                id.set_collect_untagged(&repo, c).await?;
            }
            if let Some(patterns) = &change.immutable_tags {
                app.registry.meta.set_immutable_tags(&repo, patterns, now).await?;
            }
            if let Some(source) = &change.source {
                let ok = !source.is_empty() && source.len() <= 512 && !source.chars().any(char::is_control);
                if !ok {
                    return Err(RegistryError::BadRequest("source must be 1 to 512 printable characters".into()));
                }
                app.trust.set_source(&repo, source, true, now).await?;
            }
            let view = package_views::package(app, &repo, &viewer).await?;
            let mut resp = Response::json(200, &describe(app, &view, &viewer).await?);
            if let Some(v) = visibility.filter(|v| Some(*v) != before) {
                let details = json!({"visibility": v.as_str()});
                resp.events.push(Payload::new(Event::VisibilityChanged, &repo, None, vec![], &actor, now, details));
            }
            Ok(resp)
        }
        (Method::Put, Route::Collaborator { repo, login: who }) => {
            administered(app, &repo, &viewer).await?;
            let change: RoleChange = json_body::read(body).await?;
            let role = Role::parse(&change.role)?;
            if id.account(&who).await? != Some(AccountKind::User) {
                return Err(RegistryError::NotFound(format!("user {who}")));
            }
            id.set_collaborator(&repo, &who, role).await?;
            Ok(Response::json(200, &json!({"login": who, "role": role.as_str()})))
        }
        (Method::Delete, Route::Collaborator { repo, login: who }) => {
            administered(app, &repo, &viewer).await?;
            if id.remove_collaborator(&repo, &who).await? {
                Ok(Response::new(204))
            } else {
                Err(RegistryError::NotFound(format!("collaborator {who}")))
            }
        }
        (Method::Delete, Route::Package { repo }) => {
            let (by, package) = deleter(app, &repo, &viewer).await?;
            let snapshot = PackageSnapshot::of(&package, id.collaborators(&repo).await?);
            // The package's row and roles leave with its content, in one step.
            let deletion = app.registry.trash_package(&repo, by.as_str(), &package.id, snapshot).await?;
            id.package_moved(&repo);
            // A package made later under this name does not inherit its trust.
            app.trust.forget_package(&repo).await?;
            let mut resp = Response::json(202, &json!({"deleted": repo.as_str(), "deletion": deletion.id}));
            resp.events.push(Payload::new(Event::PackageDeleted, &repo, None, vec![], &actor, now, Value::Null));
            Ok(resp)
        }
        (Method::Delete, Route::Version { repo, digest }) => {
            let (by, package) = deleter(app, &repo, &viewer).await?;
            app.registry.check_version_delete(&repo, &digest).await?;
            let tags = app.registry.meta.tags_of(&repo, &digest).await?;
            let deletion = app.registry.trash_version(&repo, &digest, by.as_str(), &package.id).await?;
            id.bump_content_epoch(&repo).await?;
            let mut resp = Response::json(202, &json!({"deleted": digest.to_string(), "deletion": deletion.id}));
            resp.events.push(Payload::new(Event::VersionDeleted, &repo, Some(&digest), tags, &actor, now, Value::Null));
            Ok(resp)
        }
        (Method::Post, Route::PackageRestore { repo }) => {
            let mut resp = restore_package(app, &repo, &viewer).await?;
            resp.events.push(Payload::new(Event::PackageRestored, &repo, None, vec![], &actor, now, Value::Null));
            Ok(resp)
        }
        (Method::Post, Route::VersionRestore { repo, digest }) => {
            let (_, package) = deleter(app, &repo, &viewer).await?;
            let deletion = app.registry.restorable(&repo, Some(&digest)).await?;
            // A version deleted from an earlier package of this name is not this package's.
            let same_package = match &deletion.package_id {
                Some(deleted_from) => *deleted_from == package.id,
                // Deleted without its package's id (by retention): made while this package was.
                None => deletion.deleted_ms >= package.created_ms,
            };
            if !same_package {
                return Err(RegistryError::NotFound("deletion".into()));
            }
            app.registry.restore(&deletion).await?;
            id.bump_content_epoch(&repo).await?;
            let view = administered_view(app, package, &viewer).await?;
            let restored = view.versions.iter().find(|v| v.manifest.digest == digest);
            let tags = restored.map(|v| v.tags.clone()).unwrap_or_default();
            let mut resp = Response::json(200, &restored.map(|v| version(v, &[])).unwrap_or(Value::Null));
            resp.events.push(Payload::new(
                Event::VersionRestored,
                &repo,
                Some(&digest),
                tags,
                &actor,
                now,
                Value::Null,
            ));
            Ok(resp)
        }
        (_, route @ (Route::RetentionPreview { .. } | Route::Retention { .. } | Route::Webhooks { .. })) => {
            lifecycle(app, route, req, body, &viewer).await
        }
        (_, route @ (Route::Webhook { .. } | Route::WebhookDeliveries { .. } | Route::PackageTag { .. })) => {
            lifecycle(app, route, req, body, &viewer).await
        }
        (method, route @ (Route::TrustedPublishers { .. } | Route::TrustedPublisher { .. })) => {
            administered_scope(app, &route, &viewer).await?;
            super::trusted_publishers::handle(app, ctx, method, route, &viewer, body).await
        }
        _ => Err(RegistryError::Unsupported("method not allowed here".into())),
    }
}

/// A lifecycle endpoint, for a viewer who administers its scope.
async fn lifecycle<P: Platform>(
    app: &App<P>,
    route: Route,
    req: &Request,
    body: &mut impl ChunkSource,
    viewer: &Viewer,
) -> Result<Response<Reader<P>>> {
    administered_scope(app, &route, viewer).await?;
    lc::handle(app, route, req.method, body, viewer).await
}

/// The viewer may change a package's or a namespace's settings (lifecycle, trusted
/// publishers): a package's need its admin (untagging: what deleting needs); a
/// namespace's need its user, or an owner of the organization.
async fn administered_scope<P: Platform>(app: &App<P>, route: &Route, viewer: &Viewer) -> Result<()> {
    match (route, route.repo()) {
        (Route::PackageTag { repo, .. }, _) => drop(deleter(app, repo, viewer).await?),
        (_, Some(repo)) => administered(app, repo, viewer).await?,
        (Route::Retention { scope: Scope::Namespace(ns) } | Route::Webhooks { scope: Scope::Namespace(ns) }, _)
        | (Route::Webhook { scope: Scope::Namespace(ns), .. }, _)
        | (Route::WebhookDeliveries { scope: Scope::Namespace(ns), .. }, _)
        | (Route::TrustedPublishers { scope: Scope::Namespace(ns) }, _)
        | (Route::TrustedPublisher { scope: Scope::Namespace(ns), .. }, _) => {
            let account = Login::parse(ns).map_err(|_| RegistryError::NotFound("namespace".into()))?;
            if app.identity.account(&account).await?.is_none() {
                return Err(RegistryError::NotFound(format!("namespace {ns}")));
            }
            if !lc::administers_namespace(&app.identity, ns, viewer).await? {
                return Err(RegistryError::Denied);
            }
        }
        _ => return Err(RegistryError::NotFound("route".into())),
    }
    Ok(())
}

/// The viewer may read the package and administers it; otherwise it is absent (no read
/// access) or the change is denied.
async fn administered<P: Platform>(app: &App<P>, repo: &RepoName, viewer: &Viewer) -> Result<()> {
    let view = package_views::package(app, repo, viewer).await?;
    if viewer.administers(&view.facts) {
        Ok(())
    } else {
        Err(RegistryError::Denied)
    }
}

/// The viewer may delete from the package (admin, `delete:packages`); returns who they are
/// and the package. Who may not read it gets what a missing package gets.
async fn deleter<P: Platform>(app: &App<P>, repo: &RepoName, viewer: &Viewer) -> Result<(Login, Package)> {
    let gathered = gate::gather(&app.identity, repo, viewer.login()).await?;
    match (viewer.login(), gathered.package) {
        (Some(login), Some(package)) if viewer.may(&gathered.facts, Action::Delete) => Ok((login.clone(), package)),
        (_, Some(_)) if viewer.may(&gathered.facts, Action::Pull) => Err(RegistryError::Denied),
        _ => Err(RegistryError::NotFound("package".into())),
    }
}

/// The package as its administrator sees it, whatever their token may read: whoever just
/// restored it is told what came back.
async fn administered_view<P: Platform>(app: &App<P>, package: Package, viewer: &Viewer) -> Result<PackageView> {
    let facts = viewer.facts(&app.identity, &package.repo).await?;
    let versions = app.registry.versions(&package.repo, crate::registry::versions::MAX_VERSIONS).await?;
    Ok(PackageView { package, versions, facts })
}

/// A deleted package has no roles left to ask: its namespace's owners, and whoever
/// administered it when it was deleted, may bring it back, with `delete:packages`. The
/// right is checked before anything is said of the deletion: who lacks it gets the same
/// answer whether or not there is one. Whether the name was taken meanwhile is decided in
/// the restore's one transaction.
async fn restore_package<P: Platform>(app: &App<P>, repo: &RepoName, viewer: &Viewer) -> Result<Response<Reader<P>>> {
    let not_found = || RegistryError::NotFound("deleted package".into());
    let Some((login, scopes)) = &viewer.user else { return Err(not_found()) };
    if !scopes.delete {
        return Err(not_found());
    }
    let facts = viewer.facts(&app.identity, repo).await?;
    let namespace_admin = matches!(facts.relation, Relation::Own | Relation::Org(OrgRole::Owner));
    let deletion = match app.registry.restorable(repo, None).await {
        Ok(d) => d,
        Err(RegistryError::NotFound(_)) => return Err(not_found()),
        Err(e) => return Err(e),
    };
    let snapshot = deletion
        .package
        .as_ref()
        .ok_or_else(|| RegistryError::internal(format!("deletion {} lost its package", deletion.id)))?;
    let was_admin = snapshot.collaborators.iter().any(|(l, r)| l == login && *r == Role::Admin);
    if !(namespace_admin || was_admin) {
        return Err(not_found());
    }
    // Content, the package's row and its roles come back in one step.
    app.registry.restore(&deletion).await?;
    app.identity.package_moved(repo);
    let package = app.identity.package(repo).await?.ok_or_else(|| RegistryError::NotFound("package".into()))?;
    let view = administered_view(app, package, viewer).await?;
    Ok(Response::json(200, &describe(app, &view, viewer).await?))
}

/// A package as the API shows it.
async fn describe<P: Platform>(app: &App<P>, view: &PackageView, viewer: &Viewer) -> Result<Value> {
    let repo = &view.package.repo;
    let mut v = summary(view);
    v["source"] = json!(connected_source(app, view).await?);
    v["tags"] = json!(view.versions.iter().flat_map(|v| v.tags.iter()).collect::<Vec<_>>());
    v["version_count"] = json!(view.versions.len());
    v["downloads"] = json!(lc::downloads_of(app, repo, &[]).await?.0);
    v["immutable_tags"] = json!(app.registry.meta.immutable_tags(repo).await?);
    if viewer.administers(&view.facts) {
        let collaborators: Vec<_> = app
            .identity
            .collaborators(&view.package.repo)
            .await?
            .into_iter()
            .map(|(l, r)| json!({"login": l, "role": r.as_str()}))
            .collect();
        v["collaborators"] = json!(collaborators);
    }
    Ok(v)
}

fn summary(view: &PackageView) -> Value {
    let p = &view.package;
    let mut v = json!({
        "name": p.repo.as_str(),
        "namespace": p.repo.namespace(),
        "owner": p.repo.namespace(),
        "visibility": p.visibility.as_str(),
        "created_at": iso8601(p.created_ms / 1000),
        "created_by": p.created_by,
        "untagged": if p.collect_untagged { "collect" } else { "keep" },
        "metadata": view.metadata(),
    });
    if let Some(current) = view.current() {
        v["updated_at"] = json!(iso8601(current.pushed_ms / 1000));
    }
    v
}

/// A version as the API shows it, with its downloads among `counts`.
/// The source repository the package is connected to: set through the API, or else the
/// newest tagged version's `org.opencontainers.image.source`.
pub(super) async fn connected_source<P: Platform>(app: &App<P>, view: &PackageView) -> Result<Option<String>> {
    Ok(match app.trust.source(&view.package.repo).await? {
        Some(s) => Some(s),
        None => view.metadata().source,
    })
}

/// Who pushed each version of the package that has a record of it (one query).
pub(super) async fn pushers<P: Platform>(app: &App<P>, view: &PackageView) -> Result<HashMap<Digest, Provenance>> {
    let digests: Vec<Digest> = view.versions.iter().map(|v| v.manifest.digest.clone()).collect();
    let recorded = app.registry.meta.pushed_by(&view.package.repo, &digests).await?;
    // A record that no longer reads as a provenance is shown as none.
    Ok(recorded.into_iter().filter_map(|(d, json)| serde_json::from_str(&json).ok().map(|p| (d, p))).collect())
}

fn version(v: &Version, counts: &[(Digest, u64)]) -> Value {
    let m = &v.manifest;
    let downloads = counts.iter().find(|(d, _)| d == &m.digest).map_or(0, |(_, n)| *n);
    json!({
        "downloads": downloads,
        "digest": m.digest.to_string(),
        "media_type": m.media_type,
        "tags": v.tags,
        "size": m.details.total_size,
        "manifest_size": m.size,
        "platforms": m.details.platforms,
        "created": m.details.created,
        "pushed_at": iso8601(v.pushed_ms / 1000),
        "metadata": m.details.metadata,
    })
}
