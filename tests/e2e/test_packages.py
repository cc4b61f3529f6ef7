"""Package metadata, versions, pages and delete/restore, through real clients and a real
headless Chromium against the Worker under `wrangler dev`."""
import os
import shutil
import socket
import subprocess
import time
import uuid

import pytest
import requests

import imagegen
from client import Client, error_code

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def skopeo_push_all(registry, layout, ref, creds):
    r = subprocess.run(
        ["skopeo", "copy", "--all", "--dest-tls-verify=false", "--dest-creds", f"{creds[0]}:{creds[1]}",
         f"oci:{layout}:v1", f"docker://{registry.host}/{ref}"], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr


@pytest.fixture
def pushed(registry, client, creds, tmp_path):
    """A multi-arch image with the standard labels, pushed by skopeo as NAME:latest."""
    layout = imagegen.Layout(tmp_path / "src")
    imagegen.multi_arch(layout, "v1")
    name = f"e2e/pkg{uuid.uuid4().hex[:10]}"
    skopeo_push_all(registry, layout.root, f"{name}:latest", creds)
    return name


class Browser:
    """Debian's Chromium, headless, driven over the WebDriver protocol by chromedriver."""

    def __init__(self, tmp_path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen([CHROMEDRIVER, f"--port={self.port}"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(self.base + "/status", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                f"--user-data-dir={tmp_path / 'chromium'}"]
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "acceptInsecureCerts": True,
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}}}}
        r = requests.post(self.base + "/session", json=caps, timeout=60)
        assert r.status_code == 200, r.text
        self.session = f"{self.base}/session/{r.json()['value']['sessionId']}"

    def open(self, url):
        r = requests.post(self.session + "/url", json={"url": url}, timeout=60)
        assert r.status_code == 200, r.text

    def run(self, script):
        r = requests.post(self.session + "/execute/sync", json={"script": script, "args": []}, timeout=60)
        assert r.status_code == 200, r.text
        return r.json()["value"]

    def close(self):
        requests.delete(self.session, timeout=10)
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def browser(tmp_path):
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("chromium and chromium-driver are not installed: run scripts/setup.sh (make test does)")
    b = Browser(tmp_path)
    yield b
    b.close()


def test_versions_carry_the_images_metadata(client, pushed):
    r = client.req("GET", f"/api/packages/{pushed}/versions")
    assert r.status_code == 200, r.text
    versions = r.json()
    index = next(v for v in versions if v["tags"] == ["latest"])
    assert index["media_type"] == "application/vnd.oci.image.index.v1+json"
    assert index["platforms"] == ["linux/amd64", "linux/arm64"]
    assert index["metadata"]["description"] == imagegen.LABELS["org.opencontainers.image.description"]
    assert index["metadata"]["licenses"] == "Apache-2.0"
    images = [v for v in versions if v is not index]
    assert sorted(p for v in images for p in v["platforms"]) == ["linux/amd64", "linux/arm64"]
    assert index["size"] > sum(v["size"] for v in images) > 2 * 2 * 64 * 1024, "two images of two 64 KiB layers"


def test_a_public_package_page_in_a_browser(registry, client, pushed, browser):
    assert client.req("PATCH", f"/api/packages/{pushed}", json={"visibility": "public"}).status_code == 200
    browser.open(f"{registry.base}/{pushed}")
    text = browser.run("return document.body.innerText")
    assert imagegen.LABELS["org.opencontainers.image.description"] in text
    assert "Apache-2.0" in text
    assert f"docker pull {registry.host}/{pushed}:latest" in text
    assert "latest" in browser.run("return [...document.querySelectorAll('td.tag')].map(e => e.innerText)")
    assert "linux/arm64" in text
    # The page's own style applies: the Content-Security-Policy allows it and nothing else.
    assert "system-ui" in browser.run("return getComputedStyle(document.body).fontFamily")
    link = browser.run("return document.querySelector('a.source').href")
    assert link == imagegen.LABELS["org.opencontainers.image.source"]
    browser.open(f"{registry.base}/{pushed.split('/')[0]}")
    assert pushed in browser.run("return [...document.querySelectorAll('a')].map(a => a.getAttribute('href')).join(' ')")


def test_a_private_package_page_is_not_found_without_credentials(registry, client, creds, pushed):
    anonymous = Client(registry.base)
    r = anonymous.req("GET", f"/{pushed}")
    assert r.status_code == 404
    assert pushed not in r.text
    r = client.req("GET", f"/{pushed}")
    assert r.status_code == 200
    assert f"docker pull {registry.host}/{pushed}:latest" in r.text


def test_deleted_versions_and_packages_restore_exactly(registry, client, creds, pushed):
    latest = client.req("HEAD", f"/v2/{pushed}/manifests/latest").headers["Docker-Content-Digest"]
    r = client.req("DELETE", f"/api/packages/{pushed}/versions/{latest}")
    assert r.status_code == 202, r.text
    assert error_code(client.req("GET", f"/v2/{pushed}/manifests/latest")) == "MANIFEST_UNKNOWN"
    r = client.req("POST", f"/api/packages/{pushed}/versions/{latest}/restore")
    assert r.status_code == 200, r.text
    assert r.json()["tags"] == ["latest"]
    assert client.req("GET", f"/v2/{pushed}/manifests/latest").headers["Docker-Content-Digest"] == latest

    assert client.req("DELETE", f"/api/packages/{pushed}").status_code == 202
    assert error_code(client.req("GET", f"/v2/{pushed}/tags/list")) == "NAME_UNKNOWN"
    assert client.req("GET", f"/api/packages/{pushed}").status_code == 404
    listed = [p["name"] for p in client.req("GET", f"/api/packages/{creds[0]}").json()]
    assert pushed not in listed
    r = client.req("POST", f"/api/packages/{pushed}/restore")
    assert r.status_code == 200, r.text
    assert r.json()["visibility"] == "private"
    assert client.req("GET", f"/v2/{pushed}/tags/list").json()["tags"] == ["latest"]
    pulled = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", "--creds", f"{creds[0]}:{creds[1]}",
                             f"docker://{registry.host}/{pushed}:latest"], capture_output=True, text=True, timeout=60)
    assert pulled.returncode == 0, pulled.stderr


def test_a_reused_name_does_not_restore(registry, client, creds, tmp_path):
    name = f"e2e/reuse{uuid.uuid4().hex[:8]}"
    for i in range(2):
        layout = imagegen.Layout(tmp_path / f"src{i}")
        imagegen.image(layout, "v1", layers=1)
        skopeo_push_all(registry, layout.root, f"{name}:v1", creds)
        if i == 0:
            assert client.req("DELETE", f"/api/packages/{name}").status_code == 202
    r = client.req("POST", f"/api/packages/{name}/restore")
    assert (r.status_code, error_code(r)) == (409, "CONFLICT")
