"""Access you can trust, over HTTP against the Worker: rights end within the stated bound,
deleted content is not served (from the origin or the edge cache), no answer tells a caller
without read access that a package exists, browsers cannot be made to write cross-site,
and the operator can offboard."""
import base64
import json
import os
import subprocess
import time
import uuid

import pytest

from client import Client, digest, error_code, image_manifest, OCI_MANIFEST
from conftest import ADMIN_TOKEN, ROOT

# Every bound on a change of rights that the README states (the isolate's hot cache).
BOUND_SECONDS = 10


def unique(prefix):
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def token_for(registry, scope, auth=None):
    r = Client(registry.base, auth=auth).req("GET", "/token", params={"service": registry.host, "scope": scope})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def bearer(registry, token):
    c = Client(registry.base)
    c.s.headers["Authorization"] = f"Bearer {token}"
    return c


def push_image(c, name, tag, layer_bytes):
    """Pushes a one-layer image; returns (manifest bytes, layer digest)."""
    config = c.push_blob(name, b"{}")
    layer = c.push_blob(name, layer_bytes)
    manifest = image_manifest(config, [(layer, len(layer_bytes))])
    r = c.put_manifest(name, tag, manifest, OCI_MANIFEST)
    assert r.status_code == 201, r.text
    return manifest, layer


