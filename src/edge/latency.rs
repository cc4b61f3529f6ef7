//! Simulated distance to D1's primary and to R2's bucket, for local runs that should see
//! the round trips a deployment far from them would (`SIMULATED_D1_MS`, `SIMULATED_R2_MS`:
//! milliseconds added before each D1 call and each R2 operation). Off unless set.
//!
//! A deployed Worker must never slow itself down on purpose, so the variables are refused
//! unless the request arrived on a loopback address (`wrangler dev` serves 127.0.0.1 or
//! localhost; a deployment answers on its own host name): the Worker then answers 500 and
//! logs why, as for any other misconfiguration.

use std::time::Duration;
use worker::Env;

/// Milliseconds added to each call; zero adds nothing (and never yields).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Simulated {
    pub d1_ms: u64,
    pub r2_ms: u64,
}

impl Simulated {
    /// The simulated latencies for `req`, or why they are refused.
    pub fn from_env(env: &Env, req: &crate::api::Request) -> Result<Simulated, String> {
        let var = |name: &str| -> Result<u64, String> {
            match env.var(name).map(|v| v.to_string()) {
                Err(_) => Ok(0),
                Ok(v) if v.is_empty() => Ok(0),
                Ok(v) => v.parse::<u64>().map_err(|_| format!("{name} is not a number of milliseconds: {v:?}")),
            }
        };
        let simulated = Simulated { d1_ms: var("SIMULATED_D1_MS")?, r2_ms: var("SIMULATED_R2_MS")? };
        if simulated != Simulated::default() && !req.to_loopback() {
            return Err(format!(
                "SIMULATED_D1_MS / SIMULATED_R2_MS are for local runs only; {} is not a loopback address",
                req.host()
            ));
        }
        Ok(simulated)
    }

    pub async fn d1(&self) {
        wait(self.d1_ms).await
    }

    pub async fn r2(&self) {
        wait(self.r2_ms).await
    }
}

async fn wait(ms: u64) {
    if ms > 0 {
        worker::Delay::from(Duration::from_millis(ms)).await;
    }
}
