//! The shared cache port over Cloudflare's Cache API: lookups for `api::serve_with_cache`,
//! and the copy of a response the api marked for storing. In front of it, the isolate's
//! own copy of small immutable answers (`api::memory_cache` decides what it keeps).

use super::meter::SharedMeter;
use crate::api::memory_cache::MemoryCache;
use crate::api::shared_cache::{Plan, SharedCache};
use crate::api::{Body, Response};
use std::cell::RefCell;
use worker::ResponseBody;

thread_local! {
    static MEMORY: RefCell<MemoryCache> = RefCell::new(MemoryCache::default());
}

/// Lookups are recorded in the request's meter.
pub struct EdgeCache(pub SharedMeter);

impl SharedCache<ResponseBody> for EdgeCache {
    async fn get(&self, plan: &Plan) -> Option<Response<ResponseBody>> {
        // The isolate's copy is the shared cache's answer: the request reports a hit.
        if let Some(kept) = MEMORY.with(|m| m.borrow_mut().get(plan)) {
            self.0.cache.set(Some(true));
            return Some(kept);
        }
        let hit = worker::Cache::default().get(plan.key.as_str(), false).await.ok().flatten();
        self.0.cache.set(Some(hit.is_some()));
        let mut hit = hit?;
        let mut resp = Response::new(hit.status_code());
        resp.headers = hit.headers().entries().collect();
        let size = resp.get_header("content-length").and_then(|v| v.parse::<u64>().ok());
        if MemoryCache::wants(plan, resp.status, size) {
            // Read a stored answer that fails to read as a miss: the origin answers.
            let Ok(bytes) = hit.bytes().await else {
                self.0.cache.set(Some(false));
                return None;
            };
            MEMORY.with(|m| m.borrow_mut().keep(plan, resp.status, resp.headers.clone(), &bytes));
            resp.body = Body::Bytes(bytes);
            return Some(resp);
        }
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
