//! What each fuzz target holds to, one function per target. `fuzz/fuzz_targets/*.rs` hand
//! libFuzzer's inputs to these; `tests/fuzz_regressions.rs` replays every committed seed
//! and finding through the same functions in `cargo test`, decoding the bytes as
//! libfuzzer-sys does (`replay`).
use crate::harness::{check_answer, check_error, json_of, seeded, Seeded, ADMIN_TOKEN, SIGNING_KEY};
use arbitrary::{Arbitrary, Unstructured};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use edge_registry::api::token::parse_scope;
use edge_registry::api::Method::{self, *};
use edge_registry::auth::credentials::{self, Credentials};
use edge_registry::auth::{bearer, Action, Login, Scopes};
use edge_registry::oci::manifest::{Manifest, ManifestKind};
use edge_registry::oci::range::{parse_chunk_range, parse_read_range, RangeRequest};
use edge_registry::oci::{Digest, Reference, RepoName, Tag};
use std::collections::BTreeSet;

/// Every target, by the name of its file in `fuzz/fuzz_targets/`.
pub const TARGETS: [&str; 10] = [
    "names",
    "digests",
    "ranges",
    "manifests",
    "credentials",
    "scopes",
    "token_requests",
    "json_bodies",
    "api",
    "identity_tokens",
];

/// Runs one input of `target` given as the raw bytes libFuzzer would hand it. Bytes that
/// do not decode to the target's input type are skipped, as libfuzzer-sys skips them.
/// Panics where the target would; `Err` only for a target that does not exist.
pub fn replay(target: &str, bytes: &[u8]) -> Result<(), String> {
    match target {
        "names" => decoded(bytes, names),
        "digests" => decoded(bytes, digests),
        "ranges" => decoded(bytes, ranges),
        "manifests" => decoded(bytes, manifests),
        "credentials" => decoded(bytes, credentials),
        "scopes" => decoded(bytes, scopes),
        "token_requests" => decoded(bytes, token_requests),
        "json_bodies" => decoded(bytes, json_bodies),
        "api" => decoded(bytes, api),
        "identity_tokens" => decoded(bytes, identity_tokens),
        _ => return Err(format!("no fuzz target {target:?}")),
    }
    Ok(())
}

/// libfuzzer-sys's `fuzz_target!(|input: T| ...)`: too few bytes for `T`'s size hint, or
/// bytes `T` cannot be made of, are not run.
fn decoded<'a, T: Arbitrary<'a>>(bytes: &'a [u8], target: fn(T)) {
    if bytes.len() < T::size_hint(0).0 {
        return;
    }
    if let Ok(input) = T::arbitrary_take_rest(Unstructured::new(bytes)) {
        target(input);
    }
}

/// Repository names, tags, references and logins: what parses renders back unchanged, and
/// what does not is refused with a short message.
pub fn names(input: &str) {
    match RepoName::parse(input) {
        Ok(name) => {
            assert_eq!(name.as_str(), input);
            assert!(name.as_str().len() <= 255);
            assert!(input.starts_with(&format!("{}/", name.namespace())));
        }
        Err(e) => check_error(&e),
    }
    match Tag::parse(input) {
        Ok(tag) => {
            assert_eq!(tag.as_str(), input);
            assert!(input.len() <= 128);
        }
        Err(e) => check_error(&e),
    }
    match Reference::parse(input) {
        Ok(Reference::Tag(t)) => assert_eq!(t.as_str(), input),
        Ok(Reference::Digest(d)) => assert_eq!(d.to_string(), input),
        Err(e) => check_error(&e),
    }
    match Login::parse(input) {
        Ok(login) => assert_eq!(login.as_str(), input),
        Err(e) => check_error(&e),
    }
}

/// Digests: accepted exactly when the input is `sha256:` and 64, or `sha512:` and 128,
/// lowercase hex digits (the oracle below, written from the OCI spec); what is accepted
/// renders back unchanged, what is refused is `DIGEST_INVALID` with a short message.
pub fn digests(input: &str) {
    let lower_hex = |s: &str| s.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
    let valid = match input.split_once(':') {
        Some(("sha256", hex)) => hex.len() == 64 && lower_hex(hex),
        Some(("sha512", hex)) => hex.len() == 128 && lower_hex(hex),
        _ => false,
    };
    match Digest::parse(input) {
        Ok(d) => {
            assert!(valid, "{input:?} was accepted");
            assert_eq!(d.to_string(), input);
            assert_eq!(Some(d.algorithm().as_str()), input.split(':').next());
        }
        Err(e) => {
            assert!(!valid, "{input:?} was refused");
            assert_eq!(e.code(), "DIGEST_INVALID");
            check_error(&e);
        }
    }
}

