"""The shared cache at the edge (the Cache API, local under `wrangler dev`): public content
by digest, and public tags for `TAG_CACHE_SECONDS` (10), are served from it until a push or
an untagging here; private content and deletions are not."""
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


def test_a_public_tag_comes_from_the_cache_until_it_changes_here(registry, client, public_image):
    name, manifest, layer, layer_bytes = public_image
    anonymous = Client(registry.base)
    path = f"/v2/{name}/manifests/v1"
    hit = until_hit(anonymous, path)
    assert (hit.content, hit.headers["Cache-Control"]) == (manifest, "public, max-age=10"), "TAG_CACHE_SECONDS"
    assert anonymous.req("HEAD", path).headers["X-Cache"] == "hit"
    # A push to the tag is seen by the next pull here (other locations: within the bound).
    newer = image_manifest(client.push_blob(name, b"{}"), [(layer, len(layer_bytes))], {"version": "2"})
    assert client.put_manifest(name, "v1", newer, OCI_MANIFEST).status_code == 201
    r = anonymous.req("GET", path)
    assert (r.content, r.headers["X-Cache"]) == (newer, "miss")
    # So is an untagging, through the package API or the distribution API.
    until_hit(anonymous, path)
    assert client.req("DELETE", f"/api/packages/{name}/tags/v1").status_code == 204
    r = anonymous.req("GET", path)
    assert (r.status_code, error_code(r)) == (404, "MANIFEST_UNKNOWN")
    assert client.put_manifest(name, "v2", newer, OCI_MANIFEST).status_code == 201
    until_hit(anonymous, f"/v2/{name}/manifests/v2")
    assert client.req("DELETE", f"/v2/{name}/manifests/v2").status_code == 202
    r = anonymous.req("GET", f"/v2/{name}/manifests/v2")
    assert (r.status_code, error_code(r)) == (404, "MANIFEST_UNKNOWN")


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
