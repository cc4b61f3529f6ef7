//! The identity store with a short memory for what every request asks: a package's
//! visibility, a token's record and whether its user is suspended. Entries live `TTL_MS`
//! in the isolate, so a change made elsewhere (a token revoked, a package made private, a
//! user suspended) takes effect within that bound; a change made through this store takes
//! effect at once here. Roles and memberships are not remembered: they apply at once.
//! At the edge, a token's "last used" date is written after the response
//! (`deferring_touches`).

use super::identity::{
    AccountKind, IdentityStore, MemberRemoval, Package, Standing, TokenInfo, TokenRecord, TokenStanding,
};
use super::model::{Login, OrgRole, Role, Visibility};
use crate::error::Result;
use crate::oci::RepoName;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::rc::Rc;

/// How long a remembered answer is trusted.
pub const TTL_MS: u64 = 10_000;
/// Entries per map; a full map is emptied (cheaper than tracking age, and rare).
const MAX_ENTRIES: usize = 4096;

/// Answers remembered across the requests an isolate serves.
#[derive(Default)]
pub struct HotCache {
    packages: RefCell<TtlMap<RepoName, Option<Package>>>,
    tokens: RefCell<TtlMap<String, Option<TokenRecord>>>,
    suspended: RefCell<TtlMap<Login, bool>>,
    /// When this isolate last recorded each token's use.
    touched: RefCell<TtlMap<String, ()>>,
    /// Uses of tokens to record after the response (`take_touches`): a "last used" date
    /// is no reason to keep a client waiting for a write.
    pending_touches: RefCell<Vec<(String, u64)>>,
}

impl HotCache {
    /// The token uses recorded since the last call, for the edge to write once the
    /// response is sent.
    pub fn take_touches(&self) -> Vec<(String, u64)> {
        std::mem::take(&mut self.pending_touches.borrow_mut())
    }
}

/// A token's "last used" is written at most this often per isolate.
const TOUCH_EVERY_MS: u64 = 60 * 60 * 1000;

struct TtlMap<K, V>(HashMap<K, (u64, V)>);

impl<K, V> Default for TtlMap<K, V> {
    fn default() -> Self {
        TtlMap(HashMap::new())
    }
}

impl<K: Hash + Eq, V: Clone> TtlMap<K, V> {
    fn get(&self, key: &K, now_ms: u64) -> Option<V> {
        self.get_within(key, now_ms, TTL_MS)
    }

    fn get_within(&self, key: &K, now_ms: u64, ttl_ms: u64) -> Option<V> {
        self.0.get(key).filter(|(at, _)| now_ms.saturating_sub(*at) < ttl_ms).map(|(_, v)| v.clone())
    }

    fn put(&mut self, key: K, value: V, now_ms: u64) {
        if self.0.len() >= MAX_ENTRIES {
            self.0.clear();
        }
        self.0.insert(key, (now_ms, value));
    }

    fn forget(&mut self, key: &K) {
        self.0.remove(key);
    }
}

/// `inner` with the hot cache in front; `now_ms` is the time of the request it serves.
pub struct CachedIdentity<I> {
    pub inner: I,
    hot: Rc<HotCache>,
    now_ms: u64,
    /// Whether token uses wait in `HotCache::take_touches` for whoever serves the request
    /// to write them after its response, rather than being written at once.
    defer_touches: bool,
}

impl<I> CachedIdentity<I> {
    pub fn new(inner: I, hot: Rc<HotCache>, now_ms: u64) -> Self {
        CachedIdentity { inner, hot, now_ms, defer_touches: false }
    }

    /// Token uses are left for `HotCache::take_touches` instead of written at once.
    pub fn deferring_touches(self) -> Self {
        CachedIdentity { defer_touches: true, ..self }
    }

    fn forget_package(&self, repo: &RepoName) {
        self.hot.packages.borrow_mut().forget(repo);
    }
}

impl<I: IdentityStore> IdentityStore for CachedIdentity<I> {
    async fn account(&self, login: &Login) -> Result<Option<AccountKind>> {
        self.inner.account(login).await
    }

    async fn create_user(&self, login: &Login, now_ms: u64) -> Result<bool> {
        self.inner.create_user(login, now_ms).await
    }

    async fn create_org(&self, org: &Login, owner: &Login, now_ms: u64) -> Result<bool> {
        self.inner.create_org(org, owner, now_ms).await
    }

    async fn set_member(&self, org: &Login, login: &Login, role: OrgRole) -> Result<()> {
        self.inner.set_member(org, login, role).await
    }

