//! Drives the whole api in-process on the in-memory ports.
#![allow(dead_code)]

use base64::Engine;
use edge_registry::api::{self, App, Body, Method, Request, Response};
use edge_registry::auth::identity::{IdentityStore, TokenRecord};
use edge_registry::auth::memory::MemoryIdentity;
use edge_registry::auth::{pat, Login, Scopes, Visibility};
use edge_registry::error::Result;
use edge_registry::oci::{Digest, RepoName};
use edge_registry::registry::memory::{ManualClock, MemoryMetadata, MemoryObjects, MemoryPlatform};
use edge_registry::registry::ports::ChunkSource;
use edge_registry::registry::{Config, Registry};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

pub type MemApp = App<MemoryPlatform>;

/// The app and the tokens the harness made for it, one per namespace.
pub struct MemRegistry {
    pub app: MemApp,
    tokens: RefCell<HashMap<String, String>>,
}

impl std::ops::Deref for MemRegistry {
    type Target = MemApp;
    fn deref(&self) -> &MemApp {
        &self.app
    }
}

/// A body delivered in the given chunks.
pub struct Chunks(pub VecDeque<Vec<u8>>);

impl Chunks {
    pub fn none() -> Self {
        Chunks(VecDeque::new())
    }
    pub fn one(bytes: &[u8]) -> Self {
        Chunks(VecDeque::from([bytes.to_vec()]))
    }
    /// `bytes` cut into pieces of `size`, as a streamed body arrives.
    pub fn split(bytes: &[u8], size: usize) -> Self {
        Chunks(bytes.chunks(size.max(1)).map(<[u8]>::to_vec).collect())
    }
}

impl ChunkSource for Chunks {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(self.0.pop_front())
    }
}

pub const ADMIN_TOKEN: &str = "operator-secret";

/// A registry with a small part size, so multipart paths run on small test data.
pub fn registry() -> MemRegistry {
    let config = Config {
        part_size: 64,
        upload_ttl_ms: 60_000,
        max_blob_bytes: 10_000,
        grace_ms: 0,
        webhook_retry_ms: 1000,
        tag_cache_secs: 0,
    };
    let identity = MemoryIdentity::default();
    let app = App {
        registry: Registry::new(
            MemoryMetadata::sharing(&identity),
            MemoryObjects::default(),
            ManualClock::default(),
            config,
        ),
        trust: edge_registry::auth::oidc::memory::MemoryTrust::sharing(&identity),
        identity,
        signing_key: b"test signing key".to_vec(),
        previous_signing_key: None,
        admin_token: Some(ADMIN_TOKEN.to_string()),
        oidc: edge_registry::auth::oidc::Oidc::in_memory("", "https://registry.test"),
    };
    MemRegistry { app, tokens: Default::default() }
}

/// Creates `login` (if new) and a token with `scopes`; returns the token.
pub fn user_token(app: &MemApp, login: &str, scopes: &[&str]) -> String {
    futures_executor::block_on(async {
        let login = Login::parse(login).unwrap();
        app.identity.create_user(&login, 0).await.unwrap();
        let t = pat::generate().unwrap();
        let record = TokenRecord {
            id: t.id,
            login,
            hash: t.hash,
            scopes: Scopes::parse_list(scopes.iter().copied()).unwrap(),
            note: None,
            expires_ms: None,
            revoked: false,
        };
        app.identity.create_token(&record, 0).await.unwrap();
        t.secret
    })
}

pub fn basic(login: &str, token: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{login}:{token}")))
}

pub fn make_public(app: &MemApp, repo: &str) {
    let repo = RepoName::parse(repo).unwrap();
    futures_executor::block_on(app.identity.set_visibility(&repo, Visibility::Public)).unwrap();
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The events the request raised for webhooks.
    pub events: Vec<edge_registry::lifecycle::webhooks::Payload>,
    /// Who the request log names as the caller.
    pub principal: Option<String>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    /// The OCI error code of an error reply.
    pub fn code(&self) -> String {
        self.json()["errors"][0]["code"].as_str().unwrap_or("").to_string()
    }
}

