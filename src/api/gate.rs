//! Authentication (who calls), the facts about a repository the access decision rests
//! on, and the decision itself: `authenticate` and `gather` read, once per request in
//! `serve`; `decide` is a pure function over what they found and never writes.

use super::package_views::Viewer;
use super::{App, Request};
use crate::auth::bearer::{self, Claims};
use crate::auth::credentials::{self, Credentials};
use crate::auth::identity::{AccountKind, IdentityStore, Package};
use crate::auth::oidc::trust::{self, Check};
use crate::auth::oidc::{self, Identity, Provenance, Refusal, TrustStore};
use crate::auth::pat::PresentedToken;
use crate::auth::policy::{self, Facts, Relation};
use crate::auth::{Action, Login, Scopes};
use crate::error::{RegistryError, Result};
use crate::oci::RepoName;
use subtle::ConstantTimeEq;

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
    /// The operator, with the `ADMIN_TOKEN` (only on `/admin`).
    Operator,
}

impl Caller {
    pub fn login(&self) -> Option<&str> {
        match self {
            Caller::Anonymous | Caller::Operator | Caller::Ci(_) => None,
            Caller::Pat { login, .. } => Some(login.as_str()),
            Caller::Token(c) => c.sub.as_deref(),
        }
    }

    /// Who looks at package pages and listings: a user with a PAT, or nobody in
    /// particular (a registry token is for clients, not for browsing).
    pub fn viewer(&self) -> Viewer {
        match self {
            Caller::Pat { login, scopes, .. } => Viewer { user: Some((login.clone(), *scopes)) },
            _ => Viewer::default(),
        }
    }
}

/// The operator's token, compared in constant time; `None` turns the admin API off.
pub fn operator(admin_token: Option<&str>, req: &Request) -> Result<Caller> {
    let presented = req.header("authorization").and_then(|h| h.strip_prefix("Bearer ")).unwrap_or("");
    match admin_token {
        Some(t) if !t.is_empty() && bool::from(t.as_bytes().ct_eq(presented.as_bytes())) => Ok(Caller::Operator),
        _ => Err(RegistryError::Unauthorized { scope: None }),
    }
}

fn bad_credentials() -> RegistryError {
    RegistryError::Unauthorized { scope: None }
}

