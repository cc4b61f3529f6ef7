//! The OCI distribution API end to end in-process: what a client sees.

mod common;
use common::*;
use edge_registry::api::Method::*;
use edge_registry::error::RegistryError;
use edge_registry::oci::digest::Algorithm;
use edge_registry::oci::{Digest, RepoName};
use edge_registry::registry::ports::{BlobIndex, ChunkSource, UploadIndex};
use futures_executor::block_on;
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;

const REPO: &str = "alice/app";

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// The object a blob linked in `repo` is stored in.
fn object_of(reg: &MemRegistry, repo: &str, d: &str) -> String {
    let (repo, d) = (RepoName::parse(repo).unwrap(), Digest::parse(d).unwrap());
    block_on(reg.registry.meta.linked_blob(&repo, &d)).unwrap().expect("the blob is linked").object_key
}

/// Upload sessions still recorded, expired or not.
fn sessions_left(reg: &MemRegistry) -> usize {
    block_on(reg.registry.meta.expired_uploads(u64::MAX, 100)).unwrap().len()
}

fn start(reg: &MemRegistry, repo: &str) -> String {
    let r = send(reg, Post, &format!("/v2/{repo}/blobs/uploads/"), &[], Chunks::none());
    assert_eq!(r.status, 202);
    assert!(r.header("oci-chunk-min-length").is_some());
    r.header("location").unwrap().to_string()
}

#[test]
fn api_base_answers() {
    let reg = registry();
    let token = user_token(&reg, "alice", &["read:packages"]);
    let r = send_raw(&reg, Get, "/v2/", vec![("authorization".into(), basic("alice", &token))], Chunks::none());
    assert_eq!(r.status, 200);
    assert_eq!(r.header("docker-distribution-api-version"), Some("registry/2.0"));
    // Anonymous callers are told where to get a token.
    let r = get(&reg, "/v2/");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Bearer realm="https://registry.test/token",service="registry.test""#)
    );
}

#[test]
fn docker_shape_one_unsized_patch_then_put() {
    let reg = registry();
    let blob = bytes(1000, 1); // many 64-byte parts and a tail
    let loc = start(&reg, REPO);
    let r = send(&reg, Patch, &loc, &[], Chunks::split(&blob, 7));
    assert_eq!(r.status, 202);
    assert_eq!(r.header("range"), Some("0-999"));
    let loc = r.header("location").unwrap().to_string();
    let d = digest_of(&blob);
    let r = send(&reg, Put, &format!("{loc}?digest={d}"), &[], Chunks::none());
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("docker-content-digest"), Some(d.as_str()));

    let r = get(&reg, &format!("/v2/{REPO}/blobs/{d}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, blob);
    assert_eq!(r.header("content-length"), Some("1000"));
    let r = send(&reg, Head, &format!("/v2/{REPO}/blobs/{d}"), &[], Chunks::none());
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("1000"));
    assert!(r.body.is_empty());
    // Nothing of the session is left behind.
    assert!(
        reg.registry.objects.keys().iter().all(|k| !k.starts_with("uploads/")),
        "{:?}",
        reg.registry.objects.keys()
    );
    assert_eq!(reg.registry.objects.open_multiparts(), 0);
}

#[test]
fn chunked_upload_with_content_range_and_last_chunk_on_put() {
    let reg = registry();
    let blob = bytes(300, 2);
    let mut loc = start(&reg, REPO);
    for (start, end) in [(0usize, 100usize), (100, 130), (130, 250)] {
        let cr = format!("{}-{}", start, end - 1);
        let len = (end - start).to_string();
        let r = send(
            &reg,
            Patch,
            &loc,
            &[("content-range", &cr), ("content-length", &len)],
            Chunks::one(&blob[start..end]),
        );
        assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("range").unwrap(), format!("0-{}", end - 1));
        loc = r.header("location").unwrap().to_string();
    }
    let status = get(&reg, &loc);
    assert_eq!(status.status, 204);
    assert_eq!(status.header("range"), Some("0-249"));

    let d = digest_of(&blob);
    let r = send(&reg, Put, &format!("{loc}?digest={d}"), &[("content-range", "250-299")], Chunks::one(&blob[250..]));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(get(&reg, &format!("/v2/{REPO}/blobs/{d}")).body, blob);
}

#[test]
fn out_of_order_chunk_is_416_and_changes_nothing() {
    let reg = registry();
    let loc = start(&reg, REPO);
    assert_eq!(send(&reg, Patch, &loc, &[("content-range", "0-9")], Chunks::one(&[1; 10])).status, 202);
    let r = send(&reg, Patch, &loc, &[("content-range", "20-29")], Chunks::one(&[2; 10]));
    assert_eq!(r.status, 416);
    assert_eq!(get(&reg, &loc).header("range"), Some("0-9"));
}

#[test]
fn malformed_content_range_is_400() {
    let reg = registry();
    let loc = start(&reg, REPO);
    let r = send(&reg, Patch, &loc, &[("content-range", "ten-twenty")], Chunks::one(&[1; 10]));
    assert_eq!((r.status, r.code().as_str()), (400, "BLOB_UPLOAD_INVALID"));
}

