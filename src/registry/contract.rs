//! The contract every implementation of the ports must keep. The in-memory ports run it
//! in native tests; the Worker runs it over real R2 and D1 when `CONTRACT_TESTS` is
//! set (the end-to-end suite does), so both sides are held to the same rules. The
//! identity port has its own (`auth::contract`); where the two meet (a package's rows
//! leave and come back with its content) it is checked here.

use super::ports::*;
use super::{keys, MetadataStore};
use crate::auth::contract::{ensure, ok, Check};
use crate::auth::identity::IdentityStore;
use crate::auth::identity::PackageSnapshot;
use crate::auth::{Login, Role, Visibility};
use crate::oci::digest::Algorithm;
use crate::oci::metadata::PackageMetadata;
use crate::oci::range::ByteSpan;
use crate::oci::{Digest, Reference, RepoName, Tag};

/// Runs every check; returns the failures (empty when the implementation keeps the contract).
/// `identity` is the identity store over the same database as `meta`. `unique` keeps keys
/// and names of one run apart from earlier runs on the same storage.
/// `H` is the platform's hasher.
pub async fn run<M: MetadataStore, O: ObjectStore, I: IdentityStore, H: BodyHasher>(
    meta: &M,
    objects: &O,
    identity: &I,
    unique: &str,
) -> Vec<String>
where
    O::Reader: ReadAll,
{
    let mut failures = vec![];
    let results = [
        ("objects", objects_contract(objects, unique).await),
        ("hashing", hashing_contract::<H>().await),
        ("object hashes", object_hash_contract(objects, unique).await),
        ("multipart", multipart_contract(objects, unique).await),
        ("blobs", blob_index_contract(meta, unique).await),
        ("uploads", upload_index_contract(meta, unique).await),
        ("manifests", manifest_index_contract(meta, unique).await),
        ("trash", trash_contract(meta, unique).await),
        ("package rows", package_rows_contract(meta, identity, unique).await),
        ("untagged", untagged_contract(meta, unique).await),
        ("lifecycle", super::lifecycle_contract::lifecycle_contract(meta, unique).await),
    ];
    for (name, r) in results {
        if let Err(e) = r {
            failures.push(format!("{name}: {e}"));
        }
    }
    failures
}

/// Reads a streamed object body whole (only for the contract's small objects).
#[allow(async_fn_in_trait)]
pub trait ReadAll {
    async fn read_all(self) -> Result<Vec<u8>, String>;
}

impl ReadAll for Vec<u8> {
    async fn read_all(self) -> Result<Vec<u8>, String> {
        Ok(self)
    }
}

async fn objects_contract<O: ObjectStore>(o: &O, u: &str) -> Check
where
    O::Reader: ReadAll,
{
    let key = format!("contract/{u}/object");
    ok(o.put(&key, b"0123456789".to_vec()).await, "put")?;
    ensure(ok(o.get_bytes(&key).await, "get")? == Some(b"0123456789".to_vec()), "get returns what was put")?;
    let span = ByteSpan { start: 2, end: 5 };
    let part = ok(o.open(&key, Some(span)).await, "open span")?.ok_or("open finds the object")?;
    ensure(part.read_all().await? == b"234", "a span reads those bytes")?;
    ok(o.delete(&key).await, "delete")?;
    ensure(ok(o.get_bytes(&key).await, "get deleted")?.is_none(), "deleted objects are gone")?;
    ensure(ok(o.open(&key, None).await, "open deleted")?.is_none(), "open of a missing object is None")?;
    ok(o.delete(&key).await, "deleting twice is fine")
}

/// The platform's hasher gives the registry's digests, in pieces of any size, and keeps
/// what it was given even when the caller reuses the memory.
async fn hashing_contract<H: BodyHasher>() -> Check {
    let big: Vec<u8> = (0..(1 << 20) + 3).map(|i: u32| (i % 251) as u8).collect();
    for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
        let empty = ok(ok(H::start(algorithm), "start")?.finish().await, "finish")?;
        ensure(empty == Digest::of(algorithm, b""), "no bytes hash as the empty string")?;

        let mut h = ok(H::start(algorithm), "start")?;
        let mut piece = b"hello ".to_vec();
        ok(h.update(&piece).await, "update")?;
        piece.copy_from_slice(b"world!");
        for bytes in [&piece[..], b"", &big] {
            ok(h.update(bytes).await, "update")?;
        }
        let whole = [&b"hello world!"[..], &big].concat();
        ensure(ok(h.finish().await, "finish")? == Digest::of(algorithm, &whole), "pieces hash as the whole")?;
    }
    Ok(())
}

async fn object_hash_contract<O: ObjectStore>(o: &O, u: &str) -> Check {
    let key = format!("contract/{u}/hashed");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    ok(o.put(&key, bytes.clone()).await, "put")?;
    for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
        let digest = ok(o.hash_object(&key, algorithm).await, "hash object")?;
        ensure(digest == Some(Digest::of(algorithm, &bytes)), "a stored object hashes as its bytes")?;
    }
    ok(o.delete(&key).await, "delete")?;
    ensure(
        ok(o.hash_object(&key, Algorithm::Sha256).await, "hash missing")?.is_none(),
        "a missing object has no digest",
    )
}

