"""The fixture gives a real, working center (health, keys, a kit)."""

from __future__ import annotations

import httpx


def test_center_fixture_serves_health_and_keys(center) -> None:
    r = httpx.get(f"{center.url}/api/v1/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert r.headers["X-Request-Id"]
    keys = httpx.get(f"{center.url}/api/v1/keys").json()
    pems = sorted(p.read_text() for p in center.trusted_keys.glob("*.pem"))
    assert sorted([k["pem"] for k in keys["signing"]] + [k["pem"] for k in keys["sealing"]]) == pems


def test_center_create_kit_gives_both_pin_sets(center) -> None:
    kit = center.create_kit(users=5, pins=2)
    assert len(kit.regnum) == 10 and kit.users == 5
    assert len(kit.single_pins) == 2 and len(kit.multi_pins) == 2
    one = center.create_kit()
    assert one.multi_pins == [] and len(one.single_pins) == 3
