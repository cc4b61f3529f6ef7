//! The scheduled clean-up: one bounded run, its steps in the order that lets each free
//! what the next collects. Whatever a run leaves, the next one continues.

use super::lifecycle::{RetentionRun, RETENTION_ACTOR};
use super::ports::Clock;
use super::webhooks::{self, WebhookIndex, WebhookSender};
use super::{Platform, Registry};
use crate::auth::identity::IdentityStore;
use crate::lifecycle::webhooks::{Event, Payload};
use serde::Serialize;

/// Per-run bounds, so a large registry never exceeds one invocation's limits.
const UPLOADS_PER_RUN: u32 = 100;
const DELETIONS_PER_RUN: u32 = 100;
const PACKAGE_PAGES_PER_RUN: usize = 20;
const PACKAGES_PER_PAGE: u32 = 50;
const UNTAGGED_PER_PACKAGE: u32 = 100;
const BLOBS_PER_RUN: u32 = 200;
/// Versions retention policies may delete in one run, and pages of packages it reads.
const RETAINED_VERSIONS_PER_RUN: usize = 200;
const RETENTION_PAGES_PER_RUN: usize = 20;
/// Failed-authentication counts are kept per minute.
const FAILURE_WINDOW_MS: u64 = 60_000;

/// What one run did; a failed step is named in `failures` and the others still run.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub expired_uploads: usize,
    /// What retention policies moved to the trash (restorable for 30 days), and why.
    pub retention: RetentionRun,
    pub purged_deletions: usize,
    pub untagged_manifests: usize,
    pub collected_blobs: usize,
    /// Webhook deliveries tried again, and how many of them got through.
    pub webhook_retries: usize,
    pub webhooks_delivered: usize,
    pub failures: Vec<String>,
}

pub async fn run<P: Platform>(
    reg: &Registry<P>,
    identity: &P::Identity,
    grace_ms: u64,
    sender: &impl WebhookSender,
) -> Report {
    let mut report = Report::default();
    match reg.expire_uploads(UPLOADS_PER_RUN).await {
        Ok(n) => report.expired_uploads = n,
        Err(e) => report.failures.push(failure("expiring uploads", e)),
    }
    // Before purging: what retention deletes waits in the trash like any deletion.
    match retention(reg, identity).await {
        Ok(run) => report.retention = run,
        Err(e) => report.failures.push(failure("applying retention policies", e)),
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
    // Last: retention's events are recorded by now, and a receiver's slowness delays nothing else.
    match webhooks::retry_due(&reg.meta, sender, reg.config.webhook_retry_ms, || reg.clock.now_ms()).await {
        Ok((delivered, tried)) => (report.webhooks_delivered, report.webhook_retries) = (delivered, tried),
        Err(e) => report.failures.push(failure("retrying webhook deliveries", e)),
    }
    let log_start = reg.clock.now_ms().saturating_sub(webhooks::DELIVERY_LOG_MS);
    if let Err(e) = reg.meta.prune_deliveries(log_start, webhooks::PRUNED_PER_RUN).await {
        report.failures.push(failure("pruning the webhook delivery log", e));
    }
    report
}

/// Applies retention policies; each package that lost versions stops serving them from
/// caches and tells its webhooks (`retention.run`, sent by the retries that follow).
async fn retention<P: Platform>(reg: &Registry<P>, identity: &P::Identity) -> crate::error::Result<RetentionRun> {
    let run = reg.run_retention(RETAINED_VERSIONS_PER_RUN, RETENTION_PAGES_PER_RUN).await?;
    let now = reg.clock.now_ms();
    let mut events = vec![];
    let mut packages: Vec<&str> = run.deleted.iter().map(|r| r.package.as_str()).collect();
    packages.dedup();
    for package in packages {
        let repo = crate::oci::RepoName::parse(package)?;
        identity.bump_content_epoch(&repo).await?;
        let deleted: Vec<_> = run.deleted.iter().filter(|r| r.package == package).collect();
        let details = serde_json::json!({ "deleted": deleted });
        events.push(Payload::new(Event::RetentionRun, &repo, None, vec![], RETENTION_ACTOR, now, details));
    }
    webhooks::record(&reg.meta, &events, now, 0).await?;
    Ok(run)
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
