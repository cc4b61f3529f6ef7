//! The package API: metadata from annotations, versions, listings, delete and restore,
//! purging, driven in-process on the in-memory ports.

mod common;

use common::*;
use edge_registry::api::Method::{self, *};
use edge_registry::registry::maintenance;
use serde_json::{json, Value};

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

fn api(reg: &MemRegistry, method: Method, path: &str, login: &str, token: &str, body: Option<Value>) -> Reply {
    let headers = vec![("authorization".to_string(), basic(login, token))];
    let body = body.map_or(Chunks::none(), |b| Chunks::one(b.to_string().as_bytes()));
    send_raw(reg, method, &format!("/api/packages/{path}"), headers, body)
}

fn all_scopes(reg: &MemRegistry, login: &str) -> String {
    user_token(reg, login, &["read:packages", "write:packages", "delete:packages"])
}

/// An image config with labels and a platform.
fn config(arch: &str, labels: Value) -> Vec<u8> {
    json!({"created": "2026-03-04T05:06:07Z", "architecture": arch, "os": "linux", "config": {"Labels": labels}})
        .to_string()
        .into_bytes()
}

/// Pushes an image whose config is `config`; returns (manifest digest, manifest bytes, total size).
fn push_configured(
    reg: &MemRegistry,
    repo: &str,
    tag: &str,
    config: &[u8],
    annotations: Value,
) -> (String, Vec<u8>, u64) {
    let c = push_blob(reg, repo, config);
    let layer = format!("layer of {tag} {}", config.len()).into_bytes();
    let l = push_blob(reg, repo, &layer);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": l, "size": layer.len()}],
        "annotations": annotations,
    })
    .to_string()
    .into_bytes();
    assert_eq!(put_manifest(reg, repo, tag, &manifest).status, 201);
    let total = (manifest.len() + config.len() + layer.len()) as u64;
    (digest_of(&manifest), manifest, total)
}

fn versions(reg: &MemRegistry, repo: &str, login: &str, token: &str) -> Vec<Value> {
    let r = api(reg, Get, &format!("{repo}/versions"), login, token, None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json().as_array().cloned().unwrap_or_default()
}

#[test]
fn an_image_version_shows_its_labels_platform_and_size() {
    let reg = registry();
    let alice = all_scopes(&reg, "alice");
    let labels = json!({
        "org.opencontainers.image.source": "https://example.com/alice/app",
        "org.opencontainers.image.description": "d".repeat(600),
        "org.opencontainers.image.licenses": "MIT",
    });
    let annotations = json!({"org.opencontainers.image.licenses": "Apache-2.0 OR MIT"});
    let (digest, _, total) = push_configured(&reg, "alice/app", "v1", &config("arm64", labels), annotations);

    let listed = versions(&reg, "alice/app", "alice", &alice);
    assert_eq!(listed.len(), 1);
    let v = &listed[0];
    assert_eq!(v["digest"], digest);
    assert_eq!(v["tags"], json!(["v1"]));
    assert_eq!(v["size"], total);
    assert_eq!(v["platforms"], json!(["linux/arm64"]));
    assert_eq!(v["created"], "2026-03-04T05:06:07Z");
    let meta = &v["metadata"];
    assert_eq!(meta["source"], "https://example.com/alice/app");
    assert_eq!(meta["description"], "d".repeat(512), "cut at 512 characters");
    assert_eq!(meta["licenses"], "Apache-2.0 OR MIT", "the manifest's annotation wins over the label");
    assert_eq!(meta["truncated"], json!(["description"]));

    let package = api(&reg, Get, "alice/app", "alice", &alice, None).json();
    assert_eq!(package["metadata"]["licenses"], "Apache-2.0 OR MIT");
    assert_eq!(package["tags"], json!(["v1"]));
}

#[test]
fn an_index_shows_its_platforms_and_annotations() {
    let reg = registry();
    let alice = all_scopes(&reg, "alice");
    let (amd, amd_bytes, amd_total) = push_configured(
        &reg,
        "alice/multi",
        "amd",
        &config("amd64", json!({"org.opencontainers.image.licenses": "BSD-3-Clause"})),
        json!({}),
    );
    let (arm, arm_bytes, arm_total) =
        push_configured(&reg, "alice/multi", "arm", &config("arm64", json!({})), json!({}));
    let child = |d: &str, bytes: &[u8], arch: &str| json!({"mediaType": OCI_MANIFEST, "digest": d, "size": bytes.len(), "platform": {"os": "linux", "architecture": arch}});
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [child(&amd, &amd_bytes, "amd64"), child(&arm, &arm_bytes, "arm64")],
        "annotations": {"org.opencontainers.image.description": "one image, two platforms"},
    })
    .to_string()
    .into_bytes();
    let r = send(
        &reg,
        Put,
        "/v2/alice/multi/manifests/latest",
        &[("content-type", "application/vnd.oci.image.index.v1+json")],
        Chunks::one(&index),
    );
    assert_eq!(r.status, 201);

    let listed = versions(&reg, "alice/multi", "alice", &alice);
    let v = listed.iter().find(|v| v["tags"] == json!(["latest"])).expect("the index is a version");
    assert_eq!(v["platforms"], json!(["linux/amd64", "linux/arm64"]));
    assert_eq!(v["size"], index.len() as u64 + amd_total + arm_total);
    assert_eq!(v["metadata"]["description"], "one image, two platforms");
    assert_eq!(v["metadata"]["licenses"], "BSD-3-Clause", "what the index lacks comes from its first image");
}

