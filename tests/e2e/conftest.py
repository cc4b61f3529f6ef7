"""Starts the built Worker under `wrangler dev` for the end-to-end tests."""
import contextlib
import glob
import json
import os
import signal
import socket
import sqlite3
import subprocess
import uuid

import pytest

from client import Client

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "scripts", "wrangler-dev.sh")
# Secrets of this test instance only, made fresh for each run.
ADMIN_TOKEN = "adm-" + uuid.uuid4().hex
SIGNING_KEY = uuid.uuid4().hex + uuid.uuid4().hex


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """One `wrangler dev` with its own state directory, restartable on the same state."""

    def __init__(self, state, log, extra_vars=()):
        self.state, self.log = str(state), str(log)
        self.extra_vars = [a for kv in extra_vars for a in ("--var", kv)]
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.base = f"https://{self.host}"

    def start(self):
        args = [SCRIPT, "start", str(self.port), self.state, self.log, "https", "--var", "CONTRACT_TESTS:on",
                "--var", f"ADMIN_TOKEN:{ADMIN_TOKEN}", "--var", f"TOKEN_SIGNING_KEY:{SIGNING_KEY}", *self.extra_vars]
        subprocess.run(args, check=True, cwd=ROOT)

    def stop(self):
        subprocess.run([SCRIPT, "stop", self.state], check=True, cwd=ROOT)

    def kill(self):
        """Ends the whole instance at once (SIGKILL), as a crash or an eviction would."""
        with open(os.path.join(self.state, "wrangler.pgid")) as f:
            os.killpg(int(f.read()), signal.SIGKILL)
        os.remove(os.path.join(self.state, "wrangler.pgid"))

    def restart(self):
        self.stop()
        self.start()

    def workerd_pids(self):
        """The workerd processes of this instance (children of its wrangler)."""
        with open(os.path.join(self.state, "wrangler.pgid")) as f:
            pgid = int(f.read())
        pids = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{pid}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if int(fields[2]) == pgid and comm == "workerd":
                pids.append(int(pid))
        return pids

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def answers(self, start=0):
        """The Worker's log lines from character `start` of the log on: one JSON object
        per answer (errors of the server's own are logged as errors, with a prefix)."""
        found = []
        for line in self.log_text()[start:].splitlines():
            if '{"' in line:
                try:  # an error's line ends in terminal colour codes
                    entry, _ = json.JSONDecoder().raw_decode(line[line.index('{"'):])
                except ValueError:
                    continue
                if isinstance(entry, dict) and "status" in entry and "route" in entry:
                    found.append(entry)
        return found

    @contextlib.contextmanager
    def _sqlite(self, kind):
        """A read-only look at the local store's own database (`d1` or `r2`), as the
        Worker wrote it: what a client cannot see, such as rows left behind."""
        object_class = {"d1": "miniflare-D1DatabaseObject", "r2": "miniflare-R2BucketObject"}[kind]
        files = [f for f in glob.glob(os.path.join(self.state, "v3", kind, object_class, "*.sqlite"))
                 if not f.endswith("metadata.sqlite")]
        assert len(files) <= 1, files
        if not files:  # made on first use
            yield None
            return
        db = sqlite3.connect(f"file:{files[0]}?mode=ro", uri=True, timeout=10)
        try:
            tables = {t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            yield db if tables else None  # its schema too is made on first use
        finally:
            db.close()

    def d1_rows(self, sql, *params):
        with self._sqlite("d1") as db:
            assert db is not None, "no local D1 database"
            return db.execute(sql, params).fetchall()

    def r2_multipart(self, key):
        """(state, parts) of each R2 multipart upload of `key`: state 0 is in progress,
        1 completed, 2 aborted; parts counts the parts it still holds."""
        with self._sqlite("r2") as db:
            if db is None:
                return []
            return db.execute("SELECT u.state, (SELECT count(*) FROM _mf_multipart_parts p "
                              "WHERE p.upload_id = u.upload_id) FROM _mf_multipart_uploads u WHERE u.key = ?",
                              (key,)).fetchall()

    def r2_keys(self, prefix):
        with self._sqlite("r2") as db:
            if db is None:
                return []
            return [k for (k,) in db.execute("SELECT key FROM _mf_objects WHERE substr(key, 1, ?) = ?",
                                             (len(prefix), prefix))]


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    if not os.path.exists(os.path.join(ROOT, "build", "index.js")):
        pytest.exit("build/index.js is missing: run `make build` (make test does) first", returncode=2)
    base = tmp_path_factory.mktemp("registry")
    reg = Registry(base / "state", base / "wrangler.log")
    reg.start()
    yield reg
    reg.stop()


class Admin:
    """The operator API of the instance under test."""

    def __init__(self, registry):
        self.client = Client(registry.base)
        self.headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def post(self, path, body):
        return self.client.req("POST", path, json=body, headers=self.headers)

    def put(self, path, body):
        return self.client.req("PUT", path, json=body, headers=self.headers)

    def delete(self, path):
        return self.client.req("DELETE", path, headers=self.headers)

    def user(self, login, scopes=("read:packages", "write:packages", "delete:packages")):
        """Makes the user (if new) and a PAT; returns (login, token, token id)."""
        r = self.post("/admin/users", {"login": login})
        assert r.status_code in (201, 409), r.text
        r = self.post(f"/admin/users/{login}/tokens", {"scopes": list(scopes), "note": "e2e"})
        assert r.status_code == 201, r.text
        return login, r.json()["token"], r.json()["id"]


@pytest.fixture(scope="session")
def admin(registry):
    return Admin(registry)


@pytest.fixture(scope="session")
def creds(admin):
    """The user `e2e` with every scope: repositories under e2e/ are theirs."""
    login, token, _ = admin.user("e2e")
    return (login, token)


@pytest.fixture
def client(registry, creds):
    return Client(registry.base, auth=creds)


@pytest.fixture
def repo():
    """A fresh repository name for one test."""
    return f"e2e/t{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def docker_engine():
    """A private Docker Engine for the whole run, started on first use, stopped at the end."""
    from docker_engine import DockerEngine

    engine = DockerEngine()
    try:
        engine.start()
        yield engine
    finally:
        engine.stop()


@pytest.fixture
def docker(docker_engine, tmp_path):
    """The docker CLI on the private engine, with a config of this test's own (logged out)."""
    return docker_engine.client(tmp_path / "docker-config")
