"""The three systems `make bench` compares, each started fresh on loopback over HTTPS:
this registry under `wrangler dev`, CNCF distribution 2.8 (Debian's docker-registry), and
the storage floor (a bare Worker answering the same requests with only their R2 work)."""
import base64
import json
import os
import shutil
import socket
import subprocess
import time
import uuid

import requests
import urllib3

urllib3.disable_warnings()

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
WRANGLER_DEV = os.path.join(ROOT, "scripts", "wrangler-dev.sh")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, verify=False, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def group_pids(pgid, names):
    """Processes of a process group whose command name is in `names`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if int(fields[2]) == pgid and comm in names:
            found.append(int(pid))
    return found


class Wrangler:
    """A Worker under `wrangler dev --local-protocol https` with its own state."""

    def __init__(self, workdir, name, extra):
        self.state = os.path.join(workdir, name)
        self.log = os.path.join(workdir, f"{name}.log")
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.base = f"https://{self.host}"
        subprocess.run([WRANGLER_DEV, "start", str(self.port), self.state, self.log, "https", *extra],
                       check=True, cwd=ROOT)

    def pids(self):
        with open(os.path.join(self.state, "wrangler.pgid")) as f:
            return group_pids(int(f.read()), {"workerd"})

    def answers(self):
        """The Worker's log of its answers: one JSON object per request it answered."""
        found = []
        with open(self.log, errors="replace") as f:
            for line in f:
                if '{"' in line and '"status":' in line:
                    try:  # a 5xx is logged as an error, its line ending in terminal colour codes
                        found.append(json.JSONDecoder().raw_decode(line[line.index('{"'):])[0])
                    except ValueError:
                        pass
        return found

    def worker_503s(self):
        """How many 503s the Worker itself has answered; the dev proxy's restart 503 never
        reaches it, so is not among them."""
        return sum(1 for a in self.answers() if a.get("status") == 503)

    def stop(self):
        subprocess.run([WRANGLER_DEV, "stop", self.state], check=True, cwd=ROOT)


class EdgeRegistry(Wrangler):
    """This registry, with a user `bench` and a PAT with every scope."""
    name = "edge-registry"

    def __init__(self, workdir, name="edge", extra=()):
        self.admin_token = "adm-" + uuid.uuid4().hex
        super().__init__(workdir, name, ["--var", f"ADMIN_TOKEN:{self.admin_token}",
                                         "--var", f"TOKEN_SIGNING_KEY:{uuid.uuid4().hex * 2}", *extra])
        admin = {"Authorization": f"Bearer {self.admin_token}"}
        r = requests.post(self.base + "/admin/users", json={"login": "bench"}, headers=admin, verify=False)
        assert r.status_code in (201, 409), r.text
        r = requests.post(self.base + "/admin/users/bench/tokens", headers=admin, verify=False,
                          json={"scopes": ["read:packages", "write:packages", "delete:packages"]})
        assert r.status_code == 201, r.text
        self.creds = ("bench", r.json()["token"])
        self.namespace = "bench"

    def blobs_stored(self, repo):
        """Uploads into `repo` the registry closed (201 to a PUT on an upload)."""
        return sum(1 for a in self.answers() if (a.get("method"), a.get("route"), a.get("repository"),
                                                  a.get("status")) == ("PUT", "upload", repo, 201))

    def make_public(self, repo):
        r = requests.patch(f"{self.base}/api/packages/{repo}", json={"visibility": "public"},
                           auth=self.creds, verify=False)
        assert r.status_code == 200, r.text

    def pull_authorization(self, repo):
        """What docker sends after the token dance: a registry token for pulling `repo`."""
        r = requests.get(f"{self.base}/token", params={"service": self.host, "scope": f"repository:{repo}:pull"},
                         auth=self.creds, verify=False)
        assert r.status_code == 200, r.text
        return f"Bearer {r.json()['token']}"


