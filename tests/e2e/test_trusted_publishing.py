"""Trusted publishing: CI jobs push and pull with their platform's identity token, as a
local OpenID issuer shaped like GitHub Actions' issues them, and are refused by name
when a check fails."""
import subprocess
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

import imagegen
from client import Client
from conftest import Admin, Registry
from oidc_issuer import Issuer

GITHUB = "https://token.actions.githubusercontent.com"


@pytest.fixture(scope="module")
def issuer():
    i = Issuer()
    yield i
    i.stop()


@pytest.fixture(scope="module")
def tp(tmp_path_factory, issuer):
    """A registry that trusts the local issuer."""
    base = tmp_path_factory.mktemp("trusted-publishing")
    reg = Registry(base / "state", base / "wrangler.log",
                   extra_vars=[f"OIDC_ISSUERS:{issuer.url}", "OIDC_ALLOW_INSECURE_ISSUERS:1"])
    reg.start()
    yield reg
    reg.stop()


class World:
    """Alice's package `alice/app` (pushed with her PAT), trusted by octo/app's
    release.yml in the production environment; her namespace trusts octo/tools'
    publish.yml to create packages."""

    def __init__(self, tp, issuer):
        self.tp, self.issuer = tp, issuer
        self.audience = tp.base
        admin = Admin(tp)
        _, self.alice_pat, _ = admin.user("alice")
        _, self.bob_pat, _ = admin.user("bob")
        self.alice = Client(tp.base, auth=("alice", self.alice_pat))
        self.bob = Client(tp.base, auth=("bob", self.bob_pat))
        cfg = self.alice.push_blob("alice/app", b"{}")
        layer = self.alice.push_blob("alice/app", b"layer")
        r = self.alice.put_manifest("alice/app", "v0", imagegen_manifest(cfg, layer), "application/vnd.oci.image.manifest.v1+json")
        assert r.status_code == 201, r.text
        self.package_policy = self.add("/api/packages/alice/app/trusted-publishers", {
            "issuer": issuer.url, "repository": "Octo/App", "repository_owner_id": "4242",
            "workflow": "release.yml", "environment": "production", "ref": "refs/tags/v*"})
        self.namespace_policy = self.add("/api/namespaces/alice/trusted-publishers", {
            "issuer": issuer.url, "repository": "octo/tools", "workflow": "publish.yml"})

    def add(self, path, policy):
        r = self.alice.req("POST", path, json=policy)
        assert r.status_code == 201, r.text
        return r.json()

    def token(self, **claims):
        claims.setdefault("environment", "production")
        return self.issuer.token(self.audience, **claims)

    def token_request(self, identity_token, scope="repository:alice/app:pull,push"):
        """`GET /token` as docker sends it, with the identity token as the password."""
        params = {"service": self.tp.host, "scope": scope} if scope else {"service": self.tp.host}
        return Client(self.tp.base, auth=("oidc", identity_token)).req("GET", "/token", params=params)


def imagegen_manifest(cfg, layer):
    from client import image_manifest
    return image_manifest(cfg, [(layer, 5)])


@pytest.fixture(scope="module")
def world(tp, issuer):
    return World(tp, issuer)


def skopeo(*args):
    return subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=300)


def push_with_skopeo(world, tmp_path, ref, identity_token):
    src = imagegen.Layout(tmp_path / "src")
    pushed = imagegen.image(src, "v1", layers=2)
    r = skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", f"oidc:{identity_token}",
               f"oci:{src.root}:v1", f"docker://{world.tp.host}/{ref}")
    return pushed, r


