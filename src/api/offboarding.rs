//! The operator's offboarding: taking a member out of an organization, suspending and
//! reinstating a user, and listing a user's tokens (never their secrets).

use super::Response;
use crate::auth::identity::{AccountKind, IdentityStore, MemberRemoval};
use crate::auth::Login;
use crate::error::{RegistryError, Result};
use crate::time::iso8601;
use serde_json::json;

fn time(ms: u64) -> String {
    iso8601(ms / 1000)
}

/// `DELETE /admin/orgs/{org}/members/{login}`: the member keeps no implied right in the
/// organization. The roles they were granted on its packages stay, and are listed so that
/// an owner can take them back.
pub async fn remove_member<I: IdentityStore, R>(id: &I, org: &str, login: &str) -> Result<Response<R>> {
    let org = Login::parse(org)?;
    let login = Login::parse(login)?;
    if id.account(&org).await? != Some(AccountKind::Org) {
        return Err(RegistryError::NotFound(format!("organization {org}")));
    }
    match id.remove_member(&org, &login).await? {
        MemberRemoval::NotMember => Err(RegistryError::NotFound(format!("member {login}"))),
        MemberRemoval::LastOwner => Err(RegistryError::Conflict(format!("{login} is the last owner of {org}"))),
        MemberRemoval::Removed => {
            let roles = id.package_roles_in(org.as_str(), &login).await?;
            let roles: Vec<_> =
                roles.iter().map(|(repo, role)| json!({"package": repo.as_str(), "role": role.as_str()})).collect();
            Ok(Response::json(200, &json!({"org": org, "login": login, "removed": true, "package_roles": roles})))
        }
    }
}

/// `POST /admin/users/{login}/suspend` and `/unsuspend`: a suspended user's PATs and the
/// registry tokens issued for them stop working (within the hot cache's bound elsewhere).
pub async fn set_suspended<I: IdentityStore, R>(id: &I, login: &str, suspended: bool) -> Result<Response<R>> {
    let login = Login::parse(login)?;
    if !id.set_suspended(&login, suspended).await? {
        return Err(RegistryError::NotFound(format!("user {login}")));
    }
    Ok(Response::json(200, &json!({"login": login, "suspended": suspended})))
}

/// `GET /admin/users/{login}/tokens`: ids, notes, scopes and dates, so a token can be
/// revoked by its id; never a secret or a hash.
pub async fn tokens<I: IdentityStore, R>(id: &I, login: &str) -> Result<Response<R>> {
    let login = Login::parse(login)?;
    if id.account(&login).await? != Some(AccountKind::User) {
        return Err(RegistryError::NotFound(format!("user {login}")));
    }
    let listed: Vec<_> = id
        .tokens_of(&login)
        .await?
        .iter()
        .map(|t| {
            json!({
                "id": t.id,
                "note": t.note,
                "scopes": t.scopes.names(),
                "created_at": time(t.created_ms),
                "last_used_at": t.last_used_ms.map(time),
                "expires_at": t.expires_ms.map(time),
                "revoked": t.revoked,
            })
        })
        .collect();
    Ok(Response::json(200, &json!(listed)))
}
