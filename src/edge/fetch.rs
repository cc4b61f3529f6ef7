//! The `Fetch` port over the Worker's `fetch`: how identity-token issuers' discovery
//! documents and keys are read.

use crate::auth::oidc::keys::Fetch;

/// Discovery documents and key sets are a few KiB; anything larger is refused.
const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct WorkerFetch;

impl Fetch for WorkerFetch {
    async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let parsed = worker::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
        let mut resp = worker::Fetch::Url(parsed).send().await.map_err(|e| format!("{url}: {e}"))?;
        if resp.status_code() != 200 {
            return Err(format!("{url}: status {}", resp.status_code()));
        }
        let declared = resp.headers().get("content-length").ok().flatten().and_then(|l| l.parse::<usize>().ok());
        if declared.is_some_and(|l| l > MAX_BODY_BYTES) {
            return Err(format!("{url}: over {MAX_BODY_BYTES} bytes"));
        }
        let body = resp.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        if body.len() > MAX_BODY_BYTES {
            return Err(format!("{url}: over {MAX_BODY_BYTES} bytes"));
        }
        Ok(body)
    }

    fn failed(&self, issuer: &str, why: &str) {
        worker::console_error!("{}", serde_json::json!({"oidc_keys_unavailable": issuer, "why": why}));
    }
}
