"""A small registry client of the project's own, for raw protocol tests."""
import hashlib
import json
import urllib3

import requests

urllib3.disable_warnings()


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Client:
    def __init__(self, base, auth=None):
        self.base = base
        self.s = requests.Session()
        self.s.verify = False
        self.s.auth = auth

    def req(self, method, path, **kw):
        url = path if path.startswith("http") else self.base + path
        # Per request: a session-wide verify=False loses to REQUESTS_CA_BUNDLE in the environment.
        kw.setdefault("verify", False)
        # A registry that stops answering fails the test rather than hanging the suite.
        kw.setdefault("timeout", 120)
        replayable = isinstance(kw.get("data"), (bytes, str, type(None)))  # not a streamed body
        for _ in range(3):
            r = self.s.request(method, url, **kw)
            # Local `wrangler dev` fails the request that follows one longer than about 10 s
            # with this 503, before the Worker sees it (deployed Workers have no such proxy);
            # it retries GET and HEAD itself. Send a replayable request again.
            if not (r.status_code == 503 and "restarted mid-request" in r.text and replayable):
                return r
        return r

    def start(self, repo):
        r = self.req("POST", f"/v2/{repo}/blobs/uploads/")
        assert r.status_code == 202, r.text
        return r.headers["Location"]

    def push_blob(self, repo, data):
        d = digest(data)
        r = self.req("POST", f"/v2/{repo}/blobs/uploads/", params={"digest": d}, data=data)
        assert r.status_code == 201, r.text
        return d

    def put_manifest(self, repo, ref, body, media_type):
        return self.req("PUT", f"/v2/{repo}/manifests/{ref}", data=body, headers={"Content-Type": media_type})


OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def image_manifest(config, layers, annotations=None):
    """The bytes of an OCI image manifest over blobs already pushed: the config `{}` and
    `layers`, a list of (digest, size)."""
    manifest = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": n} for d, n in layers],
    }
    if annotations:
        manifest["annotations"] = annotations
    return json.dumps(manifest).encode()


def error_code(resp):
    try:
        return resp.json()["errors"][0]["code"]
    except Exception:  # noqa: BLE001 - a non-JSON body has no code
        return None