#[test]
fn namespace_listing_shows_what_the_caller_may_read() {
    let reg = registry();
    let alice = all_scopes(&reg, "alice");
    let bob = all_scopes(&reg, "bob");
    push_image(&reg, "alice/secret", "v1", b"s");
    push_image(&reg, "alice/open", "v1", b"o");
    make_public(&reg, "alice/open");
    let names = |login: &str, token: &str| -> Vec<String> {
        let r = api(&reg, Get, "alice", login, token, None);
        assert_eq!(r.status, 200);
        r.json().as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names("alice", &alice), ["alice/open", "alice/secret"]);
    assert_eq!(names("bob", &bob), ["alice/open"]);
    assert_eq!(api(&reg, Get, "nobody", "bob", &bob, None).status, 404);
}

#[test]
fn a_deleted_version_is_gone_until_restored_with_its_tags() {
    let reg = registry();
    let alice = all_scopes(&reg, "alice");
    let first = push_image(&reg, "alice/app", "v1", b"one");
    let second = push_image(&reg, "alice/app", "v2", b"two");
    let r = send(
        &reg,
        Put,
        "/v2/alice/app/manifests/stable",
        &[("content-type", OCI_MANIFEST)],
        Chunks::one(&get(&reg, &format!("/v2/alice/app/manifests/{second}")).body),
    );
    assert_eq!(r.status, 201);

    let reader = user_token(&reg, "alice", &["read:packages", "write:packages"]);
    assert_eq!(api(&reg, Delete, &format!("alice/app/versions/{second}"), "alice", &reader, None).code(), "DENIED");
    let r = api(&reg, Delete, &format!("alice/app/versions/{second}"), "alice", &alice, None);
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));

    assert_eq!(get(&reg, "/v2/alice/app/manifests/v2").code(), "MANIFEST_UNKNOWN");
    assert_eq!(get(&reg, &format!("/v2/alice/app/manifests/{second}")).code(), "MANIFEST_UNKNOWN");
    assert_eq!(get(&reg, "/v2/alice/app/tags/list").json()["tags"], json!(["v1"]));
    let listed: Vec<Value> = versions(&reg, "alice/app", "alice", &alice).iter().map(|v| v["digest"].clone()).collect();
    assert_eq!(listed, [json!(first)]);

    let r = api(&reg, Post, &format!("alice/app/versions/{second}/restore"), "alice", &alice, None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["tags"], json!(["stable", "v2"]));
    assert_eq!(get(&reg, "/v2/alice/app/manifests/stable").status, 200);
    assert_eq!(get(&reg, "/v2/alice/app/tags/list").json()["tags"], json!(["stable", "v1", "v2"]));
    let again = api(&reg, Post, &format!("alice/app/versions/{second}/restore"), "alice", &alice, None);
    assert_eq!(again.status, 404, "a deletion restores once");
}

#[test]
fn a_version_whose_tag_was_reused_does_not_restore() {
    let reg = registry();
    let alice = all_scopes(&reg, "alice");
    let old = push_image(&reg, "alice/app", "v1", b"old");
    assert_eq!(api(&reg, Delete, &format!("alice/app/versions/{old}"), "alice", &alice, None).status, 202);
    let new = push_image(&reg, "alice/app", "v1", b"new");
    let r = api(&reg, Post, &format!("alice/app/versions/{old}/restore"), "alice", &alice, None);
    assert_eq!((r.status, r.code().as_str()), (409, "CONFLICT"));
    assert_eq!(get(&reg, "/v2/alice/app/manifests/v1").header("docker-content-digest"), Some(new.as_str()));
    assert_eq!(get(&reg, &format!("/v2/alice/app/manifests/{old}")).code(), "MANIFEST_UNKNOWN");
}

