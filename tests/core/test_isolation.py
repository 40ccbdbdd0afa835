"""core/ must never import Textual: the center and server use it without a UI."""

from __future__ import annotations

import subprocess
import sys


def test_importing_core_loads_no_textual() -> None:
    code = (
        "import pkgutil, importlib, sys\n"
        "import licwiz.core as c\n"
        "for m in pkgutil.iter_modules(c.__path__):\n"
        "    importlib.import_module('licwiz.core.' + m.name)\n"
        "bad = sorted(n for n in sys.modules if n == 'textual' or n.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core imported {out.stdout.strip()}"
