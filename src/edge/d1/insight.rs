//! Download counts and webhooks over D1 (`downloads`, `webhooks`, `webhook_deliveries`
//! in `migrations/0009_lifecycle.sql`).

use super::{changes, n, opt, s, D1Metadata};
use crate::error::{RegistryError, Result};
use crate::lifecycle::downloads::{DayCount, Downloads, RECENT_DAYS};
use crate::lifecycle::webhooks::{Event, MAX_HOOKS_PER_SCOPE};
use crate::oci::{Digest, RepoName};
use crate::registry::downloads::DownloadIndex;
use crate::registry::webhooks::{Delivery, DeliveryState, Hook, WebhookIndex};
use serde::Deserialize;

/// Counts per statement: four bound values each, under D1's 100.
const COUNTS_PER_STATEMENT: usize = 24;

fn corrupt(what: &str) -> RegistryError {
    RegistryError::internal(format!("corrupt {what} in D1"))
}

impl DownloadIndex for D1Metadata {
    async fn add_downloads(&self, counts: &[DayCount]) -> Result<()> {
        let mut statements = vec![];
        for group in counts.chunks(COUNTS_PER_STATEMENT) {
            let values: Vec<String> = (0..group.len())
                .map(|i| format!("(?{}, ?{}, ?{}, ?{})", 4 * i + 1, 4 * i + 2, 4 * i + 3, 4 * i + 4))
                .collect();
            let sql = format!(
                "INSERT INTO downloads (repository, digest, day, count) VALUES {} \
                 ON CONFLICT (repository, digest, day) DO UPDATE SET count = count + excluded.count",
                values.join(", ")
            );
            let args: Vec<_> = group
                .iter()
                .flat_map(|c| [s(c.repo.as_str()), s(c.digest.to_string()), n(c.day as u64), n(c.count)])
                .collect();
            statements.push(self.0.stmt(&sql, &args)?);
        }
        if !statements.is_empty() {
            self.0.batch(statements).await?;
        }
        Ok(())
    }

    async fn version_downloads(&self, repo: &RepoName, digests: &[Digest]) -> Result<Vec<(Digest, u64)>> {
        #[derive(Deserialize)]
        struct Row {
            digest: String,
            total: u64,
        }
        let wanted: Vec<String> = digests.iter().map(|d| d.to_string()).collect();
        let wanted = serde_json::to_string(&wanted).map_err(RegistryError::internal)?;
        let sql = "SELECT digest, sum(count) AS total FROM downloads \
                   WHERE repository = ?1 AND digest IN (SELECT value FROM json_each(?2)) GROUP BY digest";
        let rows: Vec<Row> = self.0.rows(sql, &[s(repo.as_str()), s(wanted)]).await?;
        rows.into_iter().map(|r| Ok((Digest::parse(&r.digest).map_err(|_| corrupt("digest"))?, r.total))).collect()
    }

    async fn package_downloads(&self, repo: &RepoName, today: u32) -> Result<Downloads> {
        #[derive(Deserialize)]
        struct Row {
            total: Option<u64>,
            recent: Option<u64>,
        }
        let sql = "SELECT sum(d.count) AS total, sum(CASE WHEN d.day >= ?2 THEN d.count ELSE 0 END) AS recent \
                   FROM downloads d WHERE d.repository = ?1 AND NOT EXISTS ( \
                     SELECT 1 FROM manifest_references r JOIN repository_manifests p \
                       ON p.digest = r.manifest AND p.repository = d.repository \
                     WHERE r.child = d.digest)";
        let first_recent = today.saturating_sub(RECENT_DAYS - 1);
        let row = self.0.first::<Row>(sql, &[s(repo.as_str()), n(first_recent as u64)]).await?;
        Ok(row.map_or(Downloads::default(), |r| Downloads {
            total: r.total.unwrap_or(0),
            last_30_days: r.recent.unwrap_or(0),
        }))
    }
}

#[derive(Deserialize)]
struct HookRow {
    id: String,
    scope: String,
    url: String,
    secret: String,
    events: String,
    created_at: u64,
    created_by: String,
}

