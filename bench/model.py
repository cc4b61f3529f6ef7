"""`make bench`'s production model: this registry as a deployment far from its data would
be, against the central registry a user would pick instead, in one interleaved run.

The model (every figure an environment variable):
- the edge: this Worker under `wrangler dev`, each D1 query delayed MODEL_D1_MS (60) and
  each R2 operation MODEL_R2_MS (40) (`SIMULATED_D1_MS`/`SIMULATED_R2_MS`), the user
  MODEL_EDGE_RTT_MS (5) away: a delay proxy adds that round trip to every connection and
  every piece of data;
- the central registry: CNCF distribution 2.8 on the same machine with its storage local
  (no delay), the user MODEL_CENTRAL_RTT_MS (60) away through the same proxy.
Bandwidth, packet loss and TCP slow start are not modelled; the proxy's own ceiling (at
0 ms) and how late it delivers at each distance are measured and written with the figures.

Workloads per run (fresh names each run): skopeo push of a 3-layer image with a PAT,
anonymous pull of it once public (cold: first pull at this edge; warm: the same pull by
another client), authenticated pull of a private image, a login; and the same with the
Docker Engine when the e2e suite's private engine is available, with the engine's own
floor (the same pull from distribution with no proxy). Medians of MODEL_RUNS (3).
For each of this registry's pulls it also writes what its Worker did meanwhile (requests,
D1 queries, R2 operations, edge-cache hits, its longest answer), from its log.
Writes MODEL_OUT (default bench/results/model.json)."""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
import imagegen  # noqa: E402

import systems  # noqa: E402
import workloads as w  # noqa: E402
from delay_proxy import DelayProxy, overshoot  # noqa: E402

MIB = 1024 * 1024
D1_MS = int(os.environ.get("MODEL_D1_MS", "60"))
R2_MS = int(os.environ.get("MODEL_R2_MS", "40"))
EDGE_RTT_MS = float(os.environ.get("MODEL_EDGE_RTT_MS", "5"))
CENTRAL_RTT_MS = float(os.environ.get("MODEL_CENTRAL_RTT_MS", "60"))
LAYER_BYTES = int(os.environ.get("MODEL_LAYER_BYTES", str(2 * MIB)))
# The edge's TAG_CACHE_SECONDS (10, as wrangler.toml; 0: every pull by tag reads the tag in D1).
TAG_CACHE_SECONDS = int(os.environ.get("MODEL_TAG_CACHE_SECONDS", "10"))
# MODEL_DOCKER=0 leaves the Docker Engine out.
DOCKER = os.environ.get("MODEL_DOCKER", "1") != "0"

# (metric, target as a ratio edge/central, how the ratio must compare)
TARGETS = [
    ("pull_anonymous_warm_s", 1 / 3, "<="),
    ("pull_anonymous_cold_s", 1.0, "<="),
    ("pull_private_s", 1.0, "<="),
    ("push_3_layers_s", 1.2, "<="),
    ("login_s", None, None),
]


class ModelEdge(systems.EdgeRegistry):
    """This registry with the simulated distance to D1 and R2, reached through a proxy
    that puts the user EDGE_RTT_MS away."""
    name = "edge-model"

    def __init__(self, workdir):
        super().__init__(workdir, name="edge-model",
                         extra=["--var", f"SIMULATED_D1_MS:{D1_MS}", "--var", f"SIMULATED_R2_MS:{R2_MS}",
                                "--var", f"TAG_CACHE_SECONDS:{TAG_CACHE_SECONDS}"])
        self.direct_base = self.base
        self.port = DelayProxy(f"127.0.0.1:{self.port}", EDGE_RTT_MS).start()
        self.host = f"127.0.0.1:{self.port}"
        self.base = self.anonymous_base = f"https://{self.host}"


class CentralRegistry(systems.Distribution):
    """Distribution 2.8, both its instances CENTRAL_RTT_MS away."""
    name = "central"

    def __init__(self, workdir):
        super().__init__(workdir)
        self.host = f"127.0.0.1:{DelayProxy(self.host, CENTRAL_RTT_MS).start()}"
        self.base = f"https://{self.host}"
        self.anonymous_host = f"127.0.0.1:{DelayProxy(f'127.0.0.1:{self.open_port}', CENTRAL_RTT_MS).start()}"
        self.anonymous_base = f"https://{self.anonymous_host}"


