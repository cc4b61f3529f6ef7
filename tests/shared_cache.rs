//! What the edge may answer from its shared cache, and what it may store there.

mod common;

use common::*;
use edge_registry::api::shared_cache::{Plan, SharedCache};
use edge_registry::api::{self, Method, Request, Response};
use std::cell::RefCell;

fn request(method: Method, target: &str, auth: Option<String>) -> Request {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers = auth.map(|a| vec![("authorization".to_string(), a)]).unwrap_or_default();
    Request::new(method, "https://registry.test", path, query, headers)
}

/// A shared cache that remembers what it was asked and holds nothing.
#[derive(Default)]
struct Asked(RefCell<Vec<String>>, RefCell<Vec<bool>>);

impl<B> SharedCache<B> for Asked {
    async fn get(&self, plan: &Plan) -> Option<Response<B>> {
        self.0.borrow_mut().push(plan.key.clone());
        self.1.borrow_mut().push(plan.memory);
        None
    }

    async fn forget(&self, key: &str) {
        self.0.borrow_mut().push(format!("forget {key}"));
    }
}

/// The key the request's answer is looked up under, if it is looked up.
fn lookup(reg: &MemRegistry, req: &Request) -> Option<String> {
    let asked = Asked::default();
    futures_executor::block_on(api::serve_with_cache(reg, &asked, req, &mut Chunks::none()));
    asked.0.into_inner().pop()
}

/// The key the registry's own answer may be stored under.
fn stored(reg: &MemRegistry, req: &Request) -> Option<String> {
    let resp = futures_executor::block_on(api::serve(reg, req, &mut Chunks::none()));
    resp.shared_cache_key
}

#[test]
fn public_content_by_digest_is_looked_up_and_stored() {
    let reg = registry();
    let manifest = push_image(&reg, "alice/app", "v1", b"layer");
    let layer = digest_of(b"layer");
    make_public(&reg, "alice/app");
    for target in [format!("/v2/alice/app/manifests/{manifest}"), format!("/v2/alice/app/blobs/{layer}")] {
        let req = request(Method::Get, &target, None);
        let key = lookup(&reg, &req).expect("anonymous pulls of public content use the cache");
        assert!(key.contains(&target), "{key}");
        assert_eq!(stored(&reg, &req), Some(key.clone()), "and store what the origin answers");
        let head = request(Method::Head, &target, None);
        assert_eq!(lookup(&reg, &head), Some(key), "HEAD is answered from the same entry");
        assert_eq!(stored(&reg, &head), None, "a HEAD answer has no body to store");
    }
    let by_tag = request(Method::Get, "/v2/alice/app/manifests/v1", None);
    assert_eq!(lookup(&reg, &by_tag), None, "tags resolve at the origin, every time");
    assert_eq!(stored(&reg, &by_tag), None);
    let ranged = Request::new(
        Method::Get,
        "https://registry.test",
        &format!("/v2/alice/app/blobs/{layer}"),
        "",
        vec![("range".into(), "bytes=0-1".into())],
    );
    assert_eq!(lookup(&reg, &ranged), None);
}

/// Whether the isolate may keep its own copy of the request's answer.
fn kept_in_memory(reg: &MemRegistry, req: &Request) -> Option<bool> {
    let asked = Asked::default();
    futures_executor::block_on(api::serve_with_cache(reg, &asked, req, &mut Chunks::none()));
    asked.1.into_inner().pop()
}

#[test]
fn only_public_manifests_by_digest_may_be_kept_in_isolate_memory() {
    let mut reg = registry();
    reg.app.registry.config.tag_cache_secs = 30;
    let manifest = push_image(&reg, "alice/app", "v1", b"layer");
    make_public(&reg, "alice/app");
    let by_digest = format!("/v2/alice/app/manifests/{manifest}");
    assert_eq!(kept_in_memory(&reg, &request(Method::Get, &by_digest, None)), Some(true));
    assert_eq!(kept_in_memory(&reg, &request(Method::Head, &by_digest, None)), Some(true));
    // A tag's answer is purged on push, which only the shared cache sees.
    assert_eq!(kept_in_memory(&reg, &request(Method::Get, "/v2/alice/app/manifests/v1", None)), Some(false));
    let layer = format!("/v2/alice/app/blobs/{}", digest_of(b"layer"));
    assert_eq!(kept_in_memory(&reg, &request(Method::Get, &layer, None)), Some(false));
}

#[test]
fn private_content_is_never_stored_nor_served_to_the_unauthorized() {
    let reg = registry();
    let manifest = push_image(&reg, "alice/secret", "v1", b"layer");
    let target = format!("/v2/alice/secret/manifests/{manifest}");
    assert_eq!(lookup(&reg, &request(Method::Get, &target, None)), None, "anonymous may not pull");
    let pat = user_token(&reg, "alice", &["read:packages"]);
    let with_pat = request(Method::Get, &target, Some(basic("alice", &pat)));
    assert_eq!(lookup(&reg, &with_pat), None, "PAT callers go to the origin");
    assert_eq!(stored(&reg, &with_pat), None, "private content is never stored");
}

