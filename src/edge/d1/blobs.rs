//! The blob index over D1: the digest -> object table and per-repository links.

use super::{changes, d1_err, digest, n, rows_per_group, s, D1Metadata};
use crate::error::{RegistryError, Result};
use crate::oci::{Digest, RepoName};
use crate::registry::ports::{BlobIndex, BlobRecord};
use serde::Deserialize;

/// A blob (`b`) held since before `before` (a parameter, `?N`) that no linked manifest
/// needs and no repository linked since then (the grace period: a push between its
/// blobs and its manifest).
fn orphan(before: &str) -> String {
    format!(
        "b.created_at < {before} \
         AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest AND rb.linked_at >= {before}) \
         AND NOT EXISTS (SELECT 1 FROM manifest_references mr JOIN repository_manifests rm ON rm.digest = mr.manifest \
                         WHERE mr.child = b.digest)"
    )
}

#[derive(Deserialize)]
pub(super) struct BlobRow {
    digest: String,
    object_key: String,
    size: u64,
}

impl BlobRow {
    pub(super) fn record(self) -> Result<BlobRecord> {
        Ok(BlobRecord { digest: digest(&self.digest)?, object_key: self.object_key, size: self.size })
    }
}

impl BlobIndex for D1Metadata {
    async fn linked_blob(&self, repo: &RepoName, d: &Digest) -> Result<Option<BlobRecord>> {
        let sql =
            "SELECT b.digest, b.object_key, b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest \
                   WHERE rb.repository = ?1 AND rb.digest = ?2";
        self.0.first::<BlobRow>(sql, &[s(repo.as_str()), s(d.to_string())]).await?.map(BlobRow::record).transpose()
    }

    async fn unlinked_blobs(&self, repo: &RepoName, digests: &[Digest]) -> Result<Vec<Digest>> {
        #[derive(Deserialize)]
        struct Row {
            value: String,
        }
        let sql = "SELECT j.value FROM json_each(?2) j WHERE NOT EXISTS \
                   (SELECT 1 FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest \
                    WHERE rb.repository = ?1 AND rb.digest = j.value)";
        let rows: Vec<Row> = rows_per_group(&self.0, sql, repo, digests).await?;
        rows.iter().map(|r| digest(&r.value)).collect()
    }

    async fn commit_blob(&self, repo: &RepoName, blob: &BlobRecord, now_ms: u64) -> Result<BlobRecord> {
        let d = s(blob.digest.to_string());
        let statements = vec![
            self.0.stmt(
                "INSERT OR IGNORE INTO blobs (digest, object_key, size, created_at) VALUES (?1, ?2, ?3, ?4)",
                &[d.clone(), s(&blob.object_key), n(blob.size), n(now_ms)],
            )?,
            self.repository_stmt(repo, now_ms)?,
            self.0.stmt(
                "INSERT OR REPLACE INTO repository_blobs (repository, digest, linked_at) VALUES (?1, ?2, ?3)",
                &[s(repo.as_str()), d.clone(), n(now_ms)],
            )?,
            self.0.stmt("SELECT digest, object_key, size FROM blobs WHERE digest = ?1", &[d])?,
        ];
        let results = self.0.batch(statements).await?;
        let row: Option<BlobRow> =
            results.last().map(|r| r.results()).transpose().map_err(d1_err)?.and_then(|v| v.into_iter().next());
        row.ok_or_else(|| RegistryError::internal("blob row missing after insert"))?.record()
    }

    async fn link_blob(&self, repo: &RepoName, d: &Digest, now_ms: u64) -> Result<()> {
        // Both only if the blob is held: an unknown one creates no repository either.
        let args = [s(repo.as_str()), s(d.to_string()), n(now_ms)];
        let statements = vec![
            self.0.stmt(
                "INSERT OR IGNORE INTO repositories (name, created_at) \
                 SELECT ?1, ?3 WHERE EXISTS (SELECT 1 FROM blobs WHERE digest = ?2)",
                &args,
            )?,
            self.0.stmt(
                "INSERT OR REPLACE INTO repository_blobs (repository, digest, linked_at) \
                 SELECT ?1, digest, ?3 FROM blobs WHERE digest = ?2",
                &args,
            )?,
        ];
        let results = self.0.batch(statements).await?;
        match results.get(1).map(changes).transpose()?.unwrap_or(0) {
            0 => Err(RegistryError::BlobUnknown),
            _ => Ok(()),
        }
    }

    async fn unlink_blob(&self, repo: &RepoName, d: &Digest) -> Result<bool> {
        let sql = "DELETE FROM repository_blobs WHERE repository = ?1 AND digest = ?2";
        Ok(self.0.run(sql, &[s(repo.as_str()), s(d.to_string())]).await? > 0)
    }

    async fn orphaned_blobs(&self, before_ms: u64, limit: u32) -> Result<Vec<BlobRecord>> {
        let sql = format!(
            "SELECT b.digest, b.object_key, b.size FROM blobs b WHERE {} ORDER BY b.created_at LIMIT ?2",
            orphan("?1")
        );
        let rows: Vec<BlobRow> = self.0.rows(&sql, &[n(before_ms), n(limit as u64)]).await?;
        rows.into_iter().map(BlobRow::record).collect()
    }

    async fn forget_orphan(&self, d: &Digest, before_ms: u64) -> Result<bool> {
        // One transaction, so a concurrent link or manifest push wins. The stale links go
        // first (they reference the record), and only if the blob is an orphan.
        let (args, orphan) = ([n(before_ms), s(d.to_string())], orphan("?1"));
        let results = self
            .0
            .batch(vec![
                self.0.stmt(
                    &format!(
                        "DELETE FROM repository_blobs WHERE digest = ?2 \
                         AND EXISTS (SELECT 1 FROM blobs AS b WHERE b.digest = ?2 AND {orphan})"
                    ),
                    &args,
                )?,
                self.0.stmt(&format!("DELETE FROM blobs AS b WHERE b.digest = ?2 AND {orphan}"), &args)?,
            ])
            .await?;
        Ok(results.get(1).map(changes).transpose()?.unwrap_or(0) == 1)
    }
}
