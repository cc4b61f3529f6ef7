//! Retention policies and their evaluation over a package's image graph.
//!
//! A package's versions form a graph: an index lists its per-platform images, and a
//! referrer (signature, SBOM, attestation) names its `subject`. A *root* is a version that
//! nothing in the package holds (no index lists it, its subject is not in the package), or
//! one that carries a tag. The rules judge roots only; everything a kept version holds is
//! kept with it, and what only deleted versions held goes with them. So deleting old
//! untagged versions never breaks a multi-arch image that stays, and a signature never
//! outlives, nor dies before, its image.
//!
//! The rules, in order:
//! 1. never deleted: a version younger than `min_age_days` (or the caller's grace period),
//!    and one with a tag matching `keep_tags`;
//! 2. deleted: an untagged root pushed more than `untagged_older_than_days` ago, and a root
//!    beyond the `keep_newest` newest roots (newest by push time);
//! 3. everything else is kept.

use super::pattern::TagPatterns;
use crate::error::{RegistryError, Result};
use crate::oci::Digest;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet, VecDeque};

const DAY_MS: u64 = 24 * 60 * 60 * 1000;
/// The largest count or number of days a rule takes (ten years of days).
pub const MAX_RULE_VALUE: u32 = 3650;

/// What a package (or, as its default, a namespace) keeps. An empty policy deletes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Versions beyond the N newest are deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_newest: Option<u32>,
    /// Untagged versions pushed more than D days ago are deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untagged_older_than_days: Option<u32>,
    /// Versions with a tag matching one of these are never deleted.
    #[serde(default)]
    pub keep_tags: TagPatterns,
    /// Nothing younger than this is deleted.
    #[serde(default)]
    pub min_age_days: u32,
}

impl RetentionPolicy {
    /// Reads a policy from a request body; bad rules are 400s that say which and why.
    pub fn from_json(bytes: &[u8]) -> Result<RetentionPolicy> {
        if !bytes.trim_ascii_start().starts_with(b"{") {
            return Err(RegistryError::BadRequest("invalid retention policy: expected a JSON object".into()));
        }
        let policy: RetentionPolicy = serde_json::from_slice(bytes)
            .map_err(|e| RegistryError::BadRequest(format!("invalid retention policy: {e}")))?;
        policy.validate()?;
        Ok(policy)
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(RegistryError::BadRequest(m));
        if self.keep_newest == Some(0) {
            return bad("keep_newest must be at least 1 (to delete every version, delete the package)".into());
        }
        for (name, value) in [
            ("keep_newest", self.keep_newest),
            ("untagged_older_than_days", self.untagged_older_than_days),
            ("min_age_days", Some(self.min_age_days)),
        ] {
            if value.is_some_and(|v| v > MAX_RULE_VALUE) {
                return bad(format!("{name} must be at most {MAX_RULE_VALUE}"));
            }
        }
        Ok(())
    }

    /// Whether the policy can delete anything at all.
    pub fn deletes(&self) -> bool {
        self.keep_newest.is_some() || self.untagged_older_than_days.is_some()
    }
}

/// One version of a package as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub digest: Digest,
    pub pushed_ms: u64,
    pub tags: Vec<String>,
    /// The manifests an index lists (empty for an image).
    pub children: Vec<Digest>,
    pub subject: Option<Digest>,
}

/// Why a version is to be deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Reason {
    /// Older than the `keep` newest versions: it is the `rank`-th newest.
    KeepNewest { keep: u32, rank: usize },
    /// Untagged and pushed more than `days` days ago.
    UntaggedOlderThanDays { days: u32 },
    /// Held only by `by`, which is deleted: an index's image or a referrer of its subject.
    HeldBy { by: Digest },
}

impl Reason {
    /// The rule's name, as policies spell it.
    pub fn rule(&self) -> &'static str {
        match self {
            Reason::KeepNewest { .. } => "keep_newest",
            Reason::UntaggedOlderThanDays { .. } => "untagged_older_than_days",
            Reason::HeldBy { .. } => "held_by",
        }
    }

    /// The reason in words, for previews and reports.
    pub fn describe(&self) -> String {
        match self {
            Reason::KeepNewest { keep, rank } => format!("not among the {keep} newest versions (it is number {rank})"),
            Reason::UntaggedOlderThanDays { days } => format!("untagged and pushed more than {days} days ago"),
            Reason::HeldBy { by } => format!("belongs to {by}, which is deleted"),
        }
    }
}

/// A version the policy deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doomed {
    pub digest: Digest,
    pub reason: Reason,
}

/// A root to delete with everything only it held: deleted together, restored together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub root: Doomed,
    pub held: Vec<Doomed>,
}