class Distribution:
    """CNCF distribution 2.8 from Debian, as two processes over one filesystem store: one
    with htpasswd basic auth (pushes, authenticated reads) and one without (anonymous)."""
    name = "distribution"

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "distribution")
        os.makedirs(self.dir, exist_ok=True)
        self.cert, self.key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", self.key,
                        "-out", self.cert], check=True, capture_output=True)
        password = uuid.uuid4().hex
        htpasswd = subprocess.run(["htpasswd", "-Bbn", "bench", password], check=True, capture_output=True,
                                  text=True).stdout
        with open(os.path.join(self.dir, "htpasswd"), "w") as f:
            f.write(htpasswd)
        self.creds = ("bench", password)
        self.namespace = "bench"
        self.storage = os.path.join(self.dir, "storage")
        self.auth_proc, self.auth_port = self._start("auth", True)
        self.open_proc, self.open_port = self._start("open", False)
        self.host = f"127.0.0.1:{self.auth_port}"
        self.base = f"https://{self.host}"
        self.anonymous_base = f"https://127.0.0.1:{self.open_port}"

    def _start(self, name, auth):
        port = free_port()
        lines = ["version: 0.1", "log:", "  level: error", "storage:", "  filesystem:",
                 f"    rootdirectory: {self.storage}", "  delete:", "    enabled: true",
                 "http:", f"  addr: 127.0.0.1:{port}", "  tls:", f"    certificate: {self.cert}", f"    key: {self.key}"]
        if auth:
            lines += ["auth:", "  htpasswd:", "    realm: bench", f"    path: {os.path.join(self.dir, 'htpasswd')}"]
        config = os.path.join(self.dir, f"{name}.yml")
        with open(config, "w") as f:
            f.write("\n".join(lines) + "\n")
        log = open(os.path.join(self.dir, f"{name}.log"), "w")
        proc = subprocess.Popen(["docker-registry", "serve", config], stdout=log, stderr=subprocess.STDOUT)
        wait_until_up(f"https://127.0.0.1:{port}/v2/")
        return proc, port

    def make_public(self, repo):
        pass  # the open instance serves every repository anonymously

    def pull_authorization(self, repo):
        return "Basic " + base64.b64encode(f"{self.creds[0]}:{self.creds[1]}".encode()).decode()

    def pids(self):
        return [self.auth_proc.pid]

    def worker_503s(self):
        return None  # no dev proxy in front: any 503 is distribution's own

    def blobs_stored(self, repo):
        return None  # not logged (nor needed: without a dev proxy nothing is retried)

    def stop(self):
        for p in (self.auth_proc, self.open_proc):
            p.terminate()
            p.wait(timeout=10)


class Floor(Wrangler):
    """bench/floor: the push and pull requests of the distribution API with nothing but
    their storage work (R2 in 5 MiB multipart parts), no authentication: driven by the
    same clients, with the same requests, as the registry."""
    name = "floor"

    def __init__(self, workdir):
        super().__init__(workdir, "floor", ["--config", os.path.join(ROOT, "bench", "floor", "wrangler.toml")])
        self.creds = ("bench", "unused")  # sent by the clients, ignored by the floor
        self.namespace = "bench"

    def blobs_stored(self, repo):
        """Uploads into `repo` the floor closed (201 to a PUT on an upload)."""
        prefix = f"/v2/{repo}/blobs/uploads/"
        return sum(1 for a in self.answers()
                   if a.get("method") == "PUT" and a.get("path", "").startswith(prefix) and a.get("status") == 201)

    def make_public(self, repo):
        pass  # everything is public

    def pull_authorization(self, repo):
        return None  # no authentication: its "authenticated" figures are the same requests again


def require_tools():
    """What the bench needs beyond `make setup`: distribution, htpasswd, wrk."""
    missing = [p for p, tool in (("docker-registry", "docker-registry"), ("apache2-utils", "htpasswd"),
                                 ("wrk", "wrk")) if not shutil.which(tool)]
    if missing:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env, stdout=subprocess.DEVNULL)
