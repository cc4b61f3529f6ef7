"""The shared cache at the edge (the Cache API, local under `wrangler dev`): public content
by digest is served from it; tags, private content and deletions are not."""
import time
import uuid

import pytest

from client import Client, digest, error_code, image_manifest, OCI_MANIFEST


@pytest.fixture
def public_image(client, creds):
    """An image in a fresh public package: (name, manifest bytes, layer digest, layer)."""
    name = f"{creds[0]}/cache{uuid.uuid4().hex[:8]}"
    config = client.push_blob(name, b"{}")
    layer_bytes = uuid.uuid4().bytes * 1000
    layer = client.push_blob(name, layer_bytes)
    manifest = image_manifest(config, [(layer, len(layer_bytes))])
    assert client.put_manifest(name, "v1", manifest, OCI_MANIFEST).status_code == 201
    assert client.req("PATCH", f"/api/packages/{name}", json={"visibility": "public"}).status_code == 200
    return name, manifest, layer, layer_bytes


def until_hit(anonymous, path, **kw):
    """Gets `path` until the cache answers (the copy is stored after the first answer)."""
    for _ in range(20):
        r = anonymous.req("GET", path, **kw)
        if r.headers.get("X-Cache") == "hit":
            return r
        time.sleep(0.1)
    raise AssertionError(f"{path} never came from the cache")


def test_public_content_by_digest_comes_from_the_cache(registry, public_image):
    name, manifest, layer, layer_bytes = public_image
    anonymous = Client(registry.base)
    path = f"/v2/{name}/manifests/{digest(manifest)}"
    first = anonymous.req("GET", path)
    assert (first.status_code, first.headers["X-Cache"]) == (200, "miss")
    hit = until_hit(anonymous, path)
    assert hit.content == manifest
    assert hit.headers["Docker-Content-Digest"] == digest(manifest)
    assert hit.headers["X-Request-Id"] != first.headers["X-Request-Id"]
    head = anonymous.req("HEAD", path)
    assert (head.headers["X-Cache"], head.headers["Content-Length"], head.content) == ("hit", str(len(manifest)), b"")

    blob = until_hit(anonymous, f"/v2/{name}/blobs/{layer}", headers={"Accept-Encoding": "gzip"})
    assert blob.content == layer_bytes
    assert "Content-Encoding" not in blob.headers, "a blob is never re-compressed"
    assert blob.headers["Content-Length"] == str(len(layer_bytes))
    assert blob.headers["ETag"] == f'"{layer}"'


def test_a_pushed_tag_is_seen_by_the_next_pull(registry, client, public_image):
    name, manifest, layer, layer_bytes = public_image
    anonymous = Client(registry.base)
    assert anonymous.req("GET", f"/v2/{name}/manifests/v1").content == manifest
    newer = image_manifest(client.push_blob(name, b"{}"), [(layer, len(layer_bytes))], {"version": "2"})
    assert client.put_manifest(name, "v1", newer, OCI_MANIFEST).status_code == 201
    r = anonymous.req("GET", f"/v2/{name}/manifests/v1")
    assert (r.content, r.headers.get("X-Cache")) == (newer, None), "tags are resolved at the origin"


def test_private_or_deleted_content_is_not_served_from_the_cache(registry, client, public_image):
    name, manifest, layer, _ = public_image
    anonymous = Client(registry.base)
    path = f"/v2/{name}/manifests/{digest(manifest)}"
    until_hit(anonymous, path)
    assert client.req("PATCH", f"/api/packages/{name}", json={"visibility": "private"}).status_code == 200
    assert anonymous.req("GET", path).status_code == 401, "authorization comes before the cache"
    r = client.req("GET", path)
    assert (r.status_code, r.content) == (200, manifest)

    assert client.req("PATCH", f"/api/packages/{name}", json={"visibility": "public"}).status_code == 200
    until_hit(anonymous, path)
    assert client.req("DELETE", path).status_code == 202
    r = anonymous.req("GET", path)
    assert (r.status_code, error_code(r)) == (404, "MANIFEST_UNKNOWN"), "a deleted manifest is not served from the cache"
