//! The package API (`/api/packages/NAMESPACE/NAME[...]`), for a user's PAT: visibility,
//! collaborators, and what a package is.

use super::gate::{self, Caller};
use super::{json_body, App, Method, Request, Response};
use crate::auth::identity::{AccountKind, IdentityStore};
use crate::auth::policy::{self, Facts};
use crate::auth::{Action, Login, Role, Visibility};
use crate::error::{RegistryError, Result};
use crate::oci::RepoName;
use crate::registry::ports::{ChunkSource, Clock, ObjectStore};
use crate::registry::MetadataStore;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VisibilityChange {
    visibility: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleChange {
    role: String,
}

enum Target {
    Package(RepoName),
    Collaborator(RepoName, Login),
}

fn target(path: &str) -> Result<Target> {
    let not_found = || RegistryError::NotFound("package".into());
    match path.rsplit_once("/collaborators/") {
        Some((name, login)) => {
            Ok(Target::Collaborator(RepoName::parse(name).map_err(|_| not_found())?, Login::parse(login)?))
        }
        None => Ok(Target::Package(RepoName::parse(path).map_err(|_| not_found())?)),
    }
}

pub async fn handle<M, O, C, I>(
    app: &App<M, O, C, I>,
    path: &str,
    req: &Request,
    body: &mut impl ChunkSource,
) -> Result<Response<O::Reader>>
where
    M: MetadataStore,
    O: ObjectStore,
    C: Clock,
    I: IdentityStore,
{
    let (login, scopes) = match gate::authenticate(app, req).await? {
        Caller::Pat { login, scopes } => (login, scopes),
        _ => return Err(RegistryError::Unauthorized { scope: None }),
    };
    let repo = match target(path)? {
        Target::Package(r) | Target::Collaborator(r, _) => r,
    };
    let facts: Facts = gate::facts(&app.identity, &repo, Some(&login)).await?;
    // Without read access a package is as good as absent.
    if !policy::decide(Some(&scopes), &facts, Action::Pull) {
        return Err(RegistryError::NotFound("package".into()));
    }
    let admin = scopes.write && facts.role() == Some(Role::Admin);
    let id = &app.identity;
    match (req.method, target(path)?) {
        (Method::Get, Target::Package(repo)) => describe(id, &repo, admin).await,
        (Method::Patch, Target::Package(repo)) if admin => {
            let change: VisibilityChange = json_body::read(body).await?;
            id.set_visibility(&repo, Visibility::parse(&change.visibility)?).await?;
            describe(id, &repo, admin).await
        }
        (Method::Put, Target::Collaborator(repo, who)) if admin => {
            let change: RoleChange = json_body::read(body).await?;
            let role = Role::parse(&change.role)?;
            if id.account(&who).await? != Some(AccountKind::User) {
                return Err(RegistryError::NotFound(format!("user {who}")));
            }
            id.set_collaborator(&repo, &who, role).await?;
            Ok(Response::json(200, &json!({"login": who, "role": role.as_str()})))
        }
        (Method::Delete, Target::Collaborator(repo, who)) if admin => {
            if id.remove_collaborator(&repo, &who).await? {
                Ok(Response::new(204))
            } else {
                Err(RegistryError::NotFound(format!("collaborator {who}")))
            }
        }
        (Method::Patch | Method::Put | Method::Delete, _) => Err(RegistryError::Denied),
        _ => Err(RegistryError::Unsupported("method not allowed here".into())),
    }
}

async fn describe<R, I: IdentityStore>(id: &I, repo: &RepoName, admin: bool) -> Result<Response<R>> {
    let p = id.package(repo).await?.ok_or_else(|| RegistryError::NotFound("package".into()))?;
    let mut v = json!({
        "name": repo.as_str(),
        "namespace": repo.namespace(),
        "owner": repo.namespace(),
        "visibility": p.visibility.as_str(),
        "created_at": super::token::iso8601(p.created_ms / 1000),
        "created_by": p.created_by,
    });
    if admin {
        let collaborators: Vec<_> =
            id.collaborators(repo).await?.into_iter().map(|(l, r)| json!({"login": l, "role": r.as_str()})).collect();
        v["collaborators"] = json!(collaborators);
    }
    Ok(Response::json(200, &v))
}
