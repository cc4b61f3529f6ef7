//! Webhooks of a package or a namespace, and their deliveries: recorded when an event
//! happens, sent after the request that caused it has been answered, retried with backoff
//! by the scheduled run, and logged with the receiver's status for the API to show.

use super::random_id;
use crate::error::{RegistryError, Result};
use crate::lifecycle::webhooks::{self as rules, Event, HookSpec, Payload};
use crate::oci::RepoName;
use serde::Serialize;

/// The most deliveries one listing shows, newest first.
pub const MAX_DELIVERIES_LISTED: u32 = 100;
/// How many due deliveries one scheduled run sends again.
pub const RETRIES_PER_RUN: u32 = 20;
/// How long the delivery log keeps a finished delivery, and how many a run forgets.
pub const DELIVERY_LOG_MS: u64 = 30 * 24 * 60 * 60 * 1000;
pub const PRUNED_PER_RUN: u32 = 500;

/// How long the first attempt, made right after the request, has before a scheduled
/// run may take the delivery over (it surely ended by then).
pub const FIRST_ATTEMPT_LEASE_MS: u64 = 60_000;

/// A subscription. `scope` is a namespace (a login) or a package name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub id: String,
    pub scope: String,
    pub url: String,
    /// Signs deliveries; never shown after creation, never logged.
    pub secret: String,
    pub events: Vec<Event>,
    pub created_ms: u64,
    pub created_by: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Result<DeliveryState> {
        match s {
            "pending" => Ok(DeliveryState::Pending),
            "delivered" => Ok(DeliveryState::Delivered),
            "failed" => Ok(DeliveryState::Failed),
            _ => Err(RegistryError::internal(format!("unknown delivery state {s}"))),
        }
    }
}

/// One event for one webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    pub hook: String,
    pub event: Event,
    /// The exact body sent (and signed).
    pub payload: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_ms: u64,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_ms: u64,
    pub updated_ms: u64,
}

/// Webhook metadata.
#[allow(async_fn_in_trait)]
pub trait WebhookIndex {
    /// Adds a webhook unless its scope has `MAX_HOOKS_PER_SCOPE` already; returns whether it did.
    async fn add_hook(&self, hook: &Hook) -> Result<bool>;
    async fn hooks(&self, scope: &str) -> Result<Vec<Hook>>;
    /// Removes a webhook of `scope` and its deliveries; returns whether there was one.
    async fn remove_hook(&self, scope: &str, id: &str) -> Result<bool>;
    /// The webhooks of `repo` and of its namespace; none of the package's made before it
    /// was created (they were an earlier package's of the same name).
    async fn hooks_for(&self, repo: &RepoName) -> Result<Vec<Hook>>;
    async fn add_deliveries(&self, deliveries: &[Delivery]) -> Result<()>;
    /// A webhook's deliveries, newest first, at most `limit`.
    async fn deliveries(&self, hook: &str, limit: u32) -> Result<Vec<Delivery>>;
    /// Pending deliveries due by `now_ms`, oldest due first, with their webhooks.
    async fn due_deliveries(&self, now_ms: u64, limit: u32) -> Result<Vec<(Delivery, Hook)>>;
    /// Saves an attempt's outcome, only if the delivery still has `previous_attempts`
    /// (a retry racing the first attempt does not count twice). Returns whether it saved.
    async fn record_attempt(&self, delivery: &Delivery, previous_attempts: u32) -> Result<bool>;
    /// Forgets finished deliveries created before `before_ms`, at most `limit`; returns how many.
    async fn prune_deliveries(&self, before_ms: u64, limit: u32) -> Result<usize>;
}

/// Sends one signed delivery; the platform's HTTP client.
#[allow(async_fn_in_trait)]
pub trait WebhookSender {
    /// POSTs `body` with `headers` to `url`, giving up after `timeout_ms`. Returns the
    /// receiver's status, or why there was none.
    async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: &str,
        timeout_ms: u64,
    ) -> std::result::Result<u16, String>;
}

/// Creates a webhook from a request body; its secret is in the answer this once.
pub async fn create<W: WebhookIndex>(w: &W, scope: &str, body: &[u8], by: &str, now_ms: u64) -> Result<Hook> {
    let spec = HookSpec::from_json(body)?;
    let hook = Hook {
        id: random_id()?,
        scope: scope.to_string(),
        url: spec.url,
        secret: spec.secret,
        events: spec.events,
        created_ms: now_ms,
        created_by: by.to_string(),
    };
    if !w.add_hook(&hook).await? {
        return Err(RegistryError::Conflict(format!(
            "{scope} has {} webhooks already, the most it may have",
            rules::MAX_HOOKS_PER_SCOPE
        )));
    }
    Ok(hook)
}