def worker_calls(system, during):
    """Runs `during`; returns its result and, for this registry, what its Worker logged
    meanwhile: requests, D1 queries, R2 operations, edge-cache hits, and the Worker's
    longest answer (ms), so that a pull's time can be told from the registry's part in it."""
    if not isinstance(system, ModelEdge):
        return during(), None
    start = len(system.answers())
    result = during()
    time.sleep(0.5)  # wrangler writes a request's log line after its answer
    answers = system.answers()[start:]
    calls = [a.get("calls") or {} for a in answers]
    return result, {
        "requests": len(answers),
        "d1": sum((c.get("d1") or {}).get("count", 0) for c in calls),
        "r2": sum((c.get("r2") or {}).get("count", 0) for c in calls),
        "cache_hits": sum(1 for c in calls if c.get("cache") == "hit"),
        "longest_ms": max((a.get("duration_ms") or 0 for a in answers), default=0),
    }


def anonymous_host(system):
    return system.anonymous_base.split("://", 1)[1]


def make_public(system, repo):
    if isinstance(system, ModelEdge):
        r = requests.patch(f"{system.direct_base}/api/packages/{repo}", json={"visibility": "public"},
                           auth=system.creds, verify=False)
        assert r.status_code == 200, r.text


def skopeo_pull(system, repo, dest, creds=True):
    args = ["--src-tls-verify=false"]
    host = system.host if creds else anonymous_host(system)
    args += ["--src-creds", ":".join(system.creds)] if creds else ["--src-no-creds"]
    seconds, _ = w.skopeo_copy(system, f"{system.name} pull {repo}",
                               lambda attempt: [*args, f"docker://{host}/{repo}:v1", f"oci:{dest}:v1"],
                               before=lambda attempt: shutil.rmtree(dest, ignore_errors=True))
    return seconds


def skopeo_login(system, workdir):
    auth = os.path.join(workdir, "auth.json")
    if os.path.exists(auth):
        os.remove(auth)
    user, password = system.creds
    return w.timed(lambda: subprocess.run(
        ["skopeo", "login", "--tls-verify=false", "--authfile", auth, "-u", user, "--password-stdin", system.host],
        input=password, text=True, check=True, capture_output=True))


def measure_skopeo(system, run, layout, private_layout, workdir, calls):
    ns, figures = system.namespace, {}
    public, private = f"{ns}/m{run}-public", f"{ns}/m{run}-private"
    figures["push_3_layers_s"], public = w.push_image(system, layout, public)
    _, private = w.push_image(system, private_layout, private)
    make_public(system, public)
    pulled = os.path.join(workdir, "pulled")
    for metric, repo, creds in (("pull_anonymous_cold_s", public, False), ("pull_anonymous_warm_s", public, False),
                                ("pull_private_s", private, True)):
        figures[metric], calls[metric] = worker_calls(system, lambda: skopeo_pull(system, repo, pulled, creds=creds))
    figures["login_s"] = skopeo_login(system, workdir)
    return figures


def docker_engine():
    """The e2e suite's private Docker Engine, when this tree has it and docker is installed."""
    try:
        from docker_engine import DockerEngine  # noqa: E402
    except ImportError:
        return None
    engine = DockerEngine()
    try:
        engine.start()
    except RuntimeError as e:
        print(f"no Docker Engine: {e}", flush=True)
        return None
    return engine


def docker_image(engine, workdir, name):
    """A 3-layer image built FROM scratch, tagged `name`, of LAYER_BYTES random layers."""
    context = os.path.join(workdir, "docker-context")
    shutil.rmtree(context, ignore_errors=True)
    os.makedirs(context)
    lines = ["FROM scratch"]
    for i in range(3):
        with open(os.path.join(context, f"layer{i}"), "wb") as f:
            f.write(os.urandom(LAYER_BYTES))
        lines.append(f"COPY layer{i} /layer{i}")
    with open(os.path.join(context, "Dockerfile"), "w") as f:
        f.write("\n".join(lines) + "\n")
    engine.client(os.path.join(workdir, "docker-build")).run("build", "-t", name, context)


