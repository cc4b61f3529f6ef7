//! Reading and deleting blobs of a repository.

use super::ports::{BlobIndex, BlobRecord, ObjectStore, Segment};
use super::{Platform, Registry};
use crate::error::{RegistryError, Result};
use crate::oci::range::ByteSpan;
use crate::oci::{Digest, RepoName};

impl<P: Platform> Registry<P> {
    /// The blob, if `repo` holds it.
    pub async fn stat_blob(&self, repo: &RepoName, digest: &Digest) -> Result<BlobRecord> {
        self.meta.linked_blob(repo, digest).await?.ok_or(RegistryError::BlobUnknown)
    }

    /// The blob's bytes, or a span of them, as a stream.
    pub async fn read_blob(
        &self,
        blob: &BlobRecord,
        span: Option<ByteSpan>,
    ) -> Result<<P::Objects as ObjectStore>::Reader> {
        self.objects
            .open(&blob.object_key, span)
            .await?
            .ok_or_else(|| RegistryError::internal(format!("object {} of {} is missing", blob.object_key, blob.digest)))
    }

    /// Spans of the blob framed by given bytes, as one stream (a multi-range answer).
    pub async fn read_blob_segments(
        &self,
        blob: &BlobRecord,
        segments: Vec<Segment>,
    ) -> Result<<P::Objects as ObjectStore>::Reader> {
        self.objects.open_segments(&blob.object_key, segments).await
    }

    /// Unlinks the blob from `repo`; its bytes stay until collected.
    pub async fn delete_blob(&self, repo: &RepoName, digest: &Digest) -> Result<()> {
        if self.meta.unlink_blob(repo, digest).await? {
            Ok(())
        } else {
            Err(RegistryError::BlobUnknown)
        }
    }

    /// Deletes blobs nothing links or needs, untouched for `grace_ms` (so a push between
    /// its blob upload and its manifest never loses a layer); at most `limit` a run, oldest
    /// first, so a later run goes on where this one stopped. Returns how many went.
    pub async fn collect_blobs(&self, grace_ms: u64, limit: u32) -> Result<usize> {
        let before = self.now().saturating_sub(grace_ms);
        let mut collected = 0;
        for blob in self.meta.orphaned_blobs(before, limit).await? {
            if self.meta.forget_orphan(&blob.digest, before).await? {
                self.objects.delete(&blob.object_key).await?;
                collected += 1;
            }
        }
        Ok(collected)
    }
}
