//! Authentication (who calls) and authorization (may they) for registry routes.

use super::{App, Request};
use crate::auth::bearer::{self, Claims};
use crate::auth::credentials::{self, Credentials};
use crate::auth::identity::{AccountKind, IdentityStore};
use crate::auth::oidc::trust::{self, Check};
use crate::auth::oidc::{self, Identity, Provenance, Refusal, TrustStore};
use crate::auth::pat::PresentedToken;
use crate::auth::policy::{self, Facts, Relation};
use crate::auth::{Action, Login, Scopes};
use crate::error::{RegistryError, Result};
use crate::oci::RepoName;
use crate::registry::ports::Clock;
use crate::registry::Platform;

/// The caller of one request.
pub enum Caller {
    Anonymous,
    /// A personal access token, sent as Basic `user:PAT` or as a Bearer PAT.
    Pat {
        login: Login,
        scopes: Scopes,
        /// The token's id (never its secret), for provenance.
        token_id: String,
    },
    /// A registry token from `/token`: what it grants was decided when it was issued
    /// (for a CI job's token, within what the trust policies grant now).
    Token(Claims),
    /// A CI job, proven by the identity token its platform issued (trusted publishing),
    /// sent as the password of Basic auth or as a Bearer token.
    Ci(Identity),
}

impl Caller {
    pub fn login(&self) -> Option<&str> {
        match self {
            Caller::Anonymous => None,
            Caller::Pat { login, .. } => Some(login.as_str()),
            Caller::Token(c) => c.sub.as_deref(),
            Caller::Ci(_) => None,
        }
    }
}

fn bad_credentials() -> RegistryError {
    RegistryError::Unauthorized { scope: None }
}

/// Who is calling. Presented credentials that do not check out are an error (401),
/// never a silent fall back to anonymous.
pub async fn authenticate<P: Platform>(app: &App<P>, req: &Request) -> Result<Caller> {
    match credentials::parse(req.header("authorization")) {
        Credentials::None => Ok(Caller::Anonymous),
        Credentials::Malformed => Err(bad_credentials()),
        Credentials::Basic { password, .. } if oidc::looks_like_identity_token(&password) => {
            ci_caller(app, &password).await
        }
        Credentials::Bearer(token) if oidc::looks_like_identity_token(&token) => ci_caller(app, &token).await,
        Credentials::Basic { user, password } => pat_caller(app, req, Some(&user), &password).await,
        Credentials::Bearer(token) if PresentedToken::parse(&token).is_some() => {
            pat_caller(app, req, None, &token).await
        }
        Credentials::Bearer(token) => {
            let now = app.registry.clock.now_ms() / 1000;
            let previous = app.previous_signing_key.as_deref();
            bearer::verify(&token, &app.signing_key, now)
                .or_else(|| previous.and_then(|key| bearer::verify(&token, key, now)))
                .map(Caller::Token)
                .ok_or_else(bad_credentials)
        }
    }
}

/// A CI job's identity token, verified. Guessing is hopeless (a signature), so failures
/// are not counted against the client; key fetches are rate limited instead.
pub async fn ci_caller<P: Platform>(app: &App<P>, token: &str) -> Result<Caller> {
    Ok(Caller::Ci(app.oidc.verify(token, app.registry.clock.now_ms()).await?))
}

/// What the CI job `id` may do on `repo` under the trust policies in force (the
/// package's and its namespace's), or the furthest check they failed.
pub async fn ci_grants<P: Platform>(
    app: &App<P>,
    id: &Identity,
    repo: &RepoName,
) -> Result<std::result::Result<Vec<Action>, Check>> {
    let policies = app.trust.publishers_for(repo).await?;
    Ok(trust::grant(policies.iter().map(|p| &p.policy), id))
}

/// Why the CI job `id` may not do `action` on `repo`, naming the check.
pub async fn ci_refusal<P: Platform>(app: &App<P>, id: &Identity, repo: &RepoName, action: Action) -> RegistryError {
    match ci_grants(app, id, repo).await {
        Ok(Err(check)) => Refusal::NoMatch(check).into(),
        Ok(Ok(_)) => Refusal::NotGranted(action).into(),
        Err(e) => e,
    }
}

/// Failed authentications are counted per one-minute window.
const FAILURE_WINDOW_MS: u64 = 60_000;
/// A client address with this many failures in a window is refused outright until the
/// window ends.
const MAX_FAILURES_PER_ADDRESS: u32 = 30;
/// A login with this many failures in a window gets 429 instead of 401 for further
/// failures. Valid credentials still work, so an attacker cannot lock its owner out.
const MAX_FAILURES_PER_LOGIN: u32 = 10;

fn too_many(now_ms: u64) -> RegistryError {
    let retry_after_secs = (FAILURE_WINDOW_MS - now_ms % FAILURE_WINDOW_MS).div_ceil(1000);
    RegistryError::TooManyRequests { retry_after_secs }
}

/// Checks a PAT (and, for Basic, that it belongs to the user named), with failed
/// attempts rate limited per client address and per login.
pub async fn pat_caller<P: Platform>(app: &App<P>, req: &Request, user: Option<&str>, secret: &str) -> Result<Caller> {
    let now = app.registry.clock.now_ms();
    let window = now / FAILURE_WINDOW_MS;
    let address = format!("address:{}", req.header("cf-connecting-ip").unwrap_or("unknown"));
    if app.identity.auth_failures(&address, window).await? >= MAX_FAILURES_PER_ADDRESS {
        return Err(too_many(now));
    }
    if let Some(caller) = verify_pat(app, user, secret, now).await? {
        return Ok(caller);
    }
    app.identity.record_auth_failure(&address, window).await?;
    if let Some(user) = user {
        let failures = app.identity.record_auth_failure(&format!("login:{user}"), window).await?;
        if failures > MAX_FAILURES_PER_LOGIN {
            return Err(too_many(now));
        }
    }
    Err(bad_credentials())
}

