"""Every message a person reads has a Russian translation that keeps its placeholders.

The messages are extracted from the source as a translator's tool would (Babel:
``_()``, ``N_()``, ``ngettext()`` in Python; ``_()``/``gettext``/``{% trans %}``
in the center's Jinja templates), then looked up in the merged Russian catalog
(core/locale/ru/*.po, the fragments setup.py and ``make catalogs`` compile).
"""

from __future__ import annotations

import re
import runpy
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from jinja2.ext import babel_extract
from licwiz.core import i18n

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "app", "screens", "cli", "center", "server", "service")
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
compile_catalogs = runpy.run_path(str(ROOT / "packaging" / "compile_catalogs.py"))


def source_messages() -> Iterator[tuple[str, str]]:
    """(msgid, where) for every message marked in our code and templates."""
    method_map = [("**/templates/**.html", babel_extract), ("**.py", "python")]
    options_map = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    for package in PACKAGES:
        found = extract_from_dir(
            ROOT / package, method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True
        )
        for filename, lineno, message, _comments, _context in found:
            for text in message if isinstance(message, tuple) else (message,):
                if text:
                    yield text, f"{package}/{filename}:{lineno}"


def russian() -> Catalog:
    catalog: Catalog = compile_catalogs["merged_catalog"](ROOT / "core" / "locale" / "ru")
    return catalog


def translations(catalog: Catalog, msgid: str) -> list[str]:
    for message in catalog:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        if msgid in ids:
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            return [s for s in strings if s]
    return []


def fields(text: str) -> list[str]:
    """The str.format fields and %-conversions a text must keep, sorted."""
    named = [name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name is not None]
    percent = re.findall(r"%(?:\(\w+\))?[-#0 +]*\d*(?:\.\d+)?[sdifrx]", text)
    return sorted(named + percent)


def test_the_catalog_is_not_empty_and_the_source_has_messages() -> None:
    assert len(list(source_messages())) > 50
    assert len(russian()) > 50


def test_every_message_has_a_russian_translation() -> None:
    catalog = russian()
    missing = sorted(
        {f"{where}: {msgid!r}" for msgid, where in source_messages() if not translations(catalog, msgid)}
    )
    assert not missing, f"{len(missing)} message(s) without Russian:\n" + "\n".join(missing)


def test_every_translation_keeps_the_placeholders() -> None:
    catalog = russian()
    broken = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        # Plural forms may drop the count in the singular ("one licence"), never a named field.
        want = fields(ids[-1]) if len(ids) > 1 else fields(ids[0])
        for text in strings:
            got = fields(text)
            if len(ids) > 1:
                want_named = sorted(f for f in want if not f.startswith("%") and f)
                ok = set(want_named) <= set(got)
            else:
                ok = got == want
            if not ok:
                broken.append(f"{ids[0]!r}: {want} -> {text!r}: {got}")
    assert not broken, "translations that change the placeholders:\n" + "\n".join(broken)


def test_a_fragment_that_contradicts_another_is_refused(tmp_path: Path) -> None:
    language = tmp_path / "ru"
    language.mkdir()
    header = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
    (language / "a.po").write_text(header + 'msgid "Next"\nmsgstr "Далее"\n', encoding="utf-8")
    (language / "b.po").write_text(header + 'msgid "Next"\nmsgstr "Вперёд"\n', encoding="utf-8")
    with pytest.raises(compile_catalogs["CatalogError"], match="Next"):
        compile_catalogs["merged_catalog"](language)


def test_the_compiled_catalog_is_current_and_speaks_russian() -> None:
    """`make catalogs` ran after the last .po change: every source message reads in Russian."""
    mo = ROOT / "core" / "locale" / "ru" / "LC_MESSAGES" / "licwiz.mo"
    assert mo.is_file(), "run `make catalogs`"
    newest_po = max(p.stat().st_mtime for p in (ROOT / "core" / "locale" / "ru").glob("*.po"))
    assert mo.stat().st_mtime >= newest_po, "a .po fragment is newer than licwiz.mo: run `make catalogs`"
    catalog = russian()
    compiled = i18n.translation("ru")
    for message in catalog:
        if message.id and not isinstance(message.id, tuple):
            assert compiled.gettext(message.id) == message.string
