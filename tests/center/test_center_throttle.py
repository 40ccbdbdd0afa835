"""PIN guessing is throttled: the kit locks after 5 wrong PINs for a growing
time, and one client address gets a limit too. The counts live in the
database, so two server processes share them."""

from __future__ import annotations

import time
from typing import Any

import httpx
from licwiz.core.client import new_idempotency_key
from licwiz.core.identifiers import new_pin

from .test_center_api import req


def post(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/activate", json=body,
                      headers={"Idempotency-Key": new_idempotency_key()}, timeout=30)


def test_wrong_pins_lock_the_kit_for_a_growing_time(center_factory: Any) -> None:
    c = center_factory(workers=2, settings={"lock_seconds": "2", "addr_max_failures": "1000"})
    kit = c.create_kit(pins=2)
    good = req(kit, kit.single_pins[0]).to_dict()
    for _ in range(5):  # spread over both processes by separate connections
        r = post(c.url, {**good, "pin": new_pin()})
        assert r.json()["error"]["code"] == "pin_unknown"
    locked = post(c.url, good)
    assert locked.status_code == 423
    err = locked.json()["error"]
    assert err["code"] == "kit_locked" and "UTC" in err["detail"]
    # Checking is locked as well (it is the cheaper oracle for guessing).
    assert httpx.post(f"{c.url}/api/v1/check", json=good).json()["error"]["code"] == "kit_locked"
    time.sleep(2.2)
    assert post(c.url, good).status_code == 200  # the lock expired; success resets the counts
    # Five more wrong PINs: the next lock starts again at the base time (success reset the level).
    for _ in range(5):
        post(c.url, {**good, "pin": new_pin()})
    assert post(c.url, {**good, "pin": kit.single_pins[1]}).status_code == 423
    time.sleep(2.2)
    for _ in range(5):  # a second lock without a success in between lasts twice as long
        post(c.url, {**good, "pin": new_pin()})
    time.sleep(2.2)
    r = post(c.url, {**good, "pin": kit.single_pins[1]})
    assert r.status_code == 423, r.text
    events = c.cli("audit", "--json", "--limit", "100").stdout
    assert events.count('"pin_unknown"') == 15 and '"kit_locked"' in events


def test_one_address_is_limited_across_kits(center_factory: Any) -> None:
    c = center_factory(settings={"addr_max_failures": "4", "addr_window_seconds": "60"})
    kit = c.create_kit()
    body = req(kit, kit.single_pins[0]).to_dict()
    for _ in range(4):  # unknown registration numbers and wrong PINs both count
        assert post(c.url, {**body, "regnum": "0000000000"}).status_code == 404
    r = post(c.url, body)
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert httpx.post(f"{c.url}/api/v1/check", json=body).status_code == 429