def measure_docker(engine, system, run, workdir, calls):
    ns, figures = system.namespace, {}
    config = os.path.join(workdir, f"docker-{system.name}-{run}")
    shutil.rmtree(config, ignore_errors=True)
    docker = engine.client(config)
    public, private = f"{system.host}/{ns}/d{run}-public:v1", f"{system.host}/{ns}/d{run}-private:v1"
    anonymous = f"{anonymous_host(system)}/{ns}/d{run}-public:v1"
    figures["docker_login_s"] = w.timed(lambda: docker.login(system.host, system.creds[0], system.creds[1]))
    docker_image(engine, workdir, public)
    figures["docker_push_3_layers_s"] = w.timed(lambda: docker.run("push", public))
    docker_image(engine, workdir, private)
    docker.run("push", private)
    make_public(system, f"{ns}/d{run}-public")
    for image in (public, private):
        docker.run("rmi", image)

    def pull(metric, image):
        figures[metric], calls[metric] = worker_calls(system, lambda: w.timed(lambda: docker.run("pull", image)))
        docker.run("rmi", image)
    pull("docker_pull_private_s", private)
    docker.run("logout", system.host)
    pull("docker_pull_anonymous_cold_s", anonymous)
    pull("docker_pull_anonymous_warm_s", anonymous)
    if isinstance(system, CentralRegistry):
        # The engine's own floor: the same pull from distribution's open instance with
        # nothing in between (no delay, no proxy), so nearly all that is left is the
        # engine's local work (resolving, verifying, unpacking, committing layers).
        pull("docker_pull_client_floor_s", f"127.0.0.1:{system.open_port}/{ns}/d{run}-public:v1")
    return figures


def proxy_ceiling(target_base, path):
    """What the proxy itself costs, at 0 ms: seconds for 50 sequential GETs on one
    connection and for one GET of `path`, straight and through it."""
    host = target_base.split("://", 1)[1]
    through = f"https://127.0.0.1:{DelayProxy(host, 0).start()}"
    out = {}
    for name, base in (("direct", target_base), ("proxy_0ms", through)):
        s = requests.Session()
        started = time.monotonic()
        for _ in range(50):
            s.get(base + "/v2/", verify=False)
        out[f"{name}_50_gets_s"] = round(time.monotonic() - started, 3)
        started = time.monotonic()
        r = s.get(base + path, verify=False)
        out[f"{name}_large_get_s"] = round(time.monotonic() - started, 3)
        out["large_get_bytes"] = len(r.content)
    return out


def proxied_gets(base):
    """Seconds for 50 sequential GETs on one connection through a delayed proxy: with the
    proxy adding nothing of its own, 50 round trips."""
    s = requests.Session()
    s.get(base + "/v2/", verify=False)
    started = time.monotonic()
    for _ in range(50):
        s.get(base + "/v2/", verify=False)
    return round(time.monotonic() - started, 3)


