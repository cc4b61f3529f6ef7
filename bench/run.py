"""`make bench`: this registry against CNCF distribution 2.8 and against the storage floor,
in one interleaved run on loopback. Prints medians and ratios and writes them, with every
raw figure, to BENCH_OUT (default bench/results/latest.json). BENCH_RUNS sets the repeats
(default 3). Targets are reported, not enforced: the figures are the product."""
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
import imagegen  # noqa: E402

import systems  # noqa: E402
import workloads as w  # noqa: E402

MIB = 1024 * 1024
# (metric, what is better) for the table.
METRICS = [
    ("push_3x16MiB_s", "lower"), ("pull_3x16MiB_s", "lower"),
    ("push_200MiB_s", "lower"), ("pull_200MiB_s", "lower"), ("docker_push_200MiB_s", "lower"),
    ("peak_rss_200MiB_push_MB", "lower"),
    ("seq200_manifest_anonymous_s", "lower"), ("seq200_manifest_auth_s", "lower"),
    ("load_anonymous_rps", "higher"), ("load_anonymous_p99_ms", "lower"),
    ("load_auth_rps", "higher"), ("load_auth_p99_ms", "lower"),
    # The same load on the cheapest answer a server has (`/v2/`: this registry's and
    # distribution's 401, the floor's 200): the ceiling of the server and its runtime here.
    ("load_ceiling_rps", "higher"),
]


def make_images(workdir):
    small = imagegen.Layout(os.path.join(workdir, "small"))
    imagegen.image(small, "v1", layers=3, layer_size=16 * MIB)
    big = imagegen.Layout(os.path.join(workdir, "big"))
    imagegen.image(big, "v1", layers=1, layer_size=200 * MIB)
    raw = os.path.join(workdir, "raw")
    os.makedirs(raw, exist_ok=True)
    tmp = os.path.join(raw, "layer")
    d = imagegen.big_file(tmp, 200 * MIB)
    layer = os.path.join(raw, d.split(":")[1])
    os.rename(tmp, layer)
    return small.root, big.root, layer


def measure(system, run, small, big, layer, workdir):
    """One run of every workload against one system, each with the same client and requests."""
    ns, figures = system.namespace, {}
    small_repo, big_repo, docker_repo = f"{ns}/r{run}-small", f"{ns}/r{run}-big", f"{ns}/r{run}-docker"
    figures["push_3x16MiB_s"], small_repo = w.push_image(system, small, small_repo)
    figures["pull_3x16MiB_s"] = w.pull_image(system, small_repo, os.path.join(workdir, "pulled"))
    with w.PeakMemory(system) as memory:
        figures["push_200MiB_s"], big_repo = w.push_image(system, big, big_repo)
    figures["peak_rss_200MiB_push_MB"] = memory.peak
    figures["pull_200MiB_s"] = w.pull_image(system, big_repo, os.path.join(workdir, "pulled"))
    figures["docker_push_200MiB_s"] = w.docker_style_push(system, docker_repo, layer)

    w.settle(system.base)
    digest, _ = w.manifest_of(small)
    system.make_public(small_repo)
    anonymous_base = getattr(system, "anonymous_base", system.base)
    anonymous = f"{anonymous_base}/v2/{small_repo}/manifests/{digest}"
    authorized = f"{system.base}/v2/{small_repo}/manifests/{digest}"
    authorization = system.pull_authorization(small_repo)
    w.sequential_gets(anonymous, count=5)  # warm: the first answer fills the edge cache
    figures["seq200_manifest_anonymous_s"] = w.sequential_gets(anonymous)
    figures["seq200_manifest_auth_s"] = w.sequential_gets(authorized, authorization)
    load = w.wrk(anonymous)
    figures["load_anonymous_rps"], figures["load_anonymous_p99_ms"] = load["rps"], load["p99_ms"]
    load = w.wrk(authorized, authorization)
    figures["load_auth_rps"], figures["load_auth_p99_ms"] = load["rps"], load["p99_ms"]
    figures["load_ceiling_rps"] = w.wrk(f"{system.base}/v2/", any_status=True)["rps"]
    return figures


def bundle_size():
    """The deployable bundle's size from `wrangler deploy --dry-run` (KiB, KiB gzipped)."""
    out = subprocess.run([os.path.join(systems.ROOT, "node_modules", ".bin", "wrangler"), "deploy", "--dry-run",
                          "--outdir", os.path.join(systems.ROOT, "dist")], capture_output=True, text=True,
                         cwd=systems.ROOT).stdout
    m = re.search(r"Total Upload: ([\d.]+) KiB / gzip: ([\d.]+) KiB", out)
    return (float(m.group(1)), float(m.group(2))) if m else (None, None)


def median(figures):
    """The median of the figures a run produced (a push the dev proxy broke has none)."""
    present = [x for x in figures if x is not None]
    return statistics.median(present) if present else None


def passed(ratio_, test):
    return ratio_ is not None and test(ratio_)


