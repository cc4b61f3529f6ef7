//! The lifecycle port's part of the contract (see `contract`): rules per scope, the image
//! graph, group deletions restored together, cursors.

use super::lifecycle::Scope;
use super::ports::*;
use super::webhooks::{Delivery, DeliveryState, Hook};
use super::MetadataStore;
use crate::error::RegistryError;
use crate::lifecycle::downloads::{DayCount, Downloads};
use crate::lifecycle::pattern::TagPatterns;
use crate::lifecycle::retention::RetentionPolicy;
use crate::lifecycle::webhooks::{Event, MAX_HOOKS_PER_SCOPE};
use crate::oci::{Digest, DigestHasher, RepoName, Tag};
use crate::registry::ports::VersionDetails;

type Check = Result<(), String>;

fn ensure(cond: bool, what: &str) -> Check {
    cond.then_some(()).ok_or_else(|| what.to_string())
}

fn ok<T>(r: crate::error::Result<T>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e:?}"))
}

fn digest(u: &str, what: &str) -> Digest {
    let mut h = DigestHasher::new(crate::oci::digest::Algorithm::Sha256);
    h.update(format!("{u}/{what}").as_bytes());
    h.finish()
}

fn record(u: &str, what: &str, subject: Option<Digest>) -> ManifestRecord {
    ManifestRecord {
        digest: digest(u, what),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        size: 9,
        artifact_type: None,
        subject,
        annotations: Annotations::None,
        details: VersionDetails::default(),
        inline: None,
    }
}

