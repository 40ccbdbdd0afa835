"""Issue 11 point 1: concurrent guesses do not bypass the kit lock or the
address limit. Real ``licwiz center serve`` processes (two workers), SQLite and
PostgreSQL, bursts sent at once over separate connections:

- 30 wrong PINs and the right one: at most ``kit_max_failures`` (5) wrong PINs
  are evaluated between a reset and the lock, every later answer is
  ``kit_locked``, and no license is issued once the lock is reached (checked
  in the audit trail's order, which is the order the transactions ran);
- the same burst against ``/check`` (the cheaper oracle);
- 120 unknown registration numbers from one address (limit 50): at most 50
  are answered ``kit_unknown``, the rest ``rate_limited``.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from licwiz.core.identifiers import new_pin, new_regnum
from licwiz.core.request import ActivationRequest
from support import owners

PARAMS = {"machine_id": "a1" * 32, "cpu": "b2" * 32, "mac": "c3" * 32, "root_fs": "d4" * 32, "os": "e5" * 32}
OWNER = owners.ORGANISATION
KIT_MAX = 5
ADDR_MAX = 50


def body(kit: Any, pin: str, operation: str = "first") -> dict[str, Any]:
    return ActivationRequest(kit.product, kit.regnum, pin, operation, OWNER, dict(PARAMS)).to_dict()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))


async def _burst(url: str, path: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """Every body at once, each on its own connection (so both workers take some)."""
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        return await asyncio.gather(*(client.post(f"/api/v1{path}", json=b) for b in bodies))


def burst(url: str, path: str, bodies: list[dict[str, Any]]) -> list[str]:
    """The answers' codes ("ok" for a success), within a bounded time."""
    start = time.monotonic()
    got = asyncio.run(_burst(url, path, bodies))
    assert time.monotonic() - start < 90, "the burst took too long"
    assert all(r.status_code < 500 for r in got), [r.text for r in got if r.status_code >= 500]
    return ["ok" if r.status_code == 200 else r.json()["error"]["code"] for r in got]


def kit_events(c: Any, regnum: str) -> list[tuple[str, str | None]]:
    """This kit's audit rows, oldest first: (event, code)."""
    rows = json.loads(c.cli("audit", "--json", "--limit", "1000").stdout)
    return [(r["event"], r["code"]) for r in reversed(rows) if r["regnum"] == regnum]


def assert_lock_held(events: list[tuple[str, str | None]], refuse: str) -> None:
    """Replay the audit in order: never more than KIT_MAX wrong PINs evaluated
    before the lock (a success resets the count), and nothing issued past it."""
    failures = 0
    for event, code in events:
        if event == refuse and code == "pin_unknown":
            failures += 1
            assert failures <= KIT_MAX, f"a wrong PIN evaluated past the lock: {events}"
        elif event == "issue":
            assert failures < KIT_MAX, f"a license issued past the lock: {events}"
            failures = 0


def test_a_burst_of_wrong_pins_stops_at_the_kit_lock(center_factory: Any, db_url: str | None) -> None:
    c = center_factory(db_url=db_url, workers=2,
                       settings={"lock_seconds": "600", "addr_max_failures": "1000"})
    kit = c.create_kit(pins=1)
    right = body(kit, kit.single_pins[0])
    bodies = [{**right, "pin": new_pin()} for _ in range(30)]
    bodies.insert(20, right)
    codes = burst(c.url, "/activate", bodies)
    assert set(codes) <= {"ok", "pin_unknown", "kit_locked"}, codes
    issued = codes.count("ok")
    # Before a success: at most KIT_MAX - 1 wrong; after it (or without one): at most KIT_MAX.
    assert codes.count("pin_unknown") <= KIT_MAX + (KIT_MAX - 1) * issued, codes
    assert codes.count("kit_locked") >= 30 - 2 * KIT_MAX + 1, codes
    events = kit_events(c, kit.regnum)
    assert events.count(("refuse", "pin_unknown")) == codes.count("pin_unknown")
    assert_lock_held(events, "refuse")
    # The lock holds afterwards too: the right PIN is refused until it expires.
    if not issued:
        assert burst(c.url, "/activate", [right]) == ["kit_locked"]
    licenses = c.admin("GET", "/licenses", params={"regnum": kit.regnum}).json()["licenses"]
    assert len(licenses) == issued <= 1


def test_a_burst_of_wrong_pins_to_check_stops_at_the_kit_lock(center_factory: Any,
                                                              db_url: str | None) -> None:
    c = center_factory(db_url=db_url, workers=2,
                       settings={"lock_seconds": "600", "addr_max_failures": "1000"})
    kit = c.create_kit(pins=1)
    right = body(kit, kit.single_pins[0])
    codes = burst(c.url, "/check", [{**right, "pin": new_pin()} for _ in range(30)])
    assert codes.count("pin_unknown") == KIT_MAX and codes.count("kit_locked") == 30 - KIT_MAX, codes
    assert_lock_held(kit_events(c, kit.regnum), "check_refuse")
    assert burst(c.url, "/check", [right]) == ["kit_locked"]


def test_a_burst_of_unknown_kits_stops_at_the_address_limit(center_factory: Any, db_url: str | None) -> None:
    c = center_factory(db_url=db_url, workers=2, settings={"addr_max_failures": str(ADDR_MAX)})
    kit = c.create_kit(pins=1)
    template = body(kit, kit.single_pins[0])
    codes = burst(c.url, "/activate", [{**template, "regnum": new_regnum()} for _ in range(120)])
    assert codes.count("kit_unknown") == ADDR_MAX, codes
    assert codes.count("rate_limited") == 120 - ADDR_MAX, codes
    # The address stays limited: even its right PIN is refused for the window.
    assert burst(c.url, "/activate", [template]) == ["rate_limited"]
