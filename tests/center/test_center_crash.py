"""A crash between spending a PIN and storing its license cannot happen: the
server is killed with SIGKILL during a burst of activations; afterwards every
spent PIN has its license and every license a client received is stored."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import httpx
import pytest
from licwiz.center.keystore import load_keys
from licwiz.core.client import new_idempotency_key

from .test_center_api import req


async def _burst_and_kill(c: Any, bodies: list[dict[str, Any]]) -> dict[str, str]:
    got: dict[str, str] = {}

    async def one(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
        try:
            r = await client.post("/api/v1/activate", json=body,
                                  headers={"Idempotency-Key": new_idempotency_key()})
        except httpx.HTTPError:
            return
        if r.status_code == 200:
            got[r.json()["license_id"]] = r.json()["license"]

    async with httpx.AsyncClient(base_url=c.url, timeout=30,
                                 limits=httpx.Limits(max_connections=20)) as client:
        tasks = [asyncio.create_task(one(client, b)) for b in bodies]
        while len(got) < 15:  # kill in the middle of the burst, with requests in flight
            await asyncio.sleep(0.005)
        c.kill()
        await asyncio.gather(*tasks)
    return got


@pytest.mark.slow
def test_kill_during_burst_leaves_no_pin_without_license(center_factory: Any) -> None:
    c = center_factory(workers=2)
    kits = [c.create_kit(pins=100) for _ in range(2)]
    bodies = [req(k, p).to_dict() for k in kits for p in k.single_pins]
    received = asyncio.run(_burst_and_kill(c, bodies))
    assert 15 <= len(received) < len(bodies), "the kill must land during the burst"
    with sqlite3.connect(c.db_url.split("///", 1)[1]) as con:
        spent = {r[0] for r in con.execute("SELECT pin_hash FROM pins WHERE used_at IS NOT NULL")}
        paid = {r[0] for r in con.execute("SELECT pin_hash FROM licenses")}
        stored = dict(con.execute("SELECT license_id, text FROM licenses").fetchall())
    assert spent == paid
    for license_id, text in received.items():
        assert stored.get(license_id) == text
    # The restarted center carries on: the serials continue without a gap or a duplicate.
    c.start()
    k = kits[0]
    pin_hash = load_keys(c.home).pin_hash
    unused = [p for p in k.single_pins if pin_hash(p) not in spent]
    r = httpx.post(f"{c.url}/api/v1/activate", json=req(k, unused[0]).to_dict(), timeout=30)
    assert r.status_code == 200
    issued = sorted(int(x.split("-")[1]) for x in stored if x.startswith(k.regnum))
    assert issued == list(range(1, len(issued) + 1))
    assert r.json()["license_id"] == f"{k.regnum}-{len(issued) + 1:03d}"
