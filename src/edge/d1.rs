//! The metadata ports over D1. The schema is in `migrations/`; every statement binds
//! its values. Steps that must happen together go in one `batch` (a transaction).

use crate::error::{RegistryError, Result};
use crate::oci::{Digest, RepoName, Tag};
use crate::registry::ports::*;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result};

/// Statement helpers over one D1 database, shared by the metadata and identity stores.
pub struct D1Access {
    db: D1Database,
}

pub struct D1Metadata(pub D1Access);

impl D1Access {
    pub fn new(db: D1Database) -> Self {
        D1Access { db }
    }

    pub(super) fn stmt(&self, sql: &str, args: &[JsValue]) -> Result<D1PreparedStatement> {
        self.db.prepare(sql).bind(args).map_err(d1_err)
    }

    pub(super) async fn rows<T: for<'de> Deserialize<'de>>(&self, sql: &str, args: &[JsValue]) -> Result<Vec<T>> {
        self.stmt(sql, args)?.all().await.map_err(d1_err)?.results().map_err(d1_err)
    }

    pub(super) async fn first<T: for<'de> Deserialize<'de>>(&self, sql: &str, args: &[JsValue]) -> Result<Option<T>> {
        Ok(self.rows(sql, args).await?.into_iter().next())
    }

    /// Runs one statement; returns how many rows it changed.
    pub(super) async fn run(&self, sql: &str, args: &[JsValue]) -> Result<usize> {
        changes(&self.stmt(sql, args)?.run().await.map_err(d1_err)?)
    }

    pub(super) async fn batch(&self, statements: Vec<D1PreparedStatement>) -> Result<Vec<D1Result>> {
        self.db.batch(statements).await.map_err(d1_err)
    }
}

fn d1_err(e: worker::Error) -> RegistryError {
    RegistryError::internal(format!("D1: {e}"))
}

pub(super) fn changes(r: &D1Result) -> Result<usize> {
    Ok(r.meta().map_err(d1_err)?.and_then(|m| m.changes).unwrap_or(0))
}

pub(super) fn s(v: impl AsRef<str>) -> JsValue {
    JsValue::from_str(v.as_ref())
}

pub(super) fn n(v: u64) -> JsValue {
    JsValue::from_f64(v as f64)
}

pub(super) fn opt(v: Option<impl AsRef<str>>) -> JsValue {
    v.map_or(JsValue::NULL, s)
}

fn digest(v: &str) -> Result<Digest> {
    Digest::parse(v).map_err(|_| RegistryError::internal(format!("corrupt digest in D1: {v}")))
}

#[derive(Deserialize)]
struct BlobRow {
    digest: String,
    object_key: String,
    size: u64,
}

impl BlobRow {
    fn record(self) -> Result<BlobRecord> {
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
        let statements = vec![
            self.repository_stmt(repo, now_ms)?,
            self.0.stmt(
                "INSERT OR REPLACE INTO repository_blobs (repository, digest, linked_at) \
                 SELECT ?1, digest, ?3 FROM blobs WHERE digest = ?2",
                &[s(repo.as_str()), s(d.to_string()), n(now_ms)],
            )?,
        ];
        self.0.batch(statements).await?;
        Ok(())
    }

    async fn unlink_blob(&self, repo: &RepoName, d: &Digest) -> Result<bool> {
        let sql = "DELETE FROM repository_blobs WHERE repository = ?1 AND digest = ?2";
        Ok(self.0.run(sql, &[s(repo.as_str()), s(d.to_string())]).await? > 0)
    }

    async fn orphaned_blobs(&self, before_ms: u64, limit: u32) -> Result<Vec<BlobRecord>> {
        let sql =
            format!("SELECT b.digest, b.object_key, b.size FROM blobs b WHERE {ORPHAN} ORDER BY b.created_at LIMIT ?2");
        let rows: Vec<BlobRow> = self.0.rows(&sql, &[n(before_ms), n(limit as u64)]).await?;
        rows.into_iter().map(BlobRow::record).collect()
    }

