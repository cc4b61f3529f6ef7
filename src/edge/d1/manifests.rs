//! Manifests, tags and referrers over D1.

use super::{changes, d1_err, digest, digest_groups, n, opt, rows_per_group, s, D1Metadata};
use crate::error::{RegistryError, Result};
use crate::oci::{Digest, Reference, RepoName, Tag};
use crate::registry::ports::{Annotations, ManifestIndex, ManifestRecord, Version};
use serde::Deserialize;

#[derive(Deserialize)]
struct ManifestRow {
    digest: String,
    media_type: String,
    size: u64,
    artifact_type: Option<String>,
    subject: Option<String>,
    annotations: Option<String>,
    annotations_elsewhere: u8,
    details: Option<String>,
    /// Selected only by `find_manifest`.
    #[serde(default)]
    body: Option<String>,
}

impl ManifestRow {
    fn record(self) -> Result<ManifestRecord> {
        Ok(ManifestRecord {
            digest: digest(&self.digest)?,
            media_type: self.media_type,
            size: self.size,
            artifact_type: self.artifact_type,
            subject: self.subject.as_deref().map(digest).transpose()?,
            annotations: match (self.annotations, self.annotations_elsewhere) {
                (_, 1) => Annotations::InManifest,
                (Some(json), _) => Annotations::Kept(json),
                (None, _) => Annotations::None,
            },
            // Details only feed package pages: unreadable ones show as unknown.
            details: self.details.and_then(|d| serde_json::from_str(&d).ok()).unwrap_or_default(),
            inline: self.body.map(String::into_bytes),
        })
    }
}

/// A manifest linked in repository `repo` (`rm`, parameters `?N`) pushed before `before`
/// that no tag, no index linked in `repo` and no subject in `repo` keeps.
fn untagged(repo: &str, before: &str) -> String {
    format!(
        "rm.pushed_at < {before} \
         AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository = {repo} AND t.digest = rm.digest) \
         AND NOT EXISTS (SELECT 1 FROM manifest_references mr \
                         JOIN repository_manifests p ON p.digest = mr.manifest AND p.repository = {repo} \
                         WHERE mr.child = rm.digest) \
         AND NOT EXISTS (SELECT 1 FROM manifests m JOIN repository_manifests s ON s.digest = m.subject \
                         WHERE m.digest = rm.digest AND s.repository = {repo})"
    )
}

/// A blob link of repository ?1 (`repository_blobs`) that manifest ?2 needed and no
/// manifest still linked in ?1 needs: it leaves the repository with the manifest.
pub(super) const ONLY_NEEDED_BY: &str = "repository_blobs.repository = ?1 \
    AND repository_blobs.digest IN (SELECT child FROM manifest_references WHERE manifest = ?2) \
    AND NOT EXISTS (SELECT 1 FROM manifest_references mr \
                    JOIN repository_manifests rm ON rm.digest = mr.manifest AND rm.repository = ?1 \
                    WHERE mr.child = repository_blobs.digest)";

const MANIFEST_COLUMNS: &str =
    "m.digest, m.media_type, m.size, m.artifact_type, m.subject, m.annotations, m.annotations_elsewhere, m.details";

