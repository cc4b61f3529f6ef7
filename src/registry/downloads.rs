//! Download counts: written in batches from the tally the Worker keeps of its pulls, read
//! as totals per version and per package.

use crate::error::Result;
use crate::lifecycle::downloads::{DayCount, Downloads};
use crate::oci::{Digest, RepoName};

#[allow(async_fn_in_trait)]
pub trait DownloadIndex {
    /// Adds the counts, in one step.
    async fn add_downloads(&self, counts: &[DayCount]) -> Result<()>;
    /// All-time pulls of each of `digests` in `repo` (those never pulled are left out).
    async fn version_downloads(&self, repo: &RepoName, digests: &[Digest]) -> Result<Vec<(Digest, u64)>>;
    /// The package's pulls as of day `today`. Pulling a multi-arch image fetches the index
    /// and then one of its images: only the index's pull counts for the package.
    async fn package_downloads(&self, repo: &RepoName, today: u32) -> Result<Downloads>;
}
