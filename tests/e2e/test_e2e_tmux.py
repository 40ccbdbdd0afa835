"""End to end: the installed ``licwiz`` in a real terminal (tmux), keys only,
from the first step to an installed license, against a real Licensing Center
process; then the license file on disk is checked.

The terminal is polled (capture-pane) for the text each step shows before
the next keys go in: no fixed sleeps, so a slow machine only makes it slower.
A private tmux server on a socket in a private folder (-S) keeps this test away
from anyone else's sessions and leaves no socket file in the system's tmux folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from licwiz.core.fingerprint import collect
from licwiz.core.identifiers import format_pin
from licwiz.core.keys import load_keyring
from licwiz.core.license import verify_file
from support import owners

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

OWNER = owners.TYPED
# The owner step's fields in Tab order after the owner type choice.
OWNER_FIELDS = (
    "organisation", "contact", "email", "phone", "country", "postcode", "region", "city", "address",
)


def licwiz_executable() -> str:
    here = Path(sys.executable).parent / "licwiz"
    if here.exists():
        return str(here)
    found = shutil.which("licwiz")
    if found is None:
        pytest.fail("the licwiz command is not installed next to the Python running the tests")
    return found


class Terminal:
    def __init__(self, socket: str, session: str) -> None:
        self.socket, self.session = socket, session  # socket: a path (tmux -S)

    def start(self, env: dict[str, str], *args: str, width: int = 100, height: int = 30,
              prefix: tuple[str, ...] = (), cwd: Path | None = None) -> None:
        """Run the installed ``licwiz ARGS`` in a new session; the pane stays
        after it exits and shows its exit code. ``prefix`` wraps the command
        (e.g. setpriv, to run it as another user)."""
        command = " ".join([
            # COLUMNS/LINES (set by some runners) would override the terminal's real size
            "env", "-u", "COLUMNS", "-u", "LINES", *(f"{k}={shlex.quote(v)}" for k, v in env.items()),
            *(shlex.quote(a) for a in prefix),
            shlex.quote(licwiz_executable()), *(shlex.quote(a) for a in args),
            '; echo "licwiz exited with $?"; sleep 120',
        ])
        where = ("-c", str(cwd)) if cwd is not None else ()
        self.tmux("new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height),
                  *where, command)

    def tmux(self, *args: str) -> str:
        res = subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True, text=True, timeout=20)
        if res.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {res.stderr}")
        return res.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        """Poll until ``text`` is on the screen and the screen has stopped
        changing (a new step is mounted and focused before keys go to it)."""
        deadline = time.monotonic() + timeout
        last, stable_since = "", time.monotonic()
        while True:
            shown = self.screen()
            now = time.monotonic()
            if shown != last:
                last, stable_since = shown, now
            elif text in shown and now - stable_since >= 0.3:
                return shown
            if now > deadline:
                raise AssertionError(f"{text!r} did not appear within {timeout}s; the screen:\n{shown}")
            time.sleep(0.1)

    def settle(self, quiet: float = 0.3, timeout: float = 10.0) -> None:
        """Wait until the screen has not changed for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        last, since = self.screen(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            shown = self.screen()
            if shown != last:
                last, since = shown, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return

    def keys(self, *keys: str) -> None:
        """Send keys, then let the app take them in (typing ahead has its own test)."""
        self.tmux("send-keys", "-t", self.session, *keys)
        self.settle()

    def type(self, text: str, *, echo: str | None = None) -> None:
        """Type ``text`` literally and wait until the screen shows it (``echo``)."""
        self.tmux("send-keys", "-t", self.session, "-l", text)
        self.wait_for(echo if echo is not None else text)


@contextlib.contextmanager
def private_tmux() -> Iterator[Terminal]:
    """A tmux server of its own whose socket lives in a private folder (a short
    path: sockets are limited to ~100 bytes), removed with the server at the end."""
    folder = Path(tempfile.mkdtemp(prefix="licwiz-e2e-"))
    term = Terminal(str(folder / "tmux"), "wizard")
    try:
        yield term
    finally:
        subprocess.run(["tmux", "-S", term.socket, "kill-server"], capture_output=True, timeout=20)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    with private_tmux() as term:
        yield term


def _system_tmux_sockets() -> set[str]:
    folder = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.geteuid()}"
    return {p.name for p in folder.glob("licwiz-e2e-*")} if folder.is_dir() else set()


