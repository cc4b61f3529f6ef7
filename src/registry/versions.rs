//! Versions of a package: what each manifest is, as its package page and the package API
//! show it. Details are worked out once, when the manifest is pushed, and stored with it.

use super::ports::{BlobIndex, ManifestIndex, ObjectStore, Version, VersionDetails};
use super::{Platform, Registry};
use crate::error::Result;
use crate::oci::manifest::{Manifest, ManifestKind};
use crate::oci::metadata::{self, ImageConfig, PackageMetadata};
use crate::oci::RepoName;

/// The most versions one listing returns.
pub const MAX_VERSIONS: u32 = 500;

impl<P: Platform> Registry<P> {
    /// Works out a pushed manifest's details. Its references are in `repo` already.
    pub(super) async fn version_details(
        &self,
        repo: &RepoName,
        manifest: &Manifest,
        size: u64,
    ) -> Result<VersionDetails> {
        match manifest.kind {
            ManifestKind::Image => {
                let config = self.image_config(repo, manifest).await?;
                let labels = config.labels();
                let sources: Vec<_> = std::iter::once(&manifest.annotations).chain(labels).collect();
                let layers: u64 = manifest.layers.iter().map(|l| l.size).sum();
                Ok(VersionDetails {
                    total_size: size + manifest.config.as_ref().map_or(0, |c| c.size) + layers,
                    platforms: config.platform().into_iter().collect(),
                    created: config.created.clone().or_else(|| manifest.annotations.get(metadata::CREATED).cloned()),
                    metadata: PackageMetadata::from_annotations(&sources),
                })
            }
            ManifestKind::Index => {
                let mut total_size = size;
                let mut borrowed = PackageMetadata::default();
                for (i, child) in manifest.children.iter().enumerate() {
                    match self.meta.linked_manifest(repo, &child.digest).await? {
                        Some(record) => {
                            total_size += record.details.total_size;
                            if i == 0 {
                                borrowed = record.details.metadata;
                            }
                        }
                        None => total_size += child.size,
                    }
                }
                Ok(VersionDetails {
                    total_size,
                    platforms: metadata::index_platforms(manifest),
                    created: manifest.annotations.get(metadata::CREATED).cloned(),
                    metadata: PackageMetadata::from_annotations(&[&manifest.annotations]).or(&borrowed),
                })
            }
        }
    }

    /// The image's config, when it is an image config of sensible size; else empty.
    async fn image_config(&self, repo: &RepoName, manifest: &Manifest) -> Result<ImageConfig> {
        let Some(descriptor) = manifest.config.as_ref() else { return Ok(ImageConfig::default()) };
        if !metadata::is_image_config(&descriptor.media_type) || descriptor.size > metadata::MAX_CONFIG_BYTES {
            return Ok(ImageConfig::default());
        }
        let Some(blob) = self.meta.linked_blob(repo, &descriptor.digest).await? else {
            return Ok(ImageConfig::default());
        };
        if blob.size > metadata::MAX_CONFIG_BYTES {
            return Ok(ImageConfig::default());
        }
        Ok(self.objects.get_bytes(&blob.object_key).await?.map(|b| ImageConfig::parse(&b)).unwrap_or_default())
    }

    /// The versions of `repo`, newest first, at most `limit` (itself at most `MAX_VERSIONS`).
    pub async fn versions(&self, repo: &RepoName, limit: u32) -> Result<Vec<Version>> {
        self.meta.versions(repo, limit.min(MAX_VERSIONS)).await
    }
}
