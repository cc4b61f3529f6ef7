//! The identity port: accounts, organization membership, tokens, packages and their
//! collaborators. In-memory in `memory`, over D1 in the Worker.

use super::model::{Login, OrgRole, Role, Scopes, Visibility};
use crate::error::Result;
use crate::oci::RepoName;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    User,
    Org,
}

/// What checking a presented token rests on, read together: its record, whether its
/// user is suspended, and the failed attempts counted against a key in a window.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenStanding {
    pub record: Option<TokenRecord>,
    pub suspended: bool,
    pub failures: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub login: Login,
    /// SHA-256 of the whole token; the token itself is never stored.
    pub hash: Vec<u8>,
    pub scopes: Scopes,
    pub note: Option<String>,
    pub expires_ms: Option<u64>,
    pub revoked: bool,
}

/// A package and a user's standing on it: the facts a listing decides by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub package: Package,
    /// The role the user holds on the package as a collaborator.
    pub granted: Option<Role>,
    /// The user's role in the organization the package belongs to.
    pub org_role: Option<OrgRole>,
}

/// A token as the operator lists it: never its secret nor its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: String,
    pub scopes: Scopes,
    pub note: Option<String>,
    pub created_ms: u64,
    pub last_used_ms: Option<u64>,
    pub expires_ms: Option<u64>,
    pub revoked: bool,
}

/// What taking a member out of an organization did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberRemoval {
    Removed,
    NotMember,
    /// An organization keeps at least one owner.
    LastOwner,
}

/// How many rows an operator's listing shows at most.
pub const MAX_LISTED: u32 = 1000;

/// A fresh package id: unique per creation, so nothing keyed by it (edge-cache entries,
/// token grants, version deletions) carries over to another package of the same name.
pub fn new_package_id() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(crate::error::RegistryError::internal)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// Unique per creation (a restored package gets a new one).
    pub id: String,
    pub repo: RepoName,
    pub visibility: Visibility,
    pub created_ms: u64,
    pub created_by: Login,
    /// Untagged manifests that nothing else keeps are collected.
    pub collect_untagged: bool,
    /// Bumped by every deletion in the package; shared-cache keys include it.
    pub content_epoch: u64,
}

/// A package's settings and roles as a deletion keeps them, to bring back with its
/// content. Stored as JSON with the deletion (in the shape deletions always had).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageSnapshot {
    pub visibility: Visibility,
    pub created_ms: u64,
    pub created_by: Login,
    #[serde(default)]
    pub collect_untagged: bool,
    #[serde(default)]
    pub content_epoch: u64,
    pub collaborators: Vec<(Login, Role)>,
}

impl PackageSnapshot {
    pub fn of(package: &Package, collaborators: Vec<(Login, Role)>) -> Self {
        PackageSnapshot {
            visibility: package.visibility,
            created_ms: package.created_ms,
            created_by: package.created_by.clone(),
            collect_untagged: package.collect_untagged,
            content_epoch: package.content_epoch,
            collaborators,
        }
    }

    /// The package it was, under `repo`, with its `id`.
    pub fn package(&self, repo: &RepoName, id: String) -> Package {
        Package {
            id,
            repo: repo.clone(),
            visibility: self.visibility,
            created_ms: self.created_ms,
            created_by: self.created_by.clone(),
            collect_untagged: self.collect_untagged,
            content_epoch: self.content_epoch,
        }
    }
}

#[allow(async_fn_in_trait)]
pub trait IdentityStore {
    async fn account(&self, login: &Login) -> Result<Option<AccountKind>>;
    /// Creates a user; `false` when the login is taken.
    async fn create_user(&self, login: &Login, now_ms: u64) -> Result<bool>;
    /// Creates an organization with its first owner; `false` when the login is taken.
    async fn create_org(&self, org: &Login, owner: &Login, now_ms: u64) -> Result<bool>;
    async fn set_member(&self, org: &Login, login: &Login, role: OrgRole) -> Result<()>;
    async fn org_role(&self, org: &str, login: &Login) -> Result<Option<OrgRole>>;
    async fn remove_member(&self, org: &Login, login: &Login) -> Result<MemberRemoval>;
    /// The roles `login` holds on packages of `namespace`, by name, at most `MAX_LISTED`.
    async fn package_roles_in(&self, namespace: &str, login: &Login) -> Result<Vec<(RepoName, Role)>>;
    /// Suspends or reinstates a user; `false` when there is no such user.
    async fn set_suspended(&self, login: &Login, suspended: bool) -> Result<bool>;
    async fn suspended(&self, login: &Login) -> Result<bool>;