impl HookRow {
    fn hook(self) -> Result<Hook> {
        let names: Vec<String> = serde_json::from_str(&self.events).map_err(|_| corrupt("webhook events"))?;
        let events = names.iter().map(|e| Event::parse(e)).collect::<Result<_>>().map_err(|_| corrupt("event"))?;
        Ok(Hook {
            id: self.id,
            scope: self.scope,
            url: self.url,
            secret: self.secret,
            events,
            created_ms: self.created_at,
            created_by: self.created_by,
        })
    }
}

const HOOK_COLUMNS: &str = "id, scope, url, secret, events, created_at, created_by";

#[derive(Deserialize)]
struct DeliveryRow {
    id: String,
    hook: String,
    event: String,
    payload: String,
    state: String,
    attempts: u32,
    next_attempt_at: u64,
    last_status: Option<u16>,
    last_error: Option<String>,
    created_at: u64,
    updated_at: u64,
}

impl DeliveryRow {
    fn delivery(self) -> Result<Delivery> {
        Ok(Delivery {
            event: Event::parse(&self.event).map_err(|_| corrupt("event"))?,
            state: DeliveryState::parse(&self.state)?,
            id: self.id,
            hook: self.hook,
            payload: self.payload,
            attempts: self.attempts,
            next_attempt_ms: self.next_attempt_at,
            last_status: self.last_status,
            last_error: self.last_error,
            created_ms: self.created_at,
            updated_ms: self.updated_at,
        })
    }
}

const DELIVERY_COLUMNS: &str =
    "id, hook, event, payload, state, attempts, next_attempt_at, last_status, last_error, created_at, updated_at";

impl WebhookIndex for D1Metadata {
    async fn add_hook(&self, h: &Hook) -> Result<bool> {
        let events: Vec<&str> = h.events.iter().map(|e| e.as_str()).collect();
        let events = serde_json::to_string(&events).map_err(RegistryError::internal)?;
        // One statement: the count and the insert cannot interleave with another add.
        let sql = format!(
            "INSERT INTO webhooks ({HOOK_COLUMNS}) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 \
             WHERE (SELECT count(*) FROM webhooks WHERE scope = ?2) < {MAX_HOOKS_PER_SCOPE}"
        );
        let args = [s(&h.id), s(&h.scope), s(&h.url), s(&h.secret), s(events), n(h.created_ms), s(&h.created_by)];
        Ok(self.0.run(&sql, &args).await? == 1)
    }

    async fn hooks(&self, scope: &str) -> Result<Vec<Hook>> {
        let sql = format!("SELECT {HOOK_COLUMNS} FROM webhooks WHERE scope = ?1 ORDER BY created_at, id");
        let rows: Vec<HookRow> = self.0.rows(&sql, &[s(scope)]).await?;
        rows.into_iter().map(HookRow::hook).collect()
    }

    async fn remove_hook(&self, scope: &str, id: &str) -> Result<bool> {
        let statements = vec![
            self.0.stmt("DELETE FROM webhooks WHERE scope = ?1 AND id = ?2", &[s(scope), s(id)])?,
            self.0.stmt(
                "DELETE FROM webhook_deliveries WHERE hook = ?1 AND NOT EXISTS (SELECT 1 FROM webhooks WHERE id = ?1)",
                &[s(id)],
            )?,
        ];
        let results = self.0.batch(statements).await?;
        Ok(results.first().map(changes).transpose()?.unwrap_or(0) == 1)
    }

    async fn hooks_for(&self, repo: &RepoName) -> Result<Vec<Hook>> {
        // A package's webhooks from before it was created belong to an earlier package of
        // that name (deleted since): they hear nothing of this one.
        let sql = format!(
            "SELECT {HOOK_COLUMNS} FROM webhooks WHERE scope = ?2 OR (scope = ?1 AND created_at >= \
               coalesce((SELECT created_at FROM packages WHERE repository = ?1), 0)) ORDER BY created_at, id"
        );
        let rows: Vec<HookRow> = self.0.rows(&sql, &[s(repo.as_str()), s(repo.namespace())]).await?;
        rows.into_iter().map(HookRow::hook).collect()
    }

