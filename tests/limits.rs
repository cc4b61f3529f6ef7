//! Every size a client controls is bounded, and going over answers with a clear error.

mod common;

use common::*;
use edge_registry::api::Method::*;

fn admin(reg: &MemRegistry, body: Vec<u8>) -> Reply {
    let auth = vec![("authorization".to_string(), format!("Bearer {ADMIN_TOKEN}"))];
    send_raw(reg, Post, "/admin/users", auth, Chunks::one(&body))
}

#[test]
fn json_bodies_are_bounded_in_size_and_depth() {
    let reg = registry();
    let big = format!(r#"{{"login":"{}"}}"#, "a".repeat(70 * 1024)).into_bytes();
    let r = admin(&reg, big);
    assert_eq!((r.status, r.code().as_str()), (413, "SIZE_INVALID"));
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes();
    let r = admin(&reg, deep);
    assert_eq!((r.status, r.code().as_str()), (400, "BAD_REQUEST"), "deep nesting is refused, not recursed into");
}

#[test]
fn request_heads_are_bounded() {
    let reg = registry();
    let long_query = format!("/v2/alice/app/tags/list?last={}", "x".repeat(9000));
    assert_eq!(get(&reg, &long_query).code(), "BAD_REQUEST");
    let many: Vec<String> = (0..100).map(|i| format!("k{i}=v")).collect();
    assert_eq!(get(&reg, &format!("/v2/alice/app/tags/list?{}", many.join("&"))).code(), "BAD_REQUEST");
    let long_path = format!("/v2/alice/{}/tags/list", "a/".repeat(1100));
    assert_eq!(get(&reg, &long_path).status, 400);
    let huge = "x".repeat(70 * 1024);
    let r = send_raw(&reg, Get, "/v2/", vec![("x-padding".into(), huge)], Chunks::none());
    assert_eq!(r.code(), "BAD_REQUEST");
    let long_auth = format!("Basic {}", "A".repeat(9000));
    let r = send_raw(&reg, Get, "/v2/", vec![("authorization".into(), long_auth)], Chunks::none());
    assert_eq!((r.status, r.code().as_str()), (401, "UNAUTHORIZED"));
}

#[test]
fn token_requests_are_bounded_in_scopes() {
    let reg = registry();
    let scopes: Vec<String> = (0..33).map(|i| format!("scope=repository:alice/app{i}:pull")).collect();
    let r = send_raw(&reg, Get, &format!("/token?{}", scopes.join("&")), vec![], Chunks::none());
    assert_eq!((r.status, r.code().as_str()), (400, "BAD_REQUEST"));
}

#[test]
fn tag_listings_are_capped_whatever_n_asks() {
    let reg = registry();
    let config = push_blob(&reg, "alice/app", b"{}");
    let manifest = image_manifest(&config, &[], "");
    for i in 0..1001 {
        assert_eq!(put_manifest(&reg, "alice/app", &format!("t{i:04}"), &manifest).status, 201);
    }
    let r = get(&reg, "/v2/alice/app/tags/list?n=1000000");
    assert_eq!(r.json()["tags"].as_array().unwrap().len(), 1000);
    assert!(r.header("link").unwrap().contains("last=t0999"), "the rest is one link away");
    assert_eq!(get(&reg, "/v2/alice/app/tags/list?n=-1").status, 400);
}

#[test]
fn manifests_are_bounded_in_bytes_and_descriptors() {
    let reg = registry();
    let config = push_blob(&reg, "alice/app", b"{}");
    let padded = image_manifest(&config, &[], &format!(r#","annotations":{{"pad":"{}"}}"#, "x".repeat(4 << 20)));
    let r = put_manifest(&reg, "alice/app", "big", &padded);
    assert_eq!((r.status, r.code().as_str()), (413, "SIZE_INVALID"));
    let child = r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1}"#;
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
        vec![child; 10_001].join(",")
    );
    let r = send(
        &reg,
        Put,
        "/v2/alice/app/manifests/wide",
        &[("content-type", "application/vnd.oci.image.index.v1+json")],
        Chunks::one(index.as_bytes()),
    );
    assert_eq!((r.status, r.code().as_str()), (400, "MANIFEST_INVALID"));
}
