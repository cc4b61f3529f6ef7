//! Corners of the distribution spec that conformance suites and lazy pullers reach: sha512
//! content, several ranges in one read, several tags in one push, reads of references that
//! cannot exist, and cancelled uploads.

mod common;
use common::*;
use edge_registry::api::Method::*;
use edge_registry::oci::digest::Algorithm;
use edge_registry::oci::Digest;

const REPO: &str = "alice/app";
const OTHER: &str = "alice/other";

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed)).collect()
}

fn sha512(b: &[u8]) -> String {
    Digest::of(Algorithm::Sha512, b).to_string()
}

fn start(reg: &MemRegistry, query: &str) -> String {
    let r = send(reg, Post, &format!("/v2/{REPO}/blobs/uploads/{query}"), &[], Chunks::none());
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    r.header("location").unwrap().to_string()
}

fn patch(reg: &MemRegistry, loc: &str, chunk: &[u8]) -> String {
    let r = send(reg, Patch, loc, &[], Chunks::split(chunk, 10));
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    r.header("location").unwrap().to_string()
}

/// A chunked upload in three PATCHes (the hash state is saved and restored between
/// them), closed by a PUT with `digest`.
fn chunked(reg: &MemRegistry, query: &str, blob: &[u8], digest: &str) -> Reply {
    let mut loc = start(reg, query);
    for piece in blob.chunks(blob.len() / 3 + 1) {
        loc = patch(reg, &loc, piece);
    }
    send(reg, Put, &format!("{loc}?digest={digest}"), &[], Chunks::none())
}

#[test]
fn sha512_uploads_with_the_digest_algorithm_parameter() {
    let reg = registry();
    // 300 bytes: several 64-byte parts, so the hash state crosses requests mid-part.
    let blob = bytes(300, 1);
    let d = sha512(&blob);
    let r = chunked(&reg, "?digest-algorithm=sha512", &blob, &d);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("docker-content-digest"), Some(d.as_str()));
    let r = get(&reg, &format!("/v2/{REPO}/blobs/{d}"));
    assert_eq!((r.status, &r.body), (200, &blob));
    assert_eq!(r.header("docker-content-digest"), Some(d.as_str()));
}

