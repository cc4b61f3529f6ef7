//! The lifecycle port's part of the contract (see `contract`): rules per scope, the image
//! graph, group deletions restored together, cursors.

use super::lifecycle::Scope;
use super::ports::*;
use super::versions::VersionDetails;
use super::MetadataStore;
use crate::lifecycle::pattern::TagPatterns;
use crate::lifecycle::retention::RetentionPolicy;
use crate::oci::{Digest, DigestHasher, RepoName, Tag};

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
        annotations_json: None,
        details: VersionDetails::default(),
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
    ok(m.commit_manifest(&r, &a, std::slice::from_ref(&layer), None, 10).await, "a")?;
    ok(m.commit_manifest(&r, &b, &[], None, 10).await, "b")?;
    ok(m.commit_manifest(&r, &index, &[a.digest.clone(), b.digest.clone()], Some(&tag("multi")?), 11).await, "i")?;
    ok(m.commit_manifest(&r, &sig, &[], None, 12).await, "sig")?;
    ok(m.commit_manifest(&r, &tagged, &[], Some(&tag("v1")?), 13).await, "tagged")?;
    ok(m.commit_manifest(&other, &a, &[], None, 13).await, "a elsewhere")?;

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
        package_json: None,
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
    // One image of the group is pushed again meanwhile: the restore keeps it and brings the rest.
    ok(m.commit_manifest(&r, &b, &[], None, 25).await, "b again")?;
    ensure(ok(m.restore(&deletion).await, "restore")? == Restored::Yes, "the group restores")?;
    ensure(ok(m.version_graph(&r, 100).await, "back")?.len() == 5, "every version of it comes back")?;
    ensure(ok(m.tag_target(&r, &tag("multi")?).await, "tag back")? == Some(index.digest.clone()), "with its tags")?;

    // Cursors.
    ensure(ok(m.cursor(&format!("{u}-job")).await, "cursor")?.is_none(), "no cursor at first")?;
    ok(m.set_cursor(&format!("{u}-job"), "x/y").await, "set cursor")?;
    ok(m.set_cursor(&format!("{u}-job"), "x/z").await, "move cursor")?;
    ensure(ok(m.cursor(&format!("{u}-job")).await, "cursor")?.as_deref() == Some("x/z"), "a cursor keeps its last value")
}
