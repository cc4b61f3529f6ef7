//! Pushing, pulling and deleting manifests; tags and referrers.

use super::ports::{
    read_small, Annotations, BlobIndex, ChunkSource, ManifestIndex, ManifestRecord, ObjectStore,
    MAX_INLINE_MANIFEST_BYTES, MAX_KEPT_ANNOTATIONS,
};
use super::versions::version_details;
use super::{keys, Platform, Registry};
use crate::error::{RegistryError, Result};
use crate::oci::digest::Algorithm;
use crate::oci::manifest::{Manifest, ManifestKind, MAX_MANIFEST_BYTES};
use crate::oci::{Digest, Reference, RepoName, Tag};
use futures_util::future::{try_join3, try_join_all};
use std::collections::{HashMap, HashSet};

/// The most tags one listing returns.
pub const MAX_TAGS_PER_PAGE: u32 = 1000;

/// The most `?tag=` parameters one push takes (the spec asks for at least 10).
pub const MAX_TAGS_PER_PUSH: usize = 32;

/// A manifest accepted by a push.
#[derive(Debug)]
pub struct Pushed {
    pub digest: Digest,
    pub subject: Option<Digest>,
    /// The tags now pointing at it.
    pub tags: Vec<Tag>,
    /// Where the first of those tags pointed before, when the push moved it.
    pub moved_from: Option<Digest>,
}

/// Each digest once, in first-seen order: a manifest may list one descriptor many times.
fn unique<'a>(digests: impl Iterator<Item = &'a Digest>) -> Vec<Digest> {
    let mut seen = HashSet::new();
    digests.filter(|d| seen.insert(*d)).cloned().collect()
}

/// A page of tags.
#[derive(Debug)]
pub struct TagPage {
    pub tags: Vec<String>,
    /// The last tag of this page, when there are more.
    pub next_after: Option<String>,
}

