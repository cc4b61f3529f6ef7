//! Authentication (who calls), the facts about a repository the access decision rests
//! on, and the decision itself: `authenticate` and `gather` read, once per request in
//! `serve`; `decide` is a pure function over what they found and never writes.

use super::package_views::Viewer;
use super::{App, Request};
use crate::auth::bearer::{self, Claims};
use crate::auth::credentials::{self, Credentials};
use crate::auth::identity::{AccountKind, IdentityStore, Package};
use crate::auth::login;
use crate::auth::oidc::trust::{self, Check};
use crate::auth::oidc::{self, Identity, Provenance, Refusal, TrustStore};
use crate::auth::pat::PresentedToken;
use crate::auth::policy::{self, Decision, Facts, Relation};
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
        /// The PAT's id: registry tokens issued for it name it.
        token_id: String,
    },
    /// A registry token from `/token`, for a user whose PAT is still valid (with that
    /// PAT's current scopes) or for nobody. What it grants is an upper bound: each use is
    /// decided again on the current facts.
    Token {
        claims: Claims,
        user: Option<(Login, Scopes)>,
    },
    /// A CI job, proven by the identity token its platform issued (trusted publishing),
    /// sent as the password of Basic auth or as a Bearer token. What it may do rests on
    /// the trust policies in force.
    Ci(Identity),
    /// The operator, with the `ADMIN_TOKEN` (only on `/admin`).
    Operator,
}

impl Caller {
    pub fn login(&self) -> Option<&str> {
        self.user().map(Login::as_str)
    }

    /// Who the request log and webhooks say acted: a user's login or a CI job's principal.
    pub fn principal(&self) -> Option<String> {
        match self.ci() {
            Some(id) => Some(id.principal()),
            None => self.login().map(str::to_string),
        }
    }

    /// The user behind the call, if any.
    pub fn user(&self) -> Option<&Login> {
        match self {
            Caller::Anonymous | Caller::Operator | Caller::Ci(_) => None,
            Caller::Pat { login, .. } => Some(login),
            Caller::Token { user, .. } => user.as_ref().map(|(l, _)| l),
        }
    }

    /// The scopes of the user's PAT as they are now.
    fn scopes(&self) -> Option<&Scopes> {
        match self {
            Caller::Anonymous | Caller::Operator | Caller::Ci(_) => None,
            Caller::Pat { scopes, .. } => Some(scopes),
            Caller::Token { user, .. } => user.as_ref().map(|(_, s)| s),
        }
    }