def test_a_trusted_workflow_pushes_and_pulls_with_skopeo(world, tmp_path):
    token = world.token(ref="refs/tags/v1.2.0")
    pushed, r = push_with_skopeo(world, tmp_path, "alice/app:v1.2.0", token)
    assert r.returncode == 0, r.stderr
    back = tmp_path / "back"
    r = skopeo("copy", "--src-tls-verify=false", "--src-creds", f"oidc:{token}",
               f"docker://{world.tp.host}/alice/app:v1.2.0", f"oci:{back}:v1")
    assert r.returncode == 0, r.stderr
    r = world.alice.req("GET", "/v2/alice/app/manifests/v1.2.0", headers={"Accept": imagegen.OCI_MANIFEST})
    assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == pushed["digest"]
    # The versions API says who pushed it.
    versions = world.alice.req("GET", "/api/packages/alice/app/versions").json()
    pushed_version = next(v for v in versions if v["digest"] == pushed["digest"])
    assert pushed_version["provenance"]["kind"] == "ci"
    assert pushed_version["provenance"]["repository"] == "octo/app"
    assert pushed_version["provenance"]["workflow"] == "release.yml"
    assert pushed_version["provenance"]["ref"] == "refs/tags/v1.2.0"
    assert pushed_version["pushed_by"].startswith(f"pushed by CI at {world.issuer.url} from octo/app, workflow release.yml at refs/tags/v1.2.0 (0123456)")
    page = world.alice.req("GET", "/alice/app")
    assert "workflow release.yml at refs/tags/v1.2.0" in page.text
    v0 = next(v for v in versions if "v0" in v["tags"])
    assert v0["provenance"]["kind"] == "user" and v0["provenance"]["login"] == "alice"


def test_the_identity_token_works_as_a_docker_password_until_it_expires(world):
    token = world.token()
    for _ in range(2):  # docker presents its stored password on every token request
        r = world.token_request(token)
        assert r.status_code == 200, r.text
    login = world.token_request(token, scope=None)  # what `docker login` asks
    assert login.status_code == 200, login.text


def test_a_namespace_policy_creates_a_new_package(world, tmp_path):
    name = f"alice/new-{uuid.uuid4().hex[:8]}"
    token = world.token(repository="octo/tools", workflow="publish.yml")
    pushed, r = push_with_skopeo(world, tmp_path, f"{name}:v1", token)
    assert r.returncode == 0, r.stderr
    package = world.alice.req("GET", f"/api/packages/{name}")
    assert package.status_code == 200 and package.json()["visibility"] == "private", package.text
    # Nobody else learns of it.
    assert world.bob.req("GET", f"/api/packages/{name}").status_code == 404


def test_key_rotation_at_the_issuer(world, tmp_path):
    kid = world.issuer.add_key("ES256")
    token = world.token(alg="ES256", kid=kid)
    # The first token with the new key makes the registry refetch the keys (at most one
    # refetch per issuer in 10 s, so wait out one made by an earlier test).
    deadline = time.time() + 15
    while True:
        r = world.token_request(token)
        if r.status_code == 200 or time.time() > deadline:
            break
        assert "key id" in r.text, r.text
        time.sleep(1)
    assert r.status_code == 200, r.text
    pushed, r = push_with_skopeo(world, tmp_path, "alice/app:rotated", token)
    assert r.returncode == 0, r.stderr


def refused(r, message):
    assert r.status_code == 401, r.text
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert message in r.json()["errors"][0]["message"], r.text


def test_refusals_name_the_failed_check(world, issuer):
    now = int(time.time())
    unpublished = ec.generate_private_key(ec.SECP256R1())
    claims = issuer.claims(world.audience, environment="production")
    cases = [
        ("another repository", world.token(repository="octo/other"), "no trusted publisher matches this token's repository"),
        ("another workflow", world.token(workflow="ci.yml"), "no trusted publisher matches this token's workflow"),
        ("wrong environment", world.token(environment="staging"), "no trusted publisher matches this token's environment"),
        ("no environment", issuer.token(world.audience), "no trusted publisher matches this token's environment"),
        ("another owner id", world.token(owner_id="999"), "no trusted publisher matches this token's repository owner id"),
        ("a branch", world.token(ref="refs/heads/main"), "no trusted publisher matches this token's ref"),
        ("wrong audience", world.token(aud="https://elsewhere.example"), f'identity token audience is not "{world.audience}"'),
        ("expired", world.token(iat=now - 900, nbf=now - 900, exp=now - 120), "identity token has expired"),
        ("not yet valid", world.token(nbf=now + 300, exp=now + 400), "identity token is not valid yet"),
        ("too long-lived", world.token(lifetime=3600), "identity token lives longer than the 600 s"),
        ("unknown kid", jwt.encode(claims, unpublished, algorithm="ES256", headers={"kid": "not-published"}),
         "identity token key id is not among its issuer's signing keys"),
        ("alg none", jwt.encode(claims, None, algorithm="none", headers={"kid": issuer.kid("RS256")}),
         'identity token algorithm "none" is not accepted'),
        ("HS256", jwt.encode(claims, "a shared secret", algorithm="HS256", headers={"kid": issuer.kid("RS256")}),
         'identity token algorithm "HS256" is not accepted'),
        ("issuer not allowed", world.token(iss=GITHUB + ".evil"), "identity token issuer is not allowed"),
    ]
    for name, token, message in cases:
        r = world.token_request(token)
        assert r.status_code == 401, (name, r.text)
        assert message in r.json()["errors"][0]["message"], (name, r.text)