    async fn create_token(&self, token: &TokenRecord, now_ms: u64) -> Result<()>;
    async fn token(&self, id: &str) -> Result<Option<TokenRecord>>;
    /// Revokes a live token; `false` when there is none (unknown, or revoked already).
    async fn revoke_token(&self, id: &str, now_ms: u64) -> Result<bool>;
    /// A user's tokens, oldest first, at most `MAX_LISTED`.
    async fn tokens_of(&self, login: &Login) -> Result<Vec<TokenInfo>>;
    /// Records that the token was used at `now_ms`.
    async fn touch_token(&self, id: &str, now_ms: u64) -> Result<()>;
    /// The token `id`, whether its user is suspended and the failures counted against
    /// `failures` (a key and its window; none when `None`). A store that can reads them
    /// in one round trip: signing in is on every client's critical path.
    async fn token_standing(&self, id: &str, failures: Option<(&str, u64)>) -> Result<TokenStanding> {
        let failures = match failures {
            Some((key, window)) => self.auth_failures(key, window).await?,
            None => 0,
        };
        let record = self.token(id).await?;
        let suspended = match &record {
            Some(r) => self.suspended(&r.login).await?,
            None => false,
        };
        Ok(TokenStanding { record, suspended, failures })
    }

    async fn package(&self, repo: &RepoName) -> Result<Option<Package>>;
    /// Creates a private package with `creator` as admin and a fresh id, unless it exists.
    async fn create_package(&self, repo: &RepoName, creator: &Login, now_ms: u64) -> Result<()>;
    async fn set_visibility(&self, repo: &RepoName, visibility: Visibility) -> Result<()>;
    async fn set_collect_untagged(&self, repo: &RepoName, collect: bool) -> Result<()>;
    /// Something was deleted from the package: cached copies of its content must go.
    async fn bump_content_epoch(&self, repo: &RepoName) -> Result<()>;
    /// Packages that asked for untagged manifests to be collected, by name, after `after`.
    async fn packages_collecting_untagged(&self, after: &str, limit: u32) -> Result<Vec<RepoName>>;
    async fn collaborator_role(&self, repo: &RepoName, login: &Login) -> Result<Option<Role>>;
    async fn set_collaborator(&self, repo: &RepoName, login: &Login, role: Role) -> Result<()>;
    async fn remove_collaborator(&self, repo: &RepoName, login: &Login) -> Result<bool>;
    async fn collaborators(&self, repo: &RepoName) -> Result<Vec<(Login, Role)>>;
    /// The packages of a namespace in name order, at most `limit`.
    async fn packages_in(&self, namespace: &str, limit: u32) -> Result<Vec<Package>>;
    /// The packages of a namespace in name order, at most `limit`, each with `login`'s
    /// standing on it; in one round trip.
    async fn standings_in(&self, namespace: &str, login: Option<&Login>, limit: u32) -> Result<Vec<Standing>>;
    /// Packages named after `after`, in name order, at most `limit`, that `login` might
    /// read: public ones, and for a user those of their namespace, of organizations they
    /// own and those they hold a role on; each with their standing; in one round trip.
    async fn readable_standings(&self, login: Option<&Login>, after: &str, limit: u32) -> Result<Vec<Standing>>;
    /// Public packages whose name contains `search`, newest first, created before
    /// `before` (a time and, among packages created then, a name to continue below),
    /// at most `limit`.
    async fn public_packages(&self, search: &str, before: Option<&(u64, String)>, limit: u32) -> Result<Vec<Package>>;
    /// The package's rows were moved outside this store, with its content, by a deletion
    /// or a restore (`registry::ports::TrashIndex`): whatever is remembered of it is stale.
    fn package_moved(&self, _repo: &RepoName) {}

    /// Failed authentications counted under `key` (a client address or a login) in the
    /// time window numbered `window`.
    async fn auth_failures(&self, key: &str, window: u64) -> Result<u32>;
    /// Counts one more failure; returns the window's count including it.
    async fn record_auth_failure(&self, key: &str, window: u64) -> Result<u32>;
    /// Drops the counts of windows before `window`.
    async fn prune_auth_failures(&self, window: u64) -> Result<()>;
}