def test_a_terminal_leaves_no_tmux_socket_behind() -> None:
    """Issue 14.18: the e2e tests left licwiz-e2e-* sockets in the system's tmux folder."""
    before = _system_tmux_sockets()
    with private_tmux() as term:
        term.tmux("new-session", "-d", "-s", term.session, "sleep 60")
        socket = Path(term.socket)
        assert socket.exists()
    assert not socket.exists() and not socket.parent.exists()
    assert _system_tmux_sockets() <= before


def first_time_registration(terminal: Terminal, regnum: str, pin: str) -> str:
    """Drive the wizard from step 1 to the final step; returns the final screen."""
    # 1. Action: "Acquire a license" is the default choice
    terminal.wait_for("Acquire a license")
    terminal.keys("Enter")
    # 2. Kit number and PIN code
    terminal.wait_for("Kit number")
    terminal.type(regnum)
    terminal.keys("Tab")
    terminal.type(pin)
    terminal.keys("Enter")
    # 3. Operation: "First-time registration" is the default choice
    terminal.wait_for("First-time registration")
    terminal.keys("Enter")
    # 4. Owner data, then the absolute-accuracy box that enables Next
    terminal.wait_for("Contact person")
    for name in OWNER_FIELDS:
        terminal.keys("Tab")
        terminal.type(getattr(OWNER, name))
    terminal.keys("Tab")
    terminal.keys("Space")
    terminal.wait_for("[X] I am aware")
    terminal.keys("C-n")
    # 5. Availability check, then Acquire
    terminal.wait_for("A license can be acquired")
    terminal.keys("Enter")
    # 6. Final step: what was installed where
    return terminal.wait_for("License id:")