async fn multipart_contract<O: ObjectStore>(o: &O, u: &str) -> Check
where
    O::Reader: ReadAll,
{
    // R2 wants 5 MiB parts but the last.
    let part = vec![7u8; 5 * 1024 * 1024];
    let key = format!("contract/{u}/multipart");
    let id = ok(o.create_multipart(&key).await, "create")?;
    let p1 = ok(o.upload_part(&key, &id, 1, part.clone()).await, "part 1")?;
    let p2 = ok(o.upload_part(&key, &id, 2, b"end".to_vec()).await, "part 2")?;
    ok(o.complete_multipart(&key, &id, &[p1, p2]).await, "complete")?;
    let tail =
        ok(o.open(&key, Some(ByteSpan { start: part.len() as u64 - 1, end: part.len() as u64 + 3 })).await, "open")?
            .ok_or("completed object exists")?;
    ensure(tail.read_all().await? == b"\x07end", "parts are joined in order")?;
    ok(o.delete(&key).await, "delete")?;

    let key = format!("contract/{u}/rewritten");
    let id = ok(o.create_multipart(&key).await, "create")?;
    let first = ok(o.upload_part(&key, &id, 1, b"first".to_vec()).await, "part")?;
    ok(o.upload_part(&key, &id, 1, b"other".to_vec()).await, "part again")?;
    ensure(o.complete_multipart(&key, &id, &[first]).await.is_err(), "a rewritten part's old etag is refused")?;
    ok(o.abort_multipart(&key, &id).await, "abort")?;

    let key = format!("contract/{u}/aborted");
    let id = ok(o.create_multipart(&key).await, "create")?;
    ok(o.upload_part(&key, &id, 1, b"x".to_vec()).await, "part")?;
    ok(o.abort_multipart(&key, &id).await, "abort")?;
    ensure(ok(o.get_bytes(&key).await, "get aborted")?.is_none(), "an aborted upload leaves no object")
}

fn digest(u: &str, what: &str) -> Digest {
    Digest::sha256_of(format!("{u}/{what}").as_bytes())
}

fn repo(u: &str, name: &str) -> RepoName {
    RepoName::parse(&format!("contract{u}/{name}")).expect("valid test name")
}

async fn blob_index_contract<M: MetadataStore>(m: &M, u: &str) -> Check {
    let (a, b) = (repo(u, "a"), repo(u, "b"));
    let d = digest(u, "blob");
    let first = BlobRecord { digest: d.clone(), object_key: format!("blobs/{u}-1"), size: 3 };
    let second = BlobRecord { object_key: format!("blobs/{u}-2"), ..first.clone() };
    ensure(ok(m.linked_blob(&a, &d).await, "linked")?.is_none(), "nothing is linked at first")?;
    ensure(ok(m.commit_blob(&a, &first, 1).await, "commit")? == first, "the first commit stands")?;
    ensure(
        ok(m.commit_blob(&b, &second, 2).await, "commit again")? == first,
        "a second commit of a digest keeps the first object",
    )?;
    ensure(ok(m.linked_blob(&b, &d).await, "linked b")? == Some(first.clone()), "the second repository is linked")?;
    ensure(ok(m.unlink_blob(&a, &d).await, "unlink")?, "unlink reports a link")?;
    ensure(!ok(m.unlink_blob(&a, &d).await, "unlink again")?, "unlink of nothing reports none")?;
    ensure(ok(m.linked_blob(&a, &d).await, "linked a")?.is_none(), "unlinked blobs are not visible")?;
    ok(m.link_blob(&a, &d, 3).await, "link")?;
    ensure(ok(m.linked_blob(&a, &d).await, "relinked")?.is_some(), "link makes a held blob visible")?;
    ensure(ok(m.repository_exists(&a).await, "exists")?, "linking creates the repository")?;
    let c = repo(u, "c");
    ensure(m.link_blob(&c, &digest(u, "unknown"), 3).await.is_err(), "an unknown blob is not linked")?;
    ensure(!ok(m.repository_exists(&c).await, "no repository")?, "and linking it creates nothing")?;

    // Collection: blobs no manifest needs, once they are older than the grace period and
    // not linked within it (a push between its blobs and its manifest).
    let orphan = BlobRecord { digest: digest(u, "orphan"), object_key: format!("blobs/{u}-3"), size: 1 };
    ok(m.commit_blob(&a, &orphan, 10).await, "commit orphan")?;
    ok(m.unlink_blob(&a, &orphan.digest).await, "unlink orphan")?;
    ok(m.link_blob(&a, &d, 15).await, "link recently")?;
    let listed = |v: Vec<BlobRecord>, d: &Digest| v.iter().any(|b| &b.digest == d);
    ensure(!listed(ok(m.orphaned_blobs(10, 1000).await, "young")?, &orphan.digest), "young orphans are kept")?;
    let old = ok(m.orphaned_blobs(11, 1000).await, "orphans")?;
    ensure(listed(old.clone(), &orphan.digest), "an old unlinked blob is an orphan")?;
    ensure(!listed(old, &d), "a blob linked within the grace period is no orphan")?;
    ensure(!ok(m.forget_orphan(&d, 11).await, "forget linked")?, "a recently linked blob is never forgotten")?;
    ensure(ok(m.forget_orphan(&orphan.digest, 11).await, "forget")?, "an orphan is forgotten")?;
    ensure(!ok(m.forget_orphan(&orphan.digest, 11).await, "forget again")?, "only once")?;
    ensure(
        listed(ok(m.orphaned_blobs(16, 1000).await, "stale")?, &d),
        "a blob no manifest needs is an orphan once its links are older than the grace period",
    )?;
    ensure(ok(m.forget_orphan(&d, 16).await, "forget stale")?, "and is forgotten")?;
    ensure(ok(m.linked_blob(&a, &d).await, "stale link")?.is_none(), "its links go with it")?;
    ensure(ok(m.linked_blob(&b, &d).await, "stale link b")?.is_none(), "in every repository")
}

