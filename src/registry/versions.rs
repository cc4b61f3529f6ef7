//! Versions of a package: what each manifest is, as its package page and the package API
//! show it. Details are worked out once, when the manifest is pushed, and stored with it.

use super::ports::{BlobIndex, ManifestIndex, ObjectStore, Version, VersionDetails};
use super::{Platform, Registry};
use crate::error::Result;
use crate::oci::manifest::{Manifest, ManifestKind};
use crate::oci::metadata::{self, ImageConfig, PackageMetadata};
use crate::oci::{Digest, RepoName};
use std::collections::HashMap;

/// The most versions one listing returns.
pub const MAX_VERSIONS: u32 = 500;

impl<P: Platform> Registry<P> {
    /// What a pushed manifest's details need from storage: an image's config, or the
    /// metadata an index borrows from its first child. Read while the push checks its
    /// references (it depends on nothing they find).
    pub(super) async fn details_source(&self, repo: &RepoName, manifest: &Manifest) -> Result<DetailsSource> {
        match manifest.kind {
            ManifestKind::Image => Ok(DetailsSource::Config(self.image_config(repo, manifest).await?)),
            ManifestKind::Index => Ok(DetailsSource::FirstChild(
                match manifest.children.first() {
                    Some(first) => self.meta.linked_manifest(repo, &first.digest).await?.map(|r| r.details.metadata),
                    None => None,
                }
                .unwrap_or_default(),
            )),
        }
    }
}

/// See `Registry::details_source`.
pub(super) enum DetailsSource {
    Config(ImageConfig),
    FirstChild(PackageMetadata),
}

/// A pushed manifest's details, once its references are known to be in the repository
/// (`child_sizes`: the total sizes of an index's children).
pub(super) fn version_details(
    manifest: &Manifest,
    size: u64,
    child_sizes: &HashMap<Digest, u64>,
    source: DetailsSource,
) -> VersionDetails {
    let created = |config: Option<&str>| {
        metadata::timestamp(config.or(manifest.annotations.get(metadata::CREATED).map(String::as_str)))
    };
    match source {
        DetailsSource::Config(config) => {
            let labels = config.labels();
            let sources: Vec<_> = std::iter::once(&manifest.annotations).chain(labels).collect();
            let layers: u64 = manifest.layers.iter().map(|l| l.size).sum();
            VersionDetails {
                total_size: size + manifest.config.as_ref().map_or(0, |c| c.size) + layers,
                platforms: config.platform().into_iter().collect(),
                created: created(config.created.as_deref()),
                metadata: PackageMetadata::from_annotations(&sources),
            }
        }
        DetailsSource::FirstChild(borrowed) => {
            let children: u64 =
                manifest.children.iter().map(|c| child_sizes.get(&c.digest).copied().unwrap_or(c.size)).sum();
            VersionDetails {
                total_size: size + children,
                platforms: metadata::index_platforms(manifest),
                created: created(None),
                metadata: PackageMetadata::from_annotations(&[&manifest.annotations]).or(&borrowed),
            }
        }
    }
}

impl<P: Platform> Registry<P> {
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

    /// The version that speaks for each of `repos`: the newest tagged, else the newest.
    pub async fn current_versions(&self, repos: &[RepoName]) -> Result<Vec<(RepoName, Version)>> {
        if repos.is_empty() {
            return Ok(vec![]);
        }
        self.meta.current_versions(repos).await
    }
}
