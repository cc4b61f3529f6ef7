//! Upload sessions over D1.

use super::blobs::BlobRow;
use super::{changes, d1_err, digest, n, opt, s, D1Metadata};
use crate::error::{RegistryError, Result};
use crate::oci::{Digest, RepoName};
use crate::registry::keys;
use crate::registry::ports::{BlobRecord, Closed, PartTag, StagedClose, UploadIndex, UploadSession};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::Deserialize;
use wasm_bindgen::JsValue;

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
    staged_digest: Option<String>,
    staged_key: Option<String>,
}

impl UploadRow {
    fn session(self) -> Result<UploadSession> {
        let corrupt = |what: &str| RegistryError::internal(format!("corrupt upload {}: {what}", self.id));
        Ok(UploadSession {
            repo: RepoName::parse(&self.repository).map_err(|_| corrupt("repository"))?,
            multipart_id: self.multipart_id.clone(),
            parts: serde_json::from_str(&self.parts).map_err(|_| corrupt("parts"))?,
            hash_state: B64.decode(&self.hash_state).map_err(|_| corrupt("hash state"))?,
            staged_digest: self.staged_digest.as_deref().map(digest).transpose()?,
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

const UPLOAD_COLUMNS: &str = "id, repository, object_key, multipart_id, parts, received, tail_len, hash_state, \
                              created_at, updated_at, staged_digest, staged_key";

/// The staged digest and the staged object's key, as saved with the session.
fn staged(u: &UploadSession) -> (JsValue, JsValue) {
    match &u.staged_digest {
        Some(d) => (s(d.to_string()), s(keys::upload_tail(u))),
        None => (JsValue::NULL, JsValue::NULL),
    }
}

/// The insert of a new session, its values bound from `?first` on, made only if
/// `condition` holds (a `WHERE` clause, or nothing); with its values.
fn insert_upload(u: &UploadSession, first: usize, condition: &str) -> Result<(String, Vec<JsValue>)> {
    let (staged_digest, staged_key) = staged(u);
    let values = vec![
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
        staged_digest,
        staged_key,
    ];
    let params: Vec<String> = (first..first + values.len()).map(|i| format!("?{i}")).collect();
    Ok((format!("INSERT INTO uploads ({UPLOAD_COLUMNS}) SELECT {} {condition}", params.join(", ")), values))
}

impl UploadIndex for D1Metadata {
    async fn create_upload(&self, u: &UploadSession) -> Result<()> {
        let (sql, args) = insert_upload(u, 1, "")?;
        self.0.run(&sql, &args).await.map(|_| ())
    }

    async fn mount_or_start(&self, from: &RepoName, d: &Digest, u: &UploadSession, now_ms: u64) -> Result<bool> {
        // One transaction: the link and the repository if `from` has the blob, else the session.
        let held = "EXISTS (SELECT 1 FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest \
                    WHERE rb.repository = ?1 AND rb.digest = ?2)";
        let (from, d, repo, now) = (s(from.as_str()), s(d.to_string()), s(u.repo.as_str()), n(now_ms));
        let (start, mut start_args) = insert_upload(u, 3, &format!("WHERE NOT {held}"))?;
        start_args.splice(0..0, [from.clone(), d.clone()]);
        let statements = vec![
            self.0.stmt(
                &format!("INSERT OR IGNORE INTO repositories (name, created_at) SELECT ?3, ?4 WHERE {held}"),
                &[from.clone(), d.clone(), repo.clone(), now.clone()],
            )?,
            self.0.stmt(
                &format!(
                    "INSERT OR REPLACE INTO repository_blobs (repository, digest, linked_at) SELECT ?3, ?2, ?4 WHERE {held}"
                ),
                &[from, d, repo, now],
            )?,
            self.0.stmt(&start, &start_args)?,
        ];
        let results = self.0.batch(statements).await?;
        Ok(results.get(1).map(changes).transpose()?.unwrap_or(0) == 1)
    }

    async fn upload(&self, repo: &RepoName, id: &str) -> Result<Option<UploadSession>> {
        let sql = format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = ?1 AND repository = ?2");
        self.0.first::<UploadRow>(&sql, &[s(id), s(repo.as_str())]).await?.map(UploadRow::session).transpose()
    }

    async fn save_upload(&self, u: &UploadSession, expected_received: u64) -> Result<bool> {
        let sql = "UPDATE uploads SET multipart_id = ?2, parts = ?3, received = ?4, tail_len = ?5, hash_state = ?6, \
                   updated_at = ?7, staged_digest = ?9, staged_key = ?10 WHERE id = ?1 AND received = ?8";
        let (staged_digest, staged_key) = staged(u);
        let args = [
            s(&u.id),
            opt(u.multipart_id.as_ref()),
            s(parts_json(&u.parts)?),
            n(u.received),
            n(u.tail_len),
            s(B64.encode(&u.hash_state)),
            n(u.updated_ms),
            n(expected_received),
            staged_digest,
            staged_key,
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

    async fn close_upload(&self, saved: &UploadSession, blob: &BlobRecord, now_ms: u64) -> Result<Closed> {
        // One transaction: every write only if the session is still as saved.
        let (id, received, touched) = (s(&saved.id), n(saved.received), n(saved.updated_ms));
        let (repo, d, now) = (s(saved.repo.as_str()), s(blob.digest.to_string()), n(now_ms));
        let unchanged = "EXISTS (SELECT 1 FROM uploads WHERE id = ?1 AND received = ?2 AND updated_at = ?3)";
        let statements = vec![
            self.0.stmt(
                &format!(
                    "INSERT OR IGNORE INTO blobs (digest, object_key, size, created_at) \
                     SELECT ?4, ?5, ?6, ?7 WHERE {unchanged}"
                ),
                &[
                    id.clone(),
                    received.clone(),
                    touched.clone(),
                    d.clone(),
                    s(&blob.object_key),
                    n(blob.size),
                    now.clone(),
                ],
            )?,
            self.0.stmt(
                &format!("INSERT OR IGNORE INTO repositories (name, created_at) SELECT ?4, ?5 WHERE {unchanged}"),
                &[id.clone(), received.clone(), touched.clone(), repo.clone(), now.clone()],
            )?,
            self.0.stmt(
                &format!(
                    "INSERT OR REPLACE INTO repository_blobs (repository, digest, linked_at) \
                     SELECT ?4, ?5, ?6 WHERE {unchanged}"
                ),
                &[id.clone(), received.clone(), touched.clone(), repo, d.clone(), now],
            )?,
            self.0.stmt(
                "DELETE FROM uploads WHERE id = ?1 AND received = ?2 AND updated_at = ?3",
                &[id, received, touched],
            )?,
            self.0.stmt("SELECT digest, object_key, size FROM blobs WHERE digest = ?1", &[d])?,
        ];
        let results = self.0.batch(statements).await?;
        let closed = results.get(3).map(changes).transpose()?.unwrap_or(0) == 1;
        let row: Option<BlobRow> =
            results.last().map(|r| r.results()).transpose().map_err(d1_err)?.and_then(|v| v.into_iter().next());
        let standing = row.map(BlobRow::record).transpose()?;
        match (closed, standing) {
            (true, Some(standing)) => Ok(Closed::Yes(standing)),
            (true, None) => Err(RegistryError::internal("blob row missing after insert")),
            (false, standing) => Ok(Closed::Changed(standing)),
        }
    }

    async fn close_staged(
        &self,
        repo: &RepoName,
        id: &str,
        d: &Digest,
        ttl_ms: u64,
        now_ms: u64,
    ) -> Result<StagedClose> {
        // One transaction. The session is read first, as it was; every write happens only
        // if it is live and its staged bytes have the digest asked for.
        let (id, repo, d, ttl, now) = (s(id), s(repo.as_str()), s(d.to_string()), n(ttl_ms), n(now_ms));
        let closable = "id = ?1 AND repository = ?2 AND staged_digest = ?3 AND updated_at + ?4 > ?5";
        let cond = [id.clone(), repo.clone(), d.clone(), ttl, now];
        let statements = vec![
            self.0.stmt(
                &format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = ?1 AND repository = ?2"),
                &[id.clone(), repo.clone()],
            )?,
            self.0.stmt(
                &format!(
                    "INSERT OR IGNORE INTO blobs (digest, object_key, size, created_at) \
                     SELECT ?3, staged_key, received, ?5 FROM uploads WHERE {closable}"
                ),
                &cond,
            )?,
            self.0.stmt(
                &format!(
                    "INSERT OR IGNORE INTO repositories (name, created_at) \
                     SELECT ?2, ?5 WHERE EXISTS (SELECT 1 FROM uploads WHERE {closable})"
                ),
                &cond,
            )?,
            self.0.stmt(
                &format!(
                    "INSERT OR REPLACE INTO repository_blobs (repository, digest, linked_at) \
                     SELECT ?2, ?3, ?5 WHERE EXISTS (SELECT 1 FROM uploads WHERE {closable})"
                ),
                &cond,
            )?,
            self.0.stmt(&format!("DELETE FROM uploads WHERE {closable}"), &cond)?,
            self.0.stmt("SELECT digest, object_key, size FROM blobs WHERE digest = ?1", &[d])?,
        ];
        let results = self.0.batch(statements).await?;
        let first = |i: usize| -> Result<Option<UploadRow>> {
            Ok(results
                .get(i)
                .map(|r| r.results::<UploadRow>())
                .transpose()
                .map_err(d1_err)?
                .and_then(|v| v.into_iter().next()))
        };
        let read = first(0)?;
        let closed = results.get(4).map(changes).transpose()?.unwrap_or(0) == 1;
        match (closed, read) {
            (true, Some(UploadRow { staged_key: Some(staged_key), .. })) => {
                let row: Option<BlobRow> =
                    results.get(5).map(|r| r.results()).transpose().map_err(d1_err)?.and_then(|v| v.into_iter().next());
                let row = row.ok_or_else(|| RegistryError::internal("blob row missing after insert"))?;
                Ok(StagedClose::Closed { standing: row.record()?, staged_key })
            }
            (true, _) => Err(RegistryError::internal("a staged close without its staged object")),
            (false, read) => Ok(StagedClose::Open(read.map(UploadRow::session).transpose()?)),
        }
    }

    async fn claim_expired(&self, id: &str, before_ms: u64) -> Result<bool> {
        // A close requires the last touch it read: zero matches none of a live session's.
        let sql = "UPDATE uploads SET updated_at = 0 WHERE id = ?1 AND updated_at < ?2";
        Ok(self.0.run(sql, &[s(id), n(before_ms)]).await? == 1)
    }

    async fn expired_uploads(&self, before_ms: u64, limit: u32) -> Result<Vec<UploadSession>> {
        let sql = format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE updated_at < ?1 ORDER BY updated_at LIMIT ?2");
        let rows: Vec<UploadRow> = self.0.rows(&sql, &[n(before_ms), n(limit as u64)]).await?;
        rows.into_iter().map(UploadRow::session).collect()
    }
}
