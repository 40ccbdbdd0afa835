"""Fixtures for the wizard's Pilot tests (owner: wizard).

``wizard_center``: the real ``center`` process with LICWIZ_TRUSTED_KEYS pointed
at its keys. ``wizard_run``: an async context manager that runs ``LicwizApp``
at 80x24 under Pilot and yields a ``WizardDriver`` (type into fields, press
keys, wait for a step or a condition). ``WIZ_OWNER``: valid owner data.
``GatedRelay``: a TCP relay in front of the real center that holds one kind
of request back until released (to change the computer between two steps of
one acquisition). ``AnswerRelay``: a TCP relay in front of the real center
that drops or holds the ANSWER of one kind of request (the center has done
its work), or answers every request 503 itself. The walks a person takes from
step 1 (kit and PIN, Advanced settings as given): ``to_kit`` (to the operation
step), ``to_owner`` (the owner data step), ``first_time`` (the owner data
entered, Next), ``to_method`` (automatic acquisition off: the method step),
``recovery`` (the same license or an update, the owner data again, Next).
``unwritable(folder)``: the folder refuses new files for real, root included.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Literal, Self

import pytest
from licwiz.core.identifiers import format_pin
from licwiz.core.owner import OwnerData

from support import owners

WIZ_OWNER = owners.ORGANISATION


class WizardDriver:
    def __init__(self, app: Any, pilot: Any) -> None:
        self.app = app
        self.pilot = pilot

    @property
    def state(self) -> Any:
        return self.app.state

    @property
    def screen(self) -> Any:
        return self.app.screen

    async def wait(self, cond: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or cond}; step={self.state.current}, "
                                     f"screen={type(self.screen).__name__}, status={self.text('#status')!r}")
            await self.pilot.pause(0.02)

    async def at(self, step: str, timeout: float = 15.0) -> None:
        """Wait until ``step`` is on screen (not behind a dialog), mounted and
        focused (the step sets its focus as it mounts: keys go where it says)."""
        def ready() -> bool:
            scr = self.screen
            return (getattr(scr, "step", None) == step and scr.is_mounted and bool(scr.query("#buttons"))
                    and scr.focused is not None)
        await self.wait(ready, timeout, f"step {step}")
        await self.pilot.pause()

    async def dialog(self, name: str, focus: str | None = None, timeout: float = 15.0) -> None:
        """Wait until the dialog class ``name`` is on top, mounted and has its
        focus (on the button ``#focus`` when given): a key pressed earlier would
        go to the widget focused before the dialog's own focus lands."""
        def ready() -> bool:
            scr = self.screen
            if type(scr).__name__ != name or not scr.is_mounted or scr.focused is None:
                return False
            return focus is None or scr.focused.id == focus
        await self.wait(ready, timeout, f"dialog {name}" + (f" with #{focus} focused" if focus else ""))

    async def focused(self, widget_id: str, timeout: float = 15.0) -> None:
        """Wait until the widget ``#widget_id`` of the top screen has the focus
        (or, for "back", "next", "help" and "quit", the button bar with that button chosen)."""
        from licwiz.screens.buttonbar import ButtonBar

        def ready() -> bool:
            focused = self.screen.focused
            if isinstance(focused, ButtonBar) and focused.chosen == widget_id:
                return True
            return focused is not None and focused.id == widget_id
        await self.wait(ready, timeout, f"focus on #{widget_id}")

    async def press(self, *keys: str) -> None:
        await self.pilot.press(*keys)
        await self.pilot.pause()

    async def type(self, selector: str, text: str) -> None:
        """Focus a field, clear it and type ``text`` key by key."""
        from textual.widgets import Input

        widget = self.screen.query_one(selector, Input)
        widget.focus()
        widget.value = ""
        await self.pilot.pause()
        await self.pilot.press(*[("space" if ch == " " else ch) for ch in text])
        await self.pilot.pause()

    async def fill(self, selector: str, value: str) -> None:
        """Set a field's value through the widget (fires Changed like typing)."""
        from textual.widgets import Input

        self.screen.query_one(selector, Input).value = value
        await self.pilot.pause()

    async def tick(self, selector: str, value: bool = True) -> None:
        from textual.widgets import Checkbox

        box = self.screen.query_one(selector, Checkbox)
        if box.value != value:
            box.focus()
            await self.pilot.press("space")
        await self.pilot.pause()
        assert box.value == value

    async def choose(self, selector: str, value: str) -> None:
        """Move the highlight of a ChoiceList to ``value`` with the arrow keys."""
        lst = self.screen.query_one(selector)
        lst.focus()
        await self.pilot.pause()
        values = [c[0] for c in lst._choices]
        target = values.index(value)
        if lst.highlighted is None:
            await self.pilot.press("down")
        while lst.highlighted != target:
            await self.pilot.press("down" if (lst.highlighted or 0) < target else "up")
        await self.pilot.pause()
        assert lst.value == value

    def text(self, selector: str) -> str:
        found = self.screen.query(selector)
        if not found:
            return ""
        widget = found.first()
        return str(getattr(widget, "content", None) or widget.render())

    def next_enabled(self) -> bool:
        return not self.screen.buttons.button_disabled("next")

    async def next(self) -> None:
        await self.press("ctrl+n")

    async def pick(self, selector: str, value: str, step: str) -> None:
        """Choose ``value`` in the list ``selector``, press Enter and wait for ``step``."""
        await self.choose(selector, value)
        await self.press("enter")
        await self.at(step)

    async def fill_owner(self, prefix: str, owner: OwnerData) -> None:
        from textual.widgets import Input

        await self.choose(f"#{prefix}-kind", owner.kind)
        for name in OwnerData.field_names():
            if name != "kind":
                self.screen.query_one(f"#{prefix}-{name}", Input).value = getattr(owner, name)
        await self.pilot.pause()


async def to_kit(d: WizardDriver, regnum: str, pin: str, *, automatic: bool = True,
                 server: tuple[str, int] | None = None) -> None:
    """From the action step: Acquire a license, the kit and PIN, in the Advanced
    settings (F4) "Install the license on the server" (``server``: host, port)
    and automatic acquisition off where asked, Next: on the operation step."""
    await d.press("enter")  # "Acquire a license" is the default choice
    await d.at("kit")
    await d.fill("#regnum", regnum)
    await d.fill("#pin", pin)
    if server is not None or not automatic:
        await d.press("f4")  # Advanced settings
        if server is not None:
            await d.tick("#on_server")
            await d.fill("#server", server[0])
            await d.fill("#port", str(server[1]))
        if not automatic:
            await d.tick("#automatic", False)
    assert d.next_enabled()
    await d.next()
    await d.at("operation")


async def to_owner(d: WizardDriver, regnum: str, pin: str, *, automatic: bool = True,
                   server: tuple[str, int] | None = None) -> None:
    """``to_kit``, then First-time registration: on the owner data step, nothing typed."""
    await to_kit(d, regnum, pin, automatic=automatic, server=server)
    await d.pick("#operation", "first", "owner_first")


async def first_time(d: WizardDriver, regnum: str, pin: str, owner: OwnerData = WIZ_OWNER, *,
                     automatic: bool = True, server: tuple[str, int] | None = None) -> None:
    """``to_owner``, the owner data typed in, the accuracy box ticked, Next
    (the caller waits for the step it expects: automatic or method)."""
    await to_owner(d, regnum, pin, automatic=automatic, server=server)
    await d.fill_owner("owner", owner)
    assert not d.next_enabled(), "Next must wait for the accuracy box"
    await d.tick("#accuracy")
    assert d.next_enabled()
    await d.next()


async def to_method(d: WizardDriver, regnum: str, pin: str, owner: OwnerData = WIZ_OWNER, *,
                    server: tuple[str, int] | None = None) -> None:
    """A first-time registration with automatic acquisition off: on the method step."""
    await first_time(d, regnum, pin, owner, automatic=False, server=server)
    await d.at("method")


async def recovery(d: WizardDriver, regnum: str, pin: str, *, update_pin: str | None = None,
                   owner: OwnerData = WIZ_OWNER, automatic: bool = True) -> None:
    """``to_kit``, License recovery: the same license ("I am sure the key computer
    parameters have not been changed") or, with ``update_pin``, an update with
    that PIN; the owner data typed in again, Next (the caller waits for the step)."""
    await to_kit(d, regnum, pin, automatic=automatic)
    await d.pick("#operation", "recover", "recovery")
    if update_pin is None:
        await d.choose("#recover_choice", "same")
        await d.tick("#same_params")
    else:
        await d.choose("#recover_choice", "update")
        assert format_pin(pin) in d.text("#pin-in-use")
        await d.fill("#extra_pin", update_pin)
    assert d.next_enabled()
    await d.next()
    await d.at("owner_verify")
    await d.fill_owner("verify", owner)
    await d.next()


@pytest.fixture
def wizard_center(center: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LICWIZ_TRUSTED_KEYS", str(center.trusted_keys))
    return center


@pytest.fixture
def wizard_run() -> Callable[..., contextlib.AbstractAsyncContextManager[WizardDriver]]:
    @contextlib.asynccontextmanager
    async def run(center_url: str, size: tuple[int, int] = (80, 24), **config: Any
                  ) -> AsyncIterator[WizardDriver]:
        from licwiz.app.config import WizardConfig
        from licwiz.app.wizard import LicwizApp

        cfg = WizardConfig(center_url=center_url, center_timeout=5.0, ascii=False, **config)
        app = LicwizApp(cfg)
        async with app.run_test(size=size) as pilot:
            driver = WizardDriver(app, pilot)
            await asyncio.wait_for(app.controller.wait_started(), 15)
            await pilot.pause()
            if app.all_users_writable:
                await driver.at("action")
            yield driver
    return run


class _Relay:
    """What both relays share: a listening socket on 127.0.0.1 (``url``) in
    front of the server at ``target_url``, and the copy of a client's request
    bytes that counts the requests containing ``match`` (``seen``) and lets the
    relay act on each (``on_match``) before it is passed on. A subclass serves
    each connection (``_serve``) and lets go of what it holds on exit
    (``_let_go``)."""

    def __init__(self, target_url: str, match: bytes) -> None:
        parts = urllib.parse.urlsplit(target_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.match = match
        self.seen = 0
        self.url = ""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._let_go()
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _let_go(self) -> None:
        raise NotImplementedError

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def _copy(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                    on_match: Callable[[], Awaitable[None]] | None = None) -> None:
        """Copy ``src`` to ``dst`` until either end closes, then close ``dst``;
        with ``on_match``, ``src`` is a client's requests: a matching one is
        counted and ``on_match`` awaited before its bytes go on."""
        tail = b""  # a match may straddle two reads
        try:
            while data := await src.read(65536):
                if on_match is not None and self.match in tail + data:
                    self.seen += 1
                    await on_match()
                tail = data[-len(self.match):]
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                dst.close()


class GatedRelay(_Relay):
    """A TCP relay to a real server that holds back the request whose bytes
    contain ``hold`` (e.g. ``b"POST /api/v1/activate "``) until ``release`` is
    set; ``held`` is set when it arrives and ``seen`` counts such requests.
    Everything else passes untouched.

    ``async with GatedRelay(center.url, hold) as relay:`` then point the
    wizard at ``relay.url``."""

    def __init__(self, target_url: str, hold: bytes) -> None:
        super().__init__(target_url, hold)
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    def _let_go(self) -> None:
        self.release.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        tasks = {asyncio.create_task(self._copy(reader, up_writer, self._gate)),
                 asyncio.create_task(self._copy(up_reader, writer))}
        self._tasks |= tasks
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks -= tasks

    async def _gate(self) -> None:
        if not self.release.is_set():
            self.held.set()
            await self.release.wait()


AnswerMode = Literal["pass", "drop", "hold", "busy"]


class AnswerRelay(_Relay):
    """A TCP relay to a real server that acts on the ANSWER to the request
    whose bytes contain ``match`` (e.g. ``b"POST /api/v1/activate "``), by
    ``mode``:

    - ``pass``: untouched;
    - ``drop``: the answer is read from the server (it has done its work:
      committed, PIN spent) and the client's connection closed without it, as
      a dropped connection or a crashed proxy does; ``dropped`` counts them;
    - ``hold``: the answer waits in the relay (``held`` is set when one
      arrives) until the mode changes;
    - ``busy``: every new connection is answered ``503 unavailable`` with
      ``Retry-After: 1`` by the relay itself, in the center's error shape,
      nothing forwarded (``busy_answers`` counts them).

    ``seen`` counts the matching requests that reached the relay. With the
    server gone, a connection is closed at once (the client cannot reach it).
    ``retarget(port)`` follows a server restarted on another port.
    ``async with AnswerRelay(center.url, match) as relay:`` then point the
    wizard at ``relay.url``."""

    def __init__(self, target_url: str, match: bytes, mode: AnswerMode = "pass") -> None:
        super().__init__(target_url, match)
        self.mode: AnswerMode = mode
        self.held = asyncio.Event()
        self._moved = asyncio.Event()
        self.dropped = 0
        self.busy_answers = 0

    def set_mode(self, mode: AnswerMode) -> None:
        self.mode = mode
        self._moved.set()  # a held answer looks again
        self._moved = asyncio.Event()

    def retarget(self, port: int) -> None:
        self.port = port

    def _let_go(self) -> None:
        self.set_mode("pass")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self.mode == "busy":
                await self._answer_busy(reader, writer)
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
            except OSError:  # the server is down: the client's connection ends unanswered
                writer.close()
                return
            matched: list[bool] = []

            async def noticed() -> None:
                matched.append(True)

            await asyncio.gather(self._copy(reader, up_writer, noticed),
                                 self._answers(up_reader, writer, up_writer, matched),
                                 return_exceptions=True)
        finally:
            self._tasks.discard(task)

    async def _answer_busy(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read one whole request (headers and body: closing with unread bytes
        would reset the connection under the answer), answer 503, close."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            await reader.readexactly(length)
            self.busy_answers += 1
            body = (b'{"error": {"code": "unavailable", "brief": "The Licensing Center is busy or its '
                    b'database is down", "detail": "Try again in a minute; quote the request id to '
                    b'support if it persists.", "request_id": "relay-busy"}}')
            writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                         b"Retry-After: 1\r\nX-Request-Id: relay-busy\r\nConnection: close\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            await writer.drain()
        except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _answers(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                       upstream: asyncio.StreamWriter, matched: list[bool]) -> None:
        try:
            while data := await src.read(65536):
                if matched:
                    while self.mode == "hold":
                        self.held.set()
                        await self._moved.wait()
                    if self.mode == "drop":
                        self.dropped += 1
                        return  # the answer goes nowhere; both connections close below
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            for w in (dst, upstream):
                with contextlib.suppress(Exception):
                    w.close()


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[str]:
    """Make ``folder`` refuse new files, also for root (mode bits do not stop
    root): chmod 0555 for an ordinary user; for root the immutable attribute
    (``chattr +i``: EPERM, what a read-only mount or ACL gives), or where the
    file system has no such attribute, a regular file put in the folder's
    place. Yields which way was used; everything is undone on exit."""
    folder = Path(folder)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield "chmod"
        finally:
            folder.chmod(0o755)
        return
    chattr = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False) \
        if shutil.which("chattr") else None
    if chattr is not None and chattr.returncode == 0:
        try:
            yield "immutable"
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        return
    away = folder.with_name(folder.name + ".away")
    folder.rename(away)
    folder.write_text("a file where the folder was")
    try:
        yield "file-in-place"
    finally:
        folder.unlink()
        away.rename(folder)