    /// The CI job behind the call: with its identity token, or a registry token issued
    /// for one.
    pub fn ci(&self) -> Option<&Identity> {
        match self {
            Caller::Ci(id) => Some(id),
            Caller::Token { claims, .. } => claims.ci.as_ref(),
            _ => None,
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
/// Failed attempts are limited per client address (`auth::login`).
pub async fn operator<P: Platform>(app: &App<P>, req: &Request, now_ms: u64) -> Result<Caller> {
    let address = req.header("cf-connecting-ip");
    let matches = || is_operator(app.admin_token.as_deref(), req);
    if login::operator_sign_in(&app.identity, address, now_ms, matches).await? {
        Ok(Caller::Operator)
    } else {
        Err(RegistryError::Unauthorized { scope: None })
    }
}

/// Whether the request carries the operator's token (compared in constant time).
pub fn is_operator(admin_token: Option<&str>, req: &Request) -> bool {
    let presented = req.header("authorization").and_then(|h| h.strip_prefix("Bearer ")).unwrap_or("");
    admin_token.is_some_and(|t| !t.is_empty() && bool::from(t.as_bytes().ct_eq(presented.as_bytes())))
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
        Credentials::Bearer(token) => token_caller(app, req, &token, now_ms).await,
    }
}

/// A registry token signed by this registry for this service, whose PAT (for a user's
/// token) may still be used: not revoked, not expired, its user not suspended.
async fn token_caller<P: Platform>(app: &App<P>, req: &Request, token: &str, now_ms: u64) -> Result<Caller> {
    let previous = app.previous_signing_key.as_deref();
    let claims = bearer::verify(token, &app.signing_key, now_ms / 1000)
        .or_else(|| previous.and_then(|key| bearer::verify(token, key, now_ms / 1000)))
        .filter(|c| c.aud == req.host())
        .ok_or_else(bad_credentials)?;
    let user = match (&claims.sub, &claims.pat) {
        (None, None) => None,
        (Some(sub), Some(pat)) => {
            let record = login::live_token(&app.identity, pat, now_ms).await?.ok_or_else(bad_credentials)?;
            if record.login.as_str() != sub {
                return Err(bad_credentials());
            }
            Some((record.login, record.scopes))
        }
        _ => return Err(bad_credentials()),
    };
    Ok(Caller::Token { claims, user })
}

/// A CI job's identity token, verified. Guessing one is hopeless (a signature), so
/// failures are not counted against the client address; key fetches are rate limited
/// instead (`oidc::keys`).
pub async fn ci_caller<P: Platform>(app: &App<P>, token: &str, now_ms: u64) -> Result<Caller> {
    Ok(Caller::Ci(app.oidc.verify(token, now_ms).await?))
}

/// What the trust policies in force on `repo` (its own and its namespace's) grant the
/// CI job `id`, or why they grant nothing: the furthest check they failed, or the
/// namespace's user being suspended.
pub type CiGrant = std::result::Result<Vec<Action>, Refusal>;

async fn ci_grant<T: TrustStore>(trust: &T, id: &Identity, repo: &RepoName) -> Result<CiGrant> {
    let applying = trust.publishers_for(repo).await?;
    Ok(ci_standing(trust::grant(applying.publishers.iter().map(|p| &p.policy), id), applying.namespace_suspended))
}

/// A suspended user's policies trust nobody. Only a job they would trust is told why.
fn ci_standing(grant: std::result::Result<Vec<Action>, Check>, namespace_suspended: bool) -> CiGrant {
    match grant {
        Ok(_) if namespace_suspended => Err(Refusal::Suspended),
        Ok(actions) => Ok(actions),
        Err(check) => Err(Refusal::NoMatch(check)),
    }
}

/// Checks a PAT (and, for Basic, that it belongs to the user named), with failed
/// attempts limited as `auth::login` describes.
pub async fn pat_caller<P: Platform>(
    app: &App<P>,
    req: &Request,
    user: Option<&str>,
    secret: &str,
    now_ms: u64,
) -> Result<Caller> {
    match login::sign_in(&app.identity, req.header("cf-connecting-ip"), user, secret, now_ms).await? {
        Some(s) => Ok(Caller::Pat { login: s.login, scopes: s.scopes, token_id: s.token_id }),
        None => Err(bad_credentials()),
    }
}

/// What the access decision about one repository rests on, read once per request.
#[derive(Debug, Clone)]
pub struct RepoFacts {
    pub repo: RepoName,
    /// The package's row, `None` before its first push.
    pub package: Option<Package>,
    /// The caller's standing on it.
    pub facts: Facts,
    /// For a CI job: what the trust policies in force grant it here.
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

/// The facts about `repo` that decide what `caller` may do: the standing of the user
/// behind a PAT or a registry token, or the trust policies that apply to a CI job, as
/// they are now.
pub async fn gather_for<P: Platform>(app: &App<P>, repo: &RepoName, caller: &Caller) -> Result<RepoFacts> {
    let mut facts = gather(&app.identity, repo, caller.user()).await?;
    if let Some(id) = caller.ci() {
        facts.ci = Some(ci_grant(&app.trust, id, repo).await?);
    }
    Ok(facts)
}

/// How `caller`'s request to do `action` on the repository `facts` are about is to be
/// answered. Pure: the facts were gathered beforehand and nothing is written. A registry
/// token's grant is an upper bound on what the current facts allow.
pub fn decide(caller: &Caller, facts: &RepoFacts, action: Action) -> Decision {
    let package = facts.package.as_ref().map(|p| p.id.as_str());
    match caller {
        Caller::Ci(_) => ci_decision(facts, action),
        // A CI job's registry token: within what was granted when it was issued (these
        // packages, or a namespace's), and what the policies in force grant now.
        Caller::Token { claims: claims @ Claims { ci: Some(_), .. }, .. } => {
            let by_namespace =
                claims.namespaces.iter().any(|n| n.namespace == facts.repo.namespace() && n.actions.contains(&action));
            if by_namespace || policy::covers(claims.grant(facts.repo.as_str(), action), package, action) {
                ci_decision(facts, action)
            } else {
                Decision::Refused
            }
        }
        Caller::Token { claims, .. } => {
            let grant = claims.grant(facts.repo.as_str(), action);
            policy::token_decision(grant, caller.scopes(), &facts.facts, package, action)
        }
        Caller::Operator => Decision::Refused,
        _ => policy::decision(caller.scopes(), &facts.facts, action),
    }
}

/// A CI job may do what the trust policies in force grant it, and otherwise what anyone
/// may (pull a public package).
fn ci_decision(facts: &RepoFacts, action: Action) -> Decision {
    if facts.ci.as_ref().is_some_and(|g| g.as_ref().is_ok_and(|actions| actions.contains(&action))) {
        Decision::Allowed
    } else {
        policy::decision(None, &facts.facts, action)
    }
}

/// A push that stores something under a name with no package creates the package, before
/// its first byte is stored: private, the pusher its admin. Only users create packages, in
/// namespaces that exist, and CI jobs a namespace's trust policy lets push there: theirs
/// are created as by the namespace itself, with no user's role on them.
pub async fn create_package_for_push<P: Platform>(
    app: &App<P>,
    caller: &Caller,
    facts: &RepoFacts,
    now_ms: u64,
) -> Result<()> {
    if facts.package.is_some() {
        return Ok(());
    }
    if caller.ci().is_some() {
        let namespace = Login::parse(facts.repo.namespace())?;
        if app.identity.account(&namespace).await?.is_some() {
            app.identity.create_package(&facts.repo, &namespace, now_ms).await?;
        }
    } else if let Some(creator) = caller.user() {
        if app.identity.account(creator).await? == Some(AccountKind::User) {
            app.identity.create_package(&facts.repo, creator, now_ms).await?;
        }
    }
    Ok(())
}

/// Who the caller is, as a version's provenance records it; `None` for nobody.
pub fn provenance(caller: &Caller) -> Option<Provenance> {
    if let Some(id) = caller.ci() {
        return Some(Provenance::ci(id));
    }
    let token_id = match caller {
        Caller::Pat { token_id, .. } => Some(token_id.clone()),
        Caller::Token { claims, .. } => claims.pat.clone(),
        _ => None,
    };
    caller.user().map(|login| Provenance::User { login: login.to_string(), token_id })
}

/// The answer to a refused request. Callers without credentials, or with a registry
/// token that lacks the access, are told which scope to ask the token service for (as
/// the token protocol's `insufficient_scope`); callers with a PAT who may not read get
/// what a missing repository gets, so a private package's existence does not leak. A CI
/// job with its identity token is told which check failed, as far as its own repository
/// goes (the same whether or not the package exists).
pub fn refusal(caller: &Caller, facts: &RepoFacts, action: Action) -> RegistryError {
    let repo = &facts.repo;
    match (caller, action) {
        (Caller::Ci(_), _) => match &facts.ci {
            Some(Err(refusal)) => refusal.clone().into(),
            _ => Refusal::NotGranted(action).into(),
        },
        // A job's registry token whose trust is void: asking for another would not help.
        (Caller::Token { claims: Claims { ci: Some(_), .. }, .. }, _) if facts.ci == Some(Err(Refusal::Suspended)) => {
            Refusal::Suspended.into()
        }
        (Caller::Anonymous | Caller::Token { .. }, _) => {
            let actions = if action == Action::Push { "pull,push" } else { action.as_str() };
            RegistryError::Unauthorized { scope: Some(format!("repository:{repo}:{actions}")) }
        }
        (Caller::Pat { .. }, Action::Pull) => RegistryError::NameUnknown,
        (Caller::Pat { .. } | Caller::Operator, _) => RegistryError::Denied,
    }
}
