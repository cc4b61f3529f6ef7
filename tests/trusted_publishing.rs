//! Trusted publishing through the whole api, in-process: an issuer's keys served by the
//! in-memory `Fetch`, identity tokens signed here (ES256), trust policies managed through
//! the package API, CI jobs pushing, pulling and exchanging tokens.
mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use common::*;
use edge_registry::api::Method;
use edge_registry::auth::oidc::Oidc;
use p256::ecdsa::signature::Signer;
use serde_json::{json, Value};

const ISSUER: &str = "https://ci.test";
const AUDIENCE: &str = "https://registry.test";

fn key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap()
}

/// A registry that trusts `ISSUER`, whose discovery document and key (`k1`) it can fetch;
/// the clock at 1,000,000 s.
fn registry_with_issuer() -> MemRegistry {
    let mut reg = registry();
    reg.app.oidc = Oidc::in_memory(ISSUER, AUDIENCE);
    let point = key().verifying_key().to_sec1_point(false);
    let (x, y) = (B64.encode(&point.as_bytes()[1..33]), B64.encode(&point.as_bytes()[33..65]));
    let mut served = reg.app.oidc.fetch.0.borrow_mut();
    served.insert(
        format!("{ISSUER}/.well-known/openid-configuration"),
        json!({"issuer": ISSUER, "jwks_uri": format!("{ISSUER}/keys")}).to_string().into_bytes(),
    );
    served.insert(
        format!("{ISSUER}/keys"),
        json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "x": x, "y": y}]}).to_string().into_bytes(),
    );
    drop(served);
    reg.app.registry.clock.0.set(1_000_000_000);
    reg
}

