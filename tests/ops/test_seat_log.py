"""The license server's seat log and ``licwiz server report`` / ``seats release``:
a scripted day of claims, releases, denials, an expiry (a client that stops
heartbeating, with a short lease) and a release by hand against a real
``licwiz server serve`` on SQLite and PostgreSQL; then the log rows, the JSON
log lines and the report's numbers are checked exactly."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import io
import json
import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from licwiz.server import db
from support.fixtures_server import LicenseServer, SeatLicenses, ServerProc, licwiz_cmd

PRODUCT = "ops-demo"
LEASE = 2.0
Factory = Callable[[str | None], LicenseServer]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, license_server_factory: Factory,
           seat_licenses: SeatLicenses) -> LicenseServer:
    if request.param == "sqlite":
        return license_server_factory(None)
    return license_server_factory(request.getfixturevalue("server_pg_url"))


class Day:
    """The clients of the scripted day, with heartbeats for the seats kept alive."""

    def __init__(self, sp: ServerProc, srv: LicenseServer) -> None:
        self.http = httpx.AsyncClient(base_url=sp.url, timeout=10,
                                      headers={"Authorization": f"Bearer {srv.client_token}"})
        self.kept: dict[str, str] = {}  # user -> seat id, heartbeated

    async def claim(self, user: str) -> httpx.Response:
        r = await self.http.post("/api/v1/seats", json={"session": f"s-{user}", "host": f"h-{user}",
                                                        "user": user, "product": PRODUCT})
        if r.status_code == 201:
            self.kept[user] = r.json()["seat_id"]
        return r

    async def release(self, user: str) -> None:
        seat = self.kept.pop(user)
        r = await self.http.delete(f"/api/v1/seats/{seat}")
        assert r.json() == {"released": True}

    async def heartbeats(self) -> None:
        while True:
            for seat in list(self.kept.values()):
                await self.http.post(f"/api/v1/seats/{seat}/heartbeat")
            await asyncio.sleep(0.2)  # the heartbeat cadence, well inside the lease


async def _log_rows(url: str) -> list[Any]:
    engine = db.make_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(db.seat_log.select().order_by(db.seat_log.c.at,
                                                                         db.seat_log.c.id))).all())
    finally:
        await engine.dispose()


async def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    proc = await asyncio.create_subprocess_exec(*licwiz_cmd(*args), stdout=subprocess.PIPE,
                                                stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


async def test_a_scripted_day_is_logged_and_reported_exactly(server: LicenseServer,
                                                             seat_licenses: SeatLicenses) -> None:
    sp = server.start("--lease", str(LEASE))
    async with httpx.AsyncClient(base_url=sp.url, timeout=10) as admin:
        r = await admin.post("/api/v1/licenses", json={"license": seat_licenses.make(2, product=PRODUCT)[1]},
                             headers={"Authorization": f"Bearer {server.admin_token}"})
        assert r.status_code == 201, r.text
    day = Day(sp, server)
    beat = asyncio.create_task(day.heartbeats())
    try:
        assert (await day.claim("alice")).status_code == 201
        assert (await day.claim("bob")).status_code == 201
        denied = await day.claim("carol")
        assert denied.status_code == 409 and len(denied.json()["error"]["holders"]) == 2
        await day.release("alice")
        assert (await day.claim("carol")).status_code == 201
        assert (await day.claim("dave")).status_code == 409
        bob = day.kept.pop("bob")  # bob's client vanishes: no more heartbeats
        deadline = time.monotonic() + 20
        while True:  # dave retries until bob's lease has run out
            assert time.monotonic() < deadline, "bob's seat never expired"
            got = await day.claim("dave")
            if got.status_code == 201:
                break
            await asyncio.sleep(0.2)
        carol = day.kept["carol"]
        assert (await day.claim("erin")).status_code == 409
        # by hand, while the server serves (and the heartbeats go on)
        released = await _cli("server", "seats", "release", carol, "--db", server.db, "--json")
        assert released.returncode == 0, released.stderr
        assert json.loads(released.stdout)["actor"].startswith("admin:")
        day.kept.pop("carol")
        again = await _cli("server", "seats", "release", carol, "--db", server.db)
        assert again.returncode == 1 and "no seat" in again.stderr and "Traceback" not in again.stderr
        assert (await day.claim("erin")).status_code == 201  # the freed seat goes to the next claim
        lost = await day.http.post(f"/api/v1/seats/{carol}/heartbeat")
        assert lost.status_code == 404  # carol's client is told its seat is gone
        await day.release("dave")
        await day.release("erin")
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
        await day.http.aclose()

    rows = await _log_rows(server.db)
    events = [(r.event, r.user_name) for r in rows]
    deny_retries = sum(1 for e in events if e == ("deny", "dave")) - 1  # dave's tries while bob held on
    assert [e for e in events if e[0] != "deny" or e[1] != "dave"] == [
        ("grant", "alice"), ("grant", "bob"), ("deny", "carol"), ("release", "alice"),
        ("grant", "carol"), ("expire", "bob"), ("grant", "dave"), ("deny", "erin"),
        ("admin_release", "carol"), ("grant", "erin"), ("release", "dave"), ("release", "erin")]
    by = {(r.event, r.user_name): r for r in rows}
    assert json.loads(by[("deny", "carol")].holders) == sorted([  # the holders, by slot
        {"slot": by[("grant", "alice")].slot, "user": "alice", "host": "h-alice", "session": "s-alice"},
        {"slot": by[("grant", "bob")].slot, "user": "bob", "host": "h-bob", "session": "s-bob"},
    ], key=lambda h: h["slot"])
    assert by[("deny", "carol")].capacity == 2
    expiry = by[("expire", "bob")]
    # logged at the moment the lease ran out: a lease after bob's last heartbeat (one may
    # have come after his grant), before dave's claim found it
    assert expiry.seat_id == bob
    assert expiry.granted_at + LEASE <= expiry.at < by[("grant", "dave")].at
    assert by[("admin_release", "carol")].actor.startswith("admin:")
    assert by[("release", "alice")].actor is None

    # the same events as JSON log lines on the server's stderr (the release by hand: the command's)
    expected = sorted((f"seat.{e}", u) for e, u in events if e != "admin_release")
    deadline = time.monotonic() + 10
    while True:  # the lines are written off the event loop, a batch at a time
        lines = [json.loads(x) for x in sp.log.read_text().splitlines() if x.startswith("{")]
        logged = [(x["event"], x["user"]) for x in lines if x.get("event", "").startswith("seat.")]
        if len(logged) >= len(expected) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert sorted(logged) == expected
    by_hand = [json.loads(x) for x in released.stderr.splitlines()]
    assert [(x["event"], x["user"], x["seat_id"]) for x in by_hand] == [
        ("seat.admin_release", "carol", carol)]
    assert by_hand[0]["actor"].startswith("admin:")

    today = dt.datetime.now(dt.UTC).date().isoformat()
    got = await _cli("server", "report", "--db", server.db, "--since", today, "--product", PRODUCT, "--json")
    assert got.returncode == 0, got.stderr
    report = json.loads(got.stdout)
    p = report["products"][PRODUCT]
    assert {k: p[k] for k in ("peak", "grants", "denials", "releases", "expiries", "admin_releases")} == {
        "peak": 2, "grants": 5, "denials": 3 + deny_retries, "releases": 3, "expiries": 1,
        "admin_releases": 1}
    held = {u: 0.0 for u in ("alice", "bob", "carol", "dave", "erin")}
    for r in rows:
        if r.event in ("release", "expire", "admin_release"):
            held[r.user_name] += r.at - r.granted_at
    assert {u["user"]: (u["grants"], u["denials"], u["seat_hours"]) for u in report["users"]} == {
        "alice": (1, 0, round(held["alice"] / 3600, 4)), "bob": (1, 0, round(held["bob"] / 3600, 4)),
        "carol": (1, 1, round(held["carol"] / 3600, 4)),
        "dave": (1, 1 + deny_retries, round(held["dave"] / 3600, 4)),
        "erin": (1, 1, round(held["erin"] / 3600, 4))}
    assert p["seat_hours"] == round(sum(held.values()) / 3600, 4)
    since = dt.datetime.fromisoformat(report["since"]).timestamp()
    until = dt.datetime.fromisoformat(report["until"]).timestamp()
    assert p["average"] == pytest.approx(sum(held.values()) / (until - since), rel=0.02, abs=1e-3)
    first_day = dt.datetime.fromtimestamp(rows[0].at, dt.UTC).date().isoformat()
    assert first_day == today  # (the test does not run across midnight: a day takes seconds)
    assert report["days"] == [{"product": PRODUCT, "day": today, "peak": 2, "grants": 5,
                               "denials": 3 + deny_retries, "users": 5}]

    as_csv = await _cli("server", "report", "--db", server.db, "--product", PRODUCT, "--csv")
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    prow = next(t for t in table if t["kind"] == "product")
    assert (prow["peak"], prow["grants"], prow["expiries"]) == ("2", "5", "1")
    users = sorted(t["user"] for t in table if t["kind"] == "user")
    assert users == ["alice", "bob", "carol", "dave", "erin"]
    text = await _cli("server", "report", "--db", server.db)
    assert f"{PRODUCT}: peak 2 seat(s)" in text.stdout and "Per user:" in text.stdout
    other = await _cli("server", "report", "--db", server.db, "--product", "nothing-here", "--json")
    assert json.loads(other.stdout)["products"] == {}
    bad = await _cli("server", "report", "--db", server.db, "--since", "yesterday")
    assert bad.returncode == 1 and "--since" in bad.stderr and "Traceback" not in bad.stderr


def test_the_seat_log_table_is_made_by_revision_0002(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'srv.db'}"
    LicenseServer(tmp_path, url).init()

    async def tables() -> set[str]:
        engine = db.make_engine(url)
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
        finally:
            await engine.dispose()

    assert "licwiz_seat_log" in asyncio.run(tables())
