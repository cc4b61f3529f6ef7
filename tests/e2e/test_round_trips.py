"""D1 queries and R2 operations per request kind, counted by the Worker and read from
each response's `Server-Timing`, held to budgets; the README's table is this test's
output (`UPDATE_README=1` rewrites it), so a change in round trips fails here until the
README says so too.

"cold": the first request for the package at this edge (the isolate's 10 s memory of
packages and tokens expired, the edge cache empty); "warm": the same request again at once
by another client. Requests go as docker sends them: a registry token from `/token`, then
`/v2/` requests with it."""
import os
import re
import time
import uuid

import pytest
import requests

from client import Client, digest, image_manifest

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
BEGIN, END = "<!-- round trips: begin -->", "<!-- round trips: end -->"
HOT_CACHE_SECONDS = 10  # src/auth/cached.rs TTL_MS

# A blob's steps, as clients push one of less than a part: (D1 calls, R2 operations).
UPLOAD_BUDGETS = (
    ("upload check (HEAD of an absent blob)", (1, 0)),
    ("upload start (POST)", (1, 0)),
    ("upload chunk (PATCH)", (2, 1)),
    # Every byte staged by the PATCH: one batch verifies, commits and forgets the session.
    ("upload close (PUT ?digest=)", (1, 0)),
    ("upload close with the last bytes (PUT ?digest=)", (2, 1)),
    ("upload in one request (POST ?digest=)", (1, 1)),
)

# (D1 calls, R2 operations) the critical path may cost at most, per request kind.
BUDGETS = {
    "token, PAT, push (cold)": (1, 0),
    "token, PAT, push (warm)": (1, 0),
    "token, anonymous (cold)": (0, 0),
    "token, anonymous (warm)": (0, 0),
    "token, PAT, pull (cold)": (1, 0),
    "token, PAT, pull (warm)": (1, 0),
    "manifest by tag, anonymous (cold)": (2, 0),
    "manifest by tag, anonymous (warm)": (0, 0),
    "manifest by tag, HEAD as docker asks, anonymous (cold)": (1, 0),
    "manifest by tag, HEAD as docker asks, anonymous (warm)": (0, 0),
    "manifest by digest, anonymous (cold)": (1, 0),
    "manifest by digest, anonymous (warm)": (0, 0),
    "blob, anonymous (cold)": (1, 1),
    "blob, anonymous (warm)": (0, 0),
    "manifest by tag, private (cold)": (2, 0),
    "manifest by tag, private (warm)": (1, 0),
    "manifest by digest, private (cold)": (1, 0),
    "manifest by digest, private (warm)": (1, 0),
    "blob, private (cold)": (1, 1),
    "blob, private (warm)": (1, 1),
    **{f"{step}{label}": budget for label in ("", ", 20-layer push") for step, budget in UPLOAD_BUDGETS},
    # The source's facts, then the link (or the session, when the source lacks it) in one batch.
    "upload mount (POST ?mount=&from=)": (2, 0),
    "manifest push, 3 layers": (4, 2),
    "manifest push, 20 layers": (4, 2),
    "namespace page, anonymous": (3, 0),
    "package page, anonymous": (6, 0),
    "package API, PAT": (7, 0),
}


def calls(resp):
    """(d1, r2, cache) from Server-Timing: `d1;count=2;dur=3, r2;count=1;dur=0, cache;desc=hit`."""
    timing = resp.headers.get("server-timing", "")
    count = lambda name: int(m.group(1)) if (m := re.search(rf"\b{name};count=(\d+)", timing)) else None  # noqa: E731
    cache = re.search(r"\bcache;desc=(\w+)", timing)
    assert count("d1") is not None and count("r2") is not None, f"no counts in Server-Timing: {timing!r}"
    return count("d1"), count("r2"), cache.group(1) if cache else "-"


class Measured:
    def __init__(self):
        self.rows = {}

    def note(self, row, resp, status=None):
        if status is not None:
            assert resp.status_code == status, (row, resp.status_code, resp.text[:300])
        self.rows[row] = calls(resp)
        return resp


def token(base, scope, auth=None):
    r = requests.get(f"{base}/token", params={"service": base.split("://")[1], "scope": scope}, auth=auth,
                     verify=False)
    return r