#[test]
fn a_deleted_package_disappears_and_restores_exactly() {
    let reg = registry();
    let alice = all_scopes(&reg, "alice");
    let bob = all_scopes(&reg, "bob");
    let digest = push_image(&reg, "alice/app", "v1", b"layer");
    make_public(&reg, "alice/app");
    let grant = api(&reg, Put, "alice/app/collaborators/bob", "alice", &alice, Some(json!({"role": "write"})));
    assert_eq!(grant.status, 200);

    assert_eq!(api(&reg, Delete, "alice/app", "bob", &bob, None).code(), "DENIED", "a writer may not delete");
    assert_eq!(api(&reg, Delete, "alice/app", "alice", &alice, None).status, 202);

    assert_eq!(anonymous(&reg, "/v2/alice/app/manifests/v1").status, 401, "no longer public");
    assert_eq!(get(&reg, "/v2/alice/app/tags/list").code(), "NAME_UNKNOWN");
    assert_eq!(api(&reg, Get, "alice/app", "alice", &alice, None).status, 404);
    assert!(api(&reg, Get, "alice", "alice", &alice, None).json().as_array().unwrap().is_empty());

    assert_eq!(api(&reg, Post, "alice/app/restore", "bob", &bob, None).status, 404, "bob never administered it");
    let r = api(&reg, Post, "alice/app/restore", "alice", &alice, None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["visibility"], "public");
    assert_eq!(
        r.json()["collaborators"],
        json!([{"login": "alice", "role": "admin"}, {"login": "bob", "role": "write"}])
    );
    let pulled = anonymous(&reg, "/v2/alice/app/manifests/v1");
    assert_eq!((pulled.status, pulled.header("docker-content-digest")), (200, Some(digest.as_str())));
}

#[test]
fn a_package_name_pushed_to_again_does_not_restore() {
    let reg = registry();
    let alice = all_scopes(&reg, "alice");
    push_image(&reg, "alice/app", "v1", b"old");
    assert_eq!(api(&reg, Delete, "alice/app", "alice", &alice, None).status, 202);
    let fresh = push_image(&reg, "alice/app", "v1", b"new");
    let r = api(&reg, Post, "alice/app/restore", "alice", &alice, None);
    assert_eq!((r.status, r.code().as_str()), (409, "CONFLICT"));
    assert_eq!(get(&reg, "/v2/alice/app/manifests/v1").header("docker-content-digest"), Some(fresh.as_str()));
}

#[test]
fn deletions_are_purged_after_thirty_days_and_their_blobs_collected() {
    let reg = registry();
    let alice = all_scopes(&reg, "alice");
    push_image(&reg, "alice/gone", "v1", b"only in the deleted package");
    push_image(&reg, "alice/kept", "v1", b"shared layer");
    push_image(&reg, "alice/gone", "v2", b"shared layer");
    assert_eq!(api(&reg, Delete, "alice/gone", "alice", &alice, None).status, 202);
    let objects_before = reg.registry.objects.keys().len();

    reg.registry.clock.advance(29 * DAY_MS);
    assert_eq!(futures_executor::block_on(reg.registry.purge_deletions(100)).unwrap(), 0);
    assert_eq!(
        futures_executor::block_on(reg.registry.collect_blobs(0, 100)).unwrap(),
        0,
        "a restorable package keeps its blobs"
    );

    reg.registry.clock.advance(2 * DAY_MS);
    assert_eq!(futures_executor::block_on(reg.registry.purge_deletions(100)).unwrap(), 1);
    assert_eq!(api(&reg, Post, "alice/gone/restore", "alice", &alice, None).status, 404, "purged for good");
    // Its own layer goes; the config and the layer it shares with alice/kept stay.
    assert_eq!(futures_executor::block_on(reg.registry.collect_blobs(0, 100)).unwrap(), 1);
    assert_eq!(reg.registry.objects.keys().len(), objects_before - 1);
    let pulled = get(&reg, "/v2/alice/kept/manifests/v1");
    assert_eq!(pulled.status, 200);
    let layer = pulled.json()["layers"][0]["digest"].as_str().unwrap().to_string();
    let blob = get(&reg, &format!("/v2/alice/kept/blobs/{layer}"));
    assert_eq!(blob.body, b"shared layer");
}

fn anonymous(reg: &MemRegistry, target: &str) -> Reply {
    send_raw(reg, Get, target, vec![], Chunks::none())
}