impl ManifestIndex for D1Metadata {
    async fn commit_manifest(
        &self,
        repo: &RepoName,
        m: &ManifestRecord,
        references: &[Digest],
        tags: &[Tag],
        now_ms: u64,
        pushed_by: Option<&str>,
    ) -> Result<()> {
        let d = s(m.digest.to_string());
        let details = serde_json::to_string(&m.details).map_err(RegistryError::internal)?;
        let (annotations, elsewhere) = match &m.annotations {
            Annotations::None => (None, 0),
            Annotations::Kept(json) => (Some(json), 0),
            Annotations::InManifest => (None, 1),
        };
        let mut statements = vec![self.0.stmt(
            "INSERT INTO manifests (digest, media_type, size, artifact_type, subject, annotations, created_at, details, \
               annotations_elsewhere, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT (digest) DO UPDATE SET details = coalesce(manifests.details, excluded.details), \
               body = coalesce(manifests.body, excluded.body)",
            &[
                d.clone(),
                s(&m.media_type),
                n(m.size),
                opt(m.artifact_type.as_ref()),
                opt(m.subject.as_ref().map(|x| x.to_string())),
                opt(annotations),
                n(now_ms),
                s(details),
                n(elsewhere),
                // Manifests parsed as JSON, so their bytes are UTF-8 and kept exactly as text.
                opt(m.inline.as_deref().and_then(|b| std::str::from_utf8(b).ok())),
            ],
        )?];
        for group in digest_groups(references) {
            statements.push(self.0.stmt(
                "INSERT OR IGNORE INTO manifest_references (manifest, child) SELECT ?1, value FROM json_each(?2)",
                &[d.clone(), group],
            )?);
        }
        statements.push(self.repository_stmt(repo, now_ms)?);
        statements.push(self.0.stmt(
            "INSERT OR REPLACE INTO repository_manifests (repository, digest, pushed_at) VALUES (?1, ?2, ?3)",
            &[s(repo.as_str()), d.clone(), n(now_ms)],
        )?);
        if let Some(who) = pushed_by {
            statements.push(self.0.stmt(
                "INSERT OR REPLACE INTO version_provenance (repository, digest, provenance, pushed_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                &[s(repo.as_str()), d.clone(), s(who), n(now_ms)],
            )?);
        }
        // The tags' statements come last: their answer is read from the batch's last result.
        if !tags.is_empty() {
            let names = serde_json::Value::from(tags.iter().map(Tag::as_str).collect::<Vec<_>>()).to_string();
            // `WHERE true` tells SQLite's parser that ON CONFLICT belongs to the INSERT. Tag
            // patterns allow only `*` and `?` over tag characters: GLOB matches them as the
            // registry does.
            statements.push(self.0.stmt(
                "INSERT INTO tags (repository, tag, digest, updated_at) SELECT ?1, value, ?3, ?4 FROM json_each(?2) \
                 WHERE true ON CONFLICT (repository, tag) DO UPDATE SET digest = excluded.digest, \
                 updated_at = excluded.updated_at \
                 WHERE tags.digest = excluded.digest OR NOT EXISTS ( \
                   SELECT 1 FROM lifecycle_rules r, json_each(r.immutable_tags) p \
                   WHERE r.scope = excluded.repository AND excluded.tag GLOB p.value)",
                &[s(repo.as_str()), s(&names), d.clone(), n(now_ms)],
            )?);
            statements.push(self.0.stmt(
                "SELECT tag, digest FROM tags WHERE repository = ?1 AND tag IN (SELECT value FROM json_each(?2))",
                &[s(repo.as_str()), s(names)],
            )?);
        }
        let results = self.0.batch(statements).await?;
        if !tags.is_empty() {
            #[derive(Deserialize)]
            struct Row {
                tag: String,
                digest: String,
            }
            let rows: Vec<Row> = results.last().map(|r| r.results()).transpose().map_err(d1_err)?.unwrap_or_default();
            let pushed = m.digest.to_string();
            let held = |t: &Tag| rows.iter().any(|r| r.tag == t.as_str() && r.digest == pushed);
            if let Some(t) = tags.iter().find(|t| !held(t)) {
                return Err(RegistryError::DeniedBecause(format!("tag {t} is immutable")));
            }
        }
        Ok(())
    }

    async fn linked_manifest(&self, repo: &RepoName, d: &Digest) -> Result<Option<ManifestRecord>> {
        let sql = format!(
            "SELECT {MANIFEST_COLUMNS} FROM repository_manifests rm JOIN manifests m ON m.digest = rm.digest \
             WHERE rm.repository = ?1 AND rm.digest = ?2"
        );
        self.0
            .first::<ManifestRow>(&sql, &[s(repo.as_str()), s(d.to_string())])
            .await?
            .map(ManifestRow::record)
            .transpose()
    }

    async fn linked_manifest_sizes(&self, repo: &RepoName, digests: &[Digest]) -> Result<Vec<(Digest, u64)>> {
        #[derive(Deserialize)]
        struct Row {
            digest: String,
            total_size: Option<u64>,
        }
        let sql = "SELECT rm.digest, json_extract(m.details, '$.total_size') AS total_size \
                   FROM json_each(?2) j JOIN repository_manifests rm ON rm.repository = ?1 AND rm.digest = j.value \
                   JOIN manifests m ON m.digest = rm.digest";
        let rows: Vec<Row> = rows_per_group(&self.0, sql, repo, digests).await?;
        rows.into_iter().map(|r| Ok((digest(&r.digest)?, r.total_size.unwrap_or(0)))).collect()
    }