/// Records a delivery of each payload for every webhook of its package that wants it;
/// returns them to send now. A scheduled retry may take one over after `lease_ms`.
pub async fn record<W: WebhookIndex>(
    w: &W,
    payloads: &[Payload],
    now_ms: u64,
    lease_ms: u64,
) -> Result<Vec<(Delivery, Hook)>> {
    let mut out = vec![];
    let mut hooks_of: Vec<(String, Vec<Hook>)> = vec![];
    for p in payloads {
        let Ok(repo) = RepoName::parse(&p.package) else { continue };
        if !hooks_of.iter().any(|(r, _)| r == repo.as_str()) {
            hooks_of.push((repo.to_string(), w.hooks_for(&repo).await?));
        }
        let hooks = &hooks_of.iter().find(|(r, _)| r == repo.as_str()).map(|(_, h)| h.clone()).unwrap_or_default();
        let body = serde_json::to_string(p).map_err(RegistryError::internal)?;
        for hook in hooks.iter().filter(|h| h.events.contains(&p.event)) {
            let delivery = Delivery {
                id: random_id()?,
                hook: hook.id.clone(),
                event: p.event,
                payload: body.clone(),
                state: DeliveryState::Pending,
                attempts: 0,
                next_attempt_ms: now_ms + lease_ms,
                last_status: None,
                last_error: None,
                created_ms: now_ms,
                updated_ms: now_ms,
            };
            out.push((delivery, hook.clone()));
        }
    }
    let deliveries: Vec<Delivery> = out.iter().map(|(d, _)| d.clone()).collect();
    if !deliveries.is_empty() {
        w.add_deliveries(&deliveries).await?;
    }
    Ok(out)
}

/// Sends one delivery and records the outcome: delivered on a 2xx, else pending again
/// after a backoff, or failed after the last attempt. Each attempt is bounded by
/// `ATTEMPT_TIMEOUT_MS`, so a slow or absent receiver costs at most that.
pub async fn attempt<W: WebhookIndex, S: WebhookSender>(
    w: &W,
    sender: &S,
    delivery: &Delivery,
    hook: &Hook,
    retry_unit_ms: u64,
    now: impl Fn() -> u64,
) -> Result<Delivery> {
    let headers = [
        ("content-type", "application/json".to_string()),
        ("user-agent", "edge-registry-webhooks".to_string()),
        (rules::EVENT_HEADER, delivery.event.as_str().to_string()),
        (rules::DELIVERY_HEADER, delivery.id.clone()),
        (rules::SIGNATURE_HEADER, rules::signature(&hook.secret, delivery.payload.as_bytes())),
    ];
    let outcome = sender.post(&hook.url, &headers, &delivery.payload, rules::ATTEMPT_TIMEOUT_MS).await;
    let at = now();
    let mut d = delivery.clone();
    d.attempts += 1;
    d.updated_ms = at;
    let ok = match outcome {
        Ok(status) => {
            d.last_status = Some(status);
            d.last_error = None;
            rules::delivered(status)
        }
        Err(why) => {
            d.last_status = None;
            d.last_error = Some(why.chars().take(200).collect());
            false
        }
    };
    if ok {
        d.state = DeliveryState::Delivered;
    } else if let Some(delay) = rules::retry_delay_ms(d.attempts, retry_unit_ms) {
        d.state = DeliveryState::Pending;
        d.next_attempt_ms = at + delay;
    } else {
        d.state = DeliveryState::Failed;
    }
    w.record_attempt(&d, delivery.attempts).await?;
    Ok(d)
}

