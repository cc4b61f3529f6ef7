"""Identity and access with real clients: docker login, skopeo with tokens, visibility."""
import base64
import json
import os
import shutil
import subprocess
import time
import uuid

from urllib.parse import urlencode

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


def refused(registry, client, status, code, route, principal):
    """Runs `client()`, a real client the registry must refuse, and checks the refusal in
    the registry's own log (one JSON line per answer, with the OCI code of an error): the
    client failed, the first error answered to it (after the `/v2/` challenge every client
    starts with) is `status` and `code` on `route` for `principal`, and nothing failed on
    the server's side."""
    start = len(registry.log_text())
    result = client()
    assert result.returncode != 0, "the client was not refused"
    deadline = time.monotonic() + 10
    while True:
        answers = registry.answers(start)
        errors = [a for a in answers if a["status"] >= 400 and a["route"] != "base"]
        if errors or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [a for a in answers if a["status"] >= 500] == [], answers
    assert errors, f"the registry refused nothing; the client said {result.stderr}"
    first = errors[0]
    assert (first["status"], first["code"], first["route"], first["principal"]) == (status, code, route, principal), \
        first


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
    refused(registry, lambda: subprocess.run(["docker", "login", registry.host, "-u", login, "--password-stdin"],
                                             input="erp_" + "0" * 56, capture_output=True, text=True, env=env,
                                             timeout=60), 401, "UNAUTHORIZED", "token", None)


def test_private_until_made_public(registry, admin, image):
    owner = admin.user("vis")[:2]
    assert skopeo_push(registry, image, "vis/app:v1", owner).returncode == 0
    # Anonymous: as a name that does not exist, 401 with a challenge.
    refused(registry, lambda: skopeo_inspect(registry, "vis/app:v1"), 401, "UNAUTHORIZED", "manifest", None)
    r = Client(registry.base, auth=owner).req("PATCH", "/api/packages/vis/app", json={"visibility": "public"})
    assert r.status_code == 200, r.text
    assert json.loads(skopeo_inspect(registry, "vis/app:v1").stdout)["schemaVersion"] == 2


def test_who_may_push_and_delete(registry, admin, image):
    owner = admin.user("own")[:2]
    reader = admin.user("own", scopes=("read:packages",))[:2]
    stranger = admin.user("stranger")[:2]
    assert skopeo_push(registry, image, "own/app:v1", owner).returncode == 0
    # A read-only token may look at the blobs (they are there) but not put the manifest.
    refused(registry, lambda: skopeo_push(registry, image, "own/app:v2", reader), 401, "UNAUTHORIZED", "manifest",
            "own")
    # Another's private package is not even seen: the first request on it is refused.
    refused(registry, lambda: skopeo_push(registry, image, "own/app:v3", stranger), 401, "UNAUTHORIZED", "blob",
            "stranger")
    assert skopeo_inspect(registry, "own/app:v1", reader).returncode == 0
    assert Client(registry.base, auth=owner).req("GET", "/v2/own/app/tags/list").json()["tags"] == ["v1"]

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


def test_no_secret_reaches_the_log(registry, admin, creds):
    """Every credential a client sends, in every form it takes on the wire, is absent from
    the log: PATs raw, in a Basic header's base64 and in containerd's token form; registry
    tokens; the operator's token; every Authorization value sent, valid or not."""
    from conftest import ADMIN_TOKEN
    login, token, _ = admin.user("logcheck")
    sent = []  # every Authorization value sent below

    def send(method, path, authorization, **kw):
        sent.append(authorization)
        return Client(registry.base).req(method, path, headers={"Authorization": authorization}, **kw)

    def basic(user, password):
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    r = send("GET", "/v2/logcheck/app/tags/list", basic(login, token))
    assert (r.status_code, error_code(r)) == (404, "NAME_UNKNOWN"), r.text
    request_id = r.headers["X-Request-Id"]
    assert send("GET", "/v2/", basic(login, "erp_" + "f" * 56)).status_code == 401
    assert send("GET", "/v2/", basic(creds[0], creds[1])).status_code == 200
    assert send("GET", "/api/packages/logcheck", f"Bearer {token}").status_code == 200
    r = send("GET", "/token", basic(login, token), params={"scope": "repository:logcheck/app:pull,push"})
    assert r.status_code == 200, r.text
    registry_token = r.json()["token"]
    assert send("GET", "/v2/logcheck/app/tags/list", f"Bearer {registry_token}").status_code == 404
    assert send("GET", "/v2/", "Bearer " + registry_token[:-4] + "AAAA").status_code == 401
    assert send("POST", "/admin/users", f"Bearer {ADMIN_TOKEN}", json={"login": "logcheck2"}).status_code == 201
    form = {"grant_type": "password", "username": login, "password": token, "service": registry.host,
            "scope": "repository:logcheck/app:pull"}
    r = Client(registry.base).req("POST", "/token", data=form)
    assert r.status_code == 200, r.text
    form_token = r.json()["token"]

    log = registry.log_text()
    assert request_id in log, "the log holds this test's requests"
    secrets = {"PAT": token, "other PAT": creds[1], "operator token": ADMIN_TOKEN, "registry token": registry_token,
               "registry token's signature": registry_token.rsplit(".", 1)[1], "form's token": form_token,
               "form body": urlencode({"password": token})}
    secrets.update({f"Authorization value {i}": value for i, value in enumerate(sent)})
    secrets.update({f"Authorization credentials {i}": value.split(" ", 1)[1] for i, value in enumerate(sent)})
    for what, secret in secrets.items():
        assert secret not in log, f"the {what} is in the log"
    # One structured line per request, findable by the id the client was given.
    lines = [json.loads(l[l.index("{"):]) for l in log.splitlines() if request_id in l]
    assert len(lines) == 1, lines
    assert lines[0]["route"] == "tags"
    assert lines[0]["repository"] == "logcheck/app"
    assert lines[0]["principal"] == "logcheck"
    assert lines[0]["status"] == 404


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
