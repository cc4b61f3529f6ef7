"""Faults and concurrency under `wrangler dev`: a registry killed mid-push, clients that go
away, racing pushes of one tag, many pushes sharing layers, and a bounded load run.
Nothing pushed may be lost or damaged, and no client may see a mix."""
import json
import os
import random
import threading
import time
import uuid

import pytest

from client import OCI_MANIFEST, Client, digest, error_code, image_manifest
from conftest import Admin, Registry
from test_durability import scheduled_report

MIB = 1 << 20


@pytest.fixture(scope="module")
def fragile(tmp_path_factory):
    """An instance of its own, to kill; upload sessions expire after a second and the
    collector has no grace period, so clean-up is observable at once."""
    base = tmp_path_factory.mktemp("fragile")
    reg = Registry(base / "state", base / "wrangler.log", ["UPLOAD_TTL_SECONDS:1", "GC_GRACE_SECONDS:0"])
    reg.start()
    yield reg
    reg.stop()


def push_image(c, repo, tag, layers):
    """Pushes `layers` (bytes) under a `{}` config; returns the manifest bytes."""
    config = c.push_blob(repo, b"{}")
    digests = [(c.push_blob(repo, layer), len(layer)) for layer in layers]
    manifest = image_manifest(config, digests, {"id": uuid.uuid4().hex})
    r = c.put_manifest(repo, tag, manifest, OCI_MANIFEST)
    assert r.status_code == 201, r.text
    return manifest


