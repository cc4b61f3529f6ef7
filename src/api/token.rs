//! `GET /token`: the docker token service. Grants the intersection of what was asked
//! and what the caller may do; partial grants are not errors.

use super::context::Context;
use super::gate::{self, Caller};
use super::{App, Method, Request, Response};
use crate::auth::bearer::{self, Claims, Grant, TOKEN_TTL_SECS};
use crate::auth::oidc::{looks_like_identity_token, Check, Identity, Refusal};
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
    if matches!(caller, Caller::Token(_)) {
        // A registry token does not buy another one.
        return Err(RegistryError::Unauthorized { scope: None });
    }
    let scopes: Vec<&str> = params.iter().filter(|(k, _)| k == "scope").flat_map(|(_, v)| v.split(' ')).collect();
    if scopes.len() > MAX_SCOPES {
        return Err(RegistryError::BadRequest(format!("at most {MAX_SCOPES} scopes")));
    }
    if let Caller::Ci(id) = caller {
        return ci_token(app, ctx, id, &scopes).await;
    }
    let login = caller_login(&caller);
    let pat_scopes = match &caller {
        Caller::Pat { scopes, .. } => Some(scopes),
        _ => None,
    };
    let mut access = vec![];
    for (repo, wanted) in scopes.iter().filter_map(|s| parse_scope(s)) {
        // Deciding must not create packages: only a push itself does.
        let f = gate::gather(&app.identity, &repo, login.as_ref()).await?.facts;
        let granted = wanted.into_iter().filter(|a| crate::auth::policy::decide(pat_scopes, &f, *a)).collect();
        access.push(Grant { repository: repo.to_string(), actions: granted });
    }
    let now = ctx.now_ms / 1000;
    let claims = Claims {
        sub: caller.login().map(str::to_string),
        access,
        iat: now,
        exp: now + TOKEN_TTL_SECS,
        ci: None,
        ci_scoped: false,
        pat: match &caller {
            Caller::Pat { token_id, .. } => Some(token_id.clone()),
            _ => None,
        },
    };
    signed(app, &claims, now)
}

fn signed<P: Platform>(app: &App<P>, claims: &Claims, now: u64) -> Result<Response<Reader<P>>> {
    let token = bearer::sign(claims, &app.signing_key);
    Ok(Response::json(
        200,
        &json!({"token": token, "access_token": token, "expires_in": TOKEN_TTL_SECS, "issued_at": iso8601(now)}),
    ))
}

/// A CI job's token: for each scope, what was asked and the trust policies grant.
/// Asking for scopes and being granted nothing at all is refused, naming the check (a
/// partial grant, such as a push with a mount from an untrusted source, is not).
async fn ci_token<P: Platform>(
    app: &App<P>,
    ctx: &Context,
    id: Identity,
    scopes: &[&str],
) -> Result<Response<Reader<P>>> {
    let mut access = vec![];
    let mut refusal = None;
    for (repo, wanted) in scopes.iter().filter_map(|s| parse_scope(s)) {
        let granted: Vec<Action> = match gate::ci_grants(&app.trust, &id, &repo).await? {
            Ok(allowed) => {
                if let Some(missing) = wanted.iter().find(|a| !allowed.contains(a)) {
                    refusal.get_or_insert(Refusal::NotGranted(*missing));
                }
                wanted.into_iter().filter(|a| allowed.contains(a)).collect()
            }
            Err(check) => {
                refusal.get_or_insert(Refusal::NoMatch(check));
                vec![]
            }
        };
        access.push(Grant { repository: repo.to_string(), actions: granted });
    }
    if !scopes.is_empty() && access.iter().all(|g| g.actions.is_empty()) {
        return Err(refusal.unwrap_or(Refusal::NoMatch(Check::Repository)).into());
    }
    let now = ctx.now_ms / 1000;
    let claims =
        Claims { sub: None, access, iat: now, exp: now + TOKEN_TTL_SECS, ci: Some(id), ci_scoped: true, pat: None };
    signed(app, &claims, now)
}

async fn read_form(body: &mut impl ChunkSource) -> Result<Vec<(String, String)>> {
    let bytes = read_small(body, MAX_FORM_BYTES, "a token request form").await?;
    Ok(form_urlencoded::parse(&bytes).into_owned().collect())
}

fn caller_login(caller: &Caller) -> Option<crate::auth::Login> {
    match caller {
        Caller::Pat { login, .. } => Some(login.clone()),
        _ => None,
    }
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
