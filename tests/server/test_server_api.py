"""The license server: real ``licwiz server serve`` processes over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from licwiz.core import fingerprint
from licwiz.core.errors import SeatError
from licwiz.core.server_client import Seat, ServerClient, ServerError, parse_address
from support.fixtures_server import LicenseServer, SeatLicenses, ServerProc, licwiz_cmd
from support.tls import self_signed

PRODUCT = "licwiz-demo"
Factory = Callable[[str | None], LicenseServer]


def client(sp: ServerProc, token: str, **kw: object) -> ServerClient:
    return ServerClient("127.0.0.1", sp.port, token=token, **kw)  # type: ignore[arg-type]


async def _install(sp: ServerProc, srv: LicenseServer, text: str) -> dict[str, object]:
    async with client(sp, srv.admin_token) as c:
        return await c.install(text)


@pytest.fixture
def sqlite_server(license_server_factory: Factory, seat_licenses: SeatLicenses) -> LicenseServer:
    return license_server_factory(None)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_server(request: pytest.FixtureRequest, license_server_factory: Factory,
               seat_licenses: SeatLicenses) -> LicenseServer:
    """The seat tests run on both databases: their hot paths are separate code (seatstore.py)."""
    if request.param == "sqlite":
        return license_server_factory(None)
    return license_server_factory(request.getfixturevalue("server_pg_url"))


# --- install, parameters, auth ------------------------------------------------------------------

async def test_parameters_install_and_list(sqlite_server: LicenseServer, seat_licenses: SeatLicenses) -> None:
    sp = sqlite_server.start()
    async with client(sp, sqlite_server.client_token) as c:
        assert (await c.health())["status"] == "ok"
        params = await c.parameters(PRODUCT)
    assert params == fingerprint.collect(PRODUCT)  # the server runs on this computer
    lid, text = seat_licenses.make(3, params=params)
    got = await _install(sp, sqlite_server, text)
    assert got["license_id"] == lid and got["users"] == 3 and got["new"] is True
    assert (await _install(sp, sqlite_server, text))["new"] is False  # re-upload is harmless
    async with client(sp, sqlite_server.admin_token) as c:
        listing = await c.licenses()
    assert [x["license_id"] for x in listing["licenses"]] == [lid]
    assert listing["capacity"] == {PRODUCT: 3}
    await _install(sp, sqlite_server, seat_licenses.make(2, params=params)[1])  # licenses add up
    async with client(sp, sqlite_server.admin_token) as c:
        assert (await c.licenses())["capacity"] == {PRODUCT: 5}


async def test_install_refuses_bad_licenses(sqlite_server: LicenseServer,
                                            seat_licenses: SeatLicenses) -> None:
    sp = sqlite_server.start()
    text = seat_licenses.make(3)[1]
    elsewhere = {k: "ab" * 32 for k in fingerprint.collect(PRODUCT)}
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    cases = {
        "bad_signature": text.replace('"users":3', '"users":30'),
        "bad_file": text[:-30],
        "wrong_computer": seat_licenses.make(3, params=elsewhere)[1],
        "expired": seat_licenses.make(3, not_after=yesterday)[1],
    }
    for code, bad in cases.items():
        with pytest.raises(ServerError) as ei:
            await _install(sp, sqlite_server, bad)
        assert (ei.value.code, ei.value.status) == (code, 422), ei.value.brief
    async with client(sp, sqlite_server.admin_token) as c:
        assert (await c.licenses())["licenses"] == []


async def test_untrusted_key_is_refused(license_server_factory: Factory, seat_licenses: SeatLicenses,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    srv = license_server_factory(None)
    monkeypatch.delenv("LICWIZ_TRUSTED_KEYS")  # this server does not trust the test key
    sp = srv.start()
    with pytest.raises(ServerError) as ei:
        await _install(sp, srv, seat_licenses.make(3)[1])
    assert ei.value.code == "unknown_key"


async def test_auth_refusals(sqlite_server: LicenseServer, seat_licenses: SeatLicenses) -> None:
    sp = sqlite_server.start()
    text = seat_licenses.make(1)[1]
    seat_body = {"session": "s", "host": "h", "user": "u"}
    async with httpx.AsyncClient(base_url=sp.url) as h:
        assert (await h.post("/api/v1/seats", json=seat_body)).status_code == 401
        assert (await h.get("/api/v1/parameters")).status_code == 401
        r = await h.post("/api/v1/seats", json=seat_body, headers={"Authorization": "Bearer nope"})
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
    with pytest.raises(ServerError) as ei:  # the client token cannot install licenses
        async with client(sp, sqlite_server.client_token) as c:
            await c.install(text)
    assert (ei.value.code, ei.value.status) == ("forbidden", 403)
    with pytest.raises(ServerError) as ei:
        async with client(sp, sqlite_server.client_token) as c:
            await c.seats()
    assert ei.value.status == 403
    with pytest.raises(ServerError) as ei:
        async with client(sp, "wrong") as c:
            await c.parameters()
    assert ei.value.code == "forbidden"


async def test_bad_seat_requests_get_clear_errors(sqlite_server: LicenseServer) -> None:
    sp = sqlite_server.start()
    auth = {"Authorization": f"Bearer {sqlite_server.client_token}"}
    async with httpx.AsyncClient(base_url=sp.url, headers=auth) as h:
        r = await h.post("/api/v1/seats", content=b"{not json")
        assert (r.status_code, r.json()["error"]["code"]) == (400, "bad_json")
        r = await h.post("/api/v1/seats", json={"session": "s", "host": "", "user": "u"})
        assert (r.status_code, r.json()["error"]["field"]) == (422, "host")
        # Holder names reach other users' terminals: no escape sequences, no bidi tricks.
        for field, bad in (("user", "\x1b[2J"), ("host", "pc\x1b]0;pwned\x07"), ("session", "s\u202e")):
            r = await h.post("/api/v1/seats", json={"session": "s", "host": "h", "user": "u", field: bad})
            assert (r.status_code, r.json()["error"]["field"]) == (422, field), r.text
        r = await h.post("/api/v1/seats", json={"session": "s", "host": "h", "user": "u"})
        assert (r.status_code, r.json()["error"]["code"]) == (409, "no_license")
        r = await h.post("/api/v1/seats/0123/heartbeat")
        assert (r.status_code, r.json()["error"]["code"]) == (404, "seat_lost")
        # The seat calls skip Starlette (server/app.py SeatCalls): the same
        # limits and answers must hold there, and other methods still route.
        r = await h.post("/api/v1/seats", content=b"{" + b" " * (70 * 1024) + b"}")
        assert (r.status_code, r.json()["error"]["code"]) == (413, "too_large")
        r = await h.delete("/api/v1/seats/0123")
        assert (r.status_code, r.json(), r.headers["content-type"]) == (
            200, {"released": False}, "application/json")
        assert (await h.put("/api/v1/seats", json={})).status_code == 405
        assert (await h.post("/api/v1/seats/a/b/heartbeat")).status_code == 404
        r = await h.get("/api/v1/seats")  # the admin list is not a seat call: the client token is refused
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")


def test_parse_address() -> None:
    assert parse_address("srv.example:9000") == ("srv.example", 9000)
    assert parse_address("srv") == ("srv", 8475)
    assert parse_address("[::1]:8000") == ("::1", 8000)
    for bad in ("", "h:0", "h:70000", "h:x", ":80"):
        with pytest.raises(Exception) as ei:
            parse_address(bad)
        assert getattr(ei.value, "field", "") == "server"


# --- seats --------------------------------------------------------------------------------------

async def test_seat_lifecycle_and_refusal_lists_holders(any_server: LicenseServer,
                                                        seat_licenses: SeatLicenses) -> None:
    sp = any_server.start()
    await _install(sp, any_server, seat_licenses.make(2)[1])
    async with client(sp, any_server.client_token) as c:
        a = await c.acquire_seat("unix:1", "pc1", "alice", PRODUCT)
        b = await c.acquire_seat("unix:2", "pc2", "bob", PRODUCT)
        assert {a.slot, b.slot} == {0, 1} and a.lease == 120
        again = await c.acquire_seat("unix:1", "pc1", "alice", PRODUCT)  # same session: same seat
        assert again.seat_id == a.seat_id
        with pytest.raises(SeatError) as ei:
            await c.acquire_seat("unix:3", "pc3", "carol", PRODUCT)
        assert sorted((h["user"], h["host"], h["session"]) for h in ei.value.holders) == [
            ("alice", "pc1", "unix:1"), ("bob", "pc2", "unix:2")]
        assert all(h["since"] for h in ei.value.holders)
        assert await c.heartbeat(a) == 120
        assert await c.release(a) is True
        assert await c.release(a) is False
        with pytest.raises(ServerError) as ei2:
            await c.heartbeat(a)
        assert ei2.value.code == "seat_lost"
        await c.acquire_seat("unix:3", "pc3", "carol", PRODUCT)
    async with client(sp, any_server.admin_token) as c:
        assert sorted(s["user"] for s in await c.seats(PRODUCT)) == ["bob", "carol"]


async def test_vanished_client_loses_its_seat_after_the_lease(any_server: LicenseServer,
                                                              seat_licenses: SeatLicenses) -> None:
    sp = any_server.start("--lease", "1")
    await _install(sp, any_server, seat_licenses.make(1)[1])
    env = {**os.environ, "LICWIZ_SERVER_CLIENT_TOKEN": any_server.client_token}
    # a real client: `licwiz run --server` heartbeating every lease/3, then killed with -9
    run = subprocess.Popen(licwiz_cmd("run", "--server", f"127.0.0.1:{sp.port}", "--", "sleep", "60"),
                           env=env, start_new_session=True)
    try:
        async with client(sp, any_server.client_token) as c:
            deadline = time.monotonic() + 15
            while True:
                async with client(sp, any_server.admin_token) as adm:
                    if await adm.seats(PRODUCT):
                        break
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.5)  # longer than the lease: the heartbeats keep the seat
            with pytest.raises(SeatError):
                await c.acquire_seat("other", "pc9", "zoe", PRODUCT)
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(10)
            with pytest.raises(SeatError):
                await c.acquire_seat("other", "pc9", "zoe", PRODUCT)
            await asyncio.sleep(1.3)
            seat = await c.acquire_seat("other", "pc9", "zoe", PRODUCT)
            assert seat.slot == 0
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(10)


async def test_run_with_server_runs_and_releases(sqlite_server: LicenseServer, seat_licenses: SeatLicenses,
                                                 tmp_path: Path) -> None:
    sp = sqlite_server.start()
    await _install(sp, sqlite_server, seat_licenses.make(1)[1])
    env = {**os.environ, "LICWIZ_SERVER_CLIENT_TOKEN": sqlite_server.client_token,
           "LICWIZ_SERVER": f"127.0.0.1:{sp.port}"}  # the address from the environment
    r = subprocess.run(licwiz_cmd("run", "--", "sh", "-c", "exit 4"), env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 4, r.stderr
    async with client(sp, sqlite_server.admin_token) as c:
        assert await c.seats() == []  # given back at exit
    async with client(sp, sqlite_server.client_token) as c:
        await c.acquire_seat("someone", "pc", "ann", PRODUCT)
    r = subprocess.run(licwiz_cmd("run", "--", "true"), env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 75
    assert "ann on pc: session someone" in r.stderr
    bad = {**env, "LICWIZ_SERVER_CLIENT_TOKEN": "wrong"}
    r = subprocess.run(licwiz_cmd("run", "--", "true"), env=bad, capture_output=True, text=True, timeout=60)
    assert r.returncode == 69 and "Traceback" not in r.stderr


async def test_restarted_server_keeps_granted_seats(any_server: LicenseServer,
                                                    seat_licenses: SeatLicenses) -> None:
    sp = any_server.start()
    await _install(sp, any_server, seat_licenses.make(1)[1])
    async with client(sp, any_server.client_token) as c:
        seat = await c.acquire_seat("unix:1", "pc1", "alice", PRODUCT)
    sp.kill(signal.SIGKILL)
    sp2 = any_server.start(port=sp.port)
    async with client(sp2, any_server.client_token) as c:
        with pytest.raises(SeatError) as ei:
            await c.acquire_seat("unix:2", "pc2", "bob", PRODUCT)
        assert ei.value.holders[0]["user"] == "alice"
        assert await c.heartbeat(seat) == 120  # the client carries on with its seat


# --- concurrency: never more seats than users ---------------------------------------------------

async def _storm(servers: list[ServerProc], token: str, n: int) -> tuple[int, int, list[str]]:
    limits = httpx.Limits(max_connections=n)
    clients = [httpx.AsyncClient(base_url=s.url, headers={"Authorization": f"Bearer {token}"}, limits=limits,
                                 timeout=60) for s in servers]
    gate = asyncio.Event()

    async def one(i: int) -> tuple[int, str]:
        await gate.wait()
        r = await clients[i % len(clients)].post(
            "/api/v1/seats", json={"session": f"s{i}", "host": f"pc{i}", "user": f"u{i}", "product": PRODUCT})
        return r.status_code, r.json().get("seat_id") or r.json()["error"]["code"]

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    await asyncio.sleep(0.05)
    gate.set()
    results = await asyncio.gather(*tasks)
    for c in clients:
        await c.aclose()
    granted = [x for st, x in results if st == 201]
    refused = [x for st, x in results if st == 409]
    assert {x for st, x in results if st == 409} <= {"no_seat"}
    return len(granted), len(refused), granted


async def _concurrency(srv: LicenseServer, seat_licenses: SeatLicenses) -> None:
    a = srv.start()
    b = srv.start()
    await _install(b, srv, seat_licenses.make(20)[1])
    granted, refused, ids = await _storm([a, b], srv.client_token, 200)
    assert (granted, refused) == (20, 180)
    assert len(set(ids)) == 20
    async with client(a, srv.admin_token) as c:
        rows = await c.seats(PRODUCT)
    assert sorted(r["slot"] for r in rows) == list(range(20))


async def test_200_concurrent_requests_20_seats_two_processes_sqlite(
        license_server_factory: Factory, seat_licenses: SeatLicenses) -> None:
    await _concurrency(license_server_factory(None), seat_licenses)


@pytest.mark.postgres
async def test_200_concurrent_requests_20_seats_two_processes_postgres(
        license_server_factory: Factory, seat_licenses: SeatLicenses, server_pg_url: str) -> None:
    await _concurrency(license_server_factory(server_pg_url), seat_licenses)


# --- TLS ----------------------------------------------------------------------------------------

async def test_tls(sqlite_server: LicenseServer, seat_licenses: SeatLicenses, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    sp = sqlite_server.start("--tls-cert", str(cert), "--tls-key", str(key), verify=str(cert))
    assert sp.url.startswith("https://")
    async with client(sp, sqlite_server.client_token, tls=True, verify=str(cert)) as c:
        assert (await c.parameters(PRODUCT)) == fingerprint.collect(PRODUCT)
    with pytest.raises(ServerError) as ei:  # an unknown certificate is not trusted
        async with client(sp, sqlite_server.client_token, tls=True) as c:
            await c.health()
    assert ei.value.code == "unreachable"
    with pytest.raises(ServerError) as ei:  # plain HTTP to a TLS port gets nowhere
        async with client(sp, sqlite_server.client_token) as c:
            await c.health()
    assert ei.value.code in ("unreachable", "bad_response")


# --- the admin commands: licwiz server params / install / status --------------------------------

def test_admin_commands_install_a_license_file(sqlite_server: LicenseServer, seat_licenses: SeatLicenses,
                                               tmp_path: Path) -> None:
    sp = sqlite_server.start()
    env = {**os.environ, "LICWIZ_SERVER": f"127.0.0.1:{sp.port}"}
    # without the admin token: a clear refusal, no traceback
    r = subprocess.run(licwiz_cmd("server", "status"), env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "token is required" in r.stderr and "Traceback" not in r.stderr
    # the admin token from the config file (~/.config/licwiz/server-token)
    cfg = Path(os.environ["XDG_CONFIG_HOME"]) / "licwiz"
    cfg.mkdir(parents=True)
    (cfg / "server-token").write_text(sqlite_server.admin_token + "\n")
    r = subprocess.run(licwiz_cmd("server", "params", "--json"), env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    params = json.loads(r.stdout)
    assert params == fingerprint.collect(PRODUCT)
    lid, text = seat_licenses.make(7, params=params)
    f = tmp_path / "bought.lic"
    f.write_text(text)
    r = subprocess.run(licwiz_cmd("server", "install", str(f)), env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert f"installed {lid}" in r.stdout and "7 user(s)" in r.stdout
    r = subprocess.run(licwiz_cmd("server", "status"), env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert lid in r.stdout and "Seats of licwiz-demo: 0 of 7 in use" in r.stdout
    r = subprocess.run(licwiz_cmd("server", "status", "--server", "127.0.0.1:1"), env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 69 and "cannot reach" in r.stderr


async def test_concurrent_claims_of_one_session_share_one_seat(any_server: LicenseServer,
                                                              seat_licenses: SeatLicenses) -> None:
    a, b = any_server.start(), any_server.start()
    await _install(a, any_server, seat_licenses.make(5)[1])
    auth = {"Authorization": f"Bearer {any_server.client_token}"}
    body = {"session": "unix:42", "host": "pc42", "user": "ann", "product": PRODUCT}
    async with httpx.AsyncClient(base_url=a.url, headers=auth, timeout=60) as ha, \
            httpx.AsyncClient(base_url=b.url, headers=auth, timeout=60) as hb:
        answers = await asyncio.gather(*(h.post("/api/v1/seats", json=body) for h in [ha, hb] * 15))
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["seat_id"] for r in answers}) == 1
    async with client(a, any_server.admin_token) as c:
        assert len(await c.seats(PRODUCT)) == 1


async def test_run_takes_its_seat_again_when_it_was_lost(sqlite_server: LicenseServer,
                                                         seat_licenses: SeatLicenses) -> None:
    sp = sqlite_server.start("--lease", "0.9")
    await _install(sp, sqlite_server, seat_licenses.make(1)[1])
    env = {**os.environ, "LICWIZ_SERVER_CLIENT_TOKEN": sqlite_server.client_token}
    run = subprocess.Popen(licwiz_cmd("run", "--server", f"127.0.0.1:{sp.port}", "--", "sleep", "30"),
                           env=env, start_new_session=True, stderr=subprocess.PIPE, text=True)
    try:
        async with client(sp, sqlite_server.admin_token) as adm:
            deadline = time.monotonic() + 15
            while not (first := await adm.seats(PRODUCT)):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            # the seat vanishes under the running command (an operator, a database restore...)
            assert await adm.release(Seat(first[0]["seat_id"], 0, PRODUCT, 0.9, ""))
            deadline = time.monotonic() + 10
            while True:
                now = await adm.seats(PRODUCT)
                if now and now[0]["seat_id"] != first[0]["seat_id"]:
                    break
                assert time.monotonic() < deadline, "the wrapper did not take its seat again"
                await asyncio.sleep(0.1)
        assert now[0]["session"] == first[0]["session"]
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        run.wait(15)


def test_client_settings_from_config_files(monkeypatch: pytest.MonkeyPatch) -> None:
    from licwiz.core import server_client as sc

    monkeypatch.delenv("LICWIZ_SERVER", raising=False)
    monkeypatch.delenv("LICWIZ_SERVER_CLIENT_TOKEN", raising=False)
    monkeypatch.delenv("LICWIZ_SERVER_TOKEN", raising=False)
    monkeypatch.setattr(sc, "SITE_CONFIG", Path(os.environ["XDG_CONFIG_HOME"]) / "site-server.json")
    with pytest.raises(Exception) as ei:
        sc.client_from_config()
    assert getattr(ei.value, "field", "") == "server"
    cfg = Path(os.environ["XDG_CONFIG_HOME"]) / "licwiz"
    cfg.mkdir(parents=True)
    sc.SITE_CONFIG.write_text(json.dumps({"server": "site-srv:9000", "client_token": "site-token"}))
    (cfg / "server.json").write_text(json.dumps({"server": "my-srv:9100"}))
    assert sc.configured_server() == "my-srv:9100"  # the user's file over the site's
    assert sc.client_token() == "site-token"
    monkeypatch.setenv("LICWIZ_SERVER", "env-srv")
    assert sc.configured_server() == "env-srv"
    assert sc.admin_token() is None
    (cfg / "server-token").write_text("adm1n\n")
    assert sc.admin_token() == "adm1n"
    (cfg / "server.json").write_text("{broken")
    with pytest.raises(Exception) as ei:
        sc.load_config()
    assert getattr(ei.value, "code", "") == "bad_config"


def test_serve_refuses_clearly(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    r = subprocess.run(licwiz_cmd("server", "serve", "--port", "1", "--db", db), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and "licwiz server init" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run(licwiz_cmd("server", "serve", "--db", db, "--tls-cert", str(tmp_path / "no.pem"),
                                  "--tls-key", str(tmp_path / "no.key")), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "no.pem" in r.stderr
    r = subprocess.run(licwiz_cmd("server", "serve", "--db", "mysql://x/y"), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1 and "unsupported database" in r.stderr and "Traceback" not in r.stderr


async def test_a_lone_surrogate_in_a_seat_field_is_named(sqlite_server: LicenseServer) -> None:
    """The seat calls read bodies with orjson, which refuses what the stdlib reads: the
    answer is still the field's own refusal, as on every other route."""
    sp = sqlite_server.start()
    auth = {"Authorization": f"Bearer {sqlite_server.client_token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=sp.url, headers=auth) as h:
        r = await h.post("/api/v1/seats", content=b'{"session": "s", "host": "h", "user": "u\\ud800"}')
        error = r.json()["error"]
        assert (r.status_code, error["code"], error["field"]) == (422, "bad_input", "user")
