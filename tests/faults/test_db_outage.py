"""PostgreSQL stopped and started under load, with a real ``licwiz center serve``
and a real ``licwiz server serve`` on it (issue 17, point 1).

The promise: while the database cannot be reached every call is answered 503
``unavailable`` with Retry-After (never a 500, never a dropped connection);
every call retried with its Idempotency-Key once the database is back
succeeds; and no PIN is spent without its license.

The cluster is this module's own (tests/faults/pgcluster.py): the machine's
shared PostgreSQL is never stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from faults.pgcluster import PrivateCluster
from licwiz.core.request import ActivationRequest, seal
from support import owners
from support.fixtures_center import CenterProcess
from support.fixtures_server import LicenseServer, SeatLicenses

# No "postgres" mark: the shared server is not used; PostgreSQL's programs are (see conftest).
pytestmark = pytest.mark.slow

OWNER = owners.ORGANISATION
PARAMS = {"machine_id": "a1" * 32, "cpu": "b2" * 32, "mac": "c3" * 32, "root_fs": "d4" * 32, "os": "e5" * 32}
KITS = 40
SEAT_USERS = 40
DEADLINE = 90.0  # seconds for the whole load; every wait below has its own, shorter, deadline


@dataclass
class Record:
    """Every answer the load got, sorted: successes, well-formed 503s, anything else."""

    ok: int = 0
    unavailable: int = 0
    bad: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, what: str, resp: httpx.Response | None, error: Exception | None = None) -> bool:
        """True when ``resp`` is a success."""
        with self.lock:
            if resp is None:
                self.bad.append(f"{what}: no answer: {type(error).__name__}: {error}")
                return False
            if resp.status_code in (200, 201):
                self.ok += 1
                return True
            body: Any = None
            with contextlib.suppress(ValueError):
                body = resp.json()
            code = body.get("error", {}).get("code") if isinstance(body, dict) else None
            retry_after = resp.headers.get("retry-after", "")
            if resp.status_code == 503 and code == "unavailable" and retry_after.isdigit():
                self.unavailable += 1
            else:
                self.bad.append(f"{what}: HTTP {resp.status_code} {resp.headers.get('retry-after')!r} "
                                f"{resp.text[:300]}")
            return False

    def counts(self) -> tuple[int, int, int]:
        with self.lock:
            return self.ok, self.unavailable, len(self.bad)


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.02)


def more(rec: Record, ok: int = 0, unavailable: int = 0) -> Callable[[], bool]:
    """Whether ``rec`` has ``ok`` more successes and ``unavailable`` more 503s than now."""
    ok0, un0, _ = rec.counts()
    return lambda: rec.counts()[0] >= ok0 + ok and rec.counts()[1] >= un0 + unavailable


@pytest.fixture
def services(pg: PrivateCluster, tmp_path: Path, seat_licenses: SeatLicenses
             ) -> Iterator[tuple[CenterProcess, LicenseServer, str, str]]:
    """A center and a license server (one database each on the private cluster),
    their kits and license in place; yields (center, server, server url, center db)."""
    center_db = f"center_{uuid.uuid4().hex[:8]}"
    server_db = f"seats_{uuid.uuid4().hex[:8]}"
    center = CenterProcess(tmp_path / "center", pg.create_database(center_db))
    server = LicenseServer(tmp_path, pg.create_database(server_db))
    try:
        center.start()
        server.init()
        sp = server.start()
        _, text = seat_licenses.make(SEAT_USERS)
        r = httpx.post(f"{sp.url}/api/v1/licenses", json={"license": text},
                       headers={"Authorization": f"Bearer {server.admin_token}"}, timeout=30)
        assert r.status_code == 201, r.text
        yield center, server, sp.url, center_db
    finally:
        if not pg.running():
            pg.start()  # the services' own shutdown is then clean
        server.stop()
        center.stop()
        assert all(p.proc.wait(15) == 0 for p in server.procs), "license server: exit status after SIGTERM"


def _kits(center: CenterProcess, count: int) -> list[dict[str, Any]]:
    r = center.admin("POST", "/kits", json={"product": "licwiz-demo", "users": 1, "pins": 1, "count": count})
    assert r.status_code == 201, r.text
    kits: list[dict[str, Any]] = r.json()["kits"]
    return kits


def _activation(kit: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = ActivationRequest(kit["product"], kit["regnum"], kit["single_pins"][0], "first",
                                             OWNER, dict(PARAMS)).to_dict()
    return body


def _sealed(center: CenterProcess, kit: dict[str, Any]) -> str:
    """A request file for ``kit`` sealed to the center's key (the keys are files: no database)."""
    keys = httpx.get(f"{center.url}/api/v1/keys", timeout=30).json()
    pem = keys["sealing"][0]["pem"].encode()
    center_key = serialization.load_pem_public_key(pem)
    assert isinstance(center_key, X25519PublicKey)
    return seal(ActivationRequest.from_dict({**_activation(kit), "method": "file"}), center_key)


