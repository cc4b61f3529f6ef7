"""Real clients push and pull through the registry byte for byte."""
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time

import pytest

import imagegen


def run(*args, **kw):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=kw.pop("timeout", 300), **kw)
    assert r.returncode == 0, f"{args}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r.stdout


def creds_flag(creds, flag):
    return [flag, f"{creds[0]}:{creds[1]}"] if creds else []


def layout_manifests(root):
    with open(os.path.join(root, "index.json")) as f:
        return {m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"] for m in json.load(f)["manifests"]}


def same_blobs(a, b):
    """Every blob of layout `a` is in layout `b` with the same bytes."""
    for name in os.listdir(os.path.join(a, "blobs", "sha256")):
        with open(os.path.join(a, "blobs", "sha256", name), "rb") as fa, open(os.path.join(b, "blobs", "sha256", name), "rb") as fb:
            assert hashlib.sha256(fa.read()).digest() == hashlib.sha256(fb.read()).digest(), name


class Skopeo:
    def __init__(self, registry, creds):
        self.registry, self.creds = registry, creds

    def push(self, src, dst, *extra):
        run("skopeo", "copy", "--preserve-digests", "--dest-tls-verify=false",
            *creds_flag(self.creds, "--dest-creds"), *extra, src, f"docker://{self.registry.host}/{dst}")

    def pull(self, src, dst, *extra):
        run("skopeo", "copy", "--src-tls-verify=false", *creds_flag(self.creds, "--src-creds"), *extra,
            f"docker://{self.registry.host}/{src}", dst)

    def raw(self, ref):
        return run("skopeo", "inspect", "--raw", "--tls-verify=false", *creds_flag(self.creds, "--creds"),
                   f"docker://{self.registry.host}/{ref}")


@pytest.fixture
def skopeo(registry, creds):
    return Skopeo(registry, creds)


def test_skopeo_three_layer_image_round_trip(skopeo, repo, tmp_path):
    src = imagegen.Layout(tmp_path / "src")
    pushed = imagegen.image(src, "v1", layers=3)
    skopeo.push(f"oci:{src.root}:v1", f"{repo}:v1")
    back = tmp_path / "back"
    skopeo.pull(f"{repo}:v1", f"oci:{back}:v1")
    assert layout_manifests(back)["v1"] == pushed["digest"]
    same_blobs(src.root, back)
    # Pull by digest too.
    by_digest = tmp_path / "by-digest"
    skopeo.pull(f"{repo}@{pushed['digest']}", f"oci:{by_digest}:x")
    assert layout_manifests(by_digest)["x"] == pushed["digest"]


def test_skopeo_multi_arch_index_round_trip(skopeo, repo, tmp_path):
    src = imagegen.Layout(tmp_path / "src")
    index = imagegen.multi_arch(src, "multi")
    skopeo.push(f"oci:{src.root}:multi", f"{repo}:multi", "--all")
    raw = skopeo.raw(f"{repo}:multi").encode()
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == index["digest"]
    back = tmp_path / "back"
    skopeo.pull(f"{repo}@{index['digest']}", f"oci:{back}:multi", "--all")
    assert layout_manifests(back)["multi"] == index["digest"]
    same_blobs(src.root, back)


def test_skopeo_docker_schema2_image(skopeo, repo, tmp_path):
    src = imagegen.Layout(tmp_path / "src")
    pushed = imagegen.image(src, "d1", layers=2, docker=True, tag=False)
    skopeo.push(f"dir:{imagegen.as_dir(src, pushed['digest'], tmp_path / 'dir')}", f"{repo}:d1")
    raw = skopeo.raw(f"{repo}:d1")
    assert json.loads(raw)["mediaType"] == imagegen.DOCKER_MANIFEST
    assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == pushed["digest"]


def test_podman_push_and_pull(registry, creds, repo, tmp_path):
    src = imagegen.Layout(tmp_path / "src")
    pushed = imagegen.image(src, "v1", layers=2)
    config_digest = json.loads(src.read(pushed["digest"]))["config"]["digest"]
    # podman wants a short runroot path.
    runroot = tempfile.mkdtemp(prefix="pr", dir="/tmp")
    podman = ["podman", "--root", tmp_path / "root", "--runroot", runroot, "--storage-driver", "vfs",
              "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
    login = creds_flag(creds, "--creds")
    ref = f"{registry.host}/{repo}:v1"
    run(*podman, "pull", f"oci:{src.root}:v1")
    image_id = run(*podman, "images", "-q", "--no-trunc").split()[0]
    run(*podman, "push", "--tls-verify=false", *login, image_id, f"docker://{ref}")
    run(*podman, "rmi", "-a", "-f")
    run(*podman, "pull", "--tls-verify=false", *login, ref)
    # podman recompresses layers, so their digests change; the image (its config) does not.
    pulled = json.loads(run(*podman, "image", "inspect", ref))[0]
    assert "sha256:" + pulled["Id"] == config_digest
    assert pulled["Labels"]["org.opencontainers.image.licenses"] == "Apache-2.0"


@pytest.fixture
def containerd(tmp_path):
    """A private containerd daemon; yields the ctr command prefix."""
    base = tmp_path / "containerd"
    base.mkdir()
    sock = base / "containerd.sock"
    config = base / "config.toml"
    config.write_text(
        f'version = 2\nroot = "{base}/root"\nstate = "{base}/state"\n'
        f'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{sock}"\n[ttrpc]\n  address = "{sock}.ttrpc"\n'
    )
    log = open(base / "containerd.log", "w")
    proc = subprocess.Popen(["containerd", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)
    for _ in range(100):
        if sock.exists():
            break
        time.sleep(0.1)
    yield ["ctr", "--address", str(sock), "--namespace", "e2e"]
    proc.terminate()
    proc.wait(timeout=10)
    log.close()
    shutil.rmtree(base, ignore_errors=True)


def test_containerd_ctr_push_and_pull(registry, creds, repo, containerd, tmp_path):
    src = imagegen.Layout(tmp_path / "src")
    pushed = imagegen.image(src, "v1", layers=2)
    archive = tmp_path / "image.tar"
    with tarfile.open(archive, "w") as t:
        for name in os.listdir(src.root):
            t.add(os.path.join(src.root, name), arcname=name)
    ref = f"{registry.host}/{repo}:v1"
    # containerd assumes plain HTTP for 127.0.0.1; a hosts.toml points it at HTTPS.
    hosts = tmp_path / "hosts" / registry.host
    hosts.mkdir(parents=True)
    (hosts / "hosts.toml").write_text(
        f'server = "{registry.base}"\n[host."{registry.base}"]\n'
        f'  capabilities = ["pull", "resolve", "push"]\n  skip_verify = true\n'
    )
    user = [*creds_flag(creds, "--user"), "--hosts-dir", tmp_path / "hosts"]
    run(*containerd, "images", "import", "--base-name", f"{registry.host}/{repo}", "--digests", archive)
    names = run(*containerd, "images", "ls", "-q").split()
    local = next(n for n in names if n.endswith(":v1") or pushed["digest"] in n)
    run(*containerd, "images", "push", *user, ref, local)
    for n in names:
        run(*containerd, "images", "rm", n)
    run(*containerd, "images", "pull", *user, ref)
    listing = run(*containerd, "images", "ls")
    assert pushed["digest"] in listing, listing


def test_oras_artifact_push_and_pull(registry, creds, repo, tmp_path):
    import oras.client

    # oras-py's token backend keeps the first (pull-only) token for the pushes that follow;
    # Basic auth with the PAT, which the registry accepts on every request, avoids that.
    c = oras.client.OrasClient(hostname=registry.host, tls_verify=False, auth_backend="basic")
    if creds:
        c.login(username=creds[0], password=creds[1], hostname=registry.host, tls_verify=False)
    work = tmp_path / "push"
    work.mkdir()
    artifact = work / "notes.txt"
    artifact.write_bytes(os.urandom(200_000))
    cwd = os.getcwd()
    os.chdir(work)
    try:
        r = c.push(target=f"{registry.host}/{repo}:art", files=["notes.txt:application/x-notes"])
        assert r.status_code == 201, r.text
    finally:
        os.chdir(cwd)
    out = tmp_path / "pull"
    files = c.pull(target=f"{registry.host}/{repo}:art", outdir=str(out))
    assert len(files) == 1
    with open(files[0], "rb") as f:
        assert f.read() == artifact.read_bytes()
