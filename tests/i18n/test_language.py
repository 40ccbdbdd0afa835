"""Which language the user gets: the locale, --lang, or the browser's Accept-Language."""

from __future__ import annotations

import pytest
from licwiz.core import i18n


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"LANG": "ru_RU.UTF-8"}, "ru"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "de_DE.UTF-8"}, "en"),
        ({}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LC_ALL": "ru_RU.UTF-8", "LANG": "en_US.UTF-8"}, "ru"),
        ({"LC_ALL": "C", "LANG": "ru_RU.UTF-8"}, "en"),
        ({"LC_MESSAGES": "ru_RU.UTF-8", "LANG": "en_US.UTF-8"}, "ru"),
        ({"LANG": "en_GB.UTF-8", "LANGUAGE": "de:ru:en"}, "ru"),
        ({"LANG": "C", "LANGUAGE": "ru"}, "en"),
    ],
)
def test_language_from_the_locale(environ: dict[str, str], expected: str) -> None:
    assert i18n.language_from_environ(environ) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "ru"),
        ("en-US,en;q=0.9,ru;q=0.8", "en"),
        ("de-DE,de;q=0.9", "en"),
        ("de, ru;q=0.5", "ru"),
        ("ru;q=0, en", "en"),
        ("en;q=0.5, ru;q=0.6", "ru"),
        ("*", "en"),
        ("", "en"),
        (None, "en"),
        ("ru;q=bogus, en;q=0.1", "en"),
    ],
)
def test_language_from_accept_language(header: str | None, expected: str) -> None:
    assert i18n.negotiate(header) == expected


def test_set_language_switches_the_process_texts_and_back() -> None:
    try:
        i18n.set_language("ru")
        assert i18n.current_language() == "ru"
        assert i18n._("Next") != "Next"
        i18n.set_language("en")
        assert i18n._("Next") == "Next"
    finally:
        i18n.set_language("en")


def test_n_marks_without_translating() -> None:
    try:
        i18n.set_language("ru")
        assert i18n.N_("Next") == "Next"
    finally:
        i18n.set_language("en")
