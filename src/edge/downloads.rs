//! The isolate's tally of pulls, written to D1 after the responses that counted them
//! (`waitUntil`), never before. One flush at a time drains everything pending, each write
//! after `GATHER_MS`, so pulls that arrive meanwhile share it.

use super::d1::{D1Access, D1Metadata};
use crate::lifecycle::downloads::{Tally, GATHER_MS};
use crate::oci::{Digest, RepoName};
use crate::registry::downloads::DownloadIndex;
use std::cell::{Cell, RefCell};

/// A flush older than this is taken as dead (its `waitUntil` was cut off).
const FLUSH_DEADLINE_MS: u64 = 30_000;

thread_local! {
    static TALLY: RefCell<Tally> = RefCell::new(Tally::default());
    /// When the running flush started (0: none).
    static FLUSHING_SINCE: Cell<u64> = const { Cell::new(0) };
}

/// Counts one pull and makes sure a flush follows the response.
pub fn count(repo: &RepoName, digest: &Digest, now_ms: u64, env: &worker::Env, ctx: &worker::Context) {
    TALLY.with(|t| t.borrow_mut().record(repo, digest, now_ms));
    let since = FLUSHING_SINCE.with(Cell::get);
    if since != 0 && now_ms.saturating_sub(since) < FLUSH_DEADLINE_MS {
        return;
    }
    let Ok(db) = env.d1("DB") else { return };
    FLUSHING_SINCE.with(|f| f.set(now_ms.max(1)));
    // After the response: off the critical path, so the edge model leaves it undelayed and
    // the request's counted round trips leave it out.
    let meta = D1Metadata(D1Access::new(db, super::latency::Simulated::default(), Default::default()));
    ctx.wait_until(async move {
        loop {
            worker::Delay::from(std::time::Duration::from_millis(GATHER_MS)).await;
            let counts = TALLY.with(|t| t.borrow_mut().take());
            if counts.is_empty() {
                break;
            }
            if let Err(e) = meta.add_downloads(&counts).await {
                worker::console_error!("writing download counts: {e:?}");
                TALLY.with(|t| t.borrow_mut().put_back(counts));
                break;
            }
        }
        FLUSHING_SINCE.with(|f| f.set(0));
    });
}
