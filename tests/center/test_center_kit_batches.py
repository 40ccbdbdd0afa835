"""A large kit call is written in batches of KITS_PER_COMMIT: every kit is made, with its own PINs."""

from __future__ import annotations

from typing import Any

from licwiz.center import kits as center_kits


def test_a_call_for_more_kits_than_one_batch_makes_them_all(center: Any) -> None:
    count = center_kits.KITS_PER_COMMIT * 2 + 7  # three transactions, the last one short
    body = {"product": "licwiz-demo", "users": 5, "pins": 2, "count": count}
    resp = center.admin("POST", "/kits", json=body)
    assert resp.status_code == 201, resp.text
    made = resp.json()["kits"]
    assert len(made) == count
    assert len({k["regnum"] for k in made}) == count
    listed = {k["regnum"] for k in center.admin("GET", "/kits").json()["kits"]}
    assert {k["regnum"] for k in made} <= listed
    for kit in (made[0], made[center_kits.KITS_PER_COMMIT], made[-1]):
        shown = center.admin("GET", f"/kits/{kit['regnum']}").json()
        assert len(shown["pins"]) == 4 and all(p["state"] == "unused" for p in shown["pins"])
    pins = [p for k in made for p in k["single_pins"] + k["multi_pins"]]
    assert len(set(pins)) == len(pins) == count * 4
