"""Only what pyproject.toml cannot say: the gettext catalogs are compiled into the wheel."""

from __future__ import annotations

import runpy
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithCatalogs(build_py):
    """Compile core/locale/*/*.po to .mo before the package data is collected."""

    def run(self) -> None:
        compile_catalogs = runpy.run_path(str(HERE / "packaging" / "compile_catalogs.py"))["compile_catalogs"]
        compile_catalogs(HERE / "core" / "locale")
        super().run()


setup(cmdclass={"build_py": BuildPyWithCatalogs})