/// `Content-Range` of upload chunks and `Range` of blob reads: spans are well formed and
/// a served span lies within the blob.
pub fn ranges(input: (&str, u64)) {
    let (header, size) = input;
    match parse_chunk_range(header) {
        Ok(span) => assert!(span.start < span.end),
        Err(e) => check_error(&e),
    }
    let spans = match parse_read_range(header, size) {
        RangeRequest::Partial(span) => vec![span],
        RangeRequest::Multiple(spans) => spans,
        RangeRequest::Whole | RangeRequest::Unsatisfiable => vec![],
    };
    for span in &spans {
        assert!(span.start < span.end && span.end <= size, "{header:?} on {size} bytes gave {span:?}");
    }
    // Merged spans never repeat bytes: an answer is never larger than the blob.
    assert!(spans.iter().map(|s| s.len()).sum::<u64>() <= size, "{header:?} on {size} bytes gave {spans:?}");
}

/// Manifests and indexes: any bytes with any Content-Type parse or are refused as
/// `MANIFEST_INVALID` with a short message; an accepted one stays within the descriptor
/// limit.
pub fn manifests(input: (Option<&str>, &[u8])) {
    let (content_type, bytes) = input;
    match Manifest::parse(bytes, content_type) {
        Ok(m) => {
            assert!(m.layers.len() + m.children.len() <= 10_000);
            match m.kind {
                ManifestKind::Image => assert!(m.config.is_some() && m.children.is_empty()),
                ManifestKind::Index => assert!(m.config.is_none() && m.layers.is_empty()),
            }
            assert!(m.required_blobs().count() <= 1 + m.layers.len());
        }
        Err(e) => {
            assert_eq!(e.code(), "MANIFEST_INVALID");
            check_error(&e);
        }
    }
}

/// A key the fuzzer cannot know.
const FOREIGN_KEY: &[u8] = b"the fuzzer does not know this key";

thread_local! {
    static CREDENTIALS_APP: Seeded = seeded();
}

/// `Authorization` values and registry tokens: Basic credentials read back to exactly the
/// header's base64 (nothing lost or invented), nothing forged verifies, and the api
/// answers any such header on `/v2/` with 401 (or 429 once it counts too many failures)
/// and a short message.
pub fn credentials(input: &str) {
    let value = input.trim().split_once(' ').map(|(scheme, value)| (scheme, value.trim()));
    match credentials::parse(Some(input)) {
        Credentials::Basic { user, password } => {
            let (scheme, value) = value.expect("Basic has a value");
            assert!(scheme.eq_ignore_ascii_case("basic"));
            assert!(!user.contains(':'));
            assert_eq!(B64.encode(format!("{user}:{password}")), value, "Basic read other credentials");
        }
        Credentials::Bearer(token) => {
            let (scheme, value) = value.expect("Bearer has a value");
            assert!(scheme.eq_ignore_ascii_case("bearer"));
            assert_eq!(token, value);
            assert!(bearer::verify(&token, FOREIGN_KEY, 0).is_none());
        }
        Credentials::None | Credentials::Malformed => {}
    }
    assert!(bearer::verify(input, FOREIGN_KEY, 0).is_none());
    CREDENTIALS_APP.with(|app| {
        // A new minute for each input, so the failure counts of earlier inputs expire.
        app.app.registry.clock.advance(60_000);
        let resp = app.serve(Get, "/v2/", "", vec![("authorization".into(), input.into())], vec![]);
        check_answer(&resp, "GET /v2/");
        assert!(matches!(resp.status, 401 | 429), "GET /v2/ with {input:?}: {}", resp.status);
    });
}

/// Token request scopes (`repository[(class)]:NAME:ACTIONS`) and PAT scope lists.
pub fn scopes(input: &str) {
    if let Some((repo, actions)) = parse_scope(input) {
        // The name is the text between the type and the actions.
        assert!(input.contains(&format!(":{}:", repo.as_str())));
        assert!(actions.len() <= 3);
        assert!(actions.windows(2).all(|w| w[0] < w[1]), "actions are sorted and distinct");
    }
    match Scopes::parse_list(input.split(',')) {
        Ok(scopes) => {
            // A parsed list names only known scopes, and its names read back the same.
            assert!(input.split(',').all(|s| scopes.names().contains(&s)));
            assert_eq!(Scopes::parse_list(scopes.names()).ok(), Some(scopes));
        }
        Err(e) => check_error(&e),
    }
}

#[derive(Arbitrary, Debug)]
pub struct TokenRequest {
    /// `POST` with `form` as its body, else `GET` with it as the query.
    post: bool,
    as_alice: bool,
    form: String,
}

thread_local! {
    static TOKEN_APP: Seeded = seeded();
}