/// An identity token of octo/app's release.yml at a tag, with `edit` applied.
fn token(reg: &MemRegistry, edit: impl FnOnce(&mut Value)) -> String {
    let now = reg.app.registry.clock.0.get() / 1000;
    let mut claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + 300, "jti": format!("j{}", rand_suffix()),
        "repository": "octo/app", "repository_owner_id": "42", "ref": "refs/tags/v1", "sha": "abcdef0123",
        "run_id": "9", "workflow_ref": "octo/app/.github/workflows/release.yml@refs/tags/v1",
    });
    edit(&mut claims);
    let input = format!("{}.{}", B64.encode(r#"{"alg":"ES256","kid":"k1"}"#), B64.encode(claims.to_string()));
    let signature: p256::ecdsa::Signature = key().sign(input.as_bytes());
    format!("{input}.{}", B64.encode(signature.to_bytes()))
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn as_alice(reg: &MemRegistry, method: Method, path: &str, body: Value) -> Reply {
    let auth = basic("alice", &user_token(reg, "alice", &["read:packages", "write:packages", "delete:packages"]));
    let headers =
        vec![("authorization".to_string(), auth), ("content-type".to_string(), "application/json".to_string())];
    send_raw(reg, method, path, headers, Chunks::one(body.to_string().as_bytes()))
}

fn get_with(reg: &MemRegistry, target: &str, authorization: &str) -> Reply {
    send_raw(reg, Method::Get, target, vec![("authorization".to_string(), authorization.to_string())], Chunks::none())
}

fn with_identity(reg: &MemRegistry, method: Method, target: &str, identity: &str, body: Chunks) -> Reply {
    let headers = vec![("authorization".to_string(), basic("oidc", identity))];
    send_raw(reg, method, target, headers, body)
}

/// A blob uploaded in one request to `repo` with the identity token as the password.
fn upload_with_identity(reg: &MemRegistry, repo: &str, identity: &str, bytes: &[u8]) -> Reply {
    let target = format!("/v2/{repo}/blobs/uploads/?digest={}", digest_of(bytes));
    with_identity(reg, Method::Post, &target, identity, Chunks::one(bytes))
}

/// alice/app exists (pushed by alice) and trusts octo/app's release.yml.
fn trusted(reg: &MemRegistry) {
    push_image(reg, "alice/app", "v0", b"layer");
    let policy =
        json!({"issuer": ISSUER, "repository": "Octo/App", "repository_owner_id": "42", "workflow": "release.yml"});
    let r = as_alice(reg, Method::Post, "/api/packages/alice/app/trusted-publishers", policy);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

#[test]
fn a_trusted_job_gets_a_token_for_what_was_asked_and_the_policy_allows() {
    let reg = registry_with_issuer();
    trusted(&reg);
    let id = token(&reg, |_| {});
    let bearer = from_token_service(&reg, "repository:alice/app:pull,push,delete", &id);
    assert_eq!(tags_with(&reg, "alice/app", &bearer), 200);
    // Push a new version with the registry token; its provenance names the job.
    let config = digest_of(b"{}");
    let m = image_manifest(&config, &[(&digest_of(b"layer"), 5)], "");
    let put = send_raw(
        &reg,
        Method::Put,
        "/v2/alice/app/manifests/v1",
        vec![("authorization".into(), bearer.clone()), ("content-type".into(), OCI_MANIFEST.into())],
        Chunks::one(&m),
    );
    assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
    let versions = as_alice(&reg, Method::Get, "/api/packages/alice/app/versions", Value::Null).json();
    let v1 = versions
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["tags"].as_array().unwrap().contains(&json!("v1")))
        .unwrap()
        .clone();
    assert_eq!(
        v1["pushed_by"],
        "pushed by CI at https://ci.test from octo/app, workflow release.yml at refs/tags/v1 (abcdef0)"
    );
    // Delete was asked for but not granted: the token cannot delete.
    let del = send_raw(
        &reg,
        Method::Delete,
        &format!("/v2/alice/app/manifests/{}", v1["digest"].as_str().unwrap()),
        vec![("authorization".into(), bearer)],
        Chunks::none(),
    );
    assert_eq!(del.status, 401);
}

/// A change to an identity token's claims.
type Edit = Box<dyn FnOnce(&mut Value)>;

#[test]
fn the_identity_token_itself_pushes_and_each_refusal_names_its_check() {
    let reg = registry_with_issuer();
    trusted(&reg);
    let ok = token(&reg, |_| {});
    let r = upload_with_identity(&reg, "alice/app", &ok, b"ci layer");
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let now = reg.app.registry.clock.0.get() / 1000;
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|c| {
                c["repository"] = json!("octo/other");
                c["workflow_ref"] = json!("octo/other/.github/workflows/release.yml@refs/tags/v1");
            }),
            "no trusted publisher matches this token's repository",
        ),
        (
            Box::new(|c| c["repository_owner_id"] = json!("43")),
            "no trusted publisher matches this token's repository owner id",
        ),
        (
            Box::new(|c| c["workflow_ref"] = json!("octo/app/.github/workflows/ci.yml@refs/heads/main")),
            "no trusted publisher matches this token's workflow",
        ),
        (
            Box::new(|c| c["aud"] = json!("https://elsewhere")),
            "identity token audience is not \"https://registry.test\"",
        ),
        (Box::new(move |c| c["exp"] = json!(now - 61)), "identity token has expired"),
        (Box::new(|c| c["iss"] = json!("https://evil.test")), "identity token issuer is not allowed"),
    ];
    for (edit, message) in cases {
        let r = with_identity(
            &reg,
            Method::Get,
            "/token?scope=repository:alice/app:pull,push",
            &token(&reg, edit),
            Chunks::none(),
        );
        assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED".to_string()));
        assert_eq!(r.json()["errors"][0]["message"], message);
    }
    // A package no policy names: refused alike whether or not it exists.
    for repo in ["alice/other", "bob/app"] {
        let r = with_identity(&reg, Method::Get, &format!("/token?scope=repository:{repo}:pull"), &ok, Chunks::none());
        assert_eq!(r.json()["errors"][0]["message"], "no trusted publisher matches this token's repository");
    }
}

