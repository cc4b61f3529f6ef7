//! `POST /api/oidc/token`: a CI job's identity token exchanged for a registry token, for
//! scripts (docker clients send the identity token as their password instead). Each
//! identity token is exchanged once: its `jti` is remembered until it expires, in the
//! trust store, so a replay to any isolate is refused.

use super::context::Context;
use super::{App, Method, Request, Response};
use crate::auth::bearer::{self, Claims, Grant, NamespaceGrant};
use crate::auth::identity::IdentityStore;
use crate::auth::oidc::store::{PolicyScope, TrustStore};
use crate::auth::oidc::trust::Check;
use crate::auth::oidc::verifier::LEEWAY_SECS;
use crate::auth::oidc::Refusal;
use crate::error::{RegistryError, Result};
use crate::registry::ports::{read_small, ChunkSource};
use crate::registry::{Platform, Reader};
use crate::time::iso8601;
use serde::Deserialize;
use serde_json::json;

/// The registry token's life: at most 15 minutes, whatever the identity token's.
pub const EXCHANGED_TOKEN_TTL_SECS: u64 = 900;
const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Exchange {
    token: String,
}

pub async fn exchange<P: Platform>(
    app: &App<P>,
    ctx: &Context,
    req: &Request,
    body: &mut impl ChunkSource,
) -> Result<Response<Reader<P>>> {
    if req.method != Method::Post {
        return Err(RegistryError::Unsupported("the token exchange takes POST".into()));
    }
    let bytes = read_small(body, MAX_BODY_BYTES, "a token exchange").await?;
    let json = req.header("content-type").is_some_and(|t| t.starts_with("application/json"));
    let token = if json {
        serde_json::from_slice::<Exchange>(&bytes)
            .map_err(|e| RegistryError::BadRequest(format!("invalid JSON body: {e}")))?
            .token
    } else {
        form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| RegistryError::BadRequest("the identity token goes in the field token".into()))?
    };
    let now_ms = ctx.now_ms;
    let id = app.oidc.verify(&token, now_ms).await?;
    let jti = id.jti.clone().ok_or(Refusal::MissingClaim("jti"))?;
    let forget_after_ms = (id.expires_at + LEEWAY_SECS) * 1000;
    if !app.trust.claim_jti(&id.issuer, &jti, forget_after_ms, now_ms).await? {
        return Err(Refusal::Replayed.into());
    }
    // The token names exactly the packages (by id: a package created again under the
    // name is another one) and namespaces whose policies trust the job now; each use is
    // decided again on the policies then in force.
    let (mut packages, mut namespaces, mut shown) = (vec![], vec![], vec![]);
    let (mut furthest, mut suspended) = (Check::Repository, false);
    for trusting in app.trust.publishers_of_source(&id.issuer, &id.repository).await? {
        let p = trusting.publisher;
        if let Some(check) = p.policy.mismatch(&id) {
            furthest = furthest.max(check);
            continue;
        }
        // A suspended user's policies trust nobody (and each use checks it again).
        if trusting.namespace_suspended {
            suspended = true;
            continue;
        }
        let actions = p.policy.actions.clone();
        let names: Vec<&str> = actions.iter().map(|a| a.as_str()).collect();
        match p.scope {
            PolicyScope::Package(repo) => {
                shown.push(json!({"package": repo.as_str(), "actions": names}));
                let package = app.identity.package(&repo).await?.map(|p| p.id);
                packages.push(Grant { repository: repo.to_string(), actions, package });
            }
            PolicyScope::Namespace(namespace) => {
                shown.push(json!({"namespace": namespace, "actions": names}));
                namespaces.push(NamespaceGrant { namespace, actions });
            }
        }
    }
    if shown.is_empty() {
        return Err(if suspended { Refusal::Suspended } else { Refusal::NoMatch(furthest) }.into());
    }
    let now = now_ms / 1000;
    let principal = id.principal();
    let claims = Claims {
        sub: None,
        pat: None,
        aud: req.host().to_string(),
        access: packages,
        iat: now,
        exp: now + EXCHANGED_TOKEN_TTL_SECS,
        ci: Some(id),
        namespaces,
    };
    let token = bearer::sign(&claims, &app.signing_key);
    let mut resp = Response::json(
        200,
        &json!({"token": token, "expires_in": EXCHANGED_TOKEN_TTL_SECS, "issued_at": iso8601(now), "access": shown}),
    );
    resp.trace.principal = Some(principal);
    Ok(resp)
}