/// What a token request asks for, read plainly from the protocol's words rather than with
/// the service's parser: each space-separated `scope` value is `TYPE:NAME:ACTIONS`, with
/// NAME between the first and the last colon and ACTIONS a comma-separated list where `*`
/// stands for every action. Gives (name, action) pairs.
fn asked(form: &str) -> BTreeSet<(String, &'static str)> {
    let mut asked = BTreeSet::new();
    for (key, value) in form_urlencoded::parse(form.as_bytes()) {
        if key != "scope" {
            continue;
        }
        for scope in value.split(' ') {
            let Some((_, rest)) = scope.split_once(':') else { continue };
            let Some((name, actions)) = rest.rsplit_once(':') else { continue };
            for action in actions.split(',') {
                let named: &[&'static str] = match action {
                    "pull" => &["pull"],
                    "push" => &["push"],
                    "delete" => &["delete"],
                    "*" => &["pull", "push", "delete"],
                    _ => &[],
                };
                asked.extend(named.iter().map(|a| (name.to_string(), *a)));
            }
        }
    }
    asked
}

/// The token service (`GET /token?...` and the `POST /token` form) with any query or form,
/// as `alice` or anonymous. A token handed out grants no more than was asked: only
/// repositories named in a requested scope, only actions asked for on them, and nothing
/// but `pull` to an anonymous caller.
pub fn token_requests(input: TokenRequest) {
    TOKEN_APP.with(|app| {
        let headers = if input.as_alice { vec![app.alice_basic()] } else { vec![] };
        let resp = match input.post {
            true => app.serve(Post, "/token", "", headers, vec![input.form.clone().into_bytes()]),
            false => app.serve(Get, "/token", &input.form, headers, vec![]),
        };
        check_answer(&resp, "/token");
        if resp.status != 200 {
            return;
        }
        let token = json_of(&resp).and_then(|v| v["token"].as_str().map(String::from)).expect("a token");
        let claims = bearer::verify(&token, SIGNING_KEY, 0).expect("the token verifies");
        let asked = asked(&input.form);
        for grant in &claims.access {
            for action in &grant.actions {
                assert!(
                    asked.contains(&(grant.repository.clone(), action.as_str())),
                    "{action:?} on {} was never asked for in {:?}",
                    grant.repository,
                    input.form
                );
                assert!(input.as_alice || *action == Action::Pull, "anonymous got {action:?}");
            }
        }
    });
}

/// Every route that reads a JSON body, and whether it is the operator's.
const JSON_ROUTES: [(Method, &str, bool); 6] = [
    (Post, "/admin/users", true),
    (Post, "/admin/orgs", true),
    (Put, "/admin/orgs/acme/members/alice", true),
    (Post, "/admin/users/alice/tokens", true),
    (Patch, "/api/packages/alice/app", false),
    (Put, "/api/packages/alice/app/collaborators/alice", false),
];

#[derive(Arbitrary, Debug)]
pub struct JsonBody {
    route: u8,
    body: Vec<u8>,
}

thread_local! {
    static JSON_APP: Seeded = seeded();
}

/// The JSON bodies of the admin and package APIs, sent to every route that reads one with
/// the credentials it needs, so each byte reaches the body's parser and its validation.
/// A body that is not JSON is a `BAD_REQUEST`; nothing is a fault.
pub fn json_bodies(input: JsonBody) {
    JSON_APP.with(|app| {
        let (method, path, operator) = JSON_ROUTES[input.route as usize % JSON_ROUTES.len()];
        let auth = match operator {
            true => ("authorization".to_string(), format!("Bearer {ADMIN_TOKEN}")),
            false => app.alice_bearer(),
        };
        let resp = app.serve(method, path, "", vec![auth], vec![input.body.clone()]);
        check_answer(&resp, &format!("{method:?} {path}"));
        let within_limit = input.body.len() <= 64 * 1024;
        if within_limit && serde_json::from_slice::<serde_json::Value>(&input.body).is_err() {
            let code = json_of(&resp).map(|v| v["errors"][0]["code"].clone());
            assert_eq!(code, Some("BAD_REQUEST".into()), "{method:?} {path} took a body that is not JSON");
        }
    });
}

const API_PREFIXES: [&str; 8] = [
    "/v2/alice/app/",
    "/v2/alice/app/blobs/uploads/",
    "/v2/",
    "/api/packages/alice/",
    "/admin/",
    "/token",
    "/alice/",
    "",
];
const API_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

#[derive(Arbitrary, Debug)]
pub enum ApiAuth {
    None,
    Alice,
    Admin,
    Raw(String),
}

