//! The trust store in memory, for native tests and the fuzz harness.

use super::store::*;
use crate::auth::memory::MemoryIdentity;
use crate::error::Result;
use crate::oci::RepoName;
use std::cell::RefCell;
use std::collections::HashMap;

/// Answers `GET`s from a fixed table of URLs: issuers for native tests.
#[derive(Default)]
pub struct MemoryFetch(pub RefCell<HashMap<String, Vec<u8>>>);

impl super::keys::Fetch for MemoryFetch {
    async fn get(&self, url: &str) -> std::result::Result<Vec<u8>, String> {
        self.0.borrow().get(url).cloned().ok_or_else(|| format!("{url}: 404"))
    }
}

impl super::Oidc<MemoryFetch> {
    /// Trusted publishing with the default issuers, `extra` ones (loopback `http`
    /// allowed) reached through a `MemoryFetch`, and `audience`.
    pub fn in_memory(extra: &str, audience: &str) -> Self {
        super::Oidc {
            verifier: super::Verifier {
                issuers: super::Issuers::new(extra, true).0,
                audience: audience.to_string(),
                max_life_secs: super::verifier::DEFAULT_MAX_LIFE_SECS,
            },
            fetch: MemoryFetch::default(),
            keys: Default::default(),
        }
    }
}

#[derive(Default)]
pub struct MemoryTrust {
    /// The accounts beside it, as one D1 database holds both: whose namespace is suspended.
    accounts: MemoryIdentity,
    publishers: RefCell<Vec<StoredPublisher>>,
    jtis: RefCell<HashMap<(String, String), u64>>,
    sources: RefCell<HashMap<RepoName, (String, bool)>>,
}

impl MemoryTrust {
    /// A trust store beside `identity`, reading its accounts.
    pub fn sharing(identity: &MemoryIdentity) -> Self {
        MemoryTrust { accounts: identity.clone(), ..Default::default() }
    }
}

impl TrustStore for MemoryTrust {
    async fn add_publisher(&self, p: &StoredPublisher) -> Result<bool> {
        let mut all = self.publishers.borrow_mut();
        if all.iter().filter(|q| q.scope == p.scope).count() >= MAX_PER_SCOPE {
            return Ok(false);
        }
        all.push(p.clone());
        Ok(true)
    }

    async fn publishers(&self, scope: &PolicyScope) -> Result<Vec<StoredPublisher>> {
        Ok(self.publishers.borrow().iter().filter(|p| &p.scope == scope).cloned().collect())
    }

    async fn publishers_for(&self, repo: &RepoName) -> Result<Applying> {
        let applies = |s: &PolicyScope| match s {
            PolicyScope::Package(r) => r == repo,
            PolicyScope::Namespace(ns) => ns == repo.namespace(),
        };
        let publishers: Vec<_> = self.publishers.borrow().iter().filter(|p| applies(&p.scope)).cloned().collect();
        let namespace_suspended = !publishers.is_empty() && self.accounts.is_suspended(repo.namespace());
        Ok(Applying { publishers, namespace_suspended })
    }

    async fn publishers_of_source(&self, issuer: &str, repository: &str) -> Result<Vec<Trusting>> {
        let all = self.publishers.borrow();
        let named =
            all.iter().filter(|p| p.policy.issuer == issuer && p.policy.repository.eq_ignore_ascii_case(repository));
        let trusting = |p: &StoredPublisher| Trusting {
            publisher: p.clone(),
            namespace_suspended: self.accounts.is_suspended(p.scope.namespace()),
        };
        Ok(named.take(MAX_PER_SOURCE).map(trusting).collect())
    }

    async fn remove_publisher(&self, scope: &PolicyScope, id: &str) -> Result<bool> {
        let mut all = self.publishers.borrow_mut();
        let before = all.len();
        all.retain(|p| !(&p.scope == scope && p.id == id));
        Ok(all.len() < before)
    }

    async fn forget_package(&self, repo: &RepoName) -> Result<()> {
        self.publishers.borrow_mut().retain(|p| p.scope.package() != Some(repo));
        self.sources.borrow_mut().remove(repo);
        Ok(())
    }

    async fn claim_jti(&self, issuer: &str, jti: &str, expires_ms: u64, now_ms: u64) -> Result<bool> {
        let mut jtis = self.jtis.borrow_mut();
        jtis.retain(|_, exp| *exp > now_ms);
        Ok(jtis.insert((issuer.to_string(), jti.to_string()), expires_ms).is_none())
    }

    async fn set_source(&self, repo: &RepoName, source: &str, explicit: bool, _now_ms: u64) -> Result<()> {
        let mut sources = self.sources.borrow_mut();
        if explicit || !sources.get(repo).is_some_and(|(_, was_explicit)| *was_explicit) {
            sources.insert(repo.clone(), (source.to_string(), explicit));
        }
        Ok(())
    }

    async fn source(&self, repo: &RepoName) -> Result<Option<String>> {
        Ok(self.sources.borrow().get(repo).map(|(s, _)| s.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_store_keeps_the_contract() {
        let failures = futures_executor::block_on(super::super::contract::run(&MemoryTrust::default(), "m"));
        assert!(failures.is_empty(), "{failures:#?}");
    }
}
