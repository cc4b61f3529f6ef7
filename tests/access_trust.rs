//! Access you can trust: rights end when they should, deleted content goes, no answer
//! tells a caller without read access whether a package exists, browsers cannot be made
//! to write cross-site, an operator can offboard, and failed logins are limited without
//! locking anyone out. Driven in-process on the in-memory ports.

mod common;
use base64::Engine;
use common::*;
use edge_registry::api::shared_cache::{Plan, SharedCache};
use edge_registry::api::Method::{self, *};
use serde_json::{json, Value};

fn auth(value: &str) -> Vec<(String, String)> {
    vec![("authorization".into(), value.to_string())]
}

fn bearer(token: &str) -> Vec<(String, String)> {
    auth(&format!("Bearer {token}"))
}

fn admin(reg: &MemRegistry, method: Method, path: &str, body: Value) -> Reply {
    let mut h = auth(&format!("Bearer {ADMIN_TOKEN}"));
    h.push(("content-type".into(), "application/json".into()));
    let body = if body.is_null() { Chunks::none() } else { Chunks::one(body.to_string().as_bytes()) };
    send_raw(reg, method, path, h, body)
}

/// Makes a user (if new) and a PAT through the admin API; returns (PAT, its id).
fn pat_with_id(reg: &MemRegistry, login: &str, scopes: &[&str]) -> (String, String) {
    let r = admin(reg, Post, "/admin/users", json!({"login": login}));
    assert!(r.status == 201 || r.status == 409, "{}", String::from_utf8_lossy(&r.body));
    let r = admin(reg, Post, &format!("/admin/users/{login}/tokens"), json!({"scopes": scopes, "note": "test"}));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    (r.json()["token"].as_str().unwrap().to_string(), r.json()["id"].as_str().unwrap().to_string())
}

fn pat(reg: &MemRegistry, login: &str, scopes: &[&str]) -> String {
    pat_with_id(reg, login, scopes).0
}

const ALL: &[&str] = &["read:packages", "write:packages", "delete:packages"];

fn as_user(reg: &MemRegistry, method: Method, target: &str, login: &str, token: &str) -> Reply {
    send_raw(reg, method, target, auth(&basic(login, token)), Chunks::none())
}

fn api(reg: &MemRegistry, method: Method, path: &str, login: &str, token: &str, body: Option<Value>) -> Reply {
    let body = body.map_or(Chunks::none(), |b| Chunks::one(b.to_string().as_bytes()));
    send_raw(reg, method, &format!("/api/packages/{path}"), auth(&basic(login, token)), body)
}

/// Pushes an image with one layer of `layer` bytes as `login`; returns the manifest digest.
fn push_as(reg: &MemRegistry, repo: &str, tag: &str, layer: &[u8], login: &str, token: &str) -> String {
    let headers = || auth(&basic(login, token));
    let mut digests = vec![];
    for bytes in [&b"{}"[..], layer] {
        let d = digest_of(bytes);
        let r = send_raw(reg, Post, &format!("/v2/{repo}/blobs/uploads/?digest={d}"), headers(), Chunks::one(bytes));
        assert_eq!(r.status, 201, "blob push as {login}: {}", String::from_utf8_lossy(&r.body));
        digests.push(d);
    }
    let m = image_manifest(&digests[0], &[(&digests[1], layer.len())], "");
    let mut h = headers();
    h.push(("content-type".into(), OCI_MANIFEST.into()));
    let r = send_raw(reg, Put, &format!("/v2/{repo}/manifests/{tag}"), h, Chunks::one(&m));
    assert_eq!(r.status, 201, "manifest push as {login}: {}", String::from_utf8_lossy(&r.body));
    digest_of(&m)
}

/// A registry token for `scope`, asked for with `credentials` (None: anonymously).
fn registry_token(reg: &MemRegistry, scope: &str, credentials: Option<(&str, &str)>) -> String {
    let headers = credentials.map(|(l, t)| auth(&basic(l, t))).unwrap_or_default();
    let r = send_raw(reg, Get, &format!("/token?service=registry.test&scope={scope}"), headers, Chunks::none());
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["token"].as_str().unwrap().to_string()
}

/// What a registry token says it grants.
fn granted(token: &str) -> Value {
    let claims = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["access"].clone()
}

fn make_org(reg: &MemRegistry, org: &str, owner: &str, members: &[&str]) {
    assert_eq!(admin(reg, Post, "/admin/orgs", json!({"login": org, "owner": owner})).status, 201);
    for m in members {
        let r = admin(reg, Put, &format!("/admin/orgs/{org}/members/{m}"), json!({"role": "member"}));
        assert_eq!(r.status, 200);
    }
}

