//! What the api-level fuzz targets share: an app on the in-memory ports with a user, a
//! token of every scope and one pushed image, and the checks every answer must pass.
use edge_registry::api::{self, App, Body, Method, Request, Response};
use edge_registry::auth::identity::{IdentityStore, TokenRecord};
use edge_registry::auth::memory::MemoryIdentity;
use edge_registry::auth::{pat, Login, Scopes};
use edge_registry::oci::Digest;
use edge_registry::registry::memory::{ManualClock, MemoryMetadata, MemoryObjects, MemoryPlatform};
use edge_registry::registry::ports::ChunkSource;
use edge_registry::registry::{Config, Registry};
use futures_executor::block_on;

pub type MemApp = App<MemoryPlatform>;
pub type MemResponse = Response<<MemoryObjects as edge_registry::registry::ports::ObjectStore>::Reader>;

pub const SIGNING_KEY: &[u8] = b"fuzz signing key";
pub const ADMIN_TOKEN: &str = "fuzz-admin";
pub const ORIGIN: &str = "https://registry.fuzz";

/// A request body handed over in the chunks given.
pub struct Chunks(pub std::vec::IntoIter<Vec<u8>>);

impl Chunks {
    pub fn new(chunks: Vec<Vec<u8>>) -> Self {
        Chunks(chunks.into_iter())
    }
}

impl ChunkSource for Chunks {
    async fn next_chunk(&mut self) -> edge_registry::error::Result<Option<Vec<u8>>> {
        Ok(self.0.next())
    }
}

/// The app's user `alice`, her PAT of every scope and her image `alice/app:v1`.
pub struct Seeded {
    pub app: MemApp,
    pub alice_secret: String,
}

pub fn seeded() -> Seeded {
    let config = Config {
        part_size: 64,
        upload_ttl_ms: 60_000,
        max_blob_bytes: 100_000,
        grace_ms: 0,
        webhook_retry_ms: 1000,
        tag_cache_secs: 0,
    };
    let identity = MemoryIdentity::default();
    let app: MemApp = App {
        registry: Registry::new(
            MemoryMetadata::sharing(&identity),
            MemoryObjects::default(),
            ManualClock::default(),
            config,
        ),
        trust: edge_registry::auth::oidc::memory::MemoryTrust::sharing(&identity),
        identity,
        signing_key: SIGNING_KEY.to_vec(),
        previous_signing_key: None,
        admin_token: Some(ADMIN_TOKEN.into()),
        oidc: edge_registry::auth::oidc::Oidc::in_memory("", ORIGIN),
    };
    let alice = Login::parse("alice").unwrap();
    let token = pat::generate().unwrap();
    block_on(async {
        app.identity.create_user(&alice, 0).await.unwrap();
        let scopes = Scopes::parse_list(["read:packages", "write:packages", "delete:packages"]).unwrap();
        let record = TokenRecord {
            id: token.id,
            login: alice,
            hash: token.hash,
            scopes,
            note: None,
            expires_ms: None,
            revoked: false,
        };
        app.identity.create_token(&record, 0).await.unwrap();
    });
    let seeded = Seeded { app, alice_secret: token.secret };
    seeded.push_image();
    seeded
}

impl Seeded {
    pub fn alice_bearer(&self) -> (String, String) {
        ("authorization".into(), format!("Bearer {}", self.alice_secret))
    }

    /// `Basic alice:PAT`, as `docker login` sends it to the token service.
    pub fn alice_basic(&self) -> (String, String) {
        use base64::Engine;
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("alice:{}", self.alice_secret));
        ("authorization".into(), format!("Basic {pair}"))
    }

    pub fn serve(
        &self,
        method: Method,
        path: &str,
        query: &str,
        headers: Vec<(String, String)>,
        body: Vec<Vec<u8>>,
    ) -> MemResponse {
        let req = Request::new(method, ORIGIN, path, query, headers);
        block_on(api::serve(&self.app, &req, &mut Chunks::new(body)))
    }

    fn push_image(&self) {
        let config = b"{}".to_vec();
        let digest = Digest::sha256_of(&config);
        let r = self.serve(
            Method::Post,
            "/v2/alice/app/blobs/uploads/",
            &format!("digest={digest}"),
            vec![self.alice_bearer()],
            vec![config],
        );
        assert_eq!(r.status, 201);
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{digest}","size":2}},"layers":[]}}"#
        );
        let headers =
            vec![self.alice_bearer(), ("content-type".into(), "application/vnd.oci.image.manifest.v1+json".into())];
        let r = self.serve(Method::Put, "/v2/alice/app/manifests/v1", "", headers, vec![manifest.into_bytes()]);
        assert_eq!(r.status, 201);
    }
}

/// An error tells the client what was wrong without echoing much of what it sent.
pub const MAX_ERROR_MESSAGE: usize = 512;

/// What every answer must be, whatever was asked: a real status, never a fault (the
/// in-memory ports do not fail, so a 500 is a bug), and a short error body that names its
/// code.
pub fn check_answer(resp: &MemResponse, what: &str) {
    assert!((100..600).contains(&resp.status));
    assert_ne!(resp.status, 500, "a fault on {what}: {:?}", resp.fault);
    if resp.status >= 400 && resp.get_header("content-type") == Some("application/json") {
        let v = json_of(resp).expect("error bodies are JSON");
        assert!(v["errors"][0]["code"].is_string(), "{v}");
        let message = v["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.len() <= MAX_ERROR_MESSAGE, "{what} answered a message of {} bytes", message.len());
    }
}

/// A parser's error, as the client would read it: short.
pub fn check_error(e: &edge_registry::error::RegistryError) {
    let message = e.message();
    assert!(message.len() <= MAX_ERROR_MESSAGE, "{} message of {} bytes", e.code(), message.len());
}

pub fn json_of(resp: &MemResponse) -> Option<serde_json::Value> {
    match &resp.body {
        Body::Bytes(bytes) => serde_json::from_slice(bytes).ok(),
        _ => None,
    }
}
