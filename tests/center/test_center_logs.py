"""Logs are one JSON line per request and never hold owner data; the audit
table records every issue, refusal, recovery, update and revoke."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from licwiz.center.keystore import load_keys
from licwiz.core.client import new_idempotency_key
from licwiz.core.request import seal

from .test_center_api import OWNER, req


def test_request_log_is_json_without_personal_data(center_factory: Any) -> None:
    c = center_factory()
    kit = c.create_kit(pins=2)
    bodies = [req(kit, kit.single_pins[0]).to_dict(), req(kit, kit.single_pins[0], "recover").to_dict()]
    wrong_owner = req(kit, kit.single_pins[0], "recover").to_dict()
    wrong_owner["owner"]["contact"] = "Zebulon Quarterhouse"
    ids = []
    for body in [*bodies, wrong_owner, {**bodies[0], "owner": {"email": "bad"}}]:
        r = httpx.post(f"{c.url}/api/v1/activate", json=body,
                       headers={"Idempotency-Key": new_idempotency_key()})
        ids.append(r.headers["X-Request-Id"])
    upd = req(kit, kit.single_pins[0], "update", extra_pin=kit.single_pins[1]).to_dict()
    r = httpx.post(f"{c.url}/api/v1/activate", json=upd)
    ids.append(r.headers["X-Request-Id"])
    c.cli("license", "revoke", r.json()["license_id"])
    time.sleep(0.2)
    c.stop()
    text = c.log_path.read_text() + c.out_path.read_text()
    for personal in (OWNER.contact, OWNER.email, OWNER.organisation, OWNER.address, OWNER.phone,
                     "Zebulon", "Quarterhouse", OWNER.postcode, kit.single_pins[0]):
        assert personal not in text
    lines = [json.loads(line) for line in c.log_path.read_text().splitlines()]
    by_id = {x["id"]: x for x in lines}
    assert [by_id[i]["status"] for i in ids] == [200, 200, 403, 400, 200]
    assert [by_id[i]["code"] for i in ids] == [None, None, "owner_mismatch", "bad_request", None]
    assert all({"ts", "id", "route", "status", "ms", "code"} <= set(x) for x in lines)
    audit = json.loads(c.cli("audit", "--json", "--limit", "50").stdout)
    events = {(a["event"], a["code"]) for a in audit}
    assert {("issue", None), ("recover", None), ("refuse", "owner_mismatch"), ("update", None),
            ("revoke", None), ("kit_create", None)} <= events
    assert {ids[0], ids[1], ids[2], ids[4]} <= {a["request_id"] for a in audit}


def test_refusals_before_any_rule_are_audited_too(center: Any) -> None:
    """A request file that cannot be opened, a body that is not a request and
    a call without the admin token are refusals: the audit has each, by id."""
    kit = center.create_kit(pins=1)
    sealed = seal(req(kit, kit.single_pins[0]), load_keys(center.home).sealing.public_key())
    lines = sealed.splitlines()
    lines[3] = lines[3][:-2] + ("AA" if not lines[3].endswith("AA") else "BB")  # one flipped byte
    calls = [
        ("POST", "/api/v1/requests", {"json": {"request": "\n".join(lines) + "\n"}}, "bad_seal", "refuse"),
        ("POST", "/api/v1/activate", {"json": {"owner": {"email": "x"}}}, "bad_request", "refuse"),
        ("GET", "/api/v1/admin/kits", {"headers": {"Authorization": "Bearer wrong"}}, "unauthorized",
         "admin_refuse"),
    ]
    seen = {}
    for method, path, kw, code, event in calls:
        r = httpx.request(method, f"{center.url}{path}", **kw)
        assert r.json()["error"]["code"] == code, r.text
        seen[r.headers["X-Request-Id"]] = (event, code)
    audit = json.loads(center.cli("audit", "--json", "--limit", "50").stdout)
    got = {a["request_id"]: (a["event"], a["code"]) for a in audit if a["request_id"] in seen}
    assert got == seen
    r = httpx.get(f"{center.url}/api/v1/admin/kits/{kit.regnum}",
                  headers={"Authorization": f"Bearer {center.admin_token}"})
    assert r.status_code == 200  # the admin's own address is not throttled by those
