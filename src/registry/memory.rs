//! In-memory implementations of every port, for fast native tests of the core. They
//! keep the same rules as the real ones (first blob writer wins, guarded session saves,
//! equal-size parts) so the shared contract tests hold for both.

use super::ports::*;
use crate::auth::memory::MemoryIdentity;
use crate::error::{RegistryError, Result};
use crate::oci::digest::Algorithm;
use crate::oci::range::ByteSpan;
use crate::oci::{Digest, Reference, RepoName, Tag};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A clock that moves only when told.
#[derive(Default)]
pub struct ManualClock(pub Cell<u64>);

impl ManualClock {
    pub fn advance(&self, ms: u64) {
        self.0.set(self.0.get() + ms);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
}

#[derive(Default)]
struct Multipart {
    key: String,
    parts: BTreeMap<u16, Vec<u8>>,
}

/// Objects in a map; multipart uploads assembled on completion.
#[derive(Default)]
pub struct MemoryObjects {
    objects: RefCell<HashMap<String, Vec<u8>>>,
    multiparts: RefCell<HashMap<String, Multipart>>,
    next_id: Cell<u64>,
    /// Operations made so far: each one an R2 round trip when deployed.
    calls: Cell<u32>,
}

impl MemoryObjects {
    pub fn calls(&self) -> u32 {
        self.calls.get()
    }
    pub fn keys(&self) -> BTreeSet<String> {
        self.objects.borrow().keys().cloned().collect()
    }
    pub fn open_multiparts(&self) -> usize {
        self.multiparts.borrow().len()
    }
}

impl ObjectStore for MemoryObjects {
    type Reader = Vec<u8>;

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        self.calls.set(self.calls.get() + 1);
        self.objects.borrow_mut().insert(key.to_string(), bytes);
        Ok(())
    }

    async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.calls.set(self.calls.get() + 1);
        Ok(self.objects.borrow().get(key).cloned())
    }

    async fn open(&self, key: &str, span: Option<ByteSpan>) -> Result<Option<Vec<u8>>> {
        self.calls.set(self.calls.get() + 1);
        Ok(self.objects.borrow().get(key).map(|b| match span {
            Some(s) => b[s.start as usize..(s.end as usize).min(b.len())].to_vec(),
            None => b.clone(),
        }))
    }

    async fn open_segments(&self, key: &str, segments: Vec<Segment>) -> Result<Vec<u8>> {
        self.calls.set(self.calls.get() + 1);
        let objects = self.objects.borrow();
        let object = objects.get(key).ok_or_else(|| RegistryError::internal(format!("object {key} is missing")))?;
        let mut out = Vec::new();
        for segment in segments {
            match segment {
                Segment::Bytes(b) => out.extend(b),
                Segment::Span(s) => out.extend_from_slice(&object[s.start as usize..s.end as usize]),
            }
        }
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.calls.set(self.calls.get() + 1);
        self.objects.borrow_mut().remove(key);
        Ok(())
    }

    async fn hash_object(&self, key: &str, algorithm: Algorithm) -> Result<Option<Digest>> {
        self.calls.set(self.calls.get() + 1);
        Ok(self.objects.borrow().get(key).map(|b| Digest::of(algorithm, b)))
    }

    async fn create_multipart(&self, key: &str) -> Result<String> {
        self.calls.set(self.calls.get() + 1);
        let id = format!("mp{}", self.next_id.get());
        self.next_id.set(self.next_id.get() + 1);
        self.multiparts.borrow_mut().insert(id.clone(), Multipart { key: key.to_string(), ..Default::default() });
        Ok(id)
    }

    async fn upload_part(&self, key: &str, upload_id: &str, number: u16, bytes: Vec<u8>) -> Result<PartTag> {
        self.calls.set(self.calls.get() + 1);
        let mut mps = self.multiparts.borrow_mut();
        let mp = mps
            .get_mut(upload_id)
            .filter(|m| m.key == key)
            .ok_or_else(|| RegistryError::internal("no such multipart upload"))?;
        let etag = part_etag(&bytes);
        mp.parts.insert(number, bytes);
        Ok(PartTag { number, etag })
    }

    async fn complete_multipart(&self, key: &str, upload_id: &str, parts: &[PartTag]) -> Result<()> {
        self.calls.set(self.calls.get() + 1);
        let mp = self
            .multiparts
            .borrow_mut()
            .remove(upload_id)
            .ok_or_else(|| RegistryError::internal("no such multipart upload"))?;
        let sizes: Vec<usize> = parts.iter().map(|p| mp.parts.get(&p.number).map_or(0, Vec::len)).collect();
        // R2's rule: every part but the last has the same size.
        if sizes.len() > 1 && sizes[..sizes.len() - 1].iter().any(|s| *s != sizes[0]) {
            return Err(RegistryError::internal("multipart parts of unequal size"));
        }
        let mut whole = Vec::new();
        for p in parts {
            let bytes = mp.parts.get(&p.number).ok_or_else(|| RegistryError::internal("missing part"))?;
            // R2's rule too: a part rewritten since its etag was handed out fails.
            if part_etag(bytes) != p.etag {
                return Err(RegistryError::internal("a part's etag does not match"));
            }
            whole.extend_from_slice(bytes);
        }
        self.objects.borrow_mut().insert(key.to_string(), whole);
        Ok(())
    }

    async fn abort_multipart(&self, _key: &str, upload_id: &str) -> Result<()> {
        self.calls.set(self.calls.get() + 1);
        self.multiparts.borrow_mut().remove(upload_id);
        Ok(())
    }
}