fn reply(resp: Response<Vec<u8>>) -> Reply {
    let body = match resp.body {
        Body::Empty => vec![],
        Body::Bytes(b) | Body::Object(b) => b,
    };
    Reply { status: resp.status, headers: resp.headers, body, events: resp.events, principal: resp.trace.principal }
}

/// Sends one request: `target` is a path with an optional query. Requests to
/// `/v2/NAMESPACE/...` go as the user NAMESPACE (made on first use, with every scope)
/// unless they carry their own `authorization`.
pub fn send(reg: &MemRegistry, method: Method, target: &str, headers: &[(&str, &str)], body: Chunks) -> Reply {
    let mut headers: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let namespace = target.strip_prefix("/v2/").and_then(|r| r.split('/').next()).filter(|n| Login::parse(n).is_ok());
    if let Some(ns) = namespace {
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")) {
            headers.push(("authorization".into(), basic(ns, &namespace_token(reg, ns))));
        }
    }
    send_raw(reg, method, target, headers, body)
}

/// Sends one request exactly as given.
pub fn send_raw(reg: &MemApp, method: Method, target: &str, headers: Vec<(String, String)>, mut body: Chunks) -> Reply {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let req = Request::new(method, "https://registry.test", path, query, headers);
    reply(futures_executor::block_on(api::serve(reg, &req, &mut body)))
}

fn namespace_token(reg: &MemRegistry, ns: &str) -> String {
    if let Some(t) = reg.tokens.borrow().get(ns) {
        return t.clone();
    }
    let t = user_token(reg, ns, &["read:packages", "write:packages", "delete:packages"]);
    reg.tokens.borrow_mut().insert(ns.to_string(), t.clone());
    t
}

pub fn get(reg: &MemRegistry, target: &str) -> Reply {
    send(reg, Method::Get, target, &[], Chunks::none())
}

pub fn digest_of(bytes: &[u8]) -> String {
    Digest::sha256_of(bytes).to_string()
}

/// Pushes a blob monolithically; returns its digest.
pub fn push_blob(reg: &MemRegistry, repo: &str, bytes: &[u8]) -> String {
    let d = digest_of(bytes);
    let r = send(reg, Method::Post, &format!("/v2/{repo}/blobs/uploads/?digest={d}"), &[], Chunks::one(bytes));
    assert_eq!(r.status, 201, "blob push: {}", String::from_utf8_lossy(&r.body));
    d
}

/// An OCI image manifest over a config and layers already pushed.
pub fn image_manifest(config: &str, layers: &[(&str, usize)], extra: &str) -> Vec<u8> {
    let layers: Vec<String> = layers
        .iter()
        .map(|(d, size)| {
            format!(r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{d}","size":{size}}}"#)
        })
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":2}},"layers":[{}]{extra}}}"#,
        layers.join(",")
    )
    .into_bytes()
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

pub fn put_manifest(reg: &MemRegistry, repo: &str, reference: &str, body: &[u8]) -> Reply {
    send(
        reg,
        Method::Put,
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("content-type", OCI_MANIFEST)],
        Chunks::one(body),
    )
}

/// Pushes a one-layer image tagged `tag`; returns the manifest digest.
pub fn push_image(reg: &MemRegistry, repo: &str, tag: &str, layer: &[u8]) -> String {
    let config = push_blob(reg, repo, b"{}");
    let l = push_blob(reg, repo, layer);
    let m = image_manifest(&config, &[(&l, layer.len())], "");
    let r = put_manifest(reg, repo, tag, &m);
    assert_eq!(r.status, 201, "manifest push: {}", String::from_utf8_lossy(&r.body));
    digest_of(&m)
}

/// A webhook receiver on the in-memory platform: answers with the statuses it is given
/// (then 204) and keeps every request it got.
#[derive(Default)]
pub struct Receiver {
    pub answers: RefCell<Vec<std::result::Result<u16, String>>>,
    pub got: RefCell<Vec<Received>>,
}

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl edge_registry::registry::webhooks::WebhookSender for Receiver {
    async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: &str,
        _timeout_ms: u64,
    ) -> std::result::Result<u16, String> {
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        self.got.borrow_mut().push(Received { url: url.into(), headers, body: body.into() });
        let mut answers = self.answers.borrow_mut();
        if answers.is_empty() {
            Ok(204)
        } else {
            answers.remove(0)
        }
    }
}
