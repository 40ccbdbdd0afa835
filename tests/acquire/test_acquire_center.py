"""acquire_online and ``licwiz acquire`` against a REAL Licensing Center
process (``licwiz center serve``, tests/support/fixtures_center.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from licwiz.core import acquire
from licwiz.core.client import CenterClient, new_idempotency_key
from licwiz.core.errors import CenterError
from licwiz.core.fingerprint import collect
from licwiz.core.keys import load_keyring
from licwiz.core.license import pin_digest, verify
from licwiz.core.owner import OwnerData
from licwiz.core.request import ActivationRequest
from licwiz.core.storage import installed_files, license_dir

PRODUCT = "licwiz-demo"


@pytest.fixture(autouse=True)
def _trust_center(center: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LICWIZ_TRUSTED_KEYS", str(center.trusted_keys))


def _req(kit: Any, owner: OwnerData, pin: str, operation: str = "first", **kw: Any) -> ActivationRequest:
    return ActivationRequest(product=PRODUCT, regnum=kit.regnum, pin=pin, operation=operation, owner=owner,
                             params=kw.pop("params", collect(PRODUCT)), **kw)


async def _acquire(center: Any, req: ActivationRequest, scope: Any = "all-users") -> acquire.Outcome:
    async with CenterClient(center.url, timeout=10) as client:
        return await acquire.acquire_online(
            client, req, keyring=load_keyring(), scope=scope, idempotency_key=new_idempotency_key()
        )


async def test_first_recover_update(center: Any, acq_owner: OwnerData) -> None:
    kit = center.create_kit(users=1, pins=3)
    first_pin, extra_pin = kit.single_pins[0], kit.single_pins[1]

    first = await _acquire(center, _req(kit, acq_owner, first_pin))
    assert first.license.license_id == f"{kit.regnum}-001"
    assert first.path == license_dir("all-users") / f"{kit.regnum}-001.lic"
    assert first.path.read_text() == first.text
    assert first.license.pin_digest == pin_digest(kit.regnum, first_pin)

    # the license file is lost; recovery with the same PIN gives the same license back, no PIN spent
    first.path.unlink()
    again = await _acquire(center, _req(kit, acq_owner, first_pin, "recover"), scope="user")
    assert again.text == first.text and again.scope == "user"
    assert again.path is not None and again.path.read_text() == first.text

    # update: the PIN in use plus an unused one; the new license supersedes the old
    upd = await _acquire(center, _req(kit, acq_owner, first_pin, "update", extra_pin=extra_pin))
    assert upd.license.license_id == f"{kit.regnum}-002"
    assert upd.license.supersedes == first.license.license_id
    assert upd.license.pin_digest == pin_digest(kit.regnum, extra_pin)
    assert verify(upd.path.read_text() if upd.path else "", load_keyring(), product=PRODUCT).users == 1

    rows = acquire.installed_licenses(load_keyring(), PRODUCT, collect(PRODUCT))
    state = {r.license.license_id: (r.valid, r.code) for r in rows if r.license}
    assert state == {f"{kit.regnum}-001": (False, "superseded"), f"{kit.regnum}-002": (True, "")}


async def test_multi_user_set_gives_one_n_user_license(center: Any, acq_owner: OwnerData) -> None:
    kit = center.create_kit(users=5, pins=2)
    out = await _acquire(center, _req(kit, acq_owner, kit.multi_pins[0]))
    assert out.license.users == 5
    with pytest.raises(CenterError) as info:  # the other set is now refused, nothing installed
        await _acquire(center, _req(kit, acq_owner, kit.single_pins[0]), scope="user")
    assert info.value.code == "pin_set_conflict"
    assert [e.scope for e in installed_files()] == ["all-users"]


async def test_refusals_install_nothing(center: Any, acq_owner: OwnerData) -> None:
    kit = center.create_kit(users=1, pins=2)
    await _acquire(center, _req(kit, acq_owner, kit.single_pins[0]))
    before = installed_files()
    cases = [
        (_req(kit, acq_owner, kit.single_pins[0]), "pin_used"),
        (_req(kit, OwnerData(**{**acq_owner.to_dict(), "contact": "Someone Else"}), kit.single_pins[0],
              "recover"), "owner_mismatch"),
    ]
    for req, code in cases:
        with pytest.raises(CenterError) as info:
            await _acquire(center, req, scope="user")
        assert info.value.code == code
        assert info.value.request_id  # support can find it in the center's log
    assert installed_files() == before


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "licwiz.cli", *args], capture_output=True, text=True,
                          timeout=60)


def test_cli_first_then_update_then_pin_used(center: Any, acq_owner_file: Path) -> None:
    kit = center.create_kit(users=1, pins=3)
    base = ["acquire", "--kit", kit.regnum, "--owner-file", str(acq_owner_file), "--center", center.url,
            "--json"]
    r = _cli(*base, "--pin", kit.single_pins[0], "--operation", "first", "--scope", "all-users")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["license"]["license_id"] == f"{kit.regnum}-001"

    r = _cli(*base, "--last-pin", kit.single_pins[0], "--extra-pin", kit.single_pins[1],
             "--operation", "update", "--scope", "user")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)["license"]
    assert doc["license_id"] == f"{kit.regnum}-002" and doc["supersedes"] == f"{kit.regnum}-001"
    assert Path(doc["path"]).parent == license_dir("user")

    r = _cli(*base, "--pin", kit.single_pins[1], "--operation", "first", "--scope", "user")
    assert r.returncode == 3
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and r.stderr.strip().endswith("[pin_used]")

    st = _cli("status", "--json")
    ids = {row["license_id"]: row["valid"] for row in json.loads(st.stdout)["licenses"]}
    assert ids == {f"{kit.regnum}-001": False, f"{kit.regnum}-002": True}
    assert st.returncode == 0
