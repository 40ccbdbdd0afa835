"""The center's own refusals on its command line: the operator's language on the terminal,
English in --json (machine output never changes with the language)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LICWIZ = [sys.executable, "-m", "licwiz.cli"]


def run(args: list[str], lang: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES")}
    env["LANG"] = lang
    return subprocess.run([*LICWIZ, *args], capture_output=True, text=True, env=env, timeout=120)


def test_center_admin_errors_in_russian_and_json_unchanged(tmp_path: Path) -> None:
    home = str(tmp_path / "center")
    assert run(["center", "init", "--home", home], "C.UTF-8").returncode == 0
    cases = [  # (command, Russian, English, takes --json)
        (["center", "kit", "create", "--product", "p", "--users", "0", "--home", home],
         "Пользователей: целое число от 1 до", "Users: a whole number from 1 to", True),
        (["center", "config", "set", "bogus", "1", "--home", home],
         "неизвестный параметр 'bogus'", "unknown setting 'bogus'", False),
        (["center", "config", "set", "language", "de", "--home", home],
         "language: ожидалось одно из значений", "language: expected one of", False),
    ]
    for args, russian, english, takes_json in cases:
        ru = run(args, "ru_RU.UTF-8")
        en = run(args, "C.UTF-8")
        assert ru.returncode == en.returncode == 1, (args, ru.stderr)
        assert russian in ru.stderr and english not in ru.stderr, ru.stderr
        assert english in en.stderr, en.stderr
        if not takes_json:
            continue
        ru_json = run([*args, "--json"], "ru_RU.UTF-8")
        en_json = run([*args, "--json"], "C.UTF-8")
        assert ru_json.stdout == en_json.stdout and english in ru_json.stdout, ru_json.stdout
