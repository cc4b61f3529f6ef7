"""The README's copy-paste session runs as written, so it cannot go stale."""
import os
import re
import subprocess

from conftest import ADMIN_TOKEN, ROOT
from docker_engine import DOCKER


def session_block():
    """The first shell block under the README's "## A session" heading."""
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    section = readme.split("\n## A session\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_the_readme_session_runs_as_written(registry, docker, tmp_path):
    lines = session_block().splitlines()
    # The registry under test stands in for `make dev`; everything else runs unchanged but
    # for the port: its `127.0.0.1:8787`, and the admin script's target (PORT, ADMIN_TOKEN).
    assert lines[0].startswith("make dev &"), lines[0]
    script = "\n".join(lines[1:]).replace("127.0.0.1:8787", registry.host)
    assert registry.host in script

    # The session pushes an image the reader already has.
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "hello.txt").write_text("hello\n")
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /\n")
    docker.run("build", "-q", "-t", "my-image", ctx)

    # `docker` in the block is the engine's own client.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(DOCKER, bin_dir / "docker")
    env = {**docker.env, "PORT": str(registry.port), "ADMIN_TOKEN": ADMIN_TOKEN,
           "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, f"{script}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    assert "Login Succeeded" in r.stdout
    assert "latest: digest: sha256:" in r.stdout  # the push
    assert "Status: Image is up to date" in r.stdout  # the pull asked the registry
    pushed = docker.run("image", "inspect", "-f", "{{.Id}}", f"{registry.host}/alice/my-image:latest").stdout
    assert pushed == docker.run("image", "inspect", "-f", "{{.Id}}", "my-image").stdout