async fn upload_index_contract<M: MetadataStore>(m: &M, u: &str) -> Check {
    let r = repo(u, "up");
    let s = UploadSession {
        id: Digest::sha256_of(u.as_bytes()).hex()[..32].to_string(),
        repo: r.clone(),
        object_key: format!("blobs/{u}"),
        multipart_id: None,
        parts: vec![],
        received: 0,
        tail_len: 0,
        hash_state: vec![1, 2, 3],
        staged_digest: None,
        created_ms: 10,
        updated_ms: 10,
    };
    ok(m.create_upload(&s).await, "create")?;
    ensure(ok(m.upload(&r, &s.id).await, "load")? == Some(s.clone()), "a session loads as saved")?;
    ensure(ok(m.record_multipart(&s.id, "mp-1").await, "record")?, "a multipart upload is recorded")?;
    ensure(!ok(m.record_multipart(&s.id, "mp-2").await, "record again")?, "only the first one")?;
    ensure(
        ok(m.upload(&r, &s.id).await, "load recorded")?.and_then(|u| u.multipart_id) == Some("mp-1".into()),
        "the session names it",
    )?;
    ensure(
        ok(m.upload(&repo(u, "other"), &s.id).await, "load other")?.is_none(),
        "a session belongs to its repository",
    )?;
    let next = UploadSession {
        multipart_id: Some("mp".into()),
        parts: vec![PartTag { number: 1, etag: "e".into() }],
        received: 9,
        tail_len: 4,
        updated_ms: 20,
        ..s.clone()
    };
    ensure(ok(m.save_upload(&next, 0).await, "save")?, "a save at the expected offset succeeds")?;
    ensure(!ok(m.save_upload(&next, 0).await, "stale save")?, "a save at a stale offset fails")?;
    ensure(ok(m.upload(&r, &s.id).await, "reload")? == Some(next.clone()), "the saved progress loads")?;
    let expired = ok(m.expired_uploads(21, 1000).await, "expired")?;
    ensure(expired.iter().any(|e| e.id == s.id), "old sessions are listed as expired")?;
    ensure(
        !ok(m.expired_uploads(20, 1000).await, "not expired")?.iter().any(|e| e.id == s.id),
        "fresh sessions are not",
    )?;
    ok(m.delete_upload(&s.id).await, "delete")?;
    ensure(ok(m.upload(&r, &s.id).await, "load deleted")?.is_none(), "deleted sessions are gone")?;
    close_upload_contract(m, u).await
}