    async fn org_role(&self, org: &str, login: &Login) -> Result<Option<OrgRole>> {
        self.inner.org_role(org, login).await
    }

    async fn remove_member(&self, org: &Login, login: &Login) -> Result<MemberRemoval> {
        self.inner.remove_member(org, login).await
    }

    async fn package_roles_in(&self, namespace: &str, login: &Login) -> Result<Vec<(RepoName, Role)>> {
        self.inner.package_roles_in(namespace, login).await
    }

    async fn set_suspended(&self, login: &Login, suspended: bool) -> Result<bool> {
        self.hot.suspended.borrow_mut().forget(login);
        self.inner.set_suspended(login, suspended).await
    }

    async fn suspended(&self, login: &Login) -> Result<bool> {
        if let Some(hit) = self.hot.suspended.borrow().get(login, self.now_ms) {
            return Ok(hit);
        }
        let suspended = self.inner.suspended(login).await?;
        self.hot.suspended.borrow_mut().put(login.clone(), suspended, self.now_ms);
        Ok(suspended)
    }

    async fn tokens_of(&self, login: &Login) -> Result<Vec<TokenInfo>> {
        self.inner.tokens_of(login).await
    }

    async fn touch_token(&self, id: &str, now_ms: u64) -> Result<()> {
        let key = id.to_string();
        if self.hot.touched.borrow().get_within(&key, now_ms, TOUCH_EVERY_MS).is_some() {
            return Ok(());
        }
        self.hot.touched.borrow_mut().put(key.clone(), (), now_ms);
        if !self.defer_touches {
            return self.inner.touch_token(id, now_ms).await;
        }
        let mut pending = self.hot.pending_touches.borrow_mut();
        if pending.len() < MAX_ENTRIES {
            pending.push((key, now_ms));
        }
        Ok(())
    }

    async fn create_token(&self, token: &TokenRecord, now_ms: u64) -> Result<()> {
        self.inner.create_token(token, now_ms).await
    }

