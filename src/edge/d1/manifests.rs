//! Manifests, tags and referrers over D1.

use super::{changes, d1_err, digest, n, opt, s, D1Metadata};
use crate::error::{RegistryError, Result};
use crate::oci::{Digest, Reference, RepoName, Tag};
use crate::registry::ports::{ManifestIndex, ManifestRecord, Version};
use serde::Deserialize;

#[derive(Deserialize)]
struct ManifestRow {
    digest: String,
    media_type: String,
    size: u64,
    artifact_type: Option<String>,
    subject: Option<String>,
    annotations: Option<String>,
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
            annotations_json: self.annotations,
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

const MANIFEST_COLUMNS: &str = "m.digest, m.media_type, m.size, m.artifact_type, m.subject, m.annotations, m.details";
/// D1 binds at most 100 values per statement: references go in groups.
const REFERENCES_PER_STATEMENT: usize = 45;

impl ManifestIndex for D1Metadata {
    async fn commit_manifest(
        &self,
        repo: &RepoName,
        m: &ManifestRecord,
        references: &[Digest],
        tag: Option<&Tag>,
        now_ms: u64,
    ) -> Result<()> {
        let d = s(m.digest.to_string());
        let details = serde_json::to_string(&m.details).map_err(RegistryError::internal)?;
        let mut statements = vec![self.0.stmt(
            "INSERT INTO manifests (digest, media_type, size, artifact_type, subject, annotations, created_at, details, body) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (digest) DO UPDATE SET details = coalesce(manifests.details, excluded.details), \
               body = coalesce(manifests.body, excluded.body)",
            &[
                d.clone(),
                s(&m.media_type),
                n(m.size),
                opt(m.artifact_type.as_ref()),
                opt(m.subject.as_ref().map(|x| x.to_string())),
                opt(m.annotations_json.as_ref()),
                n(now_ms),
                s(details),
                // Manifests parsed as JSON, so their bytes are UTF-8 and kept exactly as text.
                opt(m.inline.as_deref().and_then(|b| std::str::from_utf8(b).ok())),
            ],
        )?];
        for group in references.chunks(REFERENCES_PER_STATEMENT) {
            let values: Vec<String> = (0..group.len()).map(|i| format!("(?1, ?{})", i + 2)).collect();
            let sql =
                format!("INSERT OR IGNORE INTO manifest_references (manifest, child) VALUES {}", values.join(", "));
            let mut args = vec![d.clone()];
            args.extend(group.iter().map(|c| s(c.to_string())));
            statements.push(self.0.stmt(&sql, &args)?);
        }
        statements.push(self.repository_stmt(repo, now_ms)?);
        statements.push(self.0.stmt(
            "INSERT OR REPLACE INTO repository_manifests (repository, digest, pushed_at) VALUES (?1, ?2, ?3)",
            &[s(repo.as_str()), d.clone(), n(now_ms)],
        )?);
        if let Some(t) = tag {
            // Tag patterns allow only `*` and `?` over tag characters: GLOB matches them
            // as the registry does.
            statements.push(self.0.stmt(
                "INSERT INTO tags (repository, tag, digest, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (repository, tag) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at \
                 WHERE tags.digest = excluded.digest OR NOT EXISTS ( \
                   SELECT 1 FROM lifecycle_rules r, json_each(r.immutable_tags) p \
                   WHERE r.scope = excluded.repository AND excluded.tag GLOB p.value)",
                &[s(repo.as_str()), s(t.as_str()), d.clone(), n(now_ms)],
            )?);
            statements.push(self.0.stmt(
                "SELECT digest FROM tags WHERE repository = ?1 AND tag = ?2",
                &[s(repo.as_str()), s(t.as_str())],
            )?);
        }
        let results = self.0.batch(statements).await?;
        if let Some(t) = tag {
            #[derive(Deserialize)]
            struct Row {
                digest: String,
            }
            let rows: Vec<Row> = results.last().map(|r| r.results()).transpose().map_err(d1_err)?.unwrap_or_default();
            if rows.first().map(|r| r.digest.as_str()) != Some(m.digest.to_string().as_str()) {
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
            ])
            .await?;
        Ok(results.last().map(changes).transpose()?.unwrap_or(0) > 0)
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
