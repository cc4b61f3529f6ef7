//! The trust store over D1 (schema: migrations/0010_trusted_publishing.sql).

use super::{changes, n, opt, s, D1Access};
use crate::auth::oidc::store::*;
use crate::auth::oidc::trust::TrustedPublisher;
use crate::auth::Action;
use crate::error::{RegistryError, Result};
use crate::oci::RepoName;
use serde::Deserialize;

pub struct D1Trust(pub D1Access);

fn corrupt(what: &str) -> RegistryError {
    RegistryError::internal(format!("corrupt trust row: {what}"))
}

const COLUMNS: &str = "id, namespace, repository, issuer, source_repository, repository_owner_id, workflow, \
                       environment, git_ref, actions, created_at, created_by";

#[derive(Deserialize)]
struct PublisherRow {
    id: String,
    namespace: String,
    repository: Option<String>,
    issuer: String,
    source_repository: String,
    repository_owner_id: Option<String>,
    workflow: String,
    environment: Option<String>,
    git_ref: Option<String>,
    actions: String,
    created_at: u64,
    created_by: String,
}

impl PublisherRow {
    fn publisher(self) -> Result<StoredPublisher> {
        let scope = match self.repository {
            Some(r) => PolicyScope::Package(RepoName::parse(&r).map_err(|_| corrupt("repository"))?),
            None => PolicyScope::Namespace(self.namespace),
        };
        let actions = self.actions.split(',').flat_map(Action::parse_docker).collect();
        Ok(StoredPublisher {
            id: self.id,
            scope,
            policy: TrustedPublisher {
                issuer: self.issuer,
                repository: self.source_repository,
                repository_owner_id: self.repository_owner_id,
                workflow: self.workflow,
                environment: self.environment,
                git_ref: self.git_ref,
                actions,
            },
            created_ms: self.created_at,
            created_by: self.created_by,
        })
    }
}

/// A policy's row and its namespace's `accounts.suspended_at`.
#[derive(Deserialize)]
struct WithSuspension {
    #[serde(flatten)]
    publisher: PublisherRow,
    suspended_at: Option<u64>,
}

fn rows(rows: Vec<PublisherRow>) -> Result<Vec<StoredPublisher>> {
    rows.into_iter().map(PublisherRow::publisher).collect()
}

#[derive(Deserialize)]
struct SourceRow {
    source: String,
}

impl TrustStore for D1Trust {
    async fn add_publisher(&self, p: &StoredPublisher) -> Result<bool> {
        let actions: Vec<&str> = p.policy.actions.iter().map(|a| a.as_str()).collect();
        // One statement: the bound is checked in the same step that inserts.
        let sql = format!(
            "INSERT INTO trusted_publishers ({COLUMNS}) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12 \
             WHERE (SELECT count(*) FROM trusted_publishers WHERE namespace = ?2 AND repository IS ?3) < ?13"
        );
        let args = [
            s(&p.id),
            s(p.scope.namespace()),
            opt(p.scope.package().map(|r| r.as_str())),
            s(&p.policy.issuer),
            s(&p.policy.repository),
            opt(p.policy.repository_owner_id.as_deref()),
            s(&p.policy.workflow),
            opt(p.policy.environment.as_deref()),
            opt(p.policy.git_ref.as_deref()),
            s(actions.join(",")),
            n(p.created_ms),
            s(&p.created_by),
            n(MAX_PER_SCOPE as u64),
        ];
        Ok(self.0.run(&sql, &args).await? == 1)
    }

