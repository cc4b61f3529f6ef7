//! Webhooks: what a subscription is, the events, how a delivery is signed and when a
//! failed one is tried again. Delivering is the platform's job; this is the policy.

use crate::error::{RegistryError, Result};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The header that carries the signature, as GitHub names its own.
pub const SIGNATURE_HEADER: &str = "x-registry-signature-256";
pub const EVENT_HEADER: &str = "x-registry-event";
pub const DELIVERY_HEADER: &str = "x-registry-delivery";
/// The most webhooks one namespace or package may have.
pub const MAX_HOOKS_PER_SCOPE: usize = 20;
const MAX_URL_BYTES: usize = 2048;
const MIN_SECRET_BYTES: usize = 16;
const MAX_SECRET_BYTES: usize = 256;
/// Attempts of one delivery, the first included.
pub const MAX_ATTEMPTS: u32 = 6;
/// How long one attempt may take before it counts as failed.
pub const ATTEMPT_TIMEOUT_MS: u64 = 5_000;

/// What a webhook can be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Event {
    #[serde(rename = "version.pushed")]
    VersionPushed,
    #[serde(rename = "tag.moved")]
    TagMoved,
    #[serde(rename = "version.deleted")]
    VersionDeleted,
    #[serde(rename = "package.deleted")]
    PackageDeleted,
    #[serde(rename = "version.restored")]
    VersionRestored,
    #[serde(rename = "package.restored")]
    PackageRestored,
    #[serde(rename = "visibility.changed")]
    VisibilityChanged,
    #[serde(rename = "retention.run")]
    RetentionRun,
}

impl Event {
    pub const ALL: [Event; 8] = [
        Event::VersionPushed,
        Event::TagMoved,
        Event::VersionDeleted,
        Event::PackageDeleted,
        Event::VersionRestored,
        Event::PackageRestored,
        Event::VisibilityChanged,
        Event::RetentionRun,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::VersionPushed => "version.pushed",
            Event::TagMoved => "tag.moved",
            Event::VersionDeleted => "version.deleted",
            Event::PackageDeleted => "package.deleted",
            Event::VersionRestored => "version.restored",
            Event::PackageRestored => "package.restored",
            Event::VisibilityChanged => "visibility.changed",
            Event::RetentionRun => "retention.run",
        }
    }

    pub fn parse(s: &str) -> Result<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == s).ok_or_else(|| {
            let known: Vec<&str> = Event::ALL.iter().map(|e| e.as_str()).collect();
            RegistryError::BadRequest(format!("unknown event {:?}; events are {}", cut(s), known.join(", ")))
        })
    }
}

fn cut(s: &str) -> String {
    s.chars().take(64).collect()
}

/// A new subscription as requested: `{"url", "secret", "events"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HookRequest {
    url: String,
    secret: String,
    events: Vec<String>,
}

/// A valid subscription: an http(s) URL, a secret to sign with, the events wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookSpec {
    pub url: String,
    pub secret: String,
    pub events: Vec<Event>,
}

impl HookSpec {
    pub fn from_json(bytes: &[u8]) -> Result<HookSpec> {
        let bad = |m: String| RegistryError::BadRequest(m);
        let r: HookRequest = serde_json::from_slice(bytes).map_err(|e| bad(format!("invalid webhook: {e}")))?;
        let scheme_ok = r.url.starts_with("https://") || r.url.starts_with("http://");
        let host_ok = r.url.split("://").nth(1).is_some_and(|rest| {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && !host.contains('@')
        });
        if !scheme_ok || !host_ok || r.url.len() > MAX_URL_BYTES || r.url.chars().any(|c| c.is_whitespace()) {
            return Err(bad(format!(
                "url must be an http or https URL with a host, no credentials and at most {MAX_URL_BYTES} bytes"
            )));
        }
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&r.secret.len()) {
            return Err(bad(format!("secret must have {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes")));
        }
        if r.events.is_empty() {
            return Err(bad("events must name at least one event".into()));
        }
        let mut events = r.events.iter().map(|e| Event::parse(e)).collect::<Result<Vec<_>>>()?;
        events.sort();
        events.dedup();
        Ok(HookSpec { url: r.url, secret: r.secret, events })
    }
}

