"""Identity and access with real clients: docker login, skopeo with tokens, visibility."""
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

import imagegen
from client import Client, error_code


def skopeo_push(registry, layout, ref, creds):
    return subprocess.run(
        ["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", f"{creds[0]}:{creds[1]}",
         f"oci:{layout}:v1", f"docker://{registry.host}/{ref}"], capture_output=True, text=True, timeout=120)


def skopeo_inspect(registry, ref, creds=None):
    args = ["skopeo", "inspect", "--raw", "--tls-verify=false"]
    args += ["--creds", f"{creds[0]}:{creds[1]}"] if creds else ["--no-creds"]
    return subprocess.run(args + [f"docker://{registry.host}/{ref}"], capture_output=True, text=True, timeout=120)


@pytest.fixture
def image(tmp_path):
    src = imagegen.Layout(tmp_path / "src")
    imagegen.image(src, "v1", layers=1)
    return src.root


def test_docker_login_with_a_pat(registry, admin, tmp_path):
    if not shutil.which("docker"):
        pytest.skip("the docker CLI is not installed")
    login, token, _ = admin.user("dockeruser")
    env = {**os.environ, "DOCKER_CONFIG": str(tmp_path / "docker")}
    ok = subprocess.run(["docker", "login", registry.host, "-u", login, "--password-stdin"],
                        input=token, capture_output=True, text=True, env=env, timeout=60)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(["docker", "login", registry.host, "-u", login, "--password-stdin"],
                         input="erp_" + "0" * 56, capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode != 0


def test_private_until_made_public(registry, admin, image):
    owner = admin.user("vis")[:2]
    assert skopeo_push(registry, image, "vis/app:v1", owner).returncode == 0
    assert skopeo_inspect(registry, "vis/app:v1").returncode != 0, "anonymous pull of a private package"
    r = Client(registry.base, auth=owner).req("PATCH", "/api/packages/vis/app", json={"visibility": "public"})
    assert r.status_code == 200, r.text
    assert json.loads(skopeo_inspect(registry, "vis/app:v1").stdout)["schemaVersion"] == 2


def test_who_may_push_and_delete(registry, admin, image):
    owner = admin.user("own")[:2]
    reader = admin.user("own", scopes=("read:packages",))[:2]
    stranger = admin.user("stranger")[:2]
    assert skopeo_push(registry, image, "own/app:v1", owner).returncode == 0
    assert skopeo_push(registry, image, "own/app:v2", reader).returncode != 0, "a read-only token pushed"
    assert skopeo_push(registry, image, "own/app:v3", stranger).returncode != 0, "pushed into another's namespace"
    assert skopeo_inspect(registry, "own/app:v1", reader).returncode == 0

    writer = admin.user("own", scopes=("write:packages",))[:2]
    r = Client(registry.base, auth=writer).req("DELETE", "/v2/own/app/manifests/v1")
    assert (r.status_code, error_code(r)) == (403, "DENIED")
    deleter = admin.user("own", scopes=("delete:packages",))[:2]
    assert Client(registry.base, auth=deleter).req("DELETE", "/v2/own/app/manifests/v1").status_code == 202


def test_revoked_token_is_refused_on_the_next_request(registry, admin, image):
    login, token, token_id = admin.user("revoke")
    c = Client(registry.base, auth=(login, token))
    assert c.req("GET", "/v2/").status_code == 200
    assert admin.delete(f"/admin/tokens/{token_id}").status_code == 204
    r = c.req("GET", "/v2/")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith(f'Bearer realm="{registry.base}/token"')


def test_mount_from_an_unreadable_package_reveals_nothing(registry, admin):
    alice = admin.user("mounta")[:2]
    bob = admin.user("mountb")[:2]
    d = Client(registry.base, auth=alice).push_blob("mounta/app", b"private layer")
    r = Client(registry.base, auth=bob).req("POST", "/v2/mountb/app/blobs/uploads/",
                                            params={"mount": d, "from": "mounta/app"})
    assert r.status_code == 202


def test_tokens_never_reach_the_log(registry, admin, creds):
    from conftest import ADMIN_TOKEN
    login, token, _ = admin.user("logcheck")
    r = Client(registry.base, auth=(login, token)).req("GET", "/v2/logcheck/app/tags/list")
    request_id = r.headers["X-Request-Id"]
    Client(registry.base, auth=(login, "erp_" + "f" * 56)).req("GET", "/v2/")
    log = registry.log_text()
    for secret in (token, creds[1], ADMIN_TOKEN):
        assert secret not in log
    # One structured line per request, findable by the id the client was given.
    lines = [json.loads(l[l.index("{"):]) for l in log.splitlines() if request_id in l]
    assert len(lines) == 1, lines
    assert lines[0]["route"] == "tags"
    assert lines[0]["repository"] == "logcheck/app"
    assert lines[0]["principal"] == "logcheck"
    assert lines[0]["status"] == r.status_code


def test_failed_logins_are_rate_limited(registry, admin):
    login, token, _ = admin.user("ratelimit")
    # Failures count per presented token id: one of this test's own.
    wrong = Client(registry.base, auth=(login, "erp_" + uuid.uuid4().hex[:16] + "0" * 40))
    # A client address of its own, so other tests' failures do not count here.
    headers = {"CF-Connecting-IP": "198.51.100.23"}
    # Failures are counted per clock minute: start early in one, so all land in the same.
    if time.time() % 60 > 40:
        time.sleep(60 - time.time() % 60 + 0.5)
    statuses = [wrong.req("GET", "/v2/", headers=headers).status_code for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    r = wrong.req("GET", "/v2/", headers=headers)
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
    # The owner's valid token still works.
    assert Client(registry.base, auth=(login, token)).req("GET", "/v2/", headers=headers).status_code == 200
