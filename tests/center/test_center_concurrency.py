"""A PIN is spent at most once: 100 concurrent first-time activations of one
PIN, spread over 2 server processes, give exactly one license, on SQLite and
on PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import httpx
import pytest
from licwiz.core.client import new_idempotency_key

from .test_center_api import req


async def burst(url: str, body: dict[str, Any], n: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        return await asyncio.gather(*(
            client.post("/api/v1/activate", json=body, headers={"Idempotency-Key": new_idempotency_key()})
            for _ in range(n)
        ))


def _run(c: Any) -> None:
    kit = c.create_kit(users=5, pins=2)
    body = req(kit, kit.single_pins[0]).to_dict()
    got = asyncio.run(burst(c.url, body, 100))
    statuses = sorted(r.status_code for r in got)
    assert statuses.count(200) == 1, statuses
    assert all(r.json()["error"]["code"] == "pin_used" for r in got if r.status_code != 200)
    licenses = c.admin("GET", "/licenses", params={"regnum": kit.regnum}).json()["licenses"]
    assert [x["license_id"] for x in licenses] == [f"{kit.regnum}-001"]
    pins = c.admin("GET", f"/kits/{kit.regnum}").json()["pins"]
    assert [(p["set"], p["position"]) for p in pins if p["state"] == "used"] == [("single", 1)]
    # The first PINs of both sets of a fresh kit, raced: one set wins, the other is refused.
    fresh = c.create_kit(users=5, pins=1)
    both = asyncio.run(_pair(c.url, req(fresh, fresh.single_pins[0]).to_dict(),
                             req(fresh, fresh.multi_pins[0]).to_dict()))
    assert sorted(r.status_code for r in both) == [200, 409]
    assert [r.json()["error"]["code"] for r in both if r.status_code == 409] == ["pin_set_conflict"]


async def _pair(url: str, a: dict[str, Any], b: dict[str, Any]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        return list(await asyncio.gather(client.post("/api/v1/activate", json=a),
                                         client.post("/api/v1/activate", json=b)))


@pytest.mark.slow
def test_one_pin_one_license_sqlite_two_processes(center_factory: Any) -> None:
    c = center_factory(workers=2)
    _run(c)
    db_file = c.db_url.split("///", 1)[1]
    with sqlite3.connect(db_file) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.slow
@pytest.mark.postgres
def test_one_pin_one_license_postgresql_two_processes(center_factory: Any, pg_url: str) -> None:
    _run(center_factory(db_url=pg_url, workers=2))
