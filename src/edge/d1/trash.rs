//! Deleted packages and versions over D1: their rows wait under a name no client can use.

use super::{changes, d1_err, digest, n, opt, s, D1Metadata};
use crate::error::{RegistryError, Result};
use crate::oci::{Digest, RepoName};
use crate::registry::ports::{Deletion, Restored, TrashIndex};
use serde::Deserialize;
use wasm_bindgen::JsValue;

/// Where a deletion's rows wait: a repository name no client can use ('!' is not valid).
pub(super) fn holder(deletion_id: &str) -> String {
    format!("!trash/{deletion_id}")
}

#[derive(Deserialize)]
struct DeletionRow {
    id: String,
    repository: String,
    version: Option<String>,
    package: Option<String>,
    package_id: Option<String>,
    deleted_at: u64,
    deleted_by: String,
}

impl DeletionRow {
    fn deletion(self) -> Result<Deletion> {
        Ok(Deletion {
            repo: RepoName::parse(&self.repository)
                .map_err(|_| RegistryError::internal(format!("corrupt deletion {}", self.id)))?,
            version: self.version.as_deref().map(digest).transpose()?,
            // An unreadable record restores no package; its content still purges.
            package: self.package.and_then(|p| serde_json::from_str(&p).ok()),
            package_id: self.package_id,
            deleted_ms: self.deleted_at,
            deleted_by: self.deleted_by,
            id: self.id,
        })
    }
}

/// The identity tables whose rows belong to a package.
const PACKAGE_ROWS: [&str; 2] = ["package_roles", "packages"];

const DELETION_COLUMNS: &str = "id, repository, version, package, package_id, deleted_at, deleted_by";
/// The tables whose rows belong to a repository, with the column that names it.
const REPOSITORY_ROWS: [(&str, &str); 4] = [
    ("repository_manifests", "repository"),
    ("tags", "repository"),
    ("repository_blobs", "repository"),
    ("repositories", "name"),
];

/// A deletion's row, as `?1`..`?8` of the insert into `deletions`.
fn record(del: &Deletion) -> Result<[JsValue; 8]> {
    Ok([
        s(&del.id),
        s(del.repo.as_str()),
        opt(del.version.as_ref().map(|v| v.to_string())),
        s(holder(&del.id)),
        opt(del.package.as_ref().map(serde_json::to_string).transpose().map_err(RegistryError::internal)?),
        n(del.deleted_ms),
        s(&del.deleted_by),
        opt(del.package_id.as_ref()),
    ])
}

impl D1Metadata {
    /// Moves the manifests `members` of the deletion's repository out of sight, with the
    /// tags on them and the blob links only they needed, in one transaction; nothing moves
    /// unless the deletion's version is there. A version's deletion and a retention group's
    /// (an index with its images, an image with its referrers) are both this.
    pub(super) async fn trash_versions(&self, del: &Deletion, members: &[Digest]) -> Result<bool> {
        if del.version.is_none() {
            return Err(RegistryError::internal("a version deletion names its version"));
        }
        let (repo, held) = (s(del.repo.as_str()), s(holder(&del.id)));
        let record = record(del)?;
        // Recorded only if the version is there; the moves below then find nothing.
        let insert = "INSERT INTO deletions (id, repository, version, holder, package, deleted_at, deleted_by, \
                      package_id) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 \
                      WHERE EXISTS (SELECT 1 FROM repository_manifests WHERE repository = ?2 AND digest = ?3)";
        let members: Vec<String> = members.iter().map(|d| d.to_string()).collect();
        let members = serde_json::to_string(&members).map_err(RegistryError::internal)?;
        let args = [repo, held, s(members), s(&del.id)];
        let guard = "AND EXISTS (SELECT 1 FROM deletions WHERE id = ?4)";
        let in_members = "digest IN (SELECT value FROM json_each(?3))";
        let statements = vec![
            self.0.stmt(insert, &record)?,
            self.0.stmt(
                &format!("UPDATE tags SET repository = ?2 WHERE repository = ?1 AND {in_members} {guard}"),
                &args,
            )?,
            self.0.stmt(
                &format!(
                    "UPDATE repository_manifests SET repository = ?2 WHERE repository = ?1 AND {in_members} {guard}"
                ),
                &args,
            )?,
            // Runs after the manifests moved, so "still needed" means by what stays.
            self.0.stmt(
                &format!(
                    "UPDATE repository_blobs SET repository = ?2 WHERE repository = ?1 \
                     AND digest IN (SELECT child FROM manifest_references \
                                    WHERE manifest IN (SELECT value FROM json_each(?3))) \
                     AND NOT EXISTS (SELECT 1 FROM manifest_references mr JOIN repository_manifests rm \
                                       ON rm.digest = mr.manifest AND rm.repository = ?1 \
                                     WHERE mr.child = repository_blobs.digest) {guard}"
                ),
                &args,
            )?,
        ];
        let results = self.0.batch(statements).await?;
        Ok(results.first().map(changes).transpose()?.unwrap_or(0) == 1)
    }
}

