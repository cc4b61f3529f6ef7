"""Lifecycle under `wrangler dev`: retention over the image graph (preview, the scheduled
run, restore), immutable tags as skopeo meets them, download counts after known pulls, and
webhooks delivered to a receiver on loopback that is down at first."""
import hashlib
import hmac
import json
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import imagegen
from client import OCI_MANIFEST, Client, digest, error_code, image_manifest
from conftest import Admin, Registry, free_port

OCI_INDEX = "application/vnd.oci.image.index.v1+json"


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    """An instance where nothing is too young to delete and webhook retries wait seconds."""
    base = tmp_path_factory.mktemp("lifecycle")
    reg = Registry(base / "state", base / "wrangler.log", ["GC_GRACE_SECONDS:0", "WEBHOOK_RETRY_SECONDS:1"])
    reg.start()
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def owner(instance):
    login, token, _ = Admin(instance).user("life")
    return login, token


@pytest.fixture
def c(instance, owner):
    return Client(instance.base, auth=owner)


@pytest.fixture
def name(owner):
    return f"{owner[0]}/p{uuid.uuid4().hex[:10]}"


def scheduled(instance, c):
    """Runs the cron trigger once; returns its JSON report."""
    before = instance.log_text().count('{"scheduled"')
    assert c.req("GET", "/cdn-cgi/handler/scheduled").status_code == 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        lines = [line for line in instance.log_text().splitlines() if '{"scheduled"' in line]
        if len(lines) > before:
            line = lines[before]
            start = line.find('{"scheduled"')
            return json.loads(line[start:line.rindex("}") + 1])["scheduled"]
        time.sleep(0.2)
    raise AssertionError("the scheduled handler logged no report")


def skopeo(*args, check=True):
    r = subprocess.run(["skopeo", *map(str, args)], capture_output=True, text=True, timeout=300)
    if check:
        assert r.returncode == 0, f"{args}\n{r.stderr}"
    return r


def push_version(c, name, tag, n):
    config = c.push_blob(name, b"{}")
    layer = f"layer {n} {uuid.uuid4()}".encode()
    manifest = image_manifest(config, [(c.push_blob(name, layer), len(layer))])
    r = c.put_manifest(name, tag, manifest, OCI_MANIFEST)
    assert r.status_code == 201, r.text
    return digest(manifest)