#[test]
fn chunk_shorter_than_its_range_is_refused_and_not_saved() {
    let reg = registry();
    let loc = start(&reg, REPO);
    let r = send(&reg, Patch, &loc, &[("content-range", "0-99")], Chunks::one(&[1; 10]));
    assert_eq!(r.status, 400);
    assert_eq!(get(&reg, &loc).header("range"), Some("0-0"));
}

#[test]
fn wrong_digest_at_close_is_digest_invalid_and_nothing_is_visible() {
    let reg = registry();
    let blob = bytes(200, 3);
    let loc = start(&reg, REPO);
    assert_eq!(send(&reg, Patch, &loc, &[], Chunks::one(&blob)).header("range"), Some("0-199"));
    let wrong = digest_of(b"something else");
    let r = send(&reg, Put, &format!("{loc}?digest={wrong}"), &[], Chunks::none());
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    assert_eq!(get(&reg, &format!("/v2/{REPO}/blobs/{wrong}")).code(), "BLOB_UNKNOWN");
    assert_eq!(get(&reg, &format!("/v2/{REPO}/blobs/{}", digest_of(&blob))).code(), "BLOB_UNKNOWN");
    assert_eq!(reg.registry.objects.open_multiparts(), 0);
}

#[test]
fn bad_digests_are_digest_invalid() {
    let reg = registry();
    for bad in ["md5:abc", "sha256:xyz", "sha256:ABCDEF", "nonsense"] {
        let r = get(&reg, &format!("/v2/{REPO}/blobs/{bad}"));
        assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"), "{bad}");
        let r = send(&reg, Post, &format!("/v2/{REPO}/blobs/uploads/?digest={bad}"), &[], Chunks::one(b"x"));
        assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"), "{bad}");
    }
}

#[test]
fn unknown_upload_is_blob_upload_unknown() {
    let reg = registry();
    for id in ["0123456789abcdef0123456789abcdef", "not-hex", "sha256:abc"] {
        let r = get(&reg, &format!("/v2/{REPO}/blobs/uploads/{id}"));
        assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UPLOAD_UNKNOWN"), "{id}");
    }
    // A session belongs to its repository.
    let loc = start(&reg, REPO);
    let id = loc.rsplit('/').next().unwrap();
    assert_eq!(get(&reg, &format!("/v2/other/app/blobs/uploads/{id}")).status, 404);
}

