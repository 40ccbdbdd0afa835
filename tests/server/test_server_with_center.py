"""End to end: a real Licensing Center issues a license for the license
server's parameters (core.acquire with a ServerTarget, as the wizard's
"Install the license on the server" does), the server stores it, and
``licwiz run --server`` sessions get exactly the license's users."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from licwiz.core import acquire, fingerprint
from licwiz.core.client import CenterClient, new_idempotency_key
from licwiz.core.keys import load_keyring
from licwiz.core.request import ActivationRequest
from licwiz.core.server_client import ServerClient
from support import owners
from support.fixtures_server import LicenseServer, licwiz_cmd

OWNER = owners.ORGANISATION


@pytest.mark.skipif(fingerprint.session_id().startswith("audit:"),
                    reason="audit session ids: setsid makes no new session")
async def test_center_license_installed_on_server_gives_its_users_seats(
        center: object, license_server_factory: Callable[[str | None], LicenseServer],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LICWIZ_TRUSTED_KEYS", str(center.trusted_keys))  # type: ignore[attr-defined]
    kit = center.create_kit(users=2, pins=1)  # type: ignore[attr-defined]
    srv = license_server_factory(None)
    sp = srv.start()  # inherits LICWIZ_TRUSTED_KEYS: the server trusts the center's key
    monkeypatch.setenv("LICWIZ_SERVER_TOKEN", srv.admin_token)
    target = acquire.ServerTarget("127.0.0.1", sp.port)
    # multi-user PINs give licenses for the kit's users (single PINs: one user)
    req = ActivationRequest(product=kit.product, regnum=kit.regnum, pin=kit.multi_pins[0],
                            operation="first", owner=OWNER, params={})
    async with CenterClient(center.url) as cc:  # type: ignore[attr-defined]
        outcome = await acquire.acquire_online(cc, req, keyring=load_keyring(), scope="all-users",
                                               idempotency_key=new_idempotency_key(), server=target)
    assert outcome.server == f"127.0.0.1:{sp.port}" and outcome.path is None
    async with ServerClient("127.0.0.1", sp.port, token=srv.admin_token) as c:
        listing = await c.licenses()
    assert [x["license_id"] for x in listing["licenses"]] == [outcome.license.license_id]
    assert listing["capacity"] == {kit.product: 2}

    env = {**os.environ, "LICWIZ_SERVER_CLIENT_TOKEN": srv.client_token, "LICWIZ_PRODUCT": kit.product}
    env.pop("LICWIZ_SERVER_TOKEN", None)
    run = [*licwiz_cmd("run", "--server", f"127.0.0.1:{sp.port}", "--"), "sleep", "30"]
    holders = [subprocess.Popen(run, env=env, start_new_session=True) for _ in range(2)]
    try:
        deadline = time.monotonic() + 20
        while True:
            async with ServerClient("127.0.0.1", sp.port, token=srv.admin_token) as c:
                if len(await c.seats(kit.product)) == 2:
                    break
            assert time.monotonic() < deadline, "two seats were not granted"
            time.sleep(0.1)
        third = subprocess.run(licwiz_cmd("run", "--server", f"127.0.0.1:{sp.port}", "--", "true"),
                               env=env, capture_output=True, text=True, timeout=60, start_new_session=True)
        assert third.returncode == 75, third.stderr
        assert third.stderr.count("session unix:") == 2
    finally:
        for p in holders:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
            p.wait(20)
    async with ServerClient("127.0.0.1", sp.port, token=srv.admin_token) as c:
        assert await c.seats(kit.product) == []  # SIGTERM: the wrappers gave their seats back
