"""Corners the OCI conformance suites and lazy pullers reach, over real R2 and D1: sha512
content, several ranges in one read, several tags in one push, 4 MiB manifests and indexes,
and the round trips each request costs (`Server-Timing`)."""
import email.parser
import email.policy
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor

from client import OCI_MANIFEST, digest, error_code, image_manifest

OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def sha512(data):
    return "sha512:" + hashlib.sha512(data).hexdigest()


def timing(resp):
    """`Server-Timing` as {name: {param: value}}."""
    out = {}
    for metric in resp.headers["Server-Timing"].split(","):
        name, *params = [p.strip() for p in metric.split(";")]
        out[name] = dict(p.split("=", 1) for p in params)
    return out


def calls(resp, service):
    return int(timing(resp)[service]["count"])


def chunked_upload(client, repo, blob, closing_digest, query=""):
    r = client.req("POST", f"/v2/{repo}/blobs/uploads/{query}")
    assert r.status_code == 202, r.text
    loc = r.headers["Location"]
    step = len(blob) // 3 + 1
    for a in range(0, len(blob), step):
        piece = blob[a:a + step]
        r = client.req("PATCH", loc, data=piece, headers={"Content-Range": f"{a}-{a + len(piece) - 1}"})
        assert r.status_code == 202, r.text
        loc = r.headers["Location"]
    return client.req("PUT", loc, params={"digest": closing_digest})


def test_sha512_blobs_upload_pull_mount_range_and_delete(client, repo):
    # 12 MiB crosses a 10 MiB part: the digest is checked over the assembled object.
    for blob, query in [(os.urandom(12 * 1024 * 1024 + 3), ""), (os.urandom(5000), "?digest-algorithm=sha512"),
                        (os.urandom(11 * 1024 * 1024), "?digest-algorithm=sha512")]:
        d = sha512(blob)
        r = chunked_upload(client, repo, blob, d, query)
        assert r.status_code == 201, r.text
        assert r.headers["Docker-Content-Digest"] == d
        r = client.req("GET", f"/v2/{repo}/blobs/{d}")
        assert (r.status_code, r.headers["Docker-Content-Digest"]) == (200, d)
        assert r.content == blob
    r = client.req("GET", f"/v2/{repo}/blobs/{d}", headers={"Range": "bytes=100-199"})
    assert (r.status_code, r.content) == (206, blob[100:200])
    other = repo + "-mount"
    r = client.req("POST", f"/v2/{other}/blobs/uploads/", params={"mount": d, "from": repo})
    assert r.status_code == 201, r.text
    assert client.req("HEAD", f"/v2/{other}/blobs/{d}").headers["Docker-Content-Digest"] == d
    assert client.req("DELETE", f"/v2/{repo}/blobs/{d}").status_code == 202
    assert client.req("GET", f"/v2/{repo}/blobs/{d}").status_code == 404
    # A wrong sha512 digest is refused, the session gone.
    blob = os.urandom(12 * 1024 * 1024)
    r = chunked_upload(client, repo, blob, sha512(b"other"))
    assert (r.status_code, error_code(r)) == (400, "DIGEST_INVALID")
    assert client.req("GET", f"/v2/{repo}/blobs/{sha512(b'other')}").status_code == 404


def multipart_parts(resp):
    """The parts of a multipart/byteranges answer, parsed by the standard library."""
    head = f"Content-Type: {resp.headers['Content-Type']}\r\n\r\n".encode()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + resp.content)
    assert msg.is_multipart()
    return [(p["Content-Range"], p.get_payload(decode=True)) for p in msg.iter_parts()]


def test_several_ranges_answer_multipart_byteranges(client, repo):
    blob = os.urandom(1_000_000)
    d = client.push_blob(repo, blob)
    url = f"/v2/{repo}/blobs/{d}"
    r = client.req("GET", url, headers={"Range": "bytes=0-99,200-299,999000-"})
    assert r.status_code == 206, r.text
    assert r.headers["Content-Type"].startswith("multipart/byteranges; boundary=")
    assert int(r.headers["Content-Length"]) == len(r.content)
    assert r.headers["Docker-Content-Digest"] == d
    assert multipart_parts(r) == [
        ("bytes 0-99/1000000", blob[0:100]),
        ("bytes 200-299/1000000", blob[200:300]),
        ("bytes 999000-999999/1000000", blob[999000:]),
    ]
    # One ranged read per part.
    assert calls(r, "r2") == 3
    # Overlapping ranges are merged; none within the blob is 416 with its size.
    r = client.req("GET", url, headers={"Range": "bytes=0-9,5-19"})
    assert (r.status_code, r.headers["Content-Range"], r.content) == (206, "bytes 0-19/1000000", blob[:20])
    r = client.req("GET", url, headers={"Range": "bytes=2000000-,3000000-3000001"})
    assert (r.status_code, r.headers["Content-Range"]) == (416, "bytes */1000000")