def pulls_intact(c, repo, reference, expected=None):
    """The manifest and every blob it names come back with their digests."""
    r = c.req("GET", f"/v2/{repo}/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200, r.text
    assert expected is None or r.content == expected
    m = r.json()
    for d in [m["config"]["digest"]] + [layer["digest"] for layer in m["layers"]]:
        blob = c.req("GET", f"/v2/{repo}/blobs/{d}")
        assert blob.status_code == 200 and digest(blob.content) == d, f"{repo}: blob {d} damaged"
    return r.content


def test_a_registry_killed_mid_push_loses_nothing(fragile):
    login, token, _ = Admin(fragile).user("crash")
    c = Client(fragile.base, auth=(login, token))
    kept = push_image(c, "crash/kept", "v1", [os.urandom(3 * MIB), os.urandom(1000)])

    big = os.urandom(24 * MIB)
    location = c.start("crash/app")
    halfway = threading.Event()

    def body():
        for i in range(0, len(big), MIB):
            if i >= 8 * MIB:
                halfway.set()
                time.sleep(0.05)
            yield big[i:i + MIB]

    def push():
        try:
            c.req("PATCH", location, data=body(), timeout=60)
        except Exception:  # noqa: BLE001 - the registry dies under this request
            pass

    pusher = threading.Thread(target=push)
    pusher.start()
    assert halfway.wait(60)
    fragile.kill()
    pusher.join()
    fragile.start()

    d = digest(big)
    assert c.req("HEAD", f"/v2/crash/app/blobs/{d}").status_code == 404, "a half-pushed blob is not visible"
    config = c.push_blob("crash/app", b"{}")
    r = c.put_manifest("crash/app", "v1", image_manifest(config, [(d, len(big))]), OCI_MANIFEST)
    assert error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    # A fresh push of the same image succeeds and pulls back byte for byte.
    assert c.push_blob("crash/app", big) == d
    manifest = image_manifest(config, [(d, len(big))])
    assert c.put_manifest("crash/app", "v1", manifest, OCI_MANIFEST).status_code == 201
    pulls_intact(c, "crash/app", "v1", manifest)
    pulls_intact(c, "crash/kept", "v1", kept)


def test_a_client_gone_mid_patch_leaves_a_session_that_expires(fragile):
    login, token, _ = Admin(fragile).user("gone")
    c = Client(fragile.base, auth=(login, token))
    location = c.start("gone/app")

    def body():
        yield os.urandom(6 * MIB)  # past one 5 MiB part: an R2 multipart upload is open
        raise ConnectionAbortedError("the client goes away")

    with pytest.raises(Exception):
        c.req("PATCH", location, data=body(), timeout=60)
    # What arrived may count (the local proxy may end the body cleanly): the session lives on.
    assert c.req("GET", location).status_code == 204
    time.sleep(1.5)
    assert c.req("GET", "/cdn-cgi/handler/scheduled").status_code == 200
    report = scheduled_report(fragile)
    assert report["failures"] == [] and report["expired_uploads"] >= 1, report
    assert error_code(c.req("GET", location)) == "BLOB_UPLOAD_UNKNOWN"


def test_two_pushes_of_one_tag_end_on_one_whole_manifest(registry, client, repo):
    images = []
    for side in ("left", "right"):
        config = client.push_blob(repo, b"{}")
        layer = f"{side} layer {uuid.uuid4()}".encode()
        images.append(image_manifest(config, [(client.push_blob(repo, layer), len(layer))], {"side": side}))
    for round_ in range(10):
        results, start = [], threading.Barrier(2)

        def push(manifest):
            start.wait()
            results.append(client.put_manifest(repo, "race", manifest, OCI_MANIFEST).status_code)

        threads = [threading.Thread(target=push, args=(m,)) for m in images]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [201, 201], f"round {round_}: {results}"
        final = pulls_intact(client, repo, "race")
        assert final in images, "the tag names one of the two manifests, whole"


def test_concurrent_pushes_sharing_layers_all_pull_intact(registry, client, creds):
    shared = [os.urandom(2 * MIB), os.urandom(64 * 1024)]
    ns = creds[0]
    targets = [(f"{ns}/shared{uuid.uuid4().hex[:6]}" if i % 2 else f"{ns}/sharedsame", f"v{i}") for i in range(6)]
    pushed, errors = {}, []

    def push(repo, tag):
        try:
            c = Client(registry.base, auth=creds)
            pushed[(repo, tag)] = push_image(c, repo, tag, shared + [os.urandom(256 * 1024)])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"{repo}:{tag}: {e}")

    threads = [threading.Thread(target=push, args=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for (repo, tag), manifest in pushed.items():
        pulls_intact(client, repo, tag, manifest)


def test_load_run_holds_without_errors(registry, creds, capsys):
    """LOAD_CLIENTS clients (8) for LOAD_SECONDS (20) pushing small images and pulling
    them back by digest; every pull is verified."""
    clients, seconds = int(os.environ.get("LOAD_CLIENTS", "8")), float(os.environ.get("LOAD_SECONDS", "20"))
    repo = f"{creds[0]}/load{uuid.uuid4().hex[:6]}"
    seed = Client(registry.base, auth=creds)
    images = [(push_image(seed, repo, "seed", [os.urandom(128 * 1024)]), "seed")]
    lock = threading.Lock()
    counts = {"push": 0, "pull": 0, "bytes": 0, "errors": [], "corrupt": 0}
    deadline = time.monotonic() + seconds

    def work(n):
        c = Client(registry.base, auth=creds)
        rng = random.Random(n)
        while time.monotonic() < deadline:
            try:
                if rng.random() < 0.3:
                    tag = f"c{n}-{uuid.uuid4().hex[:8]}"
                    manifest = push_image(c, repo, tag, [os.urandom(rng.randint(1, 512) * 1024)])
                    with lock:
                        images.append((manifest, tag))
                        counts["push"] += 1
                else:
                    with lock:
                        manifest, _ = rng.choice(images)
                    pulled = pulls_intact(c, repo, digest(manifest), manifest)
                    size = sum(layer["size"] for layer in json.loads(pulled)["layers"])
                    with lock:
                        counts["pull"] += 1
                        counts["bytes"] += size
            except AssertionError as e:
                with lock:
                    counts["corrupt"] += 1
                    counts["errors"].append(str(e)[:200])
            except Exception as e:  # noqa: BLE001 - counted and reported
                with lock:
                    counts["errors"].append(f"{type(e).__name__}: {str(e)[:200]}")

    started = time.monotonic()
    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    ops = counts["push"] + counts["pull"]
    with capsys.disabled():
        print(f"\nload: {clients} clients for {elapsed:.0f} s: {counts['push']} pushes, {counts['pull']} verified "
              f"pulls, {ops / elapsed:.1f} ops/s, {counts['bytes'] / elapsed / MIB:.1f} MiB/s of layers pulled, "
              f"{len(counts['errors'])} errors, {counts['corrupt']} corrupt")
    assert counts["errors"] == [] and counts["corrupt"] == 0
    assert counts["push"] > 0 and counts["pull"] > 0


def test_racing_chunks_on_one_upload_never_mix_bytes(registry, client, repo):
    """Two clients send a different first chunk to one upload at once: one wins, and the
    blob closed under the winner's digest holds exactly the winner's bytes."""
    for round_ in range(10):
        location = client.start(repo)
        chunks = [os.urandom(40 * 1024), os.urandom(40 * 1024)]
        answers, start = {}, threading.Barrier(2)

        def send(i):
            start.wait()
            answers[i] = client.req("PATCH", location, data=chunks[i], headers={
                "Content-Range": f"0-{len(chunks[i]) - 1}", "Content-Type": "application/octet-stream"})

        threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        won = [i for i in range(2) if answers[i].status_code == 202]
        assert len(won) == 1, f"round {round_}: {[answers[i].status_code for i in range(2)]}"
        lost = answers[1 - won[0]]
        assert lost.status_code in (400, 416) and error_code(lost), lost.text
        winner = chunks[won[0]]
        r = client.req("PUT", answers[won[0]].headers["Location"], params={"digest": digest(winner)})
        assert r.status_code == 201, r.text
        assert client.req("GET", f"/v2/{repo}/blobs/{digest(winner)}").content == winner
