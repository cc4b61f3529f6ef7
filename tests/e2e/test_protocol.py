"""Upload shapes and bad input, with the project's own client, over real R2 and D1."""
import json
import os

from client import digest, error_code
import imagegen


def test_docker_upload_shape_one_unsized_patch(client, repo):
    blob = os.urandom(3 * 1024 * 1024 + 17)
    loc = client.start(repo)
    # A generator body goes out chunked, with no Content-Length, as docker sends layers.
    r = client.req("PATCH", loc, data=(blob[i:i + 65536] for i in range(0, len(blob), 65536)))
    assert r.status_code == 202, r.text
    assert r.headers["Range"] == f"0-{len(blob) - 1}"
    r = client.req("PUT", r.headers["Location"], params={"digest": digest(blob)})
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest(blob)
    r = client.req("GET", f"/v2/{repo}/blobs/{digest(blob)}", headers={"Accept-Encoding": "gzip"})
    assert r.content == blob
    assert "Content-Encoding" not in r.headers
    r = client.req("HEAD", f"/v2/{repo}/blobs/{digest(blob)}")
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(len(blob))


def unsized(data):
    """A body sent chunked, with no Content-Length, as docker and skopeo send layers."""
    return (data[i:i + 65536] for i in range(0, len(data), 65536))


def test_chunks_after_a_docker_shaped_patch_still_verify(client, repo):
    """The unsized PATCH is hashed natively, which leaves no hash state to resume from:
    a client that then sends more chunks, while the bytes are only staged (1 MiB) or once
    parts are written (6 MiB, over R2's 5 MiB part), still gets its blob, verified."""
    for first in [1024 * 1024, 6 * 1024 * 1024 + 17]:
        blob = os.urandom(first + 2 * 1024 * 1024 + 100)
        r = client.req("PATCH", client.start(repo), data=unsized(blob[:first]))
        assert r.status_code == 202, r.text
        second = first + 2 * 1024 * 1024
        r = client.req("PATCH", r.headers["Location"], data=blob[first:second],
                       headers={"Content-Range": f"{first}-{second - 1}"})
        assert r.status_code == 202, r.text
        assert r.headers["Range"] == f"0-{second - 1}"
        r = client.req("PUT", r.headers["Location"], params={"digest": digest(blob)}, data=blob[second:])
        assert r.status_code == 201, r.text
        r = client.req("GET", f"/v2/{repo}/blobs/{digest(blob)}")
        assert r.status_code == 200 and r.content == blob


def test_a_wrong_digest_after_a_docker_shaped_patch_stores_nothing(client, repo, registry):
    for size in [1024 * 1024, 6 * 1024 * 1024 + 17]:  # staged only; in parts
        blob = os.urandom(size)
        r = client.req("PATCH", client.start(repo), data=unsized(blob))
        assert r.status_code == 202, r.text
        loc = r.headers["Location"]
        session = loc.split("?")[0].rsplit("/", 1)[1]
        wrong = digest(b"other bytes")
        r = client.req("PUT", loc, params={"digest": wrong})
        assert (r.status_code, error_code(r)) == (400, "DIGEST_INVALID")
        for d in [wrong, digest(blob)]:
            assert client.req("HEAD", f"/v2/{repo}/blobs/{d}").status_code == 404
        assert client.req("GET", loc).status_code == 404, "a refused close ends the session"
        assert registry.r2_keys(f"uploads/{session}/") == []
        assert registry.r2_keys(f"blobs/{session}") == []
        assert all(state != 0 for state, _ in registry.r2_multipart(f"blobs/{session}")), "a multipart upload is left"


def test_chunked_upload_with_content_range(client, repo):
    blob = os.urandom(12 * 1024 * 1024 + 5)  # crosses a 10 MiB part
    loc = client.start(repo)
    cuts = [0, 1024 * 1024, 11 * 1024 * 1024, len(blob) - 100]
    for a, b in zip(cuts, cuts[1:]):
        r = client.req("PATCH", loc, data=blob[a:b], headers={"Content-Range": f"{a}-{b - 1}"})
        assert r.status_code == 202, r.text
        assert r.headers["Range"] == f"0-{b - 1}"
        loc = r.headers["Location"]
    r = client.req("GET", loc)
    assert r.status_code == 204
    assert r.headers["Range"] == f"0-{cuts[-1] - 1}"
    last = cuts[-1]
    r = client.req("PUT", loc, params={"digest": digest(blob)}, data=blob[last:],
                   headers={"Content-Range": f"{last}-{len(blob) - 1}"})
    assert r.status_code == 201, r.text
    assert client.req("GET", f"/v2/{repo}/blobs/{digest(blob)}").content == blob