#[derive(Arbitrary, Debug)]
pub struct ApiRequest {
    method: u8,
    prefix: u8,
    path: String,
    query: String,
    auth: ApiAuth,
    headers: Vec<(String, String)>,
    body: Vec<Vec<u8>>,
}

thread_local! {
    static API_APP: Seeded = seeded();
}

/// The whole HTTP api on the in-memory ports: any method, path, query, headers and body.
/// This reaches every parser behind the routes: names, references, digests, ranges,
/// manifests, tokens, scopes, forms and the JSON bodies of the admin and package APIs.
/// No answer is a 500 (the in-memory ports never fail).
pub fn api(input: ApiRequest) {
    API_APP.with(|app| {
        let method = Method::parse(API_METHODS[input.method as usize % API_METHODS.len()]);
        let path = format!("{}{}", API_PREFIXES[input.prefix as usize % API_PREFIXES.len()], input.path);
        let mut headers: Vec<(String, String)> = input.headers.into_iter().take(16).collect();
        match input.auth {
            ApiAuth::None => {}
            ApiAuth::Alice => headers.push(app.alice_bearer()),
            ApiAuth::Admin => headers.push(("authorization".into(), format!("Bearer {ADMIN_TOKEN}"))),
            ApiAuth::Raw(v) => headers.push(("authorization".into(), v)),
        }
        let body = input.body.into_iter().take(64).collect();
        let resp = app.serve(method, &path, &input.query, headers, body);
        check_answer(&resp, &format!("{method:?} {path}"));
    });
}

/// The key set of the identity-token target: one P-256 key whose private half was thrown
/// away after signing the seed (`fuzz/seeds/identity_tokens/`).
const IDENTITY_KEYS: &str = r#"{"keys": [{"kty": "EC", "kid": "fuzz", "crv": "P-256", "x": "089u9Cw_dOHrYj7DhUnER0IduN64FXGcGv5LZeeE710", "y": "pPZvVfAX-7wIR-eejmNV1Yt3DBPgUWBEwXHxqQ7KDOc"}]}"#;
/// The claims the seed token carries (its middle part): the only ones that can verify.
const SIGNED_CLAIMS: &str = "eyJpc3MiOiAiaHR0cHM6Ly90b2tlbi5hY3Rpb25zLmdpdGh1YnVzZXJjb250ZW50LmNvbSIsICJhdWQiOiAiaHR0cHM6Ly9yZWdpc3RyeS5mdXp6IiwgImlhdCI6IDEwMDAsICJleHAiOiAxMzAwLCAianRpIjogImoiLCAicmVwb3NpdG9yeSI6ICJvY3RvL2FwcCIsICJyZXBvc2l0b3J5X293bmVyX2lkIjogIjEiLCAid29ya2Zsb3dfcmVmIjogIm9jdG8vYXBwLy5naXRodWIvd29ya2Zsb3dzL3JlbGVhc2UueW1sQHJlZnMvdGFncy92MSIsICJyZWYiOiAicmVmcy90YWdzL3YxIiwgInNoYSI6ICJhYmMifQ";

struct FixedKeys(edge_registry::auth::oidc::jwks::KeySet);

impl edge_registry::auth::oidc::keys::KeySource for FixedKeys {
    async fn key(
        &self,
        _issuer: &str,
        kid: &str,
    ) -> Result<edge_registry::auth::oidc::jwks::PublicKey, edge_registry::auth::oidc::Refusal> {
        self.0.get(kid).cloned().ok_or(edge_registry::auth::oidc::Refusal::UnknownKey)
    }
}

/// Identity tokens (trusted publishing): the verifier never panics, its refusals stay
/// short, and nothing verifies but the claims the issuer signed. A JWK set read from the
/// same bytes is bounded.
pub fn identity_tokens(input: &str) {
    use edge_registry::auth::oidc::{jwks::KeySet, jwt, Issuers, Verifier};
    let keys = FixedKeys(KeySet::parse(IDENTITY_KEYS.as_bytes()).expect("the fixed key set"));
    let verifier =
        Verifier { issuers: Issuers::new("", false).0, audience: "https://registry.fuzz".into(), max_life_secs: 600 };
    match futures_executor::block_on(verifier.verify(input, 1100, &keys)) {
        Ok(id) => {
            assert_eq!(input.split('.').nth(1), Some(SIGNED_CLAIMS), "only the signed claims verify");
            assert_eq!(id.repository, "octo/app");
        }
        Err(refusal) => assert!(refusal.to_string().len() <= 200, "{refusal}"),
    }
    if let Ok(t) = jwt::parse(input) {
        assert!(input.starts_with(t.signing_input));
    }
    if let Some(set) = KeySet::parse(input.as_bytes()) {
        assert!(set.len() <= 32);
    }
}