def test_several_tags_in_one_push_and_impossible_references(client, repo):
    config = client.push_blob(repo, b"{}")
    body = image_manifest(config, [])
    d = digest(body)
    r = client.req("PUT", f"/v2/{repo}/manifests/{d}?tag=v1&tag=v1.0&tag=latest", data=body,
                   headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201, r.text
    assert r.headers["OCI-Tag"] == "v1, v1.0, latest"
    for tag in ("v1", "v1.0", "latest"):
        r = client.req("HEAD", f"/v2/{repo}/manifests/{tag}")
        assert (r.status_code, r.headers["Docker-Content-Digest"]) == (200, d)
    r = client.req("GET", f"/v2/{repo}/manifests/.INVALID_MANIFEST_NAME")
    assert (r.status_code, error_code(r)) == (404, "MANIFEST_UNKNOWN")
    assert client.req("HEAD", f"/v2/{repo}/manifests/.INVALID_MANIFEST_NAME").status_code == 404
    r = client.put_manifest(repo, ".INVALID_MANIFEST_NAME", body, OCI_MANIFEST)
    assert r.status_code == 400


def test_a_4_mib_manifest_of_annotations(client, repo):
    subject = client.push_blob(repo, b"{}")
    base = image_manifest(subject, [])
    client.put_manifest(repo, "base", base, OCI_MANIFEST)
    annotations = {f"large-annotation-{i}": "A" * 10_000 for i in range(410)}
    manifest = json.loads(image_manifest(subject, [], annotations))
    manifest["subject"] = {"mediaType": OCI_MANIFEST, "digest": digest(base), "size": len(base)}
    body = json.dumps(manifest).encode()
    assert 4_000_000 < len(body) <= 4 * 1024 * 1024
    r = client.put_manifest(repo, "large", body, OCI_MANIFEST)
    assert r.status_code == 201, r.text
    r = client.req("GET", f"/v2/{repo}/manifests/large", headers={"Accept": OCI_MANIFEST})
    assert (r.status_code, r.content) == (200, body)
    r = client.req("GET", f"/v2/{repo}/referrers/{digest(base)}")
    assert r.json()["manifests"][0]["annotations"] == annotations


def push_children(client, repo, config, count):
    """`count` distinct image manifests, pushed by digest; returns their descriptors."""
    def push(i):
        body = image_manifest(config, [], {"n": str(i)})
        r = client.put_manifest(repo, digest(body), body, OCI_MANIFEST)
        assert r.status_code == 201, r.text
        return {"mediaType": OCI_MANIFEST, "digest": digest(body), "size": len(body),
                "platform": {"os": "linux", "architecture": f"arch{i % 100}"}}
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(push, range(count)))


def test_an_index_of_2000_children_and_4_mib_costs_a_bounded_number_of_round_trips(client, repo):
    config = client.push_blob(repo, b"{}")
    children = push_children(client, repo, config, 2000)
    # Padded to 4 MiB with annotations on each descriptor.
    def index_of(pad):
        for c in children:
            c["annotations"] = {"pad": "p" * pad}
        return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()
    index = index_of((4 * 1024 * 1024 - len(index_of(0))) // len(children))
    assert 4_100_000 < len(index) <= 4 * 1024 * 1024
    r = client.put_manifest(repo, "multi", index, OCI_INDEX)
    assert r.status_code == 201, r.text
    # What authorizing the caller costs, seen on a read that costs one query of its own.
    head = client.req("HEAD", f"/v2/{repo}/blobs/{config}")
    authorization = calls(head, "d1") - 1
    # The tag's immutability rule, checking 2,000 children, reading the first one's details
    # and committing: four D1 round trips beyond authorization (one per child before), and
    # one R2 write.
    assert calls(r, "d1") - authorization <= 4, (r.headers["Server-Timing"], head.headers["Server-Timing"])
    assert calls(r, "r2") == 1, r.headers["Server-Timing"]
    r = client.req("GET", f"/v2/{repo}/manifests/multi", headers={"Accept": OCI_INDEX})
    assert (r.status_code, r.content) == (200, index)
    # A child missing from the repository is named, whatever its position.
    missing = json.loads(index)
    missing["manifests"][1500]["digest"] = digest(b"not pushed")
    r = client.put_manifest(repo, "broken", json.dumps(missing).encode(), OCI_INDEX)
    assert (r.status_code, error_code(r)) == (400, "MANIFEST_BLOB_UNKNOWN")
    assert digest(b"not pushed") in r.text


def test_every_response_reports_its_round_trips(client, repo):
    d = client.push_blob(repo, b"layer")
    r = client.req("GET", f"/v2/{repo}/blobs/{d}")
    t = timing(r)
    assert set(t) >= {"d1", "r2"}
    assert {"count", "dur"} <= set(t["d1"])
    assert calls(r, "r2") == 1