// 1. Registry tokens are re-checked against the current facts on every use.

#[test]
fn a_registry_token_stops_with_the_pat_it_came_from() {
    let reg = registry();
    let (alice, id) = pat_with_id(&reg, "alice", ALL);
    push_as(&reg, "alice/app", "v1", b"layer", "alice", &alice);
    let token = registry_token(&reg, "repository:alice/app:pull", Some(("alice", &alice)));
    assert_eq!(send_raw(&reg, Get, "/v2/alice/app/manifests/v1", bearer(&token), Chunks::none()).status, 200);
    assert_eq!(admin(&reg, Delete, &format!("/admin/tokens/{id}"), Value::Null).status, 204);
    let r = send_raw(&reg, Get, "/v2/alice/app/manifests/v1", bearer(&token), Chunks::none());
    assert_eq!(r.status, 401, "a token issued from a revoked PAT still pulled");
}

#[test]
fn a_registry_token_stops_when_its_pat_expires() {
    let reg = registry();
    let alice = pat(&reg, "alice", ALL);
    push_as(&reg, "alice/app", "v1", b"layer", "alice", &alice);
    let r = admin(&reg, Post, "/admin/users/alice/tokens", json!({"scopes": ["read:packages"], "expires_in_days": 1}));
    let short = r.json()["token"].as_str().unwrap().to_string();
    reg.registry.clock.advance(86_400_000 - 60_000);
    let token = registry_token(&reg, "repository:alice/app:pull", Some(("alice", &short)));
    reg.registry.clock.advance(120_000);
    let r = send_raw(&reg, Get, "/v2/alice/app/manifests/v1", bearer(&token), Chunks::none());
    assert_eq!(r.status, 401, "a token outlived the PAT it came from");
}

#[test]
fn an_anonymous_token_stops_when_the_package_turns_private() {
    let reg = registry();
    let alice = pat(&reg, "alice", ALL);
    push_as(&reg, "alice/app", "v1", b"layer", "alice", &alice);
    make_public(&reg, "alice/app");
    let token = registry_token(&reg, "repository:alice/app:pull", None);
    assert_eq!(send_raw(&reg, Get, "/v2/alice/app/manifests/v1", bearer(&token), Chunks::none()).status, 200);
    let r = api(&reg, Patch, "alice/app", "alice", &alice, Some(json!({"visibility": "private"})));
    assert_eq!(r.status, 200);
    let r = send_raw(&reg, Get, "/v2/alice/app/manifests/v1", bearer(&token), Chunks::none());
    assert_eq!(r.status, 401, "an anonymous token still pulled a private package");
}

#[test]
fn a_registry_token_loses_a_removed_role() {
    let reg = registry();
    let alice = pat(&reg, "alice", ALL);
    let carol = pat(&reg, "carol", ALL);
    push_as(&reg, "alice/app", "v1", b"layer", "alice", &alice);
    let r = api(&reg, Put, "alice/app/collaborators/carol", "alice", &alice, Some(json!({"role": "write"})));
    assert_eq!(r.status, 200);
    let token = registry_token(&reg, "repository:alice/app:pull,push", Some(("carol", &carol)));
    assert_eq!(send_raw(&reg, Post, "/v2/alice/app/blobs/uploads/", bearer(&token), Chunks::none()).status, 202);
    assert_eq!(api(&reg, Delete, "alice/app/collaborators/carol", "alice", &alice, None).status, 204);
    let r = send_raw(&reg, Post, "/v2/alice/app/blobs/uploads/", bearer(&token), Chunks::none());
    assert!(r.status == 401 || r.status == 403, "a removed collaborator still pushed: {}", r.status);
    let r = send_raw(&reg, Get, "/v2/alice/app/manifests/v1", bearer(&token), Chunks::none());
    assert_ne!(r.status, 200, "a removed collaborator still pulled");
}

