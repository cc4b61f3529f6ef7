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
use super::route::Route;
use super::time::iso8601;
use super::{json_body, App, Method, Request, Response};
use crate::auth::identity::{AccountKind, IdentityStore, PackageSnapshot};
use crate::auth::oidc::{Provenance, TrustStore};
use crate::auth::{Action, Login, Role, Visibility};
use crate::error::{RegistryError, Result};
use crate::oci::Digest;
use crate::oci::RepoName;
use crate::registry::ports::{ChunkSource, Version};
use crate::registry::{Platform, Reader};
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
            let pushers = pushers(app, &view).await?;
            let versions: Vec<Value> = view
                .versions
                .iter()
                .map(|v| {
                    let mut out = version(v);
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
            if let Some(v) = visibility {
                id.set_visibility(&repo, v).await?;
            }
            if let Some(c) = collect {
                id.set_collect_untagged(&repo, c).await?;
            }
            if let Some(source) = &change.source {
                let ok = !source.is_empty() && source.len() <= 512 && !source.chars().any(char::is_control);
                if !ok {
                    return Err(RegistryError::BadRequest("source must be 1 to 512 printable characters".into()));
                }
                app.trust.set_source(&repo, source, true, ctx.now_ms).await?;
            }
            let view = package_views::package(app, &repo, &viewer).await?;
            Ok(Response::json(200, &describe(app, &view, &viewer).await?))
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
            let by = deleter(app, &repo, &viewer).await?;
            let package = id.package(&repo).await?.ok_or_else(|| RegistryError::NotFound("package".into()))?;
            let snapshot = PackageSnapshot::of(&package, id.collaborators(&repo).await?);
            // The package's row and roles leave with its content, in one step.
            let deletion = app.registry.trash_package(&repo, by.as_str(), snapshot).await?;
            id.package_moved(&repo);
            // A package made later under this name does not inherit its trust.
            app.trust.forget_package(&repo).await?;
            Ok(Response::json(202, &json!({"deleted": repo.as_str(), "deletion": deletion.id})))
        }
        (Method::Delete, Route::Version { repo, digest }) => {
            let by = deleter(app, &repo, &viewer).await?;
            let deletion = app.registry.trash_version(&repo, &digest, by.as_str()).await?;
            id.bump_content_epoch(&repo).await?;
            Ok(Response::json(202, &json!({"deleted": digest.to_string(), "deletion": deletion.id})))
        }
        (Method::Post, Route::PackageRestore { repo }) => restore_package(app, &repo, &viewer).await,
        (Method::Post, Route::VersionRestore { repo, digest }) => {
            deleter(app, &repo, &viewer).await?;
            let deletion = app.registry.restorable(&repo, Some(&digest)).await?;
            app.registry.restore(&deletion).await?;
            id.bump_content_epoch(&repo).await?;
            let view = package_views::package(app, &repo, &viewer).await?;
            let restored = view.versions.iter().find(|v| v.manifest.digest == digest).map(version);
            Ok(Response::json(200, &restored.unwrap_or(Value::Null)))
        }
        (
            method,
            route @ (Route::PackagePublishers { .. }
            | Route::PackagePublisher { .. }
            | Route::NamespacePublishers { .. }
            | Route::NamespacePublisher { .. }),
        ) => super::trusted_publishers::handle(app, ctx, method, route, &viewer, body).await,
        _ => Err(RegistryError::Unsupported("method not allowed here".into())),
    }
}

/// The viewer may read the package and administers it; otherwise it is absent (no read
/// access) or the change is denied.
pub(super) async fn administered<P: Platform>(app: &App<P>, repo: &RepoName, viewer: &Viewer) -> Result<()> {
    let view = package_views::package(app, repo, viewer).await?;
    if viewer.administers(&view.facts) {
        Ok(())
    } else {
        Err(RegistryError::Denied)
    }
}

/// The viewer may delete from the package (admin, `delete:packages`); returns who they are.
async fn deleter<P: Platform>(app: &App<P>, repo: &RepoName, viewer: &Viewer) -> Result<Login> {
    let view = package_views::package(app, repo, viewer).await?;
    match viewer.login() {
        Some(login) if viewer.may(&view.facts, Action::Delete) => Ok(login.clone()),
        _ => Err(RegistryError::Denied),
    }
}

/// A deleted package has no roles left to ask: its namespace's owners, and whoever
/// administered it when it was deleted, may bring it back.
async fn restore_package<P: Platform>(app: &App<P>, repo: &RepoName, viewer: &Viewer) -> Result<Response<Reader<P>>> {
    let not_found = || RegistryError::NotFound("deleted package".into());
    let Some((login, scopes)) = &viewer.user else { return Err(not_found()) };
    let deletion = app.registry.restorable(repo, None).await?;
    let snapshot = deletion
        .package
        .as_ref()
        .ok_or_else(|| RegistryError::internal(format!("deletion {} lost its package", deletion.id)))?;
    let facts = viewer.facts(&app.identity, repo).await?;
    let was_admin = snapshot.collaborators.iter().any(|(l, r)| l == login && *r == Role::Admin);
    let namespace_admin = facts.role() == Some(Role::Admin);
    if !(namespace_admin || was_admin) {
        return Err(not_found());
    }
    if !scopes.delete {
        return Err(RegistryError::Denied);
    }
    if app.identity.package(repo).await?.is_some() {
        return Err(RegistryError::Conflict(format!("{repo} was pushed to again since it was deleted")));
    }
    // Content, the package's row and its roles come back in one step.
    app.registry.restore(&deletion).await?;
    app.identity.package_moved(repo);
    let view = package_views::package(app, repo, viewer).await?;
    Ok(Response::json(200, &describe(app, &view, viewer).await?))
}

/// A package as the API shows it.
async fn describe<P: Platform>(app: &App<P>, view: &PackageView, viewer: &Viewer) -> Result<Value> {
    let id = &app.identity;
    let mut v = summary(view);
    v["source"] = json!(connected_source(app, view).await?);
    v["tags"] = json!(view.versions.iter().flat_map(|v| v.tags.iter()).collect::<Vec<_>>());
    v["version_count"] = json!(view.versions.len());
    if viewer.administers(&view.facts) {
        let collaborators: Vec<_> = id
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

/// A version as the API shows it.
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
    Ok(app.trust.provenance(&view.package.repo, &digests).await?.into_iter().collect())
}

fn version(v: &Version) -> Value {
    let m = &v.manifest;
    json!({
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
