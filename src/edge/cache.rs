//! The shared cache port over Cloudflare's Cache API: lookups for `api::serve_with_cache`,
//! and the copy of a response the api marked for storing.

use super::meter::SharedMeter;
use crate::api::shared_cache::SharedCache;
use crate::api::{Body, Response};
use worker::ResponseBody;

/// Lookups are recorded in the request's meter.
pub struct EdgeCache(pub SharedMeter);

impl SharedCache<ResponseBody> for EdgeCache {
    async fn get(&self, key: &str) -> Option<Response<ResponseBody>> {
        let hit = worker::Cache::default().get(key, false).await.ok().flatten();
        self.0.cache.set(Some(hit.is_some()));
        let hit = hit?;
        let mut resp = Response::new(hit.status_code());
        resp.headers = hit.headers().entries().collect();
        let (_, body) = hit.into_parts();
        resp.body = Body::Object(body);
        Some(resp)
    }

    async fn forget(&self, key: &str) {
        if let Err(e) = worker::Cache::default().delete(key, false).await {
            worker::console_error!("purging the shared cache: {e}");
        }
    }
}

/// Stores a copy of `out` under `key` once it is sent (the copy tees the stream).
pub fn store(ctx: &worker::Context, key: String, out: &mut worker::Response) -> worker::Result<()> {
    let copy = out.cloned()?;
    ctx.wait_until(async move {
        if let Err(e) = worker::Cache::default().put(key.as_str(), copy).await {
            worker::console_error!("storing in the shared cache: {e}");
        }
    });
    Ok(())
}