    async fn forget_orphan(&self, d: &Digest, before_ms: u64) -> Result<bool> {
        // One transaction, so a concurrent link or manifest push wins. The stale links go
        // first (they reference the record), and only if the blob is an orphan.
        let args = [n(before_ms), n(0), s(d.to_string())];
        let results = self
            .0
            .batch(vec![
                self.0.stmt(
                    &format!(
                        "DELETE FROM repository_blobs WHERE digest = ?3 \
                         AND EXISTS (SELECT 1 FROM blobs AS b WHERE b.digest = ?3 AND {ORPHAN})"
                    ),
                    &args,
                )?,
                self.0.stmt(&format!("DELETE FROM blobs AS b WHERE b.digest = ?3 AND {ORPHAN}"), &args)?,
            ])
            .await?;
        Ok(results.get(1).map(changes).transpose()?.unwrap_or(0) == 1)
    }
}

impl D1Metadata {
    fn repository_stmt(&self, repo: &RepoName, now_ms: u64) -> Result<D1PreparedStatement> {
        self.0.stmt(
            "INSERT OR IGNORE INTO repositories (name, created_at) VALUES (?1, ?2)",
            &[s(repo.as_str()), n(now_ms)],
        )
    }
}

#[derive(Deserialize)]
struct UploadRow {
    id: String,
    repository: String,
    object_key: String,
    multipart_id: Option<String>,
    parts: String,
    received: u64,
    tail_len: u64,
    hash_state: String,
    created_at: u64,
    updated_at: u64,
}

impl UploadRow {
    fn session(self) -> Result<UploadSession> {
        let corrupt = |what: &str| RegistryError::internal(format!("corrupt upload {}: {what}", self.id));
        Ok(UploadSession {
            repo: RepoName::parse(&self.repository).map_err(|_| corrupt("repository"))?,
            multipart_id: self.multipart_id.clone(),
            parts: serde_json::from_str(&self.parts).map_err(|_| corrupt("parts"))?,
            hash_state: B64.decode(&self.hash_state).map_err(|_| corrupt("hash state"))?,
            object_key: self.object_key.clone(),
            received: self.received,
            tail_len: self.tail_len,
            created_ms: self.created_at,
            updated_ms: self.updated_at,
            id: self.id,
        })
    }
}

fn parts_json(parts: &[PartTag]) -> Result<String> {
    serde_json::to_string(parts).map_err(RegistryError::internal)
}

const UPLOAD_COLUMNS: &str =
    "id, repository, object_key, multipart_id, parts, received, tail_len, hash_state, created_at, updated_at";

