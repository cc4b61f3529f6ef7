//! The trust store port: trusted publishers per package and per namespace, the single
//! use of exchanged identity tokens and a package's connected source repository. In
//! memory in `memory`, over D1 in the Worker (schema: migrations/0010_trusted_publishing.sql).
//! Who pushed each version (`Provenance`) is recorded with the version's push, by the
//! registry's metadata (`ManifestIndex::pushed_by`).

use super::claims::{Identity, Platform};
use super::issuers;
use super::trust::TrustedPublisher;
use crate::error::Result;
use crate::oci::RepoName;
use serde::{Deserialize, Serialize};

/// Policies per package or namespace: more is a misconfiguration, and the bound keeps
/// every lookup one small query.
pub const MAX_PER_SCOPE: usize = 20;
/// Policies read for one CI repository when it exchanges a token for everything it is
/// trusted with.
pub const MAX_PER_SOURCE: usize = 100;

/// What a policy is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyScope {
    Package(RepoName),
    /// Every package of the namespace, including ones not created yet.
    Namespace(String),
}

impl PolicyScope {
    pub fn namespace(&self) -> &str {
        match self {
            PolicyScope::Package(repo) => repo.namespace(),
            PolicyScope::Namespace(ns) => ns,
        }
    }

    pub fn package(&self) -> Option<&RepoName> {
        match self {
            PolicyScope::Package(repo) => Some(repo),
            PolicyScope::Namespace(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPublisher {
    pub id: String,
    pub scope: PolicyScope,
    pub policy: TrustedPublisher,
    pub created_ms: u64,
    pub created_by: String,
}

/// Who pushed a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Provenance {
    /// A user with a personal access token (its id, never the secret).
    User { login: String, token_id: Option<String> },
    /// A CI job trusted by a policy.
    Ci {
        issuer: String,
        platform: Platform,
        repository: String,
        workflow: Option<String>,
        #[serde(rename = "ref")]
        git_ref: Option<String>,
        sha: Option<String>,
        run_id: Option<String>,
    },
}

impl Provenance {
    pub fn ci(id: &Identity) -> Provenance {
        Provenance::Ci {
            issuer: id.issuer.clone(),
            platform: id.platform,
            repository: id.repository.clone(),
            workflow: id.workflow.clone(),
            git_ref: id.git_ref.clone(),
            sha: id.sha.clone(),
            run_id: id.run_id.clone(),
        }
    }

    /// One line for people: "pushed by GitHub Actions from octo/app, workflow
    /// release.yml at refs/tags/v1.2 (abc1234)".
    pub fn describe(&self) -> String {
        match self {
            Provenance::User { login, .. } => format!("pushed by {login}"),
            Provenance::Ci { issuer, platform, repository, workflow, git_ref, sha, .. } => {
                let who = match (platform, issuer.as_str()) {
                    (Platform::GitHub, issuers::GITHUB) => "GitHub Actions".to_string(),
                    (Platform::GitLab, issuers::GITLAB) => "GitLab CI".to_string(),
                    (_, other) => format!("CI at {other}"),
                };
                let mut line = format!("pushed by {who} from {repository}");
                if let Some(w) = workflow {
                    line.push_str(&format!(", workflow {w}"));
                }
                if let Some(r) = git_ref {
                    line.push_str(&format!(" at {r}"));
                }
                if let Some(sha) = sha {
                    line.push_str(&format!(" ({})", sha.chars().take(7).collect::<String>()));
                }
                line
            }
        }
    }
}

/// The policies that apply to a repository, with whether the user whose namespace it is
/// is suspended, read together: a suspended user's trust in CI jobs is void.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applying {
    pub publishers: Vec<StoredPublisher>,
    /// Known only when some policy applies (nothing needs it otherwise); organizations
    /// are never suspended.
    pub namespace_suspended: bool,
}

/// A policy that names a CI repository, with whether its namespace's user is suspended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trusting {
    pub publisher: StoredPublisher,
    pub namespace_suspended: bool,
}

#[allow(async_fn_in_trait)]
pub trait TrustStore {
    /// Adds a policy; `false` when its scope already has `MAX_PER_SCOPE`.
    async fn add_publisher(&self, p: &StoredPublisher) -> Result<bool>;
    /// The policies on exactly this scope, oldest first.
    async fn publishers(&self, scope: &PolicyScope) -> Result<Vec<StoredPublisher>>;
    /// The policies that apply to `repo` (its own and its namespace's), and whether its
    /// namespace's user is suspended; in one round trip.
    async fn publishers_for(&self, repo: &RepoName) -> Result<Applying>;
    /// The policies naming `repository` (case-insensitively) of `issuer`: what a CI job of
    /// that repository may be trusted by, at most `MAX_PER_SOURCE`; each with whether its
    /// namespace's user is suspended, in one round trip.
    async fn publishers_of_source(&self, issuer: &str, repository: &str) -> Result<Vec<Trusting>>;
    async fn remove_publisher(&self, scope: &PolicyScope, id: &str) -> Result<bool>;
    /// A package was deleted: its policies and connection go (a package later created
    /// under the name does not inherit them).
    async fn forget_package(&self, repo: &RepoName) -> Result<()>;

    /// Records an exchanged token; `false` if `(issuer, jti)` was seen before. Entries
    /// past their expiry are dropped on the way.
    async fn claim_jti(&self, issuer: &str, jti: &str, expires_ms: u64, now_ms: u64) -> Result<bool>;

    /// Connects a package to a source repository. A connection made through the API
    /// (`explicit`) is not changed by later pushes.
    async fn set_source(&self, repo: &RepoName, source: &str, explicit: bool, now_ms: u64) -> Result<()>;
    async fn source(&self, repo: &RepoName) -> Result<Option<String>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_reads_like_a_sentence() {
        let ci = Provenance::Ci {
            issuer: issuers::GITHUB.into(),
            platform: Platform::GitHub,
            repository: "octo/app".into(),
            workflow: Some("release.yml".into()),
            git_ref: Some("refs/tags/v1.2".into()),
            sha: Some("abc1234def567".into()),
            run_id: Some("9".into()),
        };
        assert_eq!(
            ci.describe(),
            "pushed by GitHub Actions from octo/app, workflow release.yml at refs/tags/v1.2 (abc1234)"
        );
        let json = serde_json::to_value(&ci).unwrap();
        assert_eq!((json["kind"].as_str(), json["ref"].as_str()), (Some("ci"), Some("refs/tags/v1.2")));
        let user = Provenance::User { login: "alice".into(), token_id: Some("0123".into()) };
        assert_eq!(user.describe(), "pushed by alice");
        assert_eq!(serde_json::from_value::<Provenance>(serde_json::to_value(&user).unwrap()).unwrap(), user);
    }
}
