//! The isolate's own copy of the smallest, most asked shared-cache answers: manifests by
//! digest of public packages. Under local workerd and at the edge alike a Cache API lookup
//! is a call out of the isolate; an answer held here is served without one.
//!
//! Only what the shared cache may hold under an immutable key is kept: a manifest by
//! digest, whose key carries the package's id and content epoch (`shared_cache`), so a
//! deletion moves the key and the copy is no longer found. Tags are never kept (a push
//! purges them explicitly), nor anything private (`Plan::memory` is set for public
//! packages only). The copy is the shared cache's answer as it came, headers included.

use super::shared_cache::Plan;
use super::{Body, Response};
use std::collections::VecDeque;

/// Bodies larger than this are not kept (a manifest is a few KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How many answers are kept; the least recently used goes first (at most 4 MiB in all).
pub const MAX_ENTRIES: usize = 64;

struct Held {
    key: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Answers kept in memory, most recently used last.
#[derive(Default)]
pub struct MemoryCache {
    entries: VecDeque<Held>,
}

impl MemoryCache {
    /// The answer kept for the plan's key, if the plan allows keeping one.
    pub fn get<B>(&mut self, plan: &Plan) -> Option<Response<B>> {
        if !plan.memory {
            return None;
        }
        let at = self.entries.iter().position(|h| h.key == plan.key)?;
        let held = self.entries.remove(at)?;
        let mut resp = Response::new(held.status);
        resp.headers = held.headers.clone();
        resp.body = Body::Bytes(held.body.clone());
        self.entries.push_back(held);
        Some(resp)
    }

    /// Whether an answer of this size may be kept for this plan: ask before reading a
    /// shared-cache body into memory.
    pub fn wants(plan: &Plan, status: u16, content_length: Option<u64>) -> bool {
        plan.memory && status == 200 && content_length.is_some_and(|n| n <= MAX_BODY_BYTES as u64)
    }

    /// Keeps the shared cache's answer for the plan's key, if the plan allows it.
    pub fn keep(&mut self, plan: &Plan, status: u16, headers: Vec<(String, String)>, body: &[u8]) {
        if !Self::wants(plan, status, Some(body.len() as u64)) {
            return;
        }
        self.entries.retain(|h| h.key != plan.key);
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.pop_front();
        }
        self.entries.push_back(Held { key: plan.key.clone(), status, headers, body: body.to_vec() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(key: &str, memory: bool) -> Plan {
        Plan { key: key.into(), lookup: true, store: true, max_age_secs: None, as_get: false, memory }
    }

    fn headers() -> Vec<(String, String)> {
        vec![
            ("content-length".into(), "3".into()),
            ("etag".into(), "\"sha256:abc\"".into()),
            ("cache-control".into(), "public, max-age=31536000, immutable".into()),
        ]
    }

    fn body(resp: Response<()>) -> Vec<u8> {
        match resp.body {
            Body::Bytes(b) => b,
            _ => panic!("a kept answer has its bytes"),
        }
    }

    #[test]
    fn a_kept_answer_comes_back_as_the_shared_cache_gave_it() {
        let mut m = MemoryCache::default();
        let p = plan("https://r/v2/a/b/manifests/sha256:abc?package=p1.0", true);
        assert!(m.get::<()>(&p).is_none());
        m.keep(&p, 200, headers(), b"{}\n");
        let hit = m.get::<()>(&p).expect("kept");
        assert_eq!((hit.status, hit.headers.clone()), (200, headers()));
        assert_eq!(body(hit), b"{}\n");
        // Another epoch is another key: content deleted since is not found.
        assert!(m.get::<()>(&plan("https://r/v2/a/b/manifests/sha256:abc?package=p1.1", true)).is_none());
    }

    #[test]
    fn only_what_the_plan_allows_and_small_whole_answers_are_kept() {
        let mut m = MemoryCache::default();
        m.keep(&plan("tag-or-private", false), 200, headers(), b"{}\n");
        m.keep(&plan("partial", true), 206, headers(), b"{}\n");
        m.keep(&plan("big", true), 200, headers(), &vec![0; MAX_BODY_BYTES + 1]);
        assert!(m.entries.is_empty());
        m.keep(&plan("k", true), 200, headers(), b"{}\n");
        assert!(m.get::<()>(&plan("k", false)).is_none(), "a plan without memory never reads it");
        assert!(!MemoryCache::wants(&plan("k", true), 200, None), "an unsized body is not read into memory");
    }

    #[test]
    fn the_least_recently_used_answer_goes_first() {
        let mut m = MemoryCache::default();
        for i in 0..MAX_ENTRIES {
            m.keep(&plan(&format!("k{i}"), true), 200, headers(), b"{}\n");
        }
        assert!(m.get::<()>(&plan("k0", true)).is_some());
        m.keep(&plan("new", true), 200, headers(), b"{}\n");
        assert_eq!(m.entries.len(), MAX_ENTRIES);
        assert!(m.get::<()>(&plan("k1", true)).is_none(), "k1 was the least recently used");
        assert!(m.get::<()>(&plan("k0", true)).is_some());
        assert!(m.get::<()>(&plan("new", true)).is_some());
    }
}
