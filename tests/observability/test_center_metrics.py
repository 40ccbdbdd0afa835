"""/metrics of a real ``licwiz center serve``: closed without a token or a
separate address, 401 with a wrong token, and values that follow activations,
refusals and locked kits (parsed with prometheus-client's parser); with two
workers a scrape sees both workers' counts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from licwiz.core.owner import OwnerData
from licwiz.core.request import ActivationRequest
from observability.procs import ObservedCenter, scrape, token_file, value
from support.fixtures_center import free_port

OWNER = OwnerData(kind="organisation", organisation="Acme Tools Ltd", contact="Ann Smith",
                  email="ann.smith@acme.example", phone="+44 113 496 0000", country="United Kingdom",
                  postcode="LS1 4AB", region="West Yorkshire", city="Leeds", address="1 Park Row")
PARAMS = {"machine_id": "a1" * 32, "cpu": "b2" * 32, "mac": "c3" * 32, "root_fs": "d4" * 32, "os": "e5" * 32}


def activation(kit: object, pin: str) -> dict[str, object]:
    return ActivationRequest(kit.product, kit.regnum, pin, "first", OWNER, dict(PARAMS)).to_dict()  # type: ignore[attr-defined]


@pytest.fixture
def observed(tmp_path: Path) -> Iterator[ObservedCenter]:
    c = ObservedCenter(tmp_path / "c")
    yield c
    c.stop()


def test_metrics_closed_without_token_or_address(observed: ObservedCenter) -> None:
    observed.start()
    r = httpx.get(f"{observed.url}/metrics")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_metrics_token_counts_activations_refusals_and_latency(observed: ObservedCenter,
                                                               tmp_path: Path) -> None:
    token, path = token_file(tmp_path)
    observed.extra_args += ["--metrics-token-file", str(path)]  # the option the README names
    observed.start()
    url = f"{observed.url}/metrics"
    assert httpx.get(url).status_code == 401
    wrong = httpx.get(url, headers={"Authorization": "Bearer not-the-token-at-all"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthenticated"
    assert wrong.headers["www-authenticate"].startswith("Bearer")

    before = scrape(url, token)
    assert value(before, "licwiz_center_database_up") == 1
    assert value(before, "licwiz_center_kits_locked") == 0
    kit = observed.create_kit(users=1, pins=3)
    ok = httpx.post(f"{observed.url}/api/v1/activate", json=activation(kit, kit.single_pins[0]), timeout=30)
    assert ok.status_code == 200, ok.text
    bad = httpx.post(f"{observed.url}/api/v1/activate", content=b"{not json",
                     headers={"Content-Type": "application/json"})
    assert bad.status_code >= 400
    bad_code = bad.json()["error"]["code"]
    admin = httpx.get(f"{observed.url}/api/v1/admin/kits/{kit.regnum}")  # no admin token: refused
    admin_code = admin.json()["error"]["code"]
    # Wrong PINs on another kit until it locks.
    other = observed.create_kit(users=1, pins=3)
    codes = []
    for _ in range(10):
        r = httpx.post(f"{observed.url}/api/v1/activate", json=activation(other, kit.single_pins[-1]),
                       timeout=30)
        codes.append(r.json()["error"]["code"])
        if codes[-1] == "kit_locked":
            break
    assert codes[-1] == "kit_locked", codes
    after = scrape(url, token)
    assert value(after, "licwiz_center_activations_total", method="online") == 1
    assert value(after, "licwiz_center_refusals_total", code=bad_code) >= 1
    assert value(after, "licwiz_center_refusals_total", code=admin_code) >= 1
    assert value(after, "licwiz_center_kits_locked") == 1
    # Latency by route template, never the raw path.
    assert value(after, "licwiz_center_request_duration_seconds_count", route="/api/v1/activate",
                 method="POST") >= 2
    assert value(after, "licwiz_center_request_duration_seconds_count",
                 route="/api/v1/admin/kits/{regnum}", method="GET") == 1
    assert not any(kit.regnum in dict(labels).get("route", "") for _, labels in after)
    # OpenMetrics when the scraper asks for it.
    om = httpx.get(url, headers={"Authorization": f"Bearer {token}",
                                 "Accept": "application/openmetrics-text; version=1.0.0"})
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert om.text.rstrip().endswith("# EOF")


def test_metrics_address_with_two_workers_sums_every_worker(tmp_path: Path) -> None:
    c = ObservedCenter(tmp_path / "c", workers=2)
    port = free_port()
    c.extra_args = []
    c.extra_env["LICWIZ_CENTER_METRICS_ADDRESS"] = f"127.0.0.1:{port}"
    try:
        c.start()
        # Not on the service's address: only on the metrics one.
        assert httpx.get(f"{c.url}/metrics").status_code == 404
        murl = f"http://127.0.0.1:{port}/metrics"
        kit = c.create_kit(users=1, pins=3)
        n = 12  # new connections: uvicorn's workers share the socket, so both take some
        for _ in range(n):
            with httpx.Client() as client:
                client.post(f"{c.url}/api/v1/activate", content=b"[]",
                            headers={"Content-Type": "application/json"})
        samples = scrape(murl)
        total = sum(v for (name, labels), v in samples.items() if name == "licwiz_center_refusals_total")
        assert total == n
        assert value(samples, "licwiz_center_kits_locked") == 0
        assert kit.regnum
    finally:
        c.stop()


@pytest.mark.parametrize("env", [{"LICWIZ_CENTER_METRICS_TOKEN_FILE": "/nonexistent/token"},
                                 {"LICWIZ_CENTER_METRICS_ADDRESS": "no-port"}])
def test_center_bad_metrics_options_are_one_line(observed: ObservedCenter, env: dict[str, str]) -> None:
    observed.extra_env.update(env)
    with pytest.raises(AssertionError, match="exited"):
        observed.start()
    out = observed.out_path.read_text()
    assert "metrics" in out and "Traceback" not in out, out
