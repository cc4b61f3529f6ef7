"""Starts the built Worker under `wrangler dev` for the end-to-end tests."""
import os
import socket
import subprocess
import uuid

import pytest

from client import Client

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "scripts", "wrangler-dev.sh")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """One `wrangler dev` with its own state directory, restartable on the same state."""

    def __init__(self, state, log):
        self.state, self.log = str(state), str(log)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.base = f"https://{self.host}"

    def start(self):
        args = [SCRIPT, "start", str(self.port), self.state, self.log, "https", "--var", "CONTRACT_TESTS:on"]
        subprocess.run(args, check=True, cwd=ROOT)

    def stop(self):
        subprocess.run([SCRIPT, "stop", self.state], check=True, cwd=ROOT)

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


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    if not os.path.exists(os.path.join(ROOT, "build", "index.js")):
        pytest.exit("build/index.js is missing: run `make build` (make test does) first", returncode=2)
    base = tmp_path_factory.mktemp("registry")
    reg = Registry(base / "state", base / "wrangler.log")
    reg.start()
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def creds(registry):
    """Credentials for pushes, as (user, token), or None while the registry runs open."""
    return None


@pytest.fixture
def client(registry, creds):
    return Client(registry.base, auth=creds)


@pytest.fixture
def repo():
    """A fresh repository name for one test."""
    return f"e2e/t{uuid.uuid4().hex[:12]}"
