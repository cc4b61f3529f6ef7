//! Every size a client controls is bounded: a request exactly at a limit is served, one
//! unit over it answers with the limit's OCI error code and HTTP status.

mod common;

use common::*;
use edge_registry::api::Method::*;

fn header(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_string(), value.into())
}

fn operator() -> (String, String) {
    header("authorization", format!("Bearer {ADMIN_TOKEN}"))
}

/// `json` padded with trailing whitespace (still the same JSON) to exactly `len` bytes.
fn padded_json(json: &str, len: usize) -> Vec<u8> {
    format!("{json}{}", " ".repeat(len - json.len())).into_bytes()
}

#[test]
fn admin_json_bodies_are_bounded_at_64_kib() {
    let reg = registry();
    let at =
        send_raw(&reg, Post, "/admin/users", vec![operator()], Chunks::one(&padded_json(r#"{"login":"bob"}"#, 65_536)));
    assert_eq!(at.status, 201);
    let over = padded_json(r#"{"login":"carol"}"#, 65_537);
    let r = send_raw(&reg, Post, "/admin/users", vec![operator()], Chunks::split(&over, 4096));
    assert_eq!((r.status, r.code().as_str()), (413, "SIZE_INVALID"));
}

#[test]
fn package_json_bodies_are_bounded_at_64_kib() {
    let reg = registry();
    push_image(&reg, "alice/app", "v1", b"layer");
    let token = user_token(&reg, "alice", &["read:packages", "write:packages"]);
    let patch = |body: Vec<u8>| {
        send_raw(
            &reg,
            Patch,
            "/api/packages/alice/app",
            vec![header("authorization", format!("Bearer {token}"))],
            Chunks::one(&body),
        )
    };
    let at = patch(padded_json(r#"{"visibility":"public"}"#, 65_536));
    assert_eq!((at.status, at.json()["visibility"].as_str()), (200, Some("public")));
    let over = patch(padded_json(r#"{"visibility":"private"}"#, 65_537));
    assert_eq!((over.status, over.code().as_str()), (413, "SIZE_INVALID"));
}

#[test]
fn json_nesting_is_refused_where_the_body_has_none() {
    let reg = registry();
    // 30,000 levels fit in 64 KiB; the typed bodies refuse the first level they do not
    // expect (serde_json's limit of 128 levels stands behind that), so nothing recurses.
    let deep = |prefix: &str| format!("{prefix}{}{}", "[".repeat(30_000), "]".repeat(30_000)).into_bytes();
    for (path, prefix) in
        [("/admin/users", ""), ("/admin/users", r#"{"login":"#), ("/admin/users/alice/tokens", r#"{"scopes":"#)]
    {
        let r = send_raw(&reg, Post, path, vec![operator()], Chunks::one(&deep(prefix)));
        assert_eq!((r.status, r.code().as_str()), (400, "BAD_REQUEST"), "{path} {prefix}");
    }
}

#[test]
fn paths_are_bounded_at_2_kib() {
    let reg = registry();
    let path = |len: usize| format!("/v2/{}", "a".repeat(len - "/v2/".len()));
    let at = get(&reg, &path(2048));
    assert_eq!((at.status, at.code().as_str()), (404, "NOT_FOUND"), "a path of 2 KiB is routed");
    let over = get(&reg, &path(2049));
    assert_eq!((over.status, over.code().as_str()), (400, "BAD_REQUEST"));
}

#[test]
fn queries_are_bounded_at_8_kib_and_64_parameters() {
    let reg = registry();
    push_image(&reg, "alice/app", "v1", b"layer");
    // Each parameter counts its name, value and two bytes for `=` and `&`.
    let last = |len: usize| format!("/v2/alice/app/tags/list?last={}", "x".repeat(len - "last".len() - 2));
    assert_eq!(get(&reg, &last(8192)).status, 200);
    let over = get(&reg, &last(8193));
    assert_eq!((over.status, over.code().as_str()), (400, "BAD_REQUEST"));
    let params = |count: usize| {
        let pairs: Vec<String> = (0..count).map(|i| format!("k{i}=v")).collect();
        format!("/v2/alice/app/tags/list?{}", pairs.join("&"))
    };
    assert_eq!(get(&reg, &params(64)).status, 200);
    let over = get(&reg, &params(65));
    assert_eq!((over.status, over.code().as_str()), (400, "BAD_REQUEST"));
}

#[test]
fn headers_are_bounded_at_64_kib_in_all() {
    let reg = registry();
    // Each header counts its name, value and four bytes for `: ` and CRLF.
    let padding = |total: usize| vec![header("x-padding", "x".repeat(total - "x-padding".len() - 4))];
    let at = send_raw(&reg, Get, "/v2/", padding(65_536), Chunks::none());
    assert_eq!((at.status, at.code().as_str()), (401, "UNAUTHORIZED"), "served: no credentials");
    let over = send_raw(&reg, Get, "/v2/", padding(65_537), Chunks::none());
    assert_eq!((over.status, over.code().as_str()), (400, "BAD_REQUEST"));
}

#[test]
fn authorization_is_bounded_at_8_kib() {
    let reg = registry();
    let token = user_token(&reg, "alice", &["read:packages"]);
    // Trailing spaces keep the credentials the same and make the header longer.
    let auth = |len: usize| vec![header("authorization", format!("{:len$}", basic("alice", &token)))];
    assert_eq!(send_raw(&reg, Get, "/v2/", auth(8192), Chunks::none()).status, 200);
    let over = send_raw(&reg, Get, "/v2/", auth(8193), Chunks::none());
    assert_eq!((over.status, over.code().as_str()), (401, "UNAUTHORIZED"));
}

#[test]
fn token_requests_are_bounded_at_32_scopes() {
    let reg = registry();
    let token = user_token(&reg, "alice", &["read:packages"]);
    let auth = vec![header("authorization", basic("alice", &token))];
    let scopes = |count: usize| (0..count).map(|i| format!("repository:alice/app{i}:pull")).collect::<Vec<_>>();
    let query = |count: usize| format!("/token?service=registry.test&scope={}", scopes(count).join("&scope="));
    assert_eq!(send_raw(&reg, Get, &query(32), auth.clone(), Chunks::none()).status, 200);
    let over = send_raw(&reg, Get, &query(33), auth.clone(), Chunks::none());
    assert_eq!((over.status, over.code().as_str()), (400, "BAD_REQUEST"));
    // Scopes joined by spaces in one parameter count one by one.
    let spaced = format!("/token?scope={}", scopes(33).join("%20"));
    let over = send_raw(&reg, Get, &spaced, auth, Chunks::none());
    assert_eq!((over.status, over.code().as_str()), (400, "BAD_REQUEST"));
}

#[test]
fn token_forms_are_bounded_at_16_kib() {
    let reg = registry();
    let token = user_token(&reg, "alice", &["read:packages"]);
    let form = |len: usize| {
        let f = format!("grant_type=password&username=alice&password={token}&scope=repository:alice/app:pull&pad=");
        format!("{f}{}", "x".repeat(len - f.len())).into_bytes()
    };
    assert_eq!(send_raw(&reg, Post, "/token", vec![], Chunks::one(&form(16 * 1024))).status, 200);
    let over = send_raw(&reg, Post, "/token", vec![], Chunks::split(&form(16 * 1024 + 1), 1000));
    assert_eq!((over.status, over.code().as_str()), (413, "SIZE_INVALID"));
}

#[test]
fn tag_pages_hold_at_most_1000_whatever_n_asks() {
    let reg = registry();
    let config = push_blob(&reg, "alice/app", b"{}");
    let manifest = image_manifest(&config, &[], "");
    for i in 0..1001 {
        assert_eq!(put_manifest(&reg, "alice/app", &format!("t{i:04}"), &manifest).status, 201);
    }
    for n in ["1000", "1001", "4294967295"] {
        let r = get(&reg, &format!("/v2/alice/app/tags/list?n={n}"));
        assert_eq!(r.json()["tags"].as_array().map(Vec::len), Some(1000), "n={n}");
        assert!(r.header("link").unwrap_or_default().contains("last=t0999"), "n={n}: the rest is one link away");
    }
    for bad in ["-1", "1e3", "18446744073709551616"] {
        let r = get(&reg, &format!("/v2/alice/app/tags/list?n={bad}"));
        assert_eq!((r.status, r.code().as_str()), (400, "BAD_REQUEST"), "n={bad}");
    }
}

/// An image manifest over `config` padded by an annotation to exactly `len` bytes.
fn manifest_of_len(config: &str, len: usize) -> Vec<u8> {
    let bare = image_manifest(config, &[], r#","annotations":{"pad":""}"#);
    image_manifest(config, &[], &format!(r#","annotations":{{"pad":"{}"}}"#, "x".repeat(len - bare.len())))
}

#[test]
fn manifests_are_bounded_at_4_mib() {
    let reg = registry();
    let config = push_blob(&reg, "alice/app", b"{}");
    assert_eq!(put_manifest(&reg, "alice/app", "at", &manifest_of_len(&config, 4 << 20)).status, 201);
    let r = put_manifest(&reg, "alice/app", "over", &manifest_of_len(&config, (4 << 20) + 1));
    assert_eq!((r.status, r.code().as_str()), (413, "SIZE_INVALID"));
}

#[test]
fn manifests_are_bounded_at_10000_descriptors() {
    let reg = registry();
    let config = push_blob(&reg, "alice/app", b"{}");
    let layer = push_blob(&reg, "alice/app", b"layer");
    let image = |count: usize| image_manifest(&config, &vec![(layer.as_str(), 5); count], "");
    assert_eq!(put_manifest(&reg, "alice/app", "wide", &image(10_000)).status, 201);
    let r = put_manifest(&reg, "alice/app", "wider", &image(10_001));
    assert_eq!((r.status, r.code().as_str()), (400, "MANIFEST_INVALID"));

    let child = format!(r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1}}"#, digest_of(b"none"));
    let index = |count: usize| {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
            vec![child.as_str(); count].join(",")
        )
    };
    let put_index = |count: usize| {
        let headers = [("content-type", "application/vnd.oci.image.index.v1+json")];
        send(&reg, Put, "/v2/alice/app/manifests/multi", &headers, Chunks::one(index(count).as_bytes()))
    };
    let at = put_index(10_000);
    assert_eq!((at.status, at.code().as_str()), (400, "MANIFEST_BLOB_UNKNOWN"), "read whole, its children checked");
    let over = put_index(10_001);
    assert_eq!((over.status, over.code().as_str()), (400, "MANIFEST_INVALID"));
}

/// An error message quotes what was wrong, but never more than 400 bytes of it.
#[test]
fn error_messages_quote_little_of_the_request() {
    let reg = registry();
    push_image(&reg, "alice/app", "v1", b"layer");
    let long = "x".repeat(60_000);
    let message = |r: &Reply| r.json()["errors"][0]["message"].as_str().unwrap_or_default().len();

    let media_type = format!("application/vnd.{long}");
    let config = push_blob(&reg, "alice/app", b"{}");
    let r = send(
        &reg,
        Put,
        "/v2/alice/app/manifests/v2",
        &[("content-type", &media_type)],
        Chunks::one(&image_manifest(&config, &[], "")),
    );
    assert_eq!((r.status, r.code().as_str()), (400, "MANIFEST_INVALID"));
    assert!(message(&r) <= 400, "{} bytes", message(&r));

    let unknown_field = format!(r#"{{"{long}":1}}"#);
    let r = send_raw(&reg, Post, "/admin/users", vec![operator()], Chunks::one(unknown_field.as_bytes()));
    assert_eq!((r.status, r.code().as_str()), (400, "BAD_REQUEST"));
    assert!(message(&r) <= 400, "{} bytes", message(&r));

    let token = user_token(&reg, "alice", &["write:packages"]);
    let setting = format!(r#"{{"untagged":"{long}"}}"#);
    let auth = vec![header("authorization", format!("Bearer {token}"))];
    let r = send_raw(&reg, Patch, "/api/packages/alice/app", auth, Chunks::one(setting.as_bytes()));
    assert_eq!((r.status, r.code().as_str()), (400, "BAD_REQUEST"));
    assert!(message(&r) <= 400, "{} bytes", message(&r));
}

#[test]
fn blobs_are_bounded_at_the_configured_size() {
    let reg = registry(); // max_blob_bytes: 10,000
    let blob = |len: usize| vec![7u8; len];
    let at = blob(10_000);
    let path = |b: &[u8]| format!("/v2/alice/app/blobs/uploads/?digest={}", digest_of(b));
    assert_eq!(send(&reg, Post, &path(&at), &[], Chunks::split(&at, 999)).status, 201);
    let over = blob(10_001);
    let r = send(&reg, Post, &path(&over), &[], Chunks::split(&over, 999));
    assert_eq!((r.status, r.code().as_str()), (413, "SIZE_INVALID"));
}
