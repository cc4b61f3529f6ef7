//! Pushing, pulling and deleting manifests; tags and referrers.

use super::ports::{
    read_small, BlobIndex, ChunkSource, ManifestIndex, ManifestRecord, ObjectStore, MAX_INLINE_MANIFEST_BYTES,
};
use super::{keys, Platform, Registry};
use crate::error::{RegistryError, Result};
use crate::oci::digest::Algorithm;
use crate::oci::manifest::{Manifest, ManifestKind, MAX_MANIFEST_BYTES};
use crate::oci::{Digest, DigestHasher, Reference, RepoName};

/// The most tags one listing returns.
pub const MAX_TAGS_PER_PAGE: u32 = 1000;

/// A manifest accepted by a push.
#[derive(Debug)]
pub struct Pushed {
    pub digest: Digest,
    pub subject: Option<Digest>,
    /// Where the pushed tag pointed before, when the push moved it.
    pub moved_from: Option<Digest>,
}

/// A page of tags.
#[derive(Debug)]
pub struct TagPage {
    pub tags: Vec<String>,
    /// The last tag of this page, when there are more.
    pub next_after: Option<String>,
}

impl<P: Platform> Registry<P> {
    pub async fn push_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        content_type: Option<&str>,
        body: &mut impl ChunkSource,
    ) -> Result<Pushed> {
        let algorithm = match reference {
            Reference::Digest(d) => d.algorithm(),
            Reference::Tag(_) => Algorithm::Sha256,
        };
        let bytes = read_small(body, MAX_MANIFEST_BYTES, "a manifest").await?;
        let mut hasher = DigestHasher::new(algorithm);
        hasher.update(&bytes);
        let digest = hasher.finish();
        if let Reference::Digest(claimed) = reference {
            if claimed != &digest {
                return Err(RegistryError::DigestInvalid(format!("manifest hashes to {digest}, not {claimed}")));
            }
        }
        let manifest = Manifest::parse(&bytes, content_type)?;
        // An immutable tag may be pushed again only with the digest it has.
        let previous = match reference {
            Reference::Tag(t) => self.check_tag_move(repo, t, &digest).await?,
            Reference::Digest(_) => None,
        };
        self.check_references(repo, &manifest).await?;

        let references: Vec<Digest> = match manifest.kind {
            ManifestKind::Image => manifest.required_blobs().cloned().collect(),
            ManifestKind::Index => manifest.children.iter().map(|c| c.digest.clone()).collect(),
        };
        let record = ManifestRecord {
            digest: digest.clone(),
            media_type: manifest.media_type.clone(),
            size: bytes.len() as u64,
            artifact_type: manifest.effective_artifact_type().map(str::to_string),
            subject: manifest.subject.as_ref().map(|s| s.digest.clone()),
            annotations_json: (!manifest.annotations.is_empty())
                .then(|| serde_json::to_string(&manifest.annotations))
                .transpose()
                .map_err(RegistryError::internal)?,
            details: self.version_details(repo, &manifest, bytes.len() as u64).await?,
            inline: (bytes.len() <= MAX_INLINE_MANIFEST_BYTES).then(|| bytes.clone()),
        };
        self.objects.put(&keys::manifest_object(&digest), bytes).await?;
        let tag = match reference {
            Reference::Tag(t) => Some(t),
            Reference::Digest(_) => None,
        };
        if let Err(e) = self.meta.commit_manifest(repo, &record, &references, tag, self.now()).await {
            return Err(match (e, tag) {
                // A push raced this one to an immutable tag and won: say which rule.
                (RegistryError::DeniedBecause(_), Some(t)) => self.tag_moved_refusal(repo, t, &digest).await,
                (e, _) => e,
            });
        }
        let moved_from = previous.filter(|p| p != &digest);
        Ok(Pushed { digest, subject: record.subject, moved_from })
    }

    /// Every blob an image needs, and every child of an index, must be in the repository.
    async fn check_references(&self, repo: &RepoName, manifest: &Manifest) -> Result<()> {
        for digest in manifest.required_blobs() {
            if self.meta.linked_blob(repo, digest).await?.is_none() {
                return Err(RegistryError::ManifestBlobUnknown(digest.to_string()));
            }
        }
        for child in &manifest.children {
            if self.meta.linked_manifest(repo, &child.digest).await?.is_none() {
                return Err(RegistryError::ManifestBlobUnknown(child.digest.to_string()));
            }
        }
        Ok(())
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
        Ok(found)
    }
}
