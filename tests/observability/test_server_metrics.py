"""/metrics of a real ``licwiz server serve``: closed by default, 401 with a
wrong token; seats in use and capacity by product read at scrape time, claims
granted and denied, leases lost (parsed with prometheus-client's parser), and
the same on a separate --metrics-address."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from observability.procs import scrape, token_file, value
from support.fixtures_center import free_port
from support.fixtures_server import LicenseServer, SeatLicenses, licwiz_cmd

PRODUCT = "licwiz-demo"


def _claim(url: str, token: str, session: str) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/seats", json={"session": session, "host": "h1", "user": "ann",
                                                   "product": PRODUCT},
                      headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _install(srv: LicenseServer, url: str, seat_licenses: SeatLicenses, users: int) -> None:
    _, text = seat_licenses.make(users, product=PRODUCT)
    r = httpx.post(f"{url}/api/v1/licenses", json={"license": text},
                   headers={"Authorization": f"Bearer {srv.admin_token}"}, timeout=30)
    assert r.status_code == 201, r.text


def test_server_metrics_closed_by_default(
        license_server_factory: Callable[[str | None], LicenseServer]) -> None:
    srv = license_server_factory(None)
    sp = srv.start()
    assert httpx.get(f"{sp.url}/metrics").status_code == 404


def test_server_metrics_follow_claims(license_server_factory: Callable[[str | None], LicenseServer],
                                      seat_licenses: SeatLicenses, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    token, path = token_file(tmp_path)
    monkeypatch.setenv("LICWIZ_SERVER_METRICS_TOKEN_FILE", str(path))
    srv = license_server_factory(None)
    sp = srv.start()
    url = f"{sp.url}/metrics"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong-token-wrong-token"}).status_code == 401
    _install(srv, sp.url, seat_licenses, users=2)
    before = scrape(url, token)
    assert value(before, "licwiz_server_seats_capacity", product=PRODUCT) == 2
    assert value(before, "licwiz_server_seats_in_use", product=PRODUCT) == 0
    assert _claim(sp.url, srv.client_token, "s1").status_code == 201
    seat = _claim(sp.url, srv.client_token, "s2").json()["seat_id"]
    assert _claim(sp.url, srv.client_token, "s3").status_code == 409
    released = httpx.delete(f"{sp.url}/api/v1/seats/{seat}",
                            headers={"Authorization": f"Bearer {srv.client_token}"})
    assert released.status_code == 200
    lost = httpx.post(f"{sp.url}/api/v1/seats/{seat}/heartbeat",
                      headers={"Authorization": f"Bearer {srv.client_token}"})
    assert lost.status_code == 404
    after = scrape(url, token)
    assert value(after, "licwiz_server_seats_in_use", product=PRODUCT) == 1
    assert value(after, "licwiz_server_claims_total", result="granted") == 2
    assert value(after, "licwiz_server_claims_total", result="denied") == 1
    assert value(after, "licwiz_server_leases_lost_total") == 1
    assert value(after, "licwiz_server_refusals_total", code="no_seat") == 1
    assert value(after, "licwiz_server_request_duration_seconds_count",
                 route="/api/v1/seats/{seat_id:str}/heartbeat", method="POST") == 1
    assert not any(seat in dict(labels).get("route", "") for _, labels in after)


def test_server_metrics_address(license_server_factory: Callable[[str | None], LicenseServer],
                                seat_licenses: SeatLicenses, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("LICWIZ_SERVER_METRICS_ADDRESS", f"127.0.0.1:{port}")
    srv = license_server_factory(None)
    sp = srv.start()
    assert httpx.get(f"{sp.url}/metrics").status_code == 404
    _install(srv, sp.url, seat_licenses, users=1)
    assert _claim(sp.url, srv.client_token, "s1").status_code == 201
    samples = scrape(f"http://127.0.0.1:{port}/metrics")
    assert value(samples, "licwiz_server_seats_in_use", product=PRODUCT) == 1
    assert value(samples, "licwiz_server_claims_total", result="granted") == 1


@pytest.mark.parametrize("env", [{"LICWIZ_SERVER_METRICS_TOKEN_FILE": "/nonexistent/token"},
                                 {"LICWIZ_SERVER_METRICS_ADDRESS": "no-port"}])
def test_server_bad_metrics_options_are_one_line(
        license_server_factory: Callable[[str | None], LicenseServer], env: dict[str, str]) -> None:
    srv = license_server_factory(None)
    r = subprocess.run(licwiz_cmd("server", "serve", "--port", str(free_port()), "--db", srv.db),
                       capture_output=True, text=True, timeout=60, env={**os.environ, **env})
    assert r.returncode == 1
    assert "metrics" in r.stderr and "Traceback" not in r.stderr, r.stderr
