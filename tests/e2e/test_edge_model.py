"""The edge model: `SIMULATED_D1_MS` / `SIMULATED_R2_MS` make each D1 query and R2
operation of a local run take as long as a deployment far from its data would, and a
deployed configuration refuses them."""
import time
import uuid

import pytest
import requests

from conftest import Registry

# Far above what a request costs locally, even on a loaded machine.
D1_MS, R2_MS = 400, 200


@pytest.fixture(scope="module")
def modelled(tmp_path_factory):
    base = tmp_path_factory.mktemp("modelled")
    reg = Registry(base / "state", base / "wrangler.log",
                   extra_vars=(f"SIMULATED_D1_MS:{D1_MS}", f"SIMULATED_R2_MS:{R2_MS}"))
    reg.start()
    yield reg
    reg.stop()


def timed_get(url, session=requests, **kw):
    started = time.monotonic()
    r = session.get(url, verify=False, **kw)
    return r, (time.monotonic() - started) * 1000


def test_each_d1_query_waits_the_simulated_latency(modelled, registry):
    # An anonymous look at a repository nobody asked about reads its package once.
    r, slow = timed_get(f"{modelled.base}/v2/e2e/m{uuid.uuid4().hex[:10]}/tags/list")
    assert r.status_code == 401, r.text
    assert "d1;count=1;" in r.headers["Server-Timing"] and slow >= D1_MS
    # The same request without the model answers well within one simulated query.
    session = requests.Session()
    fast = min(timed_get(f"{registry.base}/v2/e2e/m{uuid.uuid4().hex[:10]}/tags/list", session)[1] for _ in range(3))
    assert fast < D1_MS, fast


def test_a_deployed_configuration_refuses_the_model(modelled):
    # A deployment is addressed by its own host name, never a loopback one.
    r = requests.get(f"{modelled.base}/v2/", headers={"Host": "registry.example.com"}, verify=False)
    assert r.status_code == 500
    # The log line is written by wrangler after the answer; wait for it a little.
    deadline = time.monotonic() + 10
    while "not a loopback address" not in modelled.log_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "not a loopback address" in modelled.log_text()
    # Addressed as under `wrangler dev`, the same instance serves.
    assert requests.get(f"{modelled.base}/v2/", verify=False).status_code == 401
