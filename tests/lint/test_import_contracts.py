"""The layer contracts of shared/DESIGN.md hold, and would catch a breach.

`make lint` runs lint-imports on the checkout; this test shows once that the
contracts are not vacuous: a copy of the packages with one forbidden import
added (core reaching up into the wizard) must be refused, naming the import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "app", "screens", "styles", "cli", "center", "server", "service")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _copy_tree(dest: Path) -> Path:
    """The packages as they install (licwiz/<folder>), with the project's contracts."""
    pkg = dest / "licwiz"
    pkg.mkdir()
    for name in PACKAGES:
        shutil.copytree(ROOT / name, pkg / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return pkg


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    # The copy comes first on the path, ahead of the editable install's finder.
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"lint-imports is not installed beside {sys.executable} (pip install -e '.[test]')")
    return _copy_tree(tmp_path)


def test_contracts_hold_on_the_copy(tree: Path) -> None:
    result = _lint(tree.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_forbidden_import_breaks_the_build(tree: Path) -> None:
    (tree / "core" / "probe_upward.py").write_text("from licwiz.screens import base  # noqa\n")
    result = _lint(tree.parent)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert "licwiz.core.probe_upward -> licwiz.screens" in result.stdout
