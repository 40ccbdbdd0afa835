"""/metrics of a real ``licwiz server serve``: closed by default, 401 with a
wrong token; seats in use and capacity by product read at scrape time, claims
granted and denied, leases lost (parsed with prometheus-client's parser), and
the same on a separate --metrics-address; leases expired, counted from the seat log."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from licwiz.server import db
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


def _expired(url: str, token: str, product: str = PRODUCT) -> float:
    return value(scrape(url, token), "licwiz_server_leases_expired_total", product=product)


def _wait_expired(url: str, token: str, want: float) -> None:
    deadline = time.monotonic() + 30
    while (got := _expired(url, token)) != want:
        assert got < want and time.monotonic() < deadline, f"leases expired: {got}, waited for {want}"
        time.sleep(0.1)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_server_metrics_count_leases_that_really_expired(
        license_server_factory: Callable[[str | None], LicenseServer], seat_licenses: SeatLicenses,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
        backend: str) -> None:
    """A lease that runs out is counted when it runs out (no claim needed to find it),
    once (the claim that later sweeps it into the seat log does not count it
    again), when its client releases it late (the seat ended at its expiry), and
    by every server process on the database, after a restart too (the counts are
    the seat log's). Heartbeated and released seats are not expiries."""
    token, path = token_file(tmp_path)
    monkeypatch.setenv("LICWIZ_SERVER_METRICS_TOKEN_FILE", str(path))
    srv = license_server_factory(None if backend == "sqlite" else request.getfixturevalue("server_pg_url"))
    sp = srv.start("--lease", "3")  # long enough for a claim and its release on a busy machine
    url = f"{sp.url}/metrics"
    auth = {"Authorization": f"Bearer {srv.client_token}"}
    _install(srv, sp.url, seat_licenses, users=3)
    assert _expired(url, token) == 0  # the licensed product is listed before anything expired
    gone = _claim(sp.url, srv.client_token, "s-gone").json()["seat_id"]  # its client stops here
    released = _claim(sp.url, srv.client_token, "s-released").json()["seat_id"]
    assert httpx.delete(f"{sp.url}/api/v1/seats/{released}", headers=auth).json() == {"released": True}
    _wait_expired(url, token, 1)
    assert _claim(sp.url, srv.client_token, "s-next").status_code == 201  # sweeps s-gone into the log
    assert _expired(url, token) == 1
    late = _claim(sp.url, srv.client_token, "s-late").json()["seat_id"]
    _wait_expired(url, token, 3)  # s-late and s-next ran out too
    # s-late's client comes back after its lease: nothing was held any more
    assert httpx.delete(f"{sp.url}/api/v1/seats/{late}", headers=auth).json() == {"released": False}
    assert _expired(url, token) == 3
    sp.kill()
    other = srv.start()  # a new process counts what the seat log holds
    assert _expired(f"{other.url}/metrics", token) == 3
    rows = asyncio.run(_log_rows(srv.db))
    assert sorted(r for r in rows if r[0] != "grant") == [
        ("expire", "s-gone", gone), ("expire", "s-late", late), ("release", "s-released", released)]


async def _log_rows(url: str) -> list[tuple[str, str, str]]:
    engine = db.make_engine(url)
    try:
        async with engine.connect() as conn:
            return [(r.event, r.session, r.seat_id) for r in (await conn.execute(db.seat_log.select())).all()]
    finally:
        await engine.dispose()