    async fn publishers(&self, scope: &PolicyScope) -> Result<Vec<StoredPublisher>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM trusted_publishers WHERE namespace = ?1 AND repository IS ?2 \
             ORDER BY created_at, id LIMIT ?3"
        );
        let args = [s(scope.namespace()), opt(scope.package().map(|r| r.as_str())), n(MAX_PER_SCOPE as u64)];
        rows(self.0.rows(&sql, &args).await?)
    }

    async fn publishers_for(&self, repo: &RepoName) -> Result<Applying> {
        // Whether the namespace's user is suspended comes with each policy row: the same
        // round trip.
        let sql = format!(
            "SELECT {COLUMNS}, (SELECT suspended_at FROM accounts WHERE login = ?1) AS suspended_at \
             FROM trusted_publishers WHERE namespace = ?1 AND (repository IS NULL OR repository = ?2) \
             ORDER BY created_at, id LIMIT ?3"
        );
        let args = [s(repo.namespace()), s(repo.as_str()), n(2 * MAX_PER_SCOPE as u64)];
        let found: Vec<WithSuspension> = self.0.rows(&sql, &args).await?;
        let namespace_suspended = found.iter().any(|r| r.suspended_at.is_some());
        let publishers = rows(found.into_iter().map(|r| r.publisher).collect())?;
        Ok(Applying { publishers, namespace_suspended })
    }

    async fn publishers_of_source(&self, issuer: &str, repository: &str) -> Result<Vec<Trusting>> {
        let sql = format!(
            "SELECT {COLUMNS}, (SELECT a.suspended_at FROM accounts a WHERE a.login = trusted_publishers.namespace) \
             AS suspended_at FROM trusted_publishers WHERE issuer = ?1 AND lower(source_repository) = lower(?2) \
             ORDER BY created_at, id LIMIT ?3"
        );
        let found: Vec<WithSuspension> =
            self.0.rows(&sql, &[s(issuer), s(repository), n(MAX_PER_SOURCE as u64)]).await?;
        found
            .into_iter()
            .map(|r| {
                Ok(Trusting { publisher: r.publisher.publisher()?, namespace_suspended: r.suspended_at.is_some() })
            })
            .collect()
    }

    async fn remove_publisher(&self, scope: &PolicyScope, id: &str) -> Result<bool> {
        let sql = "DELETE FROM trusted_publishers WHERE id = ?1 AND namespace = ?2 AND repository IS ?3";
        let args = [s(id), s(scope.namespace()), opt(scope.package().map(|r| r.as_str()))];
        Ok(self.0.run(sql, &args).await? > 0)
    }

    async fn forget_package(&self, repo: &RepoName) -> Result<()> {
        let statements = vec![
            self.0.stmt("DELETE FROM trusted_publishers WHERE repository = ?1", &[s(repo.as_str())])?,
            self.0.stmt("DELETE FROM package_sources WHERE repository = ?1", &[s(repo.as_str())])?,
        ];
        self.0.batch(statements).await.map(|_| ())
    }

    async fn claim_jti(&self, issuer: &str, jti: &str, expires_ms: u64, now_ms: u64) -> Result<bool> {
        let statements = vec![
            self.0.stmt("DELETE FROM oidc_exchanges WHERE expires_at <= ?1", &[n(now_ms)])?,
            self.0.stmt(
                "INSERT OR IGNORE INTO oidc_exchanges (issuer, jti, expires_at) VALUES (?1, ?2, ?3)",
                &[s(issuer), s(jti), n(expires_ms)],
            )?,
        ];
        let results = self.0.batch(statements).await?;
        Ok(results.last().map(changes).transpose()?.unwrap_or(0) == 1)
    }

    async fn set_source(&self, repo: &RepoName, source: &str, explicit: bool, now_ms: u64) -> Result<()> {
        let sql = "INSERT INTO package_sources (repository, source, explicit, updated_at) VALUES (?1, ?2, ?3, ?4) \
                   ON CONFLICT (repository) DO UPDATE SET source = ?2, explicit = ?3, updated_at = ?4 \
                   WHERE ?3 = 1 OR explicit = 0";
        self.0.run(sql, &[s(repo.as_str()), s(source), n(explicit as u64), n(now_ms)]).await.map(|_| ())
    }

    async fn source(&self, repo: &RepoName) -> Result<Option<String>> {
        let row: Option<SourceRow> =
            self.0.first("SELECT source FROM package_sources WHERE repository = ?1", &[s(repo.as_str())]).await?;
        Ok(row.map(|r| r.source))
    }
}
