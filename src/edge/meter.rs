//! Round trips of one request, counted where they leave the Worker: each D1 call (a
//! statement or a batch) and each R2 operation, with the time spent waiting for it. The
//! response reports them in `Server-Timing` and the log line; tests assert them as budgets.

use std::cell::Cell;
use std::rc::Rc;

/// Calls to one service and the milliseconds spent waiting for them.
#[derive(Default)]
pub struct Calls {
    count: Cell<u32>,
    ms: Cell<f64>,
}

impl Calls {
    /// Counts one call and times it.
    pub async fn time<T>(&self, call: impl std::future::Future<Output = T>) -> T {
        let started = worker::Date::now().as_millis();
        let out = call.await;
        self.count.set(self.count.get() + 1);
        self.ms.set(self.ms.get() + worker::Date::now().as_millis().saturating_sub(started) as f64);
        out
    }

    /// Counts calls made later, outside the request (the parts of a multi-range answer
    /// are read while the body streams).
    pub fn count_later(&self, calls: u32) {
        self.count.set(self.count.get() + calls);
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({ "count": self.count.get(), "ms": self.ms.get() })
    }
}

/// What one request cost.
#[derive(Default)]
pub struct Meter {
    pub d1: Calls,
    pub r2: Calls,
    /// Whether the shared cache was asked, and whether it answered.
    pub cache: Cell<Option<bool>>,
}

pub type SharedMeter = Rc<Meter>;

impl Meter {
    /// `d1;count=2;dur=3, r2;count=1;dur=0, cache;desc=hit`
    pub fn server_timing(&self) -> String {
        let mut parts: Vec<String> = [("d1", &self.d1), ("r2", &self.r2)]
            .iter()
            .map(|(name, c)| format!("{name};count={};dur={}", c.count.get(), c.ms.get()))
            .collect();
        if let Some(hit) = self.cache.get() {
            parts.push(format!("cache;desc={}", if hit { "hit" } else { "miss" }));
        }
        parts.join(", ")
    }

    pub fn json(&self) -> serde_json::Value {
        let cache = self.cache.get().map(|hit| if hit { "hit" } else { "miss" });
        serde_json::json!({ "d1": self.d1.json(), "r2": self.r2.json(), "cache": cache })
    }
}
