//! The identity port in memory, for native tests.

use super::identity::*;
use super::model::{Login, OrgRole, Role, Visibility};
use crate::error::Result;
use crate::oci::RepoName;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

#[derive(Default)]
struct State {
    accounts: HashMap<Login, AccountKind>,
    members: HashMap<(Login, Login), OrgRole>,
    tokens: HashMap<String, TokenRecord>,
    packages: HashMap<RepoName, Package>,
    collaborators: BTreeMap<(RepoName, Login), Role>,
    failures: HashMap<(String, u64), u32>,
}

/// The identity store in maps. Clones share their state, as two handles on one
/// database do: the in-memory metadata store moves a package's rows with its content.
#[derive(Default, Clone)]
pub struct MemoryIdentity {
    state: Rc<RefCell<State>>,
}

impl MemoryIdentity {
    /// Takes the package's row and roles away (its content was trashed).
    pub(crate) fn take_package(&self, repo: &RepoName) {
        let mut s = self.state.borrow_mut();
        s.packages.remove(repo);
        s.collaborators.retain(|(r, _), _| r != repo);
    }

    pub(crate) fn has_package(&self, repo: &RepoName) -> bool {
        self.state.borrow().packages.contains_key(repo)
    }

    /// When the package of that name was created, if there is one.
    pub(crate) fn package_created_ms(&self, repo: &RepoName) -> Option<u64> {
        self.state.borrow().packages.get(repo).map(|p| p.created_ms)
    }

    /// Puts a package's row and roles back (its content was restored).
    pub(crate) fn put_package(&self, package: Package, collaborators: &[(Login, Role)]) {
        let mut s = self.state.borrow_mut();
        for (login, role) in collaborators {
            s.collaborators.insert((package.repo.clone(), login.clone()), *role);
        }
        s.packages.insert(package.repo.clone(), package);
    }
}

impl IdentityStore for MemoryIdentity {
    async fn account(&self, login: &Login) -> Result<Option<AccountKind>> {
        Ok(self.state.borrow().accounts.get(login).copied())
    }

    async fn create_user(&self, login: &Login, _now_ms: u64) -> Result<bool> {
        let mut s = self.state.borrow_mut();
        if s.accounts.contains_key(login) {
            return Ok(false);
        }
        s.accounts.insert(login.clone(), AccountKind::User);
        Ok(true)
    }

    async fn create_org(&self, org: &Login, owner: &Login, _now_ms: u64) -> Result<bool> {
        let mut s = self.state.borrow_mut();
        if s.accounts.contains_key(org) {
            return Ok(false);
        }
        s.accounts.insert(org.clone(), AccountKind::Org);
        s.members.insert((org.clone(), owner.clone()), OrgRole::Owner);
        Ok(true)
    }

    async fn set_member(&self, org: &Login, login: &Login, role: OrgRole) -> Result<()> {
        self.state.borrow_mut().members.insert((org.clone(), login.clone()), role);
        Ok(())
    }

    async fn org_role(&self, org: &str, login: &Login) -> Result<Option<OrgRole>> {
        let Ok(org) = Login::parse(org) else { return Ok(None) };
        Ok(self.state.borrow().members.get(&(org, login.clone())).copied())
    }

    async fn create_token(&self, token: &TokenRecord, _now_ms: u64) -> Result<()> {
        self.state.borrow_mut().tokens.insert(token.id.clone(), token.clone());
        Ok(())
    }

