"""A private Docker Engine (Debian's docker.io) for the tests: its own containerd, socket,
data and exec roots, so it never touches a daemon the developer runs.

Debian's own client (`/usr/bin/docker`, the daemon's version) drives it; a newer client
elsewhere on PATH works too but warns that the legacy builder is deprecated. Each user of
the engine passes its own DOCKER_CONFIG, so logins never leak from one test to another.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time

DOCKERD = "/usr/sbin/dockerd"
DOCKER = "/usr/bin/docker"
CONTAINERD = "/usr/bin/containerd"


def _wait_for(path, proc, log, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            with open(log, errors="replace") as f:
                raise RuntimeError(f"{what} did not start:\n{f.read()[-3000:]}")
        time.sleep(0.05)


def _stop(proc, timeout=20):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class DockerEngine:
    """dockerd without networking (nothing runs in containers here: images are built
    `FROM scratch`), on the vfs storage driver, which needs no kernel mounts."""

    def __init__(self):
        # Unix socket paths are limited to 108 bytes: keep the root short.
        self.root = tempfile.mkdtemp(prefix="dk", dir="/tmp")
        self.sock = os.path.join(self.root, "docker.sock")
        self.host = f"unix://{self.sock}"
        self.log = os.path.join(self.root, "dockerd.log")
        self.procs, self.logs = [], []

    def _spawn(self, args, log):
        out = open(log, "w")
        self.logs.append(out)
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def start(self):
        if not (os.path.exists(DOCKERD) and os.path.exists(DOCKER)):
            raise RuntimeError("docker.io is not installed: run scripts/setup.sh (make test does)")
        r = self.root
        ctd_sock = os.path.join(r, "containerd.sock")
        with open(os.path.join(r, "containerd.toml"), "w") as f:
            f.write(f'version = 2\nroot = "{r}/containerd-root"\nstate = "{r}/containerd-state"\n'
                    f'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                    f'[grpc]\n  address = "{ctd_sock}"\n[ttrpc]\n  address = "{ctd_sock}.ttrpc"\n')
        with open(os.path.join(r, "daemon.json"), "w") as f:
            f.write("{}\n")  # not /etc/docker/daemon.json
        ctd_log = os.path.join(r, "containerd.log")
        ctd = self._spawn([CONTAINERD, "--config", f"{r}/containerd.toml"], ctd_log)
        _wait_for(ctd_sock, ctd, ctd_log, "containerd")
        dockerd = self._spawn(
            [DOCKERD, "--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs",
             "--data-root", f"{r}/data", "--exec-root", f"{r}/exec", "-H", self.host,
             "--pidfile", f"{r}/docker.pid", "--config-file", f"{r}/daemon.json", "--containerd", ctd_sock],
            self.log)
        _wait_for(self.sock, dockerd, self.log, "dockerd")

    def stop(self):
        for proc in reversed(self.procs):
            _stop(proc)
        for f in self.logs:
            f.close()
        self.procs, self.logs = [], []
        shutil.rmtree(self.root, ignore_errors=True)

    def client(self, config_dir):
        return DockerClient(self, config_dir)


class DockerClient:
    """The docker CLI against the private engine with its own config (credentials) folder."""

    def __init__(self, engine, config_dir):
        os.makedirs(config_dir, exist_ok=True)
        self.env = {**os.environ, "DOCKER_HOST": engine.host, "DOCKER_CONFIG": str(config_dir)}

    def run(self, *args, input=None, timeout=300, check=True):
        """Runs `docker ARGS`; returns the completed process (stdout and stderr as text)."""
        r = subprocess.run([DOCKER, *map(str, args)], input=input, capture_output=True, text=True,
                           env=self.env, timeout=timeout)
        if check:
            assert r.returncode == 0, f"docker {' '.join(map(str, args))}\nstdout: {r.stdout}\nstderr: {r.stderr}"
        return r

    def fails(self, *args, **kw):
        """Runs a docker command that must fail; returns what docker printed."""
        r = self.run(*args, check=False, **kw)
        assert r.returncode != 0, f"docker {' '.join(map(str, args))} succeeded:\n{r.stdout}"
        return r.stdout + r.stderr

    def login(self, host, user, token):
        return self.run("login", host, "-u", user, "--password-stdin", input=token)
