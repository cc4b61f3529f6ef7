//! The lifecycle port over D1: rules in `lifecycle_rules`, cursors in
//! `maintenance_cursors`, the image graph from the registry's tables, group deletions into
//! the same trash as other deletions (`migrations/0009_lifecycle.sql`).

use super::{digest, n, opt, s, D1Metadata};
use crate::error::{RegistryError, Result};
use crate::lifecycle::pattern::TagPatterns;
use crate::lifecycle::retention::{Node, RetentionPolicy};
use crate::oci::{Digest, RepoName, Tag};
use crate::registry::lifecycle::{LifecycleIndex, Scope};
use crate::registry::ports::Deletion;
use serde::Deserialize;

fn corrupt(what: &str) -> RegistryError {
    RegistryError::internal(format!("corrupt {what} in D1"))
}

fn json_list(v: &str) -> Result<Vec<String>> {
    serde_json::from_str(v).map_err(|_| corrupt("list"))
}

impl D1Metadata {
    async fn rule(&self, scope: &str, column: &str) -> Result<Option<String>> {
        #[derive(Deserialize)]
        struct Row {
            value: Option<String>,
        }
        let sql = format!("SELECT {column} AS value FROM lifecycle_rules WHERE scope = ?1");
        Ok(self.0.first::<Row>(&sql, &[s(scope)]).await?.and_then(|r| r.value))
    }

    async fn set_rule(&self, scope: &str, column: &str, value: Option<String>, now_ms: u64) -> Result<()> {
        let sql = format!(
            "INSERT INTO lifecycle_rules (scope, {column}, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (scope) DO UPDATE SET {column} = excluded.{column}, updated_at = excluded.updated_at"
        );
        self.0.run(&sql, &[s(scope), opt(value), n(now_ms)]).await.map(|_| ())
    }
}

impl LifecycleIndex for D1Metadata {
    async fn retention(&self, scope: &Scope) -> Result<Option<RetentionPolicy>> {
        self.rule(scope.key(), "retention")
            .await?
            .map(|j| serde_json::from_str(&j).map_err(|_| corrupt("retention policy")))
            .transpose()
    }

    async fn set_retention(&self, scope: &Scope, policy: Option<&RetentionPolicy>, now_ms: u64) -> Result<()> {
        let json = policy.map(serde_json::to_string).transpose().map_err(RegistryError::internal)?;
        self.set_rule(scope.key(), "retention", json, now_ms).await
    }

    async fn immutable_tags(&self, repo: &RepoName) -> Result<TagPatterns> {
        Ok(self
            .rule(repo.as_str(), "immutable_tags")
            .await?
            .map(|j| serde_json::from_str(&j).map_err(|_| corrupt("immutable tags")))
            .transpose()?
            .unwrap_or_default())
    }

    async fn set_immutable_tags(&self, repo: &RepoName, patterns: &TagPatterns, now_ms: u64) -> Result<()> {
        let json = serde_json::to_string(patterns).map_err(RegistryError::internal)?;
        self.set_rule(repo.as_str(), "immutable_tags", Some(json), now_ms).await
    }

    async fn tag_state(&self, repo: &RepoName, tag: &Tag) -> Result<(TagPatterns, Option<Digest>)> {
        #[derive(Deserialize)]
        struct Row {
            rules: Option<String>,
            current: Option<String>,
        }
        let sql = "SELECT (SELECT immutable_tags FROM lifecycle_rules WHERE scope = ?1) AS rules, \
                          (SELECT digest FROM tags WHERE repository = ?1 AND tag = ?2) AS current";
        let row = self.0.first::<Row>(sql, &[s(repo.as_str()), s(tag.as_str())]).await?;
        let (rules, current) = row.map_or((None, None), |r| (r.rules, r.current));
        let rules = rules
            .map(|j| serde_json::from_str(&j).map_err(|_| corrupt("immutable tags")))
            .transpose()?
            .unwrap_or_default();
        Ok((rules, current.as_deref().map(digest).transpose()?))
    }