#[test]
fn a_grant_made_before_a_package_existed_does_not_outlive_its_creation() {
    let reg = registry();
    let owner = pat(&reg, "owner", ALL);
    let bob = pat(&reg, "bob", ALL);
    let carol = pat(&reg, "carol", ALL);
    let _ = owner;
    make_org(&reg, "acme", "owner", &["bob", "carol"]);
    // Bob asks for a name nobody has pushed to yet: as a member he could create it.
    let token = registry_token(&reg, "repository:acme/release:pull,push", Some(("bob", &bob)));
    // Carol creates it; only she (and the organization's owners) administer it.
    push_as(&reg, "acme/release", "v1", b"carol's layer", "carol", &carol);
    let r = send_raw(&reg, Post, "/v2/acme/release/blobs/uploads/?digest=sha256:0", bearer(&token), Chunks::none());
    assert!(r.status == 401 || r.status == 403 || r.status == 400, "{}", r.status);
    let m = image_manifest(&digest_of(b"{}"), &[], "");
    let mut h = bearer(&token);
    h.push(("content-type".into(), OCI_MANIFEST.into()));
    let r = send_raw(&reg, Put, "/v2/acme/release/manifests/v1", h, Chunks::one(&m));
    assert!(r.status == 401 || r.status == 403, "bob pushed into carol's package: {}", r.status);
    let r = send_raw(&reg, Get, "/v2/acme/release/manifests/v1", bearer(&token), Chunks::none());
    assert_ne!(r.status, 200, "bob pulled carol's private package");
    // Carol's tag is untouched.
    let r = as_user(&reg, Get, "/v2/acme/release/manifests/v1", "carol", &carol);
    assert_eq!(r.status, 200);
}

#[test]
fn a_registry_token_is_refused_by_another_service() {
    let reg = registry();
    let alice = pat(&reg, "alice", ALL);
    push_as(&reg, "alice/app", "v1", b"layer", "alice", &alice);
    let token = registry_token(&reg, "repository:alice/app:pull", Some(("alice", &alice)));
    let elsewhere = |origin: &str| {
        let req = edge_registry::api::Request::new(Get, origin, "/v2/alice/app/manifests/v1", "", bearer(&token));
        futures_executor::block_on(edge_registry::api::serve(&reg.app, &req, &mut Chunks::none())).status
    };
    assert_eq!(elsewhere("https://registry.test"), 200);
    assert_eq!(elsewhere("https://other-registry.test"), 401, "a token for one service worked at another");
}

// 2. Cache keys are never reused by another package of the same name.

/// The key the origin's answer to an anonymous GET of `target` may be stored under.
fn stored_key(reg: &MemRegistry, target: &str) -> Option<String> {
    let req = edge_registry::api::Request::new(Get, "https://registry.test", target, "", vec![]);
    futures_executor::block_on(edge_registry::api::serve(&reg.app, &req, &mut Chunks::none())).shared_cache_key
}

/// A stored answer: key, status, headers, body.
type Held = (String, u16, Vec<(String, String)>, Vec<u8>);

/// An edge cache holding what was stored in it, as the platform stores it.
#[derive(Default)]
struct Edge {
    held: std::cell::RefCell<Vec<Held>>,
    asked: std::cell::RefCell<Vec<String>>,
}

impl SharedCache<Vec<u8>> for Edge {
    async fn get(&self, plan: &Plan) -> Option<edge_registry::api::Response<Vec<u8>>> {
        let key = &plan.key;
        self.asked.borrow_mut().push(key.to_string());
        let held = self.held.borrow();
        let (_, status, headers, body) = held.iter().find(|(k, ..)| k == key)?;
        let mut resp = edge_registry::api::Response::new(*status);
        resp.headers = headers.clone();
        resp.body = edge_registry::api::Body::Bytes(body.clone());
        Some(resp)
    }

    async fn forget(&self, key: &str) {
        self.held.borrow_mut().retain(|(k, ..)| k != key);
    }
}

impl Edge {
    /// Serves `headers`' GET of `target` through this cache, storing what may be stored.
    fn get(&self, reg: &MemRegistry, target: &str, headers: Vec<(String, String)>) -> Reply {
        let req = edge_registry::api::Request::new(Get, "https://registry.test", target, "", headers);
        let mut resp =
            futures_executor::block_on(edge_registry::api::serve_with_cache(&reg.app, self, &req, &mut Chunks::none()));
        let body = match std::mem::replace(&mut resp.body, edge_registry::api::Body::Empty) {
            edge_registry::api::Body::Bytes(b) | edge_registry::api::Body::Object(b) => b,
            edge_registry::api::Body::Empty => vec![],
        };
        if let Some(key) = resp.shared_cache_key.take() {
            self.held.borrow_mut().push((key, resp.status, resp.headers.clone(), body.clone()));
        }
        Reply { status: resp.status, headers: resp.headers, body, events: resp.events, principal: resp.trace.principal }
    }

    fn last_asked(&self) -> Option<String> {
        self.asked.borrow().last().cloned()
    }
}

fn lookup_key(reg: &MemRegistry, target: &str) -> Option<String> {
    let edge = Edge::default();
    edge.get(reg, target, vec![]);
    edge.last_asked()
}

