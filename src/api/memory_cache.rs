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
use std::rc::Rc;

/// Bodies larger than this are not kept (a manifest is a few KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How many answers are kept; the least recently used goes first (at most 4 MiB in all).
pub const MAX_ENTRIES: usize = 64;

struct Held {
    key: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Rc<[u8]>,
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
        resp.body = Body::Bytes(held.body.to_vec());
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
        self.entries.push_back(Held { key: plan.key.clone(), status, headers, body: body.into() });
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