    async fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        Ok(self.state.borrow().tokens.get(id).cloned())
    }

    async fn revoke_token(&self, id: &str, _now_ms: u64) -> Result<bool> {
        // A token is revoked once: the second time there is nothing to revoke.
        let mut s = self.state.borrow_mut();
        let live = s.tokens.get_mut(id).filter(|t| !t.revoked);
        Ok(live.map(|t| t.revoked = true).is_some())
    }

    async fn package(&self, repo: &RepoName) -> Result<Option<Package>> {
        Ok(self.state.borrow().packages.get(repo).cloned())
    }

    async fn create_package(&self, repo: &RepoName, creator: &Login, now_ms: u64) -> Result<()> {
        let mut s = self.state.borrow_mut();
        if !s.packages.contains_key(repo) {
            let p = Package {
                repo: repo.clone(),
                visibility: Visibility::Private,
                created_ms: now_ms,
                created_by: creator.clone(),
                collect_untagged: false,
                content_epoch: 0,
            };
            s.packages.insert(repo.clone(), p);
            s.collaborators.insert((repo.clone(), creator.clone()), Role::Admin);
        }
        Ok(())
    }

    async fn set_visibility(&self, repo: &RepoName, visibility: Visibility) -> Result<()> {
        if let Some(p) = self.state.borrow_mut().packages.get_mut(repo) {
            p.visibility = visibility;
        }
        Ok(())
    }

    async fn set_collect_untagged(&self, repo: &RepoName, collect: bool) -> Result<()> {
        if let Some(p) = self.state.borrow_mut().packages.get_mut(repo) {
            p.collect_untagged = collect;
        }
        Ok(())
    }

    async fn bump_content_epoch(&self, repo: &RepoName) -> Result<()> {
        if let Some(p) = self.state.borrow_mut().packages.get_mut(repo) {
            p.content_epoch += 1;
        }
        Ok(())
    }

    async fn packages_collecting_untagged(&self, after: &str, limit: u32) -> Result<Vec<RepoName>> {
        let s = self.state.borrow();
        let mut found: Vec<RepoName> = s
            .packages
            .values()
            .filter(|p| p.collect_untagged && p.repo.as_str() > after)
            .map(|p| p.repo.clone())
            .collect();
        found.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        found.truncate(limit as usize);
        Ok(found)
    }

    async fn collaborator_role(&self, repo: &RepoName, login: &Login) -> Result<Option<Role>> {
        Ok(self.state.borrow().collaborators.get(&(repo.clone(), login.clone())).copied())
    }

    async fn set_collaborator(&self, repo: &RepoName, login: &Login, role: Role) -> Result<()> {
        self.state.borrow_mut().collaborators.insert((repo.clone(), login.clone()), role);
        Ok(())
    }

    async fn remove_collaborator(&self, repo: &RepoName, login: &Login) -> Result<bool> {
        Ok(self.state.borrow_mut().collaborators.remove(&(repo.clone(), login.clone())).is_some())
    }

    async fn collaborators(&self, repo: &RepoName) -> Result<Vec<(Login, Role)>> {
        let s = self.state.borrow();
        Ok(s.collaborators.iter().filter(|((r, _), _)| r == repo).map(|((_, l), role)| (l.clone(), *role)).collect())
    }

    async fn packages_in(&self, namespace: &str, limit: u32) -> Result<Vec<Package>> {
        let s = self.state.borrow();
        let mut found: Vec<Package> =
            s.packages.values().filter(|p| p.repo.namespace() == namespace).cloned().collect();
        found.sort_by(|a, b| a.repo.as_str().cmp(b.repo.as_str()));
        found.truncate(limit as usize);
        Ok(found)
    }

    async fn auth_failures(&self, key: &str, window: u64) -> Result<u32> {
        Ok(self.state.borrow().failures.get(&(key.to_string(), window)).copied().unwrap_or(0))
    }

    async fn record_auth_failure(&self, key: &str, window: u64) -> Result<u32> {
        let mut s = self.state.borrow_mut();
        let n = s.failures.entry((key.to_string(), window)).or_insert(0);
        *n += 1;
        Ok(*n)
    }

    async fn prune_auth_failures(&self, window: u64) -> Result<()> {
        self.state.borrow_mut().failures.retain(|(_, w), _| *w >= window);
        Ok(())
    }
}
