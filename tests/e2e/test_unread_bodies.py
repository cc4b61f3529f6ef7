"""A request refused before its body is read still gets its answer, whatever the body's size,
and the connection that carried it serves the next request."""
import base64
import http.client
import ssl
import time

import pytest

MIB = 1 << 20
PIECE = bytes(range(256)) * (MIB // 256)


def pieces(size):
    for _ in range(size // MIB):
        yield PIECE


class Connection:
    """One kept-alive HTTPS connection to the registry, as a client library holds it."""

    def __init__(self, registry):
        self.conn = http.client.HTTPSConnection("127.0.0.1", registry.port, timeout=120,
                                                context=ssl._create_unverified_context())

    def send(self, method, path, body=None, headers=None, chunked=False):
        started = time.monotonic()
        self.conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        r = self.conn.getresponse()
        text = r.read().decode(errors="replace")
        return r, text, time.monotonic() - started

    def close(self):
        self.conn.close()


@pytest.fixture
def conn(registry):
    c = Connection(registry)
    yield c
    c.close()


def basic(creds):
    return {"Authorization": "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()}


def start_upload(conn, repo, creds):
    r, text, _ = conn.send("POST", f"/v2/{repo}/blobs/uploads/", headers=basic(creds))
    assert r.status == 202, text
    return r.getheader("Location").removeprefix(f"https://127.0.0.1:{conn.conn.port}")


def same_connection_serves_next(conn, creds):
    sock = conn.conn.sock
    assert sock is not None, "the registry closed the connection"
    r, text, _ = conn.send("GET", "/v2/", headers=basic(creds))
    assert r.status == 200, text
    assert conn.conn.sock is sock, "the next request needed a new connection"


@pytest.mark.parametrize("mib", [5, 50, 200])
def test_an_out_of_order_chunk_is_refused_with_416(conn, repo, creds, mib):
    location = start_upload(conn, repo, creds)
    size = mib * MIB
    headers = {**basic(creds), "Content-Type": "application/octet-stream",
               "Content-Range": f"{MIB}-{MIB + size - 1}", "Content-Length": str(size)}
    r, text, took = conn.send("PATCH", location, body=pieces(size), headers=headers)
    assert r.status == 416, text
    print(f"416 after {mib} MiB in {took:.2f} s")
    same_connection_serves_next(conn, creds)
    # The chunk left the upload as it was: empty.
    r, text, _ = conn.send("GET", location, headers=basic(creds))
    assert r.status == 204 and r.getheader("Range") in (None, "0-0"), (r.status, r.getheaders())


@pytest.mark.parametrize("mib", [5, 50, 200])
def test_a_first_try_without_credentials_is_refused_with_401(conn, repo, creds, mib):
    location = start_upload(conn, repo, creds)
    # docker's first try: no credentials, no length (chunked), the whole layer.
    r, text, took = conn.send("PATCH", location, body=pieces(mib * MIB), chunked=True,
                              headers={"Content-Type": "application/octet-stream"})
    assert r.status == 401, text
    assert r.getheader("WWW-Authenticate", "").startswith("Bearer realm="), r.getheaders()
    print(f"401 after {mib} MiB in {took:.2f} s")
    same_connection_serves_next(conn, creds)
    # The upload is untouched: the retry with credentials starts at byte 0.
    r, text, _ = conn.send("PATCH", location, body=PIECE, headers={**basic(creds), "Content-Range": f"0-{MIB - 1}"})
    assert r.status == 202, text
    assert r.getheader("Range") == f"0-{MIB - 1}"
