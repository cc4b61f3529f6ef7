//! Managing trusted publishers (`/api/packages/<name>/trusted-publishers[/<id>]` and
//! `/api/namespaces/<namespace>/trusted-publishers[/<id>]`): list, add, remove, for a
//! viewer who administers the scope (checked by the package API, as for its other
//! settings).

use super::context::Context;
use super::package_views::Viewer;
use super::route::Route;
use super::{json_body, App, Method, Response};
use crate::auth::oidc::store::{PolicyScope, StoredPublisher, TrustStore, MAX_PER_SCOPE};
use crate::auth::oidc::TrustedPublisher;
use crate::auth::{Action, Login};
use crate::error::{RegistryError, Result};
use crate::registry::lifecycle::Scope;
use crate::registry::ports::ChunkSource;
use crate::registry::{Platform, Reader};
use crate::time::iso8601;
use serde::Deserialize;
use serde_json::{json, Value};

/// A policy as a client submits it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPublisher {
    issuer: String,
    repository: String,
    repository_owner_id: Option<String>,
    workflow: String,
    environment: Option<String>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    #[serde(default)]
    actions: Vec<String>,
}

pub async fn handle<P: Platform>(
    app: &App<P>,
    ctx: &Context,
    method: Method,
    route: Route,
    viewer: &Viewer,
    body: &mut impl ChunkSource,
) -> Result<Response<Reader<P>>> {
    let (scope, id) = match route {
        Route::TrustedPublishers { scope } => (scope, None),
        Route::TrustedPublisher { scope, id } => (scope, Some(id)),
        _ => return Err(RegistryError::NotFound("route".into())),
    };
    let scope = match scope {
        Scope::Package(repo) => PolicyScope::Package(repo),
        Scope::Namespace(ns) => PolicyScope::Namespace(ns),
    };
    match (method, id) {
        (Method::Get, None) => {
            let list = app.trust.publishers(&scope).await?;
            Ok(Response::json(200, &json!(list.iter().map(view).collect::<Vec<_>>())))
        }
        (Method::Post, None) => {
            let new: NewPublisher = json_body::read(body).await?;
            let mut actions = vec![];
            for a in &new.actions {
                match Action::parse_docker(a).as_slice() {
                    [one] => actions.push(*one),
                    _ => return Err(RegistryError::BadRequest("actions are pull, push and delete".into())),
                }
            }
            let policy = TrustedPublisher::new(TrustedPublisher {
                issuer: new.issuer,
                repository: new.repository,
                repository_owner_id: new.repository_owner_id,
                workflow: new.workflow,
                environment: new.environment,
                git_ref: new.git_ref,
                actions,
            })?;
            if !app.oidc.verifier.issuers.allows(&policy.issuer) {
                return Err(RegistryError::BadRequest("issuer is not one this registry accepts tokens from".into()));
            }
            let stored = StoredPublisher {
                id: crate::registry::random_id()?,
                scope,
                policy,
                created_ms: ctx.now_ms,
                created_by: viewer.login().map(Login::to_string).unwrap_or_default(),
            };
            if !app.trust.add_publisher(&stored).await? {
                return Err(RegistryError::Conflict(format!("at most {MAX_PER_SCOPE} trusted publishers here")));
            }
            Ok(Response::json(201, &view(&stored)))
        }
        (Method::Delete, Some(id)) => match app.trust.remove_publisher(&scope, &id).await? {
            true => Ok(Response::new(204)),
            false => Err(RegistryError::NotFound("trusted publisher".into())),
        },
        _ => Err(RegistryError::Unsupported("method not allowed here".into())),
    }
}

fn view(p: &StoredPublisher) -> Value {
    let (package, namespace) = match &p.scope {
        PolicyScope::Package(repo) => (Some(repo.as_str()), repo.namespace()),
        PolicyScope::Namespace(ns) => (None, ns.as_str()),
    };
    json!({
        "id": p.id,
        "package": package,
        "namespace": namespace,
        "issuer": p.policy.issuer,
        "repository": p.policy.repository,
        "repository_owner_id": p.policy.repository_owner_id,
        "workflow": p.policy.workflow,
        "environment": p.policy.environment,
        "ref": p.policy.git_ref,
        "actions": p.policy.actions.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "created_at": iso8601(p.created_ms / 1000),
        "created_by": p.created_by,
    })
}