/// What happened, as a delivery's JSON body says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub event: Event,
    /// `namespace/name`.
    pub package: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Who did it: a login, a CI job (`ci:ISSUER:REPOSITORY:WORKFLOW`, the same for every
    /// run of that workflow), or `retention` for the scheduled policy.
    pub actor: String,
    /// The CI job that did it, as a version's provenance names it (repository, workflow,
    /// ref, commit, run id); absent when a user or the registry acted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<crate::auth::oidc::Provenance>,
    /// RFC 3339.
    pub time: String,
    /// Event-specific facts: a tag's previous digest, a new visibility, a retention run's counts.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

impl Payload {
    /// An event of `package` at `now_ms`, by `actor`.
    pub fn new(
        event: Event,
        package: &crate::oci::RepoName,
        digest: Option<&crate::oci::Digest>,
        tags: Vec<String>,
        actor: &str,
        now_ms: u64,
        details: serde_json::Value,
    ) -> Payload {
        Payload {
            event,
            package: package.to_string(),
            digest: digest.map(|d| d.to_string()),
            tags,
            actor: actor.to_string(),
            ci: None,
            time: crate::time::iso8601(now_ms / 1000),
            details,
        }
    }
}

/// `sha256=<hex of HMAC-SHA256(secret, body)>`, as GitHub signs webhooks; receivers
/// recompute it over the raw body and compare in constant time.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// The default unit of `retry_delay_ms`.
pub const RETRY_UNIT_MS: u64 = 60_000;

/// When to try a delivery again after its `attempts`-th failure: 1, 5, 15, 60 units (a
/// unit is a minute unless the operator says otherwise), then 360; `None` once it has had
/// `MAX_ATTEMPTS`.
pub fn retry_delay_ms(attempts: u32, unit_ms: u64) -> Option<u64> {
    let units = match attempts {
        0 => 0,
        1 => 1,
        2 => 5,
        3 => 15,
        4 => 60,
        n if n < MAX_ATTEMPTS => 360,
        _ => return None,
    };
    Some(units * unit_ms)
}

/// Whether a receiver's answer means it got the delivery.
pub fn delivered(status: u16) -> bool {
    (200..300).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value::Null};

    #[test]
    fn signs_as_github_does() {
        // GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!".
        assert_eq!(
            signature("It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn a_ci_jobs_event_names_it_as_provenance_does_and_a_users_has_no_ci() {
        let repo = crate::oci::RepoName::parse("acme/app").unwrap();
        let mut by_job =
            Payload::new(Event::VersionPushed, &repo, None, vec![], "ci:https://ci:octo/app:r.yml", 0, Null);
        by_job.ci = Some(crate::auth::oidc::Provenance::Ci {
            issuer: "https://ci".into(),
            platform: crate::auth::oidc::Platform::GitHub,
            repository: "octo/app".into(),
            workflow: Some("r.yml".into()),
            git_ref: Some("refs/tags/v1".into()),
            sha: Some("abc".into()),
            run_id: Some("9".into()),
        });
        let json = serde_json::to_value(&by_job).unwrap();
        assert_eq!(json["actor"], "ci:https://ci:octo/app:r.yml");
        let ci = &json["ci"];
        assert_eq!(
            (&ci["repository"], &ci["workflow"], &ci["ref"], &ci["run_id"]),
            (&json!("octo/app"), &json!("r.yml"), &json!("refs/tags/v1"), &json!("9"))
        );
        assert_eq!(serde_json::from_value::<Payload>(json).unwrap(), by_job);
        let by_user = Payload::new(Event::VersionPushed, &repo, None, vec![], "alice", 0, Null);
        let json = serde_json::to_value(&by_user).unwrap();
        assert_eq!((json["actor"].as_str(), json.get("ci")), (Some("alice"), None));
    }

    #[test]
    fn valid_subscriptions_only() {
        let ok = HookSpec::from_json(
            br#"{"url":"https://ci.example/hook","secret":"0123456789abcdef","events":["tag.moved","version.pushed","tag.moved"]}"#,
        )
        .unwrap();
        assert_eq!(ok.events, vec![Event::VersionPushed, Event::TagMoved]);
        let why = |j: &str| HookSpec::from_json(j.as_bytes()).unwrap_err().to_string();
        let with = |url: &str, secret: &str, events: &str| {
            why(&format!(r#"{{"url":"{url}","secret":"{secret}","events":{events}}}"#))
        };
        assert!(with("ftp://x/", "0123456789abcdef", r#"["tag.moved"]"#).contains("url must be"));
        assert!(with("https://user:pw@x/", "0123456789abcdef", r#"["tag.moved"]"#).contains("url must be"));
        assert!(with("https:///path", "0123456789abcdef", r#"["tag.moved"]"#).contains("url must be"));
        assert!(with("http://127.0.0.1:9/h", "short", r#"["tag.moved"]"#).contains("secret must have 16"));
        assert!(with("http://127.0.0.1:9/h", "0123456789abcdef", "[]").contains("at least one event"));
        assert!(with("http://127.0.0.1:9/h", "0123456789abcdef", r#"["tag.gone"]"#).contains("unknown event"));
        assert!(why(r#"{"url":"http://x/","secret":"0123456789abcdef","events":["tag.moved"],"x":1}"#)
            .contains("unknown field"));
    }

    #[test]
    fn retries_back_off_and_end() {
        let delays: Vec<_> = (1..=MAX_ATTEMPTS).map(|n| retry_delay_ms(n, RETRY_UNIT_MS)).collect();
        assert_eq!(delays[..5], [Some(60_000), Some(300_000), Some(900_000), Some(3_600_000), Some(21_600_000)]);
        assert_eq!(delays[5], None);
        assert_eq!(retry_delay_ms(2, 1000), Some(5000));
        assert!(delivered(204) && !delivered(301) && !delivered(500));
    }

    #[test]
    fn event_names_round_trip() {
        for e in Event::ALL {
            assert_eq!(Event::parse(e.as_str()).unwrap(), e);
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
    }
}
