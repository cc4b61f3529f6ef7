//! Lifecycle rules and their port: retention policies (a package's own, or its
//! namespace's default), immutable tags, and retention applied to a package: previewed, or
//! carried out into the restorable trash one group at a time.

use super::ports::{Deletion, ManifestIndex};
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
    /// The package's immutable tag patterns and where `tag` points now, in one read.
    async fn tag_state(&self, repo: &RepoName, tag: &Tag) -> Result<(TagPatterns, Option<Digest>)>;
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

/// Retention's cursor in `maintenance_cursors`.
const RETENTION_JOB: &str = "retention";
/// Packages read per page of one scheduled run.
const PACKAGES_PER_PAGE: u32 = 50;

/// What one scheduled retention run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionRun {
    /// Packages whose policy was applied in full.
    pub packages: usize,
    pub deleted: Vec<Retained>,
    /// Where the next run starts (after this name); empty when this run finished a pass.
    pub resume_after: String,
}

/// One group retention moved to the trash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Retained {
    pub package: String,
    pub deletion: String,
    pub versions: Vec<Verdict>,
}

impl<P: super::Platform> super::Registry<P> {
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
    /// than the grace period and versions with an immutable tag are never deleted.
    pub async fn preview_retention(&self, repo: &RepoName) -> Result<Preview> {
        let policy = self.effective_retention(repo).await?;
        let Some((p, _)) = policy.as_ref().filter(|(p, _)| p.deletes()) else {
            return Ok(Preview { policy, plan: Plan::default(), nodes: vec![] });
        };
        let nodes = self.meta.version_graph(repo, MAX_GRAPH_VERSIONS).await?;
        let immutable = self.meta.immutable_tags(repo).await?;
        let plan = retention::evaluate(p, &immutable, &nodes, self.now(), self.config.grace_ms);
        Ok(Preview { policy, plan, nodes })
    }

    /// Carries out the preview of `repo`, at most `budget` versions, oldest group first;
    /// each group goes to the trash as one restorable deletion. Returns what went.
    pub async fn apply_retention(&self, repo: &RepoName, budget: usize) -> Result<Vec<Retained>> {
        let preview = self.preview_retention(repo).await?;
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

    /// Applies every package's policy, resuming after the package the last run stopped
    /// at, until `budget` versions are deleted or `pages` pages of packages are done.
    pub async fn run_retention(&self, budget: usize, pages: usize) -> Result<RetentionRun> {
        let mut after = self.meta.cursor(RETENTION_JOB).await?.unwrap_or_default();
        let mut run = RetentionRun::default();
        let mut spent = 0;
        'pages: for _ in 0..pages {
            let page = self.meta.retained_repositories(&after, PACKAGES_PER_PAGE).await?;
            for repo in &page {
                if spent >= budget {
                    break 'pages;
                }
                let done = self.apply_retention(repo, budget - spent).await?;
                spent += done.iter().map(|r| r.versions.len()).sum::<usize>();
                run.deleted.extend(done);
                if spent >= budget {
                    // The package may have more to delete: the next run starts with it.
                    break 'pages;
                }
                run.packages += 1;
                after = repo.to_string();
            }
            if page.len() < PACKAGES_PER_PAGE as usize {
                after.clear();
                break;
            }
        }
        self.meta.set_cursor(RETENTION_JOB, &after).await?;
        run.resume_after = after;
        Ok(run)
    }

    async fn trash_retained(&self, repo: &RepoName, group: &Group) -> Result<Option<String>> {
        let deletion = Deletion {
            id: random_id()?,
            repo: repo.clone(),
            version: Some(group.root.digest.clone()),
            deleted_ms: self.now(),
            deleted_by: RETENTION_ACTOR.to_string(),
            package: None,
            // Not known here: it restores into the package that was there when it was made.
            package_id: None,
        };
        let held: Vec<Digest> = group.held.iter().map(|d| d.digest.clone()).collect();
        Ok(self.meta.trash_group(&deletion, &held).await?.then_some(deletion.id))
    }

    /// Refuses to point an immutable `tag` of `repo` at `digest` when it points elsewhere;
    /// returns where it points now.
    pub async fn check_tag_move(&self, repo: &RepoName, tag: &Tag, digest: &Digest) -> Result<Option<Digest>> {
        let (rules, current) = self.meta.tag_state(repo, tag).await?;
        immutable::check_move(&rules, tag.as_str(), current.as_ref(), digest)?;
        Ok(current)
    }

