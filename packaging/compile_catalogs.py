"""Compile the gettext catalogs: core/locale/<lang>/*.po -> core/locale/<lang>/LC_MESSAGES/licwiz.mo.

Each language's catalog is kept in fragments, one per area (wizard, cli,
center, mail, ...), so that a change to one area's texts touches one file;
they are merged into the one ``licwiz`` domain here. A message translated
differently in two fragments is an error: one term, one translation.

Run by ``make catalogs`` (the checkout) and by setup.py (the wheel build).

    python packaging/compile_catalogs.py [LOCALE_DIR]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DOMAIN = "licwiz"
DEFAULT_LOCALE_DIR = Path(__file__).resolve().parent.parent / "core" / "locale"


class CatalogError(Exception):
    """A fragment that cannot be merged (the message names the file and the text)."""


def merged_catalog(language_dir: Path) -> Catalog:
    """Every translated, non-fuzzy message of the fragments in *language_dir*."""
    merged = Catalog(locale=language_dir.name, domain=DOMAIN)
    origin: dict[object, Path] = {}
    for fragment in sorted(language_dir.glob("*.po")):
        with fragment.open("rb") as handle:
            catalog = read_po(handle, locale=language_dir.name)
        for message in catalog:
            if not message.id or message.fuzzy or not message.string:
                continue
            if isinstance(message.string, tuple) and not all(message.string):
                continue
            key = (message.id, message.context)
            known = merged.get(message.id, message.context)
            if known is not None and known.string != message.string:
                raise CatalogError(
                    f"{fragment}: {message.id!r} is translated differently in {origin[key]}"
                )
            if known is None:
                merged.add(message.id, message.string, context=message.context, flags=message.flags)
                origin[key] = fragment
    return merged


def compile_catalogs(locale_dir: Path = DEFAULT_LOCALE_DIR) -> list[Path]:
    """Write one .mo per language folder; return the files written."""
    written: list[Path] = []
    for language_dir in sorted(p for p in locale_dir.iterdir() if p.is_dir()):
        if not any(language_dir.glob("*.po")):
            continue
        catalog = merged_catalog(language_dir)
        target = language_dir / "LC_MESSAGES" / f"{DOMAIN}.mo"
        target.parent.mkdir(parents=True, exist_ok=True)
        # Atomic: a build interrupted half-way never leaves a truncated catalog.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".licwiz-", suffix=".mo")
        try:
            with os.fdopen(fd, "wb") as handle:
                write_mo(handle, catalog)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(target)
    return written


def main(argv: list[str]) -> int:
    locale_dir = Path(argv[0]) if argv else DEFAULT_LOCALE_DIR
    try:
        written = compile_catalogs(locale_dir)
    except CatalogError as exc:
        print(f"compile_catalogs: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"compiled {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