impl Group {
    pub fn digests(&self) -> impl Iterator<Item = &Digest> {
        std::iter::once(&self.root.digest).chain(self.held.iter().map(|d| &d.digest))
    }
}

/// What a policy does to a package now: groups oldest root first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub groups: Vec<Group>,
    pub kept: usize,
}

impl Plan {
    pub fn doomed(&self) -> impl Iterator<Item = &Doomed> {
        self.groups.iter().flat_map(|g| std::iter::once(&g.root).chain(g.held.iter()))
    }
}

/// Applies `policy` to a package's versions at `now_ms`. Versions pushed less than
/// `grace_ms` ago are never deleted whatever the policy says (an index's images are pushed,
/// untagged, just before it), nor versions with an `immutable` tag (deleting the version
/// would delete the tag).
pub fn evaluate(policy: &RetentionPolicy, immutable: &TagPatterns, nodes: &[Node], now_ms: u64, grace_ms: u64) -> Plan {
    let graph = Graph::new(nodes);
    let protect_after = now_ms.saturating_sub(grace_ms.max(policy.min_age_days as u64 * DAY_MS));
    let protected = |n: &Node| {
        n.pushed_ms > protect_after
            || policy.keep_tags.first_match(&n.tags).is_some()
            || immutable.first_match(&n.tags).is_some()
    };

    let mut roots: Vec<usize> = (0..nodes.len()).filter(|&i| graph.is_root(i)).collect();
    roots.sort_by(|&a, &b| nodes[b].pushed_ms.cmp(&nodes[a].pushed_ms).then(nodes[a].digest.cmp(&nodes[b].digest)));
    let mut verdicts: HashMap<usize, Reason> = HashMap::new();
    for (rank, &i) in roots.iter().enumerate() {
        let n = &nodes[i];
        if protected(n) {
            continue;
        }
        let untagged_expired = policy
            .untagged_older_than_days
            .filter(|&days| n.tags.is_empty() && n.pushed_ms < now_ms.saturating_sub(days as u64 * DAY_MS));
        if let Some(days) = untagged_expired {
            verdicts.insert(i, Reason::UntaggedOlderThanDays { days });
        } else if let Some(keep) = policy.keep_newest.filter(|&k| rank >= k as usize) {
            verdicts.insert(i, Reason::KeepNewest { keep, rank: rank + 1 });
        }
    }

    // Kept: every root without a verdict, every protected version, and all they hold.
    let seeds = (0..nodes.len()).filter(|&i| (graph.is_root(i) && !verdicts.contains_key(&i)) || protected(&nodes[i]));
    let kept = graph.closure(seeds, &HashSet::new());

    // Doomed roots oldest first, each taking what it alone (with other doomed ones) holds.
    let mut groups = vec![];
    let mut taken = kept.clone();
    for &i in roots.iter().rev() {
        // A root the rules judged may still be held by a kept index.
        let Some(reason) = verdicts.remove(&i).filter(|_| !kept.contains(&i)) else { continue };
        taken.insert(i);
        let held = graph.closure([i], &taken);
        let held: Vec<Doomed> = held
            .into_iter()
            .filter(|&j| j != i)
            .map(|j| {
                taken.insert(j);
                Doomed { digest: nodes[j].digest.clone(), reason: Reason::HeldBy { by: nodes[i].digest.clone() } }
            })
            .collect();
        groups.push(Group { root: Doomed { digest: nodes[i].digest.clone(), reason }, held });
    }
    Plan { groups, kept: kept.len() }
}

/// The package's versions with their edges: what each holds (an index's images, the
/// referrers of a subject), and whether anything holds it.
struct Graph {
    holds: Vec<Vec<usize>>,
    held: Vec<bool>,
    tagged: Vec<bool>,
}

impl Graph {
    fn new(nodes: &[Node]) -> Graph {
        let index: HashMap<&Digest, usize> = nodes.iter().enumerate().map(|(i, n)| (&n.digest, i)).collect();
        let mut holds = vec![vec![]; nodes.len()];
        let mut held = vec![false; nodes.len()];
        for (i, n) in nodes.iter().enumerate() {
            for child in n.children.iter().filter_map(|c| index.get(c)) {
                holds[i].push(*child);
                held[*child] = true;
            }
            if let Some(&subject) = n.subject.as_ref().and_then(|s| index.get(s)) {
                holds[subject].push(i);
                held[i] = true;
            }
        }
        Graph { holds, held, tagged: nodes.iter().map(|n| !n.tags.is_empty()).collect() }
    }

    fn is_root(&self, i: usize) -> bool {
        self.tagged[i] || !self.held[i]
    }

