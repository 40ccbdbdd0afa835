"""What acquire_online does when the center misbehaves: a real HTTP server in a
thread (tests/support/fixtures_acquire.py) that signs with its own trusted key
and then tampers, mismatches or drops answers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from licwiz.core import acquire
from licwiz.core.client import CenterClient, new_idempotency_key
from licwiz.core.errors import (
    CenterError,
    InputError,
    LicenseInvalid,
    NotWritable,
    SignatureError,
)
from licwiz.core.fingerprint import collect
from licwiz.core.identifiers import new_pin, new_regnum
from licwiz.core.keys import load_keyring
from licwiz.core.license import verify
from licwiz.core.owner import OwnerData
from licwiz.core.request import ActivationRequest
from licwiz.core.storage import installed_files, license_dir, state_dir

PRODUCT = "licwiz-demo"


def _req(owner: OwnerData, **kw: Any) -> ActivationRequest:
    base: dict[str, Any] = dict(
        product=PRODUCT, regnum=new_regnum(), pin=new_pin(), operation="first", owner=owner,
        params=collect(PRODUCT),
    )
    base.update(kw)
    return ActivationRequest(**base)


async def _acquire(center: Any, req: ActivationRequest, **kw: Any) -> acquire.Outcome:
    steps: list[str] = kw.pop("steps", [])
    async with CenterClient(center.url, timeout=5) as client:
        return await acquire.acquire_online(
            client, req, keyring=load_keyring(), scope=kw.pop("scope", "all-users"),
            idempotency_key=kw.pop("key", new_idempotency_key()), progress=steps.append, **kw,
        )


async def test_good_license_is_installed_with_progress(acq_fake_center: Any, acq_owner: OwnerData) -> None:
    steps: list[str] = []
    req = _req(acq_owner)
    out = await _acquire(acq_fake_center, req, steps=steps)
    assert steps == list(acquire.STEPS)
    assert out.scope == "all-users" and out.path == license_dir("all-users") / f"{req.regnum}-001.lic"
    assert out.path.read_text() == out.text
    assert verify(out.text, acq_fake_center.keyring, product=PRODUCT).regnum == req.regnum


async def test_tampered_license_is_refused_not_installed_but_kept(
    acq_fake_center: Any, acq_owner: OwnerData
) -> None:
    acq_fake_center.mode = "tamper"
    with pytest.raises(acquire.AfterActivationError) as info:
        await _acquire(acq_fake_center, _req(acq_owner))
    err = info.value
    assert isinstance(err.cause, SignatureError) and err.code == "bad_signature"
    assert not err.verified
    assert installed_files() == []
    # the issued text is kept for support, outside the license folders, and the detail says where
    assert err.saved_to is not None and err.saved_to.parent == state_dir() / "rejected"
    assert err.saved_to.read_text() == err.license_text
    assert str(err.saved_to) in err.detail and "NOT installed" in err.detail


@pytest.mark.parametrize("mode", ["wrong_regnum", "wrong_params"])
async def test_genuine_license_for_something_else_is_refused(
    acq_fake_center: Any, acq_owner: OwnerData, mode: str
) -> None:
    acq_fake_center.mode = mode
    with pytest.raises(acquire.AfterActivationError) as info:
        await _acquire(acq_fake_center, _req(acq_owner))
    assert isinstance(info.value.cause, LicenseInvalid)
    assert info.value.code == "license_mismatch"
    assert ("registration number" if mode == "wrong_regnum" else "computer parameters") in info.value.detail
    assert installed_files() == []


async def test_lost_answer_is_retried_with_the_same_idempotency_key(
    acq_fake_center: Any, acq_owner: OwnerData
) -> None:
    acq_fake_center.mode = "drop_first"
    out = await _acquire(acq_fake_center, _req(acq_owner), key="k-123")
    assert acq_fake_center.idempotency_keys == ["k-123", "k-123"]
    assert out.path is not None and out.path.exists()


async def test_storage_failure_after_activation_keeps_the_license(
    acq_fake_center: Any, acq_owner: OwnerData
) -> None:
    target = license_dir("all-users")

    def break_storage(_body: dict[str, Any]) -> None:
        # the folder becomes unusable between the writability probe and the install
        shutil.rmtree(target, ignore_errors=True)
        target.write_text("not a folder")

    acq_fake_center.on_activate = break_storage
    with pytest.raises(acquire.AfterActivationError) as info:
        await _acquire(acq_fake_center, _req(acq_owner))
    err = info.value
    assert err.verified and err.saved_to is not None
    assert err.saved_to.parent == state_dir() / "issued"
    assert str(err.saved_to) in err.detail and "recovery" in err.detail
    # the kept text is the genuine license: the command the detail names installs it
    assert f"licwiz install --without-request {err.saved_to}" in err.detail
    r = subprocess.run(
        [sys.executable, "-m", "licwiz.cli", "install", "--without-request", str(err.saved_to),
         "--scope", "user", "--json"], capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0, r.stderr
    path = Path(json.loads(r.stdout)["license"]["path"])
    assert path.parent == license_dir("user") and path.read_text() == err.license_text


async def test_not_writable_scope_refused_before_any_pin_is_spent(
    acq_fake_center: Any, acq_owner: OwnerData
) -> None:
    target = license_dir("all-users")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("a file where the folder should be")
    with pytest.raises(NotWritable):
        await _acquire(acq_fake_center, _req(acq_owner))
    assert acq_fake_center.activations == 0


async def test_bad_input_refused_before_any_network_call(acq_owner: OwnerData) -> None:
    req = _req(acq_owner, operation="update", extra_pin=None)
    async with CenterClient("http://127.0.0.1:9", timeout=1) as client:
        with pytest.raises(InputError) as info:
            await acquire.acquire_online(
                client, req, keyring=load_keyring(), scope="user", idempotency_key="x"
            )
    assert info.value.field == "Extra PIN code"


async def test_unreachable_center_is_center_error(acq_owner: OwnerData) -> None:
    async with CenterClient("http://127.0.0.1:9", timeout=2) as client:
        with pytest.raises(CenterError) as info:
            await acquire.acquire_online(
                client, _req(acq_owner), keyring=load_keyring(), scope="user", idempotency_key="x"
            )
    assert info.value.code == "unreachable"
    assert installed_files() == []


def test_install_license_text_refuses_other_computer_and_writes_nothing(
    acq_fake_center: Any, acq_owner: OwnerData, tmp_path: Path
) -> None:
    req = _req(acq_owner)
    acq_fake_center.mode = "wrong_params"
    text = acq_fake_center.license_for(req.to_dict())["license"]
    with pytest.raises(LicenseInvalid) as info:
        acquire.install_license_text(
            text, keyring=load_keyring(), product=PRODUCT, params=collect(PRODUCT), scope="user"
        )
    assert info.value.code == "parameters_changed"
    assert installed_files() == []
