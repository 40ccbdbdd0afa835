"""``-`` means stdin/stdout (request --out -, install -, verify -), verify --json
on a file it cannot read, and the full-screen commands without a terminal:
the real ``licwiz`` in child processes."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from licwiz.core.storage import license_dir, state_dir
from support.fixtures_offline import OFF_PRODUCT, OffKeys, off_licwiz, off_pin, off_regnum

KIT = off_regnum(424242)
PIN = off_pin(4242)


def _request_to_stdout(owner_file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    # run in the owner file's folder: a licwiz that took '-' for a file name writes it there
    return off_licwiz("request", "--out", "-", "--kit", KIT, "--pin", PIN, "--operation", "first",
                      "--owner-file", str(owner_file), *extra, cwd=owner_file.parent)


def test_request_out_dash_prints_the_request_and_only_it(
    tmp_path: Path, off_keys: OffKeys, off_owner_file: Path
) -> None:
    r = _request_to_stdout(off_owner_file)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("-----BEGIN") and r.stdout.rstrip().endswith("-----")
    req = off_keys.open(r.stdout)  # the whole of stdout is the sealed request
    assert (req.regnum, req.pin, req.method, req.product) == (KIT, PIN, "file", OFF_PRODUCT)
    assert "licwiz install" in r.stderr and r.stderr.count("\n") == 1
    assert not (off_owner_file.parent / "-").exists()
    pending = [json.loads(p.read_text()) for p in (state_dir() / "pending").glob("*.json")]
    assert len(pending) == 1 and pending[0]["request_file"] == "-"
    # the answer to it installs from stdin, as the answer to a request file does
    lic = off_keys.sign_for(req).text
    got = off_licwiz("install", "-", "--json", stdin=lic)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["license"]["license_id"] == f"{KIT}-001"
    assert (license_dir("all-users") / f"{KIT}-001.lic").read_text() == lic
    assert not list((state_dir() / "pending").glob("*.json"))


def test_request_out_dash_json_carries_the_request(off_keys: OffKeys, off_owner_file: Path) -> None:
    r = _request_to_stdout(off_owner_file, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] and doc["request_file"] == "-"
    assert off_keys.open(doc["request"]).regnum == KIT


def test_install_dash_refuses_bad_input_from_stdin(off_keys: OffKeys, off_owner_file: Path) -> None:
    assert _request_to_stdout(off_owner_file).returncode == 0
    for text, words in (("hello\n", "not a licwiz license"), ("é" * 10, "not ASCII"),
                        ("A" * 40_000, "too large")):
        r = off_licwiz("install", "-", stdin=text)
        assert r.returncode == 2, r.stderr
        assert r.stderr.count("\n") == 1 and "standard input" in r.stderr and words in r.stderr
    r = off_licwiz("install", "-", "--phone", stdin="1: 123")
    assert r.returncode == 2 and "not both" in r.stderr


def test_verify_dash_reads_stdin(off_keys: OffKeys, off_owner_file: Path) -> None:
    req = off_keys.open(_request_to_stdout(off_owner_file).stdout)
    lic = off_keys.sign_for(req).text
    r = off_licwiz("verify", "-", "--json", stdin=lic)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["valid"] and doc["ok"] and doc["license"]["regnum"] == KIT
    tampered = lic.replace('"users":5', '"users":9')
    r = off_licwiz("verify", "-", stdin=tampered)
    assert r.returncode == 4 and "NOT verified" in r.stdout


@pytest.mark.parametrize(("content", "code"), [("hello\n", 3), (None, 3)])
def test_verify_json_on_a_malformed_or_missing_file_is_a_json_error(
    tmp_path: Path, content: str | None, code: int
) -> None:
    f = tmp_path / "bad.lic"
    if content is not None:
        f.write_text(content)
    r = off_licwiz("verify", str(f), "--json")
    assert r.returncode == code, r.stderr
    doc = json.loads(r.stdout)  # before: nothing on stdout
    assert doc["ok"] is False and doc["valid"] is False and doc["exit_code"] == code
    assert doc["file"] == str(f) and doc["error"]["code"] == "bad_file" and doc["error"]["brief"]
    assert r.stderr.count("\n") == 1 and "[bad_file]" in r.stderr


def test_verify_json_usage_error_is_json_too() -> None:
    r = off_licwiz("verify", "--json")
    assert r.returncode == 2
    assert json.loads(r.stdout)["error"]["code"] == "usage"


# --- full-screen commands without a terminal --------------------------------------------


def _run_without_tty(args: list[str], *, stdin_tty: bool = False) -> subprocess.CompletedProcess[str]:
    """``licwiz ARGS`` as cron or ``ssh host licwiz`` runs it: stdout a pipe and
    stdin /dev/null (or, with ``stdin_tty``, a terminal for stdin only)."""
    primary, secondary = pty.openpty() if stdin_tty else (None, None)
    env = {**os.environ, "TERM": "xterm-256color"}
    try:
        return subprocess.run([sys.executable, "-m", "licwiz.cli", *args],
                              stdin=secondary if stdin_tty else subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=30, env=env)
    except subprocess.TimeoutExpired as exc:  # the old behaviour: escape codes, then waiting for keys
        pytest.fail(f"licwiz {' '.join(args)} hung without a terminal: {exc.stdout!r}")
    finally:
        for fd in (primary, secondary):
            if fd is not None:
                os.close(fd)


@pytest.mark.parametrize("args", [[], ["wizard"], ["demo"], ["wizard", "--center", "http://127.0.0.1:9"]])
def test_full_screen_commands_without_a_terminal_name_licwiz_acquire(args: list[str]) -> None:
    r = _run_without_tty(args)
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""  # no escape codes
    assert r.stderr.count("\n") == 1 and "licwiz acquire" in r.stderr and "terminal" in r.stderr


def test_wizard_with_a_terminal_on_stdin_only_still_refuses() -> None:
    r = _run_without_tty([], stdin_tty=True)
    assert r.returncode == 2, r.stderr
    assert r.stdout == "" and "standard output" in r.stderr and "licwiz acquire" in r.stderr
