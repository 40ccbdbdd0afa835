"""Issue 11 point 3: the API reads numbers exactly as the CLI and the wizard do
(core.identifiers.parse_pin / parse_regnum). A well-formed PIN or registration
number written with dashes or spaces is that number; a malformed one is 400
``bad_request`` naming the field and is not counted as a guess. Against a real
``licwiz center serve``."""

from __future__ import annotations

import json
from typing import Any

import httpx
from licwiz.core.client import new_idempotency_key
from licwiz.core.identifiers import format_pin
from licwiz.core.request import ActivationRequest
from support import owners

PARAMS = {"machine_id": "a1" * 32, "cpu": "b2" * 32, "mac": "c3" * 32, "root_fs": "d4" * 32, "os": "e5" * 32}
OWNER = owners.ORGANISATION


def body(kit: Any, pin: str, operation: str = "first", **kw: Any) -> dict[str, Any]:
    return ActivationRequest(kit.product, kit.regnum, pin, operation, OWNER, dict(PARAMS), **kw).to_dict()


def post(url: str, path: str, data: dict[str, Any], key: str | None = None) -> httpx.Response:
    return httpx.post(f"{url}/api/v1{path}", json=data, timeout=30,
                      headers={"Idempotency-Key": key or new_idempotency_key()})


def spaced(pin: str) -> str:
    return " ".join(pin[i:i + 5] for i in range(0, 15, 5))


def test_pins_with_separators_are_the_same_pins(center_factory: Any) -> None:
    c = center_factory(settings={"kit_max_failures": "2"})
    kit = c.create_kit(pins=3)
    first, extra = kit.single_pins[0], kit.single_pins[1]
    dashed = body(kit, format_pin(first))
    assert post(c.url, "/check", dashed).json()["available"] is True
    key = new_idempotency_key()
    issued = post(c.url, "/activate", dashed, key)
    assert issued.status_code == 200, issued.text
    # The same request with the plain PIN and the same key is the same request.
    again = post(c.url, "/activate", {**dashed, "pin": first}, key)
    assert again.status_code == 200 and again.json()["license_id"] == issued.json()["license_id"]
    # Recovery and update read the PIN in use and the extra PIN the same way.
    rec = post(c.url, "/activate", body(kit, spaced(first), "recover"))
    assert rec.json()["license"] == issued.json()["license"], rec.text
    upd = post(c.url, "/activate", body(kit, f" {format_pin(first)} ", "update", extra_pin=format_pin(extra)))
    assert upd.status_code == 200 and upd.json()["supersedes"] == issued.json()["license_id"], upd.text
    # The registration number too.
    spaced_regnum = {**body(kit, kit.single_pins[2]), "regnum": f"{kit.regnum[:5]} {kit.regnum[5:]}"}
    assert post(c.url, "/check", spaced_regnum).json()["available"] is True


def test_a_malformed_pin_is_bad_input_not_a_guess(center_factory: Any) -> None:
    c = center_factory(settings={"kit_max_failures": "2"})
    kit = c.create_kit(pins=1)
    pin = kit.single_pins[0]
    typo = pin[:-1] + str((int(pin[-1]) + 1) % 10)  # the check digit catches it
    cases = {typo: "check digit", pin[:14]: "expected 15 digits", pin[:7] + "x" + pin[8:]: "only digits",
             pin + "0" * 60: "too long", "": "enter 15 digits"}
    for bad, words in cases.items():
        for path in ("/check", "/activate"):
            r = post(c.url, path, body(kit, bad))
            assert r.status_code == 400, r.text
            err = r.json()["error"]
            assert err["code"] == "bad_request", err
            assert "PIN code" in err["detail"] and words in err["detail"], err
    extra = post(c.url, "/activate", body(kit, pin, "update", extra_pin=typo)).json()["error"]
    assert extra["code"] == "bad_request" and "Extra PIN code" in extra["detail"], extra
    regnum = post(c.url, "/activate", {**body(kit, pin), "regnum": kit.regnum[:9]}).json()["error"]
    assert regnum["code"] == "bad_request" and "Registration number" in regnum["detail"], regnum
    # Eleven malformed PINs against a limit of 2 wrong ones: the kit is not locked.
    assert post(c.url, "/activate", body(kit, format_pin(pin))).status_code == 200
    audit = json.loads(c.cli("audit", "--json").stdout)
    assert not [a for a in audit if a["code"] in ("pin_unknown", "kit_locked")], audit