fn part_etag(bytes: &[u8]) -> String {
    Digest::sha256_of(bytes).hex()[..16].to_string()
}

#[derive(Default)]
struct MetaState {
    blobs: HashMap<Digest, BlobRecord>,
    blob_created: HashMap<Digest, u64>,
    /// Links of blobs into repositories, with when they were made.
    blob_links: BTreeMap<(RepoName, Digest), u64>,
    uploads: HashMap<String, UploadSession>,
    manifests: HashMap<Digest, ManifestRecord>,
    references: HashMap<Digest, Vec<Digest>>,
    /// Links of manifests into repositories, with when they were pushed.
    manifest_links: BTreeMap<(RepoName, Digest), u64>,
    tags: BTreeMap<(RepoName, String), Digest>,
    repositories: BTreeSet<RepoName>,
    trash: BTreeMap<String, Trashed>,
    /// Who pushed each version, as recorded with its push.
    pushed_by: HashMap<(RepoName, Digest), String>,
}

/// What a deletion took out of sight.
#[derive(Default)]
struct Trashed {
    deletion: Option<Deletion>,
    repository: bool,
    blob_links: Vec<(Digest, u64)>,
    manifest_links: Vec<(Digest, u64)>,
    tags: Vec<(String, Digest)>,
}

impl MetaState {
    fn is_orphan(&self, digest: &Digest, before_ms: u64) -> bool {
        let old = self.blob_created.get(digest).is_some_and(|t| *t < before_ms);
        let trashed = self.trash.values();
        // A link keeps a blob only during the grace period: after it, only manifests do.
        let linked = self.blob_links.iter().any(|((_, d), at)| d == digest && *at >= before_ms)
            || trashed.clone().any(|t| t.blob_links.iter().any(|(d, at)| d == digest && *at >= before_ms));
        let manifest_kept = |m: &Digest| {
            self.manifest_links.keys().any(|(_, d)| d == m)
                || trashed.clone().any(|t| t.manifest_links.iter().any(|(d, _)| d == m))
        };
        let needed = self.references.iter().any(|(m, children)| children.contains(digest) && manifest_kept(m));
        self.blobs.contains_key(digest) && old && !linked && !needed
    }
}

impl MetaState {
    /// Takes the manifests of `repo` that `in_scope` names out of sight, with the tags on
    /// them and the blob links only they needed.
    fn take_versions(&mut self, repo: &RepoName, in_scope: impl Fn(&Digest) -> bool) -> Trashed {
        let mut t = Trashed {
            manifest_links: self
                .manifest_links
                .iter()
                .filter(|((r, d), _)| r == repo && in_scope(d))
                .map(|((_, d), p)| (d.clone(), *p))
                .collect(),
            tags: self
                .tags
                .iter()
                .filter(|((r, _), d)| r == repo && in_scope(d))
                .map(|((_, n), d)| (n.clone(), d.clone()))
                .collect(),
            ..Default::default()
        };
        for (d, _) in &t.manifest_links {
            self.manifest_links.remove(&(repo.clone(), d.clone()));
        }
        for (n, _) in &t.tags {
            self.tags.remove(&(repo.clone(), n.clone()));
        }
        let gone: Vec<Digest> = t.manifest_links.iter().map(|(d, _)| d.clone()).collect();
        for blob in self.links_only_needed_by(repo, &gone) {
            if let Some(at) = self.blob_links.remove(&(repo.clone(), blob.clone())) {
                t.blob_links.push((blob, at));
            }
        }
        t
    }

    /// The blobs linked in `repo` that `gone` needed and no manifest still linked there
    /// needs: they leave the repository with it.
    fn links_only_needed_by(&self, repo: &RepoName, gone: &[Digest]) -> Vec<Digest> {
        let needed_here = |blob: &Digest| {
            self.manifest_links
                .keys()
                .any(|(r, m)| r == repo && self.references.get(m).is_some_and(|children| children.contains(blob)))
        };
        let mut found: Vec<Digest> = gone
            .iter()
            .flat_map(|m| self.references.get(m).into_iter().flatten())
            .filter(|b| self.blob_links.contains_key(&(repo.clone(), (*b).clone())) && !needed_here(b))
            .cloned()
            .collect();
        found.sort_by_key(|d| d.to_string());
        found.dedup();
        found
    }