#[test]
fn a_recreated_package_never_meets_its_predecessor_in_the_cache() {
    let reg = registry();
    let alice = pat(&reg, "alice", ALL);
    push_as(&reg, "alice/app", "v1", b"the old layer", "alice", &alice);
    make_public(&reg, "alice/app");
    let old_layer = format!("/v2/alice/app/blobs/{}", digest_of(b"the old layer"));
    let old_key = stored_key(&reg, &old_layer).expect("public content is stored");
    assert_eq!(api(&reg, Delete, "alice/app", "alice", &alice, None).status, 202);
    // The name is pushed to again, with other content, and made public.
    push_as(&reg, "alice/app", "v1", b"the new layer", "alice", &alice);
    make_public(&reg, "alice/app");
    assert_eq!(anonymous(&reg, &old_layer).status, 404, "the old layer is not in the new package");
    assert_ne!(lookup_key(&reg, &old_layer), Some(old_key.clone()), "the old package's cache entry is looked up again");
    // Restoring is no way back to an old key either.
    assert_eq!(api(&reg, Delete, "alice/app", "alice", &alice, None).status, 202);
    let r = api(&reg, Post, "alice/app/restore", "alice", &alice, None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let restored = lookup_key(&reg, &format!("/v2/alice/app/blobs/{}", digest_of(b"the new layer")));
    assert!(restored.is_some());
    assert_ne!(restored, Some(old_key));
}

fn anonymous(reg: &MemRegistry, target: &str) -> Reply {
    send_raw(reg, Get, target, vec![], Chunks::none())
}

// 7. A cache hit of a package that turned private does not say it is public.

#[test]
fn a_package_made_private_is_not_answered_from_the_cache_as_public() {
    let reg = registry();
    let alice = pat(&reg, "alice", ALL);
    let manifest = push_as(&reg, "alice/app", "v1", b"layer", "alice", &alice);
    make_public(&reg, "alice/app");
    let edge = Edge::default();
    let target = format!("/v2/alice/app/manifests/{manifest}");
    edge.get(&reg, &target, vec![]);
    let hit = edge.get(&reg, &target, vec![]);
    assert_eq!(hit.header("x-cache"), Some("hit"));
    let r = api(&reg, Patch, "alice/app", "alice", &alice, Some(json!({"visibility": "private"})));
    assert_eq!(r.status, 200);
    let token = registry_token(&reg, "repository:alice/app:pull", Some(("alice", &alice)));
    let r = edge.get(&reg, &target, bearer(&token));
    assert_eq!(r.status, 200);
    let cache_control = r.header("cache-control").unwrap_or("");
    assert!(!cache_control.starts_with("public"), "{cache_control} ({:?})", r.header("x-cache"));
}

// 3. What only deleted manifests linked is not served.

#[test]
fn a_deleted_versions_layers_are_not_served_until_it_is_restored() {
    let reg = registry();
    let alice = pat(&reg, "alice", ALL);
    let old = push_as(&reg, "alice/app", "v1", b"old layer", "alice", &alice);
    push_as(&reg, "alice/app", "v2", b"new layer", "alice", &alice);
    let old_layer = format!("/v2/alice/app/blobs/{}", digest_of(b"old layer"));
    let shared_config = format!("/v2/alice/app/blobs/{}", digest_of(b"{}"));
    assert_eq!(as_user(&reg, Get, &old_layer, "alice", &alice).status, 200);

    assert_eq!(api(&reg, Delete, &format!("alice/app/versions/{old}"), "alice", &alice, None).status, 202);
    let r = as_user(&reg, Get, &old_layer, "alice", &alice);
    assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UNKNOWN"), "a deleted version's layer is still served");
    assert_eq!(as_user(&reg, Get, &shared_config, "alice", &alice).status, 200, "what v2 needs stays");

    let r = api(&reg, Post, &format!("alice/app/versions/{old}/restore"), "alice", &alice, None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(as_user(&reg, Get, &old_layer, "alice", &alice).status, 200, "restoring brings the layer back");
}

#[test]
fn a_manifest_deleted_by_digest_takes_its_own_layers_with_it() {
    let reg = registry();
    let alice = pat(&reg, "alice", ALL);
    let old = push_as(&reg, "alice/app", "v1", b"old layer", "alice", &alice);
    push_as(&reg, "alice/app", "v2", b"new layer", "alice", &alice);
    let r = as_user(&reg, Delete, &format!("/v2/alice/app/manifests/{old}"), "alice", &alice);
    assert_eq!(r.status, 202);
    let r = as_user(&reg, Get, &format!("/v2/alice/app/blobs/{}", digest_of(b"old layer")), "alice", &alice);
    assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UNKNOWN"));
    let r = as_user(&reg, Get, &format!("/v2/alice/app/blobs/{}", digest_of(b"new layer")), "alice", &alice);
    assert_eq!(r.status, 200);
}

// 4. No answer tells whether a package the caller may not read exists.

#[test]
fn an_organization_member_cannot_tell_which_private_packages_exist() {
    let reg = registry();
    let alice = pat(&reg, "alice", ALL);
    let bob = pat(&reg, "bob", ALL);
    make_org(&reg, "acme", "alice", &["bob"]);
    let manifest = push_as(&reg, "acme/secret", "v1", b"secret layer", "alice", &alice);
    let layer = digest_of(b"secret layer");

    let same = |method: Method, path: &str| {
        let existing = as_user(&reg, method, &path.replace("NAME", "acme/secret"), "bob", &bob);
        let missing = as_user(&reg, method, &path.replace("NAME", "acme/nothing"), "bob", &bob);
        assert_eq!(
            (existing.status, String::from_utf8_lossy(&existing.body).replace("acme/secret", "acme/nothing")),
            (missing.status, String::from_utf8_lossy(&missing.body).into_owned()),
            "{method:?} {path}"
        );
    };
    same(Get, "/v2/NAME/manifests/v1");
    same(Head, "/v2/NAME/manifests/v1");
    same(Get, &format!("/v2/NAME/manifests/{manifest}"));
    same(Get, &format!("/v2/NAME/blobs/{layer}"));
    same(Head, &format!("/v2/NAME/blobs/{layer}"));
    same(Get, "/v2/NAME/tags/list");
    same(Get, &format!("/v2/NAME/referrers/{manifest}"));
    same(Get, "/v2/NAME/blobs/uploads/0123456789abcdef");
    same(Get, "/api/packages/NAME");
    same(Get, "/api/packages/NAME/versions");
    same(Get, "/NAME");

    // Starting an upload answers alike, and creates no package.
    let existing = as_user(&reg, Post, "/v2/acme/secret/blobs/uploads/", "bob", &bob);
    let missing = as_user(&reg, Post, "/v2/acme/nothing/blobs/uploads/", "bob", &bob);
    assert_eq!(existing.status, missing.status, "starting an upload tells the package exists");
    let r = api(&reg, Get, "acme/nothing", "alice", &alice, None);
    assert_eq!(r.status, 404, "authorizing an upload created a package");

    // The token service grants alike.
    let existing = registry_token(&reg, "repository:acme/secret:pull,push", Some(("bob", &bob)));
    let missing = registry_token(&reg, "repository:acme/nothing:pull,push", Some(("bob", &bob)));
    assert_eq!(granted(&existing)[0]["actions"], granted(&missing)[0]["actions"], "token grants tell");
    // And nothing of the package is readable with the grant.
    let r = send_raw(&reg, Get, "/v2/acme/secret/manifests/v1", bearer(&existing), Chunks::none());
    let m = send_raw(&reg, Get, "/v2/acme/nothing/manifests/v1", bearer(&missing), Chunks::none());
    assert_eq!((r.status, r.code()), (m.status, m.code()));
    assert_ne!(r.status, 200);
}

/// A user's or an anonymous token is granted from the caller's scopes alone: the same
/// for a private package, a public one and a free name, so it tells nothing; each use is
/// decided on the facts then.
#[test]
fn token_grants_rest_on_scopes_alone_and_each_use_decides() {
    let reg = registry();
    let alice = pat(&reg, "alice", ALL);
    push_as(&reg, "alice/secret", "v1", b"secret", "alice", &alice);
    push_as(&reg, "alice/open", "v1", b"open", "alice", &alice);
    make_public(&reg, "alice/open");
    let reader = pat(&reg, "bob", &["read:packages"]);
    for (who, expected) in [(None, json!(["pull"])), (Some(("bob", reader.as_str())), json!(["pull"]))] {
        for repo in ["alice/secret", "alice/open", "alice/nothing"] {
            let grant = granted(&registry_token(&reg, &format!("repository:{repo}:pull,push,delete"), who));
            assert_eq!(grant, json!([{"repository": repo, "actions": expected}]), "{who:?} {repo}");
        }
    }
    let writer = pat(&reg, "carol", &["write:packages"]);
    let grant = granted(&registry_token(&reg, "repository:alice/secret:pull,push,delete", Some(("carol", &writer))));
    assert_eq!(grant[0]["actions"], json!(["pull", "push"]), "no more than the scopes could ever allow");
    // Each use: only what the facts allow now.
    let token = registry_token(&reg, "repository:alice/secret:pull,push", Some(("carol", &writer)));
    let r = send_raw(&reg, Get, "/v2/alice/secret/manifests/v1", bearer(&token), Chunks::none());
    assert_eq!(r.status, 401);
    let r = send_raw(&reg, Post, "/v2/alice/secret/blobs/uploads/", bearer(&token), Chunks::none());
    assert_eq!(r.status, 401);
    let token = registry_token(&reg, "repository:alice/open:pull", None);
    let r = send_raw(&reg, Get, "/v2/alice/open/manifests/v1", bearer(&token), Chunks::none());
    assert_eq!(r.status, 200);
}

// 5. Restore: permission first, and only into the package the version came from.

#[test]
fn restore_tells_nobody_without_the_right_whether_a_deletion_exists() {
    let reg = registry();
    let alice = pat(&reg, "alice", ALL);
    let mallory = pat(&reg, "mallory", ALL);
    push_as(&reg, "alice/app", "v1", b"layer", "alice", &alice);
    assert_eq!(api(&reg, Delete, "alice/app", "alice", &alice, None).status, 202);
    let deleted = api(&reg, Post, "alice/app/restore", "mallory", &mallory, None);
    let never = api(&reg, Post, "alice/never/restore", "mallory", &mallory, None);
    assert_eq!((deleted.status, deleted.body.clone()), (never.status, never.body.clone()));
    let version = digest_of(b"some version");
    let deleted = api(&reg, Post, &format!("alice/app/versions/{version}/restore"), "mallory", &mallory, None);
    let never = api(&reg, Post, &format!("alice/never/versions/{version}/restore"), "mallory", &mallory, None);
    assert_eq!((deleted.status, deleted.body), (never.status, never.body));
}

#[test]
fn a_delete_only_token_restores_and_is_told_so() {
    let reg = registry();
    let alice = pat(&reg, "alice", ALL);
    let delete_only = pat(&reg, "alice", &["delete:packages"]);
    push_as(&reg, "alice/app", "v1", b"layer", "alice", &alice);
    assert_eq!(api(&reg, Delete, "alice/app", "alice", &delete_only, None).status, 202);
    let r = api(&reg, Post, "alice/app/restore", "alice", &delete_only, None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["name"], "alice/app");
    assert_eq!(as_user(&reg, Get, "/v2/alice/app/manifests/v1", "alice", &alice).status, 200);
}

#[test]
fn a_version_restores_only_into_the_package_it_came_from() {
    let reg = registry();
    let alice = pat(&reg, "alice", ALL);
    let old = push_as(&reg, "alice/app", "v1", b"old layer", "alice", &alice);
    push_as(&reg, "alice/app", "v2", b"other layer", "alice", &alice);
    assert_eq!(api(&reg, Delete, &format!("alice/app/versions/{old}"), "alice", &alice, None).status, 202);
    assert_eq!(api(&reg, Delete, "alice/app", "alice", &alice, None).status, 202);
    push_as(&reg, "alice/app", "v3", b"a new package", "alice", &alice);
    let r = api(&reg, Post, &format!("alice/app/versions/{old}/restore"), "alice", &alice, None);
    assert!(r.status == 404 || r.status == 409, "an old package's version went into a new one: {}", r.status);
    let r = as_user(&reg, Get, &format!("/v2/alice/app/manifests/{old}"), "alice", &alice);
    assert_eq!(r.status, 404);
}

// 6. Browsers cannot be made to write cross-site.

#[test]
fn cross_site_writes_are_refused_and_registry_clients_unaffected() {
    let reg = registry();
    let alice = pat(&reg, "alice", ALL);
    push_as(&reg, "alice/app", "v1", b"layer", "alice", &alice);
    assert_eq!(api(&reg, Delete, "alice/app", "alice", &alice, None).status, 202);
    let with = |extra: &[(&str, &str)], method: Method, target: &str| {
        let mut h = auth(&basic("alice", &alice));
        h.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        send_raw(&reg, method, target, h, Chunks::none())
    };
    for headers in [
        &[("sec-fetch-site", "cross-site"), ("origin", "https://evil.test")][..],
        &[("sec-fetch-site", "same-site")][..],
        &[("origin", "https://evil.test")][..],
        &[("origin", "null")][..],
    ] {
        let r = with(headers, Post, "/api/packages/alice/app/restore");
        assert_eq!((r.status, r.code().as_str()), (403, "DENIED"), "{headers:?}");
        let r = with(headers, Post, "/v2/alice/other/blobs/uploads/?mount=sha256:00&from=alice/app");
        assert_eq!(r.status, 403, "{headers:?}");
    }
    // Reading cross-site is still fine (a link to a page), and so are same-origin writes.
    let r = with(&[("sec-fetch-site", "cross-site")], Get, "/v2/");
    assert_eq!(r.status, 200);
    let r = with(
        &[("sec-fetch-site", "same-origin"), ("origin", "https://registry.test")],
        Post,
        "/api/packages/alice/app/restore",
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // A registry client sends neither header.
    assert_eq!(with(&[], Post, "/v2/alice/app/blobs/uploads/").status, 202);
}

// 8. Offboarding.

#[test]
fn an_operator_removes_a_member_who_then_keeps_no_implied_rights() {
    let reg = registry();
    let alice = pat(&reg, "alice", ALL);
    let bob = pat(&reg, "bob", ALL);
    make_org(&reg, "acme", "alice", &["bob"]);
    push_as(&reg, "acme/tool", "v1", b"bob's layer", "bob", &bob);
    push_as(&reg, "acme/other", "v1", b"alice's layer", "alice", &alice);
    let r = api(&reg, Put, "acme/other/collaborators/bob", "alice", &alice, Some(json!({"role": "read"})));
    assert_eq!(r.status, 200);

    let r = admin(&reg, Delete, "/admin/orgs/acme/members/bob", Value::Null);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // What the member was granted on packages is listed, so an owner can take it back.
    let roles = r.json()["package_roles"].clone();
    let mut listed: Vec<(String, String)> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["package"].as_str().unwrap().to_string(), r["role"].as_str().unwrap().to_string()))
        .collect();
    listed.sort();
    assert_eq!(listed, vec![("acme/other".into(), "read".into()), ("acme/tool".into(), "admin".into())]);
    // No implied right left: no new packages in the organization.
    let d = digest_of(b"{}");
    let r = send_raw(
        &reg,
        Post,
        &format!("/v2/acme/new/blobs/uploads/?digest={d}"),
        auth(&basic("bob", &bob)),
        Chunks::one(b"{}"),
    );
    assert!(r.status == 403 || r.status == 404, "a removed member created a package: {}", r.status);
    assert_eq!(admin(&reg, Delete, "/admin/orgs/acme/members/bob", Value::Null).status, 404);
    assert_eq!(admin(&reg, Delete, "/admin/orgs/acme/members/alice", Value::Null).status, 409, "the last owner stays");
}

#[test]
fn a_suspended_users_pats_and_registry_tokens_stop_and_unsuspending_restores_them() {
    let reg = registry();
    let alice = pat(&reg, "alice", ALL);
    push_as(&reg, "alice/app", "v1", b"layer", "alice", &alice);
    let token = registry_token(&reg, "repository:alice/app:pull", Some(("alice", &alice)));
    assert_eq!(admin(&reg, Post, "/admin/users/alice/suspend", Value::Null).status, 200);
    assert_eq!(as_user(&reg, Get, "/v2/alice/app/manifests/v1", "alice", &alice).status, 401);
    assert_eq!(send_raw(&reg, Get, "/v2/alice/app/manifests/v1", bearer(&token), Chunks::none()).status, 401);
    let r =
        send_raw(&reg, Get, "/token?scope=repository:alice/app:pull", auth(&basic("alice", &alice)), Chunks::none());
    assert_eq!(r.status, 401, "a suspended user got a token");
    assert_eq!(admin(&reg, Post, "/admin/users/alice/unsuspend", Value::Null).status, 200);
    assert_eq!(as_user(&reg, Get, "/v2/alice/app/manifests/v1", "alice", &alice).status, 200);
    assert_eq!(admin(&reg, Post, "/admin/users/ghost/suspend", Value::Null).status, 404);
}

#[test]
fn an_operator_lists_a_users_tokens_without_their_secrets() {
    let reg = registry();
    let (alice, id) = pat_with_id(&reg, "alice", &["read:packages"]);
    let r = admin(
        &reg,
        Post,
        "/admin/users/alice/tokens",
        json!({"scopes": ["write:packages"], "note": "ci", "expires_in_days": 7}),
    );
    assert_eq!(r.status, 201);
    assert_eq!(as_user(&reg, Get, "/v2/", "alice", &alice).status, 200);
    let r = admin(&reg, Get, "/admin/users/alice/tokens", Value::Null);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let text = String::from_utf8_lossy(&r.body).into_owned();
    assert!(!text.contains(&alice) && !text.contains("hash"), "{text}");
    let tokens = r.json();
    let tokens = tokens.as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    let used = tokens.iter().find(|t| t["id"] == id.as_str()).unwrap();
    assert_eq!(used["scopes"], json!(["read:packages"]));
    assert_eq!(used["note"], "test");
    assert!(used["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(used["last_used_at"].as_str().is_some(), "{used}");
    let ci = tokens.iter().find(|t| t["id"] != id.as_str()).unwrap();
    assert_eq!((ci["note"].as_str(), ci["last_used_at"].as_str()), (Some("ci"), None));
    assert!(ci["expires_at"].as_str().is_some());
    assert_eq!(ci["revoked"], false);
    assert_eq!(admin(&reg, Get, "/admin/users/ghost/tokens", Value::Null).status, 404);
}

// 9. Failed logins: no guessing at speed, no lockout of a valid user.

fn from(reg: &MemRegistry, ip: Option<&str>, authorization: &str) -> Reply {
    let mut h = auth(authorization);
    if let Some(ip) = ip {
        h.push(("cf-connecting-ip".into(), ip.into()));
    }
    send_raw(reg, Get, "/v2/", h, Chunks::none())
}

#[test]
fn failures_from_a_shared_address_never_lock_out_a_valid_token() {
    let reg = registry();
    let alice = pat(&reg, "alice", ALL);
    for i in 0..40 {
        from(&reg, Some("192.0.2.7"), &basic(&format!("user{i}"), &format!("erp_{:056x}", i)));
    }
    let r = from(&reg, Some("192.0.2.7"), &basic("bob", &format!("erp_{:056x}", 99)));
    assert_eq!(r.status, 429, "the address is limited for guesses");
    assert_eq!(from(&reg, Some("192.0.2.7"), &basic("alice", &alice)).status, 200, "a valid token was locked out");
    assert_eq!(from(&reg, Some("192.0.2.7"), &format!("Bearer {alice}")).status, 200);
    // Without a client address (only local development has none) nobody shares a bucket.
    for i in 0..40 {
        from(&reg, None, &basic("mallory", &format!("erp_{:056x}", i)));
    }
    assert_eq!(from(&reg, None, &basic("alice", &alice)).status, 200);
}

#[test]
fn a_known_tokens_secret_cannot_be_guessed_at_speed() {
    let reg = registry();
    let (alice, id) = pat_with_id(&reg, "alice", ALL);
    // Wrong secrets for alice's token id, from many addresses, as a Bearer (no login named).
    let mut statuses = vec![];
    for i in 0..12u32 {
        let guess = format!("erp_{id}{:040x}", i);
        statuses.push(from(&reg, Some(&format!("198.51.100.{i}")), &format!("Bearer {guess}")).status);
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(&statuses[10..], &[429, 429], "guesses at one token's secret are not limited");
    let _ = alice;
}

#[test]
fn failed_operator_logins_are_limited() {
    let reg = registry();
    let wrong = |ip: &str| {
        let mut h = auth("Bearer not-the-operator");
        h.push(("cf-connecting-ip".into(), ip.into()));
        send_raw(&reg, Get, "/admin/users/alice/tokens", h, Chunks::none()).status
    };
    let statuses: Vec<u16> = (0..12).map(|_| wrong("203.0.113.9")).collect();
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(statuses[11], 429, "operator logins are not limited");
    assert_eq!(wrong("203.0.113.10"), 401, "another address is not affected");
}

// 11. Smaller things.

#[test]
fn a_content_range_at_the_end_of_u64_is_refused_not_a_panic() {
    let reg = registry();
    let r = send(&reg, Post, "/v2/alice/app/blobs/uploads/", &[], Chunks::none());
    assert_eq!(r.status, 202);
    let location = r.header("location").unwrap().to_string();
    let r = send(&reg, Patch, &location, &[("content-range", "0-18446744073709551615")], Chunks::one(b"x"));
    assert!(r.status == 416 || r.status == 400, "{}", r.status);
}

#[test]
fn a_token_asked_for_one_repository_in_two_scopes_grants_both() {
    // containerd asks for `pull` and `pull,push` on the repository it pushes to in one request.
    let reg = registry();
    let alice = pat(&reg, "alice", ALL);
    let scopes = "repository:alice/app:pull&scope=repository:alice/app:pull,push";
    let token = registry_token(&reg, scopes, Some(("alice", &alice)));
    assert_eq!(send_raw(&reg, Post, "/v2/alice/app/blobs/uploads/", bearer(&token), Chunks::none()).status, 202);
}