impl UploadIndex for D1Metadata {
    async fn create_upload(&self, u: &UploadSession) -> Result<()> {
        let sql = format!("INSERT INTO uploads ({UPLOAD_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
        let args = [
            s(&u.id),
            s(u.repo.as_str()),
            s(&u.object_key),
            opt(u.multipart_id.as_ref()),
            s(parts_json(&u.parts)?),
            n(u.received),
            n(u.tail_len),
            s(B64.encode(&u.hash_state)),
            n(u.created_ms),
            n(u.updated_ms),
        ];
        self.0.run(&sql, &args).await.map(|_| ())
    }

    async fn upload(&self, repo: &RepoName, id: &str) -> Result<Option<UploadSession>> {
        let sql = format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = ?1 AND repository = ?2");
        self.0.first::<UploadRow>(&sql, &[s(id), s(repo.as_str())]).await?.map(UploadRow::session).transpose()
    }

    async fn save_upload(&self, u: &UploadSession, expected_received: u64) -> Result<bool> {
        let sql = "UPDATE uploads SET multipart_id = ?2, parts = ?3, received = ?4, tail_len = ?5, hash_state = ?6, \
                   updated_at = ?7 WHERE id = ?1 AND received = ?8";
        let args = [
            s(&u.id),
            opt(u.multipart_id.as_ref()),
            s(parts_json(&u.parts)?),
            n(u.received),
            n(u.tail_len),
            s(B64.encode(&u.hash_state)),
            n(u.updated_ms),
            n(expected_received),
        ];
        Ok(self.0.run(sql, &args).await? == 1)
    }

    async fn record_multipart(&self, id: &str, multipart_id: &str) -> Result<bool> {
        let sql = "UPDATE uploads SET multipart_id = ?2 WHERE id = ?1 AND multipart_id IS NULL";
        Ok(self.0.run(sql, &[s(id), s(multipart_id)]).await? == 1)
    }

    async fn delete_upload(&self, id: &str) -> Result<()> {
        self.0.run("DELETE FROM uploads WHERE id = ?1", &[s(id)]).await.map(|_| ())
    }

    async fn expired_uploads(&self, before_ms: u64, limit: u32) -> Result<Vec<UploadSession>> {
        let sql = format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE updated_at < ?1 ORDER BY updated_at LIMIT ?2");
        let rows: Vec<UploadRow> = self.0.rows(&sql, &[n(before_ms), n(limit as u64)]).await?;
        rows.into_iter().map(UploadRow::session).collect()
    }
}

#[derive(Deserialize)]
struct ManifestRow {
    digest: String,
    media_type: String,
    size: u64,
    artifact_type: Option<String>,
    subject: Option<String>,
    annotations: Option<String>,
    details: Option<String>,
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
        })
    }
}

/// A blob (`b`) held since before ?1 that no linked manifest needs and no repository
/// linked since ?1 (the grace period: a push between its blobs and its manifest).
const ORPHAN: &str = "b.created_at < ?1 \
    AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest AND rb.linked_at >= ?1) \
    AND NOT EXISTS (SELECT 1 FROM manifest_references mr JOIN repository_manifests rm ON rm.digest = mr.manifest \
                    WHERE mr.child = b.digest)";

/// A manifest linked in repository ?1 (`rm`) pushed before ?2 that no tag, no index linked
/// in ?1 and no subject in ?1 keeps.
const UNTAGGED: &str = "rm.pushed_at < ?2 \
    AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository = ?1 AND t.digest = rm.digest) \
    AND NOT EXISTS (SELECT 1 FROM manifest_references mr \
                    JOIN repository_manifests p ON p.digest = mr.manifest AND p.repository = ?1 \
                    WHERE mr.child = rm.digest) \
    AND NOT EXISTS (SELECT 1 FROM manifests m JOIN repository_manifests s ON s.digest = m.subject \
                    WHERE m.digest = rm.digest AND s.repository = ?1)";