    /// Why pointing immutable `tag` at `digest` was refused, naming the rule.
    pub(super) async fn tag_moved_refusal(
        &self,
        repo: &RepoName,
        tag: &Tag,
        digest: &Digest,
    ) -> crate::error::RegistryError {
        match self.check_tag_move(repo, tag, digest).await {
            Err(e) => e,
            Ok(_) => crate::error::RegistryError::DeniedBecause(format!("tag {tag} is immutable")),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::memory::{ManualClock, MemoryMetadata, MemoryObjects, MemoryPlatform};
    use crate::registry::ports::VersionDetails;
    use crate::registry::ports::{Clock, ManifestIndex, ManifestRecord, TrashIndex};
    use crate::registry::{Config, Registry};
    use futures_executor::block_on;

    const DAY: u64 = 24 * 60 * 60 * 1000;
    type Reg = Registry<MemoryPlatform>;

    fn reg() -> Reg {
        let r: Reg = Registry::new(
            MemoryMetadata::default(),
            MemoryObjects::default(),
            ManualClock::default(),
            Config::default(),
        );
        r.clock.advance(100 * DAY);
        r
    }

    fn d(n: u32) -> Digest {
        Digest::parse(&format!("sha256:{n:064x}")).unwrap()
    }

    fn push(r: &Reg, repo: &RepoName, n: u32, children: &[u32], subject: Option<u32>, tag: Option<&str>) {
        let record = ManifestRecord {
            digest: d(n),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 1,
            artifact_type: None,
            subject: subject.map(d),
            annotations: crate::registry::ports::Annotations::None,
            details: VersionDetails::default(),
            inline: None,
        };
        let children: Vec<Digest> = children.iter().map(|&c| d(c)).collect();
        let tags: Vec<Tag> = tag.map(|t| Tag::parse(t).unwrap()).into_iter().collect();
        block_on(r.meta.commit_manifest(repo, &record, &children, &tags, r.clock.now_ms(), None)).unwrap();
    }

    fn set(r: &Reg, scope: Scope, json: &str) {
        let p = RetentionPolicy::from_json(json.as_bytes()).unwrap();
        block_on(r.meta.set_retention(&scope, Some(&p), 0)).unwrap();
    }

    fn digests(r: &Reg, repo: &RepoName) -> Vec<Digest> {
        let mut v: Vec<Digest> =
            block_on(r.meta.version_graph(repo, 1000)).unwrap().into_iter().map(|n| n.digest).collect();
        v.sort();
        v
    }

    #[test]
    fn a_package_policy_overrides_its_namespace_default() {
        let r = reg();
        let repo = RepoName::parse("acme/app").unwrap();
        assert_eq!(block_on(r.effective_retention(&repo)).unwrap(), None);
        set(&r, Scope::Namespace("acme".into()), r#"{"keep_newest": 5}"#);
        let (p, scope) = block_on(r.effective_retention(&repo)).unwrap().unwrap();
        assert_eq!((p.keep_newest, scope), (Some(5), Scope::Namespace("acme".into())));
        set(&r, Scope::Package(repo.clone()), "{}");
        let (p, scope) = block_on(r.effective_retention(&repo)).unwrap().unwrap();
        assert_eq!((p.deletes(), scope), (false, Scope::Package(repo.clone())));
    }

    #[test]
    fn preview_is_what_a_run_deletes_and_a_group_restores_whole() {
        let r = reg();
        let repo = RepoName::parse("acme/app").unwrap();
        // An old multi-arch image (index 10 of 11 and 12) with a signature 13, untagged now.
        push(&r, &repo, 11, &[], None, None);
        push(&r, &repo, 12, &[], None, None);
        push(&r, &repo, 10, &[11, 12], None, Some("latest"));
        push(&r, &repo, 13, &[], Some(10), None);
        r.clock.advance(40 * DAY);
        // A newer one takes the tag; and a plain old untagged image.
        push(&r, &repo, 21, &[], None, None);
        push(&r, &repo, 20, &[21], None, Some("latest"));
        push(&r, &repo, 30, &[], None, None);
        r.clock.advance(10 * DAY);
        set(&r, Scope::Package(repo.clone()), r#"{"untagged_older_than_days": 7}"#);

        let preview = block_on(r.preview_retention(&repo)).unwrap();
        let listed: Vec<(String, &str)> = preview.verdicts().iter().map(|v| (v.digest.clone(), v.rule)).collect();
        assert_eq!(listed.len(), 5);
        assert!(listed.contains(&(d(10).to_string(), "untagged_older_than_days")));
        assert!(listed.contains(&(d(13).to_string(), "held_by")));

        let run = block_on(r.run_retention(100, 10)).unwrap();
        let deleted: Vec<String> =
            run.deleted.iter().flat_map(|g| g.versions.iter().map(|v| v.digest.clone())).collect();
        let mut expected: Vec<String> = listed.iter().map(|(d, _)| d.clone()).collect();
        let mut got = deleted.clone();
        expected.sort();
        got.sort();
        assert_eq!(got, expected);
        assert_eq!(digests(&r, &repo), vec![d(20), d(21)]);

        // Restoring the index's deletion brings its images and signature back.
        let deletion = block_on(r.restorable(&repo, Some(&d(10)))).unwrap();
        assert_eq!(deletion.deleted_by, RETENTION_ACTOR);
        block_on(r.restore(&deletion)).unwrap();
        assert_eq!(digests(&r, &repo), vec![d(10), d(11), d(12), d(13), d(20), d(21)]);
        // The deletion of 30 is restorable too, on its own.
        assert!(block_on(r.meta.deletions(&repo)).unwrap().iter().any(|x| x.version == Some(d(30))));
    }

    #[test]
    fn runs_are_bounded_and_resume_where_they_stopped() {
        let r = reg();
        let (a, b) = (RepoName::parse("acme/a").unwrap(), RepoName::parse("acme/b").unwrap());
        for i in 0..5 {
            push(&r, &a, 100 + i, &[], None, None);
            push(&r, &b, 200 + i, &[], None, None);
        }
        r.clock.advance(10 * DAY);
        set(&r, Scope::Namespace("acme".into()), r#"{"untagged_older_than_days": 1}"#);
        let first = block_on(r.run_retention(3, 10)).unwrap();
        assert_eq!((first.deleted.len(), first.packages, first.resume_after.as_str()), (3, 0, ""));
        assert_eq!(digests(&r, &a).len(), 2);
        let second = block_on(r.run_retention(3, 10)).unwrap();
        // a's last two, then one of b, where the budget ends: b is next.
        assert_eq!((second.deleted.len(), second.packages, second.resume_after.as_str()), (3, 1, "acme/a"));
        let third = block_on(r.run_retention(100, 10)).unwrap();
        assert_eq!((third.deleted.len(), third.packages, third.resume_after.as_str()), (4, 1, ""));
        assert!(digests(&r, &a).is_empty() && digests(&r, &b).is_empty());
    }

    #[test]
    fn immutable_tags_refuse_moves_and_deletes_but_not_the_same_digest() {
        let r = reg();
        let repo = RepoName::parse("acme/app").unwrap();
        let patterns: TagPatterns = serde_json::from_str(r#"["v*"]"#).unwrap();
        block_on(r.meta.set_immutable_tags(&repo, &patterns, 0)).unwrap();
        push(&r, &repo, 1, &[], None, Some("v1"));
        push(&r, &repo, 2, &[], None, Some("dev"));
        let v1 = Tag::parse("v1").unwrap();
        assert_eq!(block_on(r.check_tag_move(&repo, &v1, &d(1))).unwrap(), Some(d(1)));
        let e = block_on(r.check_tag_move(&repo, &v1, &d(2))).unwrap_err();
        assert!(e.message().contains("immutable_tags: v*)"), "{}", e.message());
        assert_eq!(block_on(r.untag(&repo, &v1)).unwrap_err().code(), "DENIED");
        assert_eq!(block_on(r.check_version_delete(&repo, &d(1))).unwrap_err().code(), "DENIED");
        assert!(block_on(r.check_version_delete(&repo, &d(2))).is_ok());
        block_on(r.untag(&repo, &Tag::parse("dev").unwrap())).unwrap();
        assert_eq!(block_on(r.untag(&repo, &Tag::parse("dev").unwrap())).unwrap_err().code(), "MANIFEST_UNKNOWN");
        assert_eq!(digests(&r, &repo), vec![d(1), d(2)]);
    }
}