/// Closing commits the blob and forgets the session at once, and only the session as read;
/// a session claimed by expiry cannot be closed.
async fn close_upload_contract<M: MetadataStore>(m: &M, u: &str) -> Check {
    let r = repo(u, "close");
    let session = |n: &str| UploadSession {
        id: Digest::sha256_of(format!("{u}{n}").as_bytes()).hex()[..32].to_string(),
        repo: r.clone(),
        object_key: format!("blobs/{u}-{n}"),
        multipart_id: None,
        parts: vec![],
        received: 5,
        tail_len: 5,
        hash_state: vec![4, 5, 6],
        staged_digest: None,
        created_ms: 10,
        updated_ms: 30,
    };
    let blob = |n: &str, key: &str| BlobRecord { digest: digest(u, n), object_key: key.into(), size: 5 };
    let s = session("one");
    ok(m.create_upload(&s).await, "create one")?;
    let stale = UploadSession { received: 4, ..s.clone() };
    ensure(
        ok(m.close_upload(&stale, &blob("c1", "k1"), 40).await, "close stale")? == Closed::Changed(None),
        "a session not as read is not closed",
    )?;
    ensure(ok(m.linked_blob(&r, &digest(u, "c1")).await, "not linked")?.is_none(), "and nothing is linked")?;
    ensure(
        ok(m.close_upload(&s, &blob("c1", "k1"), 40).await, "close")? == Closed::Yes(blob("c1", "k1")),
        "a session as read closes into its blob",
    )?;
    ensure(ok(m.upload(&r, &s.id).await, "closed")?.is_none(), "the session is gone")?;
    ensure(ok(m.linked_blob(&r, &digest(u, "c1")).await, "linked")? == Some(blob("c1", "k1")), "the blob is linked")?;
    ensure(
        ok(m.close_upload(&s, &blob("c1", "k2"), 41).await, "close twice")? == Closed::Changed(Some(blob("c1", "k1"))),
        "a second close changes nothing and says what holds the digest",
    )?;
    let held = session("held");
    ok(m.create_upload(&held).await, "create held")?;
    ensure(
        ok(m.close_upload(&held, &blob("c1", "k3"), 42).await, "close held")? == Closed::Yes(blob("c1", "k1")),
        "a digest held already keeps its object",
    )?;
    let expiring = session("expiring");
    ok(m.create_upload(&expiring).await, "create expiring")?;
    ensure(!ok(m.claim_expired(&expiring.id, 30).await, "claim fresh")?, "a session touched since is not claimed")?;
    ensure(ok(m.claim_expired(&expiring.id, 31).await, "claim")?, "an expired session is claimed")?;
    ensure(
        ok(m.close_upload(&expiring, &blob("c2", "k4"), 43).await, "close claimed")? == Closed::Changed(None),
        "a claimed session cannot be closed",
    )?;
    ensure(ok(m.claim_expired(&expiring.id, 31).await, "claim again")?, "a claim is retried until removed")?;
    ok(m.delete_upload(&expiring.id).await, "delete expiring")?;

    // Closing by the staged bytes: only a live session whose staged digest is the one asked.
    let staged = UploadSession { staged_digest: Some(digest(u, "c3")), ..session("staged") };
    ok(m.create_upload(&staged).await, "create staged")?;
    let open = StagedClose::Open(Some(staged.clone()));
    ensure(ok(m.close_staged(&r, &staged.id, &digest(u, "c4"), 100, 44).await, "other")? == open, "another digest")?;
    ensure(ok(m.close_staged(&r, &staged.id, &digest(u, "c3"), 10, 44).await, "late")? == open, "an expired one")?;
    let elsewhere = ok(m.close_staged(&repo(u, "else"), &staged.id, &digest(u, "c3"), 100, 44).await, "elsewhere")?;
    ensure(elsewhere == StagedClose::Open(None), "another repository's")?;
    ensure(ok(m.linked_blob(&r, &digest(u, "c3")).await, "unlinked")?.is_none(), "none of these closes")?;
    let key = keys::upload_tail(&staged);
    let closed = StagedClose::Closed { standing: blob("c3", &key), staged_key: key.clone() };
    ensure(ok(m.close_staged(&r, &staged.id, &digest(u, "c3"), 100, 45).await, "staged")? == closed, "a staged close")?;
    ensure(ok(m.linked_blob(&r, &digest(u, "c3")).await, "staged link")? == Some(blob("c3", &key)), "links it")?;
    ensure(ok(m.upload(&r, &staged.id).await, "staged gone")?.is_none(), "and forgets the session")?;
    ensure(
        ok(m.close_staged(&r, &staged.id, &digest(u, "c3"), 100, 46).await, "again")? == StagedClose::Open(None),
        "once",
    )?;
    let again = UploadSession { staged_digest: Some(digest(u, "c3")), ..session("again") };
    ok(m.create_upload(&again).await, "create again")?;
    let held = StagedClose::Closed { standing: blob("c3", &key), staged_key: keys::upload_tail(&again) };
    ensure(
        ok(m.close_staged(&r, &again.id, &digest(u, "c3"), 100, 47).await, "held")? == held,
        "a digest held already keeps its object",
    )?;

    // A mount links what `from` has, or starts a session instead.
    let to = repo(u, "mounted");
    let mounting = UploadSession { repo: to.clone(), ..session("mount") };
    ensure(ok(m.mount_or_start(&r, &digest(u, "c3"), &mounting, 48).await, "mount")?, "a held blob is mounted")?;
    ensure(ok(m.linked_blob(&to, &digest(u, "c3")).await, "mounted")? == Some(blob("c3", &key)), "and linked")?;
    ensure(ok(m.upload(&to, &mounting.id).await, "no session")?.is_none(), "with no session")?;
    let absent = UploadSession { repo: to.clone(), ..session("absent") };
    ensure(!ok(m.mount_or_start(&r, &digest(u, "c9"), &absent, 49).await, "absent")?, "a blob not there is not")?;
    ensure(ok(m.linked_blob(&to, &digest(u, "c9")).await, "not mounted")?.is_none(), "nor linked")?;
    ensure(ok(m.upload(&to, &absent.id).await, "session")? == Some(absent.clone()), "a session starts instead")?;
    ok(m.delete_upload(&absent.id).await, "delete absent")
}

