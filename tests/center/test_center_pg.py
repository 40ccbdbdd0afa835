"""The same center on PostgreSQL (fresh database per test): migrations, every
operation, a refusal and the kit lock, through a real server process."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from licwiz.core.identifiers import new_pin

from .test_center_api import PARAMS, req

pytestmark = pytest.mark.postgres


def test_postgresql_first_recover_update_and_refusals(center_factory: Any, pg_url: str) -> None:
    c = center_factory(db_url=pg_url, settings={"lock_seconds": "60"})
    kit = c.create_kit(users=5, pins=2)
    api = f"{c.url}/api/v1"
    first = httpx.post(f"{api}/activate", json=req(kit, kit.multi_pins[0]).to_dict())
    assert first.status_code == 200 and first.json()["users"] == 5
    rec_req = req(kit, kit.multi_pins[0], "recover").to_dict()
    recs = [httpx.post(f"{api}/activate", json=rec_req, headers={"Idempotency-Key": "pg-rec-1"}).json()
            for _ in range(2)]
    assert recs[0] == recs[1] and recs[0]["license"] == first.json()["license"]
    upd = httpx.post(f"{api}/activate", json=req(kit, kit.multi_pins[0], "update",
                                                 params={**PARAMS, "machine_id": "9" * 64},
                                                 extra_pin=kit.multi_pins[1]).to_dict())
    assert upd.json()["supersedes"] == first.json()["license_id"]
    assert upd.json()["license_id"].endswith("-002")
    conflict = httpx.post(f"{api}/activate", json=req(kit, kit.single_pins[0]).to_dict())
    assert conflict.json()["error"]["code"] == "pin_set_conflict"
    for _ in range(5):
        assert httpx.post(f"{api}/check", json={**req(kit, kit.single_pins[1]).to_dict(), "pin": new_pin()}
                          ).json()["error"]["code"] == "pin_unknown"
    assert httpx.post(f"{api}/check", json=req(kit, kit.single_pins[1]).to_dict()).status_code == 423
    events = [(a["event"], a["code"]) for a in json.loads(c.cli("audit", "--json").stdout)
              if a["regnum"] == kit.regnum]
    assert {("issue", None), ("recover", None), ("update", None), ("refuse", "pin_set_conflict"),
            ("check_refuse", "pin_unknown")} <= set(events)
    assert events.count(("recover", None)) == 1  # the retry was answered from the stored answer
    lics = c.admin("GET", "/licenses", params={"regnum": kit.regnum}).json()["licenses"]
    assert [(x["license_id"][-3:], x["status"]) for x in lics] == [("001", "superseded"), ("002", "active")]
