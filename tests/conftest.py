"""Shared test set-up.

Each area's fixtures live in tests/support/fixtures_<area>.py (one owner per
file); they are declared here as plugins, so any test can use any fixture and
pytest (not a copy into this module's globals) owns their registration.
"""

from __future__ import annotations

import os
import pkgutil
from pathlib import Path

import pytest
import support

pytest_plugins = sorted(
    f"support.{mod.name}" for mod in pkgutil.iter_modules(support.__path__)
    if mod.name.startswith("fixtures_")
)


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the real /var/lib/licwiz or ~/.local/state/licwiz."""
    monkeypatch.setenv("LICWIZ_ALL_USERS_DIR", str(tmp_path / "all-users"))
    monkeypatch.setenv("LICWIZ_USER_DIR", str(tmp_path / "user"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("LICWIZ_TRUSTED_KEYS", raising=False)
    for name in ("LICWIZ_CENTER_URL", "LICWIZ_CENTER_PHONE", "LICWIZ_CENTER_WEB", "LICWIZ_CENTER_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    os.environ.setdefault("LICWIZ_PRODUCT", "licwiz-demo")