    async fn tags_of(&self, repo: &RepoName, d: &Digest) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Row {
            tag: String,
        }
        let sql = "SELECT tag FROM tags WHERE repository = ?1 AND digest = ?2 ORDER BY tag";
        let rows: Vec<Row> = self.0.rows(sql, &[s(repo.as_str()), s(d.to_string())]).await?;
        Ok(rows.into_iter().map(|r| r.tag).collect())
    }

    async fn retained_repositories(&self, after: &str, limit: u32) -> Result<Vec<RepoName>> {
        #[derive(Deserialize)]
        struct Row {
            name: String,
        }
        let sql = "SELECT name FROM repositories \
                   WHERE name > ?1 AND instr(name, '/') > 0 AND ( \
                     name IN (SELECT scope FROM lifecycle_rules WHERE retention IS NOT NULL) \
                     OR substr(name, 1, instr(name, '/') - 1) IN \
                        (SELECT scope FROM lifecycle_rules WHERE retention IS NOT NULL)) \
                   ORDER BY name LIMIT ?2";
        let rows: Vec<Row> = self.0.rows(sql, &[s(after), n(limit as u64)]).await?;
        rows.iter().map(|r| RepoName::parse(&r.name).map_err(|_| corrupt("repository name"))).collect()
    }

    async fn version_graph(&self, repo: &RepoName, limit: u32) -> Result<Vec<Node>> {
        #[derive(Deserialize)]
        struct Row {
            digest: String,
            pushed_at: u64,
            subject: Option<String>,
            tags: String,
            children: String,
        }
        // Children are the references that are manifests of this package (an image's
        // references are blobs, which are not).
        let sql = "SELECT rm.digest, rm.pushed_at, m.subject, \
                     (SELECT json_group_array(tag) FROM (SELECT tag FROM tags t \
                        WHERE t.repository = rm.repository AND t.digest = rm.digest ORDER BY tag)) AS tags, \
                     (SELECT json_group_array(r.child) FROM manifest_references r \
                        JOIN repository_manifests c ON c.repository = rm.repository AND c.digest = r.child \
                        WHERE r.manifest = rm.digest) AS children \
                   FROM repository_manifests rm JOIN manifests m ON m.digest = rm.digest \
                   WHERE rm.repository = ?1 ORDER BY rm.pushed_at DESC, rm.digest LIMIT ?2";
        let rows: Vec<Row> = self.0.rows(sql, &[s(repo.as_str()), n(limit as u64)]).await?;
        rows.into_iter()
            .map(|r| {
                Ok(Node {
                    digest: digest(&r.digest)?,
                    pushed_ms: r.pushed_at,
                    subject: r.subject.as_deref().map(digest).transpose()?,
                    tags: json_list(&r.tags)?,
                    children: json_list(&r.children)?.iter().map(|c| digest(c)).collect::<Result<_>>()?,
                })
            })
            .collect()
    }

    async fn trash_group(&self, del: &Deletion, held: &[Digest]) -> Result<bool> {
        let Some(root) = del.version.as_ref() else {
            return Err(RegistryError::internal("a group deletion names its version"));
        };
        let members: Vec<Digest> = held.iter().chain([root]).cloned().collect();
        self.trash_versions(del, &members).await
    }

    async fn cursor(&self, job: &str) -> Result<Option<String>> {
        #[derive(Deserialize)]
        struct Row {
            value: String,
        }
        let sql = "SELECT value FROM maintenance_cursors WHERE job = ?1";
        Ok(self.0.first::<Row>(sql, &[s(job)]).await?.map(|r| r.value))
    }

    async fn set_cursor(&self, job: &str, value: &str) -> Result<()> {
        let sql = "INSERT INTO maintenance_cursors (job, value) VALUES (?1, ?2) \
                   ON CONFLICT (job) DO UPDATE SET value = excluded.value";
        self.0.run(sql, &[s(job), s(value)]).await.map(|_| ())
    }
}
