//! The whole HTTP api on the in-memory ports: any method, path, query, headers and body.
//! Every answer is a well-formed response and none is a fault (the in-memory ports never
//! fail, so a 500 is a bug). This reaches every parser behind the routes: names,
//! references, digests, ranges, manifests, tokens, scopes, forms and the JSON bodies of
//! the admin and package APIs.
#![no_main]
use arbitrary::Arbitrary;
use edge_registry::api::{self, App, Body, Method, Request};
use edge_registry::auth::identity::{IdentityStore, TokenRecord};
use edge_registry::auth::memory::MemoryIdentity;
use edge_registry::auth::{pat, Login, Scopes};
use edge_registry::registry::memory::{ManualClock, MemoryMetadata, MemoryObjects};
use edge_registry::registry::ports::ChunkSource;
use edge_registry::registry::{Config, Registry};
use futures_executor::block_on;
use libfuzzer_sys::fuzz_target;

type MemApp = App<MemoryMetadata, MemoryObjects, ManualClock, MemoryIdentity>;

const PREFIXES: [&str; 8] =
    ["/v2/alice/app/", "/v2/alice/app/blobs/uploads/", "/v2/", "/api/packages/alice/", "/admin/", "/token", "/alice/", ""];
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

#[derive(Arbitrary, Debug)]
enum Auth {
    None,
    Alice,
    Admin,
    Raw(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    method: u8,
    prefix: u8,
    path: String,
    query: String,
    auth: Auth,
    headers: Vec<(String, String)>,
    body: Vec<Vec<u8>>,
}

struct Chunks(std::vec::IntoIter<Vec<u8>>);

impl ChunkSource for Chunks {
    async fn next_chunk(&mut self) -> edge_registry::error::Result<Option<Vec<u8>>> {
        Ok(self.0.next())
    }
}

thread_local! {
    static APP: (MemApp, String) = seeded();
}

/// An app with the user `alice` and a token of every scope.
fn seeded() -> (MemApp, String) {
    let config = Config { part_size: 64, upload_ttl_ms: 60_000, max_blob_bytes: 100_000 };
    let app = App {
        registry: Registry::new(MemoryMetadata::default(), MemoryObjects::default(), ManualClock::default(), config),
        identity: MemoryIdentity::default(),
        signing_key: b"fuzz signing key".to_vec(),
        previous_signing_key: None,
        admin_token: Some("fuzz-admin".into()),
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
    (app, token.secret)
}

fuzz_target!(|input: Input| {
    APP.with(|(app, secret)| {
        let method = Method::parse(METHODS[input.method as usize % METHODS.len()]);
        let path = format!("{}{}", PREFIXES[input.prefix as usize % PREFIXES.len()], input.path);
        let mut headers: Vec<(String, String)> = input.headers.into_iter().take(16).collect();
        match input.auth {
            Auth::None => {}
            Auth::Alice => headers.push(("authorization".into(), format!("Bearer {secret}"))),
            Auth::Admin => headers.push(("authorization".into(), "Bearer fuzz-admin".into())),
            Auth::Raw(v) => headers.push(("authorization".into(), v)),
        }
        let req = Request::new(method, "https://registry.fuzz", &path, &input.query, headers);
        let mut body = Chunks(input.body.into_iter().take(64).collect::<Vec<_>>().into_iter());
        let resp = block_on(api::serve(app, &req, &mut body));
        assert!((100..600).contains(&resp.status));
        assert_ne!(resp.status, 500, "a fault on {method:?} {path}: {:?}", resp.fault);
        if resp.status >= 400 && resp.get_header("content-type") == Some("application/json") {
            if let Body::Bytes(bytes) = &resp.body {
                let v: serde_json::Value = serde_json::from_slice(bytes).expect("error bodies are JSON");
                assert!(v["errors"][0]["code"].is_string(), "{v}");
            }
        }
    });
});