def test_range_reads(client, repo):
    blob = os.urandom(100_000)
    d = client.push_blob(repo, blob)
    r = client.req("GET", f"/v2/{repo}/blobs/{d}", headers={"Range": "bytes=1000-1999"})
    assert r.status_code == 206
    assert r.content == blob[1000:2000]
    assert r.headers["Content-Range"] == "bytes 1000-1999/100000"
    assert r.headers["Accept-Ranges"] == "bytes"


def test_mount_and_cancel(client, repo):
    d = client.push_blob(repo, b"layer to share")
    other = repo + "-b"
    r = client.req("POST", f"/v2/{other}/blobs/uploads/", params={"mount": d, "from": repo})
    assert r.status_code == 201
    assert client.req("GET", f"/v2/{other}/blobs/{d}").content == b"layer to share"
    r = client.req("POST", f"/v2/{other}/blobs/uploads/", params={"mount": digest(b"nowhere"), "from": repo})
    assert r.status_code == 202
    loc = r.headers["Location"]
    assert client.req("DELETE", loc).status_code == 204
    r = client.req("GET", loc)
    assert (r.status_code, error_code(r)) == (404, "BLOB_UPLOAD_UNKNOWN")


def push_image(client, repo, tag):
    config = client.push_blob(repo, b"{}")
    layer = os.urandom(1000)
    l = client.push_blob(repo, layer)
    m = json.dumps({
        "schemaVersion": 2, "mediaType": imagegen.OCI_MANIFEST,
        "config": {"mediaType": imagegen.OCI_CONFIG, "digest": config, "size": 2},
        "layers": [{"mediaType": imagegen.OCI_LAYER, "digest": l, "size": 1000}],
    }).encode()
    r = client.put_manifest(repo, tag, m, imagegen.OCI_MANIFEST)
    assert r.status_code == 201, r.text
    return digest(m), config


def test_tags_pagination_referrers_and_deletion(client, repo):
    for t in ["b", "a", "c"]:
        subject, config = push_image(client, repo, t)
    r = client.req("GET", f"/v2/{repo}/tags/list", params={"n": 2})
    assert r.json()["tags"] == ["a", "b"]
    assert r.headers["Link"] == f'</v2/{repo}/tags/list?n=2&last=b>; rel="next"'
    r = client.req("GET", f"/v2/{repo}/tags/list", params={"n": 2, "last": "b"})
    assert r.json()["tags"] == ["c"]

    sbom = json.dumps({
        "schemaVersion": 2, "mediaType": imagegen.OCI_MANIFEST, "artifactType": "application/x-sbom",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2},
        "layers": [], "subject": {"mediaType": imagegen.OCI_MANIFEST, "digest": subject, "size": 10},
    }).encode()
    r = client.put_manifest(repo, digest(sbom), sbom, imagegen.OCI_MANIFEST)
    assert r.status_code == 201, r.text
    assert r.headers["OCI-Subject"] == subject
    r = client.req("GET", f"/v2/{repo}/referrers/{subject}", params={"artifactType": "application/x-sbom"})
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert [m["digest"] for m in r.json()["manifests"]] == [digest(sbom)]
    r = client.req("GET", f"/v2/{repo}/referrers/{digest(b'none')}")
    assert (r.status_code, r.json()["manifests"]) == (200, [])

    assert client.req("DELETE", f"/v2/{repo}/manifests/c").status_code == 202
    assert error_code(client.req("GET", f"/v2/{repo}/manifests/c")) == "MANIFEST_UNKNOWN"
    assert client.req("DELETE", f"/v2/{repo}/manifests/{subject}").status_code == 202
    assert error_code(client.req("GET", f"/v2/{repo}/manifests/{subject}")) == "MANIFEST_UNKNOWN"
    assert client.req("DELETE", f"/v2/{repo}/blobs/{config}").status_code == 202
    assert error_code(client.req("GET", f"/v2/{repo}/blobs/{config}")) == "BLOB_UNKNOWN"


