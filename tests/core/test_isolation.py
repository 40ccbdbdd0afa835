"""core/ is the domain: importing every module of it loads no UI, web or
command-line framework and nothing of ours outside core (the center, the
server and the wizard's steps use it without them)."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("textual", "starlette", "uvicorn", "sqlalchemy", "alembic", "asyncpg", "jinja2", "argparse")


def test_importing_core_loads_no_framework_and_nothing_of_ours_above_it() -> None:
    code = (
        "import pkgutil, importlib, sys\n"
        "import licwiz.core as c\n"
        "for m in pkgutil.iter_modules(c.__path__):\n"
        "    importlib.import_module('licwiz.core.' + m.name)\n"
        f"forbidden = {FORBIDDEN!r}\n"
        "ours = [n for n in sys.modules if n.startswith('licwiz.') and n.split('.')[1] != 'core']\n"
        "bad = sorted([n for n in sys.modules if n.split('.')[0] in forbidden] + ours)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core imported {out.stdout.strip()}"
