"""Issue 11 point 6: seats cannot be exceeded.

(a) Killing only the ``licwiz run`` wrapper (server or local seat) ends its
    command too: no command runs on after its seat is gone.
(b) Another Unix user cannot rewrite a holder's record, and a record they
    plant themselves does not let their session in beyond N.
(c) ``LICWIZ_SEAT_DIR`` is not honoured for an ordinary user: an empty folder
    of their choosing does not give them a seat.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from licwiz.core import seats
from licwiz.core.errors import StorageError
from licwiz.core.server_client import ServerClient
from support.fixtures_others import reachable_by_others
from support.fixtures_server import LicenseServer, SeatLicenses, licwiz_cmd

PRODUCT = "licwiz-demo"
NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--")


def needs_other_user() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to another user")
    if not shutil.which("setpriv"):
        pytest.skip("setpriv is not available")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended: only its parent has not collected it yet


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _kill_wrapper_and_expect_child_gone(run: subprocess.Popen[bytes]) -> None:
    try:
        kids: list[int] = []

        def started() -> bool:
            kids[:] = [k for k in _children(run.pid) if _alive(k)]
            return bool(kids)

        _wait(started, 20, "the command did not start")
        os.kill(run.pid, signal.SIGKILL)  # only the wrapper: its command is not signalled by us
        run.wait(10)
        _wait(lambda: not any(_alive(k) for k in kids), 10, "the command outlived its wrapper")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
        run.wait(10)


def test_server_seat_command_dies_with_its_wrapper(
        license_server_factory: Callable[[str | None], LicenseServer], seat_licenses: SeatLicenses) -> None:
    srv = license_server_factory(None)
    sp = srv.start("--lease", "2")

    async def install() -> None:
        async with ServerClient("127.0.0.1", sp.port, token=srv.admin_token) as c:
            await c.install(seat_licenses.make(1)[1])

    asyncio.run(install())
    env = {**os.environ, "LICWIZ_SERVER_CLIENT_TOKEN": srv.client_token}
    run = subprocess.Popen(licwiz_cmd("run", "--server", f"127.0.0.1:{sp.port}", "--", "sleep", "300"),
                           env=env, start_new_session=True)
    _kill_wrapper_and_expect_child_gone(run)


def test_local_seat_command_dies_with_its_wrapper(seat_licenses: SeatLicenses, seat_dir: Path) -> None:
    seat_licenses.install(1)
    run = subprocess.Popen(licwiz_cmd("run", "--local", "--", "sleep", "300"), start_new_session=True)
    _kill_wrapper_and_expect_child_gone(run)
    # and its seat is free again (the command held the inherited lock)
    _wait(lambda: seats.seat_holders(PRODUCT) == [], 10, "the seat stayed taken")


# --- (b) another user -------------------------------------------------------------------------

ATTACKER = r"""
import json, os, sys
from pathlib import Path
from licwiz.core.errors import SeatError, StorageError
from licwiz.core.seats import SeatTable
folder, product = Path(sys.argv[1]), sys.argv[2]
me = "unix:666"
rec = json.dumps({"user": "nobody", "session": me, "pid": os.getpid(), "since": "2024-01-01T00:00:00+00:00"})
rewritten = refused_write = 0
for path in sorted(folder.rglob("*")):
    if path.is_file():
        try:
            with open(path, "r+b") as fh:  # rewrite a holder's record to name my session
                fh.write(rec.encode().ljust(2048))
            rewritten += 1
        except PermissionError:
            refused_write += 1
        try:
            path.unlink()
            print("UNLINKED", path.name)
        except PermissionError:
            pass
table = SeatTable(product, 2, directory=folder)
for slot in range(2 if hasattr(table, "slot_name") else 0):  # and plant records in files of my own
    try:
        p = folder / table.slot_name(slot)
        p.write_bytes(rec.encode().ljust(2048))
    except OSError:
        pass
print("rewritten", rewritten, "refused", refused_write)
try:
    seat = table.acquire(me)
    print("JOINED", seat.slot)
except SeatError:
    print("refused")
except StorageError as exc:
    print("storage", exc.brief)