    fn is_untagged(&self, repo: &RepoName, digest: &Digest, before_ms: u64) -> bool {
        let key = (repo.clone(), digest.clone());
        let old = self.manifest_links.get(&key).is_some_and(|pushed| *pushed < before_ms);
        let tagged = self.tags.iter().any(|((r, _), d)| r == repo && d == digest);
        let linked_here = |m: &Digest| self.manifest_links.contains_key(&(repo.clone(), m.clone()));
        let in_index =
            self.references.iter().any(|(parent, children)| children.contains(digest) && linked_here(parent));
        let refers = self.manifests.get(digest).and_then(|m| m.subject.as_ref()).is_some_and(linked_here);
        old && !tagged && !in_index && !refers
    }
}

/// All metadata in maps.
#[derive(Default)]
pub struct MemoryMetadata {
    state: RefCell<MetaState>,
    rules: MemoryRules,
    insight: MemoryInsight,
    /// The identity store whose package rows move with a package's content, as they do
    /// within one D1 database.
    identity: MemoryIdentity,
}

impl MemoryMetadata {
    /// Metadata beside `identity`, sharing its package rows.
    pub fn sharing(identity: &MemoryIdentity) -> Self {
        MemoryMetadata {
            state: RefCell::default(),
            rules: MemoryRules::default(),
            insight: MemoryInsight::default(),
            identity: identity.clone(),
        }
    }
}

impl BlobIndex for MemoryMetadata {
    async fn linked_blob(&self, repo: &RepoName, digest: &Digest) -> Result<Option<BlobRecord>> {
        let s = self.state.borrow();
        Ok(s.blob_links.contains_key(&(repo.clone(), digest.clone())).then(|| s.blobs.get(digest).cloned()).flatten())
    }

    async fn unlinked_blobs(&self, repo: &RepoName, digests: &[Digest]) -> Result<Vec<Digest>> {
        let s = self.state.borrow();
        let linked = |d: &Digest| s.blob_links.contains_key(&(repo.clone(), d.clone())) && s.blobs.contains_key(d);
        Ok(digests.iter().filter(|d| !linked(d)).cloned().collect())
    }

    async fn commit_blob(&self, repo: &RepoName, blob: &BlobRecord, now_ms: u64) -> Result<BlobRecord> {
        let mut s = self.state.borrow_mut();
        s.blob_created.entry(blob.digest.clone()).or_insert(now_ms);
        let standing = s.blobs.entry(blob.digest.clone()).or_insert_with(|| blob.clone()).clone();
        s.blob_links.insert((repo.clone(), blob.digest.clone()), now_ms);
        s.repositories.insert(repo.clone());
        Ok(standing)
    }

    async fn link_blob(&self, repo: &RepoName, digest: &Digest, now_ms: u64) -> Result<()> {
        let mut s = self.state.borrow_mut();
        if !s.blobs.contains_key(digest) {
            return Err(RegistryError::BlobUnknown);
        }
        s.blob_links.insert((repo.clone(), digest.clone()), now_ms);
        s.repositories.insert(repo.clone());
        Ok(())
    }

    async fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        Ok(self.state.borrow_mut().blob_links.remove(&(repo.clone(), digest.clone())).is_some())
    }

    async fn orphaned_blobs(&self, before_ms: u64, limit: u32) -> Result<Vec<BlobRecord>> {
        let s = self.state.borrow();
        let mut found: Vec<(u64, BlobRecord)> = s
            .blobs
            .values()
            .filter(|b| s.is_orphan(&b.digest, before_ms))
            .map(|b| (s.blob_created[&b.digest], b.clone()))
            .collect();
        found.sort_by(|a, b| (a.0, &a.1.digest).cmp(&(b.0, &b.1.digest)));
        Ok(found.into_iter().take(limit as usize).map(|(_, b)| b).collect())
    }

    async fn forget_orphan(&self, digest: &Digest, before_ms: u64) -> Result<bool> {
        let mut s = self.state.borrow_mut();
        if !s.is_orphan(digest, before_ms) {
            return Ok(false);
        }
        s.blobs.remove(digest);
        s.blob_created.remove(digest);
        s.blob_links.retain(|(_, d), _| d != digest);
        for t in s.trash.values_mut() {
            t.blob_links.retain(|(d, _)| d != digest);
        }
        Ok(true)
    }
}

impl UploadIndex for MemoryMetadata {
    async fn create_upload(&self, session: &UploadSession) -> Result<()> {
        self.state.borrow_mut().uploads.insert(session.id.clone(), session.clone());
        Ok(())
    }

    async fn mount_or_start(
        &self,
        from: &RepoName,
        digest: &Digest,
        session: &UploadSession,
        now_ms: u64,
    ) -> Result<bool> {
        if self.linked_blob(from, digest).await?.is_some() {
            self.link_blob(&session.repo, digest, now_ms).await?;
            return Ok(true);
        }
        self.create_upload(session).await?;
        Ok(false)
    }

