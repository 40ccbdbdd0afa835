"""End to end in Russian (issue 16): the installed ``licwiz`` with LANG=ru_RU.UTF-8 and
TERM=linux in a real 80x24 terminal (tmux), keys only, the automatic first-time branch
against a real Licensing Center process; each step is recognised by its Russian words,
and the license on disk is checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e.test_e2e_tmux import OWNER, OWNER_FIELDS, Terminal, private_tmux
from licwiz.core.fingerprint import collect
from licwiz.core.identifiers import format_pin
from licwiz.core.keys import load_keyring
from licwiz.core.license import verify_file


class Utf8Terminal(Terminal):
    """tmux told that the terminal speaks UTF-8 (``-u``) whatever the locale of the
    process running the tests: otherwise it may draw every Cyrillic letter as ``_``."""

    def tmux(self, *args: str) -> str:
        return super().tmux("-u", *args)


@pytest.fixture
def terminal() -> Iterator[Utf8Terminal]:
    with private_tmux() as term:
        yield Utf8Terminal(term.socket, term.session)


def russian_env(center: Any, tmp_path: Path) -> dict[str, str]:
    return {
        "LICWIZ_TRUSTED_KEYS": str(center.trusted_keys),
        "LICWIZ_ALL_USERS_DIR": str(tmp_path / "all-users"),
        "LICWIZ_USER_DIR": str(tmp_path / "user"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "LICWIZ_PRODUCT": "licwiz-demo",
        "TERM": "linux",
        # The language comes from LANG alone: the variables that win over it are emptied.
        "LANG": "ru_RU.UTF-8", "LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": "",
    }


def test_automatic_first_time_registration_in_russian(center: Any, terminal: Utf8Terminal,
                                                      tmp_path: Path) -> None:
    kit = center.create_kit(users=1, pins=2)
    terminal.start(russian_env(center, tmp_path), "wizard", "--center", center.url, width=80, height=24)

    # 1. Action: «Получить лицензию» is the default choice
    shown = terminal.wait_for("Получить лицензию")
    assert "Указать файл данных лицензии" in shown and "Выберите действие" in shown, shown
    assert "Acquire a license" not in shown and "Получение лицензии" in shown  # the title line
    terminal.keys("Enter")
    # 2. Registration number and PIN code
    shown = terminal.wait_for("Регистрационный номер")
    assert "Пин-код" in shown and "Внимание!... (F3)" in shown, shown
    terminal.type(kit.regnum)
    terminal.keys("Tab")
    terminal.type(format_pin(kit.single_pins[0]))
    terminal.keys("Enter")
    # 3. Operation: «Первичная регистрация» is the default choice
    shown = terminal.wait_for("Первичная регистрация")
    assert "Восстановление лицензии" in shown and "Выберите вид операции" in shown, shown
    terminal.keys("Enter")
    # 4. Owner data, then the absolute-accuracy box that enables Next
    shown = terminal.wait_for("Введите данные о владельце лицензии")
    assert "Организация" in shown, shown
    for name in OWNER_FIELDS:
        terminal.keys("Tab")
        terminal.type(getattr(OWNER, name))
    terminal.keys("Tab")
    terminal.keys("Space")
    terminal.wait_for("[X] Я предупреждён")
    terminal.keys("C-n")
    # 5. Availability check, then «Получить»
    shown = terminal.wait_for("Лицензию можно получить")
    assert "1 пользователь" in shown and "однопользовательский" in shown, shown
    assert "Получить (Enter)" in shown, shown
    terminal.keys("Enter")
    # 6. Final step: what was installed where, in Russian
    shown = terminal.wait_for("Идентификатор лицензии:")
    license_id = f"{kit.regnum}-001"
    assert "Лицензия получена и установлена" in shown, shown
    assert "Установлена для всех пользователей" in shown, shown
    assert re.search(rf"Идентификатор лицензии: {license_id}", shown), shown
    assert "Пользователей: 1" in shown, shown

    path = tmp_path / "all-users" / "licenses" / f"{license_id}.lic"
    lic = verify_file(path, load_keyring([center.trusted_keys]), product="licwiz-demo")
    assert lic.regnum == kit.regnum and lic.users == 1 and lic.method == "online"
    assert lic.owner_digest == OWNER.digest()
    assert dict(lic.params) == collect("licwiz-demo")

    terminal.keys("Enter")  # «Готово»
    terminal.wait_for("licwiz exited with 0")
