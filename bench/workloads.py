"""What `make bench` measures, each against one system. Times are seconds of wall clock on
loopback; every function takes fresh names so no run reuses another's blobs."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
from client import Client, digest  # noqa: E402

# skopeo remembers where blobs are; a remembered blob is not pushed again.
# Older skopeo keeps it in BoltDB, newer in SQLite; root's under /var/lib, others' in HOME.
BLOB_INFO_CACHES = [os.path.join(d, f"blob-info-cache-v1.{ext}")
                    for d in ("/var/lib/containers/cache", os.path.expanduser("~/.local/share/containers/cache"))
                    for ext in ("boltdb", "sqlite")]
CHUNK = 1 << 20
# Local `wrangler dev` fails the request after one longer than ~10 s with a 503 "restarted
# mid-request" that never reached the Worker; deployed Workers have no such proxy. Such a
# request is retried, and each retry is noted here for the results.
DEV_PROXY_RESTART = "restarted mid-request"
retries = []
# Copies that failed otherwise: no figure, never retried.
failures = []
# What pulling clients accept; distribution refuses an OCI manifest to a request without it.
ACCEPT = ("application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
          "application/vnd.docker.distribution.manifest.v2+json")


def forget_blob_locations():
    for path in BLOB_INFO_CACHES:
        if os.path.exists(path):
            os.remove(path)


def timed(fn):
    started = time.monotonic()
    fn()
    return time.monotonic() - started


def layout_blobs(layout):
    """The blob files of an OCI layout, big ones included."""
    return sorted(glob.glob(os.path.join(layout, "blobs", "sha256", "*")))


def skopeo_copy(system, what, args, before=lambda attempt: None):
    """Seconds of one whole `skopeo copy` run with `args(attempt)`, and the attempt that
    gave them; (None, attempt) when no attempt gives a figure.

    A copy that fails is run again (whole: skopeo cannot retry one request) only when the
    local dev proxy broke it: skopeo names a 5xx status but never shows its body, so the
    proxy's "restarted mid-request" 503 is told from the Worker's own 503 by the Worker's
    log, which has a line for every answer it gives and none for the proxy's. Any other
    failure is no figure, and is listed in `failures`."""
    for attempt in range(3):
        before(attempt)
        forget_blob_locations()
        worker_503s = system.worker_503s()
        started = time.monotonic()
        r = subprocess.run(["skopeo", "copy", *args(attempt)], capture_output=True, text=True, timeout=900)
        seconds = time.monotonic() - started
        if r.returncode == 0:
            return seconds, attempt
        proxy_503 = ("503 Service Unavailable" in r.stderr and worker_503s is not None
                     and system.worker_503s() == worker_503s)
        if not proxy_503:
            failures.append({"what": what, "error": r.stderr.strip()[-1000:]})
            return None, attempt
        retries.append({"what": what, "error": r.stderr.strip()[-300:]})
    retries.append({"what": what, "error": "no figure: every attempt broke"})
    return None, attempt


def push_image(system, layout, repo):
    """Seconds to push, and the repository the image is in. Each attempt pushes to a fresh
    repository, so a retry never finds blobs an earlier attempt stored. When skopeo cannot
    get through the dev proxy (a PATCH longer than ~10 s breaks the PUT after it), the
    image is put there request by request, untimed, so the pull can still be measured."""
    target = lambda attempt: repo if attempt == 0 else f"{repo}-retry{attempt}"  # noqa: E731
    seconds, attempt = skopeo_copy(
        system, f"{system.name} push {repo}",
        lambda attempt: ["--dest-tls-verify=false", "--dest-creds", ":".join(system.creds),
                         f"oci:{layout}:v1", f"docker://{system.host}/{target(attempt)}:v1"])
    if seconds is None:
        put_layout(system, layout, target(attempt))
        return None, target(attempt)
    # skopeo skips a blob the server says it has, and says nothing of it; a push that
    # stored fewer blobs than the image has is no figure.
    stored, blobs = system.blobs_stored(target(attempt)), 1 + len(json.loads(manifest_of(layout)[1])["layers"])
    if stored is not None and stored != blobs:
        retries.append({"what": f"{system.name} push {repo}",
                        "error": f"no figure: {stored} of {blobs} blobs uploaded, the rest skipped"})
        return None, target(attempt)
    return seconds, target(attempt)


def put_layout(system, layout, repo):
    """The layout's blobs (one monolithic POST each) and manifest, tagged v1, each request
    retried past the dev proxy's restart 503."""
    c = Client(system.base, auth=system.creds)
    for path in layout_blobs(layout):
        d = "sha256:" + os.path.basename(path)

        def post():
            with open(path, "rb") as body:
                return c.req("POST", f"/v2/{repo}/blobs/uploads/", params={"digest": d}, data=body)
        r = retry_dev_proxy(f"{system.name} POST blob {repo}", post)
        assert r.status_code == 201, r.text
    with open(os.path.join(layout, "index.json")) as f:
        media_type = json.load(f)["manifests"][0]["mediaType"]
    _, body = manifest_of(layout)
    r = retry_dev_proxy(f"{system.name} PUT manifest {repo}", lambda: c.put_manifest(repo, "v1", body, media_type))
    assert r.status_code == 201, r.text


