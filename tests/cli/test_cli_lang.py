"""The command line's language (issue 16) and its JSON failures (issue 12), on real processes.

A person reads the locale's language (or ``--lang``); machine output (``--json``, exit codes,
error codes) is byte for byte the same in Russian and English.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from licwiz.cli.main import take_language
from licwiz.core.fingerprint import collect

from tests.support.fixtures_core import CORE_PRODUCT

RU, EN = "ru_RU.UTF-8", "C"


def licwiz(*args: str, lang: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``licwiz ARGS`` with LANG=*lang* and nothing else that chooses a language (LANGUAGE would
    override LANG, and an in-process main() of another test may have set it)."""
    base = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    return subprocess.run([sys.executable, "-m", "licwiz.cli", *args], capture_output=True, text=True,
                          timeout=90, env={**base, "LANG": lang, **(env or {})})


def both(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str],
                                                                  subprocess.CompletedProcess[str]]:
    return licwiz(*args, lang=RU, env=env), licwiz(*args, lang=EN, env=env)


def same_json(*args: str, code: int, env: dict[str, str] | None = None) -> dict[str, object]:
    """The command's stdout under Russian and C locales: identical, JSON, and the exit code *code*."""
    ru, en = both(*args, env=env)
    assert (ru.returncode, en.returncode) == (code, code), (ru.stderr, en.stderr)
    assert ru.stdout == en.stdout, f"{args}: --json differs between languages"
    doc: dict[str, object] = json.loads(ru.stdout)
    return doc