    async fn upload(&self, repo: &RepoName, id: &str) -> Result<Option<UploadSession>> {
        Ok(self.state.borrow().uploads.get(id).filter(|s| &s.repo == repo).cloned())
    }

    async fn save_upload(&self, session: &UploadSession, expected_received: u64) -> Result<bool> {
        let mut s = self.state.borrow_mut();
        match s.uploads.get_mut(&session.id) {
            Some(current) if current.received == expected_received => {
                *current = session.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn record_multipart(&self, id: &str, multipart_id: &str) -> Result<bool> {
        let mut s = self.state.borrow_mut();
        match s.uploads.get_mut(id) {
            Some(u) if u.multipart_id.is_none() => {
                u.multipart_id = Some(multipart_id.to_string());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_upload(&self, id: &str) -> Result<()> {
        self.state.borrow_mut().uploads.remove(id);
        Ok(())
    }

    async fn close_upload(&self, saved: &UploadSession, blob: &BlobRecord, now_ms: u64) -> Result<Closed> {
        let unchanged = self
            .state
            .borrow()
            .uploads
            .get(&saved.id)
            .is_some_and(|u| u.received == saved.received && u.updated_ms == saved.updated_ms);
        if !unchanged {
            return Ok(Closed::Changed(self.state.borrow().blobs.get(&blob.digest).cloned()));
        }
        let standing = self.commit_blob(&saved.repo, blob, now_ms).await?;
        self.state.borrow_mut().uploads.remove(&saved.id);
        Ok(Closed::Yes(standing))
    }

    async fn close_staged(
        &self,
        repo: &RepoName,
        id: &str,
        digest: &Digest,
        ttl_ms: u64,
        now_ms: u64,
    ) -> Result<StagedClose> {
        let session = self.upload(repo, id).await?;
        let live = |s: &&UploadSession| s.updated_ms + ttl_ms > now_ms;
        let Some(s) = session.as_ref().filter(live).filter(|s| s.staged_digest.as_ref() == Some(digest)) else {
            return Ok(StagedClose::Open(session));
        };
        let staged_key = super::keys::upload_tail(s);
        let blob = BlobRecord { digest: digest.clone(), object_key: staged_key.clone(), size: s.received };
        let standing = self.commit_blob(repo, &blob, now_ms).await?;
        self.state.borrow_mut().uploads.remove(id);
        Ok(StagedClose::Closed { standing, staged_key })
    }

    async fn claim_expired(&self, id: &str, before_ms: u64) -> Result<bool> {
        let mut s = self.state.borrow_mut();
        match s.uploads.get_mut(id) {
            Some(u) if u.updated_ms < before_ms => {
                u.updated_ms = 0;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn expired_uploads(&self, before_ms: u64, limit: u32) -> Result<Vec<UploadSession>> {
        let s = self.state.borrow();
        let mut old: Vec<UploadSession> = s.uploads.values().filter(|u| u.updated_ms < before_ms).cloned().collect();
        old.sort_by_key(|u| u.updated_ms);
        old.truncate(limit as usize);
        Ok(old)
    }
}

impl ManifestIndex for MemoryMetadata {
    async fn commit_manifest(
        &self,
        repo: &RepoName,
        m: &ManifestRecord,
        references: &[Digest],
        tags: &[Tag],
        now_ms: u64,
        pushed_by: Option<&str>,
    ) -> Result<()> {
        let mut s = self.state.borrow_mut();
        if let Some(who) = pushed_by {
            s.pushed_by.insert((repo.clone(), m.digest.clone()), who.to_string());
        }
        s.references.entry(m.digest.clone()).or_insert_with(|| references.to_vec());
        let kept = s.manifests.entry(m.digest.clone()).or_insert_with(|| m.clone());
        if kept.inline.is_none() {
            kept.inline = m.inline.clone();
        }
        s.manifest_links.insert((repo.clone(), m.digest.clone()), now_ms);
        s.repositories.insert(repo.clone());
        // Every tag that may move moves; an immutable one held elsewhere stays, and is told.
        let mut refused = None;
        for t in tags {
            let key = (repo.clone(), t.as_str().to_string());
            let immutable = self.rules.immutable.borrow().get(repo).is_some_and(|p| p.matching(t.as_str()).is_some());
            if immutable && s.tags.get(&key).is_some_and(|d| d != &m.digest) {
                refused.get_or_insert(t);
                continue;
            }
            s.tags.insert(key, m.digest.clone());
        }
        match refused {
            Some(t) => Err(RegistryError::DeniedBecause(format!("tag {t} is immutable"))),
            None => Ok(()),
        }
    }

    async fn linked_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<Option<ManifestRecord>> {
        // As D1 does, only `find_manifest` carries the bytes.
        let found = self.find_manifest(repo, &Reference::Digest(digest.clone())).await?;
        Ok(found.map(|m| ManifestRecord { inline: None, ..m }))
    }

    async fn find_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<Option<ManifestRecord>> {
        let s = self.state.borrow();
        let digest = match reference {
            Reference::Digest(d) => d.clone(),
            Reference::Tag(t) => match s.tags.get(&(repo.clone(), t.as_str().to_string())) {
                Some(d) => d.clone(),
                None => return Ok(None),
            },
        };
        Ok(s.manifest_links
            .contains_key(&(repo.clone(), digest.clone()))
            .then(|| s.manifests.get(&digest).cloned())
            .flatten())
    }

    async fn pushed_by(&self, repo: &RepoName, digests: &[Digest]) -> Result<Vec<(Digest, String)>> {
        let s = self.state.borrow();
        Ok(digests
            .iter()
            .filter_map(|d| s.pushed_by.get(&(repo.clone(), d.clone())).map(|w| (d.clone(), w.clone())))
            .collect())
    }

    async fn linked_manifest_sizes(&self, repo: &RepoName, digests: &[Digest]) -> Result<Vec<(Digest, u64)>> {
        let s = self.state.borrow();
        Ok(digests
            .iter()
            .filter(|d| s.manifest_links.contains_key(&(repo.clone(), (*d).clone())))
            .filter_map(|d| s.manifests.get(d).map(|m| (d.clone(), m.details.total_size)))
            .collect())
    }

    async fn tag_target(&self, repo: &RepoName, tag: &Tag) -> Result<Option<Digest>> {
        Ok(self.state.borrow().tags.get(&(repo.clone(), tag.as_str().to_string())).cloned())
    }

    async fn list_tags(&self, repo: &RepoName, last: Option<&str>, limit: u32) -> Result<Vec<String>> {
        let s = self.state.borrow();
        Ok(s.tags
            .keys()
            .filter(|(r, t)| r == repo && last.is_none_or(|l| t.as_str() > l))
            .map(|(_, t)| t.clone())
            .take(limit as usize)
            .collect())
    }

    async fn referrers(&self, repo: &RepoName, subject: &Digest) -> Result<Vec<ManifestRecord>> {
        let s = self.state.borrow();
        Ok(s.manifest_links
            .keys()
            .filter(|(r, _)| r == repo)
            .filter_map(|(_, d)| s.manifests.get(d))
            .filter(|m| m.subject.as_ref() == Some(subject))
            .cloned()
            .collect())
    }

    async fn unlink_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        let mut s = self.state.borrow_mut();
        let existed = s.manifest_links.remove(&(repo.clone(), digest.clone())).is_some();
        s.tags.retain(|(r, _), d| !(r == repo && d == digest));
        for blob in s.links_only_needed_by(repo, std::slice::from_ref(digest)) {
            s.blob_links.remove(&(repo.clone(), blob));
        }
        Ok(existed)
    }

    async fn delete_tag(&self, repo: &RepoName, tag: &Tag) -> Result<bool> {
        Ok(self.state.borrow_mut().tags.remove(&(repo.clone(), tag.as_str().to_string())).is_some())
    }

    async fn repository_exists(&self, repo: &RepoName) -> Result<bool> {
        Ok(self.state.borrow().repositories.contains(repo))
    }

    async fn untagged_manifests(&self, repo: &RepoName, before_ms: u64, limit: u32) -> Result<Vec<Digest>> {
        let s = self.state.borrow();
        let mut found: Vec<(u64, Digest)> = s
            .manifest_links
            .iter()
            .filter(|((r, d), _)| r == repo && s.is_untagged(repo, d, before_ms))
            .map(|((_, d), pushed)| (*pushed, d.clone()))
            .collect();
        found.sort();
        Ok(found.into_iter().take(limit as usize).map(|(_, d)| d).collect())
    }

    async fn forget_untagged(&self, repo: &RepoName, digest: &Digest, before_ms: u64) -> Result<bool> {
        let mut s = self.state.borrow_mut();
        if !s.is_untagged(repo, digest, before_ms) {
            return Ok(false);
        }
        Ok(s.manifest_links.remove(&(repo.clone(), digest.clone())).is_some())
    }

    async fn versions(&self, repo: &RepoName, limit: u32) -> Result<Vec<Version>> {
        let s = self.state.borrow();
        let mut found: Vec<Version> = s
            .manifest_links
            .iter()
            .filter(|((r, _), _)| r == repo)
            .filter_map(|((_, d), pushed)| {
                let tags = s.tags.iter().filter(|((r, _), t)| r == repo && *t == d).map(|((_, t), _)| t.clone());
                Some(Version { manifest: s.manifests.get(d)?.clone(), pushed_ms: *pushed, tags: tags.collect() })
            })
            .collect();
        found.sort_by(|a, b| b.pushed_ms.cmp(&a.pushed_ms).then_with(|| a.manifest.digest.cmp(&b.manifest.digest)));
        found.truncate(limit as usize);
        Ok(found)
    }

    async fn current_versions(&self, repos: &[RepoName]) -> Result<Vec<(RepoName, Version)>> {
        let mut out = vec![];
        for repo in repos {
            let all = self.versions(repo, u32::MAX).await?;
            if let Some(v) = all.iter().find(|v| !v.tags.is_empty()).or(all.first()) {
                out.push((repo.clone(), v.clone()));
            }
        }
        Ok(out)
    }
}

impl TrashIndex for MemoryMetadata {
    async fn trash(&self, deletion: &Deletion) -> Result<bool> {
        let mut s = self.state.borrow_mut();
        let repo = &deletion.repo;
        let mut t = match &deletion.version {
            Some(v) if !s.manifest_links.contains_key(&(repo.clone(), v.clone())) => return Ok(false),
            Some(v) => s.take_versions(repo, |d| d == v),
            None => s.take_versions(repo, |_| true),
        };
        if deletion.version.is_none() {
            // The whole package: every link goes, needed or not.
            t.blob_links
                .extend(s.blob_links.iter().filter(|((r, _), _)| r == repo).map(|((_, d), at)| (d.clone(), *at)));
            s.blob_links.retain(|(r, _), _| r != repo);
            t.repository = s.repositories.remove(repo);
            self.identity.take_package(repo);
        }
        t.deletion = Some(deletion.clone());
        s.trash.insert(deletion.id.clone(), t);
        Ok(true)
    }

    async fn deletions(&self, repo: &RepoName) -> Result<Vec<Deletion>> {
        let s = self.state.borrow();
        let mut found: Vec<Deletion> =
            s.trash.values().filter_map(|t| t.deletion.clone()).filter(|d| &d.repo == repo).collect();
        found.sort_by_key(|d| std::cmp::Reverse(d.deleted_ms));
        Ok(found)
    }

    async fn restore(&self, deletion: &Deletion) -> Result<Restored> {
        let mut s = self.state.borrow_mut();
        let repo = &deletion.repo;
        let Some(t) = s.trash.get(&deletion.id) else { return Err(RegistryError::NotFound("deletion".into())) };
        let reused = match &deletion.version {
            None => s.repositories.contains(repo) || self.identity.has_package(repo),
            // Of a group, only the version itself and its tags must be free: an image it
            // held that is in the package again (another index lists it) simply stays.
            Some(v) => {
                !s.repositories.contains(repo)
                    || s.manifest_links.contains_key(&(repo.clone(), v.clone()))
                    || t.tags.iter().any(|(n, _)| s.tags.contains_key(&(repo.clone(), n.clone())))
            }
        };
        if reused {
            return Ok(Restored::NameReused);
        }
        let t = s.trash.remove(&deletion.id).unwrap_or_default();
        for (d, pushed) in t.manifest_links {
            s.manifest_links.entry((repo.clone(), d)).or_insert(pushed);
        }
        for (n, d) in t.tags {
            s.tags.insert((repo.clone(), n), d);
        }
        for (d, at) in t.blob_links {
            s.blob_links.insert((repo.clone(), d), at);
        }
        if t.repository {
            s.repositories.insert(repo.clone());
        }
        if let (None, Some(package)) = (&deletion.version, &deletion.package) {
            // The same package again, under its id (a deletion older than ids: a new one).
            let id = deletion.package_id.clone().unwrap_or_else(|| format!("d-{}", deletion.id));
            self.identity.put_package(package.package(repo, id), &package.collaborators);
        }
        Ok(Restored::Yes)
    }

    async fn expired_deletions(&self, before_ms: u64, limit: u32) -> Result<Vec<Deletion>> {
        let s = self.state.borrow();
        let mut found: Vec<Deletion> =
            s.trash.values().filter_map(|t| t.deletion.clone()).filter(|d| d.deleted_ms < before_ms).collect();
        found.sort_by_key(|d| d.deleted_ms);
        found.truncate(limit as usize);
        Ok(found)
    }

    async fn purge(&self, deletion: &Deletion) -> Result<()> {
        self.state.borrow_mut().trash.remove(&deletion.id);
        Ok(())
    }
}

/// Lifecycle rules and cursors, beside the metadata they judge.
#[derive(Default)]
pub struct MemoryRules {
    retention: RefCell<HashMap<String, crate::lifecycle::retention::RetentionPolicy>>,
    immutable: RefCell<HashMap<RepoName, crate::lifecycle::pattern::TagPatterns>>,
    cursors: RefCell<HashMap<String, String>>,
}

impl super::lifecycle::LifecycleIndex for MemoryMetadata {
    async fn retention(
        &self,
        scope: &super::lifecycle::Scope,
    ) -> Result<Option<crate::lifecycle::retention::RetentionPolicy>> {
        Ok(self.rules.retention.borrow().get(scope.key()).cloned())
    }

    async fn set_retention(
        &self,
        scope: &super::lifecycle::Scope,
        policy: Option<&crate::lifecycle::retention::RetentionPolicy>,
        _now_ms: u64,
    ) -> Result<()> {
        let mut all = self.rules.retention.borrow_mut();
        match policy {
            Some(p) => all.insert(scope.key().to_string(), p.clone()),
            None => all.remove(scope.key()),
        };
        Ok(())
    }

    async fn immutable_tags(&self, repo: &RepoName) -> Result<crate::lifecycle::pattern::TagPatterns> {
        Ok(self.rules.immutable.borrow().get(repo).cloned().unwrap_or_default())
    }

    async fn set_immutable_tags(
        &self,
        repo: &RepoName,
        patterns: &crate::lifecycle::pattern::TagPatterns,
        _now_ms: u64,
    ) -> Result<()> {
        self.rules.immutable.borrow_mut().insert(repo.clone(), patterns.clone());
        Ok(())
    }

    async fn tag_state(
        &self,
        repo: &RepoName,
        tag: &Tag,
    ) -> Result<(crate::lifecycle::pattern::TagPatterns, Option<Digest>)> {
        Ok((self.immutable_tags(repo).await?, self.tag_target(repo, tag).await?))
    }

    async fn tags_of(&self, repo: &RepoName, digest: &Digest) -> Result<Vec<String>> {
        let s = self.state.borrow();
        Ok(s.tags.iter().filter(|((r, _), d)| r == repo && *d == digest).map(|((_, t), _)| t.clone()).collect())
    }

    async fn retained_repositories(&self, after: &str, limit: u32) -> Result<Vec<RepoName>> {
        let rules = self.rules.retention.borrow();
        let s = self.state.borrow();
        Ok(s.repositories
            .iter()
            .filter(|r| r.as_str() > after && (rules.contains_key(r.as_str()) || rules.contains_key(r.namespace())))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn version_graph(&self, repo: &RepoName, limit: u32) -> Result<Vec<crate::lifecycle::retention::Node>> {
        let versions = self.versions(repo, limit).await?;
        let s = self.state.borrow();
        Ok(versions
            .into_iter()
            .map(|v| {
                let digest = v.manifest.digest;
                let children = s.references.get(&digest).cloned().unwrap_or_default();
                let children = children.into_iter().filter(|c| s.manifests.contains_key(c)).collect();
                crate::lifecycle::retention::Node {
                    subject: v.manifest.subject,
                    digest,
                    pushed_ms: v.pushed_ms,
                    tags: v.tags,
                    children,
                }
            })
            .collect())
    }

    async fn trash_group(&self, deletion: &Deletion, held: &[Digest]) -> Result<bool> {
        let Some(root) = deletion.version.as_ref() else {
            return Err(RegistryError::internal("a group deletion names its version"));
        };
        let mut s = self.state.borrow_mut();
        let repo = &deletion.repo;
        if !s.manifest_links.contains_key(&(repo.clone(), root.clone())) {
            return Ok(false);
        }
        let mut t = s.take_versions(repo, |d| d == root || held.contains(d));
        t.deletion = Some(deletion.clone());
        s.trash.insert(deletion.id.clone(), t);
        Ok(true)
    }

    async fn cursor(&self, job: &str) -> Result<Option<String>> {
        Ok(self.rules.cursors.borrow().get(job).cloned())
    }

    async fn set_cursor(&self, job: &str, value: &str) -> Result<()> {
        self.rules.cursors.borrow_mut().insert(job.to_string(), value.to_string());
        Ok(())
    }
}

/// Download counts and webhooks, in maps.
#[derive(Default)]
pub struct MemoryInsight {
    downloads: RefCell<BTreeMap<(RepoName, Digest, u32), u64>>,
    hooks: RefCell<Vec<super::webhooks::Hook>>,
    deliveries: RefCell<Vec<super::webhooks::Delivery>>,
}

impl super::downloads::DownloadIndex for MemoryMetadata {
    async fn add_downloads(&self, counts: &[crate::lifecycle::downloads::DayCount]) -> Result<()> {
        let mut all = self.insight.downloads.borrow_mut();
        for c in counts {
            *all.entry((c.repo.clone(), c.digest.clone(), c.day)).or_default() += c.count;
        }
        Ok(())
    }

    async fn version_downloads(&self, repo: &RepoName, digests: &[Digest]) -> Result<Vec<(Digest, u64)>> {
        let mut totals: BTreeMap<Digest, u64> = BTreeMap::new();
        for ((r, d, _), count) in self.insight.downloads.borrow().iter() {
            if r == repo && digests.contains(d) {
                *totals.entry(d.clone()).or_default() += count;
            }
        }
        Ok(totals.into_iter().collect())
    }

    async fn package_downloads(&self, repo: &RepoName, today: u32) -> Result<crate::lifecycle::downloads::Downloads> {
        let s = self.state.borrow();
        let in_index = |d: &Digest| {
            s.references.iter().any(|(parent, children)| {
                children.contains(d) && s.manifest_links.contains_key(&(repo.clone(), parent.clone()))
            })
        };
        let days: Vec<(u32, u64)> = self
            .insight
            .downloads
            .borrow()
            .iter()
            .filter(|((r, d, _), _)| r == repo && !in_index(d))
            .map(|((_, _, day), count)| (*day, *count))
            .collect();
        Ok(crate::lifecycle::downloads::Downloads::from_days(days, today))
    }
}

impl super::webhooks::WebhookIndex for MemoryMetadata {
    async fn add_hook(&self, hook: &super::webhooks::Hook) -> Result<bool> {
        let mut hooks = self.insight.hooks.borrow_mut();
        if hooks.iter().filter(|h| h.scope == hook.scope).count() >= crate::lifecycle::webhooks::MAX_HOOKS_PER_SCOPE {
            return Ok(false);
        }
        hooks.push(hook.clone());
        Ok(true)
    }

    async fn hooks(&self, scope: &str) -> Result<Vec<super::webhooks::Hook>> {
        Ok(self.insight.hooks.borrow().iter().filter(|h| h.scope == scope).cloned().collect())
    }

    async fn remove_hook(&self, scope: &str, id: &str) -> Result<bool> {
        let mut hooks = self.insight.hooks.borrow_mut();
        let before = hooks.len();
        hooks.retain(|h| !(h.scope == scope && h.id == id));
        let removed = hooks.len() < before;
        if removed {
            self.insight.deliveries.borrow_mut().retain(|d| d.hook != id);
        }
        Ok(removed)
    }

    async fn hooks_for(&self, repo: &RepoName) -> Result<Vec<super::webhooks::Hook>> {
        let created = self.identity.package_created_ms(repo).unwrap_or(0);
        let wanted = |h: &super::webhooks::Hook| {
            h.scope == repo.namespace() || (h.scope == repo.as_str() && h.created_ms >= created)
        };
        Ok(self.insight.hooks.borrow().iter().filter(|h| wanted(h)).cloned().collect())
    }

    async fn add_deliveries(&self, deliveries: &[super::webhooks::Delivery]) -> Result<()> {
        self.insight.deliveries.borrow_mut().extend_from_slice(deliveries);
        Ok(())
    }

    async fn deliveries(&self, hook: &str, limit: u32) -> Result<Vec<super::webhooks::Delivery>> {
        let mut found: Vec<_> = self.insight.deliveries.borrow().iter().filter(|d| d.hook == hook).cloned().collect();
        found.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then_with(|| a.id.cmp(&b.id)));
        found.truncate(limit as usize);
        Ok(found)
    }

    async fn due_deliveries(
        &self,
        now_ms: u64,
        limit: u32,
    ) -> Result<Vec<(super::webhooks::Delivery, super::webhooks::Hook)>> {
        let hooks = self.insight.hooks.borrow();
        let mut due: Vec<_> = self
            .insight
            .deliveries
            .borrow()
            .iter()
            .filter(|d| d.state == super::webhooks::DeliveryState::Pending && d.next_attempt_ms <= now_ms)
            .filter_map(|d| Some((d.clone(), hooks.iter().find(|h| h.id == d.hook)?.clone())))
            .collect();
        due.sort_by_key(|(d, _)| d.next_attempt_ms);
        due.truncate(limit as usize);
        Ok(due)
    }

    async fn prune_deliveries(&self, before_ms: u64, limit: u32) -> Result<usize> {
        let mut all = self.insight.deliveries.borrow_mut();
        let old = |d: &super::webhooks::Delivery| {
            d.created_ms < before_ms && d.state != super::webhooks::DeliveryState::Pending
        };
        let ids: Vec<String> = all.iter().filter(|d| old(d)).take(limit as usize).map(|d| d.id.clone()).collect();
        all.retain(|d| !ids.contains(&d.id));
        Ok(ids.len())
    }

    async fn record_attempt(&self, delivery: &super::webhooks::Delivery, previous_attempts: u32) -> Result<bool> {
        let mut all = self.insight.deliveries.borrow_mut();
        match all.iter_mut().find(|d| d.id == delivery.id && d.attempts == previous_attempts) {
            Some(d) => {
                *d = delivery.clone();
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// The platform of native tests and the fuzz harness: every port in memory, a clock
/// that moves only when told.
pub struct MemoryPlatform;

impl super::Platform for MemoryPlatform {
    type Meta = MemoryMetadata;
    type Objects = MemoryObjects;
    type Clock = ManualClock;
    type Identity = MemoryIdentity;
    type Trust = crate::auth::oidc::memory::MemoryTrust;
    type Fetch = crate::auth::oidc::memory::MemoryFetch;
    type Hasher = crate::oci::DigestHasher;
}