def within_bound(check):
    """Polls `check` until it holds; fails if that takes longer than the stated bound."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started <= BOUND_SECONDS + 1, "the change did not apply within the bound"
        time.sleep(0.5)
    return time.monotonic() - started


def until_hit(c, path):
    for _ in range(20):
        r = c.req("GET", path)
        if r.headers.get("X-Cache") == "hit":
            return r
        time.sleep(0.1)
    raise AssertionError(f"{path} never came from the cache")


def org_with_members(admin, *members):
    owner = admin.user(unique("own"))
    org = unique("org")
    assert admin.post("/admin/orgs", {"login": org, "owner": owner[0]}).status_code == 201
    users = []
    for m in members:
        u = admin.user(unique(m))
        assert admin.put(f"/admin/orgs/{org}/members/{u[0]}", {"role": "member"}).status_code == 200
        users.append(u)
    return org, owner, users


# 1. Registry tokens follow the rights they came from.

def test_a_registry_token_stops_with_its_revoked_pat(registry, admin):
    login, pat, pat_id = admin.user(unique("rev"))
    name = f"{login}/app"
    push_image(Client(registry.base, auth=(login, pat)), name, "v1", b"layer of a revoked user")
    token = token_for(registry, f"repository:{name}:pull", (login, pat))
    c = bearer(registry, token)
    assert c.req("GET", f"/v2/{name}/manifests/v1").status_code == 200
    assert admin.delete(f"/admin/tokens/{pat_id}").status_code == 204
    within_bound(lambda: c.req("GET", f"/v2/{name}/manifests/v1").status_code == 401)


def test_an_anonymous_token_stops_when_the_package_turns_private(registry, admin):
    login, pat, _ = admin.user(unique("vis"))
    owner = Client(registry.base, auth=(login, pat))
    name = f"{login}/app"
    push_image(owner, name, "v1", b"layer that goes private")
    assert owner.req("PATCH", f"/api/packages/{name}", json={"visibility": "public"}).status_code == 200
    c = bearer(registry, token_for(registry, f"repository:{name}:pull"))
    assert c.req("GET", f"/v2/{name}/manifests/v1").status_code == 200
    assert owner.req("PATCH", f"/api/packages/{name}", json={"visibility": "private"}).status_code == 200
    within_bound(lambda: c.req("GET", f"/v2/{name}/manifests/v1").status_code == 401)


def test_a_grant_made_before_creation_does_not_let_another_member_push(registry, admin):
    org, _, (bob, carol) = org_with_members(admin, "bob", "carol")
    name = f"{org}/release"
    token = token_for(registry, f"repository:{name}:pull,push", bob[:2])
    push_image(Client(registry.base, auth=carol[:2]), name, "v1", b"carol's release")
    c = bearer(registry, token)
    manifest = image_manifest(digest(b"{}"), [])
    r = c.put_manifest(name, "v1", manifest, OCI_MANIFEST)
    assert r.status_code in (401, 403), r.text
    assert c.req("GET", f"/v2/{name}/manifests/v1").status_code != 200
    r = Client(registry.base, auth=carol[:2]).req("GET", f"/v2/{name}/manifests/v1")
    assert r.status_code == 200 and b"carol" not in r.content  # carol's tag untouched


def test_a_token_for_another_service_is_refused(registry, admin):
    login, pat, _ = admin.user(unique("aud"))
    name = f"{login}/app"
    push_image(Client(registry.base, auth=(login, pat)), name, "v1", b"aud layer")
    good = token_for(registry, f"repository:{name}:pull", (login, pat))
    # The same token presented under another host name of the same Worker.
    other = f"https://localhost:{registry.port}"
    r = Client(other).req("GET", f"{other}/v2/{name}/manifests/v1", headers={"Authorization": f"Bearer {good}"})
    assert r.status_code == 401
    assert bearer(registry, good).req("GET", f"/v2/{name}/manifests/v1").status_code == 200


# 2. A recreated package never meets its predecessor's cache entries.

def test_a_deleted_packages_cached_layer_is_not_served_to_the_next_package_of_its_name(registry, admin):
    login, pat, _ = admin.user(unique("cache"))
    owner = Client(registry.base, auth=(login, pat))
    name = f"{login}/app"
    old_bytes = uuid.uuid4().bytes * 100
    _, old_layer = push_image(owner, name, "v1", old_bytes)
    assert owner.req("PATCH", f"/api/packages/{name}", json={"visibility": "public"}).status_code == 200
    anonymous = Client(registry.base)
    until_hit(anonymous, f"/v2/{name}/blobs/{old_layer}")
    assert owner.req("DELETE", f"/api/packages/{name}").status_code == 202
    push_image(owner, name, "v1", uuid.uuid4().bytes * 100)
    assert owner.req("PATCH", f"/api/packages/{name}", json={"visibility": "public"}).status_code == 200
    r = anonymous.req("GET", f"/v2/{name}/blobs/{old_layer}")
    assert (r.status_code, error_code(r)) == (404, "BLOB_UNKNOWN"), r.headers.get("X-Cache")


# 3. A deleted version's layers go with it, and come back with a restore.

def test_a_deleted_versions_layer_is_not_pullable_until_restored(registry, client, creds):
    name = f"{creds[0]}/{unique('del')}"
    manifest, old_layer = push_image(client, name, "v1", uuid.uuid4().bytes * 50)
    push_image(client, name, "v2", uuid.uuid4().bytes * 50)
    version = digest(manifest)
    assert client.req("DELETE", f"/api/packages/{name}/versions/{version}").status_code == 202
    r = client.req("GET", f"/v2/{name}/blobs/{old_layer}")
    assert (r.status_code, error_code(r)) == (404, "BLOB_UNKNOWN")
    assert client.req("POST", f"/api/packages/{name}/versions/{version}/restore").status_code == 200
    assert client.req("GET", f"/v2/{name}/blobs/{old_layer}").status_code == 200

    assert client.req("DELETE", f"/v2/{name}/manifests/{version}").status_code == 202
    r = client.req("GET", f"/v2/{name}/blobs/{old_layer}")
    assert (r.status_code, error_code(r)) == (404, "BLOB_UNKNOWN")


# 4. No answer tells an organization member which private packages exist.

def test_an_org_member_learns_nothing_of_private_packages(registry, admin):
    org, owner, (bob,) = org_with_members(admin, "bob")
    secret = f"{org}/secret"
    manifest, layer = push_image(Client(registry.base, auth=owner[:2]), secret, "v1", b"secret layer")
    member = Client(registry.base, auth=bob[:2])
    missing = f"{org}/nothing"
    for method, path in [("GET", "/v2/NAME/manifests/v1"), ("HEAD", "/v2/NAME/manifests/v1"),
                         ("GET", f"/v2/NAME/blobs/{layer}"), ("GET", "/v2/NAME/tags/list"),
                         ("GET", f"/v2/NAME/referrers/{digest(manifest)}"), ("GET", "/api/packages/NAME"),
                         ("GET", "/NAME")]:
        a = member.req(method, path.replace("NAME", secret))
        b = member.req(method, path.replace("NAME", missing))
        assert (a.status_code, a.text.replace(secret, missing)) == (b.status_code, b.text), f"{method} {path}"
    a = member.req("POST", f"/v2/{secret}/blobs/uploads/")
    b = member.req("POST", f"/v2/{missing}/blobs/uploads/")
    assert a.status_code == b.status_code
    granted = []
    for n in (secret, missing):
        t = token_for(registry, f"repository:{n}:pull,push", bob[:2])
        claims = json.loads(base64.urlsafe_b64decode(t.split(".")[0] + "=="))
        granted.append(claims["access"][0]["actions"])
    assert granted[0] == granted[1]


# 6. Cross-site writes are refused; registry clients are unaffected.

def test_cross_site_writes_are_refused(registry, client, creds):
    name = f"{creds[0]}/{unique('xs')}"
    push_image(client, name, "v1", b"cross-site layer")
    assert client.req("DELETE", f"/api/packages/{name}").status_code == 202
    browser_headers = [{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
                       {"Origin": "https://evil.example"}]
    for headers in browser_headers:
        r = client.req("POST", f"/api/packages/{name}/restore", headers=headers)
        assert (r.status_code, error_code(r)) == (403, "DENIED"), r.text
        r = client.req("POST", f"/v2/{creds[0]}/other/blobs/uploads/", headers=headers,
                       params={"mount": digest(b"cross-site layer"), "from": name})
        assert r.status_code == 403, r.text
    r = client.req("POST", f"/api/packages/{name}/restore", headers={"Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200, r.text
    assert client.req("POST", f"/v2/{name}/blobs/uploads/").status_code == 202


# 7. A cache hit of a package made private says so.

def test_a_cache_hit_after_going_private_is_not_public(registry, admin):
    login, pat, _ = admin.user(unique("cc"))
    owner = Client(registry.base, auth=(login, pat))
    name = f"{login}/app"
    manifest, _ = push_image(owner, name, "v1", uuid.uuid4().bytes * 10)
    path = f"/v2/{name}/manifests/{digest(manifest)}"
    assert owner.req("PATCH", f"/api/packages/{name}", json={"visibility": "public"}).status_code == 200
    until_hit(Client(registry.base), path)
    assert owner.req("PATCH", f"/api/packages/{name}", json={"visibility": "private"}).status_code == 200
    c = bearer(registry, token_for(registry, f"repository:{name}:pull", (login, pat)))
    r = c.req("GET", path)
    assert r.status_code == 200
    assert not r.headers["Cache-Control"].startswith("public"), (r.headers["Cache-Control"], r.headers.get("X-Cache"))


# 8. Offboarding, through scripts/admin.sh.

def admin_sh(registry, *args):
    env = {**os.environ, "REGISTRY": registry.base, "ADMIN_TOKEN": ADMIN_TOKEN}
    r = subprocess.run([os.path.join(ROOT, "scripts", "admin.sh"), *args], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout) if r.stdout.strip() else None


def test_offboarding_a_member_and_suspending_a_user(registry, admin):
    org, owner, (bob,) = org_with_members(admin, "bob")
    member = Client(registry.base, auth=bob[:2])
    name = f"{org}/tool"
    push_image(member, name, "v1", b"bob's tool")
    token = token_for(registry, f"repository:{name}:pull", bob[:2])

    tokens = admin_sh(registry, "tokens", bob[0])
    assert [t["id"] for t in tokens] == [bob[2]]
    assert bob[1] not in json.dumps(tokens) and tokens[0]["last_used_at"]

    removed = admin_sh(registry, "remove-member", org, bob[0])
    assert removed["package_roles"] == [{"package": name, "role": "admin"}]
    other = f"{org}/{unique('new')}"
    r = member.req("POST", f"/v2/{other}/blobs/uploads/", params={"digest": digest(b"{}")}, data=b"{}")
    assert r.status_code in (403, 404), r.text

    admin_sh(registry, "suspend", bob[0])
    within_bound(lambda: member.req("GET", "/v2/").status_code == 401)
    within_bound(lambda: bearer(registry, token).req("GET", f"/v2/{name}/manifests/v1").status_code == 401)
    admin_sh(registry, "unsuspend", bob[0])
    within_bound(lambda: member.req("GET", "/v2/").status_code == 200)


# 11. The contract route answers only the operator.

def test_the_contract_route_needs_the_operator(registry, client):
    assert Client(registry.base).req("POST", "/_contract").status_code in (401, 404)
    assert client.req("POST", "/_contract").status_code in (401, 404)
