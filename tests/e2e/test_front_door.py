"""The front door over real D1: `/` and `/v2/_catalog` for anonymous callers and users,
and a namespace page of 200 packages in a counted number of round trips."""
import html
import re
import uuid
from concurrent.futures import ThreadPoolExecutor

from client import OCI_MANIFEST, Client, image_manifest
from test_conformance import calls


def test_a_namespace_of_200_packages_the_front_page_and_the_catalog(registry, admin):
    login, token, _ = admin.user("fd" + uuid.uuid4().hex[:8])
    client = Client(registry.base, auth=(login, token))
    config = client.push_blob(f"{login}/p000", b"{}")

    def push(i):
        repo = f"{login}/p{i:03}"
        body = image_manifest(config, [], {"org.opencontainers.image.description": f"package {i}"})
        r = client.req("POST", f"/v2/{repo}/blobs/uploads/", params={"mount": config, "from": f"{login}/p000"})
        assert r.status_code in (201, 202), r.text
        if r.status_code == 202:
            client.push_blob(repo, b"{}")
        assert client.put_manifest(repo, "latest", body, OCI_MANIFEST).status_code == 201
        if i % 2 == 0:
            r = client.req("PATCH", f"/api/packages/{repo}", json={"visibility": "public"})
            assert r.status_code == 200, r.text
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(push, range(200)))

    anonymous = Client(registry.base)
    # The namespace page: its packages with their descriptions, in a few D1 round trips
    # (the account, the packages with the viewer's standing, their current versions).
    r = anonymous.req("GET", f"/{login}")
    assert r.status_code == 200
    assert len(re.findall(r"<li>", r.text)) == 100, "the public half"
    assert "package 198" in r.text and "package 199" not in r.text
    assert calls(r, "d1") <= 3, r.headers["Server-Timing"]
    r = client.req("GET", f"/{login}")
    assert len(re.findall(r"<li>", r.text)) == 200, "the owner sees all"
    assert calls(r, "d1") <= 5, r.headers["Server-Timing"]

    # The front page lists public packages, newest first, with a search by name.
    r = anonymous.req("GET", "/", params={"q": f"{login}/p19"})
    assert r.status_code == 200
    assert f"docker login {registry.host}" in html.unescape(r.text)
    names = re.findall(rf'href="/({login}/p\d+)"', r.text)
    assert sorted(names) == [f"{login}/p{i}" for i in (190, 192, 194, 196, 198)], names
    assert "<script" not in r.text
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]

    # The catalog: public ones for anonymous callers, all of them for the owner, paged.
    def catalog(c, n):
        names, url = [], f"/v2/_catalog?n={n}&last={login}/"
        while url:
            r = c.req("GET", url)
            assert r.status_code == 200, r.text
            page = r.json()["repositories"]
            names += [x for x in page if x.startswith(login + "/")]
            link = r.headers.get("Link")
            # Other tests' repositories follow this user's: stop there.
            url = link[1:link.index(">")] if link and page and page[-1].startswith(login + "/") else None
        return names
    assert catalog(anonymous, 40) == [f"{login}/p{i:03}" for i in range(0, 200, 2)]
    assert catalog(client, 70) == [f"{login}/p{i:03}" for i in range(200)]