#[test]
fn a_namespace_policy_lets_a_job_create_packages_there_and_only_there() {
    let reg = registry_with_issuer();
    user_token(&reg, "alice", &["read:packages"]);
    let policy = json!({"issuer": ISSUER, "repository": "octo/app", "workflow": "release.yml"});
    assert_eq!(as_alice(&reg, Method::Post, "/api/namespaces/alice/trusted-publishers", policy).status, 201);
    let id = token(&reg, |_| {});
    let r = upload_with_identity(&reg, "alice/fresh", &id, b"x");
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let package = as_alice(&reg, Method::Get, "/api/packages/alice/fresh", Value::Null);
    assert_eq!((package.status, package.json()["visibility"].clone()), (200, json!("private")));
    let elsewhere = upload_with_identity(&reg, "bob/fresh", &id, b"x");
    assert_eq!(elsewhere.status, 401);
    assert_eq!(elsewhere.json()["errors"][0]["message"], "no trusted publisher matches this token's repository");
}

#[test]
fn the_exchange_is_single_use_and_its_token_follows_the_policies_in_force() {
    let reg = registry_with_issuer();
    trusted(&reg);
    let id = token(&reg, |_| {});
    let body = json!({"token": id}).to_string();
    let json_headers = || vec![("content-type".to_string(), "application/json".to_string())];
    let r = send_raw(&reg, Method::Post, "/api/oidc/token", json_headers(), Chunks::one(body.as_bytes()));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["access"], json!([{"package": "alice/app", "actions": ["pull", "push"]}]));
    assert_eq!(r.json()["expires_in"], 900);
    assert_eq!(r.principal.as_deref(), Some(PRINCIPAL));
    let bearer = format!("Bearer {}", r.json()["token"].as_str().unwrap());
    let replay = send_raw(&reg, Method::Post, "/api/oidc/token", json_headers(), Chunks::one(body.as_bytes()));
    assert_eq!(
        (replay.status, replay.json()["errors"][0]["message"].clone()),
        (401, json!("identity token was already exchanged (jti is single use)"))
    );
    assert_eq!(tags_with(&reg, "alice/app", &bearer), 200);
    // The policy is removed: the exchanged token stops working at once.
    let listed = as_alice(&reg, Method::Get, "/api/packages/alice/app/trusted-publishers", Value::Null).json();
    let policy_id = listed[0]["id"].as_str().unwrap().to_string();
    let removed =
        as_alice(&reg, Method::Delete, &format!("/api/packages/alice/app/trusted-publishers/{policy_id}"), Value::Null);
    assert_eq!(removed.status, 204);
    assert_eq!(tags_with(&reg, "alice/app", &bearer), 401);
}

#[test]
fn policies_are_managed_only_by_admins_and_hidden_from_who_cannot_read() {
    let reg = registry_with_issuer();
    trusted(&reg);
    let bob = basic("bob", &user_token(&reg, "bob", &["read:packages", "write:packages"]));
    assert_eq!(get_with(&reg, "/api/packages/alice/app/trusted-publishers", &bob).status, 404);
    assert_eq!(get_with(&reg, "/api/namespaces/alice/trusted-publishers", &bob).status, 403);
    let anonymous = send_raw(&reg, Method::Get, "/api/packages/alice/app/trusted-publishers", vec![], Chunks::none());
    assert_eq!(anonymous.status, 401);
    let bad = as_alice(
        &reg,
        Method::Post,
        "/api/packages/alice/app/trusted-publishers",
        json!({"issuer": ISSUER, "repository": "octo", "workflow": "a.yml"}),
    );
    assert_eq!(bad.status, 400);
    let unknown_field = as_alice(
        &reg,
        Method::Post,
        "/api/packages/alice/app/trusted-publishers",
        json!({"issuer": ISSUER, "repository": "o/r", "workflow": "a.yml", "owner": "x"}),
    );
    assert_eq!(unknown_field.status, 400);
}

/// A registry token from `/token` for `scope`, with the identity token `id` as the password.
fn from_token_service(reg: &MemRegistry, scope: &str, id: &str) -> String {
    let r = with_identity(reg, Method::Get, &format!("/token?scope={scope}"), id, Chunks::none());
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.principal.as_deref(), Some(PRINCIPAL), "the log names the job");
    format!("Bearer {}", r.json()["token"].as_str().unwrap())
}

