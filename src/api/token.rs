//! `GET /token`: the docker token service. Grants the intersection of what was asked
//! and what the caller may do; partial grants are not errors. A user's or an anonymous
//! caller's grant is read from their scopes alone, each use being decided on the facts
//! then; a CI job's (it signs in with its identity token as the password, `docker login
//! -u oidc`) rests on the trust policies in force.

use super::context::Context;
use super::gate::{self, Caller};
use super::{App, Method, Request, Response};
use crate::auth::bearer::{self, Claims, Grant, TOKEN_TTL_SECS};
use crate::auth::oidc::looks_like_identity_token;
use crate::auth::policy::{ever_allowed, Decision};
use crate::auth::Action;
use crate::error::{RegistryError, Result};
use crate::oci::RepoName;
use crate::registry::ports::{read_small, ChunkSource};
use crate::registry::{Platform, Reader};
use crate::time::iso8601;
use serde_json::json;

/// More scopes than this in one request is abuse.
const MAX_SCOPES: usize = 32;

/// A repository scope: `repository[(class)]:NAME:ACTIONS`. NAME may hold `host:port/`
/// in some clients' requests, so it is everything between the first and the last colon.
pub fn parse_scope(s: &str) -> Option<(RepoName, Vec<Action>)> {
    let (kind, rest) = s.split_once(':')?;
    if kind != "repository" && !kind.starts_with("repository(") {
        return None;
    }
    let (name, actions) = rest.rsplit_once(':')?;
    let repo = RepoName::parse(name).ok()?;
    let mut acts: Vec<Action> = actions.split(',').flat_map(Action::parse_docker).collect();
    acts.sort();
    acts.dedup();
    Some((repo, acts))
}

/// The OAuth2 form of the token request (`POST /token`), as containerd sends it.
const MAX_FORM_BYTES: usize = 16 * 1024;

pub async fn issue<P: Platform>(
    app: &App<P>,
    ctx: &Context,
    req: &Request,
    body: &mut impl ChunkSource,
) -> Result<Response<Reader<P>>> {
    let (caller, params) = match req.method {
        Method::Get => (gate::authenticate(app, req, ctx.now_ms).await?, req.query.clone()),
        Method::Post => {
            let form = read_form(body).await?;
            let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            let caller = match (field("grant_type"), field("username"), field("password")) {
                (Some("password"), Some(_), Some(password)) if looks_like_identity_token(password) => {
                    gate::ci_caller(app, password, ctx.now_ms).await?
                }
                (Some("password"), Some(user), Some(password)) => {
                    gate::pat_caller(app, req, Some(user), password, ctx.now_ms).await?
                }
                // No refresh tokens are issued, so none can be redeemed.
                (Some("password") | Some("refresh_token"), _, _) => {
                    return Err(RegistryError::Unauthorized { scope: None })
                }
                _ => gate::authenticate(app, req, ctx.now_ms).await?,
            };
            (caller, form)
        }
        _ => return Err(RegistryError::Unsupported("the token service takes GET or POST".into())),
    };
    if matches!(caller, Caller::Token { .. }) {
        // A registry token does not buy another one.
        return Err(RegistryError::Unauthorized { scope: None });
    }
    let scopes: Vec<&str> = params.iter().filter(|(k, _)| k == "scope").flat_map(|(_, v)| v.split(' ')).collect();
    if scopes.len() > MAX_SCOPES {
        return Err(RegistryError::BadRequest(format!("at most {MAX_SCOPES} scopes")));
    }
    let pat = match &caller {
        Caller::Pat { token_id, .. } => Some(token_id.clone()),
        _ => None,
    };
    let mut access = vec![];
    // A CI job granted nothing at all is told why (the first check that failed).
    let mut ci_refusal = None;
    for (repo, wanted) in scopes.iter().filter_map(|s| parse_scope(s)) {
        if let Some(grant) = read_from_nothing(&caller, &repo, &wanted) {
            access.push(grant);
            continue;
        }
        // A CI job's. Deciding must not create packages: only a push itself does. A package
        // the job may not read is granted as its name would be were there no package, and
        // named in the grant only when the job may know it exists.
        let gathered = gate::gather_for(app, &repo, &caller).await?;
        let decisions: Vec<(Action, Decision)> =
            wanted.into_iter().map(|a| (a, gate::decide(&caller, &gathered, a))).collect();
        if let Some((refused, _)) = decisions.iter().find(|(_, d)| *d == Decision::Refused) {
            ci_refusal.get_or_insert_with(|| gate::refusal(&caller, &gathered, *refused));
        }
        let known = decisions.iter().any(|(_, d)| *d == Decision::Allowed);
        access.push(Grant {
            repository: repo.to_string(),
            actions: decisions.iter().filter(|(_, d)| *d != Decision::Refused).map(|(a, _)| *a).collect(),
            package: gathered.package.filter(|_| known).map(|p| p.id),
        });
    }
    let ci = caller.ci().cloned();
    if let (Some(_), Some(refusal)) = (&ci, ci_refusal) {
        if access.iter().all(|g| g.actions.is_empty()) {
            return Err(refusal);
        }
    }
    let now = ctx.now_ms / 1000;
    let claims = Claims {
        sub: caller.login().map(str::to_string),
        pat,
        aud: req.host().to_string(),
        access,
        iat: now,
        exp: now + TOKEN_TTL_SECS,
        ci,
        namespaces: vec![],
    };
    let token = bearer::sign(&claims, &app.signing_key);
    let mut resp = Response::json(
        200,
        &json!({"token": token, "access_token": token, "expires_in": TOKEN_TTL_SECS, "issued_at": iso8601(now)}),
    );
    resp.trace.principal = caller.principal();
    Ok(resp)
}

/// The grant of an anonymous caller or a user's PAT, read from no facts: every use of the
/// token is decided again on the facts of that moment (`gate::decide`), so the grant need
/// only bound what the caller's scopes could ever allow. Issuing it costs no round trip,
/// and, resting on nothing stored, it tells nobody whether a package exists. `None` for a
/// CI job, whose grant rests on the trust policies.
fn read_from_nothing(caller: &Caller, repo: &RepoName, wanted: &[Action]) -> Option<Grant> {
    let scopes = match caller {
        Caller::Anonymous => None,
        Caller::Pat { scopes, .. } => Some(scopes),
        _ => return None,
    };
    let actions = wanted.iter().copied().filter(|a| ever_allowed(scopes, *a)).collect();
    Some(Grant { repository: repo.to_string(), actions, package: None })
}

async fn read_form(body: &mut impl ChunkSource) -> Result<Vec<(String, String)>> {
    let bytes = read_small(body, MAX_FORM_BYTES, "a token request form").await?;
    Ok(form_urlencoded::parse(&bytes).into_owned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        let (r, a) = parse_scope("repository:alice/app:pull,push").unwrap();
        assert_eq!((r.as_str(), a), ("alice/app", vec![Action::Pull, Action::Push]));
        let (r, a) = parse_scope("repository(plugin):acme/x/y:*").unwrap();
        assert_eq!((r.as_str(), a.len()), ("acme/x/y", 3));
        assert_eq!(parse_scope("repository:alice/app:bogus").unwrap().1, vec![]);
        for bad in ["registry:package_views:*", "repository:Alice/app:pull", "repository:pull", "", "repository::pull"]
        {
            assert!(parse_scope(bad).is_none(), "{bad}");
        }
    }
}