    /// Everything reachable from `from` through what versions hold, not entering `stop`,
    /// in the order found.
    fn closure(&self, from: impl IntoIterator<Item = usize>, stop: &HashSet<usize>) -> HashSet<usize> {
        let mut seen: HashSet<usize> = HashSet::new();
        let mut queue: VecDeque<usize> = from.into_iter().collect();
        while let Some(i) = queue.pop_front() {
            if !seen.insert(i) {
                continue;
            }
            queue.extend(self.holds[i].iter().copied().filter(|j| !stop.contains(j) && !seen.contains(j)));
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::pattern::TagPattern;

    const NOW: u64 = 1_000 * DAY_MS;

    fn d(n: u32) -> Digest {
        Digest::parse(&format!("sha256:{n:064x}")).unwrap()
    }

    fn node(n: u32, age_days: u64, tags: &[&str]) -> Node {
        Node {
            digest: d(n),
            pushed_ms: NOW - age_days * DAY_MS,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            children: vec![],
            subject: None,
        }
    }

    fn index(n: u32, age_days: u64, tags: &[&str], children: &[u32]) -> Node {
        Node { children: children.iter().map(|&c| d(c)).collect(), ..node(n, age_days, tags) }
    }

    fn referrer(n: u32, age_days: u64, subject: u32) -> Node {
        Node { subject: Some(d(subject)), ..node(n, age_days, &[]) }
    }

    fn policy(json: &str) -> RetentionPolicy {
        RetentionPolicy::from_json(json.as_bytes()).unwrap()
    }

    fn none() -> TagPatterns {
        TagPatterns::default()
    }

    fn evaluate_with(p: &RetentionPolicy, nodes: &[Node], now: u64, grace: u64) -> Plan {
        evaluate(p, &none(), nodes, now, grace)
    }

    fn deleted(plan: &Plan) -> Vec<u32> {
        let mut v: Vec<u32> =
            plan.doomed().map(|x| u32::from_str_radix(&x.digest.to_string()[7..], 16).unwrap()).collect();
        v.sort();
        v
    }

    #[test]
    fn keep_newest_counts_roots_and_deletes_the_rest() {
        let nodes: Vec<_> = (1..=10).map(|i| node(i, 100 - i as u64, &["t"][..0])).collect();
        let plan = evaluate_with(&policy(r#"{"keep_newest": 3}"#), &nodes, NOW, 0);
        assert_eq!(deleted(&plan), (1..=7).collect::<Vec<_>>());
        assert_eq!(plan.kept, 3);
        // Oldest first, and the reason names the rank.
        assert_eq!(plan.groups[0].root.digest, d(1));
        assert_eq!(plan.groups[0].root.reason, Reason::KeepNewest { keep: 3, rank: 10 });
        assert_eq!(plan.groups[0].root.reason.describe(), "not among the 3 newest versions (it is number 10)");
    }

    #[test]
    fn untagged_rule_spares_tagged_and_young_versions() {
        let nodes = vec![node(1, 40, &[]), node(2, 40, &["stable"]), node(3, 5, &[])];
        let plan = evaluate_with(&policy(r#"{"untagged_older_than_days": 30}"#), &nodes, NOW, 0);
        assert_eq!(deleted(&plan), vec![1]);
        assert_eq!(plan.groups[0].root.reason.describe(), "untagged and pushed more than 30 days ago");
    }

    #[test]
    fn keep_tags_and_minimum_age_protect_whatever_else_applies() {
        let nodes = vec![node(1, 90, &["v1.0"]), node(2, 90, &["dev"]), node(3, 1, &["dev-2"]), node(4, 0, &[])];
        let p = policy(r#"{"keep_newest": 1, "keep_tags": ["v*"], "min_age_days": 2}"#);
        // 4 is the newest (kept by count), 3 is younger than two days, 1 matches v*.
        assert_eq!(deleted(&evaluate(&p, &none(), &nodes, NOW, 0)), vec![2]);
        // The grace period protects like a minimum age.
        let p = policy(r#"{"untagged_older_than_days": 0}"#);
        assert_eq!(deleted(&evaluate(&p, &none(), &[node(1, 0, &[])], NOW, 3_600_000)), Vec::<u32>::new());
        // So does an immutable tag: deleting the version would delete the tag.
        let immutable: TagPatterns = serde_json::from_str(r#"["stable"]"#).unwrap();
        let nodes = vec![node(1, 95, &["stable"]), node(2, 90, &["dev"]), node(3, 10, &["new"])];
        let p = policy(r#"{"keep_newest": 1}"#);
        assert_eq!(deleted(&evaluate(&p, &none(), &nodes, NOW, 0)), vec![1, 2]);
        assert_eq!(deleted(&evaluate(&p, &immutable, &nodes, NOW, 0)), vec![2]);
    }

    #[test]
    fn a_kept_index_keeps_its_images_and_a_deleted_one_takes_them() {
        // 10 and 20 are multi-arch images; their per-platform images are untagged and old.
        let nodes = vec![
            node(11, 50, &[]),
            node(12, 50, &[]),
            index(10, 50, &["latest"], &[11, 12]),
            node(21, 60, &[]),
            node(22, 60, &[]),
            index(20, 60, &[], &[21, 22]),
        ];
        let plan = evaluate_with(&policy(r#"{"untagged_older_than_days": 7}"#), &nodes, NOW, 0);
        assert_eq!(deleted(&plan), vec![20, 21, 22]);
        assert_eq!(plan.groups.len(), 1);
        let group = &plan.groups[0];
        assert_eq!(group.root.digest, d(20));
        assert!(group.held.iter().all(|h| h.reason == Reason::HeldBy { by: d(20) }));
        assert_eq!(plan.kept, 3);
    }

    #[test]
    fn an_image_shared_by_a_kept_and_a_deleted_index_stays() {
        let nodes = vec![node(1, 50, &[]), index(10, 50, &["v1"], &[1]), index(20, 60, &[], &[1])];
        let plan = evaluate_with(&policy(r#"{"untagged_older_than_days": 7}"#), &nodes, NOW, 0);
        assert_eq!(deleted(&plan), vec![20]);
    }

    #[test]
    fn referrers_live_and_die_with_their_subject() {
        let nodes = vec![
            node(1, 50, &["v1"]),
            referrer(2, 50, 1), // signature of a kept image
            referrer(3, 49, 2), // attestation of that signature
            node(4, 60, &[]),
            referrer(5, 10, 4),  // signature of a deleted image, itself young-ish
            referrer(6, 60, 99), // its subject is not in the package: a root, untagged
        ];
        let plan = evaluate_with(&policy(r#"{"untagged_older_than_days": 30}"#), &nodes, NOW, 0);
        assert_eq!(deleted(&plan), vec![4, 5, 6]);
        let g4 = plan.groups.iter().find(|g| g.root.digest == d(4)).unwrap();
        assert_eq!(g4.held, vec![Doomed { digest: d(5), reason: Reason::HeldBy { by: d(4) } }]);
    }

    #[test]
    fn a_protected_member_of_a_deleted_index_stays() {
        // The image was pushed again yesterday: younger than the minimum age.
        let nodes = vec![node(1, 1, &[]), node(2, 50, &[]), index(10, 50, &[], &[1, 2])];
        let plan = evaluate_with(&policy(r#"{"untagged_older_than_days": 7, "min_age_days": 3}"#), &nodes, NOW, 0);
        assert_eq!(deleted(&plan), vec![2, 10]);
    }

    #[test]
    fn tagged_platform_images_are_judged_but_kept_by_a_kept_index() {
        let nodes = vec![node(1, 50, &["amd64"]), index(10, 40, &["latest"], &[1]), node(2, 50, &["old"])];
        let plan = evaluate_with(&policy(r#"{"keep_newest": 1}"#), &nodes, NOW, 0);
        assert_eq!(deleted(&plan), vec![2]);
    }

    #[test]
    fn an_empty_policy_deletes_nothing() {
        let nodes: Vec<_> = (1..=5).map(|i| node(i, 999, &[])).collect();
        let p = policy("{}");
        assert!(!p.deletes());
        assert_eq!(evaluate(&p, &none(), &nodes, NOW, 0), Plan { groups: vec![], kept: 5 });
    }

    #[test]
    fn bad_rules_are_400s_naming_the_rule() {
        let why = |j: &str| RetentionPolicy::from_json(j.as_bytes()).unwrap_err();
        assert_eq!(why(r#"{"keep_newest": 0}"#).status(), 400);
        assert!(why(r#"{"keep_newest": 0}"#).to_string().contains("keep_newest"));
        assert!(why(r#"{"min_age_days": 4000}"#).to_string().contains("min_age_days must be at most 3650"));
        assert!(why(r#"{"keep_newest": -1}"#).to_string().contains("invalid retention policy"));
        assert!(why(r#"{"keep_newst": 3}"#).to_string().contains("unknown field"));
        assert!(why(r#"{"keep_tags": ["a/b"]}"#).to_string().contains("tag pattern"));
        assert!(why("[]").to_string().contains("invalid retention policy"));
        let p = policy(r#"{"keep_tags": ["v*"], "keep_newest": 5}"#);
        assert_eq!(p.keep_tags.iter().next(), Some(&TagPattern::parse("v*").unwrap()));
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({"keep_newest": 5, "keep_tags": ["v*"], "min_age_days": 0})
        );
    }
}