/// A blob link of repository ?1 (`repository_blobs`) that manifest ?2 needed and no
/// manifest still linked in ?1 needs: it leaves the repository with the manifest.
const ONLY_NEEDED_BY: &str = "repository_blobs.repository = ?1 \
    AND repository_blobs.digest IN (SELECT child FROM manifest_references WHERE manifest = ?2) \
    AND NOT EXISTS (SELECT 1 FROM manifest_references mr \
                    JOIN repository_manifests rm ON rm.digest = mr.manifest AND rm.repository = ?1 \
                    WHERE mr.child = repository_blobs.digest)";

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
            "INSERT INTO manifests (digest, media_type, size, artifact_type, subject, annotations, created_at, details) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (digest) DO UPDATE SET details = coalesce(manifests.details, excluded.details)",
            &[
                d.clone(),
                s(&m.media_type),
                n(m.size),
                opt(m.artifact_type.as_ref()),
                opt(m.subject.as_ref().map(|x| x.to_string())),
                opt(m.annotations_json.as_ref()),
                n(now_ms),
                s(details),
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
            statements.push(self.0.stmt(
                "INSERT INTO tags (repository, tag, digest, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (repository, tag) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at",
                &[s(repo.as_str()), s(t.as_str()), d, n(now_ms)],
            )?);
        }
        self.0.batch(statements).await.map(|_| ())
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
            "SELECT rm.digest FROM repository_manifests rm WHERE rm.repository = ?1 AND {UNTAGGED} \
             ORDER BY rm.pushed_at LIMIT ?3"
        );
        let rows: Vec<Row> = self.0.rows(&sql, &[s(repo.as_str()), n(before_ms), n(limit as u64)]).await?;
        rows.iter().map(|r| digest(&r.digest)).collect()
    }

    async fn forget_untagged(&self, repo: &RepoName, d: &Digest, before_ms: u64) -> Result<bool> {
        // One statement: SQLite runs it atomically, so a concurrent tag push wins.
        let sql = format!(
            "DELETE FROM repository_manifests AS rm WHERE rm.repository = ?1 AND rm.digest = ?3 AND {UNTAGGED}"
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

/// Where a deletion's rows wait: a repository name no client can use ('!' is not valid).
fn holder(deletion_id: &str) -> String {
    format!("!trash/{deletion_id}")
}

#[derive(Deserialize)]
struct DeletionRow {
    id: String,
    repository: String,
    version: Option<String>,
    package: Option<String>,
    deleted_at: u64,
    deleted_by: String,
}

impl DeletionRow {
    fn deletion(self) -> Result<Deletion> {
        Ok(Deletion {
            repo: RepoName::parse(&self.repository)
                .map_err(|_| RegistryError::internal(format!("corrupt deletion {}", self.id)))?,
            version: self.version.as_deref().map(digest).transpose()?,
            package_json: self.package,
            deleted_ms: self.deleted_at,
            deleted_by: self.deleted_by,
            id: self.id,
        })
    }
}

const DELETION_COLUMNS: &str = "id, repository, version, package, deleted_at, deleted_by";
/// The tables whose rows belong to a repository, with the column that names it.
const REPOSITORY_ROWS: [(&str, &str); 4] = [
    ("repository_manifests", "repository"),
    ("tags", "repository"),
    ("repository_blobs", "repository"),
    ("repositories", "name"),
];

impl TrashIndex for D1Metadata {
    async fn trash(&self, del: &Deletion) -> Result<bool> {
        let (repo, held) = (s(del.repo.as_str()), s(holder(&del.id)));
        let record = [
            s(&del.id),
            repo.clone(),
            opt(del.version.as_ref().map(|v| v.to_string())),
            held.clone(),
            opt(del.package_json.as_ref()),
            n(del.deleted_ms),
            s(&del.deleted_by),
        ];
        let insert = "INSERT INTO deletions (id, repository, version, holder, package, deleted_at, deleted_by) \
                      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
        let statements = match &del.version {
            None => {
                let mut all = vec![self.0.stmt(insert, &record)?];
                for (table, column) in REPOSITORY_ROWS {
                    let sql = format!("UPDATE {table} SET {column} = ?2 WHERE {column} = ?1");
                    all.push(self.0.stmt(&sql, &[repo.clone(), held.clone()])?);
                }
                all
            }
            Some(v) => {
                // Recorded only if the version is there; otherwise the batch changes nothing.
                let conditional =
                    "INSERT INTO deletions (id, repository, version, holder, package, deleted_at, deleted_by) \
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 \
                     WHERE EXISTS (SELECT 1 FROM repository_manifests WHERE repository = ?2 AND digest = ?3)";
                let args = [repo.clone(), held.clone(), s(v.to_string())];
                // What only this version needed moves with it (if it was recorded): ?2 here
                // is the version, as ONLY_NEEDED_BY reads it.
                let blobs = format!(
                    "UPDATE repository_blobs SET repository = ?3 WHERE {ONLY_NEEDED_BY} \
                     AND EXISTS (SELECT 1 FROM deletions WHERE id = ?4)"
                );
                vec![
                    self.0.stmt(conditional, &record)?,
                    self.0.stmt("UPDATE tags SET repository = ?2 WHERE repository = ?1 AND digest = ?3", &args)?,
                    self.0.stmt(
                        "UPDATE repository_manifests SET repository = ?2 WHERE repository = ?1 AND digest = ?3",
                        &args,
                    )?,
                    self.0.stmt(&blobs, &[repo, s(v.to_string()), held, s(&del.id)])?,
                ]
            }
        };
        let results = self.0.batch(statements).await?;
        match del.version {
            None => Ok(true),
            Some(_) => Ok(results.get(2).map(changes).transpose()?.unwrap_or(0) > 0),
        }
    }

    async fn deletions(&self, repo: &RepoName) -> Result<Vec<Deletion>> {
        let sql = format!("SELECT {DELETION_COLUMNS} FROM deletions WHERE repository = ?1 ORDER BY deleted_at DESC");
        let rows: Vec<DeletionRow> = self.0.rows(&sql, &[s(repo.as_str())]).await?;
        rows.into_iter().map(DeletionRow::deletion).collect()
    }

    async fn restore(&self, del: &Deletion) -> Result<Restored> {
        let (repo, held) = (s(del.repo.as_str()), s(holder(&del.id)));
        // The first statement claims the deletion if its name is free; the others move the
        // rows back only if it did, all in one transaction.
        let claim = match &del.version {
            None => "DELETE FROM deletions WHERE id = ?3 AND NOT EXISTS (SELECT 1 FROM repositories WHERE name = ?1)",
            Some(_) => {
                "DELETE FROM deletions WHERE id = ?3 \
                   AND EXISTS (SELECT 1 FROM repositories WHERE name = ?1) \
                   AND NOT EXISTS (SELECT 1 FROM repository_manifests WHERE repository = ?1 AND digest = ?4) \
                   AND NOT EXISTS (SELECT 1 FROM tags h JOIN tags t ON t.tag = h.tag \
                                   WHERE h.repository = ?2 AND t.repository = ?1)"
            }
        };
        let args = [repo, held, s(&del.id), opt(del.version.as_ref().map(|v| v.to_string()))];
        // D1 wants exactly as many values as the statement has parameters.
        let claim_args = if del.version.is_some() { &args[..] } else { &args[..3] };
        let mut statements = vec![self.0.stmt(claim, claim_args)?];
        for (table, column) in REPOSITORY_ROWS {
            // A blob pushed again meanwhile is linked already: one link stays.
            let or_replace = if table == "repository_blobs" { " OR REPLACE" } else { "" };
            let sql = format!(
                "UPDATE{or_replace} {table} SET {column} = ?1 WHERE {column} = ?2 \
                 AND NOT EXISTS (SELECT 1 FROM deletions WHERE id = ?3)"
            );
            statements.push(self.0.stmt(&sql, &args[..3])?);
        }
        let results = self.0.batch(statements).await?;
        Ok(if results.first().map(changes).transpose()?.unwrap_or(0) == 1 {
            Restored::Yes
        } else {
            Restored::NameReused
        })
    }

    async fn expired_deletions(&self, before_ms: u64, limit: u32) -> Result<Vec<Deletion>> {
        let sql =
            format!("SELECT {DELETION_COLUMNS} FROM deletions WHERE deleted_at < ?1 ORDER BY deleted_at LIMIT ?2");
        let rows: Vec<DeletionRow> = self.0.rows(&sql, &[n(before_ms), n(limit as u64)]).await?;
        rows.into_iter().map(DeletionRow::deletion).collect()
    }

    async fn purge(&self, del: &Deletion) -> Result<()> {
        let held = s(holder(&del.id));
        let mut statements = vec![];
        for (table, column) in REPOSITORY_ROWS {
            statements.push(self.0.stmt(&format!("DELETE FROM {table} WHERE {column} = ?1"), &[held.clone()])?);
        }
        statements.push(self.0.stmt("DELETE FROM deletions WHERE id = ?1", &[s(&del.id)])?);
        self.0.batch(statements).await.map(|_| ())
    }
}