/// A registry token from the exchange, for the identity token `id`.
fn exchanged(reg: &MemRegistry, id: &str) -> String {
    let headers = vec![("content-type".to_string(), "application/json".to_string())];
    let r = send_raw(
        reg,
        Method::Post,
        "/api/oidc/token",
        headers,
        Chunks::one(json!({"token": id}).to_string().as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    format!("Bearer {}", r.json()["token"].as_str().unwrap())
}

fn tags_with(reg: &MemRegistry, repo: &str, authorization: &str) -> u16 {
    get_with(reg, &format!("/v2/{repo}/tags/list"), authorization).status
}

#[test]
fn an_exchanged_token_reaches_only_the_packages_that_trusted_the_job_when_it_was_issued() {
    let reg = registry_with_issuer();
    trusted(&reg);
    let bearer = exchanged(&reg, &token(&reg, |_| {}));
    // alice/second trusts the same job only after the token was issued.
    push_image(&reg, "alice/second", "v0", b"layer");
    let policy = json!({"issuer": ISSUER, "repository": "octo/app", "workflow": "release.yml"});
    assert_eq!(as_alice(&reg, Method::Post, "/api/packages/alice/second/trusted-publishers", policy).status, 201);
    assert_eq!(tags_with(&reg, "alice/app", &bearer), 200);
    assert_eq!(tags_with(&reg, "alice/second", &bearer), 401, "the token grew with a later policy");
    assert_eq!(tags_with(&reg, "alice/second", &exchanged(&reg, &token(&reg, |_| {}))), 200);
}

#[test]
fn a_ci_token_lives_its_stated_time_and_only_at_this_registry() {
    let reg = registry_with_issuer();
    trusted(&reg);
    let bearer = exchanged(&reg, &token(&reg, |_| {}));
    let elsewhere = {
        let headers = vec![("authorization".to_string(), bearer.clone())];
        let req =
            edge_registry::api::Request::new(Method::Get, "https://other.test", "/v2/alice/app/tags/list", "", headers);
        futures_executor::block_on(edge_registry::api::serve(&reg.app, &req, &mut Chunks::none())).status
    };
    assert_eq!(elsewhere, 401, "a CI token for one service worked at another");
    let start = reg.app.registry.clock.0.get();
    reg.app.registry.clock.0.set(start + 899_000);
    assert_eq!(tags_with(&reg, "alice/app", &bearer), 200);
    reg.app.registry.clock.0.set(start + 900_000);
    assert_eq!(tags_with(&reg, "alice/app", &bearer), 401, "an exchanged token outlived 15 minutes");
}

#[test]
fn a_ci_token_is_worth_nothing_on_a_package_created_again_under_its_name() {
    let reg = registry_with_issuer();
    trusted(&reg);
    let id = token(&reg, |_| {});
    let issued = from_token_service(&reg, "repository:alice/app:pull,push", &id);
    let from_exchange = exchanged(&reg, &token(&reg, |_| {}));
    assert_eq!(tags_with(&reg, "alice/app", &issued), 200);
    // alice deletes the package, pushes a new one under the name and trusts the job again.
    assert_eq!(as_alice(&reg, Method::Delete, "/api/packages/alice/app", Value::Null).status, 202);
    push_image(&reg, "alice/app", "v0", b"another layer");
    let policy = json!({"issuer": ISSUER, "repository": "octo/app", "workflow": "release.yml"});
    assert_eq!(as_alice(&reg, Method::Post, "/api/packages/alice/app/trusted-publishers", policy).status, 201);
    assert_eq!(tags_with(&reg, "alice/app", &issued), 401);
    assert_eq!(tags_with(&reg, "alice/app", &from_exchange), 401);
    // The identity token itself is decided on the policies in force: trusted again.
    assert_eq!(tags_with(&reg, "alice/app", &basic("oidc", &id)), 200);
}

#[test]
fn an_untrusted_job_pulls_what_anyone_may_and_nothing_more() {
    let reg = registry_with_issuer();
    push_image(&reg, "alice/base", "v0", b"layer");
    make_public(&reg.app, "alice/base");
    push_image(&reg, "alice/private", "v0", b"layer");
    let id = token(&reg, |_| {});
    let bearer = from_token_service(&reg, "repository:alice/base:pull,push", &id);
    assert_eq!(tags_with(&reg, "alice/base", &bearer), 200);
    let push = with_identity(&reg, Method::Post, "/v2/alice/base/blobs/uploads/", &id, Chunks::none());
    assert_eq!(push.json()["errors"][0]["message"], "no trusted publisher matches this token's repository");
    let private = with_identity(&reg, Method::Get, "/v2/alice/private/tags/list", &id, Chunks::none());
    assert_eq!(private.json()["errors"][0]["message"], "no trusted publisher matches this token's repository");
}

fn suspend(reg: &MemRegistry, login: &str, how: &str) {
    let headers = vec![("authorization".to_string(), format!("Bearer {ADMIN_TOKEN}"))];
    let r = send_raw(reg, Method::Post, &format!("/admin/users/{login}/{how}"), headers, Chunks::none());
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

#[test]
fn a_suspended_users_namespace_takes_no_push_or_delete_from_the_jobs_it_trusted() {
    let reg = registry_with_issuer();
    trusted(&reg);
    make_public(&reg.app, "alice/app");
    let policy = json!({"issuer": ISSUER, "repository": "octo/app", "workflow": "release.yml",
                        "actions": ["pull", "push", "delete"]});
    assert_eq!(as_alice(&reg, Method::Post, "/api/namespaces/alice/trusted-publishers", policy).status, 201);
    let id = token(&reg, |_| {});
    let issued = from_token_service(&reg, "repository:alice/app:pull,push,delete", &id);
    let from_exchange = exchanged(&reg, &token(&reg, |_| {}));
    let v0 = digest_of(&image_manifest(&digest_of(b"{}"), &[(&digest_of(b"layer"), 5)], ""));
    let delete = format!("/v2/alice/app/manifests/{v0}");
    // alice also owns an organization that trusts the job.
    let admin = vec![("authorization".to_string(), format!("Bearer {ADMIN_TOKEN}"))];
    let org = json!({"login": "acme", "owner": "alice"}).to_string();
    assert_eq!(send_raw(&reg, Method::Post, "/admin/orgs", admin.clone(), Chunks::one(org.as_bytes())).status, 201);
    let policy = json!({"issuer": ISSUER, "repository": "octo/app", "workflow": "release.yml"});
    assert_eq!(as_alice(&reg, Method::Post, "/api/namespaces/acme/trusted-publishers", policy).status, 201);
    suspend(&reg, "alice", "suspend");

    let suspended = json!("the account that owns this namespace is suspended");
    let refused = |r: Reply| (r.status, r.json()["errors"][0]["message"].clone());
    assert_eq!(refused(upload_with_identity(&reg, "alice/app", &id, b"ci layer")), (401, suspended.clone()));
    assert_eq!(refused(upload_with_identity(&reg, "alice/fresh", &id, b"ci layer")), (401, suspended.clone()));
    assert_eq!(refused(with_identity(&reg, Method::Delete, &delete, &id, Chunks::none())), (401, suspended.clone()));
    for bearer in [&issued, &from_exchange] {
        let headers = vec![("authorization".to_string(), bearer.to_string())];
        let target = format!("/v2/alice/app/blobs/uploads/?digest={}", digest_of(b"ci layer"));
        let push = send_raw(&reg, Method::Post, &target, headers.clone(), Chunks::one(b"ci layer"));
        assert_eq!(refused(push), (401, suspended.clone()), "a job's registry token pushed");
        let del = send_raw(&reg, Method::Delete, &delete, headers, Chunks::none());
        assert_eq!(refused(del), (401, suspended.clone()), "a job's registry token deleted");
        // A public package is pulled as by anyone.
        assert_eq!(tags_with(&reg, "alice/app", bearer), 200);
    }
    assert_eq!(tags_with(&reg, "alice/app", &basic("oidc", &id)), 200);
    // A job nobody trusted learns nothing of the account.
    let stranger = token(&reg, |c| {
        c["repository"] = json!("octo/other");
        c["workflow_ref"] = json!("octo/other/.github/workflows/release.yml@refs/tags/v1");
    });
    let r = upload_with_identity(&reg, "alice/app", &stranger, b"ci layer");
    assert_eq!(refused(r), (401, json!("no trusted publisher matches this token's repository")));
    // An organization is never suspended: its policies hold whoever is. The exchange
    // grants only those.
    assert_eq!(upload_with_identity(&reg, "acme/tool", &id, b"ci layer").status, 201);
    let body = json!({"token": token(&reg, |_| {})}).to_string();
    let headers = vec![("content-type".to_string(), "application/json".to_string())];
    let r = send_raw(&reg, Method::Post, "/api/oidc/token", headers, Chunks::one(body.as_bytes()));
    assert_eq!(r.json()["access"], json!([{"namespace": "acme", "actions": ["pull", "push"]}]));
    assert_eq!(send_raw(&reg, Method::Post, "/admin/users/acme/suspend", admin, Chunks::none()).status, 404);

    suspend(&reg, "alice", "unsuspend");
    assert_eq!(upload_with_identity(&reg, "alice/app", &id, b"ci layer").status, 201);
    let del = send_raw(&reg, Method::Delete, &delete, vec![("authorization".into(), issued)], Chunks::none());
    assert_eq!(del.status, 202, "{}", String::from_utf8_lossy(&del.body));
}

#[test]
fn a_jobs_push_names_it_in_the_request_log_and_in_webhook_events() {
    let reg = registry_with_issuer();
    trusted(&reg);
    let id = token(&reg, |_| {});
    assert_eq!(upload_with_identity(&reg, "alice/app", &id, b"ci layer").principal.as_deref(), Some(PRINCIPAL));
    let m = image_manifest(&digest_of(b"{}"), &[(&digest_of(b"ci layer"), 8)], "");
    let headers = vec![("authorization".to_string(), basic("oidc", &id)), ("content-type".into(), OCI_MANIFEST.into())];
    let put = send_raw(&reg, Method::Put, "/v2/alice/app/manifests/v0", headers, Chunks::one(&m));
    assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
    assert_eq!(put.principal.as_deref(), Some(PRINCIPAL));
    let events: Vec<Value> = put.events.iter().map(|e| serde_json::to_value(e).unwrap()).collect();
    assert_eq!(
        events.iter().map(|e| e["event"].clone()).collect::<Vec<_>>(),
        [json!("version.pushed"), json!("tag.moved")]
    );
    for e in &events {
        assert_eq!(e["actor"], PRINCIPAL);
        let ci = &e["ci"];
        assert_eq!(
            [&ci["issuer"], &ci["repository"], &ci["workflow"], &ci["ref"], &ci["sha"], &ci["run_id"]],
            [
                &json!(ISSUER),
                &json!("octo/app"),
                &json!("release.yml"),
                &json!("refs/tags/v1"),
                &json!("abcdef0123"),
                &json!("9")
            ]
        );
    }
    // A registry token issued for the job names it alike; a user's push names the user.
    let bearer = from_token_service(&reg, "repository:alice/app:pull,push", &id);
    let headers = vec![("authorization".to_string(), bearer), ("content-type".into(), OCI_MANIFEST.into())];
    let again = send_raw(&reg, Method::Put, "/v2/alice/app/manifests/v2", headers, Chunks::one(&m));
    assert_eq!((again.principal.as_deref(), again.events[0].actor.as_str()), (Some(PRINCIPAL), PRINCIPAL));
    let by_alice = put_manifest(&reg, "alice/app", "v3", &m);
    assert_eq!((by_alice.principal.as_deref(), by_alice.events[0].actor.as_str()), (Some("alice"), "alice"));
    assert!(by_alice.events[0].ci.is_none());
}

/// How octo/app's release.yml is named as the one who acted.
const PRINCIPAL: &str = "ci:https://ci.test:octo/app:release.yml";
