//! Deleted packages and versions over D1: their rows wait under a name no client can use.

use super::{changes, digest, n, opt, s, D1Metadata};
use crate::error::{RegistryError, Result};
use crate::oci::RepoName;
use crate::registry::ports::{Deletion, Restored, TrashIndex};
use serde::Deserialize;

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
                let args = [repo, held, s(v.to_string())];
                vec![
                    self.0.stmt(conditional, &record)?,
                    self.0.stmt("UPDATE tags SET repository = ?2 WHERE repository = ?1 AND digest = ?3", &args)?,
                    self.0.stmt(
                        "UPDATE repository_manifests SET repository = ?2 WHERE repository = ?1 AND digest = ?3",
                        &args,
                    )?,
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
            let sql = format!(
                "UPDATE {table} SET {column} = ?1 WHERE {column} = ?2 AND NOT EXISTS (SELECT 1 FROM deletions WHERE id = ?3)"
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
