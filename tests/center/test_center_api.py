"""Every operation and refusal of the Licensing Center API, over HTTP, against
a real ``licwiz center serve`` process (fixture ``center``)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from licwiz.center.service import CenterService
from licwiz.core.client import CenterClient, new_idempotency_key
from licwiz.core.errors import CenterError
from licwiz.core.keys import load_keyring, load_public
from licwiz.core.license import pin_digest, verify
from licwiz.core.owner import OwnerData
from licwiz.core.request import ActivationRequest, seal
from support import owners

OWNER = owners.ORGANISATION
PARAMS = {"machine_id": "a1" * 32, "cpu": "b2" * 32, "mac": "c3" * 32, "root_fs": "d4" * 32, "os": "e5" * 32}


def req(
    kit: Any,
    pin: str,
    op: str = "first",
    owner: OwnerData = OWNER,
    params: dict[str, str] | None = None,
    **kw: Any,
) -> ActivationRequest:
    return ActivationRequest(
        kit.product, kit.regnum, pin, op, owner, dict(PARAMS if params is None else params), **kw
    )


async def refused(coro: Any) -> CenterError:
    with pytest.raises(CenterError) as info:
        await coro
    err = info.value
    assert err.request_id, "every refusal names its request id"
    assert err.brief and err.detail
    return err


@pytest.fixture
def client(center: Any) -> CenterClient:
    return CenterClient(center.url)


@pytest.fixture
def keyring(center: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LICWIZ_TRUSTED_KEYS", str(center.trusted_keys))
    return load_keyring()


async def test_first_time_registration_issues_a_signed_license(
    center: Any, client: CenterClient, keyring: Any
) -> None:
    kit = center.create_kit(users=1, pins=3)
    r = req(kit, kit.single_pins[0])
    avail = await client.check(r)
    assert (avail.available, avail.users, avail.pin_set, avail.method_family) == (
        True,
        1,
        "single",
        "online-or-file",
    )
    issued = await client.activate(r, new_idempotency_key())
    lic = verify(issued.license_text, keyring, product="licwiz-demo")
    assert lic.license_id == issued.license_id == f"{kit.regnum}-001"
    assert (lic.users, lic.method, lic.supersedes) == (1, "online", None)
    assert lic.owner_digest == OWNER.digest()
    assert lic.pin_digest == pin_digest(kit.regnum, kit.single_pins[0])
    assert dict(lic.params) == PARAMS
    assert issued.request_id
    second = await client.activate(req(kit, kit.single_pins[1]), new_idempotency_key())
    assert second.license_id == f"{kit.regnum}-002"
    await client.aclose()


async def test_multi_user_set_gives_an_n_user_license_and_locks_the_set(
    center: Any, client: CenterClient, keyring: Any
) -> None:
    kit = center.create_kit(users=5, pins=2)
    assert (await client.check(req(kit, kit.multi_pins[0]))).users == 5
    issued = await client.activate(req(kit, kit.multi_pins[0]), new_idempotency_key())
    assert issued.users == 5 and verify(issued.license_text, keyring).users == 5
    err = await refused(client.activate(req(kit, kit.single_pins[0]), new_idempotency_key()))
    assert (err.code, err.status) == ("pin_set_conflict", 409)
    err = await refused(client.check(req(kit, kit.single_pins[1])))
    assert err.code == "pin_set_conflict"
    # The other multi-set PIN is still fine.
    assert (await client.check(req(kit, kit.multi_pins[1]))).pin_set == "multi"
    await client.aclose()


async def test_check_spends_nothing_and_accepts_empty_owner(center: Any, client: CenterClient) -> None:
    kit = center.create_kit()
    r = req(kit, kit.single_pins[0], owner=OwnerData())
    for _ in range(3):
        assert (await client.check(r)).available
    assert (await client.activate(req(kit, kit.single_pins[0]), "k1" + kit.regnum)).license_id
    await client.aclose()


async def test_recovery_returns_the_same_license_and_spends_nothing(
    center: Any, client: CenterClient
) -> None:
    kit = center.create_kit(pins=2)
    first = await client.activate(req(kit, kit.single_pins[0]), new_idempotency_key())
    # Only invisible differences are forgiven: spaces around and inside, Unicode normal form.
    # spaces around and inside, a tab after: the canonical form forgives these
    sloppy = replace(OWNER, contact="  " + "   ".join(OWNER.contact.split()) + " ", city=OWNER.city + "\t")
    rec = req(kit, kit.single_pins[0], "recover", owner=sloppy)
    assert (await client.check(rec)).available
    again = await client.activate(rec, new_idempotency_key())
    assert again.license_text == first.license_text and again.license_id == first.license_id
    # A tolerated change (one ordinary parameter) still recovers.
    moved = {**PARAMS, "os": "ff" * 32}
    assert (
        await client.activate(req(kit, kit.single_pins[0], "recover", params=moved), new_idempotency_key())
    ).license_text == first.license_text
    # Nothing was spent: the second PIN still gives license 002.
    assert (await client.activate(req(kit, kit.single_pins[1]), new_idempotency_key())).license_id.endswith(
        "-002"
    )
    await client.aclose()


async def test_owner_mismatch_never_reveals_the_field(center: Any, client: CenterClient) -> None:
    kit = center.create_kit()
    await client.activate(req(kit, kit.single_pins[0]), new_idempotency_key())
    wrong = replace(OWNER, contact=OWNER.contact.lower())  # case counts
    err = await refused(
        client.activate(req(kit, kit.single_pins[0], "recover", owner=wrong), new_idempotency_key())
    )
    assert (err.code, err.status) == ("owner_mismatch", 403)
    text = (err.brief + err.detail).lower()
    for leak in ("contact person", "ann", "smith", "acme", "leeds", "city", "organisation"):
        assert leak not in text
    err = await refused(client.check(req(kit, kit.single_pins[0], "recover", owner=wrong)))
    assert err.code == "owner_mismatch"
    await client.aclose()


async def test_parameters_changed_refuses_recovery_on_another_computer(
    center: Any, client: CenterClient
) -> None:
    kit = center.create_kit()
    await client.activate(req(kit, kit.single_pins[0]), new_idempotency_key())
    other = {**PARAMS, "machine_id": "00" * 32}
    err = await refused(
        client.activate(req(kit, kit.single_pins[0], "recover", params=other), new_idempotency_key())
    )
    assert (err.code, err.status) == ("parameters_changed", 409)
    assert "extra PIN" in err.detail
    await client.aclose()


async def test_update_spends_the_extra_pin_and_supersedes(
    center: Any, client: CenterClient, keyring: Any
) -> None:
    kit = center.create_kit(pins=3)
    old = await client.activate(req(kit, kit.single_pins[0]), new_idempotency_key())
    other = {**PARAMS, "machine_id": "00" * 32}
    upd = req(kit, kit.single_pins[0], "update", params=other, extra_pin=kit.single_pins[1])
    assert (await client.check(upd)).available
    new = await client.activate(upd, new_idempotency_key())
    lic = verify(new.license_text, keyring)
    assert (new.license_id, new.supersedes, lic.supersedes) == (
        f"{kit.regnum}-002",
        old.license_id,
        old.license_id,
    )
    assert dict(lic.params) == other
    assert lic.pin_digest == pin_digest(kit.regnum, kit.single_pins[1])
    # The old PIN is no longer the one in use; the extra PIN is now spent.
    err = await refused(client.activate(req(kit, kit.single_pins[0], "recover"), new_idempotency_key()))
    assert err.code == "pin_mismatch"
    err = await refused(client.activate(req(kit, kit.single_pins[1]), new_idempotency_key()))
    assert err.code == "pin_used"
    # Recovery with the new PIN gives the new license.
    rec = await client.activate(req(kit, kit.single_pins[1], "recover", params=other), new_idempotency_key())
    assert rec.license_text == new.license_text
    # An update with an already used extra PIN, with owner mismatch, with a PIN of another kit.
    err = await refused(
        client.activate(
            req(kit, kit.single_pins[1], "update", params=PARAMS, extra_pin=kit.single_pins[0]),
            new_idempotency_key(),
        )
    )
    assert err.code == "pin_used"
    err = await refused(
        client.activate(
            req(
                kit,
                kit.single_pins[1],
                "update",
                owner=replace(OWNER, email="x@acme.example"),
                extra_pin=kit.single_pins[2],
            ),
            new_idempotency_key(),
        )
    )
    assert err.code == "owner_mismatch"
    stranger = center.create_kit()
    err = await refused(
        client.activate(
            req(kit, kit.single_pins[1], "update", extra_pin=stranger.single_pins[0]), new_idempotency_key()
        )
    )
    assert err.code == "pin_unknown" and "Extra PIN code" in err.brief
    await client.aclose()


async def test_update_across_pin_sets_is_refused(center: Any, client: CenterClient) -> None:
    kit = center.create_kit(users=10, pins=2)
    await client.activate(req(kit, kit.single_pins[0]), new_idempotency_key())
    err = await refused(
        client.activate(
            req(kit, kit.single_pins[0], "update", extra_pin=kit.multi_pins[0]), new_idempotency_key()
        )
    )
    assert err.code == "pin_set_conflict"
    await client.aclose()


async def test_pin_refusals(center: Any, client: CenterClient) -> None:
    kit = center.create_kit(pins=2)
    other = center.create_kit()
    err = await refused(client.activate(req(kit, other.single_pins[0]), new_idempotency_key()))
    assert (err.code, err.status) == ("pin_unknown", 403)
    err = await refused(client.activate(req(kit, kit.single_pins[0], "recover"), new_idempotency_key()))
    assert (err.code, err.status) == ("pin_mismatch", 409) and "not been used" in err.detail
    await client.activate(req(kit, kit.single_pins[0]), new_idempotency_key())
    err = await refused(client.activate(req(kit, kit.single_pins[0]), new_idempotency_key()))
    assert (err.code, err.status) == ("pin_used", 409) and "recovery" in err.detail.lower()
    await client.aclose()


async def test_kit_and_request_refusals(center: Any, client: CenterClient) -> None:
    kit = center.create_kit()
    unknown = replace(req(kit, kit.single_pins[0]), regnum="0000000000")
    err = await refused(client.activate(unknown, new_idempotency_key()))
    assert (err.code, err.status) == ("kit_unknown", 404)
    err = await refused(
        client.activate(replace(req(kit, kit.single_pins[0]), product="other-product"), new_idempotency_key())
    )
    assert err.code == "wrong_product" and "licwiz-demo" in err.detail
    err = await refused(
        client.activate(replace(req(kit, kit.single_pins[0]), operation="steal"), new_idempotency_key())
    )
    assert (err.code, err.status) == ("operation_invalid", 400)
    typo = kit.single_pins[0][:-1] + str((int(kit.single_pins[0][-1]) + 1) % 10)
    err = await refused(client.activate(req(kit, typo), new_idempotency_key()))
    assert (err.code, err.status) == ("bad_request", 400) and "check digit" in err.brief
    err = await refused(
        client.activate(
            req(kit, kit.single_pins[0], owner=replace(OWNER, email="nope")), new_idempotency_key()
        )
    )
    assert err.code == "bad_request" and "E-mail" in err.brief
    err = await refused(client.activate(req(kit, kit.single_pins[0], params={}), new_idempotency_key()))
    assert err.code == "bad_request" and "parameters" in err.detail
    async with httpx.AsyncClient(base_url=center.url) as raw:
        for body in (b"{", b"[]", b'{"product": 1}', b"x" * 200_000):
            resp = await raw.post(
                "/api/v1/activate", content=body, headers={"Content-Type": "application/json"}
            )
            assert resp.status_code in (400, 413), resp.text
            e = resp.json()["error"]
            assert e["code"] == "bad_request" and e["request_id"] == resp.headers["X-Request-Id"]
        resp = await raw.get("/api/v1/nowhere")
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
        assert resp.headers["X-Request-Id"]
    await client.aclose()


async def test_idempotent_retry_returns_the_first_answer(center: Any, client: CenterClient) -> None:
    kit = center.create_kit(pins=2)
    r = req(kit, kit.single_pins[0])
    key = new_idempotency_key()
    a = await client.activate(r, key)
    b = await client.activate(r, key)
    assert (a.license_text, a.license_id, a.request_id) == (b.license_text, b.license_id, b.request_id)
    # Many concurrent retries of a lost response: still one license, one PIN.
    r2 = req(kit, kit.single_pins[1])
    key2 = new_idempotency_key()
    got = await asyncio.gather(*(client.activate(r2, key2) for _ in range(8)))
    assert {g.license_id for g in got} == {f"{kit.regnum}-002"}
    err = await refused(client.activate(replace(r, pin=kit.single_pins[1]), key))
    assert (err.code, err.status) == ("idempotency_conflict", 422)
    await client.aclose()


async def test_method_lock(center: Any, client: CenterClient) -> None:
    """A phone license is recovered only by phone; an online one not by phone."""
    kit = center.create_kit(pins=3)
    svc = CenterService.open(center.db_url, center.home)
    try:
        await svc.start()
        phone = await svc.activate(req(kit, kit.single_pins[0]), method="phone", request_id="t-phone")
        assert phone.license.method == "phone"
        online = await client.activate(req(kit, kit.single_pins[1]), new_idempotency_key())
        err = await refused(client.activate(req(kit, kit.single_pins[0], "recover"), new_idempotency_key()))
        assert (err.code, err.status) == ("method_locked", 409) and "phone" in err.brief
        err = await refused(
            client.activate(
                req(kit, kit.single_pins[0], "update", extra_pin=kit.single_pins[2]), new_idempotency_key()
            )
        )
        assert err.code == "method_locked"
        again = await svc.activate(req(kit, kit.single_pins[0], "recover"), method="phone", request_id="t2")
        assert again.license_text == phone.license_text
        with pytest.raises(Exception) as info:
            await svc.activate(req(kit, kit.single_pins[1], "recover"), method="phone", request_id="t3")
        assert getattr(info.value, "code", "") == "method_locked"
        # The file method is in the online family.
        assert (
            await svc.activate(req(kit, kit.single_pins[1], "recover"), method="file", request_id="t4")
        ).license_text == online.license_text
    finally:
        await svc.close()
    await client.aclose()


async def test_request_file_method(center: Any, client: CenterClient, keyring: Any) -> None:
    kit = center.create_kit(pins=2)
    keys = await client.keys()
    sealing = load_public(keys["sealing"][0]["pem"])
    text = seal(req(kit, kit.single_pins[0], method="file"), sealing)  # type: ignore[arg-type]
    issued = await client.submit_request_file(text, new_idempotency_key())
    lic = verify(issued.license_text, keyring)
    assert lic.method == "file" and issued.license_id == f"{kit.regnum}-001"
    # Recovery online of a file license is allowed (same family).
    rec = await client.activate(req(kit, kit.single_pins[0], "recover"), new_idempotency_key())
    assert rec.license_text == issued.license_text
    damaged = text.replace(text.splitlines()[3][:8], "AAAAAAAA", 1)
    err = await refused(client.submit_request_file(damaged))
    assert err.code in ("bad_seal", "bad_request_file") and err.status == 400
    err = await refused(client.submit_request_file("hello"))
    assert err.status == 400
    async with httpx.AsyncClient(base_url=center.url) as raw:
        resp = await raw.post("/api/v1/requests", json={"file": text})
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "bad_request"
    await client.aclose()


async def test_revoked_license_cannot_be_recovered(center: Any, client: CenterClient) -> None:
    kit = center.create_kit()
    issued = await client.activate(req(kit, kit.single_pins[0]), new_idempotency_key())
    center.cli("license", "revoke", issued.license_id)
    err = await refused(client.activate(req(kit, kit.single_pins[0], "recover"), new_idempotency_key()))
    assert err.code == "license_revoked"
    await client.aclose()


def test_admin_api_needs_the_admin_token(center: Any) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        resp = httpx.get(f"{center.url}/api/v1/admin/kits", headers=headers)
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthorized"
    kit = center.create_kit(users=5, pins=1)
    shown = center.admin("GET", f"/kits/{kit.regnum}").json()
    # A kit's PINs are shown when it is made, never again: only their positions and states.
    assert "single_pins" not in shown and shown["users"] == 5
    assert shown["pins"] == [{"set": "single", "position": 1, "state": "unused"},
                             {"set": "multi", "position": 1, "state": "unused"}]
    assert kit.regnum in {k["regnum"] for k in center.admin("GET", "/kits").json()["kits"]}
    assert center.admin("GET", "/kits/0000000000").status_code == 404
    assert (
        center.admin("POST", "/kits", json={"product": "p", "users": 0}).json()["error"]["code"]
        == "bad_input"
    )
    assert center.admin("GET", "/licenses/nope").status_code == 404


async def test_admin_license_views_and_revoke(center: Any, client: CenterClient) -> None:
    kit = center.create_kit()
    issued = await client.activate(req(kit, kit.single_pins[0]), new_idempotency_key())
    listed = center.admin("GET", "/licenses", params={"regnum": kit.regnum}).json()["licenses"]
    assert [x["license_id"] for x in listed] == [issued.license_id]
    shown = center.admin("GET", f"/licenses/{issued.license_id}").json()
    assert shown["license"] == issued.license_text and shown["owner"]["email"] == OWNER.email
    revoked = center.admin("POST", f"/licenses/{issued.license_id}/revoke").json()
    assert revoked["status"] == "revoked"
    await client.aclose()


def test_openapi_document_lists_the_api(center: Any) -> None:
    doc = httpx.get(f"{center.url}/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for path in ("/api/v1/health", "/api/v1/keys", "/api/v1/check", "/api/v1/activate", "/api/v1/requests"):
        assert path in doc["paths"]


def test_phone_number_setting_is_readable(center: Any, tmp_path: Path) -> None:
    center.config_set("phone_number", "+1 555 0100")
    out = json.loads(center.cli("config", "show", "--json").stdout)
    assert out["phone_number"] == "+1 555 0100"

    async def read() -> str:
        svc = CenterService.open(center.db_url, center.home)
        try:
            await svc.start()
            assert svc.phone_number_cached == "+1 555 0100"
            return await svc.phone_number()
        finally:
            await svc.close()

    assert asyncio.run(read()) == "+1 555 0100"
    bad = center.cli("config", "set", "lock_seconds", "soon", check=False)
    assert bad.returncode == 1 and "whole number" in bad.stderr