def test_retention_deletes_what_the_preview_lists_and_keeps_the_image_graph(instance, owner, c, name, tmp_path):
    # Thirty versions: the first three tagged releases, the rest pushed as `dev` in turn.
    versions = [push_version(c, name, f"release-{i}" if i < 3 else "dev", i) for i in range(30)]
    # A multi-arch image with a signature of its index.
    src = imagegen.Layout(tmp_path / "multi")
    index = imagegen.multi_arch(src, "stable")
    skopeo("copy", "--all", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", ":".join(owner),
           f"oci:{src.root}:stable", f"docker://{instance.host}/{name}:stable")
    children = [m["digest"] for m in json.loads(src.read(index["digest"]))["manifests"]]
    config = c.push_blob(name, b"{}")
    signature = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.dev.sigstore.bundle",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2}, "layers": [],
        "subject": {"mediaType": OCI_INDEX, "digest": index["digest"], "size": index["size"]},
    }).encode()
    assert c.put_manifest(name, digest(signature), signature, OCI_MANIFEST).status_code == 201

    policy = {"keep_newest": 10, "untagged_older_than_days": 0, "keep_tags": ["release-*", "stable"]}
    r = c.req("PUT", f"/api/packages/{name}/retention", json={"keep_newest": 0})
    assert (r.status_code, error_code(r)) == (400, "BAD_REQUEST")
    assert c.req("PUT", f"/api/packages/{name}/retention", json=policy).status_code == 200
    preview = c.req("GET", f"/api/packages/{name}/retention/preview").json()
    listed = sorted(v["digest"] for v in preview["delete"])
    # The 26 versions `dev` left behind go; the tagged ones, the index, its images and
    # its signature stay, although the images and the signature are untagged.
    assert listed == sorted(versions[3:29])
    assert {v["reason"] for v in preview["delete"]} == {"untagged and pushed more than 0 days ago"}
    kept = set(versions[:3]) | {versions[29], index["digest"], digest(signature), *children}
    assert not kept & set(listed)

    report = scheduled(instance, c)
    assert report["failures"] == [], report
    deleted = sorted(v["digest"] for g in report["retention"]["deleted"] for v in g["versions"])
    assert deleted == listed, "the scheduled run deletes exactly the preview's list"
    remaining = {v["digest"] for v in c.req("GET", f"/api/packages/{name}/versions").json()}
    assert remaining == kept
    # The multi-arch image pulls whole, and its signature is still its referrer.
    skopeo("copy", "--all", "--src-tls-verify=false", "--src-creds", ":".join(owner),
           f"docker://{instance.host}/{name}:stable", f"oci:{tmp_path / 'back'}:stable")
    referrers = c.req("GET", f"/v2/{name}/referrers/{index['digest']}").json()
    assert [m["digest"] for m in referrers["manifests"]] == [digest(signature)]
    assert c.req("GET", f"/api/packages/{name}/retention/preview").json()["delete"] == []

    # A retained deletion restores like any other.
    gone = versions[10]
    assert c.req("GET", f"/v2/{name}/manifests/{gone}").status_code == 404
    r = c.req("POST", f"/api/packages/{name}/versions/{gone}/restore")
    assert r.status_code == 200, r.text
    assert digest(c.req("GET", f"/v2/{name}/manifests/{gone}").content) == gone