    async fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        if let Some(hit) = self.hot.tokens.borrow().get(&id.to_string(), self.now_ms) {
            return Ok(hit);
        }
        let record = self.inner.token(id).await?;
        self.hot.tokens.borrow_mut().put(id.to_string(), record.clone(), self.now_ms);
        Ok(record)
    }

    async fn token_standing(&self, id: &str, failures: Option<(&str, u64)>) -> Result<TokenStanding> {
        let record = self.hot.tokens.borrow().get(&id.to_string(), self.now_ms);
        let suspended = match &record {
            Some(Some(r)) => self.hot.suspended.borrow().get(&r.login, self.now_ms),
            Some(None) => Some(false),
            None => None,
        };
        if let (Some(record), Some(suspended)) = (record, suspended) {
            // Failures are never remembered: each attempt counts at once.
            let failures = match failures {
                Some((key, window)) => self.inner.auth_failures(key, window).await?,
                None => 0,
            };
            return Ok(TokenStanding { record, suspended, failures });
        }
        let standing = self.inner.token_standing(id, failures).await?;
        self.hot.tokens.borrow_mut().put(id.to_string(), standing.record.clone(), self.now_ms);
        if let Some(r) = &standing.record {
            self.hot.suspended.borrow_mut().put(r.login.clone(), standing.suspended, self.now_ms);
        }
        Ok(standing)
    }

    async fn revoke_token(&self, id: &str, now_ms: u64) -> Result<bool> {
        self.hot.tokens.borrow_mut().forget(&id.to_string());
        self.inner.revoke_token(id, now_ms).await
    }

    async fn package(&self, repo: &RepoName) -> Result<Option<Package>> {
        if let Some(hit) = self.hot.packages.borrow().get(repo, self.now_ms) {
            return Ok(hit);
        }
        let package = self.inner.package(repo).await?;
        self.hot.packages.borrow_mut().put(repo.clone(), package.clone(), self.now_ms);
        Ok(package)
    }

    async fn create_package(&self, repo: &RepoName, creator: &Login, now_ms: u64) -> Result<()> {
        self.forget_package(repo);
        self.inner.create_package(repo, creator, now_ms).await
    }

    async fn set_visibility(&self, repo: &RepoName, visibility: Visibility) -> Result<()> {
        self.forget_package(repo);
        self.inner.set_visibility(repo, visibility).await
    }

    async fn set_collect_untagged(&self, repo: &RepoName, collect: bool) -> Result<()> {
        self.forget_package(repo);
        self.inner.set_collect_untagged(repo, collect).await
    }

    async fn bump_content_epoch(&self, repo: &RepoName) -> Result<()> {
        self.forget_package(repo);
        self.inner.bump_content_epoch(repo).await
    }

    async fn packages_collecting_untagged(&self, after: &str, limit: u32) -> Result<Vec<RepoName>> {
        self.inner.packages_collecting_untagged(after, limit).await
    }

    async fn collaborator_role(&self, repo: &RepoName, login: &Login) -> Result<Option<Role>> {
        self.inner.collaborator_role(repo, login).await
    }

    async fn set_collaborator(&self, repo: &RepoName, login: &Login, role: Role) -> Result<()> {
        self.inner.set_collaborator(repo, login, role).await
    }

    async fn remove_collaborator(&self, repo: &RepoName, login: &Login) -> Result<bool> {
        self.inner.remove_collaborator(repo, login).await
    }

    async fn collaborators(&self, repo: &RepoName) -> Result<Vec<(Login, Role)>> {
        self.inner.collaborators(repo).await
    }

    async fn packages_in(&self, namespace: &str, limit: u32) -> Result<Vec<Package>> {
        self.inner.packages_in(namespace, limit).await
    }

    async fn standings_in(&self, namespace: &str, login: Option<&Login>, limit: u32) -> Result<Vec<Standing>> {
        self.inner.standings_in(namespace, login, limit).await
    }

    async fn readable_standings(&self, login: Option<&Login>, after: &str, limit: u32) -> Result<Vec<Standing>> {
        self.inner.readable_standings(login, after, limit).await
    }

    async fn public_packages(&self, search: &str, before: Option<&(u64, String)>, limit: u32) -> Result<Vec<Package>> {
        self.inner.public_packages(search, before, limit).await
    }

    fn package_moved(&self, repo: &RepoName) {
        self.forget_package(repo);
        self.inner.package_moved(repo);
    }

    async fn auth_failures(&self, key: &str, window: u64) -> Result<u32> {
        self.inner.auth_failures(key, window).await
    }

    async fn record_auth_failure(&self, key: &str, window: u64) -> Result<u32> {
        self.inner.record_auth_failure(key, window).await
    }

    async fn prune_auth_failures(&self, window: u64) -> Result<()> {
        self.inner.prune_auth_failures(window).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::memory::MemoryIdentity;
    use futures_executor::block_on;

    #[test]
    fn a_change_made_elsewhere_shows_within_the_bound_and_one_made_here_at_once() {
        let repo = RepoName::parse("alice/app").unwrap();
        let mut cached = CachedIdentity::new(MemoryIdentity::default(), Rc::new(HotCache::default()), 0);
        block_on(cached.inner.create_package(&repo, &Login::parse("alice").unwrap(), 0)).unwrap();
        block_on(cached.inner.set_visibility(&repo, Visibility::Public)).unwrap();
        let visibility = |c: &CachedIdentity<MemoryIdentity>| block_on(c.package(&repo)).unwrap().map(|p| p.visibility);

        assert_eq!(visibility(&cached), Some(Visibility::Public));
        // Another isolate makes it private: this one may answer from memory until the bound.
        block_on(cached.inner.set_visibility(&repo, Visibility::Private)).unwrap();
        cached.now_ms = TTL_MS - 1;
        assert_eq!(visibility(&cached), Some(Visibility::Public));
        cached.now_ms = TTL_MS;
        assert_eq!(visibility(&cached), Some(Visibility::Private), "never staler than TTL_MS");
        // Through this store: at once.
        block_on(cached.set_visibility(&repo, Visibility::Public)).unwrap();
        assert_eq!(visibility(&cached), Some(Visibility::Public));
    }

    #[test]
    fn a_revoked_token_stops_within_the_bound() {
        let record = TokenRecord {
            id: "t1".into(),
            login: Login::parse("alice").unwrap(),
            hash: vec![1],
            scopes: crate::auth::Scopes::parse_list(["read:packages"]).unwrap(),
            note: None,
            expires_ms: None,
            revoked: false,
        };
        let mut cached = CachedIdentity::new(MemoryIdentity::default(), Rc::new(HotCache::default()), 0);
        block_on(cached.inner.create_token(&record, 0)).unwrap();
        let revoked = |c: &CachedIdentity<MemoryIdentity>| block_on(c.token("t1")).unwrap().unwrap().revoked;
        assert!(!revoked(&cached));
        block_on(cached.inner.revoke_token("t1", 1)).unwrap();
        cached.now_ms = TTL_MS - 1;
        assert!(!revoked(&cached));
        cached.now_ms = TTL_MS;
        assert!(revoked(&cached));
    }
}