def test_a_push_to_a_package_the_policy_does_not_name_is_refused(world, tmp_path):
    token = world.token()
    refused(world.token_request(token, "repository:alice/other:pull,push"),
            "no trusted publisher matches this token's repository")
    _, r = push_with_skopeo(world, tmp_path, "alice/other:v1", token)
    assert r.returncode != 0
    assert "no trusted publisher matches this token's repository" in r.stderr
    assert world.alice.req("GET", "/api/packages/alice/other").status_code == 404


def test_delete_without_the_delete_grant_is_refused(world):
    token = world.token()
    refused(world.token_request(token, "repository:alice/app:delete"),
            "the trusted publishers that match this token do not grant delete")
    # A token for pull and push does not delete either.
    bearer = world.token_request(token).json()["token"]
    digest = world.alice.req("HEAD", "/v2/alice/app/manifests/v0", headers={"Accept": imagegen.OCI_MANIFEST}).headers["Docker-Content-Digest"]
    r = Client(world.tp.base).req("DELETE", f"/v2/alice/app/manifests/{digest}", headers={"Authorization": f"Bearer {bearer}"})
    assert r.status_code == 401, r.text
    assert world.alice.req("HEAD", f"/v2/alice/app/manifests/{digest}").status_code == 200


def test_the_exchange_is_single_use_and_grants_the_trusted_packages(world):
    token = world.token()
    anon = Client(world.tp.base)
    r = anon.req("POST", "/api/oidc/token", json={"token": token})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["expires_in"] <= 900
    assert {"package": "alice/app", "actions": ["pull", "push"]} in body["access"]
    bearer = {"Authorization": f"Bearer {body['token']}"}
    assert anon.req("GET", "/v2/alice/app/tags/list", headers=bearer).status_code == 200
    # Nothing else of the namespace.
    r = anon.req("GET", "/v2/alice/private-thing/tags/list", headers=bearer)
    assert r.status_code == 401, r.text
    # Replayed: refused, here or in any isolate (the jti is stored).
    refused(anon.req("POST", "/api/oidc/token", json={"token": token}), "identity token was already exchanged")
    # The form field works too.
    r = anon.req("POST", "/api/oidc/token", data={"token": world.token()})
    assert r.status_code == 200, r.text


def test_trusted_publishers_are_managed_by_package_and_namespace_admins(world, issuer):
    listed = world.alice.req("GET", "/api/packages/alice/app/trusted-publishers").json()
    assert [p["id"] for p in listed] == [world.package_policy["id"]]
    assert listed[0]["actions"] == ["pull", "push"] and listed[0]["repository"] == "Octo/App"
    # Bob cannot read alice/app: it is absent for him, policies and all.
    assert world.bob.req("GET", "/api/packages/alice/app/trusted-publishers").status_code == 404
    assert world.bob.req("POST", "/api/namespaces/alice/trusted-publishers", json={
        "issuer": issuer.url, "repository": "bob/x", "workflow": "a.yml"}).status_code == 403
    r = world.alice.req("POST", "/api/packages/alice/app/trusted-publishers", json={
        "issuer": "https://unknown.example", "repository": "octo/app", "workflow": "a.yml"})
    assert r.status_code == 400, r.text
    r = world.alice.req("POST", "/api/packages/alice/app/trusted-publishers", json={
        "issuer": issuer.url, "repository": "octo/app", "workflow": "cleanup.yml", "actions": ["delete"]})
    assert r.status_code == 201 and r.json()["actions"] == ["pull", "delete"], r.text
    extra = r.json()["id"]
    assert world.alice.req("DELETE", f"/api/packages/alice/app/trusted-publishers/{extra}").status_code == 204
    assert world.alice.req("DELETE", f"/api/packages/alice/app/trusted-publishers/{extra}").status_code == 404


