"""EmbeddedCenter: the in-process center ``licwiz demo`` runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from licwiz.center.embedded import EmbeddedCenter
from licwiz.core.client import CenterClient, new_idempotency_key
from licwiz.core.keys import load_keyring
from licwiz.core.license import verify

from .test_center_api import req


def test_embedded_center_serves_issues_and_stops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with EmbeddedCenter(tmp_path / "demo", phone="+1 555 0100") as c:
        assert httpx.get(f"{c.url}/api/v1/health").json()["status"] == "ok"
        kit = c.create_kit(users=5, pins=2, product="licwiz-demo")
        assert len(kit.single_pins) == 2 and len(kit.multi_pins) == 2
        assert c.service is not None and c.call(c.service.phone_number()) == "+1 555 0100"

        async def go() -> str:
            async with CenterClient(c.url) as client:
                issued = await client.activate(req(kit, kit.single_pins[0]), new_idempotency_key())
                return issued.license_text

        text = asyncio.run(go())
        monkeypatch.setenv("LICWIZ_TRUSTED_KEYS", str(c.trusted_keys_dir))
        assert verify(text, load_keyring()).regnum == kit.regnum
        url = c.url
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/api/v1/health", timeout=2)
    # A second start on the same home keeps the keys and the kits.
    with EmbeddedCenter(tmp_path / "demo") as again:
        assert again.service is not None
        pins = again.call(again.service.kits.info(kit.regnum)).pins
        assert [(p.pin_set, p.position) for p in pins if p.used] == [("single", 1)]