async fn verify_pat<P: Platform>(app: &App<P>, user: Option<&str>, secret: &str, now: u64) -> Result<Option<Caller>> {
    let Some(presented) = PresentedToken::parse(secret) else { return Ok(None) };
    let Some(record) = app.identity.token(presented.id()).await? else { return Ok(None) };
    let live = !record.revoked && record.expires_ms.is_none_or(|e| e > now);
    let owner_ok = user.is_none_or(|u| u == record.login.as_str());
    Ok((presented.matches(&record.hash) && live && owner_ok).then_some(Caller::Pat {
        login: record.login,
        scopes: record.scopes,
        token_id: record.id,
    }))
}

/// The facts the policy needs about `repo` and the calling user.
pub async fn facts<I: IdentityStore>(identity: &I, repo: &RepoName, login: Option<&Login>) -> Result<Facts> {
    let package = identity.package(repo).await?;
    let Some(login) = login else {
        return Ok(Facts { visibility: package.map(|p| p.visibility), granted: None, relation: Relation::Stranger });
    };
    let namespace = repo.namespace();
    let relation = if namespace == login.as_str() {
        Relation::Own
    } else {
        match identity.org_role(namespace, login).await? {
            Some(role) => Relation::Org(role),
            None => Relation::Stranger,
        }
    };
    let granted = match &package {
        Some(_) => identity.collaborator_role(repo, login).await?,
        None => None,
    };
    Ok(Facts { visibility: package.map(|p| p.visibility), granted, relation })
}

/// Whether `caller` may do `action` on `repo`. A permitted first push creates the
/// package (private, the pusher its admin).
pub async fn allowed<P: Platform>(app: &App<P>, caller: &Caller, repo: &RepoName, action: Action) -> Result<bool> {
    let (ok, creator) = match caller {
        Caller::Ci(id) => return ci_allowed(app, id, repo, action).await,
        Caller::Token(Claims { ci: Some(id), ci_scoped, .. }) => {
            if *ci_scoped && !caller_claims_allow(caller, repo, action) {
                return Ok(false);
            }
            return ci_allowed(app, id, repo, action).await;
        }
        Caller::Token(claims) => {
            (claims.allows(repo.as_str(), action), claims.sub.as_deref().and_then(|s| Login::parse(s).ok()))
        }
        Caller::Anonymous => (policy::decide(None, &facts(&app.identity, repo, None).await?, action), None),
        Caller::Pat { login, scopes, .. } => {
            let f = facts(&app.identity, repo, Some(login)).await?;
            (policy::decide(Some(scopes), &f, action), Some(login.clone()))
        }
    };
    if ok && action == Action::Push {
        if let Some(creator) = creator {
            // Only users create packages, in namespaces that exist.
            if app.identity.account(&creator).await? == Some(AccountKind::User) {
                app.identity.create_package(repo, &creator, app.registry.clock.now_ms()).await?;
            }
        }
    }
    Ok(ok)
}

fn caller_claims_allow(caller: &Caller, repo: &RepoName, action: Action) -> bool {
    matches!(caller, Caller::Token(claims) if claims.allows(repo.as_str(), action))
}

/// Whether the trust policies in force let the CI job `id` do `action` on `repo`. A
/// permitted first push (only a namespace's policy can permit one) creates the package
/// as by its namespace: private, with no user role.
async fn ci_allowed<P: Platform>(app: &App<P>, id: &Identity, repo: &RepoName, action: Action) -> Result<bool> {
    let ok = ci_grants(app, id, repo).await?.is_ok_and(|actions| actions.contains(&action));
    if ok && action == Action::Push && app.identity.package(repo).await?.is_none() {
        let namespace = Login::parse(repo.namespace())?;
        if app.identity.account(&namespace).await?.is_some() {
            app.identity.create_package(repo, &namespace, app.registry.clock.now_ms()).await?;
        }
    }
    Ok(ok)
}

/// Who the caller is, as a version's provenance records it; `None` for an anonymous one.
pub fn provenance(caller: &Caller) -> Option<Provenance> {
    match caller {
        Caller::Anonymous => None,
        Caller::Pat { login, token_id, .. } => {
            Some(Provenance::User { login: login.to_string(), token_id: Some(token_id.clone()) })
        }
        Caller::Ci(id) | Caller::Token(Claims { ci: Some(id), .. }) => Some(Provenance::ci(id)),
        Caller::Token(claims) => {
            claims.sub.clone().map(|login| Provenance::User { login, token_id: claims.pat.clone() })
        }
    }
}

/// The answer to a refused request. Callers without credentials, or with a registry
/// token that lacks the access, are told which scope to ask the token service for (as
/// the token protocol's `insufficient_scope`); callers with a PAT who may not read get
/// what a missing repository gets, so a private package's existence does not leak.
pub fn refusal(caller: &Caller, repo: &RepoName, action: Action) -> RegistryError {
    match (caller, action) {
        (Caller::Ci(_), _) => Refusal::NotGranted(action).into(),
        (Caller::Anonymous | Caller::Token(_), _) => {
            let actions = if action == Action::Push { "pull,push" } else { action.as_str() };
            RegistryError::Unauthorized { scope: Some(format!("repository:{repo}:{actions}")) }
        }
        (Caller::Pat { .. }, Action::Pull) => RegistryError::NameUnknown,
        (Caller::Pat { .. }, _) => RegistryError::Denied,
    }
}