def pull_image(system, repo, dest):
    seconds, _ = skopeo_copy(
        system, f"{system.name} pull {repo}",
        lambda attempt: ["--src-tls-verify=false", "--src-creds", ":".join(system.creds),
                         f"docker://{system.host}/{repo}:v1", f"oci:{dest}:v1"],
        before=lambda attempt: shutil.rmtree(dest, ignore_errors=True))
    return seconds


def file_chunks(path):
    with open(path, "rb") as f:
        while piece := f.read(CHUNK):
            yield piece


def retry_dev_proxy(what, send):
    """`send()` again while the dev proxy answers it with its restart 503."""
    for _ in range(10):
        r = send()
        if r.status_code != 503 or DEV_PROXY_RESTART not in r.text:
            return r
        retries.append({"what": what, "error": r.text[:300]})
        time.sleep(0.5)
    return r


def docker_style_push(system, repo, path):
    """docker's way: POST, one PATCH with the whole layer and no Content-Length, PUT."""
    c = Client(system.base, auth=system.creds)
    d = "sha256:" + os.path.basename(path)

    def push():
        r = retry_dev_proxy(f"{system.name} POST {repo}", lambda: c.req("POST", f"/v2/{repo}/blobs/uploads/"))
        assert r.status_code == 202, r.text
        location = r.headers["Location"]
        r = retry_dev_proxy(f"{system.name} PATCH {repo}",
                            lambda: c.req("PATCH", location, data=file_chunks(path)))
        assert r.status_code == 202, r.text
        location = r.headers["Location"]
        r = retry_dev_proxy(f"{system.name} PUT ?digest= {repo}", lambda: c.req("PUT", location, params={"digest": d}))
        assert r.status_code == 201, r.text
    return timed(push)


def settle(base):
    """One request to absorb the dev proxy's restart 503 after a long transfer, so the
    timed requests that follow measure the server."""
    retry_dev_proxy(f"settle {base}", lambda: requests.get(base + "/", verify=False))


def sequential_gets(url, authorization=None, count=200):
    """`count` GETs one after another on one kept-alive connection; returns seconds."""
    s = requests.Session()
    headers = {"Accept": ACCEPT, **({"Authorization": authorization} if authorization else {})}

    def run():
        for _ in range(count):
            r = s.get(url, headers=headers, verify=False)
            assert r.status_code == 200, (url, r.status_code, r.text[:200])
    return timed(run)


def wrk(url, authorization=None, seconds=10, connections=8, any_status=False):
    """Requests per second and p99 latency (ms) of a `wrk` load on one URL. Any answer but
    a 2xx is an error unless `any_status`."""
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Accept: {ACCEPT}"]
    if authorization:
        args += ["-H", f"Authorization: {authorization}"]
    out = subprocess.run(args + [url], capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors and not any_status:
        raise RuntimeError(f"wrk {url}: {errors.group(1)} error responses")
    return {"rps": rps, "p99_ms": float(p99.group(1)) * scale}


class PeakMemory:
    """Peak resident memory (MB) over a system's server processes while a block runs."""

    def __init__(self, system):
        self.pids = system.pids()
        self.peak = 0
        self.done = threading.Event()

    def __enter__(self):
        self.thread = threading.Thread(target=self._sample)
        self.thread.start()
        return self

    def _sample(self):
        while not self.done.is_set():
            total = 0
            for pid in self.pids:
                try:
                    with open(f"/proc/{pid}/status") as f:
                        total += next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
                except (OSError, StopIteration):
                    pass
            self.peak = max(self.peak, total / 1024)
            time.sleep(0.05)

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()


def manifest_of(layout):
    """(digest, bytes) of the image manifest an OCI layout tags v1."""
    with open(os.path.join(layout, "index.json")) as f:
        d = json.load(f)["manifests"][0]["digest"]
    with open(os.path.join(layout, "blobs", "sha256", d.split(":")[1]), "rb") as f:
        return d, f.read()


def check_digest(path):
    return digest(open(path, "rb").read())
