"""A real Docker Engine (Debian's docker.io, private to the run) builds, pushes and pulls
through the registry, and shows the registry's refusals to its user."""
import hashlib
import json
import os
import re
import subprocess
import tarfile
import time
import uuid

import pytest

import imagegen
from client import Client

LABELS = imagegen.LABELS


def build(docker, ctx, tag, files, labels=None):
    """`docker build` FROM scratch of `files` (name -> bytes, or a path to copy) with labels."""
    os.makedirs(ctx, exist_ok=True)
    lines = ["FROM scratch"]
    for key, value in (labels or {}).items():
        lines.append(f"LABEL {key}={json.dumps(value)}")
    for name, content in files.items():
        path = os.path.join(ctx, name)
        if isinstance(content, bytes):
            with open(path, "wb") as f:
                f.write(content)
        else:
            os.link(content, path)
        lines.append(f"COPY {name} /{name}")
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("\n".join(lines) + "\n")
    docker.run("build", "-q", "-t", tag, ctx)
    return image_id(docker, tag)


def image_id(docker, ref):
    return docker.run("image", "inspect", "-f", "{{.Id}}", ref).stdout.strip()


def pushed_digest(out):
    """The manifest digest `docker push` prints ("TAG: digest: sha256:... size: N")."""
    return next(w for line in out.splitlines() if "digest:" in line for w in line.split() if w.startswith("sha256:"))


@pytest.fixture
def name():
    return f"e2e/dk{uuid.uuid4().hex[:10]}"


def test_build_login_push_pull_by_tag_and_digest_and_inspect(registry, docker, creds, client, name, tmp_path):
    ref = f"{registry.host}/{name}:v1"
    built = build(docker, tmp_path / "ctx", ref, {"hello.txt": b"hello from docker\n"}, LABELS)
    out = docker.login(registry.host, *creds).stdout
    assert "Login Succeeded" in out
    digest = pushed_digest(docker.run("push", ref).stdout)

    # The labels are what the package page and its API show.
    versions = client.req("GET", f"/api/packages/{name}/versions").json()
    assert [v["digest"] for v in versions] == [digest]
    meta = versions[0]["metadata"]
    assert meta["description"] == LABELS["org.opencontainers.image.description"]
    assert meta["licenses"] == LABELS["org.opencontainers.image.licenses"]
    assert meta["source"] == LABELS["org.opencontainers.image.source"]
    page = client.req("GET", f"/{name}")
    assert page.status_code == 200
    assert LABELS["org.opencontainers.image.description"] in page.text
    assert LABELS["org.opencontainers.image.source"] in page.text

    # The package is private: docker pulls it with the login's credentials.
    docker.run("rmi", ref)
    docker.run("pull", ref)
    assert image_id(docker, ref) == built
    docker.run("pull", f"{registry.host}/{name}@{digest}")
    assert image_id(docker, f"{registry.host}/{name}@{digest}") == built

    manifest = json.loads(docker.run("manifest", "inspect", ref).stdout)
    assert manifest["config"]["digest"] == built
    assert len(manifest["layers"]) == 1


def test_anonymous_pull_of_a_public_image_after_logout(registry, docker, creds, client, name, tmp_path):
    ref = f"{registry.host}/{name}:v1"
    built = build(docker, tmp_path / "ctx", ref, {"public.txt": os.urandom(4096)})
    docker.login(registry.host, *creds)
    docker.run("push", ref)
    assert client.req("PATCH", f"/api/packages/{name}", json={"visibility": "public"}).status_code == 200
    docker.run("logout", registry.host)
    docker.run("rmi", ref)
    docker.run("pull", ref)
    assert image_id(docker, ref) == built


def test_refusals_show_their_reason(registry, admin, docker, creds, name, tmp_path):
    ref = f"{registry.host}/{name}:v1"
    build(docker, tmp_path / "ctx", ref, {"secret.txt": os.urandom(4096)})

    # Not logged in, and logged in with a token that only reads: refused at once (docker
    # would retry a push for about 50 s on an answer it takes for a passing fault).
    denied = "denied: requested access to the resource is denied"
    started = time.monotonic()
    out = docker.fails("push", ref)
    assert denied in out and "Retrying" not in out, out
    login, read_only, _ = admin.user("dkreader", scopes=("read:packages",))
    docker.login(registry.host, login, read_only)
    docker.run("tag", ref, f"{registry.host}/dkreader/app:v1")
    out = docker.fails("push", f"{registry.host}/dkreader/app:v1")
    assert denied in out and "Retrying" not in out, out
    assert time.monotonic() - started < 30

    # A private image is, to an anonymous puller, a repository that may not exist.
    docker.login(registry.host, *creds)
    docker.run("push", ref)
    docker.run("logout", registry.host)
    docker.run("rmi", ref)
    out = docker.fails("pull", ref)
    assert "repository does not exist or may require 'docker login'" in out, out