def test_bad_input_gets_the_right_error_and_leaves_nothing(client, repo):
    # Wrong digest at close.
    loc = client.start(repo)
    r = client.req("PATCH", loc, data=b"some bytes")
    assert (r.status_code, r.headers["Range"]) == (202, "0-9"), r.text
    wrong = digest(b"other bytes")
    r = client.req("PUT", r.headers["Location"], params={"digest": wrong})
    assert (r.status_code, error_code(r)) == (400, "DIGEST_INVALID")
    assert error_code(client.req("GET", f"/v2/{repo}/blobs/{digest(b'some bytes')}")) == "BLOB_UNKNOWN"

    # A manifest referencing a missing blob.
    config = client.push_blob(repo, b"{}")
    m = json.dumps({"schemaVersion": 2, "mediaType": imagegen.OCI_MANIFEST,
                    "config": {"mediaType": imagegen.OCI_CONFIG, "digest": config, "size": 2},
                    "layers": [{"mediaType": imagegen.OCI_LAYER, "digest": wrong, "size": 11}]}).encode()
    r = client.put_manifest(repo, "broken", m, imagegen.OCI_MANIFEST)
    assert (r.status_code, error_code(r)) == (400, "MANIFEST_BLOB_UNKNOWN")
    assert error_code(client.req("GET", f"/v2/{repo}/manifests/broken")) == "MANIFEST_UNKNOWN"

    # A manifest over 4 MiB.
    big = json.dumps({"schemaVersion": 2, "mediaType": imagegen.OCI_MANIFEST,
                      "config": {"mediaType": imagegen.OCI_CONFIG, "digest": config, "size": 2},
                      "layers": [], "annotations": {"pad": "x" * (4 << 20)}}).encode()
    r = client.put_manifest(repo, "big", big, imagegen.OCI_MANIFEST)
    assert (r.status_code, error_code(r)) == (413, "SIZE_INVALID"), r.text
    assert error_code(client.req("GET", f"/v2/{repo}/manifests/big")) == "MANIFEST_UNKNOWN"

    # A manifest PUT by a digest it does not hash to.
    r = client.put_manifest(repo, wrong, m, imagegen.OCI_MANIFEST)
    assert (r.status_code, error_code(r)) == (400, "DIGEST_INVALID")

    # Invalid names and tags.
    for name in ["UPPER/case", "a//b", "solo", "x/" + "y" * 260]:
        r = client.req("GET", f"/v2/{name}/tags/list")
        assert (r.status_code, error_code(r)) == (400, "NAME_INVALID"), name
    r = client.put_manifest(repo, "bad+tag", m, imagegen.OCI_MANIFEST)
    assert r.status_code == 400
    assert error_code(r) == "MANIFEST_INVALID"

    # Out-of-order and malformed chunks.
    loc = client.start(repo)
    assert client.req("PATCH", loc, data=b"0123456789", headers={"Content-Range": "0-9"}).status_code == 202
    r = client.req("PATCH", loc, data=b"abc", headers={"Content-Range": "20-22"})
    assert r.status_code == 416
    r = client.req("PATCH", loc, data=b"abc", headers={"Content-Range": "garbage"})
    assert (r.status_code, error_code(r)) == (400, "BLOB_UPLOAD_INVALID")
    assert client.req("GET", loc).headers["Range"] == "0-9"

    # Unknown upload ids, bad digests.
    r = client.req("PATCH", f"/v2/{repo}/blobs/uploads/0123456789abcdef0123456789abcdef", data=b"x")
    assert (r.status_code, error_code(r)) == (404, "BLOB_UPLOAD_UNKNOWN")
    for bad in ["md5:0123", "sha256:nothex", "sha256:" + "A" * 64]:
        r = client.req("GET", f"/v2/{repo}/blobs/{bad}")
        assert (r.status_code, error_code(r)) == (400, "DIGEST_INVALID"), bad
