"""``licwiz demo`` in a real terminal (tmux): a --folder rerun shows the same
kits with the PIN spent by the first run marked (issue 14.14), and
``--shell`` opens a shell pointed at the demo (issue 14 --shell)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e.test_e2e_tmux import Terminal, first_time_registration, private_tmux

PIN = r"\d{3}-\d{3}-\d{3}-\d{3}-\d{3}"


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    with private_tmux() as term:
        yield term


def demo_env(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path / "config"), "TERM": "xterm-256color",
            "LICWIZ_PRODUCT": "licwiz-demo", "HOME": str(tmp_path / "home")}


def read_kit(notes: str) -> tuple[str, str]:
    regnum = re.search(r"Kit (\d{10}) \(1 user\)", notes)
    pin = re.search(rf"\(1 user\).*?\n.*?({PIN})", notes)
    assert regnum and pin, notes
    return regnum.group(1), pin.group(1)


def test_demo_rerun_shows_the_same_kits_with_the_spent_pin_marked(terminal: Terminal, tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    env = demo_env(tmp_path)
    terminal.start(env, "demo", "--folder", str(folder), width=110, height=40)
    regnum, pin = read_kit(terminal.wait_for("(1 user)", timeout=60))
    first_time_registration(terminal, regnum, pin)
    terminal.keys("Enter")  # Finish
    terminal.wait_for("licwiz exited with 0", timeout=60)
    kits = json.loads((folder / "demo-kits.json").read_text())["kits"]
    assert len(kits) == 2

    # The rerun in a second session of the same tmux server: killing the only
    # session would stop the server, racing the next new-session.
    rerun = Terminal(terminal.socket, "rerun")
    rerun.start(env, "demo", "--folder", str(folder), width=110, height=40)
    notes = rerun.wait_for("(1 user)", timeout=60)
    again, _ = read_kit(notes)
    assert again == regnum, "the rerun made a new kit instead of reusing the folder's"
    assert f"{pin} spent" in notes
    rerun.keys("F2")  # every kit of the folder, in a dialog
    rerun.wait_for("Close (Esc)")
    rerun.keys("Escape")
    rerun.keys("C-q")
    rerun.wait_for("licwiz exited with", timeout=60)
    assert json.loads((folder / "demo-kits.json").read_text())["kits"] == kits  # no new kit


def shell_run(terminal: Terminal, command: str, marker: str, timeout: float = 60.0) -> str:
    """Type ``command`` in the demo's shell after clearing the screen; returns the
    screen (wrapped lines joined) once ``marker=<exit code>`` shows."""
    clear = r"printf '\033[H\033[2J'"
    terminal.tmux("send-keys", "-t", terminal.session, "-l", f'{clear}; {command}; echo "{marker}=$?"')
    terminal.tmux("send-keys", "-t", terminal.session, "Enter")
    shown = terminal.wait_for(f"{marker}=", timeout=timeout)
    return shown.replace("\n", "")


def test_demo_shell_works_against_the_demo_until_it_exits(terminal: Terminal, tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    env = {**demo_env(tmp_path), "SHELL": "/bin/sh"}
    terminal.start(env, "demo", "--folder", str(folder), "--shell", width=110, height=40)
    notes = terminal.wait_for("(5 users)", timeout=60)
    regnum, pin = read_kit(notes)
    multi = re.search(rf"Kit (\d{{10}}) \(5 users\).*?single-user \(1 user each\):.*?\n.*?({PIN})", notes,
                      re.DOTALL)
    assert multi, notes
    first_time_registration(terminal, regnum, pin)
    terminal.keys("Enter")  # Finish: the shell opens
    terminal.wait_for("Type 'exit' to end the demo", timeout=60)
    lic = folder / "all-users" / "licenses" / f"{regnum}-001.lic"

    for name, want in (("LICWIZ_ALL_USERS_DIR", folder / "all-users"), ("LICWIZ_USER_DIR", folder / "user"),
                       ("LICWIZ_TRUSTED_KEYS", folder / "center" / "public")):
        shown = shell_run(terminal, f'echo "{name}:${name}:"', "echo-rc")
        assert f"{name}:{want}:" in shown, shown
    shown = shell_run(terminal, 'echo "url:$LICWIZ_CENTER_URL:"', "echo-rc")
    assert re.search(r"url:http://127\.0\.0\.1:\d+:", shown), shown
    shown = shell_run(terminal, "licwiz status", "status-rc")
    assert regnum in shown and "status-rc=0" in shown, shown
    shown = shell_run(terminal, f"licwiz verify {lic}", "verify-rc")
    assert "verify-rc=0" in shown, shown
    shown = shell_run(terminal, "licwiz fingerprint --what-if", "whatif-rc")
    assert "whatif-rc=0" in shown, shown

    # A second wizard in the shell: the demo center is still there to issue a license.
    terminal.tmux("send-keys", "-t", terminal.session, "-l", 'licwiz; echo "wizard-rc=$?"')
    terminal.tmux("send-keys", "-t", terminal.session, "Enter")
    first_time_registration(terminal, multi.group(1), multi.group(2))
    terminal.keys("Enter")  # Finish
    terminal.wait_for("wizard-rc=0", timeout=60)
    assert (folder / "all-users" / "licenses" / f"{multi.group(1)}-001.lic").is_file()

    terminal.tmux("send-keys", "-t", terminal.session, "-l", "exit")
    terminal.tmux("send-keys", "-t", terminal.session, "Enter")
    shown = terminal.wait_for("licwiz exited with", timeout=60).replace("\n", "")
    assert "licwiz exited with 0" in shown, shown
    assert f"License installed for all users: {lic}" in shown, shown