impl<P: Platform> Registry<P> {
    /// Stores a manifest and points the reference's tag, if it is one, and `more_tags` at
    /// it (the `?tag=` parameters of a push by digest), recording who pushed it
    /// (`pushed_by`). Metadata round trips stay the same whatever the number of descriptors.
    pub async fn push_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        more_tags: &[Tag],
        content_type: Option<&str>,
        body: &mut impl ChunkSource,
        pushed_by: Option<&str>,
    ) -> Result<Pushed> {
        let algorithm = match reference {
            Reference::Digest(d) => d.algorithm(),
            Reference::Tag(_) => Algorithm::Sha256,
        };
        if more_tags.len() > MAX_TAGS_PER_PUSH {
            return Err(RegistryError::TooLarge(format!("more than {MAX_TAGS_PER_PUSH} tags in one push")));
        }
        let bytes = read_small(body, MAX_MANIFEST_BYTES, "a manifest").await?;
        let digest = Digest::of(algorithm, &bytes);
        if let Reference::Digest(claimed) = reference {
            if claimed != &digest {
                return Err(RegistryError::DigestInvalid(format!("manifest hashes to {digest}, not {claimed}")));
            }
        }
        let manifest = Manifest::parse(&bytes, content_type)?;
        let mut tags: Vec<Tag> = match reference {
            Reference::Tag(t) => vec![t.clone()],
            Reference::Digest(_) => vec![],
        };
        for t in more_tags {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        // The reads a push needs depend on none of each other's answers: made at once,
        // they cost one wait for the slowest, not one after another. An immutable tag may
        // be pushed again only with the digest it has.
        let tag_moves = try_join_all(tags.iter().map(|t| self.check_tag_move(repo, t, &digest)));
        let (moves, child_sizes, source) =
            try_join3(tag_moves, self.check_references(repo, &manifest), self.details_source(repo, &manifest)).await?;
        let previous = moves.into_iter().next().flatten();

        let references: Vec<Digest> = match manifest.kind {
            ManifestKind::Image => unique(manifest.required_blobs()),
            ManifestKind::Index => unique(manifest.children.iter().map(|c| &c.digest)),
        };
        let annotations = match manifest.annotations.is_empty() {
            true => Annotations::None,
            false => match serde_json::to_string(&manifest.annotations).map_err(RegistryError::internal)? {
                json if json.len() <= MAX_KEPT_ANNOTATIONS => Annotations::Kept(json),
                _ => Annotations::InManifest,
            },
        };
        let record = ManifestRecord {
            digest: digest.clone(),
            media_type: manifest.media_type.clone(),
            size: bytes.len() as u64,
            artifact_type: manifest.effective_artifact_type().map(str::to_string),
            subject: manifest.subject.as_ref().map(|s| s.digest.clone()),
            annotations,
            details: version_details(&manifest, bytes.len() as u64, &child_sizes, source),
            inline: (bytes.len() <= MAX_INLINE_MANIFEST_BYTES).then(|| bytes.clone()),
        };
        self.objects.put(&keys::manifest_object(&digest), bytes).await?;
        if let Err(e) = self.meta.commit_manifest(repo, &record, &references, &tags, self.now(), pushed_by).await {
            return Err(match e {
                // A push raced this one to an immutable tag and won: say which rule.
                RegistryError::DeniedBecause(_) => self.first_refused_tag(repo, &tags, &digest).await,
                e => e,
            });
        }
        let moved_from = previous.filter(|p| p != &digest);
        Ok(Pushed { digest, subject: record.subject, tags, moved_from })
    }

    /// Why one of `tags` could not be pointed at `digest`, naming the rule.
    async fn first_refused_tag(&self, repo: &RepoName, tags: &[Tag], digest: &Digest) -> RegistryError {
        for t in tags {
            if let Err(e) = self.check_tag_move(repo, t, digest).await {
                return e;
            }
        }
        match tags.first() {
            Some(t) => self.tag_moved_refusal(repo, t, digest).await,
            None => RegistryError::DeniedBecause("a tag is immutable".into()),
        }
    }

    /// Every blob an image needs, and every child of an index, must be in the repository.
    /// Returns the children's total sizes.
    async fn check_references(&self, repo: &RepoName, manifest: &Manifest) -> Result<HashMap<Digest, u64>> {
        let blobs = unique(manifest.required_blobs());
        if !blobs.is_empty() {
            if let Some(missing) = self.meta.unlinked_blobs(repo, &blobs).await?.first() {
                return Err(RegistryError::ManifestBlobUnknown(missing.to_string()));
            }
        }
        let children = unique(manifest.children.iter().map(|c| &c.digest));
        if children.is_empty() {
            return Ok(HashMap::new());
        }
        let sizes: HashMap<Digest, u64> = self.meta.linked_manifest_sizes(repo, &children).await?.into_iter().collect();
        match children.iter().find(|c| !sizes.contains_key(c)) {
            Some(missing) => Err(RegistryError::ManifestBlobUnknown(missing.to_string())),
            None => Ok(sizes),
        }
    }

    /// The manifest a tag or digest names in `repo`: one metadata read, whose record
    /// carries the bytes of a small manifest.
    pub async fn resolve_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<ManifestRecord> {
        self.meta.find_manifest(repo, reference).await?.ok_or(RegistryError::ManifestUnknown)
    }

    /// The manifest's bytes: from its record when they live there, else from the store.
    pub async fn manifest_bytes(&self, record: &ManifestRecord) -> Result<Vec<u8>> {
        if let Some(bytes) = &record.inline {
            return Ok(bytes.clone());
        }
        self.objects
            .get_bytes(&keys::manifest_object(&record.digest))
            .await?
            .ok_or_else(|| RegistryError::internal(format!("manifest object {} is missing", record.digest)))
    }

    /// Deletes a tag (only the tag: the version stays), or a manifest and the tags on it
    /// by digest. Immutable tags, and versions that carry one, are refused.
    pub async fn delete_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<()> {
        let existed = match reference {
            Reference::Digest(d) => {
                self.check_version_delete(repo, d).await?;
                self.meta.unlink_manifest(repo, d).await?
            }
            Reference::Tag(t) => return self.untag(repo, t).await,
        };
        if existed {
            Ok(())
        } else {
            Err(RegistryError::ManifestUnknown)
        }
    }

    /// Unlinks manifests of `repo` that no tag, index or subject keeps and that were pushed
    /// more than `grace_ms` ago (an index's children are pushed, untagged, before it), at
    /// most `limit`. Their blobs are then collected by `collect_blobs`. Returns how many.
    pub async fn collect_untagged(&self, repo: &RepoName, grace_ms: u64, limit: u32) -> Result<usize> {
        let before = self.now().saturating_sub(grace_ms);
        let mut collected = 0;
        for digest in self.meta.untagged_manifests(repo, before, limit).await? {
            if self.meta.forget_untagged(repo, &digest, before).await? {
                collected += 1;
            }
        }
        Ok(collected)
    }

    /// Tags in lexical order; `n` caps the page (and is itself capped).
    pub async fn list_tags(&self, repo: &RepoName, n: Option<u32>, last: Option<&str>) -> Result<TagPage> {
        if !self.meta.repository_exists(repo).await? {
            return Err(RegistryError::NameUnknown);
        }
        let limit = n.unwrap_or(MAX_TAGS_PER_PAGE).min(MAX_TAGS_PER_PAGE);
        if limit == 0 {
            return Ok(TagPage { tags: vec![], next_after: None });
        }
        let mut tags = self.meta.list_tags(repo, last, limit + 1).await?;
        let next_after = if tags.len() > limit as usize {
            tags.truncate(limit as usize);
            tags.last().cloned()
        } else {
            None
        };
        Ok(TagPage { tags, next_after })
    }

    /// Manifests of `repo` whose subject is `subject`, optionally of one artifact type.
    pub async fn referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<ManifestRecord>> {
        let mut found = self.meta.referrers(repo, subject).await?;
        if let Some(wanted) = artifact_type {
            found.retain(|m| m.artifact_type.as_deref() == Some(wanted));
        }
        for record in found.iter_mut().filter(|m| m.annotations == Annotations::InManifest) {
            record.annotations = Annotations::Kept(self.stored_annotations(record).await?);
        }
        Ok(found)
    }

    /// The annotations of a manifest too large to keep them with its record.
    async fn stored_annotations(&self, record: &ManifestRecord) -> Result<String> {
        #[derive(serde::Deserialize)]
        struct Only {
            annotations: serde_json::Map<String, serde_json::Value>,
        }
        let only: Only =
            serde_json::from_slice(&self.manifest_bytes(record).await?).map_err(RegistryError::internal)?;
        serde_json::to_string(&only.annotations).map_err(RegistryError::internal)
    }
}