#[test]
fn any_upload_closes_with_a_sha512_digest() {
    let reg = registry();
    // Bigger than a part (verified over the assembled object) and smaller (over the bytes in hand).
    for (n, seed) in [(300, 2), (40, 3)] {
        let blob = bytes(n, seed);
        let d = sha512(&blob);
        let r = chunked(&reg, "", &blob, &d);
        assert_eq!(r.status, 201, "{n} bytes: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(get(&reg, &format!("/v2/{REPO}/blobs/{d}")).body, blob);
        // A streamed upload: one unsized PATCH, then the PUT.
        let blob = bytes(n, seed + 10);
        let d = sha512(&blob);
        let loc = patch(&reg, &start(&reg, ""), &blob);
        let r = send(&reg, Put, &format!("{loc}?digest={d}"), &[], Chunks::none());
        assert_eq!(r.status, 201);
        assert_eq!(get(&reg, &format!("/v2/{REPO}/blobs/{d}")).body, blob);
        // The last chunk on the PUT itself.
        let blob = bytes(n, seed + 20);
        let d = sha512(&blob);
        let loc = start(&reg, "");
        let r = send(&reg, Put, &format!("{loc}?digest={d}"), &[], Chunks::split(&blob, 7));
        assert_eq!(r.status, 201);
        assert_eq!(get(&reg, &format!("/v2/{REPO}/blobs/{d}")).body, blob);
    }
    // And a sha512 session closes with a sha256 digest.
    let blob = bytes(200, 9);
    let r = chunked(&reg, "?digest-algorithm=sha512", &blob, &digest_of(&blob));
    assert_eq!(r.status, 201);
}

#[test]
fn a_wrong_sha512_digest_is_refused_and_leaves_nothing() {
    let reg = registry();
    for n in [300, 40] {
        let blob = bytes(n, 4);
        let wrong = sha512(b"something else");
        let r = chunked(&reg, "", &blob, &wrong);
        assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"), "{n} bytes");
        assert_eq!(get(&reg, &format!("/v2/{REPO}/blobs/{wrong}")).status, 404);
    }
    let keys = reg.registry.objects.keys();
    assert!(keys.iter().all(|k| !k.starts_with("uploads/") && !k.starts_with("blobs/")), "{keys:?}");
    assert_eq!(reg.registry.objects.open_multiparts(), 0);
}

#[test]
fn unknown_digest_algorithms_are_refused() {
    let reg = registry();
    let r = send(&reg, Post, &format!("/v2/{REPO}/blobs/uploads/?digest-algorithm=md5"), &[], Chunks::none());
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
}

#[test]
fn sha512_blobs_are_range_read_mounted_and_deleted_like_others() {
    let reg = registry();
    let blob = bytes(500, 5);
    let d = sha512(&blob);
    let r = send(&reg, Post, &format!("/v2/{REPO}/blobs/uploads/?digest={d}"), &[], Chunks::one(&blob));
    assert_eq!(r.status, 201);
    let r = send(&reg, Get, &format!("/v2/{REPO}/blobs/{d}"), &[("range", "bytes=10-19")], Chunks::none());
    assert_eq!((r.status, &r.body[..]), (206, &blob[10..20]));
    assert_eq!(r.header("content-range"), Some("bytes 10-19/500"));
    let r = send(&reg, Post, &format!("/v2/{OTHER}/blobs/uploads/?mount={d}&from={REPO}"), &[], Chunks::none());
    assert_eq!(r.status, 201);
    assert_eq!(get(&reg, &format!("/v2/{OTHER}/blobs/{d}")).body, blob);
    let r = send(&reg, Delete, &format!("/v2/{REPO}/blobs/{d}"), &[], Chunks::none());
    assert_eq!(r.status, 202);
    assert_eq!(get(&reg, &format!("/v2/{REPO}/blobs/{d}")).status, 404);
    assert_eq!(get(&reg, &format!("/v2/{OTHER}/blobs/{d}")).status, 200);
}

/// The parts of a `multipart/byteranges` body: each part's `Content-Range` and bytes.
fn parse_multipart(content_type: &str, body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let boundary = content_type.split("boundary=").nth(1).expect("a boundary");
    let delimiter = format!("--{boundary}");
    let text = body;
    let mut parts = vec![];
    let mut rest = text;
    loop {
        let at = find(rest, delimiter.as_bytes()).expect("a delimiter");
        rest = &rest[at + delimiter.len()..];
        if rest.starts_with(b"--") {
            assert_eq!(&rest[2..], b"\r\n", "the body ends after the closing delimiter");
            return parts;
        }
        let head_end = find(rest, b"\r\n\r\n").expect("part headers");
        let head = String::from_utf8(rest[..head_end].to_vec()).unwrap();
        let range =
            head.lines().find_map(|l| l.strip_prefix("Content-Range: ")).expect("a Content-Range per part").to_string();
        let data_start = head_end + 4;
        let next = find(&rest[data_start..], format!("\r\n{delimiter}").as_bytes()).expect("the next delimiter");
        parts.push((range, rest[data_start..data_start + next].to_vec()));
        rest = &rest[data_start + next + 2..];
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn several_ranges_answer_multipart_byteranges() {
    let reg = registry();
    let blob = bytes(1000, 6);
    let d = push_blob(&reg, REPO, &blob);
    let url = format!("/v2/{REPO}/blobs/{d}");
    let r = send(&reg, Get, &url, &[("range", "bytes=0-99,200-299,-50")], Chunks::none());
    assert_eq!(r.status, 206);
    let ct = r.header("content-type").unwrap().to_string();
    assert!(ct.starts_with("multipart/byteranges; boundary="), "{ct}");
    assert_eq!(r.header("content-length"), Some(r.body.len().to_string().as_str()));
    assert_eq!(r.header("docker-content-digest"), Some(d.as_str()));
    let parts = parse_multipart(&ct, &r.body);
    assert_eq!(
        parts,
        vec![
            ("bytes 0-99/1000".to_string(), blob[0..100].to_vec()),
            ("bytes 200-299/1000".to_string(), blob[200..300].to_vec()),
            ("bytes 950-999/1000".to_string(), blob[950..].to_vec()),
        ]
    );
    // HEAD says the same without a body.
    let h = send(&reg, Head, &url, &[("range", "bytes=0-99,200-299,-50")], Chunks::none());
    assert_eq!(h.status, 206);
    assert!(h.body.is_empty());
    // Ranges past the end are dropped; none left is 416 with the size.
    let r = send(&reg, Get, &url, &[("range", "bytes=0-9,5000-6000")], Chunks::none());
    assert_eq!((r.status, r.header("content-range")), (206, Some("bytes 0-9/1000")));
    let r = send(&reg, Get, &url, &[("range", "bytes=1000-1100,2000-")], Chunks::none());
    assert_eq!((r.status, r.header("content-range")), (416, Some("bytes */1000")));
}

#[test]
fn a_manifest_read_by_an_impossible_reference_is_unknown_and_a_write_invalid() {
    let reg = registry();
    push_image(&reg, REPO, "latest", b"layer");
    for reference in [".INVALID_MANIFEST_NAME", "-tag", "sha256:xyz", &"t".repeat(129)] {
        let url = format!("/v2/{REPO}/manifests/{reference}");
        for method in [Get, Head] {
            let r = send(&reg, method, &url, &[], Chunks::none());
            assert_eq!(r.status, 404, "{method:?} {reference}");
            if method == Get {
                assert_eq!(r.code(), "MANIFEST_UNKNOWN");
            }
        }
        let r = put_manifest(&reg, REPO, reference, &image_manifest(&digest_of(b"{}"), &[], ""));
        assert_eq!(r.status, 400, "PUT {reference}");
    }
    // An invalid repository name is still that.
    assert_eq!(get(&reg, "/v2/alice/App/manifests/latest").code(), "NAME_INVALID");
}

#[test]
fn a_push_by_digest_takes_several_tags() {
    let reg = registry();
    let config = push_blob(&reg, REPO, b"{}");
    let body = image_manifest(&config, &[], "");
    let d = digest_of(&body);
    let r = send(
        &reg,
        Put,
        &format!("/v2/{REPO}/manifests/{d}?tag=1.2.3&tag=1.2&tag=latest&tag=1.2"),
        &[("content-type", OCI_MANIFEST)],
        Chunks::one(&body),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("oci-tag"), Some("1.2.3, 1.2, latest"));
    for tag in ["1.2.3", "1.2", "latest"] {
        let r = get(&reg, &format!("/v2/{REPO}/manifests/{tag}"));
        assert_eq!((r.status, r.header("docker-content-digest")), (200, Some(d.as_str())), "{tag}");
    }
    // One invalid tag refuses the push and changes nothing.
    let other = image_manifest(&config, &[], r#","annotations":{"x":"y"}"#);
    let od = digest_of(&other);
    let r = send(
        &reg,
        Put,
        &format!("/v2/{REPO}/manifests/{od}?tag=ok&tag=-bad"),
        &[("content-type", OCI_MANIFEST)],
        Chunks::one(&other),
    );
    assert_eq!(r.status, 400);
    assert_eq!(get(&reg, &format!("/v2/{REPO}/manifests/ok")).status, 404);
    assert_eq!(get(&reg, &format!("/v2/{REPO}/manifests/{od}")).status, 404);
}

#[test]
fn referrers_carry_annotations_too_large_to_keep_with_the_record() {
    let reg = registry();
    let subject = push_image(&reg, REPO, "latest", b"layer");
    let config = push_blob(&reg, REPO, b"{}");
    // 390 annotations of 10,000 bytes, as the conformance suite's large manifest.
    let annotations: serde_json::Map<String, serde_json::Value> =
        (0..390).map(|i| (format!("large-annotation-{i}"), "A".repeat(10_000).into())).collect();
    let extra = format!(
        r#","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":1}},"annotations":{}"#,
        serde_json::Value::Object(annotations.clone())
    );
    let body = image_manifest(&config, &[], &extra);
    assert!(body.len() > 3_900_000 && body.len() < 4 << 20);
    let r = put_manifest(&reg, REPO, "large", &body);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(get(&reg, &format!("/v2/{REPO}/manifests/large")).body, body);
    let r = get(&reg, &format!("/v2/{REPO}/referrers/{subject}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["manifests"][0]["annotations"], serde_json::Value::Object(annotations));
}

#[test]
fn a_mount_challenge_names_the_source_so_the_token_it_leads_to_mounts() {
    let reg = registry();
    let d = push_blob(&reg, OTHER, b"a shared layer");
    let token = user_token(&reg, "alice", &["read:packages", "write:packages"]);
    let mount = format!("/v2/{REPO}/blobs/uploads/?mount={d}&from={OTHER}");
    let r = send_raw(&reg, Post, &mount, vec![], Chunks::none());
    assert_eq!(r.status, 401);
    let challenge = r.header("www-authenticate").unwrap().to_string();
    assert!(
        challenge.ends_with(&format!(r#"scope="repository:{REPO}:pull,push repository:{OTHER}:pull""#)),
        "{challenge}"
    );
    // A client asks for exactly the scope it was told, as the conformance suite does.
    let asked = challenge.split("scope=\"").nth(1).unwrap().trim_end_matches('"');
    let scope: String = form_urlencoded::byte_serialize(asked.as_bytes()).collect();
    let r = send_raw(
        &reg,
        Get,
        &format!("/token?service=registry.test&scope={scope}"),
        vec![("authorization".into(), basic("alice", &token))],
        Chunks::none(),
    );
    let bearer = format!("Bearer {}", r.json()["token"].as_str().unwrap());
    let r = send_raw(&reg, Post, &mount, vec![("authorization".into(), bearer)], Chunks::none());
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}
