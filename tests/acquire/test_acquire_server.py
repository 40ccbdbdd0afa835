"""Acquisition for a license server (Advanced settings: Install the license on
the server): the license binds the server's parameters and is uploaded there.
Real ``licwiz server serve`` process (fixtures_server.py), fake center."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from licwiz.core import acquire
from licwiz.core.client import CenterClient, new_idempotency_key
from licwiz.core.errors import LicwizError
from licwiz.core.fingerprint import collect
from licwiz.core.identifiers import new_pin, new_regnum
from licwiz.core.keys import load_keyring
from licwiz.core.owner import OwnerData
from licwiz.core.request import ActivationRequest
from licwiz.core.storage import installed_files


async def test_online_acquisition_installs_on_the_server(
    acq_fake_center: Any, acq_owner: OwnerData, license_server_factory: Callable[..., Any]
) -> None:
    srv = license_server_factory()
    sp = srv.start()
    target = acquire.ServerTarget("127.0.0.1", sp.port, srv.admin_token)
    req = ActivationRequest(
        product="licwiz-demo", regnum=new_regnum(), pin=new_pin(), operation="first", owner=acq_owner,
        params={"machine_id": "0" * 64},  # replaced by the server's parameters
    )
    steps: list[str] = []
    async with CenterClient(acq_fake_center.url, timeout=5) as client:
        out = await acquire.acquire_online(
            client, req, keyring=load_keyring(), scope="all-users", idempotency_key=new_idempotency_key(),
            progress=steps.append, server=target,
        )
    assert out.server == f"127.0.0.1:{sp.port}" and out.path is None and out.scope is None
    assert steps == list(acquire.STEPS)
    assert installed_files() == []  # nothing local
    server_params = await acquire.server_parameters(target, "licwiz-demo")
    assert dict(out.license.params) == server_params
    listed = httpx.get(f"{sp.url}/api/v1/licenses", headers={"Authorization": f"Bearer {srv.admin_token}"},
                       timeout=5).json()
    assert out.license.license_id in repr(listed)


def _req(owner: OwnerData) -> ActivationRequest:
    return ActivationRequest(
        product="licwiz-demo", regnum=new_regnum(), pin=new_pin(), operation="first", owner=owner,
        params=collect("licwiz-demo"),
    )


async def test_bad_token_is_refused_before_any_pin_is_spent(
    acq_fake_center: Any, acq_owner: OwnerData, license_server_factory: Callable[..., Any]
) -> None:
    srv = license_server_factory()
    sp = srv.start()
    target = acquire.ServerTarget("127.0.0.1", sp.port, "not-a-token")
    async with CenterClient(acq_fake_center.url, timeout=5) as client:
        with pytest.raises(LicwizError) as info:
            await acquire.acquire_online(
                client, _req(acq_owner), keyring=load_keyring(), scope="all-users", idempotency_key="k",
                server=target,
            )
    assert info.value.code == "forbidden"
    assert acq_fake_center.activations == 0


async def test_upload_refused_after_activation_keeps_the_license(
    acq_fake_center: Any, acq_owner: OwnerData, license_server_factory: Callable[..., Any]
) -> None:
    srv = license_server_factory()
    sp = srv.start()
    # the client token reads the parameters but may not install: the refusal comes after activation
    target = acquire.ServerTarget("127.0.0.1", sp.port, srv.client_token)
    async with CenterClient(acq_fake_center.url, timeout=5) as client:
        with pytest.raises(acquire.AfterActivationError) as info:
            await acquire.acquire_online(
                client, _req(acq_owner), keyring=load_keyring(), scope="all-users", idempotency_key="k",
                server=target,
            )
    err = info.value
    assert err.code == "forbidden" and err.verified
    assert err.saved_to is not None and err.saved_to.read_text() == err.license_text
    assert acq_fake_center.activations == 1
