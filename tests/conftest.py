"""Shared test set-up.

Each area's fixtures live in tests/support/fixtures_<area>.py (one owner per
file); they are declared here as plugins, so any test can use any fixture and
pytest (not a copy into this module's globals) owns their registration.
"""

from __future__ import annotations

import os
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import support
from licwiz.core import i18n

pytest_plugins = sorted(
    f"support.{mod.name}" for mod in pkgutil.iter_modules(support.__path__)
    if mod.name.startswith("fixtures_")
)


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test touches the real /var/lib/licwiz or ~/.local/state/licwiz.

    Every test starts in English whatever the machine's locale, and leaves no
    language behind: i18n.set_language (a test's, or main()'s in-process) sets
    LANGUAGE, which later child processes would read. A test of another
    language sets it itself (set_language, or LANG in a child's environment)."""
    monkeypatch.setenv("LICWIZ_ALL_USERS_DIR", str(tmp_path / "all-users"))
    monkeypatch.setenv("LICWIZ_USER_DIR", str(tmp_path / "user"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("LICWIZ_TRUSTED_KEYS", raising=False)
    for name in ("LICWIZ_CENTER_URL", "LICWIZ_CENTER_PHONE", "LICWIZ_CENTER_WEB", "LICWIZ_CENTER_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    os.environ.setdefault("LICWIZ_PRODUCT", "licwiz-demo")
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    yield
    # Back to English in this process; monkeypatch, torn down after this
    # fixture, then removes the LANGUAGE that set_language put in os.environ.
    i18n.set_language("en")