/// Sends again the deliveries that are due, at most `RETRIES_PER_RUN`; returns how many
/// were delivered and how many were tried.
pub async fn retry_due<W: WebhookIndex, S: WebhookSender>(
    w: &W,
    sender: &S,
    retry_unit_ms: u64,
    now: impl Fn() -> u64,
) -> Result<(usize, usize)> {
    let due = w.due_deliveries(now(), RETRIES_PER_RUN).await?;
    let mut delivered = 0;
    for (d, hook) in &due {
        if attempt(w, sender, d, hook, retry_unit_ms, &now).await?.state == DeliveryState::Delivered {
            delivered += 1;
        }
    }
    Ok((delivered, due.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::memory::MemoryMetadata;
    use futures_executor::block_on;
    use std::cell::RefCell;

    /// One request a receiver got: headers and body.
    type Received = (Vec<(String, String)>, String);

    /// A receiver that answers with the statuses it is given, then 204, and keeps what it got.
    #[derive(Default)]
    struct Receiver {
        answers: RefCell<Vec<std::result::Result<u16, String>>>,
        got: RefCell<Vec<Received>>,
    }

    impl WebhookSender for Receiver {
        async fn post(
            &self,
            _url: &str,
            headers: &[(&str, String)],
            body: &str,
            timeout_ms: u64,
        ) -> std::result::Result<u16, String> {
            assert_eq!(timeout_ms, rules::ATTEMPT_TIMEOUT_MS);
            let headers = headers.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
            self.got.borrow_mut().push((headers, body.to_string()));
            let mut answers = self.answers.borrow_mut();
            if answers.is_empty() {
                Ok(204)
            } else {
                answers.remove(0)
            }
        }
    }

    fn payload(event: Event, package: &str) -> Payload {
        Payload {
            event,
            package: package.into(),
            digest: None,
            tags: vec![],
            actor: "alice".into(),
            ci: None,
            time: "2026-11-30T00:00:00Z".into(),
            details: serde_json::Value::Null,
        }
    }

    #[test]
    fn events_reach_the_webhooks_that_want_them_signed_and_retried() {
        let w = MemoryMetadata::default();
        let body = br#"{"url":"http://127.0.0.1:9/h","secret":"0123456789abcdef","events":["version.pushed"]}"#;
        let on_ns = block_on(create(&w, "acme", body, "alice", 1)).unwrap();
        let other = br#"{"url":"http://127.0.0.1:9/o","secret":"0123456789abcdef","events":["tag.moved"]}"#;
        block_on(create(&w, "acme/app", other, "alice", 1)).unwrap();

        let events = [payload(Event::VersionPushed, "acme/app"), payload(Event::VersionPushed, "other/app")];
        let recorded = block_on(record(&w, &events, 10, FIRST_ATTEMPT_LEASE_MS)).unwrap();
        assert_eq!(recorded.len(), 1, "only the namespace's hook wants version.pushed of acme/app");
        let (delivery, hook) = &recorded[0];
        assert_eq!(hook.id, on_ns.id);

        // Down at first: the attempt is logged and waits a minute; the scheduled run retries.
        let receiver = Receiver::default();
        receiver.answers.borrow_mut().push(Err("connection refused".into()));
        let now = RefCell::new(20);
        let tried = block_on(attempt(&w, &receiver, delivery, hook, rules::RETRY_UNIT_MS, || *now.borrow())).unwrap();
        assert_eq!((tried.state, tried.attempts, tried.next_attempt_ms), (DeliveryState::Pending, 1, 60_020));
        assert_eq!(
            block_on(retry_due(&w, &receiver, rules::RETRY_UNIT_MS, || *now.borrow())).unwrap(),
            (0, 0),
            "not due yet"
        );
        *now.borrow_mut() = 60_020;
        assert_eq!(block_on(retry_due(&w, &receiver, rules::RETRY_UNIT_MS, || *now.borrow())).unwrap(), (1, 1));
        let log = block_on(w.deliveries(&on_ns.id, 10)).unwrap();
        assert_eq!((log[0].state, log[0].attempts, log[0].last_status), (DeliveryState::Delivered, 2, Some(204)));

        // Each attempt carries the same body, signed with the webhook's secret.
        let got = receiver.got.borrow();
        assert_eq!(got.len(), 2);
        let (headers, body) = &got[1];
        let header = |k: &str| headers.iter().find(|(h, _)| h == k).map(|(_, v)| v.clone());
        assert_eq!(header(rules::SIGNATURE_HEADER), Some(rules::signature("0123456789abcdef", body.as_bytes())));
        assert_eq!(header(rules::EVENT_HEADER).as_deref(), Some("version.pushed"));
        assert_eq!(serde_json::from_str::<Payload>(body).unwrap(), events[0]);
    }

    #[test]
    fn a_receiver_that_never_answers_well_gives_up_after_the_last_attempt() {
        let w = MemoryMetadata::default();
        let body = br#"{"url":"http://127.0.0.1:9/h","secret":"0123456789abcdef","events":["tag.moved"]}"#;
        block_on(create(&w, "acme", body, "alice", 1)).unwrap();
        let recorded = block_on(record(&w, &[payload(Event::TagMoved, "acme/app")], 0, 0)).unwrap();
        let receiver = Receiver::default();
        *receiver.answers.borrow_mut() = vec![Ok(500); rules::MAX_ATTEMPTS as usize];
        let mut d = recorded[0].0.clone();
        for _ in 0..rules::MAX_ATTEMPTS {
            d = block_on(attempt(&w, &receiver, &d, &recorded[0].1, rules::RETRY_UNIT_MS, || d.next_attempt_ms))
                .unwrap();
        }
        assert_eq!((d.state, d.attempts, d.last_status), (DeliveryState::Failed, rules::MAX_ATTEMPTS, Some(500)));
        assert!(block_on(w.due_deliveries(u64::MAX / 2, 10)).unwrap().is_empty());
    }

    #[test]
    fn bad_webhooks_are_400s_and_scopes_are_bounded() {
        let w = MemoryMetadata::default();
        assert_eq!(block_on(create(&w, "acme", b"{}", "alice", 1)).unwrap_err().status(), 400);
        let body = br#"{"url":"https://x.example/h","secret":"0123456789abcdef","events":["tag.moved"]}"#;
        for _ in 0..rules::MAX_HOOKS_PER_SCOPE {
            block_on(create(&w, "acme", body, "alice", 1)).unwrap();
        }
        assert_eq!(block_on(create(&w, "acme", body, "alice", 1)).unwrap_err().status(), 409);
    }
}
