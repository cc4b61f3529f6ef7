"""Big layers in bounded memory, and state that survives a restart."""
import hashlib
import json
import os
import threading
import time

from client import digest


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def close_upload(client, location, d):
    """PUT ?digest=. The PATCH before it lasts over 10 s, after which local `wrangler dev`
    fails one request; `Client.req` sends it again (deployed Workers have no such proxy)."""
    return client.req("PUT", location, params={"digest": d})


def test_1_gib_layer_in_one_unsized_patch_in_bounded_memory(registry, client, repo, tmp_path):
    """As docker pushes: one PATCH with no Content-Length. workerd must not grow with the layer."""
    import imagegen

    size = int(os.environ.get("BIG_LAYER_MIB", "1024")) * 1024 * 1024
    path = tmp_path / "layer.bin"
    d = imagegen.big_file(path, size)
    # A small upload first, so the runtime's one-time growth (JIT, allocator arenas, the
    # local R2 simulator's first writes) is not counted against the layer.
    warm = os.urandom(20 << 20)
    loc = client.start(repo)
    assert close_upload(client, client.req("PATCH", loc, data=warm).headers["Location"], digest(warm)).status_code == 201
    pids = registry.workerd_pids()
    before = {p: rss_kb(p) for p in pids}
    peak = dict(before)
    done = threading.Event()

    def sample():
        while not done.is_set():
            for p in pids:
                peak[p] = max(peak[p], rss_kb(p))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        loc = client.start(repo)

        def body():
            with open(path, "rb") as f:
                while piece := f.read(1 << 20):
                    yield piece

        started = time.monotonic()
        r = client.req("PATCH", loc, data=body())
        assert r.status_code == 202, r.text
        r = close_upload(client, r.headers["Location"], d)
        assert r.status_code == 201, r.text
        push_s = time.monotonic() - started
    finally:
        done.set()
        sampler.join()
    growth_mb = max(peak[p] - before[p] for p in pids) / 1024
    print(f"{size >> 20} MiB push: {push_s:.1f} s; workerd RSS growth {growth_mb:.0f} MB (before {before}, peak {peak})")
    assert growth_mb < 100, f"workerd grew by {growth_mb:.0f} MB"

    h, pulled = hashlib.sha256(), 0
    started = time.monotonic()
    with client.req("GET", f"/v2/{repo}/blobs/{d}", stream=True) as r:
        assert r.status_code == 200
        assert int(r.headers["Content-Length"]) == size
        for piece in r.iter_content(1 << 20):
            h.update(piece)
            pulled += len(piece)
    print(f"{size >> 20} MiB pull: {time.monotonic() - started:.1f} s")
    assert (pulled, "sha256:" + h.hexdigest()) == (size, d)


def test_everything_pushed_survives_a_restart(registry, client, repo):
    blob = b"kept across restarts"
    d = client.push_blob(repo, blob)
    r = client.put_manifest(repo, "v1", (
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        f'"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{d}","size":{len(blob)}}},'
        '"layers":[]}').encode(), "application/vnd.oci.image.manifest.v1+json")
    assert r.status_code == 201
    manifest_digest = r.headers["Docker-Content-Digest"]
    registry.restart()
    r = client.req("GET", f"/v2/{repo}/manifests/v1")
    assert r.status_code == 200
    assert digest(r.content) == manifest_digest
    assert client.req("GET", f"/v2/{repo}/blobs/{d}").content == blob


def scheduled_report(registry, timeout=10):
    """The JSON report the scheduled handler logs at the end of its run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in registry.log_text().splitlines():
            start = line.find('{"scheduled"')
            if start >= 0:
                return json.loads(line[start:line.rindex("}") + 1])["scheduled"]
        time.sleep(0.2)
    raise AssertionError("the scheduled handler logged no report")


def test_scheduled_handler_removes_expired_sessions_and_orphaned_blobs(tmp_path):
    """A second instance whose sessions expire after a second and whose collector has no
    grace period: the cron handler removes what no manifest needs, and keeps what one does."""
    from conftest import ADMIN_TOKEN, SIGNING_KEY, Registry, ROOT, SCRIPT
    import subprocess

    short = Registry(tmp_path / "state", tmp_path / "wrangler.log")
    subprocess.run([SCRIPT, "start", str(short.port), short.state, short.log, "https",
                    "--var", "UPLOAD_TTL_SECONDS:1", "--var", "GC_GRACE_SECONDS:0", "--var", f"ADMIN_TOKEN:{ADMIN_TOKEN}",
                    "--var", f"TOKEN_SIGNING_KEY:{SIGNING_KEY}"], check=True, cwd=ROOT)
    try:
        from conftest import Admin
        from client import OCI_MANIFEST, Client, error_code, image_manifest

        login, token, _ = Admin(short).user("ttl")
        c = Client(short.base, auth=(login, token))
        loc = c.start("ttl/app")
        # Past one part, so an R2 multipart upload is open too.
        assert c.req("PATCH", loc, data=b"x" * (6 << 20)).status_code == 202
        # Two repositories share a layer and a config; ttl/app's image is deleted, and one
        # blob was uploaded but never used by a manifest.
        config = c.push_blob("ttl/app", b"{}")
        shared = c.push_blob("ttl/app", b"shared layer")
        gone = c.push_blob("ttl/app", b"deleted layer")
        unused = c.push_blob("ttl/app", b"never in a manifest")
        app = image_manifest(config, [(gone, 13), (shared, 12)])
        assert c.put_manifest("ttl/app", "v1", app, OCI_MANIFEST).status_code == 201
        for data in (b"{}", b"shared layer"):
            c.push_blob("ttl/other", data)
        other = image_manifest(config, [(shared, 12)])
        assert c.put_manifest("ttl/other", "v1", other, OCI_MANIFEST).status_code == 201
        assert c.req("DELETE", f"/v2/ttl/app/manifests/{digest(app)}").status_code == 202
        time.sleep(1.5)
        assert error_code(c.req("GET", loc)) == "BLOB_UPLOAD_UNKNOWN"
        r = c.req("GET", "/cdn-cgi/handler/scheduled")
        assert r.status_code == 200, r.text
        report = scheduled_report(short)
        assert report["failures"] == [], report
        assert report["expired_uploads"] == 1, report
        assert report["collected_blobs"] == 2, report
        for d in (gone, unused):
            assert error_code(c.req("GET", f"/v2/ttl/app/blobs/{d}")) == "BLOB_UNKNOWN"
        # Everything ttl/other's image needs is intact.
        assert c.req("GET", "/v2/ttl/other/manifests/v1").content == other
        assert c.req("GET", f"/v2/ttl/other/blobs/{shared}").content == b"shared layer"
        assert c.req("GET", f"/v2/ttl/other/blobs/{config}").content == b"{}"
        # The collected digest can be pushed and pulled again.
        assert c.push_blob("ttl/app", b"deleted layer") == gone
        assert c.req("GET", f"/v2/ttl/app/blobs/{gone}").content == b"deleted layer"
    finally:
        short.stop()
