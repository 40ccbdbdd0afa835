"""``licwiz run [--server HOST:PORT | --local] [--wait SECONDS] -- COMMAND...``

Runs COMMAND holding a license seat for the current terminal session and
gives the seat back when it ends.

- Local (default): the seat is one of this computer's N session slots
  (core/seats.py). The slot's locked descriptor is inherited by COMMAND, so the
  seat stays held as long as the command (or anything it left running) lives.
- Server (``--server``, env ``LICWIZ_SERVER`` or ``"server"`` in server.json):
  the seat comes from the license server; a background thread renews the
  lease; the seat is released at exit (a wrapper killed with -9 loses it after
  the lease).

In both, COMMAND does not outlive this wrapper: the kernel sends it SIGTERM
when the wrapper dies, even by kill -9 (PR_SET_PDEATHSIG, ``dies_with_parent``),
so no command runs on after its seat is gone.

Signals TERM, HUP, USR1, USR2 (and INT, QUIT unless they came from the
terminal, which already sent them to COMMAND) are forwarded to COMMAND.

Exit status: COMMAND's own status (128+N when a signal N ended it);
75 no seat free (the holders are listed), 77 no valid license, 69 license
server unreachable or refusing, 64 usage error, 126 COMMAND not executable,
127 COMMAND not found (``RunExit`` in cli/errors.py).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import ctypes
import getpass
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from types import FrameType
from typing import Any, TypeVar

from licwiz.core import fingerprint, seats
from licwiz.core.errors import InputError, LicenseInvalid, LicwizError, SeatError
from licwiz.core.i18n import _
from licwiz.core.message import localized
from licwiz.core.product import current_product
from licwiz.core.text import printable_lines

from .errors import Parser, RunExit, UsageError, run_exit_code

T = TypeVar("T")

_FORWARD = (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
_FROM_TTY = (signal.SIGINT, signal.SIGQUIT)


def _err(msg: str) -> None:
    # messages quote seat holders and server answers: other users and the
    # server chose those words, so no control character reaches the terminal
    print(f"licwiz run: {printable_lines(msg)}", file=sys.stderr, flush=True)


def refusal_text(exc: SeatError) -> str:
    return _("no seat free: {brief}\nSeats are held by:\n{holders}\n"
             "Try again when one of them ends, or wait for one with --wait SECONDS.").format(
        brief=exc.localized_brief(), holders=localized(seats.format_holders(exc.holders)))


def _in_foreground() -> bool:
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError):
        return False


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def dies_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the kernel send SIGTERM to COMMAND when this
    wrapper dies, however it dies (kill -9 included): a command must never
    outlive the seat its wrapper holds (a server seat's lease would run out and
    another session take it while the command still runs).

    Why a preexec_fn: subprocess has no option for PR_SET_PDEATHSIG, and the
    alternatives are an extra process per run (a holder that outlives us) or
    an external helper (``setpriv --pdeathsig``, util-linux >= 2.33). The
    function does only two system calls through a prctl resolved here, before
    fork (no import, no lock taken in the child). The parent check closes the
    race where the wrapper dies between fork and prctl.

    Why SIGTERM, not SIGKILL: the command may save its work; a command that
    ignores SIGTERM is one its user could also have run without ``licwiz run``
    at all, which only a product that holds its seat itself prevents (README:
    threat model). None where prctl is not available (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the wrapper died before prctl: no seat, no command
            os._exit(RunExit.NO_SEAT)

    return arm


def run_child(cmd: list[str], pass_fds: Sequence[int] = ()) -> int:
    try:
        child = subprocess.Popen(cmd, pass_fds=tuple(pass_fds), preexec_fn=dies_with_parent())
    except FileNotFoundError:
        _err(_("command not found: {command}").format(command=cmd[0]))
        return RunExit.NOT_FOUND
    except PermissionError:
        _err(_("command not executable: {command}").format(command=cmd[0]))
        return RunExit.NOT_EXECUTABLE
    except OSError as exc:  # e.g. ENOEXEC: a script without #! line, a binary for another machine
        _err(_("command cannot be run: {command}: {reason}").format(command=cmd[0],
                                                                    reason=exc.strerror or exc))
        return RunExit.NOT_EXECUTABLE
    fg = _in_foreground()

    def forward(signum: int, _frame: FrameType | None) -> None:
        if signum in _FROM_TTY and fg:
            return  # the terminal signalled the whole foreground group, COMMAND included
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    old: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}
    for sig in (*_FORWARD, *_FROM_TTY):
        old[sig] = signal.signal(sig, forward)
    try:
        while True:
            try:
                rc = child.wait()
                break
            except InterruptedError:
                continue
    finally:
        for num, h in old.items():
            signal.signal(num, h if h is not None else signal.SIG_DFL)
    return 128 - rc if rc < 0 else rc


def _retry(deadline: float, attempt: Callable[[], object]) -> None:
    """Call ``attempt`` until it does not raise SeatError or the deadline passes."""
    while True:
        try:
            attempt()
            return
        except SeatError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.25)


def run_local(cmd: list[str], product: str, wait: float) -> int:
    ent = seats.entitlement(product)
    if ent.users <= 0:
        raise LicenseInvalid(f"no valid license for {product} on this computer",
                             "; ".join(ent.problems) or "no license is installed", code="no_license")
    table = seats.SeatTable(product, ent.users)
    held: list[seats.LocalSeat] = []
    _retry(time.monotonic() + wait, lambda: held.append(table.acquire()))
    with held[0] as seat:
        return run_child(cmd, pass_fds=(seat.fd,))


class ServerSeatKeeper:
    """Holds a server seat: an event loop in a background thread does the
    acquisition, the heartbeats (every lease/3) and the release."""

    def __init__(self, address: str | None, product: str) -> None:
        # Imported here: httpx is not needed (nor paid for) by local seats.
        from licwiz.core import server_client

        self.client = server_client.client_from_config(address)
        self.product = product
        self.session = fingerprint.session_id()
        self.host = socket.gethostname()
        try:
            self.user = getpass.getuser()
        except (OSError, KeyError):
            self.user = str(os.getuid())
        self.seat: server_client.Seat | None = None
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._loop.run_forever, name="licwiz-seat", daemon=True)
        self._thread.start()
        self._beat: concurrent.futures.Future[None] | None = None

    def _do(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _acquire(self) -> None:
        self.seat = await self.client.acquire_seat(self.session, self.host, self.user, self.product)

    def acquire(self) -> None:
        self._do(self._acquire())

    async def _heartbeats(self) -> None:
        from licwiz.core.server_client import ServerError

        assert self.seat is not None
        while True:
            interval = max(0.2, self.seat.lease / 3)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval)
                return
            try:
                await self.client.heartbeat(self.seat)
            except ServerError as exc:
                if exc.code != "seat_lost":
                    _err(_("cannot renew the seat ({reason}); retrying").format(reason=exc.localized_brief()))
                    continue
                try:
                    await self._acquire()  # the lease ran out (server unreachable too long): ask again
                except (LicwizError, SeatError) as again:
                    _err(_("the seat was lost and cannot be taken again: {reason}").format(
                        reason=again.localized_brief()))

    def start_heartbeats(self) -> None:
        self._beat = asyncio.run_coroutine_threadsafe(self._heartbeats(), self._loop)

    async def _close(self) -> None:
        self._stop.set()
        if self.seat is not None:
            with contextlib.suppress(LicwizError):
                await self.client.release(self.seat)
        await self.client.aclose()

    def close(self) -> None:
        try:
            self._do(self._close())
            if self._beat is not None:
                with contextlib.suppress(Exception):
                    self._beat.result(5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)


def run_server(cmd: list[str], address: str | None, product: str, wait: float) -> int:
    keeper = ServerSeatKeeper(address, product)
    try:
        _retry(time.monotonic() + wait, keeper.acquire)
        keeper.start_heartbeats()
        return run_child(cmd)
    finally:
        keeper.close()


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    args = list(argv)
    if "--" in args:
        i = args.index("--")
        opts, cmd = args[:i], args[i + 1:]
    else:
        opts, cmd = [], args
        # allow `licwiz run sleep 1` and `licwiz run --server H:P sleep 1`
        while cmd and cmd[0].startswith("-"):
            take = 2 if cmd[0] in ("--server", "--wait") else 1
            opts, cmd = opts + cmd[:take], cmd[take:]
    ns = build_parser().parse_args(opts)
    return ns, cmd


def build_parser() -> Parser:
    """The options before ``--`` (COMMAND and its arguments are not parsed)."""
    p = Parser(
        prog="licwiz run", description=_("run a command holding a license seat"),
        usage="licwiz run [--server HOST:PORT | --local] [--wait SECONDS] -- COMMAND...")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--server", help=_("take the seat from this license server (HOST:PORT)"))
    where.add_argument("--local", action="store_true",
                       help=_("use this computer's seats even if a server is set"))
    p.add_argument("--wait", type=float, default=0.0, help=_("wait up to SECONDS for a free seat"))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        ns, cmd = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        _err(exc.localized_brief())
        return RunExit.USAGE
    if not cmd:
        _err(_("no command given (usage: licwiz run [--server HOST:PORT] -- COMMAND...)"))
        return RunExit.USAGE
    product = current_product()
    try:
        if ns.local:
            return run_local(cmd, product, ns.wait)
        from licwiz.core.server_client import configured_server

        address = ns.server or configured_server()
        if address:
            return run_server(cmd, address, product, ns.wait)
        return run_local(cmd, product, ns.wait)
    except KeyboardInterrupt:  # Ctrl-C while waiting for a seat
        return RunExit.INTERRUPTED
    except LicwizError as exc:
        code = run_exit_code(exc)
        if isinstance(exc, SeatError):
            _err(refusal_text(exc))
        elif isinstance(exc, LicenseInvalid | InputError) and exc.detail != exc.brief:
            brief, detail = exc.localized_brief(), exc.localized_detail()
            _err(f"{brief}\n  {detail}" if isinstance(exc, LicenseInvalid) else f"{brief} ({detail})")
        else:
            _err(exc.localized_brief())
        if exc.code in ("unauthenticated", "forbidden"):
            _err(_("the license server needs the site's client token: set LICWIZ_SERVER_CLIENT_TOKEN or "
                   "\"client_token\" in ~/.config/licwiz/server.json or /etc/licwiz/server.json"))
        return code
