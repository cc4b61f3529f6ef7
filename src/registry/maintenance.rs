//! The scheduled clean-up: one bounded run, its steps in the order that lets each free
//! what the next collects. Whatever a run leaves, the next one continues.

use super::ports::Clock;
use super::{Platform, Registry};
use crate::auth::identity::IdentityStore;
use serde::Serialize;

/// Per-run bounds, so a large registry never exceeds one invocation's limits.
const UPLOADS_PER_RUN: u32 = 100;
const DELETIONS_PER_RUN: u32 = 100;
const PACKAGE_PAGES_PER_RUN: usize = 20;
const PACKAGES_PER_PAGE: u32 = 50;
const UNTAGGED_PER_PACKAGE: u32 = 100;
const BLOBS_PER_RUN: u32 = 200;
/// Failed-authentication counts are kept per minute.
const FAILURE_WINDOW_MS: u64 = 60_000;

/// What one run did; a failed step is named in `failures` and the others still run.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub expired_uploads: usize,
    pub purged_deletions: usize,
    pub untagged_manifests: usize,
    pub collected_blobs: usize,
    pub failures: Vec<String>,
}

pub async fn run<P: Platform>(reg: &Registry<P>, identity: &P::Identity, grace_ms: u64) -> Report {
    let mut report = Report::default();
    match reg.expire_uploads(UPLOADS_PER_RUN).await {
        Ok(n) => report.expired_uploads = n,
        Err(e) => report.failures.push(failure("expiring uploads", e)),
    }
    // Purged deletions and collected manifests free blobs for the blob collection after.
    match reg.purge_deletions(DELETIONS_PER_RUN).await {
        Ok(n) => report.purged_deletions = n,
        Err(e) => report.failures.push(failure("purging deletions", e)),
    }
    match collect_untagged(reg, identity, grace_ms).await {
        Ok(n) => report.untagged_manifests = n,
        Err(e) => report.failures.push(failure("collecting untagged manifests", e)),
    }
    match reg.collect_blobs(grace_ms, BLOBS_PER_RUN).await {
        Ok(n) => report.collected_blobs = n,
        Err(e) => report.failures.push(failure("collecting blobs", e)),
    }
    if let Err(e) = identity.prune_auth_failures(reg.clock.now_ms() / FAILURE_WINDOW_MS).await {
        report.failures.push(failure("pruning failure counts", e));
    }
    report
}

fn failure(step: &str, e: crate::error::RegistryError) -> String {
    format!("{step}: {e:?}")
}

/// Untagged manifests of the packages that asked for it, in name order.
async fn collect_untagged<P: Platform>(
    reg: &Registry<P>,
    identity: &P::Identity,
    grace_ms: u64,
) -> crate::error::Result<usize> {
    let (mut after, mut collected) = (String::new(), 0);
    for _ in 0..PACKAGE_PAGES_PER_RUN {
        let page = identity.packages_collecting_untagged(&after, PACKAGES_PER_PAGE).await?;
        for repo in &page {
            collected += reg.collect_untagged(repo, grace_ms, UNTAGGED_PER_PACKAGE).await?;
        }
        match page.last() {
            Some(last) if page.len() == PACKAGES_PER_PAGE as usize => after = last.to_string(),
            _ => break,
        }
    }
    Ok(collected)
}
