"""The R2 and D1 adapters keep the same contract as the in-memory ports."""


def test_ports_over_real_bindings_keep_the_contract(admin):
    r = admin.client.req("POST", "/_contract", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["failures"] == []