    async fn pushed_by(&self, repo: &RepoName, digests: &[Digest]) -> Result<Vec<(Digest, String)>> {
        #[derive(Deserialize)]
        struct Row {
            digest: String,
            provenance: String,
        }
        if digests.is_empty() {
            return Ok(vec![]);
        }
        let sql = "SELECT v.digest, v.provenance FROM json_each(?2) j \
                   JOIN version_provenance v ON v.repository = ?1 AND v.digest = j.value";
        let rows: Vec<Row> = rows_per_group(&self.0, sql, repo, digests).await?;
        rows.into_iter().map(|r| Ok((digest(&r.digest)?, r.provenance))).collect()
    }

    async fn find_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<Option<ManifestRecord>> {
        let (sql, key) = match reference {
            Reference::Tag(t) => (
                format!(
                    "SELECT {MANIFEST_COLUMNS}, m.body FROM tags t \
                     JOIN repository_manifests rm ON rm.repository = t.repository AND rm.digest = t.digest \
                     JOIN manifests m ON m.digest = rm.digest WHERE t.repository = ?1 AND t.tag = ?2"
                ),
                t.as_str().to_string(),
            ),
            Reference::Digest(d) => (
                format!(
                    "SELECT {MANIFEST_COLUMNS}, m.body FROM repository_manifests rm \
                     JOIN manifests m ON m.digest = rm.digest WHERE rm.repository = ?1 AND rm.digest = ?2"
                ),
                d.to_string(),
            ),
        };
        self.0.first::<ManifestRow>(&sql, &[s(repo.as_str()), s(key)]).await?.map(ManifestRow::record).transpose()
    }

    async fn tag_target(&self, repo: &RepoName, tag: &Tag) -> Result<Option<Digest>> {
        #[derive(Deserialize)]
        struct Row {
            digest: String,
        }
        let sql = "SELECT digest FROM tags WHERE repository = ?1 AND tag = ?2";
        self.0.first::<Row>(sql, &[s(repo.as_str()), s(tag.as_str())]).await?.map(|r| digest(&r.digest)).transpose()
    }

