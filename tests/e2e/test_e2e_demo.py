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
    terminal.tmux("kill-session", "-t", terminal.session)
    kits = json.loads((folder / "demo-kits.json").read_text())["kits"]
    assert len(kits) == 2

    terminal.start(env, "demo", "--folder", str(folder), width=110, height=40)
    notes = terminal.wait_for("(1 user)", timeout=60)
    again, _ = read_kit(notes)
    assert again == regnum, "the rerun made a new kit instead of reusing the folder's"
    assert f"{pin} spent" in notes
    terminal.keys("F2")  # every kit of the folder, in a dialog
    terminal.wait_for("Demo kits")
    terminal.keys("Escape")
    terminal.keys("C-q")
    terminal.wait_for("licwiz exited with", timeout=60)
    assert json.loads((folder / "demo-kits.json").read_text())["kits"] == kits  # no new kit
