//! Lifecycle rules and their port: retention policies (a package's own, or its
//! namespace's default), immutable tags, and retention applied to a package: previewed, or
//! carried out into the restorable trash one group at a time.

use super::ports::Deletion;
use super::random_id;
use crate::error::Result;
use crate::lifecycle::immutable;
use crate::lifecycle::pattern::TagPatterns;
use crate::lifecycle::retention::{self, Group, Node, Plan, RetentionPolicy};
use crate::oci::{Digest, RepoName, Tag};
use serde::Serialize;

/// The most versions of one package a retention evaluation reads (the newest ones).
pub const MAX_GRAPH_VERSIONS: u32 = 10_000;
/// Who retention deletions are recorded as made by.
pub const RETENTION_ACTOR: &str = "retention";

/// Where rules are set: a namespace (defaults for its packages) or one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Namespace(String),
    Package(RepoName),
}

impl Scope {
    /// The key rules are stored under; logins have no `/` and package names do.
    pub fn key(&self) -> &str {
        match self {
            Scope::Namespace(ns) => ns,
            Scope::Package(repo) => repo.as_str(),
        }
    }
}

/// Lifecycle metadata: rules per scope, the image graph retention judges, group deletion.
#[allow(async_fn_in_trait)]
pub trait LifecycleIndex {
    async fn retention(&self, scope: &Scope) -> Result<Option<RetentionPolicy>>;
    /// Sets (or with `None` removes) the scope's retention policy.
    async fn set_retention(&self, scope: &Scope, policy: Option<&RetentionPolicy>, now_ms: u64) -> Result<()>;
    async fn immutable_tags(&self, repo: &RepoName) -> Result<TagPatterns>;
    async fn set_immutable_tags(&self, repo: &RepoName, patterns: &TagPatterns, now_ms: u64) -> Result<()>;
    /// The tags on one version of `repo`.
    async fn tags_of(&self, repo: &RepoName, digest: &Digest) -> Result<Vec<String>>;
    /// Repositories after `after` (in name order) that have a retention policy of their
    /// own or from their namespace, at most `limit`.
    async fn retained_repositories(&self, after: &str, limit: u32) -> Result<Vec<RepoName>>;
    /// The newest `limit` versions of `repo` with their tags, index children and subjects.
    async fn version_graph(&self, repo: &RepoName, limit: u32) -> Result<Vec<Node>>;
    /// Trashes the version `deletion` names together with `held` (what only it holds) as
    /// one deletion, restored together, in one step. Returns `false`, changing nothing,
    /// when the version is not there.
    async fn trash_group(&self, deletion: &Deletion, held: &[Digest]) -> Result<bool>;
    /// Where a scheduled job stopped.
    async fn cursor(&self, job: &str) -> Result<Option<String>>;
    async fn set_cursor(&self, job: &str, value: &str) -> Result<()>;
}

/// A version a policy would delete, as a preview or a report lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub digest: String,
    pub tags: Vec<String>,
    pub pushed_ms: u64,
    /// The rule that applies (`keep_newest`, `untagged_older_than_days`, `held_by`).
    pub rule: &'static str,
    pub reason: String,
    /// The version it is deleted with (itself for a group's root).
    pub group: String,
}

/// What retention would do to one package now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// The policy in force and where it is set, if any.
    pub policy: Option<(RetentionPolicy, Scope)>,
    pub plan: Plan,
    pub nodes: Vec<Node>,
}

impl Preview {
    pub fn verdicts(&self) -> Vec<Verdict> {
        self.plan
            .groups
            .iter()
            .flat_map(|g| std::iter::once(&g.root).chain(g.held.iter()).map(move |d| (g, d)))
            .map(|(g, d)| {
                let node = self.nodes.iter().find(|n| n.digest == d.digest);
                Verdict {
                    digest: d.digest.to_string(),
                    tags: node.map(|n| n.tags.clone()).unwrap_or_default(),
                    pushed_ms: node.map_or(0, |n| n.pushed_ms),
                    rule: d.reason.rule(),
                    reason: d.reason.describe(),
                    group: g.root.digest.to_string(),
                }
            })
            .collect()
    }
}

/// One group retention moved to the trash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Retained {
    pub package: String,
    pub deletion: String,
    pub versions: Vec<Verdict>,
}