#[test]
fn sessions_expire() {
    let reg = registry();
    let loc = start(&reg, REPO);
    let r = send(&reg, Patch, &loc, &[], Chunks::one(&bytes(200, 9)));
    assert_eq!((r.status, r.header("range")), (202, Some("0-199")));
    assert_eq!(reg.registry.objects.open_multiparts(), 1);
    reg.registry.clock.advance(61_000);
    assert_eq!(get(&reg, &loc).code(), "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(futures_executor::block_on(reg.registry.expire_uploads(10)).unwrap(), 1);
    // The scheduled clean-up leaves no multipart upload and no staged bytes behind.
    assert_eq!(reg.registry.objects.open_multiparts(), 0);
    assert!(reg.registry.objects.keys().is_empty(), "{:?}", reg.registry.objects.keys());
}

#[test]
fn cancelled_upload_is_gone() {
    let reg = registry();
    let loc = start(&reg, REPO);
    let r = send(&reg, Patch, &loc, &[], Chunks::one(&bytes(100, 4)));
    assert_eq!((r.status, r.header("range")), (202, Some("0-99")));
    assert!(!reg.registry.objects.keys().is_empty(), "the chunk was stored");
    assert_eq!(send(&reg, Delete, &loc, &[], Chunks::none()).status, 204);
    assert_eq!(get(&reg, &loc).code(), "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(reg.registry.objects.open_multiparts(), 0);
    assert!(reg.registry.objects.keys().is_empty());
}

#[test]
fn oversized_blob_is_refused() {
    let reg = registry();
    let loc = start(&reg, REPO);
    let r = send(&reg, Patch, &loc, &[("content-length", "20000")], Chunks::one(&[0; 10]));
    assert_eq!((r.status, r.code().as_str()), (413, "SIZE_INVALID"));
    let r = send(&reg, Patch, &loc, &[], Chunks::split(&[0; 12_000], 1000));
    assert_eq!(r.code(), "SIZE_INVALID");
    assert_eq!(get(&reg, &loc).header("range"), Some("0-0"));
}

#[test]
fn cross_repository_mount() {
    let reg = registry();
    let d = push_blob(&reg, REPO, b"shared layer");
    make_public(&reg, REPO);
    let r = send(&reg, Post, &format!("/v2/bob/app/blobs/uploads/?mount={d}&from={REPO}"), &[], Chunks::none());
    assert_eq!(r.status, 201);
    assert_eq!(get(&reg, &format!("/v2/bob/app/blobs/{d}")).body, b"shared layer");
    // Not in `from`: a normal session instead.
    let other = digest_of(b"absent");
    let r = send(&reg, Post, &format!("/v2/carol/app/blobs/uploads/?mount={other}&from={REPO}"), &[], Chunks::none());
    assert_eq!(r.status, 202);
    assert!(r.header("location").unwrap().contains("/blobs/uploads/"));
    // One object serves both repositories.
    assert_eq!(reg.registry.objects.keys().iter().filter(|k| k.starts_with("blobs/")).count(), 1);
}

#[test]
fn same_blob_pushed_twice_is_stored_once() {
    let reg = registry();
    push_blob(&reg, REPO, &bytes(500, 5));
    push_blob(&reg, "bob/app", &bytes(500, 5));
    assert_eq!(reg.registry.objects.keys().iter().filter(|k| k.starts_with("blobs/")).count(), 1);
}

#[test]
fn blob_ranges() {
    let reg = registry();
    let blob = bytes(100, 6);
    let d = push_blob(&reg, REPO, &blob);
    let url = format!("/v2/{REPO}/blobs/{d}");
    let r = send(&reg, Get, &url, &[("range", "bytes=10-19")], Chunks::none());
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &blob[10..20]);
    assert_eq!(r.header("content-range"), Some("bytes 10-19/100"));
    assert_eq!(r.header("content-length"), Some("10"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    let r = send(&reg, Get, &url, &[("range", "bytes=200-")], Chunks::none());
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */100"));
}

#[test]
fn manifest_by_tag_and_digest_byte_exact() {
    let reg = registry();
    let d = push_image(&reg, REPO, "v1", b"layer one");
    for reference in ["v1", d.as_str()] {
        let r = get(&reg, &format!("/v2/{REPO}/manifests/{reference}"));
        assert_eq!(r.status, 200);
        assert_eq!(digest_of(&r.body), d);
        assert_eq!(r.header("docker-content-digest"), Some(d.as_str()));
        assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));
        assert_eq!(r.header("content-length").unwrap(), r.body.len().to_string());
    }
    // Another repository does not see it.
    push_image(&reg, "alice/other", "v1", b"other");
    assert_eq!(get(&reg, &format!("/v2/alice/other/manifests/{d}")).code(), "MANIFEST_UNKNOWN");
}

#[test]
fn manifest_put_by_wrong_digest_is_digest_invalid() {
    let reg = registry();
    let config = push_blob(&reg, REPO, b"{}");
    let m = image_manifest(&config, &[], "");
    let r = put_manifest(&reg, REPO, &digest_of(b"other"), &m);
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    let r = put_manifest(&reg, REPO, &digest_of(&m), &m);
    assert_eq!(r.status, 201);
}

#[test]
fn manifest_with_missing_blob_is_refused_and_invisible() {
    let reg = registry();
    let config = push_blob(&reg, REPO, b"{}");
    let missing = digest_of(b"never pushed");
    let m = image_manifest(&config, &[(&missing, 12)], "");
    let r = put_manifest(&reg, REPO, "latest", &m);
    assert_eq!((r.status, r.code().as_str()), (400, "MANIFEST_BLOB_UNKNOWN"));
    assert_eq!(get(&reg, &format!("/v2/{REPO}/manifests/latest")).code(), "MANIFEST_UNKNOWN");
    assert_eq!(get(&reg, &format!("/v2/{REPO}/manifests/{}", digest_of(&m))).code(), "MANIFEST_UNKNOWN");
    // A blob of another repository does not count.
    let elsewhere = push_blob(&reg, "bob/app", b"bob's layer");
    let m = image_manifest(&config, &[(&elsewhere, 11)], "");
    assert_eq!(put_manifest(&reg, REPO, "latest", &m).code(), "MANIFEST_BLOB_UNKNOWN");
}

#[test]
fn manifest_over_4_mib_is_413() {
    let reg = registry();
    let config = push_blob(&reg, REPO, b"{}");
    let pad = format!(r#","annotations":{{"pad":"{}"}}"#, "x".repeat(4 * 1024 * 1024));
    let m = image_manifest(&config, &[], &pad);
    let r = send(
        &reg,
        Put,
        &format!("/v2/{REPO}/manifests/big"),
        &[("content-type", OCI_MANIFEST)],
        Chunks::split(&m, 65536),
    );
    assert_eq!((r.status, r.code().as_str()), (413, "SIZE_INVALID"));
    assert_eq!(get(&reg, &format!("/v2/{REPO}/manifests/big")).status, 404);
}

#[test]
fn invalid_manifest_and_tag() {
    let reg = registry();
    let r = put_manifest(&reg, REPO, "latest", b"{not json");
    assert_eq!((r.status, r.code().as_str()), (400, "MANIFEST_INVALID"));
    let r = put_manifest(&reg, REPO, "-bad-tag", b"{}");
    assert_eq!(r.status, 400);
}

#[test]
fn invalid_names_are_name_invalid() {
    let reg = registry();
    let long = format!("a/{}", "b".repeat(300));
    for name in ["Alice/app", "alice//app", "alice/app-", "solo", long.as_str()] {
        let r = get(&reg, &format!("/v2/{name}/tags/list"));
        assert_eq!((r.status, r.code().as_str()), (400, "NAME_INVALID"), "{name}");
    }
}

#[test]
fn index_children_must_exist() {
    let reg = registry();
    let child = push_image(&reg, REPO, "amd64", b"amd64 layer");
    let missing = digest_of(b"no such manifest");
    let index = |children: &[&str]| {
        let m: Vec<String> = children
            .iter()
            .map(|d| format!(r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{d}","size":1,"platform":{{"architecture":"amd64","os":"linux"}}}}"#))
            .collect();
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
            m.join(",")
        )
    };
    let ct = [("content-type", "application/vnd.oci.image.index.v1+json")];
    let bad = index(&[&child, &missing]);
    let r = send(&reg, Put, &format!("/v2/{REPO}/manifests/multi"), &ct, Chunks::one(bad.as_bytes()));
    assert_eq!(r.code(), "MANIFEST_BLOB_UNKNOWN");
    let good = index(&[&child]);
    let r = send(&reg, Put, &format!("/v2/{REPO}/manifests/multi"), &ct, Chunks::one(good.as_bytes()));
    assert_eq!(r.status, 201);
    let r = get(&reg, &format!("/v2/{REPO}/manifests/multi"));
    assert_eq!(r.header("content-type"), Some("application/vnd.oci.image.index.v1+json"));
}

#[test]
fn foreign_layers_need_not_be_uploaded() {
    let reg = registry();
    let config = push_blob(&reg, REPO, b"{}");
    let foreign = digest_of(b"windows base layer");
    let m = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{config}","size":2}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"{foreign}","size":18,"urls":["https://example.com/layer"]}}]}}"#
    );
    let r = send(
        &reg,
        Put,
        &format!("/v2/{REPO}/manifests/win"),
        &[("content-type", "application/vnd.docker.distribution.manifest.v2+json")],
        Chunks::one(m.as_bytes()),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(get(&reg, &format!("/v2/{REPO}/manifests/win")).status, 200);
    // The registry does not claim to hold the foreign blob.
    assert_eq!(get(&reg, &format!("/v2/{REPO}/blobs/{foreign}")).code(), "BLOB_UNKNOWN");
}

#[test]
fn tag_moves_atomically() {
    let reg = registry();
    let first = push_image(&reg, REPO, "latest", b"one");
    let second = push_image(&reg, REPO, "latest", b"two");
    assert_ne!(first, second);
    let r = get(&reg, &format!("/v2/{REPO}/manifests/latest"));
    assert_eq!(digest_of(&r.body), second);
    // The old manifest is still there by digest.
    assert_eq!(get(&reg, &format!("/v2/{REPO}/manifests/{first}")).status, 200);
}

#[test]
fn tags_are_listed_in_lexical_order_with_pagination() {
    let reg = registry();
    for tag in ["v2", "latest", "v10", "A", "v1"] {
        push_image(&reg, REPO, tag, tag.as_bytes());
    }
    let r = get(&reg, &format!("/v2/{REPO}/tags/list"));
    assert_eq!(r.json()["tags"], serde_json::json!(["A", "latest", "v1", "v10", "v2"]));
    assert_eq!(r.json()["name"], REPO);
    assert!(r.header("link").is_none());

    let r = get(&reg, &format!("/v2/{REPO}/tags/list?n=2"));
    assert_eq!(r.json()["tags"], serde_json::json!(["A", "latest"]));
    let link = r.header("link").unwrap();
    assert_eq!(link, format!("</v2/{REPO}/tags/list?n=2&last=latest>; rel=\"next\""));
    let next = link.trim_start_matches('<').split('>').next().unwrap();
    let r = get(&reg, next);
    assert_eq!(r.json()["tags"], serde_json::json!(["v1", "v10"]));
    let r = get(&reg, &format!("/v2/{REPO}/tags/list?n=2&last=v10"));
    assert_eq!(r.json()["tags"], serde_json::json!(["v2"]));
    assert!(r.header("link").is_none());

    assert_eq!(get(&reg, "/v2/nobody/here/tags/list").code(), "NAME_UNKNOWN");
}

#[test]
fn referrers_list_and_filter() {
    let reg = registry();
    let subject = push_image(&reg, REPO, "v1", b"app");
    let config = push_blob(&reg, REPO, b"{}");
    let artifact = |t: &str| {
        image_manifest(
            &config,
            &[],
            &format!(
                r#","artifactType":"{t}","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":1}},"annotations":{{"kind":"{t}"}}"#
            ),
        )
    };
    for t in ["application/x-sbom", "application/x-sig"] {
        let m = artifact(t);
        let r = put_manifest(&reg, REPO, &digest_of(&m), &m);
        assert_eq!(r.status, 201);
        assert_eq!(r.header("oci-subject"), Some(subject.as_str()));
    }
    let r = get(&reg, &format!("/v2/{REPO}/referrers/{subject}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/vnd.oci.image.index.v1+json"));
    let all = r.json();
    assert_eq!(all["manifests"].as_array().unwrap().len(), 2);
    assert!(all["manifests"].as_array().unwrap().iter().all(|m| m["annotations"]["kind"] == m["artifactType"]));

    let r = get(&reg, &format!("/v2/{REPO}/referrers/{subject}?artifactType=application/x-sig"));
    assert_eq!(r.header("oci-filters-applied"), Some("artifactType"));
    let only = r.json();
    assert_eq!(only["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(only["manifests"][0]["artifactType"], "application/x-sig");

    let r = get(&reg, &format!("/v2/{REPO}/referrers/{}", digest_of(b"nothing refers")));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["manifests"], serde_json::json!([]));
}

#[test]
fn deletion_of_tags_manifests_and_blobs() {
    let reg = registry();
    let d = push_image(&reg, REPO, "v1", b"doomed");
    push_image(&reg, REPO, "v2", b"kept");
    assert_eq!(send(&reg, Delete, &format!("/v2/{REPO}/manifests/v2"), &[], Chunks::none()).status, 202);
    assert_eq!(get(&reg, &format!("/v2/{REPO}/manifests/v2")).code(), "MANIFEST_UNKNOWN");

    assert_eq!(send(&reg, Delete, &format!("/v2/{REPO}/manifests/{d}"), &[], Chunks::none()).status, 202);
    assert_eq!(get(&reg, &format!("/v2/{REPO}/manifests/{d}")).code(), "MANIFEST_UNKNOWN");
    assert_eq!(get(&reg, &format!("/v2/{REPO}/manifests/v1")).code(), "MANIFEST_UNKNOWN");
    assert_eq!(
        send(&reg, Delete, &format!("/v2/{REPO}/manifests/{d}"), &[], Chunks::none()).code(),
        "MANIFEST_UNKNOWN"
    );

    let b = push_blob(&reg, REPO, b"blob to delete");
    assert_eq!(send(&reg, Delete, &format!("/v2/{REPO}/blobs/{b}"), &[], Chunks::none()).status, 202);
    assert_eq!(get(&reg, &format!("/v2/{REPO}/blobs/{b}")).code(), "BLOB_UNKNOWN");
}

#[test]
fn unknown_routes_and_methods() {
    let reg = registry();
    assert_eq!(get(&reg, "/nothing").status, 404);
    let token = user_token(&reg, "alice", &["read:packages"]);
    let r = send_raw(&reg, Put, "/v2/", vec![("authorization".into(), basic("alice", &token))], Chunks::none());
    assert_eq!((r.status, r.code().as_str()), (405, "UNSUPPORTED"));
}

#[test]
fn collection_removes_only_blobs_no_manifest_needs() {
    let reg = registry();
    let orphan = push_blob(&reg, REPO, b"deleted layer");
    let shared = push_blob(&reg, REPO, b"shared layer");
    push_image(&reg, "bob/app", "v1", b"shared layer");
    // Uploaded but never used by a manifest: garbage once the grace period is over.
    let unused = push_blob(&reg, "bob/app", b"never in a manifest");
    let manifest = push_image(&reg, REPO, "v1", b"kept layer");
    let kept_layer = digest_of(b"kept layer");
    for d in [&orphan, &shared, &kept_layer] {
        assert_eq!(send(&reg, Delete, &format!("/v2/{REPO}/blobs/{d}"), &[], Chunks::none()).status, 202);
    }
    let objects_before = reg.registry.objects.keys().len();
    // Within the grace period nothing goes.
    reg.registry.clock.advance(1000);
    assert_eq!(futures_executor::block_on(reg.registry.collect_blobs(60_000, 100)).unwrap(), 0);
    reg.registry.clock.advance(60_000);
    assert_eq!(futures_executor::block_on(reg.registry.collect_blobs(60_000, 100)).unwrap(), 2);
    assert_eq!(reg.registry.objects.keys().len(), objects_before - 2);
    assert_eq!(get(&reg, &format!("/v2/bob/app/blobs/{unused}")).code(), "BLOB_UNKNOWN");
    // Still served: the shared layer to bob, the image (its layer needed by a manifest).
    assert_eq!(get(&reg, &format!("/v2/bob/app/blobs/{shared}")).body, b"shared layer");
    assert_eq!(get(&reg, &format!("/v2/{REPO}/manifests/{manifest}")).status, 200);
    // A fresh push of the collected digest stores it again.
    push_blob(&reg, REPO, b"deleted layer");
    assert_eq!(get(&reg, &format!("/v2/{REPO}/blobs/{orphan}")).body, b"deleted layer");
}

/// A body whose client goes away after `chunks` chunks.
struct Abandoned(usize);

impl edge_registry::registry::ports::ChunkSource for Abandoned {
    async fn next_chunk(&mut self) -> edge_registry::error::Result<Option<Vec<u8>>> {
        if self.0 == 0 {
            return Err(edge_registry::error::RegistryError::BadRequest("the client went away".into()));
        }
        self.0 -= 1;
        Ok(Some(vec![7; 100]))
    }
}

#[test]
fn a_client_that_goes_away_mid_patch_leaves_nothing_expiry_cannot_remove() {
    let reg = registry();
    let repo = edge_registry::oci::RepoName::parse(REPO).unwrap();
    let session = futures_executor::block_on(reg.registry.start_upload(&repo, Algorithm::Sha256)).unwrap();
    // Three chunks of 100 bytes fill parts of 64: a multipart upload exists when it fails.
    let failed =
        futures_executor::block_on(reg.registry.append_chunk(&repo, &session.id, None, None, &mut Abandoned(3)));
    assert!(failed.is_err());
    assert_eq!(reg.registry.objects.open_multiparts(), 1);
    let status = get(&reg, &format!("/v2/{REPO}/blobs/uploads/{}", session.id));
    assert_eq!((status.status, status.header("range")), (204, Some("0-0")), "nothing of it counts");
    reg.registry.clock.advance(61_000);
    assert_eq!(futures_executor::block_on(reg.registry.expire_uploads(10)).unwrap(), 1);
    assert_eq!(reg.registry.objects.open_multiparts(), 0, "its multipart upload was aborted");
    assert!(reg.registry.objects.keys().iter().all(|k| !k.starts_with("uploads/")), "and its staging objects gone");
}

/// A body that first lets a rival request on the same upload run to its end: this request
/// loaded the session before the rival saved it, as when two requests race.
struct AfterRival<'a> {
    rival: Option<Pin<Box<dyn Future<Output = ()> + 'a>>>,
    body: Chunks,
}

impl ChunkSource for AfterRival<'_> {
    async fn next_chunk(&mut self) -> edge_registry::error::Result<Option<Vec<u8>>> {
        if let Some(rival) = self.rival.take() {
            rival.await;
        }
        self.body.next_chunk().await
    }
}

#[test]
fn racing_patches_cannot_swap_the_staged_bytes_of_the_one_that_saved() {
    let reg = registry();
    let loc = start(&reg, REPO);
    let id = loc.rsplit('/').next().unwrap();
    let repo = RepoName::parse(REPO).unwrap();
    // Equal lengths, less than a part: both are only staged.
    let (saved, lost) = (bytes(40, 1), bytes(40, 2));
    let rival = async {
        let r = reg.registry.append_chunk(&repo, id, None, None, &mut Chunks::one(&saved)).await;
        assert!(r.is_ok(), "{r:?}");
    };
    let mut body = AfterRival { rival: Some(Box::pin(rival)), body: Chunks::one(&lost) };
    let r = block_on(reg.registry.append_chunk(&repo, id, None, None, &mut body));
    assert!(matches!(r, Err(RegistryError::BlobUploadInvalid(_))), "{r:?}");

    let d = digest_of(&saved);
    assert_eq!(send(&reg, Put, &format!("{loc}?digest={d}"), &[], Chunks::none()).status, 201);
    assert_eq!(get(&reg, &format!("/v2/{REPO}/blobs/{d}")).body, saved);
    // Nothing of the losing request is left behind either: the one object is the blob's.
    assert_eq!(reg.registry.objects.keys(), BTreeSet::from([object_of(&reg, REPO, &d)]));
}

#[test]
fn a_small_blob_closed_without_bytes_costs_no_object_store_call() {
    let reg = registry();
    let blob = bytes(40, 3); // less than a part: staged whole by the PATCH
    let r = send(&reg, Patch, &start(&reg, REPO), &[], Chunks::split(&blob, 7));
    assert_eq!(r.status, 202);
    let loc = r.header("location").unwrap().to_string();
    let d = digest_of(&blob);
    let before = reg.registry.objects.calls();
    let r = send(&reg, Put, &format!("{loc}?digest={d}"), &[], Chunks::none());
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(reg.registry.objects.calls(), before, "the staged object became the blob's");
    assert_eq!(get(&reg, &format!("/v2/{REPO}/blobs/{d}")).body, blob);
    assert_eq!(reg.registry.objects.keys(), BTreeSet::from([object_of(&reg, REPO, &d)]));
    assert_eq!(get(&reg, &loc).status, 404, "the session is closed");
    assert_eq!(sessions_left(&reg), 0);

    // The same with a wrong digest: nothing visible, nothing left.
    let other = bytes(40, 4);
    let loc = send(&reg, Patch, &start(&reg, REPO), &[], Chunks::one(&other)).header("location").unwrap().to_string();
    let wrong = digest_of(b"not these bytes");
    let r = send(&reg, Put, &format!("{loc}?digest={wrong}"), &[], Chunks::none());
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    assert_eq!(get(&reg, &format!("/v2/{REPO}/blobs/{wrong}")).status, 404);
    assert_eq!(reg.registry.objects.keys(), BTreeSet::from([object_of(&reg, REPO, &d)]));
    assert_eq!(sessions_left(&reg), 0);

    // Pushed again elsewhere, the digest keeps its one object.
    let loc =
        send(&reg, Patch, &start(&reg, "alice/other"), &[], Chunks::one(&blob)).header("location").unwrap().to_string();
    assert_eq!(send(&reg, Put, &format!("{loc}?digest={d}"), &[], Chunks::none()).status, 201);
    assert_eq!(get(&reg, &format!("/v2/alice/other/blobs/{d}")).body, blob);
    assert_eq!(reg.registry.objects.keys(), BTreeSet::from([object_of(&reg, REPO, &d)]));
}

#[test]
fn a_small_monolithic_push_is_one_put_and_no_session() {
    let reg = registry();
    let blob = bytes(50, 5);
    let d = digest_of(&blob);
    let before = reg.registry.objects.calls();
    let r = send(&reg, Post, &format!("/v2/{REPO}/blobs/uploads/?digest={d}"), &[], Chunks::split(&blob, 9));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(reg.registry.objects.calls() - before, 1);
    assert_eq!(get(&reg, &format!("/v2/{REPO}/blobs/{d}")).body, blob);
    assert_eq!(sessions_left(&reg), 0);
    // Once more: the digest is held already, so the new copy goes.
    let r = send(&reg, Post, &format!("/v2/alice/other/blobs/uploads/?digest={d}"), &[], Chunks::one(&blob));
    assert_eq!(r.status, 201);
    assert_eq!(reg.registry.objects.keys(), BTreeSet::from([object_of(&reg, REPO, &d)]));
    assert_eq!(object_of(&reg, "alice/other", &d), object_of(&reg, REPO, &d));

    // A wrong digest stores nothing at all.
    let wrong = digest_of(b"other bytes");
    let calls = reg.registry.objects.calls();
    let r = send(&reg, Post, &format!("/v2/{REPO}/blobs/uploads/?digest={wrong}"), &[], Chunks::one(&blob));
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    assert_eq!(reg.registry.objects.calls(), calls);
    assert_eq!(sessions_left(&reg), 0);
}

#[test]
fn a_monolithic_push_of_many_parts_streams_into_a_session() {
    let reg = registry();
    for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
        let blob = bytes(1000, 6 + algorithm as u8); // 15 parts of 64 and a tail
        let d = Digest::of(algorithm, &blob).to_string();
        let r = send(&reg, Post, &format!("/v2/{REPO}/blobs/uploads/?digest={d}"), &[], Chunks::split(&blob, 100));
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(get(&reg, &format!("/v2/{REPO}/blobs/{d}")).body, blob);
        // A wrong digest leaves neither object nor session.
        let wrong = Digest::of(algorithm, b"x").to_string();
        let r = send(&reg, Post, &format!("/v2/{REPO}/blobs/uploads/?digest={wrong}"), &[], Chunks::split(&blob, 100));
        assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    }
    assert_eq!(reg.registry.objects.open_multiparts(), 0);
    assert_eq!(sessions_left(&reg), 0);
    assert!(
        reg.registry.objects.keys().iter().all(|k| !k.starts_with("uploads/")),
        "{:?}",
        reg.registry.objects.keys()
    );
}

#[test]
fn a_close_that_loses_to_expiry_makes_no_blob_of_removed_bytes() {
    let reg = registry();
    let repo = RepoName::parse(REPO).unwrap();
    let blob = bytes(40, 7);
    let loc = send(&reg, Patch, &start(&reg, REPO), &[], Chunks::one(&blob)).header("location").unwrap().to_string();
    let id = loc.rsplit('/').next().unwrap();
    // The close reads the session, then expiry removes it and its staged bytes.
    let rival = async {
        reg.registry.clock.advance(61_000);
        assert_eq!(reg.registry.expire_uploads(10).await.unwrap(), 1);
    };
    let mut body = AfterRival { rival: Some(Box::pin(rival)), body: Chunks::none() };
    let r = block_on(reg.registry.finish_upload(&repo, id, &Digest::sha256_of(&blob), None, None, &mut body));
    assert!(r.is_err(), "{r:?}");
    assert_eq!(get(&reg, &format!("/v2/{REPO}/blobs/{}", digest_of(&blob))).status, 404);
    assert!(reg.registry.objects.keys().is_empty(), "{:?}", reg.registry.objects.keys());
}

/// A body of one chunk that lets a rival request run to its end after the chunk: this
/// request has read its session by then.
struct RivalMidway<'a> {
    chunk: Option<Vec<u8>>,
    rival: Option<Pin<Box<dyn Future<Output = ()> + 'a>>>,
}

