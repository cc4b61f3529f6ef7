"""The project's own offline image generator: OCI image layouts with random layers."""
import gzip
import hashlib
import io
import json
import os
import tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

LABELS = {
    "org.opencontainers.image.source": "https://example.com/acme/app",
    "org.opencontainers.image.description": "An image made by the test suite",
    "org.opencontainers.image.licenses": "Apache-2.0",
}


class Layout:
    """An OCI image layout directory being written."""

    def __init__(self, root):
        self.root = str(root)
        os.makedirs(os.path.join(self.root, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(self.root, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.refs = []

    def put(self, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with open(self.blob_path(digest), "wb") as f:
            f.write(data)
        return {"digest": digest, "size": len(data)}

    def blob_path(self, digest):
        return os.path.join(self.root, "blobs", "sha256", digest.split(":", 1)[1])

    def read(self, digest):
        with open(self.blob_path(digest), "rb") as f:
            return f.read()

    def tag(self, ref, media_type, desc, platform=None):
        entry = {"mediaType": media_type, **desc, "annotations": {"org.opencontainers.image.ref.name": ref}}
        if platform:
            entry["platform"] = platform
        self.refs.append(entry)
        with open(os.path.join(self.root, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.refs}, f)


def _layer(size, seed):
    """A gzip'd tar holding one file of incompressible bytes; returns (gz, diff_id)."""
    data = os.urandom(size) if seed is None else hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    data = data[:size]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        info = tarfile.TarInfo(f"file-{seed}")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    tar = raw.getvalue()
    return gzip.compress(tar, mtime=0), "sha256:" + hashlib.sha256(tar).hexdigest()


def image(layout, ref, layers=3, layer_size=64 * 1024, arch="amd64", docker=False, tag=True):
    """Writes an image of `layers` random layers; returns its manifest descriptor."""
    mt, ct, lt = (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER) if docker else (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER)
    descs, diff_ids = [], []
    for _ in range(layers):
        gz, diff_id = _layer(layer_size, None)
        descs.append({"mediaType": lt, **layout.put(gz)})
        diff_ids.append(diff_id)
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {"Labels": LABELS, "Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    cdesc = {"mediaType": ct, **layout.put(json.dumps(config).encode())}
    manifest = {"schemaVersion": 2, "mediaType": mt, "config": cdesc, "layers": descs}
    mdesc = layout.put(json.dumps(manifest).encode())
    if tag:
        layout.tag(ref, mt, mdesc, {"architecture": arch, "os": "linux"})
    return {"mediaType": mt, **mdesc, "platform": {"architecture": arch, "os": "linux"}}


def multi_arch(layout, ref, arches=("amd64", "arm64")):
    """An image index over one image per architecture; returns its descriptor."""
    children = [image(layout, ref, layers=2, arch=a, tag=False) for a in arches]
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children, "annotations": LABELS}
    desc = layout.put(json.dumps(index).encode())
    layout.tag(ref, OCI_INDEX, desc)
    return {"mediaType": OCI_INDEX, **desc}


def big_file(path, size):
    """`size` random bytes written to `path` in pieces; returns the sha256 digest."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            piece = os.urandom(min(left, 4 << 20))
            h.update(piece)
            f.write(piece)
            left -= len(piece)
    return "sha256:" + h.hexdigest()


def as_dir(layout, manifest_digest, target):
    """The image as skopeo's `dir:` transport lays it out (keeps Docker media types intact)."""
    os.makedirs(target, exist_ok=True)
    manifest = layout.read(manifest_digest)
    with open(os.path.join(target, "version"), "w") as f:
        f.write("Directory Transport Version: 1.1\n")
    with open(os.path.join(target, "manifest.json"), "wb") as f:
        f.write(manifest)
    m = json.loads(manifest)
    for desc in [m["config"], *m["layers"]]:
        with open(os.path.join(target, desc["digest"].split(":", 1)[1]), "wb") as f:
            f.write(layout.read(desc["digest"]))
    return str(target)
