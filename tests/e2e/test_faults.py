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
import requests

from client import OCI_MANIFEST, Client, digest, error_code, image_manifest
from conftest import Admin, Registry
from test_durability import scheduled_report

MIB = 1 << 20


def short_lived(tmp_path_factory, name):
    """An instance of its own, to kill or to clean up: upload sessions expire after a
    second and the collector has no grace period, so clean-up is observable at once."""
    base = tmp_path_factory.mktemp(name)
    reg = Registry(base / "state", base / "wrangler.log", ["UPLOAD_TTL_SECONDS:1", "GC_GRACE_SECONDS:0"])
    reg.start()
    return reg


@pytest.fixture(scope="module")
def fragile(tmp_path_factory):
    reg = short_lived(tmp_path_factory, "fragile")
    yield reg
    reg.stop()


@pytest.fixture
def lonely(tmp_path_factory):
    """An instance where one test's upload session is the only one there is."""
    reg = short_lived(tmp_path_factory, "lonely")
    yield reg
    reg.stop()


def wait_for(condition, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting until {what}")


def session_id(location):
    return location.rsplit("/", 1)[1]


def expire_and_check_cleaned_up(reg, c, location):
    """After the session's time to live, one scheduled run removes this session's row and
    staged bytes and aborts its R2 multipart upload."""
    session = session_id(location)
    time.sleep(1.5)
    r = c.req("GET", "/cdn-cgi/handler/scheduled")
    assert r.status_code == 200, r.text
    report = scheduled_report(reg)
    assert report["failures"] == [], report
    assert reg.d1_rows("SELECT id FROM uploads WHERE id = ?", session) == [], "the session's row is left"
    assert reg.r2_multipart(f"blobs/{session}") == [(2, 0)], "the session's multipart upload is not aborted"
    assert reg.r2_keys(f"uploads/{session}/") == [], "the session's staged bytes are left"
    assert reg.r2_keys(f"blobs/{session}") == [], "an object was made of the session's parts"
    r = c.req("GET", location)
    assert (r.status_code, error_code(r)) == (404, "BLOB_UPLOAD_UNKNOWN")
    return report


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
    session = session_id(location)
    killed = threading.Event()

    def body():
        for i in range(0, len(big), MIB):
            if i == 12 * MIB:
                killed.wait(60)  # the rest only once the registry is dead: the kill is mid-PATCH
            yield big[i:i + MIB]

    outcome = {}

    def push():
        try:
            outcome["answer"] = c.req("PATCH", location, data=body(), timeout=60)
        except requests.RequestException as e:
            outcome["error"] = e

    pusher = threading.Thread(target=push)
    pusher.start()
    # Killed only once the Worker has provably taken bytes: parts of this session's
    # multipart upload are in R2.
    wait_for(lambda: any(parts >= 1 for _, parts in fragile.r2_multipart(f"blobs/{session}")),
             "the registry stored a part of the PATCH")
    fragile.kill()
    killed.set()
    pusher.join()
    assert "answer" not in outcome, f"the PATCH was answered: {outcome['answer'].status_code}"
    fragile.start()

    d = digest(big)
    r = c.req("HEAD", f"/v2/crash/app/blobs/{d}")
    assert r.status_code == 404, "a half-pushed blob is not visible"
    config = c.push_blob("crash/app", b"{}")
    r = c.put_manifest("crash/app", "v1", image_manifest(config, [(d, len(big))]), OCI_MANIFEST)
    assert (r.status_code, error_code(r)) == (400, "MANIFEST_BLOB_UNKNOWN"), r.text
    # A fresh push of the same image succeeds and pulls back byte for byte.
    assert c.push_blob("crash/app", big) == d
    manifest = image_manifest(config, [(d, len(big))])
    assert c.put_manifest("crash/app", "v1", manifest, OCI_MANIFEST).status_code == 201
    pulls_intact(c, "crash/app", "v1", manifest)
    pulls_intact(c, "crash/kept", "v1", kept)
    # The killed session survived the crash with its multipart upload recorded; expiry
    # aborts it, and the blob pushed since stays whole.
    assert fragile.d1_rows("SELECT multipart_id IS NOT NULL FROM uploads WHERE id = ?", session) == [(1,)], \
        "the killed session's multipart upload is not recorded with it"
    expire_and_check_cleaned_up(fragile, c, location)
    pulls_intact(c, "crash/app", "v1", manifest)


def test_a_client_gone_mid_patch_leaves_a_session_that_expires(lonely):
    login, token, _ = Admin(lonely).user("gone")
    c = Client(lonely.base, auth=(login, token))
    location = c.start("gone/app")
    session = session_id(location)

    def body():
        yield os.urandom(6 * MIB)  # past one 5 MiB part: an R2 multipart upload is open
        raise ConnectionAbortedError("the client goes away")

    with pytest.raises(requests.ConnectionError, match="the client goes away"):
        c.req("PATCH", location, data=body(), timeout=60)
    # The Worker opened this session's multipart upload and recorded it with the session.
    wait_for(lambda: lonely.r2_multipart(f"blobs/{session}") == [(0, 1)], "a part of the PATCH is in R2")
    assert lonely.d1_rows("SELECT multipart_id IS NOT NULL FROM uploads WHERE id = ?", session) == [(1,)]
    # What arrived may count (the local proxy may end the body cleanly): the session lives on.
    assert c.req("GET", location).status_code == 204
    report = expire_and_check_cleaned_up(lonely, c, location)
    assert report["expired_uploads"] == 1, report


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