def test_an_immutable_tag_is_refused_to_skopeo_with_the_rule(instance, owner, c, name, tmp_path):
    src = imagegen.Layout(tmp_path / "src")
    first = imagegen.image(src, "one", layers=1)
    imagegen.image(src, "two", layers=1)
    dest = f"docker://{instance.host}/{name}:v1"
    push = ["copy", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", ":".join(owner)]
    skopeo(*push, f"oci:{src.root}:one", dest)
    r = c.req("PATCH", f"/api/packages/{name}", json={"immutable_tags": ["v*"]})
    assert (r.status_code, r.json()["immutable_tags"]) == (200, ["v*"])

    refused = skopeo(*push, f"oci:{src.root}:two", dest, check=False)
    assert refused.returncode != 0
    # What the user sees: skopeo's fatal line ends with the registry's DENIED and its message.
    message = "denied: tag v1 is immutable (package rule immutable_tags: v*): it cannot be moved to another digest"
    assert message in refused.stderr, refused.stderr
    # The same digest again is fine; deleting the tag is refused as moving it is.
    skopeo(*push, f"oci:{src.root}:one", dest)
    assert c.req("GET", f"/v2/{name}/manifests/v1").headers["Docker-Content-Digest"] == first["digest"]
    deleted = skopeo("delete", "--tls-verify=false", "--creds", ":".join(owner), dest, check=False)
    assert deleted.returncode != 0 and "tag v1 is immutable" in deleted.stderr, deleted.stderr

    # Untagging: a tag goes, its version stays.
    skopeo(*push, f"oci:{src.root}:one", f"docker://{instance.host}/{name}:scratch")
    assert c.req("DELETE", f"/api/packages/{name}/tags/scratch").status_code == 204
    assert c.req("DELETE", f"/v2/{name}/manifests/v1").status_code == 403
    assert c.req("GET", f"/v2/{name}/manifests/scratch").status_code == 404
    assert c.req("GET", f"/v2/{name}/manifests/{first['digest']}").status_code == 200


def test_racing_pushes_to_an_immutable_tag_leave_exactly_one_winner(instance, c, name):
    push_version(c, name, "seed", 0)
    assert c.req("PATCH", f"/api/packages/{name}", json={"immutable_tags": ["release-*"]}).status_code == 200
    config = c.push_blob(name, b"{}")
    # Many layers make each push check many blobs before it commits: a wide window.
    blobs = [f"shared {i} {uuid.uuid4()}".encode() for i in range(30)]
    layers = [(c.push_blob(name, b), len(b)) for b in blobs]
    # One warm connection per pusher, released together, so that the pushes overlap.
    clients = [Client(instance.base, auth=c.s.auth) for _ in range(8)]
    for pusher in clients:
        assert pusher.req("GET", f"/v2/{name}/manifests/seed").status_code == 200
    for round in range(6):
        tag = f"release-{round}"
        manifests = []
        for i in range(len(clients)):
            manifests.append(image_manifest(config, layers, {"racer": f"{round} {i}"}))
        results = [None] * len(clients)
        start = threading.Barrier(len(clients))

        def push(i):
            start.wait()
            results[i] = clients[i].put_manifest(name, tag, manifests[i], OCI_MANIFEST)

        threads = [threading.Thread(target=push, args=(i,)) for i in range(len(clients))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        won = [i for i, r in enumerate(results) if r.status_code == 201]
        assert len(won) == 1, [(r.status_code, r.text) for r in results]
        for i, r in enumerate(results):
            if i not in won:
                assert (r.status_code, error_code(r)) == (403, "DENIED"), r.text
                assert f"tag {tag} is immutable (package rule immutable_tags: release-*)" in r.text
        assert digest(c.req("GET", f"/v2/{name}/manifests/{tag}").content) == digest(manifests[won[0]])


def test_downloads_count_known_pulls_including_cache_hits(instance, c, name):
    version = push_version(c, name, "latest", 1)
    assert c.req("PATCH", f"/api/packages/{name}", json={"visibility": "public"}).status_code == 200
    anonymous = Client(instance.base)
    by_digest = f"/v2/{name}/manifests/{version}"
    pulls, hits = 0, 0
    for _ in range(3):
        assert anonymous.req("GET", f"/v2/{name}/manifests/latest").status_code == 200
        pulls += 1
    for _ in range(8):
        r = anonymous.req("GET", by_digest)
        assert r.status_code == 200
        pulls += 1
        hits += r.headers.get("X-Cache") == "hit"
        time.sleep(0.1)
    assert hits >= 1, "some pulls came from the edge cache"
    for _ in range(4):
        assert anonymous.req("HEAD", by_digest).status_code == 200  # not pulls

    deadline, shown = time.monotonic() + 15, None
    while time.monotonic() < deadline:
        shown = c.req("GET", f"/api/packages/{name}/versions").json()[0]["downloads"]
        if shown == pulls:
            break
        time.sleep(0.3)
    assert shown == pulls, f"{pulls} pulls ({hits} from the cache) but {shown} counted"
    package = c.req("GET", f"/api/packages/{name}").json()
    assert package["downloads"] == {"total": pulls, "last_30_days": pulls}
    badge = anonymous.req("GET", f"/{name}/badge.svg")
    assert (badge.status_code, badge.headers["Content-Type"]) == (200, "image/svg+xml")
    assert f"<title>downloads: {pulls}</title>" in badge.text
    assert f"{pulls} total · {pulls} in the last 30 days" in anonymous.req("GET", f"/{name}").text
    assert c.req("PATCH", f"/api/packages/{name}", json={"visibility": "private"}).status_code == 200
    assert anonymous.req("GET", f"/{name}/badge.svg").status_code == 404


class Receiver:
    """A webhook receiver on loopback that checks every signature."""

    def __init__(self, secret):
        self.secret, self.got, self.bad = secret.encode(), [], []
        self.port = free_port()
        self.server = None

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(receiver.secret, body, hashlib.sha256).hexdigest()
                signed = self.headers.get("X-Registry-Signature-256", "")
                if hmac.compare_digest(expected, signed):
                    receiver.got.append((self.headers["X-Registry-Delivery"], json.loads(body)))
                else:
                    receiver.bad.append(body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def test_webhooks_reach_a_receiver_that_was_down_once_each_signed(instance, owner, c, name):
    secret = uuid.uuid4().hex
    receiver = Receiver(secret)  # not listening yet: the first attempts fail
    events = ["version.pushed", "tag.moved", "version.deleted", "visibility.changed"]
    hook = {"url": f"http://127.0.0.1:{receiver.port}/hook", "secret": secret, "events": events}
    r = c.req("POST", f"/api/namespaces/{owner[0]}/webhooks", json=hook)
    assert (r.status_code, r.json()["secret"]) == (201, secret)
    hook_id = r.json()["id"]
    try:
        started = time.monotonic()
        first = push_version(c, name, "v1", 1)
        second = push_version(c, name, "v1", 2)  # moves v1
        assert time.monotonic() - started < 10, "delivery never delays the request"
        assert c.req("DELETE", f"/api/packages/{name}/versions/{first}").status_code == 202
        assert c.req("PATCH", f"/api/packages/{name}", json={"visibility": "public"}).status_code == 200
        expected = {("version.pushed", first), ("version.pushed", second), ("tag.moved", second),
                    ("version.deleted", first), ("visibility.changed", None)}

        log_path = f"/api/namespaces/{owner[0]}/webhooks/{hook_id}/deliveries"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            log = c.req("GET", log_path).json()
            mine = [d for d in log if d["payload"]["package"] == name]
            if len(mine) == len(expected) and all(d["attempts"] >= 1 for d in mine):
                break
            time.sleep(0.5)
        assert all(d["state"] == "pending" and d["last_status"] is None and d["last_error"] for d in mine), mine

        receiver.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len({d for d, _ in receiver.got}) < len(expected):
            time.sleep(1.2)  # past the first retry delay (1 s here), then the second (5 s)
            report = scheduled(instance, c)
            assert report["failures"] == [], report
        got = [(p["event"], p.get("digest")) for _, p in receiver.got if p["package"] == name]
        assert sorted(got, key=str) == sorted(expected, key=str), "each event exactly once"
        assert receiver.bad == [], "every delivery is signed with the secret"
        pushed = next(p for _, p in receiver.got if p["event"] == "tag.moved")
        assert (pushed["actor"], pushed["tags"], pushed["details"]["previous_digest"]) == (owner[0], ["v1"], first)
        log = [d for d in c.req("GET", log_path).json() if d["payload"]["package"] == name]
        assert all(d["state"] == "delivered" and d["last_status"] == 204 and d["attempts"] >= 2 for d in log), log
        assert "secret" not in c.req("GET", f"/api/namespaces/{owner[0]}/webhooks").json()[0]
        assert secret not in instance.log_text(), "the secret is never logged"
    finally:
        receiver.stop()
        c.req("DELETE", f"/api/namespaces/{owner[0]}/webhooks/{hook_id}")


def test_an_immutable_tag_is_refused_to_docker_with_the_rule(instance, owner, c, name, docker, tmp_path):
    from test_docker import build, pushed_digest

    ref = f"{instance.host}/{name}:v1"
    build(docker, tmp_path / "one", ref, {"one.txt": b"the first v1\n"})
    docker.login(instance.host, *owner)
    first = pushed_digest(docker.run("push", ref).stdout)
    assert c.req("PATCH", f"/api/packages/{name}", json={"immutable_tags": ["v*"]}).status_code == 200
    build(docker, tmp_path / "two", ref, {"two.txt": b"another v1\n"})
    out = docker.fails("push", ref)
    message = "denied: tag v1 is immutable (package rule immutable_tags: v*): it cannot be moved to another digest"
    assert message in out, out
    assert c.req("GET", f"/v2/{name}/manifests/v1").headers["Docker-Content-Digest"] == first