impl<M: super::MetadataStore, O: super::ports::ObjectStore, C: super::ports::Clock> super::Registry<M, O, C> {
    /// The policy in force for `repo`: its own, else its namespace's default.
    pub async fn effective_retention(&self, repo: &RepoName) -> Result<Option<(RetentionPolicy, Scope)>> {
        let own = Scope::Package(repo.clone());
        if let Some(p) = self.meta.retention(&own).await? {
            return Ok(Some((p, own)));
        }
        let ns = Scope::Namespace(repo.namespace().to_string());
        Ok(self.meta.retention(&ns).await?.map(|p| (p, ns)))
    }

    /// What the policy in force would delete from `repo` now, and why. Versions younger
    /// than `grace_ms` and versions with an immutable tag are never deleted.
    pub async fn preview_retention(&self, repo: &RepoName, grace_ms: u64) -> Result<Preview> {
        let policy = self.effective_retention(repo).await?;
        let Some((p, _)) = policy.as_ref().filter(|(p, _)| p.deletes()) else {
            return Ok(Preview { policy, plan: Plan::default(), nodes: vec![] });
        };
        let nodes = self.meta.version_graph(repo, MAX_GRAPH_VERSIONS).await?;
        let immutable = self.meta.immutable_tags(repo).await?;
        let plan = retention::evaluate(p, &immutable, &nodes, self.now(), grace_ms);
        Ok(Preview { policy, plan, nodes })
    }

    /// Carries out the preview of `repo`, at most `budget` versions, oldest group first;
    /// each group goes to the trash as one restorable deletion. Returns what went.
    pub async fn apply_retention(&self, repo: &RepoName, grace_ms: u64, budget: usize) -> Result<Vec<Retained>> {
        let preview = self.preview_retention(repo, grace_ms).await?;
        let verdicts = preview.verdicts();
        let mut done = vec![];
        let mut spent = 0;
        for group in &preview.plan.groups {
            let size = 1 + group.held.len();
            if spent + size > budget && spent > 0 {
                break;
            }
            if let Some(deletion) = self.trash_retained(repo, group).await? {
                let versions = verdicts.iter().filter(|v| v.group == group.root.digest.to_string()).cloned().collect();
                done.push(Retained { package: repo.to_string(), deletion, versions });
            }
            spent += size;
        }
        Ok(done)
    }

    async fn trash_retained(&self, repo: &RepoName, group: &Group) -> Result<Option<String>> {
        let deletion = Deletion {
            id: random_id()?,
            repo: repo.clone(),
            version: Some(group.root.digest.clone()),
            deleted_ms: self.now(),
            deleted_by: RETENTION_ACTOR.to_string(),
            package_json: None,
        };
        let held: Vec<Digest> = group.held.iter().map(|d| d.digest.clone()).collect();
        Ok(self.meta.trash_group(&deletion, &held).await?.then_some(deletion.id))
    }

    /// Refuses to point an immutable `tag` of `repo` at `digest` when it points elsewhere.
    pub async fn check_tag_move(&self, repo: &RepoName, tag: &Tag, digest: &Digest) -> Result<()> {
        let rules = self.meta.immutable_tags(repo).await?;
        if rules.is_empty() {
            return Ok(());
        }
        let current = self.meta.tag_target(repo, tag).await?;
        immutable::check_move(&rules, tag.as_str(), current.as_ref(), digest)
    }

    /// Removes one tag; the version stays. Immutable tags are refused.
    pub async fn untag(&self, repo: &RepoName, tag: &Tag) -> Result<()> {
        immutable::check_delete(&self.meta.immutable_tags(repo).await?, tag.as_str())?;
        if self.meta.delete_tag(repo, tag).await? {
            Ok(())
        } else {
            Err(crate::error::RegistryError::ManifestUnknown)
        }
    }

    /// Refuses to delete a version that carries an immutable tag.
    pub async fn check_version_delete(&self, repo: &RepoName, digest: &Digest) -> Result<()> {
        let rules = self.meta.immutable_tags(repo).await?;
        if rules.is_empty() {
            return Ok(());
        }
        let tags = self.meta.tags_of(repo, digest).await?;
        immutable::check_version_delete(&rules, &tags)
    }
}
