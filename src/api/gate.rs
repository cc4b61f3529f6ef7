//! Authentication (who calls) and authorization (may they) for registry routes.

use super::{App, Request};
use crate::auth::bearer::{self, Claims};
use crate::auth::credentials::{self, Credentials};
use crate::auth::identity::{AccountKind, IdentityStore, Package};
use crate::auth::login;
use crate::auth::pat::PresentedToken;
use crate::auth::policy::{self, Decision, Facts, Relation};
use crate::auth::{Action, Login, Scopes};
use crate::error::{RegistryError, Result};
use crate::oci::RepoName;
use crate::registry::ports::{Clock, ObjectStore};
use crate::registry::MetadataStore;

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
    Token { claims: Claims, user: Option<(Login, Scopes)> },
}

impl Caller {
    pub fn login(&self) -> Option<&str> {
        self.user().map(Login::as_str)
    }

    fn user(&self) -> Option<&Login> {
        match self {
            Caller::Anonymous => None,
            Caller::Pat { login, .. } => Some(login),
            Caller::Token { user, .. } => user.as_ref().map(|(l, _)| l),
        }
    }

    fn scopes(&self) -> Option<&Scopes> {
        match self {
            Caller::Anonymous => None,
            Caller::Pat { scopes, .. } => Some(scopes),
            Caller::Token { user, .. } => user.as_ref().map(|(_, s)| s),
        }
    }
}

fn bad_credentials() -> RegistryError {
    RegistryError::Unauthorized { scope: None }
}

/// Who is calling. Presented credentials that do not check out are an error (401),
/// never a silent fall back to anonymous.
pub async fn authenticate<M, O, C, I>(app: &App<M, O, C, I>, req: &Request) -> Result<Caller>
where
    M: MetadataStore,
    O: ObjectStore,
    C: Clock,
    I: IdentityStore,
{
    match credentials::parse(req.header("authorization")) {
        Credentials::None => Ok(Caller::Anonymous),
        Credentials::Malformed => Err(bad_credentials()),
        Credentials::Basic { user, password } => pat_caller(app, req, Some(&user), &password).await,
        Credentials::Bearer(token) if PresentedToken::parse(&token).is_some() => {
            pat_caller(app, req, None, &token).await
        }
        Credentials::Bearer(token) => token_caller(app, req, &token).await,
    }
}

/// A registry token signed by this registry for this service, whose PAT (for a user's
/// token) may still be used: not revoked, not expired, its user not suspended.
async fn token_caller<M, O, C, I>(app: &App<M, O, C, I>, req: &Request, token: &str) -> Result<Caller>
where
    C: Clock,
    I: IdentityStore,
{
    let now_ms = app.registry.clock.now_ms();
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

/// Checks a PAT (and, for Basic, that it belongs to the user named), with failed
/// attempts limited as `auth::login` describes.
pub async fn pat_caller<M, O, C, I>(
    app: &App<M, O, C, I>,
    req: &Request,
    user: Option<&str>,
    secret: &str,
) -> Result<Caller>
where
    C: Clock,
    I: IdentityStore,
{
    let now = app.registry.clock.now_ms();
    match login::sign_in(&app.identity, req.header("cf-connecting-ip"), user, secret, now).await? {
        Some(signed_in) => Ok(Caller::Pat { login: signed_in.login, scopes: signed_in.scopes, token_id: signed_in.token_id }),
        None => Err(bad_credentials()),
    }
}

/// The facts the policy needs about `repo` and the calling user.
pub async fn facts<I: IdentityStore>(identity: &I, repo: &RepoName, login: Option<&Login>) -> Result<Facts> {
    Ok(facts_and_package(identity, repo, login).await?.0)
}

/// The facts, and the package they are about (if there is one).
pub async fn facts_and_package<I: IdentityStore>(
    identity: &I,
    repo: &RepoName,
    login: Option<&Login>,
) -> Result<(Facts, Option<Package>)> {
    let package = identity.package(repo).await?;
    let visibility = package.as_ref().map(|p| p.visibility);
    let Some(login) = login else {
        return Ok((Facts { visibility, granted: None, relation: Relation::Stranger }, package));
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
    Ok((Facts { visibility, granted, relation }, package))
}

/// How `caller`'s request to do `action` on `repo` is to be answered, decided on the
/// current facts. Deciding writes nothing.
pub async fn access<M, O, C, I>(app: &App<M, O, C, I>, caller: &Caller, repo: &RepoName, action: Action) -> Result<Decision>
where
    I: IdentityStore,
{
    let (facts, package) = facts_and_package(&app.identity, repo, caller.user()).await?;
    Ok(match caller {
        Caller::Token { claims, .. } => {
            let grant = claims.grant(repo.as_str(), action);
            policy::token_decision(grant, caller.scopes(), &facts, package.as_ref().map(|p| p.id.as_str()), action)
        }
        _ => policy::decision(caller.scopes(), &facts, action),
    })
}

/// Whether `caller` may do `action` on `repo` (and may know it exists).
pub async fn allowed<M, O, C, I>(app: &App<M, O, C, I>, caller: &Caller, repo: &RepoName, action: Action) -> Result<bool>
where
    I: IdentityStore,
{
    Ok(access(app, caller, repo, action).await? == Decision::Allowed)
}

/// A push that stores something under a name with no package creates the package
/// (private, the pusher its admin): only users create packages, in namespaces that exist.
pub async fn create_for_push<M, O, C, I>(app: &App<M, O, C, I>, caller: &Caller, repo: &RepoName) -> Result<()>
where
    C: Clock,
    I: IdentityStore,
{
    let Some(creator) = caller.user() else { return Ok(()) };
    if app.identity.package(repo).await?.is_none() && app.identity.account(creator).await? == Some(AccountKind::User) {
        app.identity.create_package(repo, creator, app.registry.clock.now_ms()).await?;
    }
    Ok(())
}

/// The answer to a refused request. Callers without credentials, or with a registry
/// token that lacks the access, are told which scope to ask the token service for (as
/// the token protocol's `insufficient_scope`); callers with a PAT who may not read get
/// what a missing repository gets, so a private package's existence does not leak.
pub fn refusal(caller: &Caller, repo: &RepoName, action: Action) -> RegistryError {
    match (caller, action) {
        (Caller::Anonymous | Caller::Token { .. }, _) => {
            let actions = if action == Action::Push { "pull,push" } else { action.as_str() };
            RegistryError::Unauthorized { scope: Some(format!("repository:{repo}:{actions}")) }
        }
        (Caller::Pat { .. }, Action::Pull) => RegistryError::NameUnknown,
        (Caller::Pat { .. }, _) => RegistryError::Denied,
    }
}