async def _until_ok(rec: Record, what: str, deadline: float, call: Callable[..., Any], *args: Any,
                    **kw: Any) -> httpx.Response:
    """``call(*args, **kw)`` again (same body, same key) until it succeeds; every
    failure on the way noted."""
    while True:
        resp: httpx.Response | None = None
        try:
            resp = await call(*args, **kw)
        except httpx.HTTPError as exc:
            rec.note(what, None, exc)
        else:
            if rec.note(what, resp):
                return resp
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: no success before the deadline")
        await asyncio.sleep(0.05)  # a client's pause between tries


Services = tuple[CenterProcess, LicenseServer, str, str]


def test_postgresql_down_and_flapping_under_load(pg: PrivateCluster, services: Services) -> None:
    center, server, server_url, center_db = services
    kits = _kits(center, KITS)
    client_auth = {"Authorization": f"Bearer {server.client_token}"}
    admin_auth = {"Authorization": f"Bearer {server.admin_token}"}
    held = httpx.post(f"{server_url}/api/v1/seats", json={"session": "held", "host": "h", "user": "u"},
                      headers=client_auth, timeout=30)
    assert held.status_code == 201, held.text
    held_id = held.json()["seat_id"]

    # ---- 1. the database is down: a burst of every kind of call
    pg.stop()
    down = Record()
    keys = {k["regnum"]: f"outage-{uuid.uuid4().hex}" for k in kits}
    first_wave = kits[:12]

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=40, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=30, limits=limits) as c:
            calls = [c.post(f"{center.url}/api/v1/activate", json=_activation(k),
                            headers={"Idempotency-Key": keys[k["regnum"]]}) for k in first_wave]
            calls += [c.post(f"{center.url}/api/v1/check", json=_activation(k)) for k in kits[12:14]]
            calls += [c.get(f"{center.url}/api/v1/admin/licenses",
                            headers={"Authorization": f"Bearer {center.admin_token}"})]
            calls += [c.post(f"{server_url}/api/v1/seats", headers=client_auth,
                             json={"session": f"down-{i}", "host": "h", "user": "u"}) for i in range(8)]
            calls += [c.post(f"{server_url}/api/v1/seats/{held_id}/heartbeat", headers=client_auth)
                      for _ in range(4)]
            calls += [c.get(f"{server_url}/api/v1/seats", headers=admin_auth),
                      c.get(f"{server_url}/api/v1/licenses", headers=admin_auth)]
            answers = list(await asyncio.gather(*calls))
            # A refusal needs no database to be right: its audit row is lost, the answer stands.
            answers.append(await c.post(f"{center.url}/api/v1/activate", content=b"{not json",
                                        headers={"Content-Type": "application/json"}))
            return answers

    t0 = time.monotonic()
    answers = asyncio.run(burst())
    assert time.monotonic() - t0 < 20, "the answers of an outage must not wait for a timeout"
    for i, resp in enumerate(answers[:-1]):
        down.note(f"down call {i}", resp)
    refusal = answers[-1]
    assert refusal.status_code == 400 and refusal.json()["error"]["code"] == "bad_request", refusal.text
    assert down.bad == [] and down.unavailable == len(answers) - 1, down.bad
    assert all(int(r.headers["retry-after"]) > 0 for r in answers[:-1])
    # The web page says the same to a person: try again later, not "quote this to support".
    upload = {"request_file": ("r.req", _sealed(center, kits[14]), "text/plain")}
    page = httpx.post(f"{center.url}/", files=upload, timeout=30)
    assert page.status_code == 503 and int(page.headers["retry-after"]) > 0, page.text[:300]
    assert "unavailable" in page.text

    # ---- 2. load while the database goes down and comes back, three times
    pg.start()
    flap = Record()
    todo = list(kits[12:])  # the first wave is retried in step 3, after the load
    issued: dict[str, dict[str, Any]] = {}
    stop_load = threading.Event()
    deadline = time.monotonic() + DEADLINE

    async def activations() -> None:
        async with httpx.AsyncClient(base_url=center.url, timeout=30) as c:
            while todo and not stop_load.is_set():
                kit = todo.pop()
                body, key = _activation(kit), keys[kit["regnum"]]
                resp = await _until_ok(flap, f"activate {kit['regnum']}", deadline, c.post,
                                       "/api/v1/activate", json=body, headers={"Idempotency-Key": key})
                issued[kit["regnum"]] = resp.json()

    async def seat_cycles(worker: int) -> None:
        async with httpx.AsyncClient(base_url=server_url, timeout=30, headers=client_auth) as c:
            n = 0
            while not stop_load.is_set():
                n += 1
                who = {"session": f"w{worker}-{n}", "host": "h", "user": "u"}
                seat = (await _until_ok(flap, f"claim {who['session']}", deadline, c.post,
                                        "/api/v1/seats", json=who)).json()
                await _until_ok(flap, f"heartbeat {who['session']}", deadline, c.post,
                                f"/api/v1/seats/{seat['seat_id']}/heartbeat")
                await _until_ok(flap, f"release {who['session']}", deadline, c.delete,
                                f"/api/v1/seats/{seat['seat_id']}")

    async def load() -> None:
        await asyncio.gather(*(activations() for _ in range(6)), *(seat_cycles(w) for w in range(6)))

    runner = threading.Thread(target=lambda: asyncio.run(load()), daemon=True)
    runner.start()
    try:
        for _ in range(3):
            wait_for(more(flap, ok=5), 20, "calls succeed with the database up")
            pg.stop()
            wait_for(more(flap, unavailable=5), 20, "calls answered 503 with the database down")
            pg.start()
        wait_for(more(flap, ok=5), 20, "calls succeed after the last restart")
    finally:
        stop_load.set()
        runner.join(DEADLINE)
    assert not runner.is_alive(), "the load did not finish"
    assert flap.bad == [], "\n".join(flap.bad)
    assert flap.unavailable >= 15 and issued, (flap.counts(), len(issued))

    # ---- 3. the calls refused while the database was down, retried with their keys
    # as a client does: a 503 just after the restart (a pooled connection that died with
    # the old server) is answered with Retry-After, and the retry with the key succeeds.
    retry_until = time.monotonic() + DEADLINE
    with httpx.Client(base_url=center.url, timeout=30) as c:
        for kit in first_wave:
            while True:
                r = c.post("/api/v1/activate", json=_activation(kit),
                           headers={"Idempotency-Key": keys[kit["regnum"]]})
                if r.status_code != 503 or time.monotonic() > retry_until:
                    break
                assert r.json()["error"]["code"] == "unavailable" and "retry-after" in r.headers, r.text
                time.sleep(min(float(r.headers["retry-after"]), 0.5))  # as the client honours it
            assert r.status_code == 200, r.text
            issued[kit["regnum"]] = r.json()
    with httpx.Client(base_url=server_url, timeout=30, headers=client_auth) as c:
        for i in range(8):
            r = c.post("/api/v1/seats", json={"session": f"down-{i}", "host": "h", "user": "u"})
            assert r.status_code == 201, r.text
        assert c.post(f"/api/v1/seats/{held_id}/heartbeat").status_code == 200  # held through it all

    # ---- 4. the database: every PIN spent has its license, and it is the one answered
    rows = asyncio.run(pg.fetch(
        "SELECT k.regnum, (SELECT count(*) FROM pins p WHERE p.regnum = k.regnum AND p.used_at IS NOT NULL)"
        " AS spent, (SELECT count(*) FROM licenses l WHERE l.regnum = k.regnum) AS licenses,"
        " (SELECT max(l.license_id) FROM licenses l WHERE l.regnum = k.regnum) AS license_id FROM kits k",
        center_db))
    by_kit = {str(r["regnum"]): r for r in rows}
    assert len(by_kit) >= KITS
    for regnum, r in by_kit.items():
        assert r["spent"] == r["licenses"], f"{regnum}: {r['spent']} PIN(s) spent, {r['licenses']} license(s)"
    for regnum, answer in issued.items():
        assert (by_kit[regnum]["spent"], by_kit[regnum]["license_id"]) == (1, answer["license_id"]), regnum
    seats_left = asyncio.run(pg.fetch("SELECT count(*) AS n FROM licwiz_seats",
                                      server.db.rsplit("/", 1)[1]))[0]["n"]
    assert seats_left <= SEAT_USERS

    # ---- 5. no call became a 500: the services logged outages, never an internal error
    logs = center.out_path.read_text(errors="replace") + "".join(
        p.log.read_text(errors="replace") for p in server.procs)
    assert "internal error" not in logs and "Traceback" not in logs, logs[-3000:]
    assert "database unavailable" in logs
    statuses = [json.loads(line)["status"] for line in center.log_path.read_text().splitlines() if line]
    assert 500 not in statuses