def cyrillic(text: str) -> bool:
    return any("а" <= ch.lower() <= "я" for ch in text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def installed_license(core_sign: Callable[..., str], tmp_path: Path) -> Path:
    """A license for this computer, installed for the current user through `licwiz install`."""
    text = core_sign(params=collect(CORE_PRODUCT))
    path = tmp_path / "good.lic"
    path.write_text(text)
    r = licwiz("install", "--without-request", "--scope", "user", str(path), lang=EN)
    assert r.returncode == 0, r.stderr
    return path


def test_json_is_the_same_in_russian_and_english(installed_license: Path, core_sign: Callable[..., str],
                                                  tmp_path: Path) -> None:
    status = same_json("status", "--json", code=0)
    assert status["valid"] is True
    verified = same_json("verify", str(installed_license), "--json", code=0)
    assert verified["valid"] is True
    # a license for another computer: the error object keeps the English brief and the code
    other = tmp_path / "other.lic"
    other.write_text(core_sign(license_id="1234567890-002"))
    refused = same_json("verify", str(other), "--json", code=7)
    error = refused["error"]
    assert isinstance(error, dict) and error["code"] == "parameters_changed"
    assert "not valid on this computer" in str(error["brief"])
    bad = tmp_path / "bad.lic"
    bad.write_text("hello\n")
    same_json("verify", str(bad), "--json", code=3)
    fingerprint = same_json("fingerprint", "--json", code=0)
    assert fingerprint["product"] == CORE_PRODUCT
    same_json("fingerprint", "--what-if", "--json", code=0)


def test_the_same_commands_speak_russian_to_a_person(installed_license: Path, tmp_path: Path) -> None:
    ru, en = both("status")
    assert ru.returncode == en.returncode == 0
    assert "действительна здесь" in ru.stdout and "valid here" in en.stdout
    verdict = licwiz("verify", str(installed_license), lang=RU)
    assert "ДЕЙСТВИТЕЛЬНА на этом компьютере" in verdict.stdout and "ключ подписи:" in verdict.stdout
    bad = tmp_path / "bad.lic"
    bad.write_text("hello\n")
    r = licwiz("verify", str(bad), lang=RU)
    assert r.returncode == 3
    assert r.stderr.strip() == f"licwiz: {bad}: это не файл лицензии licwiz (нет заголовка) [bad_file]"


def test_help_and_errors_in_russian() -> None:
    top = licwiz("--help", lang=RU)
    assert top.returncode == 0
    assert "команды:" in top.stdout and "запустить мастер получения лицензии" in top.stdout
    # argparse's own words come from our catalog too
    sub = licwiz("acquire", "--help", lang=RU)
    assert sub.stdout.startswith("использование: licwiz acquire")
    assert "показать эту справку и выйти" in sub.stdout and "регистрационный номер (10 цифр)" in sub.stdout
    typo = licwiz("acquire", "--kit", "1234567891", "--pin", "1", "--owner-file", "x", "--operation",
                  "first", "--scope", "user", lang=RU)
    assert typo.returncode == 2
    assert typo.stderr.strip() == ("licwiz: Регистрационный номер: контрольная цифра не совпадает, вероятно, "
                                   "одна цифра введена с ошибкой [check_digit]")
    unknown = licwiz("status", "--bogus", lang=RU)
    assert unknown.returncode == 2 and "нераспознанные аргументы: --bogus" in unknown.stderr


def test_lang_option_wins_over_the_locale() -> None:
    english = licwiz("--lang", "en", "--help", lang=RU)
    assert english.returncode == 0 and english.stdout.startswith("usage: licwiz")
    assert not cyrillic(english.stdout)
    # after the command too, and argparse's texts follow it
    after = licwiz("fingerprint", "--help", "--lang=en", lang=RU)
    assert "show this help message and exit" in after.stdout and not cyrillic(after.stdout)
    russian = licwiz("fingerprint", "--lang", "ru", "--help", lang=EN)
    assert "Показать ключевые параметры компьютера." in russian.stdout
    bad = licwiz("--lang", "de", "status", lang=EN)
    assert bad.returncode == 2 and "--lang: expected one of en, ru, got 'de'" in bad.stderr


@pytest.mark.parametrize(("argv", "lang", "left"), [
    (["run", "prog", "--lang", "ru"], None, ["run", "prog", "--lang", "ru"]),
    (["run", "--wait", "3", "--lang", "ru", "prog"], "ru", ["run", "--wait", "3", "prog"]),
    (["run", "--", "prog", "--lang", "ru"], None, ["run", "--", "prog", "--lang", "ru"]),
    (["status", "--lang=en", "--json"], "en", ["status", "--json"]),
])
def test_a_command_run_by_licwiz_run_keeps_its_own_lang_option(argv: list[str], lang: str | None,
                                                                left: list[str]) -> None:
    """``licwiz run prog --lang x``: that --lang is prog's, not licwiz's."""
    assert take_language(argv) == lang
    assert argv == left


def test_center_failures_with_json_print_the_error_object(tmp_path: Path) -> None:
    env = {"LICWIZ_CENTER_HOME": str(tmp_path / "home"), "LICWIZ_CENTER_DB": f"sqlite:///{tmp_path / 'c.db'}"}
    assert licwiz("center", "init", lang=EN, env=env).returncode == 0
    missing = same_json("center", "kit", "show", "0000000000", "--json", code=1, env=env)
    assert missing["ok"] is False and missing["exit_code"] == 1
    assert isinstance(missing["error"], dict) and missing["error"]["code"] == "not_found"
    revoked = same_json("center", "license", "revoke", "nope", "--json", code=1, env=env)
    assert isinstance(revoked["error"], dict) and revoked["error"]["code"] == "not_found"
    usage = same_json("center", "kit", "--json", code=2, env=env)
    assert isinstance(usage["error"], dict) and usage["error"]["code"] == "usage"
    shown = same_json("center", "config", "show", "--json", code=0, env=env)
    assert isinstance(shown, dict)
    # without --json: one line on stderr, nothing on stdout, in the user's language
    text = licwiz("center", "operator", "disable", "nobody", lang=RU, env=env)
    assert text.returncode == 1 and text.stdout == ""
    assert text.stderr.strip() == "licwiz center: Нет оператора 'nobody'"


def test_server_failures_with_json_print_the_error_object(tmp_path: Path) -> None:
    gone = f"127.0.0.1:{free_port()}"
    away = same_json("server", "status", "--server", gone, "--json", code=69)
    assert isinstance(away["error"], dict) and away["error"]["code"] == "unreachable"
    assert "cannot reach the license server" in str(away["error"]["brief"])
    usage = same_json("server", "bogus", "--json", code=2)
    assert isinstance(usage["error"], dict) and usage["error"]["code"] == "usage"
    usage = same_json("status", "--bogus", "--json", code=2)
    assert isinstance(usage["error"], dict) and usage["error"]["code"] == "usage"
    db = f"sqlite:///{tmp_path / 's.db'}"
    same_json("server", "init", "--db", db, "--admin-token", "same", "--client-token", "same", "--json",
              code=2)
    ru = licwiz("server", "status", "--server", gone, lang=RU)
    assert ru.returncode == 69 and "нет связи с сервером лицензий" in ru.stderr
