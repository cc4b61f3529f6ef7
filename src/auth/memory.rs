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
    /// Per token: created, last used.
    token_times: HashMap<String, (u64, Option<u64>)>,
    suspended: std::collections::HashSet<Login>,
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

    /// Whether `login` is a suspended user.
    pub(crate) fn is_suspended(&self, login: &str) -> bool {
        self.state.borrow().suspended.iter().any(|l| l.as_str() == login)
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

impl MemoryIdentity {
    fn standing(&self, package: Package, login: Option<&Login>) -> Standing {
        let s = self.state.borrow();
        let (granted, org_role) = match login {
            None => (None, None),
            Some(l) => {
                let org = Login::parse(package.repo.namespace()).ok();
                (
                    s.collaborators.get(&(package.repo.clone(), l.clone())).copied(),
                    org.and_then(|o| s.members.get(&(o, l.clone())).copied()),
                )
            }
        };
        Standing { package, granted, org_role }
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

    async fn remove_member(&self, org: &Login, login: &Login) -> Result<MemberRemoval> {
        let mut s = self.state.borrow_mut();
        let key = (org.clone(), login.clone());
        let owners = s.members.iter().filter(|((o, _), r)| o == org && **r == OrgRole::Owner).count();
        Ok(match s.members.get(&key) {
            None => MemberRemoval::NotMember,
            Some(OrgRole::Owner) if owners <= 1 => MemberRemoval::LastOwner,
            Some(_) => {
                s.members.remove(&key);
                MemberRemoval::Removed
            }
        })
    }

    async fn package_roles_in(&self, namespace: &str, login: &Login) -> Result<Vec<(RepoName, Role)>> {
        let s = self.state.borrow();
        let found = s.collaborators.iter().filter(|((r, l), _)| l == login && r.namespace() == namespace);
        Ok(found.map(|((r, _), role)| (r.clone(), *role)).take(MAX_LISTED as usize).collect())
    }

    async fn set_suspended(&self, login: &Login, suspended: bool) -> Result<bool> {
        let mut s = self.state.borrow_mut();
        if s.accounts.get(login) != Some(&AccountKind::User) {
            return Ok(false);
        }
        if suspended {
            s.suspended.insert(login.clone());
        } else {
            s.suspended.remove(login);
        }
        Ok(true)
    }

    async fn suspended(&self, login: &Login) -> Result<bool> {
        Ok(self.state.borrow().suspended.contains(login))
    }

    async fn create_token(&self, token: &TokenRecord, now_ms: u64) -> Result<()> {
        let mut s = self.state.borrow_mut();
        s.tokens.insert(token.id.clone(), token.clone());
        s.token_times.insert(token.id.clone(), (now_ms, None));
        Ok(())
    }

    async fn tokens_of(&self, login: &Login) -> Result<Vec<TokenInfo>> {
        let s = self.state.borrow();
        let mut found: Vec<TokenInfo> = s
            .tokens
            .values()
            .filter(|t| &t.login == login)
            .map(|t| {
                let (created_ms, last_used_ms) = s.token_times.get(&t.id).copied().unwrap_or_default();
                TokenInfo {
                    id: t.id.clone(),
                    scopes: t.scopes,
                    note: t.note.clone(),
                    created_ms,
                    last_used_ms,
                    expires_ms: t.expires_ms,
                    revoked: t.revoked,
                }
            })
            .collect();
        found.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        found.truncate(MAX_LISTED as usize);
        Ok(found)
    }

    async fn touch_token(&self, id: &str, now_ms: u64) -> Result<()> {
        if let Some(times) = self.state.borrow_mut().token_times.get_mut(id) {
            times.1 = Some(now_ms);
        }
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
                id: new_package_id()?,
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

    async fn standings_in(&self, namespace: &str, login: Option<&Login>, limit: u32) -> Result<Vec<Standing>> {
        let packages = self.packages_in(namespace, limit).await?;
        Ok(packages.into_iter().map(|p| self.standing(p, login)).collect())
    }

    async fn readable_standings(&self, login: Option<&Login>, after: &str, limit: u32) -> Result<Vec<Standing>> {
        let mut all: Vec<Package> =
            self.state.borrow().packages.values().filter(|p| p.repo.as_str() > after).cloned().collect();
        all.sort_by(|a, b| a.repo.as_str().cmp(b.repo.as_str()));
        let candidate = |s: &Standing| {
            let own = login.is_some_and(|l| s.package.repo.namespace() == l.as_str());
            s.package.visibility == Visibility::Public
                || own
                || s.granted.is_some()
                || s.org_role == Some(OrgRole::Owner)
        };
        Ok(all.into_iter().map(|p| self.standing(p, login)).filter(candidate).take(limit as usize).collect())
    }

    async fn public_packages(&self, search: &str, before: Option<&(u64, String)>, limit: u32) -> Result<Vec<Package>> {
        let mut found: Vec<Package> = self
            .state
            .borrow()
            .packages
            .values()
            .filter(|p| p.visibility == Visibility::Public && p.repo.as_str().contains(search))
            .filter(|p| before.is_none_or(|(ms, name)| (p.created_ms, p.repo.as_str()) < (*ms, name.as_str())))
            .cloned()
            .collect();
        found.sort_by(|a, b| (b.created_ms, b.repo.as_str()).cmp(&(a.created_ms, a.repo.as_str())));
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
