"""Where the wizard and ``licwiz acquire`` find the Licensing Center: the
environment, then ~/.config/licwiz/center.json, then /etc/licwiz/center.json."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from licwiz.app import config
from licwiz.core.identifiers import new_pin, new_regnum

LICWIZ = [sys.executable, "-m", "licwiz.cli"]


def _user_file() -> Path:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "licwiz" / "center.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_settings_merge_environment_over_user_over_site(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site-center.json"
    monkeypatch.setattr(config, "SITE_CENTER_CONFIG", site)
    assert config.WizardConfig().phone_number is None
    site.write_text(json.dumps({"url": "https://site.example", "phone": "+31 15 000", "web_page": "https://w"}))
    _user_file().write_text(json.dumps({"phone": "+1 555 0100"}))
    cfg = config.WizardConfig()
    assert (cfg.center_url, cfg.phone_number, cfg.center_web_page) == (
        "https://site.example", "+1 555 0100", "https://w")
    monkeypatch.setenv("LICWIZ_CENTER_PHONE", "+44 20 0000")
    monkeypatch.setenv("LICWIZ_CENTER_URL", "https://env.example")
    cfg = config.WizardConfig()
    assert (cfg.center_url, cfg.phone_number) == ("https://env.example", "+44 20 0000")


@pytest.mark.parametrize("text, words", [("{not json", "cannot read"), ("[1]", "JSON object"),
                                         ('{"phone": 5}', "'phone' must be a text"),
                                         ('{"email": ["a@b.example"]}', "'email' must be a text")])
def test_a_bad_settings_file_is_named_in_one_line(text: str, words: str) -> None:
    """In a terminal (a pseudo-terminal on stdin and stdout, as a person has):
    without one the wizard stops at "needs a terminal" whatever the settings,
    so the settings' error would not be what the test sees."""
    path = _user_file()
    path.write_text(text)
    primary, secondary = pty.openpty()
    try:
        r = subprocess.run([*LICWIZ, "wizard"], stdin=secondary, stdout=secondary, stderr=subprocess.PIPE,
                           text=True, timeout=60)
    finally:
        os.close(secondary)
        os.close(primary)
    assert r.returncode == 2, r.stderr
    assert str(path) in r.stderr and words in r.stderr and "Traceback" not in r.stderr
    assert "needs a terminal" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_the_centers_email_address_comes_from_the_settings(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """center.json's "email" (issue 15): the request-file step names it; the
    environment wins over the user's file, which wins over the site's."""
    site = tmp_path / "site-center.json"
    monkeypatch.setattr(config, "SITE_CENTER_CONFIG", site)
    assert config.WizardConfig().center_email is None
    site.write_text(json.dumps({"email": " licenses@site.example "}))
    assert config.WizardConfig().center_email == "licenses@site.example"
    _user_file().write_text(json.dumps({"email": "licenses@user.example"}))
    assert config.WizardConfig().center_email == "licenses@user.example"
    monkeypatch.setenv("LICWIZ_CENTER_EMAIL", "licenses@env.example")
    assert config.WizardConfig().center_email == "licenses@env.example"
    assert config.center_settings()["email"] == "licenses@env.example"
    given = config.WizardConfig(center_url="https://c.example", phone_number="", center_web_page="",
                                center_email="desk@given.example")
    assert given.center_email == "desk@given.example"  # what the caller gives is kept


def test_acquire_reaches_the_center_named_in_center_json(acq_fake_center: Any, acq_owner_file: Path) -> None:
    _user_file().write_text(json.dumps({"url": acq_fake_center.url}))
    r = subprocess.run([*LICWIZ, "acquire", "--kit", new_regnum(), "--pin", new_pin(), "--owner-file",
                        str(acq_owner_file), "--operation", "first", "--scope", "user", "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ok"] is True