def test_keyboard_only_first_time_registration(center: Any, terminal: Terminal, tmp_path: Path) -> None:
    kit = center.create_kit(users=1, pins=2)
    env = {
        "LICWIZ_TRUSTED_KEYS": str(center.trusted_keys),
        "LICWIZ_ALL_USERS_DIR": str(tmp_path / "all-users"),
        "LICWIZ_USER_DIR": str(tmp_path / "user"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "LICWIZ_PRODUCT": "licwiz-demo",
        "TERM": "xterm-256color",
    }
    terminal.start(env, "wizard", "--center", center.url)
    shown = first_time_registration(terminal, kit.regnum, format_pin(kit.single_pins[0]))
    license_id = f"{kit.regnum}-001"
    assert license_id in shown

    path = tmp_path / "all-users" / "licenses" / f"{license_id}.lic"
    assert path.is_file()
    lic = verify_file(path, load_keyring([center.trusted_keys]), product="licwiz-demo")
    assert lic.regnum == kit.regnum and lic.users == 1 and lic.method == "online"
    assert lic.owner_digest == OWNER.digest()
    assert dict(lic.params) == collect("licwiz-demo")

    terminal.keys("Enter")  # Finish
    terminal.wait_for("licwiz exited with 0")


def test_typed_ahead_tab_moves_focus_in_order(center: Any, terminal: Terminal, tmp_path: Path) -> None:
    """Over a slow link keys arrive in one read: "kit<Tab>PIN<Enter>" must fill
    both fields and go on, as typed (a Tab taken late put the PIN in the kit field)."""
    kit = center.create_kit(users=1, pins=1)
    env = {"LICWIZ_TRUSTED_KEYS": str(center.trusted_keys), "LICWIZ_ALL_USERS_DIR": str(tmp_path / "all"),
           "LICWIZ_USER_DIR": str(tmp_path / "user"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "TERM": "xterm-256color"}
    terminal.start(env, "wizard", "--center", center.url)
    terminal.wait_for("Acquire a license")
    terminal.keys("Enter")
    terminal.wait_for("Kit number")
    terminal.tmux("send-keys", "-t", terminal.session, "-l", f"{kit.regnum}\t{kit.single_pins[0]}\r")
    shown = terminal.wait_for("First-time registration")
    assert "step 3" in shown, shown


def test_ordinary_user_gets_a_license_of_their_own(center: Any, terminal: Terminal,
                                                  reachable_checkout: None) -> None:
    """An ordinary user cannot write the all-users folder: the wizard says so at
    once, offers "Acquire for the current user", and the license lands in that
    user's own folder, owned by them."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run the wizard as another user")
    nobody = 65534
    as_nobody = ("setpriv", f"--reuid={nobody}", f"--regid={nobody}", "--clear-groups", "--")
    kit = center.create_kit(users=1, pins=1)
    with tempfile.TemporaryDirectory(prefix="licwiz-e2e-user-") as d:
        shared = Path(d)
        os.chmod(shared, 0o777)
        system = shared / "system"
        (system / "licenses").mkdir(parents=True)  # root's, mode 0755: not for this user
        keys = shared / "keys"
        shutil.copytree(center.trusted_keys, keys)  # the center's folder is private to root
        os.chmod(keys, 0o755)
        env = {"LICWIZ_TRUSTED_KEYS": str(keys), "LICWIZ_ALL_USERS_DIR": str(system),
               "LICWIZ_USER_DIR": str(shared / "user"), "XDG_CONFIG_HOME": str(shared / "config"),
               "HOME": str(shared), "LICWIZ_PRODUCT": "licwiz-demo", "TERM": "xterm-256color"}
        terminal.start(env, "wizard", "--center", center.url, prefix=as_nobody)
        terminal.wait_for("Acquire for the current user")
        terminal.keys("Enter")
        shown = first_time_registration(terminal, kit.regnum, format_pin(kit.single_pins[0]))
        assert "for the current user" in shown
        path = shared / "user" / "licenses" / f"{kit.regnum}-001.lic"
        assert path.is_file() and path.stat().st_uid == nobody
        assert list((system / "licenses").iterdir()) == []
        lic = verify_file(path, load_keyring([keys]), product="licwiz-demo")
        assert lic.regnum == kit.regnum
        terminal.keys("Enter")  # Finish
        terminal.wait_for("licwiz exited with 0")


def test_demo_from_its_own_notes(terminal: Terminal, tmp_path: Path) -> None:
    """``licwiz demo`` (what ``make demo`` runs): the kit number and PIN are read
    off the demo panel beside the wizard, as a new user would."""
    folder = tmp_path / "demo"
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "TERM": "xterm-256color",
           "LICWIZ_PRODUCT": "licwiz-demo"}
    terminal.start(env, "demo", "--folder", str(folder), width=110, height=32)
    notes = terminal.wait_for("(1 user)", timeout=60)
    regnum = re.search(r"Kit (\d{10}) \(1 user\)", notes)
    pin = re.search(r"\(1 user\).*?\n.*?(\d{3}-\d{3}-\d{3}-\d{3}-\d{3})", notes)
    assert regnum and pin, notes
    first_time_registration(terminal, regnum.group(1), pin.group(1))
    terminal.keys("Enter")  # Finish
    shown = terminal.wait_for("licwiz exited with 0", timeout=60)
    path = folder / "all-users" / "licenses" / f"{regnum.group(1)}-001.lic"
    assert f"License installed for all users: {path}" in shown.replace("\n", "")
    assert path.is_file()
    lic = verify_file(path, load_keyring([folder / "center" / "public"]), product="licwiz-demo")
    assert lic.regnum == regnum.group(1)


def test_demo_quit_leaves_nothing_behind(terminal: Terminal, tmp_path: Path) -> None:
    """Quitting the demo at once: exit code 130, its temporary folder removed."""
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "TERM": "xterm-256color", "TMPDIR": str(tmp_path)}
    terminal.start(env, "demo", width=110, height=32)
    terminal.wait_for("Licenses: ", timeout=60)
    [folder] = tmp_path.glob("licwiz-demo-*")  # the panel wraps long paths; TMPDIR puts it here
    assert (folder / "center" / "center.db").is_file()
    terminal.keys("C-q")
    shown = terminal.wait_for("licwiz exited with 130", timeout=60)
    assert "No license was installed." in shown
    assert not folder.exists()


def _one_line(shown: str) -> str:
    return shown.replace("\n", "")


def test_demo_rerun_says_what_this_run_did_and_how_to_go_on(terminal: Terminal, tmp_path: Path) -> None:
    """Issue 14.15-17: the exit summary says what THIS run installed (a quit run
    installed nothing, whatever the folder holds), how to continue with the same
    folder and look at its licenses; files the wizard proposes go in the demo
    folder, not in the folder the demo was started from."""
    folder, checkout = tmp_path / "demo", tmp_path / "checkout"
    checkout.mkdir()
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "TERM": "xterm-256color",
           "LICWIZ_PRODUCT": "licwiz-demo"}
    terminal.start(env, "demo", "--folder", str(folder), width=110, height=40, cwd=checkout)
    notes = terminal.wait_for("(1 user)", timeout=60)
    regnum = re.search(r"Kit (\d{10}) \(1 user\)", notes)
    pin = re.search(r"\(1 user\).*?\n.*?(\d{3}-\d{3}-\d{3}-\d{3}-\d{3})", notes)
    assert regnum and pin, notes
    first_time_registration(terminal, regnum.group(1), pin.group(1))
    terminal.keys("Enter")  # Finish
    shown = _one_line(terminal.wait_for("licwiz exited with 0", timeout=60))
    lic = folder / "all-users" / "licenses" / f"{regnum.group(1)}-001.lic"
    assert f"License installed for all users: {lic}" in shown
    assert f"licwiz demo --folder {folder}" in shown
    assert f"export LICWIZ_ALL_USERS_DIR={folder / 'all-users'}" in shown
    assert f"export LICWIZ_USER_DIR={folder / 'user'}" in shown
    assert f"export LICWIZ_TRUSTED_KEYS={folder / 'center' / 'public'}" in shown
    assert f"licwiz center operator add NAME --home {folder / 'center'}" in shown
    # The same folder again, in a second session of the same tmux server (killing the
    # only session stops the server, which races the next new-session): save the owner
    # data with the proposed path, then quit.
    rerun = Terminal(terminal.socket, "rerun")
    rerun.start(env, "demo", "--folder", str(folder), width=110, height=40, cwd=checkout)
    notes = rerun.wait_for("(1 user)", timeout=60)
    pin_re = r"\d{3}-\d{3}-\d{3}-\d{3}-\d{3}"
    second = re.search(rf"\(1 user\).*?\n.*?{pin_re}.*?\n.*?({pin_re})", notes)
    assert second, notes
    rerun.keys("Enter")
    rerun.wait_for("Kit number")
    rerun.type(regnum.group(1))
    rerun.keys("Tab")
    rerun.type(second.group(1))
    rerun.keys("Enter")
    rerun.wait_for("First-time registration")
    rerun.keys("Enter")
    rerun.wait_for("Contact person")
    for name in OWNER_FIELDS:
        rerun.keys("Tab")
        rerun.type(getattr(OWNER, name))
    rerun.keys("F5")  # Save data: the proposed file is in the demo folder
    rerun.wait_for("license-owner.json")
    rerun.keys("Enter")
    deadline = time.monotonic() + 20
    while not (folder / "license-owner.json").is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (folder / "license-owner.json").is_file(), rerun.screen()
    rerun.keys("C-q")
    rerun.wait_for("Quit (lose it)")
    rerun.keys("Tab")  # from "Stay" to "Quit (lose it)" (two buttons: Tab wraps)
    rerun.keys("Enter")
    shown = _one_line(rerun.wait_for("licwiz exited with 130", timeout=60))
    assert "No license was installed." in shown
    assert "License installed" not in shown
    assert f"Already in the demo folder from earlier runs (not installed now):  {lic}" in shown
    assert f"licwiz demo --folder {folder}" in shown
    assert list(checkout.iterdir()) == []