async fn manifest_index_contract<M: MetadataStore>(m: &M, u: &str) -> Check {
    let r = repo(u, "m");
    let subject = digest(u, "subject");
    let record = |what: &str, subject: Option<Digest>| ManifestRecord {
        digest: digest(u, what),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        size: 42,
        artifact_type: Some("application/x-test".into()),
        subject,
        annotations: Annotations::Kept(r#"{"a":"b"}"#.into()),
        details: VersionDetails {
            total_size: 4242,
            platforms: vec!["linux/arm64".into()],
            created: Some("2026-01-01T00:00:00Z".into()),
            metadata: PackageMetadata { description: Some(format!("about {what}")), ..Default::default() },
        },
        inline: None,
    };
    let one =
        ManifestRecord { inline: Some(br#"{"schemaVersion": 2, "x": "\u00e9"}"#.to_vec()), ..record("one", None) };
    let two = record("two", Some(subject.clone()));
    let latest = Tag::parse("latest").map_err(|e| e.to_string())?;
    let refs: Vec<Digest> = (0..120).map(|i| digest(u, &format!("ref{i}"))).collect();
    ok(m.commit_manifest(&r, &one, &refs, std::slice::from_ref(&latest), 1, None).await, "commit one")?;
    ensure(ok(m.tag_target(&r, &latest).await, "tag")? == Some(one.digest.clone()), "the tag points at the manifest")?;
    let ci = r#"{"kind":"ci","repository":"octo/app"}"#;
    ok(m.commit_manifest(&r, &two, &[], std::slice::from_ref(&latest), 2, Some(ci)).await, "commit two")?;
    ensure(ok(m.tag_target(&r, &latest).await, "tag moved")? == Some(two.digest.clone()), "a tag moves")?;
    let pushers = ok(m.pushed_by(&r, &[one.digest.clone(), two.digest.clone()]).await, "pushed by")?;
    ensure(pushers == vec![(two.digest.clone(), ci.to_string())], "who pushed a version is kept with it")?;
    let elsewhere = ok(m.pushed_by(&repo(u, "m-elsewhere"), std::slice::from_ref(&two.digest)).await, "elsewhere")?;
    ensure(elsewhere.is_empty(), "who pushed a version is kept per repository")?;
    ensure(ok(m.pushed_by(&r, &[]).await, "pushed by none")?.is_empty(), "no versions, no pushers")?;
    let bare = ManifestRecord { inline: None, ..one.clone() };
    ensure(ok(m.linked_manifest(&r, &one.digest).await, "linked")? == Some(bare), "records load as saved")?;
    let by_digest = ok(m.find_manifest(&r, &Reference::Digest(one.digest.clone())).await, "find one")?;
    ensure(by_digest == Some(one.clone()), "a manifest read by digest carries its bytes")?;
    let by_tag = ok(m.find_manifest(&r, &Reference::Tag(latest.clone())).await, "find latest")?;
    ensure(by_tag.map(|t| t.digest) == Some(two.digest.clone()), "a manifest read by tag is the tag's")?;
    let missing = Reference::Tag(Tag::parse("missing").map_err(|e| e.to_string())?);
    ensure(ok(m.find_manifest(&r, &missing).await, "find missing")?.is_none(), "a missing tag names nothing")?;
    ensure(
        ok(m.referrers(&r, &subject).await, "referrers")? == vec![two.clone()],
        "referrers list manifests with the subject",
    )?;
    ensure(ok(m.referrers(&repo(u, "x"), &subject).await, "referrers x")?.is_empty(), "referrers are per repository")?;

    // Several tags in one commit; lookups of many digests in one call.
    let (v1, v2) = (Tag::parse("v1").map_err(|e| e.to_string())?, Tag::parse("v2").map_err(|e| e.to_string())?);
    let big = ManifestRecord { annotations: Annotations::InManifest, ..record("big", None) };
    ok(m.commit_manifest(&r, &big, &[], &[v1.clone(), v2.clone()], 2, None).await, "commit two tags")?;
    for t in [&v1, &v2] {
        ensure(ok(m.tag_target(&r, t).await, "tags")? == Some(big.digest.clone()), "every tag of a commit points")?;
    }
    ensure(ok(m.linked_manifest(&r, &big.digest).await, "big")? == Some(big.clone()), "annotations kept elsewhere")?;
    let many: Vec<Digest> = (0..2500).map(|i| digest(u, &format!("child{i}"))).chain([big.digest.clone()]).collect();
    let sizes = ok(m.linked_manifest_sizes(&r, &many).await, "sizes")?;
    ensure(sizes == vec![(big.digest.clone(), 4242)], "sizes of the linked manifests among many")?;
    let layer = BlobRecord { digest: digest(u, "m-layer"), object_key: format!("blobs/{u}-m-layer"), size: 1 };
    ok(m.commit_blob(&r, &layer, 1).await, "commit layer")?;
    let mut asked = many.clone();
    asked.insert(1200, layer.digest.clone());
    ensure(ok(m.unlinked_blobs(&r, &asked).await, "unlinked")? == many, "the unlinked blobs among many")?;
    ok(m.unlink_manifest(&r, &big.digest).await, "unlink big")?;

    for t in ["b", "a", "c"] {
        let tag = Tag::parse(t).map_err(|e| e.to_string())?;
        ok(m.commit_manifest(&r, &one, &[], std::slice::from_ref(&tag), 3, None).await, "tag more")?;
    }
    ensure(ok(m.list_tags(&r, None, 2).await, "list")? == ["a", "b"], "tags list in order with a limit")?;
    ensure(ok(m.list_tags(&r, Some("b"), 10).await, "list after")? == ["c", "latest"], "tags list after `last`")?;

    ensure(ok(m.unlink_manifest(&r, &one.digest).await, "unlink")?, "unlink reports a link")?;
    ensure(ok(m.list_tags(&r, None, 10).await, "list after unlink")? == ["latest"], "unlinking drops its tags")?;
    ensure(ok(m.linked_manifest(&r, &one.digest).await, "unlinked")?.is_none(), "unlinked manifests are not visible")?;
    ensure(ok(m.delete_tag(&r, &latest).await, "delete tag")?, "delete_tag reports the tag")?;
    ensure(!ok(m.delete_tag(&r, &latest).await, "delete tag again")?, "deleting a missing tag reports none")?;
    ensure(
        ok(m.linked_manifest(&r, &two.digest).await, "still linked")?.is_some(),
        "deleting a tag keeps the manifest",
    )?;

    // A blob a linked manifest needs is kept even when no repository links it.
    let needed = BlobRecord { digest: refs[0].clone(), object_key: format!("blobs/{u}-needed"), size: 1 };
    ok(m.commit_blob(&r, &needed, 1).await, "commit needed")?;
    ok(m.unlink_blob(&r, &needed.digest).await, "unlink needed")?;
    ok(m.commit_manifest(&r, &one, &refs, &[], 4, None).await, "relink one")?;
    ensure(!ok(m.forget_orphan(&needed.digest, u64::MAX / 2).await, "forget needed")?, "a needed blob is kept")?;
    ok(m.unlink_manifest(&r, &one.digest).await, "unlink one again")?;
    ensure(ok(m.forget_orphan(&needed.digest, u64::MAX / 2).await, "forget unneeded")?, "then it is an orphan")
}

async fn trash_contract<M: MetadataStore>(m: &M, u: &str) -> Check {
    let r = repo(u, "t");
    let tag = |t: &str| Tag::parse(t).map_err(|e| e.to_string());
    let record = |what: &str| ManifestRecord {
        digest: digest(u, what),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        size: 7,
        artifact_type: None,
        subject: None,
        annotations: Annotations::None,
        details: VersionDetails { total_size: 70, ..Default::default() },
        inline: None,
    };
    let (one, two, three) = (record("t1"), record("t2"), record("t3"));
    let layer = BlobRecord { digest: digest(u, "t-layer"), object_key: format!("blobs/{u}-t-layer"), size: 3 };
    ok(m.commit_blob(&r, &layer, 1).await, "commit layer")?;
    ok(m.commit_manifest(&r, &one, std::slice::from_ref(&layer.digest), &[tag("a")?], 10, None).await, "commit one")?;
    ok(m.commit_manifest(&r, &two, std::slice::from_ref(&layer.digest), &[tag("b")?], 20, None).await, "commit two")?;
    ok(m.commit_manifest(&r, &two, &[], &[tag("c")?], 20, None).await, "tag two again")?;
    ok(m.commit_manifest(&r, &three, &[], &[], 30, None).await, "commit three")?;

    let versions = ok(m.versions(&r, 10).await, "versions")?;
    let listed: Vec<(Digest, u64, Vec<String>)> =
        versions.iter().map(|v| (v.manifest.digest.clone(), v.pushed_ms, v.tags.clone())).collect();
    let expected = vec![
        (three.digest.clone(), 30, vec![]),
        (two.digest.clone(), 20, vec!["b".to_string(), "c".to_string()]),
        (one.digest.clone(), 10, vec!["a".to_string()]),
    ];
    ensure(listed == expected, "versions list newest first with their tags")?;
    ensure(versions[0].manifest == three, "versions carry their records")?;
    let current = ok(m.current_versions(&[repo(u, "none"), r.clone()]).await, "current versions")?;
    ensure(
        current.len() == 1 && current[0].0 == r && current[0].1.manifest == two && current[0].1.tags == ["b", "c"],
        "the current version is the newest tagged one",
    )?;
    ensure(ok(m.versions(&r, 1).await, "versions limit")?.len() == 1, "versions take a limit")?;

    let deletion = |id: &str, version: Option<&ManifestRecord>, at: u64| Deletion {
        id: format!("{u}-{id}"),
        repo: r.clone(),
        version: version.map(|v| v.digest.clone()),
        deleted_ms: at,
        deleted_by: "someone".into(),
        package: version.is_none().then(|| PackageSnapshot {
            visibility: Visibility::Public,
            created_ms: 1,
            created_by: Login::parse("someone").expect("a login"),
            collect_untagged: false,
            content_epoch: 0,
            collaborators: vec![],
        }),
        package_id: Some(format!("{u}-package")),
    };
    let missing = Deletion { version: Some(digest(u, "nothing")), ..deletion("v0", None, 40) };
    ensure(!ok(m.trash(&missing).await, "trash missing")?, "trashing a missing version changes nothing")?;
    let del_two = deletion("v2", Some(&two), 40);
    ensure(ok(m.trash(&del_two).await, "trash two")?, "a version can be trashed")?;
    ensure(ok(m.linked_manifest(&r, &two.digest).await, "two gone")?.is_none(), "a trashed version is not pullable")?;
    ensure(ok(m.list_tags(&r, None, 10).await, "tags")? == ["a"], "a trashed version's tags go with it")?;
    ensure(ok(m.deletions(&r).await, "deletions")? == vec![del_two.clone()], "deletions are listed as recorded")?;
    ensure(ok(m.restore(&del_two).await, "restore two")? == Restored::Yes, "a version can be restored")?;
    ensure(ok(m.versions(&r, 10).await, "versions again")? == versions, "a restore brings the version back exactly")?;
    ensure(ok(m.deletions(&r).await, "deletions after")?.is_empty(), "a restored deletion is gone")?;

    let del_two = deletion("v2b", Some(&two), 50);
    ok(m.trash(&del_two).await, "trash two again")?;
    ok(m.commit_manifest(&r, &one, &[], &[tag("b")?], 55, None).await, "reuse tag b")?;
    ensure(
        ok(m.restore(&del_two).await, "restore over tag")? == Restored::NameReused,
        "a reused tag blocks a restore",
    )?;
    ok(m.delete_tag(&r, &tag("b")?).await, "free tag b")?;
    ensure(ok(m.restore(&del_two).await, "restore freed")? == Restored::Yes, "a freed tag lets it restore")?;

    // What only deleted manifests needed leaves the repository with them.
    let own = BlobRecord { digest: digest(u, "t-own"), object_key: format!("blobs/{u}-t-own"), size: 2 };
    let four = record("t4");
    ok(m.commit_blob(&r, &own, 1).await, "commit own layer")?;
    let both = [layer.digest.clone(), own.digest.clone()];
    ok(m.commit_manifest(&r, &four, &both, &[], 45, None).await, "commit four")?;
    let del_four = deletion("v4", Some(&four), 46);
    ok(m.trash(&del_four).await, "trash four")?;
    ensure(ok(m.linked_blob(&r, &own.digest).await, "own gone")?.is_none(), "a trashed version's own blob goes")?;
    ensure(ok(m.linked_blob(&r, &layer.digest).await, "shared")?.is_some(), "a blob others need stays")?;
    ensure(!ok(m.forget_orphan(&own.digest, u64::MAX / 2).await, "kept")?, "trashed content keeps its own blob")?;
    ok(m.restore(&del_four).await, "restore four")?;
    ensure(ok(m.linked_blob(&r, &own.digest).await, "own back")? == Some(own.clone()), "restoring brings it back")?;
    ok(m.unlink_manifest(&r, &four.digest).await, "unlink four")?;
    ensure(ok(m.linked_blob(&r, &own.digest).await, "own unlinked")?.is_none(), "unlinking takes it too")?;
    ensure(ok(m.linked_blob(&r, &layer.digest).await, "shared stays")?.is_some(), "but not what others need")?;

    let never = deletion("never", None, 58);
    ensure(m.restore(&never).await.is_err(), "a deletion never recorded is not restored")?;
    let open = UploadSession {
        id: Digest::sha256_of(format!("{u}/open").as_bytes()).hex()[..32].to_string(),
        repo: r.clone(),
        object_key: format!("blobs/{u}-open"),
        multipart_id: Some("mp-open".into()),
        parts: vec![],
        received: 0,
        tail_len: 0,
        hash_state: vec![],
        staged_digest: None,
        created_ms: 59,
        updated_ms: 59,
    };
    ok(m.create_upload(&open).await, "open upload")?;
    let del_pkg = deletion("p", None, 60);
    ensure(ok(m.trash(&del_pkg).await, "trash package")?, "a package can be trashed")?;
    ensure(
        ok(m.upload(&r, &open.id).await, "upload kept")?.is_some(),
        "its open uploads stay, to expire and be cleaned up as any other",
    )?;
    ok(m.delete_upload(&open.id).await, "close the upload")?;
    ensure(!ok(m.repository_exists(&r).await, "exists")?, "a trashed package's repository is gone")?;
    ensure(ok(m.linked_blob(&r, &layer.digest).await, "blob")?.is_none(), "its blobs are not pullable")?;
    ensure(ok(m.versions(&r, 10).await, "no versions")?.is_empty(), "its versions are not listed")?;
    ensure(!ok(m.forget_orphan(&layer.digest, u64::MAX / 2).await, "orphan?")?, "trashed content keeps its blobs")?;
    ensure(ok(m.restore(&del_pkg).await, "restore package")? == Restored::Yes, "a package can be restored")?;
    ensure(ok(m.linked_blob(&r, &layer.digest).await, "blob back")? == Some(layer.clone()), "with its blobs")?;
    ensure(ok(m.versions(&r, 10).await, "versions back")?.len() == 3, "with its versions")?;

    let del_pkg = deletion("p2", None, 70);
    ok(m.trash(&del_pkg).await, "trash package again")?;
    ok(m.commit_manifest(&r, &three, &[], &[], 75, None).await, "reuse the name")?;
    ensure(ok(m.restore(&del_pkg).await, "restore reused")? == Restored::NameReused, "a reused name blocks a restore")?;
    ensure(
        ok(m.expired_deletions(71, 100).await, "expired")?.iter().any(|d| d.id == del_pkg.id),
        "old deletions are listed as expired",
    )?;
    ok(m.purge(&del_pkg).await, "purge")?;
    ok(m.unlink_manifest(&r, &three.digest).await, "unlink three")?;
    ensure(ok(m.deletions(&r).await, "purged")?.is_empty(), "a purged deletion is gone")?;
    ensure(ok(m.forget_orphan(&layer.digest, u64::MAX / 2).await, "collectable")?, "purged content frees its blobs")
}

/// A package's row and roles leave with its content and come back with it, in one step.
async fn package_rows_contract<M: MetadataStore, I: IdentityStore>(m: &M, id: &I, u: &str) -> Check {
    let r = repo(u, "rows");
    let owner = Login::parse("rows-owner").map_err(|e| format!("{e:?}"))?;
    let helper = Login::parse("rows-helper").map_err(|e| format!("{e:?}"))?;
    let one = BlobRecord { digest: digest(u, "rows-blob"), object_key: format!("blobs/{u}-rows"), size: 1 };
    ok(m.commit_blob(&r, &one, 1).await, "content")?;
    ok(id.create_package(&r, &owner, 1).await, "package")?;
    ok(id.set_collaborator(&r, &helper, Role::Write).await, "role")?;
    ok(id.set_visibility(&r, Visibility::Public).await, "public")?;
    let package = ok(id.package(&r).await, "read")?.ok_or("the package exists")?;
    let snapshot = PackageSnapshot::of(&package, ok(id.collaborators(&r).await, "roles")?);
    let deletion = |name: &str, at: u64| Deletion {
        id: format!("{u}-{name}"),
        repo: r.clone(),
        version: None,
        deleted_ms: at,
        deleted_by: owner.to_string(),
        package: Some(snapshot.clone()),
        package_id: Some(package.id.clone()),
    };
    let first = deletion("rows1", 2);
    ok(m.trash(&first).await, "trash")?;
    ensure(ok(id.package(&r).await, "gone")?.is_none(), "a trashed package's row goes with its content")?;
    ensure(ok(id.collaborators(&r).await, "no roles")?.is_empty(), "and its roles")?;
    ensure(ok(m.restore(&first).await, "restore")? == Restored::Yes, "it restores")?;
    ensure(ok(id.package(&r).await, "back")? == Some(package.clone()), "with its row as it was")?;
    ensure(ok(id.collaborators(&r).await, "roles back")? == snapshot.collaborators, "and its roles")?;

    // A package row made meanwhile (a first push that has not stored anything yet) holds
    // the name as content would.
    let second = deletion("rows2", 3);
    ok(m.trash(&second).await, "trash again")?;
    ok(id.create_package(&r, &helper, 4).await, "name taken")?;
    ensure(ok(m.restore(&second).await, "restore taken")? == Restored::NameReused, "a new package blocks a restore")?;
    ensure(ok(id.package(&r).await, "new one")?.is_some_and(|p| p.created_by == helper), "and stays as it is")?;
    ensure(ok(m.linked_blob(&r, &one.digest).await, "content")?.is_none(), "the old content stays out of sight")?;
    ok(m.purge(&second).await, "purge")
}

async fn untagged_contract<M: MetadataStore>(m: &M, u: &str) -> Check {
    let r = repo(u, "u");
    let record = |what: &str, subject: Option<Digest>| ManifestRecord {
        digest: digest(u, what),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        size: 5,
        artifact_type: None,
        subject,
        annotations: Annotations::None,
        details: VersionDetails::default(),
        inline: None,
    };
    let (old, child, index, tagged) =
        (record("u-old", None), record("u-child", None), record("u-index", None), record("u-tagged", None));
    let referrer = record("u-sig", Some(tagged.digest.clone()));
    let v1 = Tag::parse("v1").map_err(|e| e.to_string())?;
    ok(m.commit_manifest(&r, &old, &[], &[], 10, None).await, "old")?;
    ok(m.commit_manifest(&r, &child, &[], &[], 10, None).await, "child")?;
    ok(m.commit_manifest(&r, &index, std::slice::from_ref(&child.digest), &[], 10, None).await, "index")?;
    ok(m.commit_manifest(&r, &tagged, &[], std::slice::from_ref(&v1), 10, None).await, "tagged")?;
    ok(m.commit_manifest(&r, &referrer, &[], &[], 10, None).await, "referrer")?;
    let young = record("u-young", None);
    ok(m.commit_manifest(&r, &young, &[], &[], 30, None).await, "young")?;

    let found = ok(m.untagged_manifests(&r, 20, 100).await, "untagged")?;
    let mut expected = vec![old.digest.clone(), index.digest.clone()];
    expected.sort();
    let mut sorted = found.clone();
    sorted.sort();
    ensure(sorted == expected, "untagged: not tagged, not in a linked index, not a referrer, old enough")?;
    ensure(ok(m.untagged_manifests(&r, 20, 1).await, "limit")?.len() == 1, "untagged takes a limit")?;
    let v0 = Tag::parse("v0").map_err(|e| e.to_string())?;
    ok(m.commit_manifest(&r, &old, &[], std::slice::from_ref(&v0), 25, None).await, "tag old meanwhile")?;
    ensure(!ok(m.forget_untagged(&r, &old.digest, 20).await, "forget tagged")?, "a manifest tagged meanwhile stays")?;
    ensure(ok(m.forget_untagged(&r, &index.digest, 20).await, "forget index")?, "an untagged one goes")?;
    ensure(ok(m.linked_manifest(&r, &index.digest).await, "gone")?.is_none(), "and is no longer linked")?;
    ensure(
        ok(m.untagged_manifests(&r, 20, 100).await, "child freed")? == vec![child.digest.clone()],
        "an index's children are untagged once the index is gone",
    )
}

#[cfg(test)]
mod tests {
    use crate::auth::memory::MemoryIdentity;
    use crate::oci::DigestHasher;
    use crate::registry::memory::{MemoryMetadata, MemoryObjects};

    #[test]
    fn memory_ports_keep_the_contract() {
        let identity = MemoryIdentity::default();
        let meta = MemoryMetadata::sharing(&identity);
        let failures = futures_executor::block_on(super::run::<_, _, _, DigestHasher>(
            &meta,
            &MemoryObjects::default(),
            &identity,
            "t1",
        ));
        assert!(failures.is_empty(), "{failures:#?}");
    }
}
