//! Identity and access through the whole api, in-process: what a user of the registry
//! notices about who may do what.

mod common;
use common::*;
use edge_registry::api::Method::{self, *};
use serde_json::json;

fn auth(value: &str) -> Vec<(String, String)> {
    vec![("authorization".into(), value.to_string())]
}

fn admin(reg: &MemRegistry, method: Method, path: &str, body: serde_json::Value) -> Reply {
    let mut h = auth(&format!("Bearer {ADMIN_TOKEN}"));
    h.push(("content-type".into(), "application/json".into()));
    send_raw(reg, method, path, h, Chunks::one(body.to_string().as_bytes()))
}

/// Makes a user and a PAT through the admin API; returns the PAT.
fn pat(reg: &MemRegistry, login: &str, scopes: &[&str]) -> String {
    let r = admin(reg, Post, "/admin/users", json!({"login": login}));
    assert!(r.status == 201 || r.status == 409, "{}", String::from_utf8_lossy(&r.body));
    let r = admin(reg, Post, &format!("/admin/users/{login}/tokens"), json!({"scopes": scopes, "note": "test"}));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["token"].as_str().unwrap().to_string()
}

fn as_user(reg: &MemRegistry, method: Method, target: &str, login: &str, token: &str, body: Chunks) -> Reply {
    send_raw(reg, method, target, auth(&basic(login, token)), body)
}

/// Pushes a one-blob image as `login`; returns the status of the manifest PUT.
fn push_as(reg: &MemRegistry, repo: &str, login: &str, token: &str) -> u16 {
    let config = b"{}";
    let d = digest_of(config);
    let r = as_user(reg, Post, &format!("/v2/{repo}/blobs/uploads/?digest={d}"), login, token, Chunks::one(config));
    if r.status != 201 {
        return r.status;
    }
    let m = image_manifest(&d, &[], "");
    let mut h = auth(&basic(login, token));
    h.push(("content-type".into(), OCI_MANIFEST.into()));
    send_raw(reg, Put, &format!("/v2/{repo}/manifests/v1"), h, Chunks::one(&m)).status
}

fn anonymous_get(reg: &MemRegistry, target: &str) -> Reply {
    send_raw(reg, Get, target, vec![], Chunks::none())
}