def median(values):
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def main():
    runs = int(os.environ.get("MODEL_RUNS", "3"))
    out = os.environ.get("MODEL_OUT", os.path.join(systems.ROOT, "bench", "results", "model.json"))
    systems.require_tools()
    workdir = tempfile.mkdtemp(prefix="bench-model-")
    layout = imagegen.Layout(os.path.join(workdir, "public"))
    imagegen.image(layout, "v1", layers=3, layer_size=LAYER_BYTES)
    private_layout = imagegen.Layout(os.path.join(workdir, "private"))
    imagegen.image(private_layout, "v1", layers=3, layer_size=LAYER_BYTES)
    started = [ModelEdge(workdir), CentralRegistry(workdir)]
    edge, central = started
    engine = docker_engine() if DOCKER else None
    raw = {s.name: [] for s in started}
    # What the Worker did during each of this registry's pulls, run by run.
    edge_calls = []
    try:
        for run in range(runs):
            for system in started:
                t = time.monotonic()
                calls = {}
                figures = measure_skopeo(system, run, layout.root, private_layout.root, workdir, calls)
                if engine:
                    figures.update(measure_docker(engine, system, run, workdir, calls))
                raw[system.name].append(figures)
                if system is edge:
                    edge_calls.append(calls)
                print(f"run {run + 1}/{runs} {system.name}: {time.monotonic() - t:.0f} s {figures}", flush=True)
        # The proxy at 0 ms in front of distribution's open instance: a layer and 50 small GETs.
        layer = json.loads(w.manifest_of(layout.root)[1])["layers"][0]["digest"]
        ceiling = proxy_ceiling(f"https://127.0.0.1:{central.open_port}",
                                f"/v2/{central.namespace}/m0-public/blobs/{layer}")
        ceiling["through_proxy_at_60ms_50_gets_s"] = proxied_gets(central.anonymous_base)
        # How late the proxy delivers beyond the model, at each distance (ms, medians).
        ceiling[f"overshoot_at_{EDGE_RTT_MS:g}ms"] = overshoot(EDGE_RTT_MS)
        ceiling[f"overshoot_at_{CENTRAL_RTT_MS:g}ms"] = overshoot(CENTRAL_RTT_MS, connections=4, exchanges=3)
    finally:
        if engine:
            engine.stop()
        for s in started:
            s.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    metrics = sorted({m for rs in raw.values() for figures in rs for m in figures})
    medians = {name: {m: median([r.get(m) for r in rs]) for m in metrics} for name, rs in raw.items()}
    e, c = medians[edge.name], medians[central.name]
    ratios = {m: (round(e[m] / c[m], 3) if e[m] is not None and c[m] else None) for m in metrics}
    targets = {}
    for metric, bound, _ in TARGETS:
        for prefix in ("", "docker_"):
            m = prefix + metric
            if bound is not None and m in ratios:
                targets[f"{m} <= {bound:.2f}x central"] = ratios[m] is not None and ratios[m] <= bound
    print(f"\nmodel: D1 {D1_MS} ms/query, R2 {R2_MS} ms/op, user {EDGE_RTT_MS:g} ms RTT from the edge, "
          f"{CENTRAL_RTT_MS:g} ms RTT from the central registry; {runs} runs, medians")
    print(f"{'median (s)':32} {'edge':>8} {'central':>8} {'edge/central':>13}")
    for m in metrics:
        fmt = lambda x: f"{x:8.3f}" if x is not None else f"{'-':>8}"  # noqa: E731
        print(f"{m:32} {fmt(e[m])} {fmt(c[m])} {fmt(ratios[m]):>13}")
    for name, met in targets.items():
        print(f"{'met ' if met else 'MISSED'} {name}")
    # What each registry adds to a docker pull beyond the engine's own floor.
    floor = c.get("docker_pull_client_floor_s")
    beyond_floor = {}
    for m in ("docker_pull_anonymous_warm_s", "docker_pull_anonymous_cold_s", "docker_pull_private_s"):
        if floor is not None and e.get(m) is not None and c.get(m):
            added = {"edge_s": round(e[m] - floor, 3), "central_s": round(c[m] - floor, 3)}
            added["ratio"] = round(added["edge_s"] / added["central_s"], 3) if added["central_s"] > 0 else None
            beyond_floor[m] = added
            print(f"{m} beyond the engine's floor ({floor:.3f} s): edge {added['edge_s']:.3f} s, "
                  f"central {added['central_s']:.3f} s, ratio {added['ratio']}")
    for metric, during in sorted((edge_calls[-1] if edge_calls else {}).items()):
        print(f"this registry's Worker during {metric} (last run): {during}")
    print(f"proxy ceiling: {ceiling}")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as fh:
        json.dump({"model": {"d1_ms": D1_MS, "r2_ms": R2_MS, "edge_rtt_ms": EDGE_RTT_MS,
                             "central_rtt_ms": CENTRAL_RTT_MS, "layer_bytes": LAYER_BYTES, "runs": runs,
                             "tag_cache_seconds": TAG_CACHE_SECONDS,
                             "docker_engine": engine is not None},
                   "raw": raw, "edge_worker_calls": edge_calls, "medians": medians, "ratios": ratios,
                   "targets": targets, "docker_beyond_client_floor": beyond_floor,
                   "proxy_ceiling": ceiling, "dev_proxy_retries": w.retries, "failures": w.failures}, fh, indent=2)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
