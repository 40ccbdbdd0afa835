"""Errors the steps print themselves (not through ErrorInfo) read in the user's language."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from licwiz.core import i18n
from licwiz.core.identifiers import new_pin, new_regnum
from support.fixtures_center import free_port
from support.fixtures_wizard import WIZ_OWNER, to_owner


@pytest.fixture
def russian() -> Iterator[None]:
    i18n.set_language("ru")
    yield
    i18n.set_language("en")


async def test_a_broken_owner_file_is_explained_in_russian(
    russian: None, wizard_run: Any, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "something else"}))
    async with wizard_run(f"http://127.0.0.1:{free_port()}") as d:
        await to_owner(d, new_regnum(), new_pin())
        await d.fill_owner("owner", WIZ_OWNER)
        await d.press("f6")
        await d.dialog("PathDialog")
        await d.fill("#path", str(bad))
        await d.press("enter")
        await d.wait(lambda: "Загрузить данные" in d.text("#status"), what="load error")
        status = d.text("#status")
        assert "это не файл данных о владельце" in status, status
        assert "owner-data" not in status