#[test]
fn packages_start_private_and_public_ones_pull_anonymously() {
    let reg = registry();
    let alice = pat(&reg, "alice", &["write:packages"]);
    assert_eq!(push_as(&reg, "alice/app", "alice", &alice), 201);

    let r = anonymous_get(&reg, "/v2/alice/app/manifests/v1");
    assert_eq!((r.status, r.code().as_str()), (401, "UNAUTHORIZED"));
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Bearer realm="https://registry.test/token",service="registry.test",scope="repository:alice/app:pull""#)
    );
    // The same answer as for a name that does not exist.
    let missing = anonymous_get(&reg, "/v2/alice/nothing/manifests/v1");
    assert_eq!((missing.status, missing.body.clone()), (401, r.body.clone()));

    let mut h = auth(&basic("alice", &alice));
    h.push(("content-type".into(), "application/json".into()));
    let r = send_raw(&reg, Patch, "/api/packages/alice/app", h, Chunks::one(br#"{"visibility":"public"}"#));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["visibility"], "public");
    assert_eq!(anonymous_get(&reg, "/v2/alice/app/manifests/v1").status, 200);
    // Pulling is all anonymous callers may do.
    let r = send_raw(&reg, Delete, "/v2/alice/app/manifests/v1", vec![], Chunks::none());
    assert_eq!(r.status, 401);
}

#[test]
fn strangers_see_private_packages_as_missing_and_cannot_push() {
    let reg = registry();
    let alice = pat(&reg, "alice", &["write:packages"]);
    let bob = pat(&reg, "bob", &["write:packages", "delete:packages"]);
    assert_eq!(push_as(&reg, "alice/app", "alice", &alice), 201);

    let r = as_user(&reg, Get, "/v2/alice/app/manifests/v1", "bob", &bob, Chunks::none());
    let missing = as_user(&reg, Get, "/v2/alice/nothing/manifests/v1", "bob", &bob, Chunks::none());
    assert_eq!((r.status, r.code()), (404, "NAME_UNKNOWN".to_string()));
    assert_eq!(r.body, missing.body);

    assert_eq!(push_as(&reg, "alice/app", "bob", &bob), 403);
    assert_eq!(push_as(&reg, "alice/new", "bob", &bob), 403);
    let r = as_user(&reg, Delete, "/v2/alice/app/manifests/v1", "bob", &bob, Chunks::none());
    assert_eq!((r.status, r.code().as_str()), (403, "DENIED"));
}

#[test]
fn scopes_limit_what_a_token_does() {
    let reg = registry();
    let write = pat(&reg, "alice", &["write:packages"]);
    let read = pat(&reg, "alice", &["read:packages"]);
    let delete_only = pat(&reg, "alice", &["delete:packages"]);
    assert_eq!(push_as(&reg, "alice/app", "alice", &read), 403);
    assert_eq!(push_as(&reg, "alice/app", "alice", &write), 201);
    assert_eq!(as_user(&reg, Get, "/v2/alice/app/manifests/v1", "alice", &read, Chunks::none()).status, 200);
    let r = as_user(&reg, Delete, "/v2/alice/app/manifests/v1", "alice", &write, Chunks::none());
    assert_eq!(r.status, 403);
    let r = as_user(&reg, Delete, "/v2/alice/app/manifests/v1", "alice", &delete_only, Chunks::none());
    assert_eq!(r.status, 202);
}

#[test]
fn collaborators_and_organizations() {
    let reg = registry();
    let alice = pat(&reg, "alice", &["write:packages", "delete:packages"]);
    let bob = pat(&reg, "bob", &["write:packages", "delete:packages"]);
    assert_eq!(admin(&reg, Post, "/admin/orgs", json!({"login": "acme", "owner": "alice"})).status, 201);
    assert_eq!(admin(&reg, Put, "/admin/orgs/acme/members/bob", json!({"role": "member"})).status, 200);

    // A member creates a package in the organization and administers it.
    assert_eq!(push_as(&reg, "acme/tool", "bob", &bob), 201);
    // The organization's owner administers it too.
    assert_eq!(as_user(&reg, Get, "/v2/acme/tool/manifests/v1", "alice", &alice, Chunks::none()).status, 200);

    let carol = pat(&reg, "carol", &["write:packages"]);
    assert_eq!(push_as(&reg, "acme/tool", "carol", &carol), 403);
    let mut h = auth(&basic("bob", &bob));
    h.push(("content-type".into(), "application/json".into()));
    let r = send_raw(
        &reg,
        Put,
        "/api/packages/acme/tool/collaborators/carol",
        h.clone(),
        Chunks::one(br#"{"role":"write"}"#),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(push_as(&reg, "acme/tool", "carol", &carol), 201);
    let info = send_raw(&reg, Get, "/api/packages/acme/tool", h.clone(), Chunks::none()).json();
    assert_eq!(info["visibility"], "private");
    assert_eq!(info["collaborators"].as_array().unwrap().len(), 2);
    // Collaborators other than admins do not see the list.
    let r = as_user(&reg, Get, "/api/packages/acme/tool", "carol", &carol, Chunks::none());
    assert!(r.json().get("collaborators").is_none());
    // A writer cannot change visibility or roles.
    let mut hc = auth(&basic("carol", &carol));
    hc.push(("content-type".into(), "application/json".into()));
    let r = send_raw(&reg, Patch, "/api/packages/acme/tool", hc, Chunks::one(br#"{"visibility":"public"}"#));
    assert_eq!(r.status, 403);
    let r = send_raw(&reg, Delete, "/api/packages/acme/tool/collaborators/carol", h, Chunks::none());
    assert_eq!(r.status, 204);
    assert_eq!(push_as(&reg, "acme/tool", "carol", &carol), 403);
}

#[test]
fn revoked_and_wrong_tokens_stop_working_at_once() {
    let reg = registry();
    let r = admin(&reg, Post, "/admin/users", json!({"login": "alice"}));
    assert_eq!(r.status, 201);
    let r = admin(&reg, Post, "/admin/users/alice/tokens", json!({"scopes": ["write:packages"]}));
    let (id, token) = (r.json()["id"].as_str().unwrap().to_string(), r.json()["token"].as_str().unwrap().to_string());
    assert!(token.starts_with("erp_"));
    assert_eq!(push_as(&reg, "alice/app", "alice", &token), 201);
    assert_eq!(push_as(&reg, "alice/app", "bob", &token), 401, "a token is bound to its user");
    let last = if token.ends_with('0') { '1' } else { '0' };
    assert_eq!(push_as(&reg, "alice/app", "alice", &format!("{}{last}", &token[..token.len() - 1])), 401);
    assert_eq!(admin(&reg, Delete, &format!("/admin/tokens/{id}"), json!(null)).status, 204);
    assert_eq!(push_as(&reg, "alice/app", "alice", &token), 401);
    for bad in ["Basic !!!", "Bearer nonsense", "Digest x"] {
        let r = send_raw(&reg, Get, "/v2/", auth(bad), Chunks::none());
        assert_eq!((r.status, r.code().as_str()), (401, "UNAUTHORIZED"), "{bad}");
    }
}

#[test]
fn token_service_grants_the_intersection() {
    let reg = registry();
    let alice = pat(&reg, "alice", &["write:packages"]);
    assert_eq!(push_as(&reg, "alice/app", "alice", &alice), 201);
    let bob = pat(&reg, "bob", &["read:packages"]);

    // docker login: no scope, valid credentials.
    let r = send_raw(&reg, Get, "/token?service=registry.test&account=bob", auth(&basic("bob", &bob)), Chunks::none());
    assert_eq!(r.status, 200);
    assert!(r.json()["issued_at"].as_str().unwrap().ends_with('Z'));
    // The request log names who got the token, and nobody for a refused password.
    assert_eq!(r.principal.as_deref(), Some("bob"));
    let r = send_raw(&reg, Get, "/token?service=registry.test", auth(&basic("bob", "erp_wrong")), Chunks::none());
    assert_eq!((r.status, r.principal), (401, None));

    // Alice gets pull and push on her package; a token then works as a Bearer.
    let r = send_raw(
        &reg,
        Get,
        "/token?scope=repository:alice/app:pull,push",
        auth(&basic("alice", &alice)),
        Chunks::none(),
    );
    let token = r.json()["token"].as_str().unwrap().to_string();
    assert_eq!(r.json()["access_token"], token.as_str());
    let r = send_raw(&reg, Get, "/v2/alice/app/manifests/v1", auth(&format!("Bearer {token}")), Chunks::none());
    assert_eq!(r.status, 200);

    // Bob asks for pull and push on alice/app and gets nothing: the token works for nothing
    // there, and the answer names the scope it lacks, as for a repository that does not exist.
    let r =
        send_raw(&reg, Get, "/token?scope=repository:alice/app:pull,push", auth(&basic("bob", &bob)), Chunks::none());
    let token = r.json()["token"].as_str().unwrap().to_string();
    let r = send_raw(&reg, Get, "/v2/alice/app/manifests/v1", auth(&format!("Bearer {token}")), Chunks::none());
    assert_eq!(r.status, 401);
    // The token is valid but lacks the access: `insufficient_scope`, which docker reports
    // as "denied" at once (without it, docker retries a refused push for ~50 s).
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .ends_with(r#"scope="repository:alice/app:pull",error="insufficient_scope""#));
    let missing =
        send_raw(&reg, Get, "/v2/alice/nothing/manifests/v1", auth(&format!("Bearer {token}")), Chunks::none());
    assert_eq!((missing.status, missing.body), (401, r.body));

    // Anonymous tokens pull public packages only.
    make_public(&reg, "alice/app");
    let r = send_raw(&reg, Get, "/token?scope=repository:alice/app:pull,push", vec![], Chunks::none());
    assert_eq!(r.principal, None);
    let token = r.json()["token"].as_str().unwrap().to_string();
    let bearer = auth(&format!("Bearer {token}"));
    assert_eq!(send_raw(&reg, Get, "/v2/alice/app/manifests/v1", bearer.clone(), Chunks::none()).status, 200);
    let r = send_raw(&reg, Post, "/v2/alice/app/blobs/uploads/", bearer, Chunks::none());
    assert_eq!(r.status, 401);
}

#[test]
fn mount_from_an_unreadable_package_falls_back_to_an_upload() {
    let reg = registry();
    let alice = pat(&reg, "alice", &["write:packages"]);
    let bob = pat(&reg, "bob", &["write:packages"]);
    assert_eq!(push_as(&reg, "alice/app", "alice", &alice), 201);
    let d = digest_of(b"{}");
    let r = as_user(
        &reg,
        Post,
        &format!("/v2/bob/app/blobs/uploads/?mount={d}&from=alice/app"),
        "bob",
        &bob,
        Chunks::none(),
    );
    assert_eq!(r.status, 202, "the blob must not be revealed");
    let r = as_user(&reg, Get, &format!("/v2/bob/app/blobs/{d}"), "bob", &bob, Chunks::none());
    assert_eq!(r.status, 404);
    // Alice herself mounts between her packages.
    let r = as_user(
        &reg,
        Post,
        &format!("/v2/alice/copy/blobs/uploads/?mount={d}&from=alice/app"),
        "alice",
        &alice,
        Chunks::none(),
    );
    assert_eq!(r.status, 201);
}

#[test]
fn admin_api_validates_and_writes_nothing_half() {
    let reg = registry();
    let r = send_raw(&reg, Post, "/admin/users", auth("Bearer wrong"), Chunks::one(br#"{"login":"x"}"#));
    assert_eq!(r.status, 401);
    assert_eq!(admin(&reg, Post, "/admin/users", json!({"login": "Bad Name"})).status, 400);
    assert_eq!(admin(&reg, Post, "/admin/users", json!({"nope": 1})).status, 400);
    let r = send_raw(&reg, Post, "/admin/users", auth(&format!("Bearer {ADMIN_TOKEN}")), Chunks::one(b"{not json"));
    assert_eq!(r.status, 400);
    assert_eq!(admin(&reg, Post, "/admin/users", json!({"login": "alice"})).status, 201);
    assert_eq!(admin(&reg, Post, "/admin/users", json!({"login": "alice"})).status, 409);
    assert_eq!(admin(&reg, Post, "/admin/orgs", json!({"login": "alice", "owner": "alice"})).status, 409);
    assert_eq!(admin(&reg, Post, "/admin/orgs", json!({"login": "acme", "owner": "ghost"})).status, 404);
    assert_eq!(admin(&reg, Put, "/admin/orgs/acme/members/alice", json!({"role": "member"})).status, 404);
    assert_eq!(admin(&reg, Post, "/admin/users/alice/tokens", json!({"scopes": ["admin:org"]})).status, 400);
    assert_eq!(admin(&reg, Post, "/admin/users/ghost/tokens", json!({"scopes": ["read:packages"]})).status, 404);
    assert_eq!(admin(&reg, Delete, "/admin/tokens/0000", json!(null)).status, 404);
}

#[test]
fn expired_tokens_are_refused() {
    let reg = registry();
    assert_eq!(admin(&reg, Post, "/admin/users", json!({"login": "alice"})).status, 201);
    let r = admin(&reg, Post, "/admin/users/alice/tokens", json!({"scopes": ["write:packages"], "expires_in_days": 1}));
    let token = r.json()["token"].as_str().unwrap().to_string();
    assert_eq!(push_as(&reg, "alice/app", "alice", &token), 201);
    reg.registry.clock.advance(86_400_001);
    assert_eq!(push_as(&reg, "alice/app", "alice", &token), 401);
}

#[test]
fn token_service_takes_the_oauth2_password_form() {
    let reg = registry();
    let alice = pat(&reg, "alice", &["write:packages"]);
    let form = format!("grant_type=password&username=alice&password={alice}&service=registry.test&scope=repository%3Aalice%2Fapp%3Apull%2Cpush");
    let r = send_raw(&reg, Post, "/token", vec![], Chunks::one(form.as_bytes()));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let token = r.json()["access_token"].as_str().unwrap().to_string();
    let r = send_raw(&reg, Post, "/v2/alice/app/blobs/uploads/", auth(&format!("Bearer {token}")), Chunks::none());
    assert_eq!(r.status, 202);
    let bad = "grant_type=password&username=alice&password=erp_nope";
    assert_eq!(send_raw(&reg, Post, "/token", vec![], Chunks::one(bad.as_bytes())).status, 401);
    let refresh = "grant_type=refresh_token&refresh_token=x";
    assert_eq!(send_raw(&reg, Post, "/token", vec![], Chunks::one(refresh.as_bytes())).status, 401);
}

#[test]
fn private_content_stays_out_of_shared_caches() {
    let reg = registry();
    let alice = pat(&reg, "alice", &["write:packages"]);
    assert_eq!(push_as(&reg, "alice/app", "alice", &alice), 201);
    let blob = format!("/v2/alice/app/blobs/{}", digest_of(b"{}"));
    let r = as_user(&reg, Get, &blob, "alice", &alice, Chunks::none());
    assert_eq!(r.header("cache-control"), Some("private, max-age=31536000, immutable"));
    make_public(&reg, "alice/app");
    let r = anonymous_get(&reg, &blob);
    assert_eq!(r.header("cache-control"), Some("public, max-age=31536000, immutable"));
}

#[test]
fn responses_say_what_the_log_line_needs_and_no_secret() {
    let reg = registry();
    let alice = pat(&reg, "alice", &["write:packages"]);
    assert_eq!(push_as(&reg, "alice/app", "alice", &alice), 201);
    let req = edge_registry::api::Request::new(
        Get,
        "https://registry.test",
        "/v2/alice/app/manifests/v1",
        "",
        auth(&basic("alice", &alice)),
    );
    let resp = futures_executor::block_on(edge_registry::api::serve(&reg.app, &req, &mut Chunks::none()));
    assert_eq!(resp.trace.route, "manifest");
    assert_eq!(resp.trace.repository.as_deref(), Some("alice/app"));
    assert_eq!(resp.trace.principal.as_deref(), Some("alice"));
    assert!(!format!("{:?}", resp.trace).contains(&alice));
}

#[test]
fn failed_logins_are_rate_limited_without_locking_the_owner_out() {
    let reg = registry();
    let alice = pat(&reg, "alice", &["read:packages"]);
    let from = |ip: &str, login: &str, token: &str| {
        let mut h = auth(&basic(login, token));
        h.push(("cf-connecting-ip".into(), ip.into()));
        send_raw(&reg, Get, "/v2/", h, Chunks::none())
    };
    let wrong = format!("erp_{}", "0".repeat(56));
    // A token id's first 10 failures (each from another address) are 401; every one after is 429.
    let answers: Vec<_> = (0..12).map(|i| from(&format!("10.0.0.{i}"), "alice", &wrong).status).collect();
    assert_eq!(answers, [[401; 10].as_slice(), &[429, 429]].concat());
    let r = from("10.0.1.1", "alice", &wrong);
    assert_eq!((r.status, r.code().as_str()), (429, "TOOMANYREQUESTS"));
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    // Alice's own token still works while her login is under attack.
    assert_eq!(from("10.0.2.1", "alice", &alice).status, 200);

    // An address with 30 failures (of any logins) has every further failure answered 429
    // until the minute ends, while a valid token from the same address (a shared NAT) still
    // works. Each login fails once here, so only the address's count can refuse.
    let answers: Vec<_> = (0..30).map(|i| from("192.0.2.7", &format!("user{i}"), "hunter2").status).collect();
    assert_eq!(answers, [401; 30]);
    let r = from("192.0.2.7", "user30", "hunter2");
    assert_eq!((r.status, r.code().as_str()), (429, "TOOMANYREQUESTS"), "the 31st failure is refused");
    assert_eq!(from("192.0.2.7", "alice", &alice).status, 200, "a valid token is never locked out");
    assert_eq!(from("192.0.2.8", "user31", "hunter2").status, 401, "another address is not limited");
    reg.registry.clock.advance(60_000);
    assert_eq!(from("192.0.2.7", "user32", "hunter2").status, 401, "a new minute starts a new count");
}

#[test]
fn rotating_the_signing_key_keeps_issued_tokens_valid_for_their_lifetime() {
    let mut reg = registry();
    let alice = pat(&reg, "alice", &["write:packages"]);
    assert_eq!(push_as(&reg, "alice/app", "alice", &alice), 201);
    let r =
        send_raw(&reg, Get, "/token?scope=repository:alice/app:pull", auth(&basic("alice", &alice)), Chunks::none());
    let bearer = auth(&format!("Bearer {}", r.json()["token"].as_str().unwrap()));
    let old = std::mem::replace(&mut reg.app.signing_key, b"a new key".to_vec());
    // Without the previous key the old token is refused; with it, accepted.
    assert_eq!(send_raw(&reg, Get, "/v2/alice/app/manifests/v1", bearer.clone(), Chunks::none()).status, 401);
    reg.app.previous_signing_key = Some(old);
    assert_eq!(send_raw(&reg, Get, "/v2/alice/app/manifests/v1", bearer.clone(), Chunks::none()).status, 200);
    // Until it expires.
    reg.registry.clock.advance(301_000);
    assert_eq!(send_raw(&reg, Get, "/v2/alice/app/manifests/v1", bearer, Chunks::none()).status, 401);
}