def fmt(x, width):
    return f"{x:{width}.2f}" if x is not None else f"{'-':>{width}}"


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def machine():
    """Where and when the figures were measured."""
    def first(path, prefix):
        with open(path) as f:
            return next((l.split(":", 1)[1].strip() for l in f if l.startswith(prefix)), None)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=systems.ROOT).stdout
    return {"date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpus": os.cpu_count(),
            "cpu": first("/proc/cpuinfo", "model name"), "memory": first("/proc/meminfo", "MemTotal"),
            "kernel": os.uname().release, "load_average_at_start": os.getloadavg(), "commit": commit.strip(),
            "skopeo": subprocess.run(["skopeo", "--version"], capture_output=True, text=True).stdout.strip()}


def main():
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    where = machine()
    bench_started = time.monotonic()
    out = os.environ.get("BENCH_OUT", os.path.join(systems.ROOT, "bench", "results", "latest.json"))
    systems.require_tools()
    workdir = tempfile.mkdtemp(prefix="bench-")
    print(f"bench: {runs} runs; images in {workdir}", flush=True)
    small, big, layer = make_images(workdir)
    started = [systems.EdgeRegistry(workdir), systems.Distribution(workdir), systems.Floor(workdir)]
    edge, dist, floor = started
    raw = {s.name: [] for s in started}
    try:
        for run in range(runs):
            for system in started:
                t = time.monotonic()
                figures = measure(system, run, small, big, layer, workdir)
                raw[system.name].append(figures)
                print(f"run {run + 1}/{runs} {system.name}: {time.monotonic() - t:.0f} s", flush=True)
    finally:
        for s in started:
            s.stop()
        shutil.rmtree(workdir, ignore_errors=True)  # about 3 GB of images and stored blobs

    medians = {name: {m: median([r[m] for r in runs_]) for m, _ in METRICS} for name, runs_ in raw.items()}
    e, d, f = medians[edge.name], medians[dist.name], medians[floor.name]
    ratios = {m: {"vs_distribution": ratio(e[m], d[m]), "vs_floor": ratio(e[m], f[m])} for m, _ in METRICS}
    total_kib, gzip_kib = bundle_size()
    targets = {
        "pull_200MiB <= 1.0x distribution": passed(ratios["pull_200MiB_s"]["vs_distribution"], lambda r: r <= 1.0),
        "pull_200MiB <= 1.3x floor": passed(ratios["pull_200MiB_s"]["vs_floor"], lambda r: r <= 1.3),
        "push_200MiB <= 1.3x floor": passed(ratios["push_200MiB_s"]["vs_floor"], lambda r: r <= 1.3),
        "anonymous load >= 1.5x distribution rps":
            passed(ratios["load_anonymous_rps"]["vs_distribution"], lambda r: r >= 1.5),
        "anonymous load p99 <= distribution":
            passed(ratios["load_anonymous_p99_ms"]["vs_distribution"], lambda r: r <= 1.0),
        "authenticated load >= 1.0x distribution rps":
            passed(ratios["load_auth_rps"]["vs_distribution"], lambda r: r >= 1.0),
        "bundle < 1 MiB gzipped": gzip_kib is not None and gzip_kib < 1024,
        # The local figures the production model must not cost: the big transfers as fast
        # as the floor Worker, manifest load near workerd's own ceiling (its cheapest answer).
        "pull_200MiB <= 1.0x floor": passed(ratios["pull_200MiB_s"]["vs_floor"], lambda r: r <= 1.0),
        "push_200MiB <= 1.0x floor": passed(ratios["push_200MiB_s"]["vs_floor"], lambda r: r <= 1.0),
        "anonymous manifest load >= 0.9x this Worker's ceiling":
            passed(ratio(e["load_anonymous_rps"], e["load_ceiling_rps"]), lambda r: r >= 0.9),
    }

    print(f"\n{'median':32} {'edge-registry':>14} {'distribution':>13} {'floor':>9} {'/dist':>7} {'/floor':>7}")
    for m, _ in METRICS:
        print(f"{m:32} {fmt(e[m], 14)} {fmt(d[m], 13)} {fmt(f[m], 9)} {fmt(ratios[m]['vs_distribution'], 7)} "
              f"{fmt(ratios[m]['vs_floor'], 7)}")
    print(f"\nbundle: {total_kib} KiB, {gzip_kib} KiB gzipped")
    for name, met in targets.items():
        print(f"{'met ' if met else 'MISSED'} {name}")
    print(f"\nrequests retried after the dev proxy's restart 503: {len(w.retries)}")
    for retry in w.retries:
        print(f"  {retry['what']}: {retry['error'][:120]}")
    print(f"copies that failed otherwise (no figure): {len(w.failures)}")
    for failure in w.failures:
        print(f"  {failure['what']}: {failure['error'][-200:]}")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as fh:
        json.dump({"machine": where, "duration_s": round(time.monotonic() - bench_started), "runs": runs, "raw": raw, "medians": medians, "ratios": ratios,
                   "bundle_kib": {"total": total_kib, "gzip": gzip_kib}, "targets": targets,
                   "dev_proxy_retries": w.retries, "failures": w.failures}, fh, indent=2)
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