    async fn list_tags(&self, repo: &RepoName, last: Option<&str>, limit: u32) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Row {
            tag: String,
        }
        // Lexical order is byte order: BINARY collation, which is SQLite's default.
        let sql = "SELECT tag FROM tags WHERE repository = ?1 AND tag > ?2 ORDER BY tag LIMIT ?3";
        let rows: Vec<Row> = self.0.rows(sql, &[s(repo.as_str()), s(last.unwrap_or("")), n(limit as u64)]).await?;
        Ok(rows.into_iter().map(|r| r.tag).collect())
    }

    async fn referrers(&self, repo: &RepoName, subject: &Digest) -> Result<Vec<ManifestRecord>> {
        let sql = format!(
            "SELECT {MANIFEST_COLUMNS} FROM manifests m JOIN repository_manifests rm ON rm.digest = m.digest \
             WHERE m.subject = ?2 AND rm.repository = ?1 ORDER BY m.digest"
        );
        let rows: Vec<ManifestRow> = self.0.rows(&sql, &[s(repo.as_str()), s(subject.to_string())]).await?;
        rows.into_iter().map(ManifestRow::record).collect()
    }

    async fn unlink_manifest(&self, repo: &RepoName, d: &Digest) -> Result<bool> {
        let args = [s(repo.as_str()), s(d.to_string())];
        let results = self
            .0
            .batch(vec![
                self.0.stmt("DELETE FROM tags WHERE repository = ?1 AND digest = ?2", &args)?,
                self.0.stmt("DELETE FROM repository_manifests WHERE repository = ?1 AND digest = ?2", &args)?,
                self.0.stmt(&format!("DELETE FROM repository_blobs WHERE {ONLY_NEEDED_BY}"), &args)?,
            ])
            .await?;
        Ok(results.get(1).map(changes).transpose()?.unwrap_or(0) > 0)
    }

    async fn delete_tag(&self, repo: &RepoName, tag: &Tag) -> Result<bool> {
        let sql = "DELETE FROM tags WHERE repository = ?1 AND tag = ?2";
        Ok(self.0.run(sql, &[s(repo.as_str()), s(tag.as_str())]).await? > 0)
    }

    async fn repository_exists(&self, repo: &RepoName) -> Result<bool> {
        #[derive(Deserialize)]
        struct Row {
            #[allow(dead_code)]
            name: String,
        }
        Ok(self.0.first::<Row>("SELECT name FROM repositories WHERE name = ?1", &[s(repo.as_str())]).await?.is_some())
    }

    async fn untagged_manifests(&self, repo: &RepoName, before_ms: u64, limit: u32) -> Result<Vec<Digest>> {
        #[derive(Deserialize)]
        struct Row {
            digest: String,
        }
        let sql = format!(
            "SELECT rm.digest FROM repository_manifests rm WHERE rm.repository = ?1 AND {} \
             ORDER BY rm.pushed_at LIMIT ?3",
            untagged("?1", "?2")
        );
        let rows: Vec<Row> = self.0.rows(&sql, &[s(repo.as_str()), n(before_ms), n(limit as u64)]).await?;
        rows.iter().map(|r| digest(&r.digest)).collect()
    }

    async fn forget_untagged(&self, repo: &RepoName, d: &Digest, before_ms: u64) -> Result<bool> {
        // One statement: SQLite runs it atomically, so a concurrent tag push wins.
        let sql = format!(
            "DELETE FROM repository_manifests AS rm WHERE rm.repository = ?1 AND rm.digest = ?3 AND {}",
            untagged("?1", "?2")
        );
        Ok(self.0.run(&sql, &[s(repo.as_str()), n(before_ms), s(d.to_string())]).await? == 1)
    }

    async fn current_versions(&self, repos: &[RepoName]) -> Result<Vec<(RepoName, Version)>> {
        #[derive(Deserialize)]
        struct Row {
            #[serde(flatten)]
            manifest: ManifestRow,
            repository: String,
            pushed_at: u64,
            tags: String,
        }
        let sql = format!(
            "WITH ranked AS (SELECT rm.repository, rm.digest, rm.pushed_at, ROW_NUMBER() OVER ( \
                 PARTITION BY rm.repository ORDER BY EXISTS (SELECT 1 FROM tags t \
                   WHERE t.repository = rm.repository AND t.digest = rm.digest) DESC, rm.pushed_at DESC, rm.digest \
               ) AS n FROM json_each(?1) j JOIN repository_manifests rm ON rm.repository = j.value) \
             SELECT {MANIFEST_COLUMNS}, r.repository, r.pushed_at, \
               (SELECT json_group_array(tag) FROM (SELECT tag FROM tags t \
                  WHERE t.repository = r.repository AND t.digest = r.digest ORDER BY tag)) AS tags \
             FROM ranked r JOIN manifests m ON m.digest = r.digest WHERE r.n = 1"
        );
        let names = serde_json::Value::from(repos.iter().map(RepoName::as_str).collect::<Vec<_>>()).to_string();
        let rows: Vec<Row> = self.0.rows(&sql, &[s(names)]).await?;
        rows.into_iter()
            .map(|r| {
                let tags = serde_json::from_str(&r.tags).map_err(RegistryError::internal)?;
                let repo = RepoName::parse(&r.repository).map_err(RegistryError::internal)?;
                Ok((repo, Version { manifest: r.manifest.record()?, pushed_ms: r.pushed_at, tags }))
            })
            .collect()
    }

    async fn versions(&self, repo: &RepoName, limit: u32) -> Result<Vec<Version>> {
        #[derive(Deserialize)]
        struct Row {
            #[serde(flatten)]
            manifest: ManifestRow,
            pushed_at: u64,
            tags: String,
        }
        let sql = format!(
            "SELECT {MANIFEST_COLUMNS}, rm.pushed_at, \
               (SELECT json_group_array(tag) FROM (SELECT tag FROM tags t \
                  WHERE t.repository = rm.repository AND t.digest = rm.digest ORDER BY tag)) AS tags \
             FROM repository_manifests rm JOIN manifests m ON m.digest = rm.digest \
             WHERE rm.repository = ?1 ORDER BY rm.pushed_at DESC, m.digest LIMIT ?2"
        );
        let rows: Vec<Row> = self.0.rows(&sql, &[s(repo.as_str()), n(limit as u64)]).await?;
        rows.into_iter()
            .map(|r| {
                let tags = serde_json::from_str(&r.tags).map_err(RegistryError::internal)?;
                Ok(Version { manifest: r.manifest.record()?, pushed_ms: r.pushed_at, tags })
            })
            .collect()
    }
}
