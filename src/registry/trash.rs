//! Deleting packages and versions so that they can be restored for a while, and purging
//! them after.

use super::ports::{Deletion, Restored, TrashIndex};
use super::{random_id, Platform, Registry};
use crate::auth::identity::PackageSnapshot;
use crate::error::{RegistryError, Result};
use crate::oci::{Digest, RepoName};

/// How long a deletion can be undone.
pub const RESTORE_WINDOW_MS: u64 = 30 * 24 * 60 * 60 * 1000;

impl<P: Platform> Registry<P> {
    /// Takes the whole package out of sight: manifests, tags, blob links, and its row and
    /// roles (`package`, kept with the deletion for a restore), all in one step.
    pub async fn trash_package(
        &self,
        repo: &RepoName,
        by: &str,
        package_id: &str,
        package: PackageSnapshot,
    ) -> Result<Deletion> {
        let deletion = self.deletion(repo, None, by, package_id, Some(package))?;
        self.meta.trash(&deletion).await?;
        Ok(deletion)
    }

    /// Takes one version of the package `package_id` out of sight, with its tags and the
    /// blob links only it needed.
    pub async fn trash_version(
        &self,
        repo: &RepoName,
        digest: &Digest,
        by: &str,
        package_id: &str,
    ) -> Result<Deletion> {
        let deletion = self.deletion(repo, Some(digest.clone()), by, package_id, None)?;
        if !self.meta.trash(&deletion).await? {
            return Err(RegistryError::ManifestUnknown);
        }
        Ok(deletion)
    }

    fn deletion(
        &self,
        repo: &RepoName,
        version: Option<Digest>,
        by: &str,
        package_id: &str,
        package: Option<PackageSnapshot>,
    ) -> Result<Deletion> {
        Ok(Deletion {
            id: random_id()?,
            repo: repo.clone(),
            version,
            deleted_ms: self.now(),
            deleted_by: by.to_string(),
            package,
            package_id: Some(package_id.to_string()),
        })
    }

    /// The latest restorable deletion of the package (`version` `None`) or of a version.
    pub async fn restorable(&self, repo: &RepoName, version: Option<&Digest>) -> Result<Deletion> {
        let oldest_restorable = self.now().saturating_sub(RESTORE_WINDOW_MS);
        self.meta
            .deletions(repo)
            .await?
            .into_iter()
            .find(|d| d.version.as_ref() == version && d.deleted_ms >= oldest_restorable)
            .ok_or_else(|| RegistryError::NotFound("deletion".into()))
    }

    /// Brings a deletion back exactly, unless its name (or for a version, one of its tags)
    /// was taken since. A package comes back under a fresh content epoch, so nothing
    /// cached under an older one can be mistaken for it.
    pub async fn restore(&self, deletion: &Deletion) -> Result<()> {
        let mut deletion = deletion.clone();
        if let Some(package) = &mut deletion.package {
            package.content_epoch += 1;
        }
        match self.meta.restore(&deletion).await? {
            Restored::Yes => Ok(()),
            Restored::NameReused => Err(RegistryError::Conflict(match deletion.version {
                None => format!("{} was pushed to again since it was deleted", deletion.repo),
                Some(_) => "the version's digest or one of its tags is in use again, or its package is gone".into(),
            })),
        }
    }

    /// Purges deletions older than the restore window, at most `limit` a run. Returns how
    /// many went; the blobs only they needed are collected by `collect_blobs` later.
    pub async fn purge_deletions(&self, limit: u32) -> Result<usize> {
        let before = self.now().saturating_sub(RESTORE_WINDOW_MS);
        let expired = self.meta.expired_deletions(before, limit).await?;
        for deletion in &expired {
            self.meta.purge(deletion).await?;
        }
        Ok(expired.len())
    }
}
