"""The translation layer: every text a person reads, in the user's language.

One gettext domain (``licwiz``) for the wizard, the command line and the
center's pages; the catalogs are compiled from ``core/locale/<lang>/*.po`` into
``core/locale/<lang>/LC_MESSAGES/licwiz.mo`` by ``make catalogs`` and by the
wheel build (setup.py).

The customer side (wizard, CLI) has one language per process: the user's
locale, or ``--lang``; it is set once at start with :func:`set_language` and
read through :func:`_`. A service answers many people at once, so the center's
pages and mail replies never change the process language: they render with an
explicit :func:`translation` for the language negotiated per request.

Machine output (``--json``, exit codes, log lines, API fields and error codes)
never goes through here.

Texts defined at import time (module constants, tables) are marked with
:func:`N_` and translated with :func:`_` where they are shown, so that
``--lang`` set after the import still applies.
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Mapping
from functools import cache
from importlib.resources import files

DOMAIN = "licwiz"
#: Languages with a catalog, the source language first.
LANGUAGES: tuple[str, ...] = ("en", "ru")
SOURCE_LANGUAGE = "en"

_active: gettext.NullTranslations = gettext.NullTranslations()
_active_language = SOURCE_LANGUAGE


def locale_dir() -> str:
    """The folder holding ``<lang>/LC_MESSAGES/licwiz.mo``."""
    return str(files("licwiz.core") / "locale")


@cache
def translation(language: str) -> gettext.NullTranslations:
    """The catalog of *language*; the source texts for English or an unknown language.

    A missing compiled catalog falls back to English rather than failing: the
    user still gets a working program (tests check that Russian is really there).
    """
    if language not in LANGUAGES or language == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, locale_dir(), languages=[language], fallback=True)


def supported(tag: str) -> str | None:
    """The supported language a locale name or language tag means, if any.

    ``ru_RU.UTF-8``, ``ru-RU``, ``RU`` -> ``ru``; ``C``, ``POSIX``, ``de_DE`` -> None.
    """
    base = tag.strip().split(".", 1)[0].split("@", 1)[0].replace("-", "_").split("_", 1)[0].lower()
    return base if base in LANGUAGES else None


def language_from_environ(environ: Mapping[str, str] | None = None) -> str:
    """The user's language from the locale, as gettext itself reads it.

    The locale is the first set of LC_ALL, LC_MESSAGES, LANG. ``C``/``POSIX``
    means the source language. GNU's LANGUAGE (a colon list of preferences) is
    honoured when the locale is not C, as GNU gettext does.
    """
    env = os.environ if environ is None else environ
    locale_name = next((env[v] for v in ("LC_ALL", "LC_MESSAGES", "LANG") if env.get(v)), "")
    if not locale_name or locale_name.split(".", 1)[0] in {"C", "POSIX"}:
        return SOURCE_LANGUAGE
    for preference in env.get("LANGUAGE", "").split(":"):
        if preference and (found := supported(preference)):
            return found
    return supported(locale_name) or SOURCE_LANGUAGE


def negotiate(accept_language: str | None, default: str = SOURCE_LANGUAGE) -> str:
    """The best supported language for an HTTP ``Accept-Language`` header (RFC 9110 12.5.4)."""
    best: tuple[float, int, str] | None = None
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _sep, params = item.partition(";")
        language = supported(tag) if tag.strip() != "*" else default
        if language is None:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _eq, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        # Higher quality wins; on a tie the earlier entry does.
        if best is None or (quality, -position) > (best[0], best[1]):
            best = (quality, -position, language)
    return best[2] if best else default


def set_language(language: str) -> None:
    """Make *language* the language of this process (the wizard and the CLI).

    The standard library's own texts (argparse's "usage:", its errors) go
    through gettext's global domain, which reads the environment: point it at
    our catalog and set LANGUAGE, so that ``--lang`` also applies to them (and
    to the programs ``licwiz run`` starts, which see the same preference).
    """
    global _active, _active_language
    chosen = supported(language) or SOURCE_LANGUAGE
    _active = translation(chosen)
    _active_language = chosen
    gettext.bindtextdomain(DOMAIN, locale_dir())
    gettext.textdomain(DOMAIN)
    os.environ["LANGUAGE"] = chosen


def current_language() -> str:
    return _active_language


def _(message: str) -> str:
    """*message* in the process language."""
    return _active.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for *n* (Russian has three) in the process language."""
    return _active.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark *message* for translation where it is defined; translate it with _() where shown."""
    return message