    async fn add_deliveries(&self, deliveries: &[Delivery]) -> Result<()> {
        let sql = format!(
            "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        );
        let statements = deliveries
            .iter()
            .map(|d| {
                let args = [
                    s(&d.id),
                    s(&d.hook),
                    s(d.event.as_str()),
                    s(&d.payload),
                    s(d.state.as_str()),
                    n(d.attempts as u64),
                    n(d.next_attempt_ms),
                    d.last_status.map_or(wasm_bindgen::JsValue::NULL, |v| n(v as u64)),
                    opt(d.last_error.as_ref()),
                    n(d.created_ms),
                    n(d.updated_ms),
                ];
                self.0.stmt(&sql, &args)
            })
            .collect::<Result<Vec<_>>>()?;
        if !statements.is_empty() {
            self.0.batch(statements).await?;
        }
        Ok(())
    }

    async fn deliveries(&self, hook: &str, limit: u32) -> Result<Vec<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE hook = ?1 ORDER BY created_at DESC, id LIMIT ?2"
        );
        let rows: Vec<DeliveryRow> = self.0.rows(&sql, &[s(hook), n(limit as u64)]).await?;
        rows.into_iter().map(DeliveryRow::delivery).collect()
    }

    async fn due_deliveries(&self, now_ms: u64, limit: u32) -> Result<Vec<(Delivery, Hook)>> {
        #[derive(Deserialize)]
        struct Row {
            #[serde(flatten)]
            delivery: DeliveryRow,
            h_scope: String,
            h_url: String,
            h_secret: String,
            h_events: String,
            h_created_at: u64,
            h_created_by: String,
        }
        let columns: Vec<String> = DELIVERY_COLUMNS.split(", ").map(|c| format!("d.{c}")).collect();
        let sql = format!(
            "SELECT {}, h.scope AS h_scope, h.url AS h_url, h.secret AS h_secret, h.events AS h_events, \
               h.created_at AS h_created_at, h.created_by AS h_created_by \
             FROM webhook_deliveries d JOIN webhooks h ON h.id = d.hook \
             WHERE d.state = 'pending' AND d.next_attempt_at <= ?1 ORDER BY d.next_attempt_at LIMIT ?2",
            columns.join(", ")
        );
        let rows: Vec<Row> = self.0.rows(&sql, &[n(now_ms), n(limit as u64)]).await?;
        rows.into_iter()
            .map(|r| {
                let hook = HookRow {
                    id: r.delivery.hook.clone(),
                    scope: r.h_scope,
                    url: r.h_url,
                    secret: r.h_secret,
                    events: r.h_events,
                    created_at: r.h_created_at,
                    created_by: r.h_created_by,
                }
                .hook()?;
                Ok((r.delivery.delivery()?, hook))
            })
            .collect()
    }

    async fn prune_deliveries(&self, before_ms: u64, limit: u32) -> Result<usize> {
        let sql = "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries \
                   WHERE created_at < ?1 AND state != 'pending' LIMIT ?2)";
        self.0.run(sql, &[n(before_ms), n(limit as u64)]).await
    }

    async fn record_attempt(&self, d: &Delivery, previous_attempts: u32) -> Result<bool> {
        let sql = "UPDATE webhook_deliveries SET state = ?2, attempts = ?3, next_attempt_at = ?4, last_status = ?5, \
                     last_error = ?6, updated_at = ?7 WHERE id = ?1 AND attempts = ?8";
        let args = [
            s(&d.id),
            s(d.state.as_str()),
            n(d.attempts as u64),
            n(d.next_attempt_ms),
            d.last_status.map_or(wasm_bindgen::JsValue::NULL, |v| n(v as u64)),
            opt(d.last_error.as_ref()),
            n(d.updated_ms),
            n(previous_attempts as u64),
        ];
        Ok(self.0.run(sql, &args).await? == 1)
    }
}