impl ChunkSource for RivalMidway<'_> {
    async fn next_chunk(&mut self) -> edge_registry::error::Result<Option<Vec<u8>>> {
        if let Some(chunk) = self.chunk.take() {
            return Ok(Some(chunk));
        }
        if let Some(rival) = self.rival.take() {
            rival.await;
        }
        Ok(None)
    }
}

#[test]
fn two_closes_of_the_same_bytes_both_succeed() {
    let reg = registry();
    let repo = RepoName::parse(REPO).unwrap();
    let blob = bytes(40, 8);
    let d = Digest::sha256_of(&blob);
    let loc = start(&reg, REPO);
    let id = loc.rsplit('/').next().unwrap();
    let rival = async {
        let r = reg.registry.finish_upload(&repo, id, &d, None, None, &mut Chunks::one(&blob)).await;
        assert!(r.is_ok(), "{r:?}");
    };
    let mut body = RivalMidway { chunk: Some(blob.clone()), rival: Some(Box::pin(rival)) };
    let r = block_on(reg.registry.finish_upload(&repo, id, &d, None, None, &mut body));
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(get(&reg, &format!("/v2/{REPO}/blobs/{d}")).body, blob);
    assert_eq!(reg.registry.objects.keys(), BTreeSet::from([object_of(&reg, REPO, &d.to_string())]));
    // Closed, the session is unknown to a close that comes after.
    let r = block_on(reg.registry.finish_upload(&repo, id, &d, None, None, &mut Chunks::none()));
    assert!(matches!(r, Err(RegistryError::BlobUploadUnknown)), "{r:?}");
}