def test_a_120_mb_layer_in_one_unsized_patch_comes_back_byte_for_byte(registry, docker, creds, name, tmp_path):
    ref = f"{registry.host}/{name}:big"
    big = tmp_path / "big.bin"
    want = imagegen.big_file(big, 120 * 1000 * 1000)
    build(docker, tmp_path / "ctx", ref, {"big.bin": str(big)})
    big.unlink()
    docker.login(registry.host, *creds)
    for _ in range(3):
        # On a loaded machine every one of docker's own five tries can be the request that
        # follows a PATCH over about 10 s, which local `wrangler dev` fails with a 503.
        r = docker.run("push", ref, timeout=600, check=False)
        if r.returncode == 0 or "503 Service Unavailable" not in r.stderr:
            break
    assert r.returncode == 0, r.stdout + r.stderr
    logged = [json.loads(line[line.index("{"):]) for line in registry.log_text().splitlines()
              if name in line and line.lstrip().startswith("{")]
    patches = [entry for entry in logged if entry.get("method") == "PATCH" and entry.get("repository") == name]
    # docker sends each blob (the layer and the config) in one PATCH without a length. (It
    # may send the layer again: local `wrangler dev` fails the request that follows one
    # longer than about 10 s, see the README's Tests.)
    assert len(patches) >= 2 and all(p["status"] == 202 and p["bytes_in"] is None for p in patches), patches

    docker.run("rmi", ref)
    pull_once_more_if_it_hangs(registry, docker, creds, name, "big", ref)
    saved = tmp_path / "saved.tar"
    docker.run("save", "-o", saved, ref, timeout=600)
    with tarfile.open(saved) as t:
        manifest = json.load(t.extractfile("manifest.json"))
        (layer_name,) = manifest[0]["Layers"]
        with tarfile.open(fileobj=t.extractfile(layer_name)) as layer:
            f = layer.extractfile("big.bin")
            h = hashlib.sha256()
            while piece := f.read(4 << 20):
                h.update(piece)
    assert "sha256:" + h.hexdigest() == want


def pull_once_more_if_it_hangs(registry, docker, creds, name, tag, ref, timeout=240):
    """`docker pull ref`, once more if the first hangs. docker sets no deadline of its own,
    and once in a loaded CI run a pull of this size hung after its layer was complete,
    docker waiting on its config blob, while the same pull takes seconds otherwise. The
    likely cause is local `wrangler dev`'s own proxy, which queues a GET it failed to
    forward and sends it again only when another request or a reload comes (deployed
    Workers have no such proxy). What the Worker answered is printed, so that a hang of
    the Worker's own would show; a second hang fails the test."""
    accept = "application/vnd.docker.distribution.manifest.v2+json"
    manifest = Client(registry.base, creds).req("GET", f"/v2/{name}/manifests/{tag}", headers={"Accept": accept}).json()
    blobs = [manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]
    start = len(registry.log_text())
    try:
        docker.run("pull", ref, timeout=timeout)
        return
    except subprocess.TimeoutExpired as hung:
        since = registry.log_text()[start:]
        answered = {d: bool(re.search(rf"GET /v2/{re.escape(name)}/blobs/{d} 200 ", since)) for d in blobs}
        print(f"docker pull {ref} hung after {timeout} s; the Worker answered with 200: {answered}\n"
              f"docker printed: {hung.stdout!r}")
    docker.run("pull", ref, timeout=timeout)


def test_docker_picks_its_platform_from_an_index_pushed_by_skopeo(registry, docker, creds, name, tmp_path):
    src = imagegen.Layout(tmp_path / "src")
    index = imagegen.multi_arch(src, "multi", arches=("arm64", "amd64"))
    children = json.loads(src.read(index["digest"]))["manifests"]
    amd64 = next(c for c in children if c["platform"]["architecture"] == "amd64")
    amd64_config = json.loads(src.read(amd64["digest"]))["config"]["digest"]

    def skopeo_push(tag, *extra):
        subprocess.run(["skopeo", "copy", "--all", "--dest-tls-verify=false", "--dest-creds", f"{creds[0]}:{creds[1]}",
                        *extra, f"oci:{src.root}:multi", f"docker://{registry.host}/{name}:{tag}"],
                       check=True, capture_output=True, timeout=300)

    # The OCI index as it is, and the same images as a Docker manifest list.
    skopeo_push("oci", "--preserve-digests")
    skopeo_push("list", "--format", "v2s2")
    docker.login(registry.host, *creds)
    for tag in ("oci", "list"):
        ref = f"{registry.host}/{name}:{tag}"
        docker.run("pull", ref)
        assert image_id(docker, ref) == amd64_config
        assert docker.run("image", "inspect", "-f", "{{.Architecture}}", ref).stdout.strip() == "amd64"
    # Debian's docker 20.10 client cannot parse OCI manifests in `docker manifest`; the
    # Docker list is what it inspects.
    listed = json.loads(docker.run("manifest", "inspect", f"{registry.host}/{name}:list").stdout)
    assert listed["mediaType"] == "application/vnd.docker.distribution.manifest.list.v2+json"
    assert sorted(m["platform"]["architecture"] for m in listed["manifests"]) == ["amd64", "arm64"]
    # The registry kept the OCI index byte for byte.
    assert Client(registry.base, auth=creds).req(
        "HEAD", f"/v2/{name}/manifests/oci").headers["Docker-Content-Digest"] == index["digest"]