/// Who is calling. Presented credentials that do not check out are an error (401),
/// never a silent fall back to anonymous.
pub async fn authenticate<P: Platform>(app: &App<P>, req: &Request, now_ms: u64) -> Result<Caller> {
    match credentials::parse(req.header("authorization")) {
        Credentials::None => Ok(Caller::Anonymous),
        Credentials::Malformed => Err(bad_credentials()),
        Credentials::Basic { password, .. } if oidc::looks_like_identity_token(&password) => {
            ci_caller(app, &password, now_ms).await
        }
        Credentials::Bearer(token) if oidc::looks_like_identity_token(&token) => ci_caller(app, &token, now_ms).await,
        Credentials::Basic { user, password } => pat_caller(app, req, Some(&user), &password, now_ms).await,
        Credentials::Bearer(token) if PresentedToken::parse(&token).is_some() => {
            pat_caller(app, req, None, &token, now_ms).await
        }
        Credentials::Bearer(token) => {
            let now = now_ms / 1000;
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
pub async fn ci_caller<P: Platform>(app: &App<P>, token: &str, now_ms: u64) -> Result<Caller> {
    Ok(Caller::Ci(app.oidc.verify(token, now_ms).await?))
}

/// What the CI job `id` may do on `repo` under the trust policies in force (the
/// package's and its namespace's), or the furthest check they failed.
pub async fn ci_grants<T: TrustStore>(trust: &T, id: &Identity, repo: &RepoName) -> Result<CiGrant> {
    let policies = trust.publishers_for(repo).await?;
    Ok(trust::grant(policies.iter().map(|p| &p.policy), id))
}

/// What the trust policies grant a CI job on one repository, or the furthest check
/// they failed.
pub type CiGrant = std::result::Result<Vec<Action>, Check>;

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
pub async fn pat_caller<P: Platform>(
    app: &App<P>,
    req: &Request,
    user: Option<&str>,
    secret: &str,
    now: u64,
) -> Result<Caller> {
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

/// What the access decision about one repository rests on, read once per request.
#[derive(Debug, Clone)]
pub struct RepoFacts {
    pub repo: RepoName,
    /// The package's row, `None` before its first push.
    pub package: Option<Package>,
    /// The caller's standing on it.
    pub facts: Facts,
    /// For a CI job: what the trust policies grant it here.
    pub ci: Option<CiGrant>,
}

/// Reads what the policy needs about `repo` and the calling user (`None`: nobody in
/// particular). Reads only: nothing here creates or changes anything.
pub async fn gather<I: IdentityStore>(identity: &I, repo: &RepoName, login: Option<&Login>) -> Result<RepoFacts> {
    let package = identity.package(repo).await?;
    let visibility = package.as_ref().map(|p| p.visibility);
    let Some(login) = login else {
        let facts = Facts { visibility, granted: None, relation: Relation::Stranger };
        return Ok(RepoFacts { repo: repo.clone(), package, facts, ci: None });
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
    // A namespace's owners administer its packages whatever role they were granted, so
    // only others' grants are read (one D1 query less for a push to one's own namespace).
    let owner = Facts { visibility, granted: None, relation }.role() == Some(crate::auth::Role::Admin);
    let granted = match &package {
        Some(_) if !owner => identity.collaborator_role(repo, login).await?,
        _ => None,
    };
    Ok(RepoFacts { repo: repo.clone(), package, facts: Facts { visibility, granted, relation }, ci: None })
}

/// The facts about `repo` that decide what `caller` may do. A registry token's grant
/// was decided when it was issued, so for it only the package row is read; a CI job's
/// (its identity token, or a registry token issued to it) rests on the trust policies
/// in force, read here.
pub async fn gather_for<P: Platform>(app: &App<P>, repo: &RepoName, caller: &Caller) -> Result<RepoFacts> {
    let mut facts = match caller {
        Caller::Pat { login, .. } => gather(&app.identity, repo, Some(login)).await?,
        _ => gather(&app.identity, repo, None).await?,
    };
    if let Caller::Ci(id) | Caller::Token(Claims { ci: Some(id), .. }) = caller {
        facts.ci = Some(ci_grants(&app.trust, id, repo).await?);
    }
    Ok(facts)
}

/// Whether `caller` may do `action` on the repository `facts` are about. Pure: the
/// facts were gathered beforehand and nothing is written.
pub fn decide(caller: &Caller, facts: &RepoFacts, action: Action) -> bool {
    let trusted = || facts.ci.as_ref().is_some_and(|g| g.as_ref().is_ok_and(|actions| actions.contains(&action)));
    match caller {
        Caller::Ci(_) => trusted(),
        Caller::Token(claims @ Claims { ci: Some(_), .. }) => {
            (!claims.ci_scoped || claims.allows(facts.repo.as_str(), action)) && trusted()
        }
        Caller::Token(claims) => claims.allows(facts.repo.as_str(), action),
        Caller::Anonymous => policy::decide(None, &facts.facts, action),
        Caller::Pat { scopes, .. } => policy::decide(Some(scopes), &facts.facts, action),
        Caller::Operator => false,
    }
}

/// A permitted push creates its package, before its first byte is stored: private, the
/// pusher its admin. Only users create packages, in namespaces that exist.
pub async fn create_package_for_push<P: Platform>(
    app: &App<P>,
    caller: &Caller,
    facts: &RepoFacts,
    now_ms: u64,
) -> Result<()> {
    if facts.package.is_some() {
        return Ok(());
    }
    let creator = match caller {
        // A CI job's push (only a namespace's trust policy permits one on a package not
        // yet there) creates it as by its namespace: private, with no user role.
        Caller::Ci(_) | Caller::Token(Claims { ci: Some(_), .. }) => {
            let namespace = Login::parse(facts.repo.namespace())?;
            if app.identity.account(&namespace).await?.is_some() {
                app.identity.create_package(&facts.repo, &namespace, now_ms).await?;
            }
            return Ok(());
        }
        Caller::Token(claims) => claims.sub.as_deref().and_then(|s| Login::parse(s).ok()),
        Caller::Pat { login, .. } => Some(login.clone()),
        Caller::Anonymous | Caller::Operator => None,
    };
    if let Some(creator) = creator {
        if app.identity.account(&creator).await? == Some(AccountKind::User) {
            app.identity.create_package(&facts.repo, &creator, now_ms).await?;
        }
    }
    Ok(())
}

/// Who the caller is, as a version's provenance records it; `None` for an anonymous one.
pub fn provenance(caller: &Caller) -> Option<Provenance> {
    match caller {
        Caller::Anonymous | Caller::Operator => None,
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
pub fn refusal(caller: &Caller, facts: &RepoFacts, action: Action) -> RegistryError {
    let repo = &facts.repo;
    match (caller, action) {
        // A CI job is told which check failed, as far as its own repository goes.
        (Caller::Ci(_), _) => match &facts.ci {
            Some(Err(check)) => Refusal::NoMatch(*check).into(),
            _ => Refusal::NotGranted(action).into(),
        },
        (Caller::Anonymous | Caller::Token(_), _) => {
            let actions = if action == Action::Push { "pull,push" } else { action.as_str() };
            RegistryError::Unauthorized { scope: Some(format!("repository:{repo}:{actions}")) }
        }
        (Caller::Pat { .. }, Action::Pull) => RegistryError::NameUnknown,
        (Caller::Pat { .. } | Caller::Operator, _) => RegistryError::Denied,
    }
}
