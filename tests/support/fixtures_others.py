"""Running part of a test as another (ordinary) user.

A checkout may lie below a folder only root may enter (``mktemp -d`` makes
mode 0700 folders): the other user could then not reach this checkout's
Python and packages. ``reachable_by_others`` lets it traverse (o+x, not
list) every folder on the way, and puts the modes back afterwards.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def reachable_by_others(*paths: str | Path) -> Iterator[None]:
    changed: dict[Path, int] = {}
    for p in paths:
        for folder in Path(os.path.abspath(p)).parents:
            mode = folder.stat().st_mode
            if folder not in changed and not mode & stat.S_IXOTH:
                folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
                changed[folder] = stat.S_IMODE(mode)
    try:
        yield
    finally:
        for folder, mode in changed.items():
            folder.chmod(mode)


@pytest.fixture
def reachable_checkout() -> Iterator[None]:
    """For the test's duration another user can reach this checkout's Python,
    packages and ``licwiz`` command (all below ``sys.prefix`` and the repository)."""
    with reachable_by_others(sys.prefix, Path(__file__).resolve()):
        yield
