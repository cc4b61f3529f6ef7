//! The operator's API (`/admin/...`, `Authorization: Bearer $ADMIN_TOKEN`, checked by
//! `serve` before any of it runs): users, organizations, memberships and personal access
//! tokens; offboarding in `offboarding`.

use super::context::Context;
use super::route::Route;
use super::{json_body, App, Method, Request, Response};
use crate::auth::identity::{AccountKind, IdentityStore, TokenRecord};
use crate::auth::{pat, Login, OrgRole, Scopes};
use crate::error::{RegistryError, Result};
use crate::registry::ports::ChunkSource;
use crate::registry::{Platform, Reader};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    login: String,
    owner: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Membership {
    role: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    scopes: Vec<String>,
    note: Option<String>,
    expires_in_days: Option<u32>,
}

const MAX_NOTE_CHARS: usize = 200;

pub async fn handle<P: Platform>(
    app: &App<P>,
    ctx: &Context,
    req: &Request,
    body: &mut impl ChunkSource,
) -> Result<Response<Reader<P>>> {
    let now = ctx.now_ms;
    let id = &app.identity;
    match (req.method, ctx.route.clone()) {
        (Method::Post, Route::AdminUsers) => {
            let new: NewAccount = json_body::read(body).await?;
            let login = Login::parse(&new.login)?;
            if !id.create_user(&login, now).await? {
                return Err(RegistryError::Conflict(format!("login {login} is taken")));
            }
            Ok(Response::json(201, &json!({"login": login, "type": "user"})))
        }
        (Method::Post, Route::AdminOrgs) => {
            let new: NewAccount = json_body::read(body).await?;
            let org = Login::parse(&new.login)?;
            let owner = Login::parse(
                new.owner.as_deref().ok_or_else(|| RegistryError::BadRequest("owner is required".into()))?,
            )?;
            require_user(id, &owner).await?;
            if !id.create_org(&org, &owner, now).await? {
                return Err(RegistryError::Conflict(format!("login {org} is taken")));
            }
            Ok(Response::json(201, &json!({"login": org, "type": "organization", "owner": owner})))
        }
        (Method::Put, Route::AdminMember { org, login }) => {
            let m: Membership = json_body::read(body).await?;
            let role = OrgRole::parse(&m.role)?;
            let org = Login::parse(&org)?;
            if id.account(&org).await? != Some(AccountKind::Org) {
                return Err(RegistryError::NotFound(format!("organization {org}")));
            }
            let login = Login::parse(&login)?;
            require_user(id, &login).await?;
            id.set_member(&org, &login, role).await?;
            Ok(Response::json(200, &json!({"org": org, "login": login, "role": role.as_str()})))
        }
        (Method::Post, Route::AdminTokens { login }) => {
            let t: NewToken = json_body::read(body).await?;
            let login = Login::parse(&login)?;
            require_user(id, &login).await?;
            let scopes = Scopes::parse_list(t.scopes.iter().map(String::as_str))?;
            if scopes == Scopes::default() {
                return Err(RegistryError::BadRequest("at least one scope is required".into()));
            }
            let note = t.note.map(|n| n.chars().take(MAX_NOTE_CHARS).collect::<String>());
            let expires_ms = t.expires_in_days.map(|d| now + u64::from(d) * 86_400_000);
            let new = pat::generate()?;
            let record =
                TokenRecord { id: new.id.clone(), login, hash: new.hash, scopes, note, expires_ms, revoked: false };
            id.create_token(&record, now).await?;
            Ok(Response::json(
                201,
                &json!({"id": new.id, "token": new.secret, "scopes": scopes.names(), "note": record.note,
                        "expires_at": expires_ms.map(|ms| crate::time::iso8601(ms / 1000))}),
            ))
        }
        (Method::Delete, Route::AdminMember { org, login }) => {
            super::offboarding::remove_member(id, &org, &login).await
        }
        (Method::Get, Route::AdminTokens { login }) => super::offboarding::tokens(id, &login).await,
        (Method::Post, Route::AdminSuspension { login, suspend }) => {
            super::offboarding::set_suspended(id, &login, suspend).await
        }
        (Method::Delete, Route::AdminToken { id: token_id }) => {
            if id.revoke_token(&token_id, now).await? {
                Ok(Response::new(204))
            } else {
                Err(RegistryError::NotFound("token".into()))
            }
        }
        // Admin routes answer other methods as paths they do not know.
        (_, route) => {
            let path: String = route.path()["/admin/".len()..].chars().take(80).collect();
            Err(RegistryError::NotFound(format!("admin route {path}")))
        }
    }
}

async fn require_user<I: IdentityStore>(id: &I, login: &Login) -> Result<()> {
    match id.account(login).await? {
        Some(AccountKind::User) => Ok(()),
        _ => Err(RegistryError::NotFound(format!("user {login}"))),
    }
}