def test_docker_login_with_an_identity_token_builds_pushes_and_pulls(world, docker, tmp_path):
    """The real Docker Engine: `docker login -u oidc --password-stdin` with the identity
    token, then build, push and pull. A job of another workflow logs in too (its token is
    valid) but its push is refused with the reason."""
    from test_docker import build, pushed_digest

    host = world.tp.host
    ref = f"{host}/alice/app:v3.0.0"
    build(docker, tmp_path / "ctx", ref, {"hello.txt": b"hello from CI\n"})
    assert "Login Succeeded" in docker.login(host, "oidc", world.token(ref="refs/tags/v3.0.0")).stdout
    digest = pushed_digest(docker.run("push", ref).stdout)
    docker.run("rmi", ref)
    docker.run("pull", ref)
    versions = world.alice.req("GET", "/api/packages/alice/app/versions").json()
    assert next(v for v in versions if v["digest"] == digest)["provenance"]["ref"] == "refs/tags/v3.0.0"
    assert "Login Succeeded" in docker.login(host, "oidc", world.token(workflow="ci.yml")).stdout
    assert "no trusted publisher matches this token's workflow" in docker.fails("push", ref)


def test_a_suspended_users_namespace_refuses_the_jobs_it_trusted(world):
    admin = Admin(world.tp)
    _, carol_pat, _ = admin.user("carol")
    carol = Client(world.tp.base, auth=("carol", carol_pat))
    r = carol.req("POST", "/api/namespaces/carol/trusted-publishers",
                  json={"issuer": world.issuer.url, "repository": "octo/carol", "workflow": "publish.yml"})
    assert r.status_code == 201, r.text
    token = world.token(repository="octo/carol", workflow="publish.yml")
    job = Client(world.tp.base, auth=("oidc", token))
    job.push_blob("carol/app", b"before")
    bearer = world.token_request(token, "repository:carol/app:pull,push").json()["token"]
    assert admin.post("/admin/users/carol/suspend", {}).status_code == 200
    suspended = "the account that owns this namespace is suspended"
    refused(job.req("POST", "/v2/carol/app/blobs/uploads/"), suspended)
    refused(Client(world.tp.base).req("POST", "/v2/carol/app/blobs/uploads/",
                                      headers={"Authorization": f"Bearer {bearer}"}), suspended)
    refused(world.token_request(token, "repository:carol/app:push"), suspended)
    refused(Client(world.tp.base).req("POST", "/api/oidc/token", json={"token": token}), suspended)
    assert admin.post("/admin/users/carol/unsuspend", {}).status_code == 200
    job.push_blob("carol/app", b"after")


def test_a_jobs_push_is_named_in_the_log_and_in_webhook_events(world, tmp_path):
    hook = {"url": "http://127.0.0.1:9/hook", "secret": uuid.uuid4().hex, "events": ["version.pushed"]}
    r = world.alice.req("POST", "/api/namespaces/alice/webhooks", json=hook)
    assert r.status_code == 201, r.text
    deliveries = f"/api/namespaces/alice/webhooks/{r.json()['id']}/deliveries"
    start = len(world.tp.log_text())
    pushed, r = push_with_skopeo(world, tmp_path, "alice/app:v1.3.0", world.token(ref="refs/tags/v1.3.0"))
    assert r.returncode == 0, r.stderr
    principal = f"ci:{world.issuer.url}:octo/app:release.yml"
    deadline = time.monotonic() + 10  # the log and the deliveries are written after the response
    while True:
        puts = [a for a in world.tp.answers(start) if a["route"] == "manifest" and a["status"] == 201]
        events = [d["payload"] for d in world.alice.req("GET", deliveries).json()
                  if d["payload"].get("digest") == pushed["digest"]]
        if (puts and events) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert [a["principal"] for a in puts] == [principal], puts
    assert events and events[0]["actor"] == principal, events
    ci = events[0]["ci"]
    assert (ci["repository"], ci["workflow"], ci["ref"], ci["run_id"]) == ("octo/app", "release.yml", "refs/tags/v1.3.0", "987654")