pub async fn lifecycle_contract<M: MetadataStore>(m: &M, u: &str) -> Check {
    // Namespaces are logins: keep each run's apart.
    let clean: String = u.chars().filter(char::is_ascii_alphanumeric).take(12).collect();
    let ns = format!("lc{}", clean.to_lowercase());
    let r = RepoName::parse(&format!("{ns}/app")).map_err(|e| e.to_string())?;
    let other = RepoName::parse(&format!("{ns}/other")).map_err(|e| e.to_string())?;
    let pkg = Scope::Package(r.clone());
    let nsc = Scope::Namespace(ns.clone());

    // Rules per scope.
    let policy = ok(RetentionPolicy::from_json(br#"{"keep_newest": 2, "keep_tags": ["v*"]}"#), "policy")?;
    ensure(ok(m.retention(&pkg).await, "none")?.is_none(), "no policy until one is set")?;
    ok(m.set_retention(&nsc, Some(&policy), 1).await, "set ns")?;
    ensure(ok(m.retention(&nsc).await, "ns")? == Some(policy.clone()), "a policy loads as saved")?;
    ensure(ok(m.retention(&pkg).await, "pkg")?.is_none(), "a namespace's policy is not the package's own")?;
    let immutable: TagPatterns = serde_json::from_str(r#"["v*", "stable"]"#).map_err(|e| e.to_string())?;
    ok(m.set_immutable_tags(&r, &immutable, 1).await, "immutable")?;
    ensure(ok(m.immutable_tags(&r).await, "load immutable")? == immutable, "immutable tags load as saved")?;
    ensure(ok(m.immutable_tags(&other).await, "other")?.is_empty(), "immutable tags are per package")?;
    ensure(ok(m.retention(&pkg).await, "pkg after")?.is_none(), "immutable tags set no retention policy")?;

    // The graph: an index with two images, a signature of the index, a tagged image.
    let (a, b) = (record(u, "a", None), record(u, "b", None));
    let index = record(u, "index", None);
    let sig = record(u, "sig", Some(index.digest.clone()));
    let tagged = record(u, "tagged", None);
    let tag = |t: &str| Tag::parse(t).map_err(|e| e.to_string());
    let layer = digest(u, "layer");
    let blob = BlobRecord { digest: layer.clone(), object_key: format!("blobs/{u}-lc-layer"), size: 1 };
    ok(m.commit_blob(&r, &blob, 9).await, "layer")?;
    ok(m.commit_manifest(&r, &a, std::slice::from_ref(&layer), &[], 10, None).await, "a")?;
    ok(m.commit_manifest(&r, &b, &[], &[], 10, None).await, "b")?;
    ok(m.commit_manifest(&r, &index, &[a.digest.clone(), b.digest.clone()], &[tag("multi")?], 11, None).await, "i")?;
    ok(m.commit_manifest(&r, &sig, &[], &[], 12, None).await, "sig")?;
    ok(m.commit_manifest(&r, &tagged, &[], &[tag("v1")?], 13, None).await, "tagged")?;
    ok(m.commit_manifest(&other, &a, &[], &[], 13, None).await, "a elsewhere")?;

    let graph = ok(m.version_graph(&r, 100).await, "graph")?;
    ensure(graph.len() == 5, "the graph has every version of the package")?;
    ensure(graph[0].digest == tagged.digest && graph[0].tags == ["v1"], "newest first, with tags")?;
    let node = |d: &Digest| graph.iter().find(|n| &n.digest == d).ok_or("node");
    let mut children = node(&index.digest)?.children.clone();
    children.sort();
    let mut expected = vec![a.digest.clone(), b.digest.clone()];
    expected.sort();
    ensure(children == expected, "an index's node lists its images, not blobs")?;
    ensure(node(&sig.digest)?.subject == Some(index.digest.clone()), "a referrer's node names its subject")?;
    ensure(node(&a.digest)?.children.is_empty(), "an image's node lists no blobs")?;
    ensure(ok(m.version_graph(&r, 2).await, "graph limit")?.len() == 2, "the graph takes a limit")?;
    ensure(ok(m.tags_of(&r, &index.digest).await, "tags of")? == ["multi"], "tags of a version")?;
    let state = ok(m.tag_state(&r, &tag("v1")?).await, "tag state")?;
    ensure(state == (immutable.clone(), Some(tagged.digest.clone())), "a tag's state: the rules and its target")?;
    // A push racing the one that set an immutable tag records its manifest but not the tag.
    let racer = record(u, "racer", None);
    let refused = m.commit_manifest(&r, &racer, &[], &[tag("v1")?], 14, None).await;
    ensure(matches!(refused, Err(RegistryError::DeniedBecause(_))), "an immutable tag is not moved")?;
    ensure(ok(m.tag_target(&r, &tag("v1")?).await, "v1")? == Some(tagged.digest.clone()), "it stays")?;
    ensure(ok(m.linked_manifest(&r, &racer.digest).await, "racer")?.is_some(), "the racing manifest is kept")?;
    ok(m.commit_manifest(&r, &tagged, &[], &[tag("v1")?], 14, None).await, "the same digest again is fine")?;
    ok(m.unlink_manifest(&r, &racer.digest).await, "unlink racer")?;
    let state = ok(m.tag_state(&other, &tag("v1")?).await, "tag state elsewhere")?;
    ensure(state == (TagPatterns::default(), None), "no rules and no target elsewhere")?;

    // Repositories with a policy, own or their namespace's, in name order after a cursor.
    let listed = ok(m.retained_repositories(&format!("{ns}/"), 10).await, "retained")?;
    ensure(listed == vec![r.clone(), other.clone()], "a namespace's policy covers its packages")?;
    let listed = ok(m.retained_repositories(r.as_str(), 10).await, "retained after")?;
    ensure(listed == vec![other.clone()], "listing resumes after a name")?;
    ok(m.set_retention(&nsc, None, 2).await, "remove ns")?;
    ok(m.set_retention(&pkg, Some(&policy), 2).await, "set pkg")?;
    let listed = ok(m.retained_repositories(&format!("{ns}/"), 10).await, "retained own")?;
    ensure(listed == vec![r.clone()], "a package's own policy covers only it")?;

    // A group goes to the trash as one deletion and comes back as one.
    let deletion = Deletion {
        id: format!("{u}-group"),
        repo: r.clone(),
        version: Some(index.digest.clone()),
        deleted_ms: 20,
        deleted_by: "retention".into(),
        package: None,
        package_id: None,
    };
    let held = [a.digest.clone(), b.digest.clone(), sig.digest.clone()];
    let missing = Deletion { version: Some(digest(u, "nothing")), id: format!("{u}-none"), ..deletion.clone() };
    ensure(!ok(m.trash_group(&missing, &held).await, "missing")?, "a group whose version is gone is not trashed")?;
    ensure(ok(m.linked_manifest(&r, &a.digest).await, "a stays")?.is_some(), "nor anything it held")?;
    ensure(ok(m.trash_group(&deletion, &held).await, "trash group")?, "a group can be trashed")?;
    let left = ok(m.version_graph(&r, 100).await, "left")?;
    ensure(left.len() == 1 && left[0].digest == tagged.digest, "the whole group is out of sight")?;
    ensure(ok(m.tag_target(&r, &tag("multi")?).await, "tag")?.is_none(), "with its tags")?;
    ensure(ok(m.linked_manifest(&other, &a.digest).await, "other")?.is_some(), "other packages keep theirs")?;
    ensure(ok(m.linked_blob(&r, &layer).await, "layer gone")?.is_none(), "the layers only the group needed go")?;
    // One image of the group is pushed again meanwhile: the restore keeps it and brings the rest.
    ok(m.commit_manifest(&r, &b, &[], &[], 25, None).await, "b again")?;
    ensure(ok(m.restore(&deletion).await, "restore")? == Restored::Yes, "the group restores")?;
    ensure(ok(m.version_graph(&r, 100).await, "back")?.len() == 5, "every version of it comes back")?;
    ensure(ok(m.linked_blob(&r, &layer).await, "layer back")? == Some(blob), "with its layers")?;
    ensure(ok(m.tag_target(&r, &tag("multi")?).await, "tag back")? == Some(index.digest.clone()), "with its tags")?;

    // Cursors.
    ensure(ok(m.cursor(&format!("{u}-job")).await, "cursor")?.is_none(), "no cursor at first")?;
    ok(m.set_cursor(&format!("{u}-job"), "x/y").await, "set cursor")?;
    ok(m.set_cursor(&format!("{u}-job"), "x/z").await, "move cursor")?;
    ensure(
        ok(m.cursor(&format!("{u}-job")).await, "cursor")?.as_deref() == Some("x/z"),
        "a cursor keeps its last value",
    )?;

    downloads_contract(m, &r, &index, &a, &tagged).await?;
    webhooks_contract(m, &r, u).await
}

async fn downloads_contract<M: MetadataStore>(
    m: &M,
    r: &RepoName,
    index: &ManifestRecord,
    child: &ManifestRecord,
    image: &ManifestRecord,
) -> Check {
    let count =
        |d: &ManifestRecord, day: u32, count: u64| DayCount { repo: r.clone(), digest: d.digest.clone(), day, count };
    // More than one statement's worth, and the same key twice.
    let mut counts: Vec<DayCount> = (0..30).map(|day| count(image, 1000 + day, 1)).collect();
    counts.extend([count(index, 1029, 2), count(child, 1029, 2), count(index, 900, 5)]);
    ok(m.add_downloads(&counts).await, "add")?;
    ok(m.add_downloads(&[count(image, 1029, 3)]).await, "add again")?;
    let per_version = ok(m.version_downloads(r, &[index.digest.clone(), image.digest.clone()]).await, "versions")?;
    let of = |d: &Digest| per_version.iter().find(|(x, _)| x == d).map(|(_, n)| *n);
    ensure(of(&image.digest) == Some(33), "version totals add every day's counts")?;
    ensure(of(&index.digest) == Some(7), "for each version")?;
    ensure(per_version.len() == 2, "only the versions asked about")?;
    let pkg = ok(m.package_downloads(r, 1029).await, "package")?;
    ensure(pkg == Downloads { total: 40, last_30_days: 35 }, "a package counts its pulls but not an index's images")
}

async fn webhooks_contract<M: MetadataStore>(m: &M, r: &RepoName, u: &str) -> Check {
    let hook = |id: &str, scope: &str| Hook {
        id: format!("{u}-{id}"),
        scope: scope.to_string(),
        url: "http://127.0.0.1:9/hook".into(),
        secret: "0123456789abcdef".into(),
        events: vec![Event::VersionPushed, Event::TagMoved],
        created_ms: 5,
        created_by: "alice".into(),
    };
    let (on_pkg, on_ns) = (hook("h1", r.as_str()), hook("h2", r.namespace()));
    ensure(ok(m.add_hook(&on_pkg).await, "add")?, "a webhook is added")?;
    ensure(ok(m.add_hook(&on_ns).await, "add ns")?, "to a namespace too")?;
    ensure(ok(m.hooks(r.as_str()).await, "list")? == vec![on_pkg.clone()], "webhooks load as saved, per scope")?;
    ensure(ok(m.hooks_for(r).await, "for")?.len() == 2, "a package's events go to its and its namespace's")?;
    for i in 0..MAX_HOOKS_PER_SCOPE {
        ok(m.add_hook(&hook(&format!("many{i}"), &format!("{}x", r.namespace()))).await, "many")?;
    }
    let over = hook("over", &format!("{}x", r.namespace()));
    ensure(!ok(m.add_hook(&over).await, "over")?, "a scope's webhooks are bounded")?;

    let delivery = |id: &str, created: u64, due: u64| Delivery {
        id: format!("{u}-{id}"),
        hook: on_pkg.id.clone(),
        event: Event::VersionPushed,
        payload: r#"{"event":"version.pushed"}"#.into(),
        state: DeliveryState::Pending,
        attempts: 0,
        next_attempt_ms: due,
        last_status: None,
        last_error: None,
        created_ms: created,
        updated_ms: created,
    };
    let (first, second) = (delivery("d1", 10, 100), delivery("d2", 20, 50));
    ok(m.add_deliveries(&[first.clone(), second.clone()]).await, "deliveries")?;
    ensure(ok(m.deliveries(&on_pkg.id, 10).await, "log")? == vec![second.clone(), first.clone()], "newest first")?;
    let due = ok(m.due_deliveries(60, 10).await, "due")?;
    let mine: Vec<_> = due.iter().filter(|(d, _)| d.hook == on_pkg.id).collect();
    ensure(mine.len() == 1 && mine[0].0 == second && mine[0].1 == on_pkg, "due deliveries come with their webhook")?;
    let tried =
        Delivery { attempts: 1, last_status: Some(500), next_attempt_ms: 1000, updated_ms: 61, ..second.clone() };
    ensure(ok(m.record_attempt(&tried, 0).await, "record")?, "an attempt is recorded")?;
    ensure(!ok(m.record_attempt(&tried, 0).await, "record twice")?, "not twice for the same attempt")?;
    let done = Delivery { attempts: 2, state: DeliveryState::Delivered, last_status: Some(204), ..tried.clone() };
    ok(m.record_attempt(&done, 1).await, "record delivered")?;
    ensure(ok(m.deliveries(&on_pkg.id, 1).await, "log again")? == vec![done.clone()], "the log shows the outcome")?;
    ensure(
        !ok(m.due_deliveries(u64::MAX / 2, 100).await, "due after")?.iter().any(|(d, _)| d.id == second.id),
        "a delivered delivery is not due",
    )?;
    ensure(ok(m.prune_deliveries(15, 10).await, "prune")? == 0, "pending deliveries are not pruned")?;
    ensure(ok(m.prune_deliveries(21, 10).await, "prune")? == 1, "finished old ones are")?;
    ensure(ok(m.deliveries(&on_pkg.id, 10).await, "pruned")? == vec![first.clone()], "and only those")?;
    ensure(!ok(m.remove_hook(r.namespace(), &on_pkg.id).await, "wrong scope")?, "removal is per scope")?;
    ensure(ok(m.remove_hook(r.as_str(), &on_pkg.id).await, "remove")?, "a webhook is removed")?;
    ensure(ok(m.deliveries(&on_pkg.id, 10).await, "log gone")?.is_empty(), "with its deliveries")
}