#[test]
fn making_a_package_private_or_deleting_from_it_stops_cache_hits() {
    let reg = registry();
    let manifest = push_image(&reg, "alice/app", "v1", b"layer");
    make_public(&reg, "alice/app");
    let target = format!("/v2/alice/app/manifests/{manifest}");
    let before = lookup(&reg, &request(Method::Get, &target, None)).unwrap();

    // Deleting any content bumps the package's epoch: old entries are never looked up again.
    let other = push_image(&reg, "alice/app", "v2", b"other");
    assert_eq!(
        send(&reg, Method::Delete, &format!("/v2/alice/app/manifests/{other}"), &[], Chunks::none()).status,
        202
    );
    let after = lookup(&reg, &request(Method::Get, &target, None)).unwrap();
    assert_ne!(before, after);

    let r = send(
        &reg,
        Method::Patch,
        "/api/packages/alice/app",
        &[("authorization", &basic("alice", &user_token(&reg, "alice", &["write:packages"])))],
        Chunks::one(br#"{"visibility":"private"}"#),
    );
    assert_eq!(r.status, 200);
    assert_eq!(lookup(&reg, &request(Method::Get, &target, None)), None, "private now: no cache for anonymous");
}

#[test]
fn tags_are_cached_only_when_configured_and_only_public_ones() {
    let mut reg = registry();
    reg.app.registry.config.tag_cache_secs = 30;
    push_image(&reg, "alice/app", "v1", b"layer");
    push_image(&reg, "alice/secret", "v1", b"layer");
    make_public(&reg, "alice/app");
    let by_tag = request(Method::Get, "/v2/alice/app/manifests/v1", None);
    let key = lookup(&reg, &by_tag).expect("a public tag is looked up when configured");
    assert_eq!(stored(&reg, &by_tag), Some(key.clone()));
    let resp = futures_executor::block_on(api::serve(&reg, &by_tag, &mut Chunks::none()));
    assert_eq!(resp.get_header("cache-control"), Some("public, max-age=30"), "kept no longer than the bound");
    // Docker asks for a tag by HEAD only: that answer is made whole, to be stored for both.
    let head = request(Method::Head, "/v2/alice/app/manifests/v1", None);
    let resp = futures_executor::block_on(api::serve(&reg, &head, &mut Chunks::none()));
    assert_eq!(resp.shared_cache_key.as_ref(), Some(&key), "a HEAD by tag is stored");
    assert!(
        matches!(resp.body, api::Body::Bytes(ref b) if b.len().to_string() == resp.get_header("content-length").unwrap())
    );

    let pat = user_token(&reg, "alice", &["read:packages"]);
    let private = request(Method::Get, "/v2/alice/secret/manifests/v1", Some(basic("alice", &pat)));
    assert_eq!(stored(&reg, &private), None, "a private tag is never stored");
    assert_eq!(lookup(&reg, &request(Method::Get, "/v2/alice/secret/manifests/v1", None)), None);

    reg.app.registry.config.tag_cache_secs = 0;
    assert_eq!(lookup(&reg, &by_tag), None, "by default tags resolve at the origin, every time");
    assert_eq!(stored(&reg, &by_tag), None);
}

#[test]
fn a_push_to_a_cached_tag_forgets_it_here() {
    let mut reg = registry();
    reg.app.registry.config.tag_cache_secs = 30;
    push_image(&reg, "alice/app", "v1", b"layer");
    make_public(&reg, "alice/app");
    let key = lookup(&reg, &request(Method::Get, "/v2/alice/app/manifests/v1", None)).unwrap();
    let config = push_blob(&reg, "alice/app", b"{}");
    let layer = push_blob(&reg, "alice/app", b"other layer");
    let manifest = image_manifest(&config, &[(&layer, 11)], "");
    let pat = user_token(&reg, "alice", &["write:packages"]);
    let put = Request::new(
        Method::Put,
        "https://registry.test",
        "/v2/alice/app/manifests/v1",
        "",
        vec![("authorization".into(), basic("alice", &pat)), ("content-type".into(), OCI_MANIFEST.into())],
    );
    let asked = Asked::default();
    let resp = futures_executor::block_on(api::serve_with_cache(&reg, &asked, &put, &mut Chunks::one(&manifest)));
    assert_eq!(resp.status, 201);
    assert!(asked.0.into_inner().contains(&format!("forget {key}")), "the pushed tag's entry is dropped");
}

#[test]
fn untagging_stops_a_cached_tag_however_it_is_done() {
    use edge_registry::registry::maintenance;
    let mut reg = registry();
    reg.app.registry.config.tag_cache_secs = 30;
    for (tag, layer) in [("v1", &b"one"[..]), ("v2", b"two"), ("v3", b"three")] {
        push_image(&reg, "alice/app", tag, layer);
    }
    make_public(&reg, "alice/app");
    let key = |reg: &MemRegistry| lookup(reg, &request(Method::Get, "/v2/alice/app/manifests/v1", None)).unwrap();
    let pat = user_token(&reg, "alice", &["read:packages", "write:packages", "delete:packages"]);
    let auth = basic("alice", &pat);
    let mut seen = vec![key(&reg)];

    // A tag deleted through the distribution API, then through the package API.
    assert_eq!(
        send(&reg, Method::Delete, "/v2/alice/app/manifests/v3", &[("authorization", &auth)], Chunks::none()).status,
        202
    );
    seen.push(key(&reg));
    assert_eq!(
        send(&reg, Method::Delete, "/api/packages/alice/app/tags/v2", &[("authorization", &auth)], Chunks::none())
            .status,
        204
    );
    seen.push(key(&reg));
    // Retention deleting the tagged version (the scheduled run).
    let policy = Chunks::one(br#"{"keep_newest": 1}"#);
    assert_eq!(
        send(&reg, Method::Put, "/api/packages/alice/app/retention", &[("authorization", &auth)], policy).status,
        200
    );
    let report =
        futures_executor::block_on(maintenance::run(&reg.app.registry, &reg.app.identity, 0, &Receiver::default()));
    assert!(!report.retention.deleted.is_empty(), "{report:?}");
    seen.push(key(&reg));

    let mut distinct = seen.clone();
    distinct.dedup();
    assert_eq!(distinct, seen, "each untagging moves the key the tag's answer is cached under");
}