#[test]
fn racing_closes_cannot_give_one_digest_the_others_bytes() {
    let reg = registry();
    let loc = start(&reg, REPO);
    let id = loc.rsplit('/').next().unwrap();
    let repo = RepoName::parse(REPO).unwrap();
    let (first, second) = (bytes(40, 1), bytes(40, 2));
    let rival = async {
        let d = Digest::sha256_of(&first);
        let r = reg.registry.finish_upload(&repo, id, &d, None, None, &mut Chunks::one(&first)).await;
        assert!(r.is_ok(), "{r:?}");
    };
    let mut body = AfterRival { rival: Some(Box::pin(rival)), body: Chunks::one(&second) };
    let _ = block_on(reg.registry.finish_upload(&repo, id, &Digest::sha256_of(&second), None, None, &mut body));

    assert_eq!(get(&reg, &format!("/v2/{REPO}/blobs/{}", digest_of(&first))).body, first);
    // The second close may succeed or fail; what it stored is its own.
    let r = get(&reg, &format!("/v2/{REPO}/blobs/{}", digest_of(&second)));
    assert!(r.status == 404 || r.body == second, "{}", r.status);
}

/// A PATCH without `Content-Range` to a fresh session is hashed by the platform's own
/// hasher, which leaves nothing to resume from: chunks that follow it still verify, staged
/// or in parts, in either algorithm, and a wrong digest still stores nothing.
#[test]
fn chunks_after_a_whole_blob_patch_still_verify() {
    let reg = registry();
    for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
        // The first PATCH leaves the bytes staged (40, less than a part) or in parts (200).
        for (first, seed) in [(40usize, 10u8), (200, 20)] {
            let blob = bytes(first + 150, seed + algorithm as u8);
            let r = send(
                &reg,
                Post,
                &format!("/v2/{REPO}/blobs/uploads/?digest-algorithm={}", algorithm.as_str()),
                &[],
                Chunks::none(),
            );
            let loc = r.header("location").unwrap().to_string();
            let r = send(&reg, Patch, &loc, &[], Chunks::split(&blob[..first], 7));
            assert_eq!(r.header("range").unwrap(), format!("0-{}", first - 1));
            // One more unranged chunk, then a ranged one, then the last bytes with the close.
            let loc = r.header("location").unwrap().to_string();
            let r = send(&reg, Patch, &loc, &[], Chunks::one(&blob[first..first + 50]));
            assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
            let cr = format!("{}-{}", first + 50, first + 99);
            let r = send(&reg, Patch, &loc, &[("content-range", &cr)], Chunks::one(&blob[first + 50..first + 100]));
            assert_eq!(r.header("range").unwrap(), format!("0-{}", first + 99));

            let wrong = Digest::of(algorithm, b"other bytes");
            let r = send(&reg, Put, &format!("{loc}?digest={wrong}"), &[], Chunks::one(&blob[first + 100..]));
            assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
            assert_eq!(get(&reg, &format!("/v2/{REPO}/blobs/{wrong}")).code(), "BLOB_UNKNOWN");
            assert_eq!(get(&reg, &loc).status, 404, "a refused close ends the session");

            // The same again, closed with the right digest (a sha512 one: from a sha256
            // session, verified over the stored bytes).
            let d = Digest::of(algorithm, &blob);
            let loc = start(&reg, REPO);
            let r = send(&reg, Patch, &loc, &[], Chunks::split(&blob[..first], 7));
            let loc = r.header("location").unwrap().to_string();
            let cr = format!("{}-{}", first, first + 99);
            let r = send(&reg, Patch, &loc, &[("content-range", &cr)], Chunks::one(&blob[first..first + 100]));
            assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
            let r = send(&reg, Put, &format!("{loc}?digest={d}"), &[], Chunks::one(&blob[first + 100..]));
            assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
            assert_eq!(get(&reg, &format!("/v2/{REPO}/blobs/{d}")).body, blob);
        }
    }
    assert_eq!(sessions_left(&reg), 0);
    assert_eq!(reg.registry.objects.open_multiparts(), 0);
    assert!(
        reg.registry.objects.keys().iter().all(|k| !k.starts_with("uploads/")),
        "{:?}",
        reg.registry.objects.keys()
    );
}