fn page(reg: &MemRegistry, path: &str, auth: Option<(&str, &str)>) -> (u16, String, Reply) {
    let headers = auth.map(|(l, t)| vec![("authorization".to_string(), basic(l, t))]).unwrap_or_default();
    let r = send_raw(reg, Get, path, headers, Chunks::none());
    (r.status, String::from_utf8_lossy(&r.body).into_owned(), r)
}

#[test]
fn a_public_package_page_shows_what_a_person_needs() {
    let reg = registry();
    let labels = json!({
        "org.opencontainers.image.description": "Fast <b>thing</b> & more",
        "org.opencontainers.image.licenses": "MIT",
        "org.opencontainers.image.source": "https://example.com/alice/app",
    });
    push_configured(&reg, "alice/app", "latest", &config("amd64", labels), json!({}));
    make_public(&reg, "alice/app");

    let (status, html, r) = page(&reg, "/alice/app", None);
    assert_eq!(status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(r.header("content-security-policy").unwrap().starts_with("default-src 'none'"));
    assert!(html.contains("Fast &lt;b&gt;thing&lt;/b&gt; &amp; more"), "descriptions are escaped: {html}");
    assert!(!html.contains("<b>thing"));
    assert!(html.contains("<dd class=\"license\">MIT</dd>"));
    assert!(html.contains("href=\"https://example.com/alice/app\""));
    assert!(html.contains("docker pull registry.test/alice/app:latest"));
    assert!(html.contains("linux/amd64"));

    let (status, html, _) = page(&reg, "/alice", None);
    assert_eq!(status, 200);
    assert!(html.contains("href=\"/alice/app\""));
}

#[test]
fn a_private_package_page_needs_a_reader() {
    let reg = registry();
    let alice = all_scopes(&reg, "alice");
    let bob = all_scopes(&reg, "bob");
    let labels = json!({"org.opencontainers.image.source": "javascript:alert(1)"});
    push_configured(&reg, "alice/secret", "v1", &config("amd64", labels), json!({}));

    let (status, html, _) = page(&reg, "/alice/secret", None);
    assert_eq!(status, 404);
    assert!(!html.contains("alice/secret"), "a private package's name does not leak");
    assert_eq!(page(&reg, "/alice/secret", Some(("bob", &bob))).0, 404);
    let (status, _, r) = page(&reg, "/alice/secret?login", None);
    assert_eq!(status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic "));

    let (status, html, _) = page(&reg, "/alice/secret", Some(("alice", &alice)));
    assert_eq!(status, 200);
    assert!(html.contains("docker pull registry.test/alice/secret:v1"));
    assert!(!html.contains("href=\"javascript:"), "only web links become links");
    assert!(!page(&reg, "/alice", None).1.contains("alice/secret"));
    assert!(page(&reg, "/alice", Some(("alice", &alice))).1.contains("alice/secret"));
}

#[test]
fn untagged_manifests_are_collected_only_where_the_package_asks() {
    let reg = registry();
    let alice = all_scopes(&reg, "alice");
    for repo in ["alice/tidy", "alice/hoard"] {
        push_image(&reg, repo, "v1", format!("{repo} old").as_bytes());
        push_image(&reg, repo, "v1", format!("{repo} new").as_bytes());
    }
    let r = api(&reg, Patch, "alice/tidy", "alice", &alice, Some(json!({"untagged": "collect"})));
    assert_eq!((r.status, r.json()["untagged"].as_str()), (200, Some("collect")));
    assert_eq!(api(&reg, Patch, "alice/tidy", "alice", &alice, Some(json!({"untagged": "sometimes"}))).status, 400);

    let run =
        || futures_executor::block_on(maintenance::run(&reg.registry, &reg.identity, 60_000, &Receiver::default()));
    let first = run();
    assert_eq!(first.untagged_manifests, 0, "within the grace period nothing goes");
    reg.registry.clock.advance(120_000);
    let second = run();
    assert!(second.failures.is_empty(), "{:?}", second.failures);
    assert_eq!(second.untagged_manifests, 1, "only the package that asked");
    assert_eq!(versions(&reg, "alice/tidy", "alice", &alice).len(), 1);
    assert_eq!(get(&reg, "/v2/alice/tidy/manifests/v1").status, 200, "the tagged one stays");
    assert_eq!(second.collected_blobs, 1, "the old image's own layer went with it");
    assert_eq!(versions(&reg, "alice/hoard", "alice", &alice).len(), 2, "hoard keeps its untagged version");
}
