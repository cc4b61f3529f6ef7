//! Reading and deleting blobs of a repository.

use super::ports::{BlobRecord, Clock, ObjectStore};
use super::{MetadataStore, Registry};
use crate::error::{RegistryError, Result};
use crate::oci::range::ByteSpan;
use crate::oci::{Digest, RepoName};

impl<M: MetadataStore, O: ObjectStore, C: Clock> Registry<M, O, C> {
    /// The blob, if `repo` holds it.
    pub async fn stat_blob(&self, repo: &RepoName, digest: &Digest) -> Result<BlobRecord> {
        self.meta.linked_blob(repo, digest).await?.ok_or(RegistryError::BlobUnknown)
    }

    /// The blob's bytes, or a span of them, as a stream.
    pub async fn read_blob(&self, blob: &BlobRecord, span: Option<ByteSpan>) -> Result<O::Reader> {
        self.objects
            .open(&blob.object_key, span)
            .await?
            .ok_or_else(|| RegistryError::internal(format!("object {} of {} is missing", blob.object_key, blob.digest)))
    }

    /// Unlinks the blob from `repo`; its bytes stay until collected.
    pub async fn delete_blob(&self, repo: &RepoName, digest: &Digest) -> Result<()> {
        if self.meta.unlink_blob(repo, digest).await? {
            Ok(())
        } else {
            Err(RegistryError::BlobUnknown)
        }
    }
}