"""


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A seat folder another user can reach (the test's own tmp_path is root's 0700)."""
    with tempfile.TemporaryDirectory(prefix="licwiz-seats-") as top:
        os.chmod(top, 0o755)
        with reachable_by_others(top):
            yield Path(top) / "seats"


def test_another_user_cannot_rewrite_or_forge_a_seat(shared_folder: Path, reachable_checkout: None) -> None:
    needs_other_user()
    table = seats.SeatTable(PRODUCT, 2, directory=shared_folder)
    held = [table.acquire("unix:101"), table.acquire("unix:102")]
    try:
        files = [p for p in shared_folder.rglob("*") if p.is_file()]
        assert files
        for p in files:  # records are not writable by others
            assert not p.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH), (p, oct(p.stat().st_mode))
        out = subprocess.run([*NOBODY, sys.executable, "-c", ATTACKER, str(shared_folder), PRODUCT],
                             capture_output=True, text=True, timeout=60, cwd="/")
        assert out.returncode == 0, out.stderr
        assert "UNLINKED" not in out.stdout, out.stdout
        assert "rewritten 0 " in out.stdout, out.stdout
        assert out.stdout.strip().endswith("refused"), out.stdout
        # the holders are still root's two sessions, named by the owner of their files
        hs = table.holders()
        assert sorted(h.session for h in hs) == ["unix:101", "unix:102"]
        assert {h.user for h in hs} == {"root"}
    finally:
        for s in held:
            s.release()
    # once root's sessions end, nobody's own planted record is just a claim like any other
    out = subprocess.run([*NOBODY, sys.executable, "-c", ATTACKER, str(shared_folder), PRODUCT],
                         capture_output=True, text=True, timeout=60, cwd="/")
    assert "JOINED" in out.stdout, out.stdout + out.stderr


def test_a_planted_file_with_my_name_is_refused_not_used(shared_folder: Path,
                                                         reachable_checkout: None) -> None:
    needs_other_user()
    table = seats.SeatTable(PRODUCT, 1, directory=shared_folder)
    table.acquire("unix:1").release()  # makes the folder
    mine = table.slot_name(0)
    (shared_folder / mine).unlink()
    code = f"open({str(shared_folder / mine)!r}, 'w').write('{{}}')"
    out = subprocess.run([*NOBODY, sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    with pytest.raises(StorageError) as ei:
        table.acquire("unix:1")
    assert ei.value.code == "seat_dir" and mine in ei.value.brief


# --- (c) the seat folder is the administrator's -------------------------------------------------

def test_seat_dir_variable_is_ignored_for_an_ordinary_user(reachable_checkout: None, tmp_path: Path) -> None:
    needs_other_user()
    product = f"licwiz-t{uuid.uuid4().hex[:10]}"
    default = seats.seat_dir()  # what an ordinary user gets (the variable is unset here)
    with tempfile.TemporaryDirectory(prefix="licwiz-empty-") as empty:
        os.chmod(empty, 0o1777)
        env = {**os.environ, "LICWIZ_SEAT_DIR": empty}
        table = seats.SeatTable(product, 1)
        held = table.acquire("unix:1")
        try:
            code = ("import sys\nfrom licwiz.core import seats\nfrom licwiz.core.errors import SeatError\n"
                    "print(seats.seat_dir())\n"
                    f"try:\n    seats.SeatTable({product!r}, 1).acquire('unix:2'); print('GOT A SEAT')\n"
                    "except SeatError:\n    print('refused')\n")
            out = subprocess.run([*NOBODY, sys.executable, "-c", code], capture_output=True, text=True,
                                 env=env, timeout=60, cwd="/")
            assert out.returncode == 0, out.stderr
            assert out.stdout.split() == [str(default), "refused"], out.stdout
            assert not os.listdir(empty)
        finally:
            held.release()
            for p in default.glob(f"{product}.*"):
                p.unlink()


def test_seats_conf_names_the_folder(tmp_path: Path) -> None:
    conf = tmp_path / "seats.conf"
    assert seats.configured_seat_dir(conf) is None
    conf.write_text("# seats of this computer\nseat_dir = /run/acme/seats  # tmpfs\n")
    assert seats.configured_seat_dir(conf) == Path("/run/acme/seats")
    conf.write_text("seat_dir = relative/path\n")
    with pytest.raises(StorageError):
        seats.configured_seat_dir(conf)