impl TrashIndex for D1Metadata {
    async fn trash(&self, del: &Deletion) -> Result<bool> {
        let (repo, held) = (s(del.repo.as_str()), s(holder(&del.id)));
        let record = record(del)?;
        let insert = "INSERT INTO deletions (id, repository, version, holder, package, deleted_at, deleted_by, \
                      package_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
        let statements = match &del.version {
            None => {
                let mut all = vec![self.0.stmt(insert, &record)?];
                for (table, column) in REPOSITORY_ROWS {
                    let sql = format!("UPDATE {table} SET {column} = ?2 WHERE {column} = ?1");
                    all.push(self.0.stmt(&sql, &[repo.clone(), held.clone()])?);
                }
                // The package's row and roles leave with it; the deletion keeps them.
                for table in PACKAGE_ROWS {
                    all.push(self.0.stmt(&format!("DELETE FROM {table} WHERE repository = ?1"), &[repo.clone()])?);
                }
                all
            }
            Some(v) => return self.trash_versions(del, &[v.clone()]).await,
        };
        self.0.batch(statements).await?;
        Ok(true)
    }

    async fn deletions(&self, repo: &RepoName) -> Result<Vec<Deletion>> {
        let sql = format!("SELECT {DELETION_COLUMNS} FROM deletions WHERE repository = ?1 ORDER BY deleted_at DESC");
        let rows: Vec<DeletionRow> = self.0.rows(&sql, &[s(repo.as_str())]).await?;
        rows.into_iter().map(DeletionRow::deletion).collect()
    }

    async fn restore(&self, del: &Deletion) -> Result<Restored> {
        let (repo, held, id) = (s(del.repo.as_str()), s(holder(&del.id)), s(&del.id));
        // First whether the deletion is recorded at all; then a statement that claims it
        // (marks it as being restored) if its name is free; the others move the rows back
        // only if it did, and the last forgets it, all in one transaction. A deletion that
        // does not exist is never claimed, so nothing moves.
        let mut statements = vec![self.0.stmt("SELECT id FROM deletions WHERE id = ?1", &[id.clone()])?];
        statements.push(match &del.version {
            None => self.0.stmt(
                "UPDATE deletions SET holder = '!restoring' WHERE id = ?2 \
                   AND NOT EXISTS (SELECT 1 FROM repositories WHERE name = ?1) \
                   AND NOT EXISTS (SELECT 1 FROM packages WHERE repository = ?1)",
                &[repo.clone(), id.clone()],
            )?,
            Some(version) => self.0.stmt(
                "UPDATE deletions SET holder = '!restoring' WHERE id = ?3 \
                   AND EXISTS (SELECT 1 FROM repositories WHERE name = ?1) \
                   AND NOT EXISTS (SELECT 1 FROM repository_manifests WHERE repository = ?1 AND digest = ?4) \
                   AND NOT EXISTS (SELECT 1 FROM tags h JOIN tags t ON t.tag = h.tag \
                                   WHERE h.repository = ?2 AND t.repository = ?1)",
                &[repo.clone(), held.clone(), id.clone(), s(version.to_string())],
            )?,
        });
        let claimed = "EXISTS (SELECT 1 FROM deletions WHERE id = ?3 AND holder = '!restoring')";
        // A version deleted with what it held (retention's groups): an image of the group
        // that is in the package again stays as it is, the rest comes back.
        statements.push(self.0.stmt(
            &format!(
                "DELETE FROM repository_manifests WHERE repository = ?2 \
                   AND digest IN (SELECT digest FROM repository_manifests WHERE repository = ?1) AND {claimed}"
            ),
            &[repo.clone(), held.clone(), id.clone()],
        )?);
        for (table, column) in REPOSITORY_ROWS {
            // A blob pushed again meanwhile is linked already: one link stays.
            let or_replace = if table == "repository_blobs" { " OR REPLACE" } else { "" };
            let sql = format!("UPDATE{or_replace} {table} SET {column} = ?1 WHERE {column} = ?2 AND {claimed}");
            statements.push(self.0.stmt(&sql, &[repo.clone(), held.clone(), id.clone()])?);
        }
        if let (None, Some(p)) = (&del.version, &del.package) {
            statements.push(self.0.stmt(
                &format!(
                    "INSERT INTO packages (repository, visibility, created_at, created_by, collect_untagged, \
                     content_epoch, id) SELECT ?1, ?2, ?4, ?5, ?6, ?7, coalesce(?8, 'd-' || ?3) WHERE {claimed}"
                ),
                &[
                    repo.clone(),
                    s(p.visibility.as_str()),
                    id.clone(),
                    n(p.created_ms),
                    s(p.created_by.as_str()),
                    n(p.collect_untagged as u64),
                    n(p.content_epoch),
                    opt(del.package_id.as_ref()),
                ],
            )?);
            for (login, role) in &p.collaborators {
                statements.push(self.0.stmt(
                    &format!("INSERT OR REPLACE INTO package_roles (repository, login, role) SELECT ?1, ?2, ?4 WHERE {claimed}"),
                    &[repo.clone(), s(login.as_str()), id.clone(), s(role.as_str())],
                )?);
            }
        }
        statements.push(self.0.stmt("DELETE FROM deletions WHERE id = ?1 AND holder = '!restoring'", &[id.clone()])?);
        let results = self.0.batch(statements).await?;
        let recorded = results.first().map(|r| r.results::<serde_json::Value>()).transpose().map_err(d1_err)?;
        if recorded.is_none_or(|rows| rows.is_empty()) {
            return Err(RegistryError::NotFound("deletion".into()));
        }
        Ok(if results.get(1).map(changes).transpose()?.unwrap_or(0) == 1 {
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