def bearer(r):
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def push_image(c, repo, headers, layers, m=None, label=""):
    """Blobs the way docker sends them (POST, one PATCH, PUT ?digest=), then the manifest;
    the counts of the last blob's steps and of the manifest go to `m`."""
    blobs = [b"{}"] + [os.urandom(1024) for _ in range(layers)]
    for i, data in enumerate(blobs):
        last = m is not None and i == len(blobs) - 1
        if last:
            r = c.req("HEAD", f"/v2/{repo}/blobs/{digest(data)}", headers=headers)
            m.note(f"upload check (HEAD of an absent blob){label}", r, 404)
        r = c.req("POST", f"/v2/{repo}/blobs/uploads/", headers=headers)
        assert r.status_code == 202, r.text
        if last:
            m.note(f"upload start (POST){label}", r)
        r = c.req("PATCH", r.headers["Location"], data=data, headers=headers)
        assert r.status_code == 202, r.text
        if last:
            m.note(f"upload chunk (PATCH){label}", r)
        r = c.req("PUT", r.headers["Location"], params={"digest": digest(data)}, headers=headers)
        assert r.status_code == 201, r.text
        if last:
            m.note(f"upload close (PUT ?digest=){label}", r)
    # One more layer in one request (POST ?digest= with the body), as skopeo sends small blobs.
    data = os.urandom(1024)
    r = c.req("POST", f"/v2/{repo}/blobs/uploads/", params={"digest": digest(data)}, data=data, headers=headers)
    assert r.status_code == 201, r.text
    if m is not None:
        m.note(f"upload in one request (POST ?digest=){label}", r)
    blobs.append(data)
    # And one whose bytes come with the close (POST, then PUT ?digest= with the body).
    data = os.urandom(1024)
    r = c.req("POST", f"/v2/{repo}/blobs/uploads/", headers=headers)
    assert r.status_code == 202, r.text
    r = c.req("PUT", r.headers["Location"], params={"digest": digest(data)}, data=data, headers=headers)
    assert r.status_code == 201, r.text
    if m is not None:
        m.note(f"upload close with the last bytes (PUT ?digest=){label}", r)
    blobs.append(data)
    manifest = image_manifest(digest(b"{}"), [(digest(d), len(d)) for d in blobs[1:]])
    r = c.req("PUT", f"/v2/{repo}/manifests/v1", data=manifest,
              headers={**headers, "Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 201, r.text
    if m is not None:
        m.note(f"manifest push, {layers} layers", r)
    return digest(manifest), digest(blobs[1])


@pytest.fixture(scope="module")
def measured(registry, admin):
    m = Measured()
    base = registry.base
    c = Client(base)
    # A user of its own, so that nothing of theirs is remembered from earlier tests.
    login, secret, _ = admin.user(f"rt{uuid.uuid4().hex[:10]}")
    creds = (login, secret)
    public, private = f"{login}/public", f"{login}/private"

    # Pushes, with a PAT's registry token, as docker pushes.
    push = m.note("token, PAT, push (cold)", token(base, f"repository:{public}:pull,push", creds), 200)
    manifest, layer = push_image(c, public, bearer(push), 3, m)
    push = m.note("token, PAT, push (warm)", token(base, f"repository:{public}:pull,push", creds), 200)
    push_image(c, public, bearer(push), 20, m, label=", 20-layer push")
    private_manifest, _ = push_image(c, private, bearer(token(base, f"repository:{private}:pull,push", creds)), 3)
    # A layer of one package mounted into another, as docker does with a layer it pushed elsewhere.
    scopes = [("service", registry.host), ("scope", f"repository:{private}:pull,push"),
              ("scope", f"repository:{public}:pull")]
    mount = bearer(requests.get(f"{base}/token", params=scopes, auth=creds, verify=False))
    m.note("upload mount (POST ?mount=&from=)",
           c.req("POST", f"/v2/{private}/blobs/uploads/", params={"mount": layer, "from": public}, headers=mount), 201)
    # While private (nothing is stored), the same image under a tag only docker asks for (by HEAD).
    h = {**bearer(push), "Accept": "application/vnd.oci.image.manifest.v1+json"}
    body = c.req("GET", f"/v2/{public}/manifests/{manifest}", headers=h).content
    r = c.req("PUT", f"/v2/{public}/manifests/docker", data=body,
              headers={**h, "Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 201, r.text
    r = requests.patch(f"{base}/api/packages/{public}", json={"visibility": "public"}, auth=creds, verify=False)
    assert r.status_code == 200, r.text

    # Anonymous pulls of the public image: cold (nothing remembered), then warm.
    time.sleep(HOT_CACHE_SECONDS + 0.5)
    for when in ("cold", "warm"):
        anon = m.note(f"token, anonymous ({when})", token(base, f"repository:{public}:pull"), 200)
        h = {**bearer(anon), "Accept": "application/vnd.oci.image.manifest.v1+json"}
        m.note(f"manifest by tag, anonymous ({when})", c.req("GET", f"/v2/{public}/manifests/v1", headers=h), 200)
        m.note(f"manifest by tag, HEAD as docker asks, anonymous ({when})",
               c.req("HEAD", f"/v2/{public}/manifests/docker", headers=h), 200)
        m.note(f"manifest by digest, anonymous ({when})",
               c.req("GET", f"/v2/{public}/manifests/{manifest}", headers=h), 200)
        m.note(f"blob, anonymous ({when})", c.req("GET", f"/v2/{public}/blobs/{layer}", headers=h), 200)

    # The private image with a PAT's registry token (never from a shared cache).
    time.sleep(HOT_CACHE_SECONDS + 0.5)
    for when in ("cold", "warm"):
        t = m.note(f"token, PAT, pull ({when})", token(base, f"repository:{private}:pull", creds), 200)
        h = {**bearer(t), "Accept": "application/vnd.oci.image.manifest.v1+json"}
        m.note(f"manifest by tag, private ({when})", c.req("GET", f"/v2/{private}/manifests/v1", headers=h), 200)
        m.note(f"manifest by digest, private ({when})",
               c.req("GET", f"/v2/{private}/manifests/{private_manifest}", headers=h), 200)
        m.note(f"blob, private ({when})",
               c.req("GET", f"/v2/{private}/blobs/{digest(b'{}')}", headers=h), 200)

    # Pages and the package API.
    m.note("namespace page, anonymous", requests.get(f"{base}/{login}", verify=False), 200)
    m.note("package page, anonymous", requests.get(f"{base}/{public}", verify=False), 200)
    m.note("package API, PAT", requests.get(f"{base}/api/packages/{public}", auth=creds, verify=False), 200)
    return m.rows


def table(rows):
    lines = ["| request | D1 queries | R2 operations | edge cache |", "|---|---:|---:|---|"]
    lines += [f"| {row} | {d1} | {r2} | {cache} |" for row, (d1, r2, cache) in rows.items()]
    return "\n".join(lines)


def test_the_readme_table_is_what_was_measured(measured):
    with open(README) as f:
        text = f.read()
    fresh = f"{BEGIN}\n{table(measured)}\n{END}"
    current = re.search(re.escape(BEGIN) + ".*?" + re.escape(END), text, re.S)
    assert current, f"README has no {BEGIN} ... {END}"
    if os.environ.get("UPDATE_README") == "1":
        with open(README, "w") as f:
            f.write(text.replace(current.group(0), fresh))
        return
    assert current.group(0) == fresh, f"README's round-trip table is stale; measured:\n{table(measured)}"


def test_the_critical_path_keeps_its_budget(measured):
    assert set(measured) == set(BUDGETS), "every request kind measured has a budget, and only those"
    over = {row: (measured[row][:2], budget) for row, budget in BUDGETS.items()
            if measured[row][0] > budget[0] or measured[row][1] > budget[1]}
    assert not over, f"over budget (measured, budget): {over}"


def test_pushes_cost_the_same_whatever_the_layer_count(measured):
    assert measured["manifest push, 3 layers"][:2] == measured["manifest push, 20 layers"][:2]
    for step, _ in UPLOAD_BUDGETS:
        assert measured[step][:2] == measured[f"{step}, 20-layer push"][:2], step
