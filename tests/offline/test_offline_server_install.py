"""The phone method with "Install the license on the server": the request binds
the license server's parameters and the rebuilt license goes to that server
(real center, real license server, operator console over HTTP)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from licwiz.core import phonecodes
from licwiz.core.storage import license_dir
from support.fixtures_offline import OFF_OWNER
from support.fixtures_wizard import to_method


async def test_offline_phone_license_installed_on_license_server(
    wizard_center: Any, wizard_run: Any, license_server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    center = wizard_center
    srv = license_server_factory(None)
    proc = srv.start()
    monkeypatch.setenv("LICWIZ_SERVER_TOKEN", srv.admin_token)
    kit = center.create_kit(users=5)
    token = center.cli("operator", "add", "erin").stdout.strip().split()[-1]
    async with wizard_run(center.url) as d:
        await to_method(d, kit.regnum, kit.multi_pins[0], OFF_OWNER, server=("127.0.0.1", proc.port))
        await d.pick("#method", "phone", "phone_codes")
        await d.wait(lambda: "Request code:" in d.text("#codes"), what="request code")
        rows = [ln.split(None, 1)[1] for ln in d.text("#codes").splitlines()[3:] if ln.strip()]
        with httpx.Client(base_url=center.url, timeout=30) as c:
            assert c.post("/operator/login", data={"token": token}).status_code == 303
            csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', c.get("/operator").text)
            assert csrf
            form = {"csrf": csrf.group(1), **{n: getattr(OFF_OWNER, n) for n in OFF_OWNER.field_names()},
                    **{f"row{i}": r for i, r in enumerate(rows, 1)}}
            page = c.post("/operator", data=form)
        assert page.status_code == 200, page.text
        answer = re.findall(r'<td class="digits">([0-9 ]+)</td>', page.text)
        await d.next()
        await d.at("phone_response")
        for i, row in enumerate(answer, 1):
            await d.fill(f"#resp-{i}", phonecodes.normalise(row))
        await d.next()
        await d.at("final", timeout=30)
        assert f"on the license server 127.0.0.1:{proc.port}" in d.text("#summary")
    assert not (license_dir("all-users")).exists() or not list(license_dir("all-users").glob("*.lic"))
