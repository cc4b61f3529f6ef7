//! The ports over D1, one file per store: `blobs`, `uploads`, `manifests`, `trash` (the
//! registry's metadata) and `identity`; here, the statement helpers they share. The
//! schema is in `migrations/`; every statement binds its values. Steps that must happen
//! together go in one `batch` (a transaction).

mod blobs;
pub mod identity;
mod insight;
mod lifecycle;
mod manifests;
mod trash;
pub mod trust;
mod uploads;

use super::latency::Simulated;
use super::meter::SharedMeter;
use crate::error::{RegistryError, Result};
use crate::oci::{Digest, RepoName};
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result};

/// Statement helpers over one D1 database, shared by the metadata and identity stores.
/// Every call to D1 goes through `rows`, `run` or `batch`, where it is counted (and
/// delayed when a local run models the edge).
pub struct D1Access {
    db: D1Database,
    simulated: Simulated,
    meter: SharedMeter,
}

/// The registry's metadata (`registry::MetadataStore`) in D1.
pub struct D1Metadata(pub D1Access);

impl D1Access {
    pub fn new(db: D1Database, simulated: Simulated, meter: SharedMeter) -> Self {
        D1Access { db, simulated, meter }
    }

    pub(crate) fn stmt(&self, sql: &str, args: &[JsValue]) -> Result<D1PreparedStatement> {
        self.db.prepare(sql).bind(args).map_err(d1_err)
    }

    pub(super) async fn rows<T: for<'de> Deserialize<'de>>(&self, sql: &str, args: &[JsValue]) -> Result<Vec<T>> {
        let statement = self.stmt(sql, args)?;
        self.meter
            .d1
            .time(async {
                self.simulated.d1().await;
                statement.all().await
            })
            .await
            .map_err(d1_err)?
            .results()
            .map_err(d1_err)
    }

    pub(super) async fn first<T: for<'de> Deserialize<'de>>(&self, sql: &str, args: &[JsValue]) -> Result<Option<T>> {
        Ok(self.rows(sql, args).await?.into_iter().next())
    }

    /// Runs one statement; returns how many rows it changed.
    pub(super) async fn run(&self, sql: &str, args: &[JsValue]) -> Result<usize> {
        let statement = self.stmt(sql, args)?;
        changes(
            &self
                .meter
                .d1
                .time(async {
                    self.simulated.d1().await;
                    statement.run().await
                })
                .await
                .map_err(d1_err)?,
        )
    }

    pub(super) async fn batch(&self, statements: Vec<D1PreparedStatement>) -> Result<Vec<D1Result>> {
        self.meter
            .d1
            .time(async {
                self.simulated.d1().await;
                self.db.batch(statements).await
            })
            .await
            .map_err(d1_err)
    }
}

pub(crate) fn d1_err(e: worker::Error) -> RegistryError {
    RegistryError::internal(format!("D1: {e}"))
}

pub(crate) fn changes(r: &D1Result) -> Result<usize> {
    Ok(r.meta().map_err(d1_err)?.and_then(|m| m.changes).unwrap_or(0))
}

pub(crate) fn s(v: impl AsRef<str>) -> JsValue {
    JsValue::from_str(v.as_ref())
}

pub(crate) fn n(v: u64) -> JsValue {
    JsValue::from_f64(v as f64)
}

pub(crate) fn opt(v: Option<impl AsRef<str>>) -> JsValue {
    v.map_or(JsValue::NULL, s)
}

/// Digests go to D1 as one JSON array per statement (`json_each`), in groups that keep each
/// value far below D1's 2 MB limit (a sha512 digest is 135 bytes), all in one batch.
const DIGESTS_PER_STATEMENT: usize = 1000;

/// `digests` as JSON arrays of at most `DIGESTS_PER_STATEMENT` each.
pub(crate) fn digest_groups(digests: &[Digest]) -> Vec<JsValue> {
    digests
        .chunks(DIGESTS_PER_STATEMENT)
        .map(|g| s(serde_json::Value::from(g.iter().map(|d| d.to_string()).collect::<Vec<_>>()).to_string()))
        .collect()
}

/// Runs `sql` once per group of `digests` (bound as ?2, after `repo` as ?1), all in one
/// batch; returns the rows of all.
pub(crate) async fn rows_per_group<T: for<'de> Deserialize<'de>>(
    db: &D1Access,
    sql: &str,
    repo: &RepoName,
    digests: &[Digest],
) -> Result<Vec<T>> {
    let statements =
        digest_groups(digests).into_iter().map(|g| db.stmt(sql, &[s(repo.as_str()), g])).collect::<Result<Vec<_>>>()?;
    let mut rows = Vec::new();
    for result in db.batch(statements).await? {
        rows.extend(result.results::<T>().map_err(d1_err)?);
    }
    Ok(rows)
}

pub(crate) fn digest(v: &str) -> Result<Digest> {
    Digest::parse(v).map_err(|_| RegistryError::internal(format!("corrupt digest in D1: {v}")))
}

impl D1Metadata {
    pub(crate) fn repository_stmt(&self, repo: &RepoName, now_ms: u64) -> Result<D1PreparedStatement> {
        self.0.stmt(
            "INSERT OR IGNORE INTO repositories (name, created_at) VALUES (?1, ?2)",
            &[s(repo.as_str()), n(now_ms)],
        )
    }
}
