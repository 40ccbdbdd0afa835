"""Automatic acquisition: check availability, then acquire, verify and save
the license, with visible progress and a cancel key. Network calls run in
exclusive workers, so the screen stays responsive and Cancel really stops."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from licwiz.app import flow
from licwiz.app.state import ErrorInfo, Result, StepName
from licwiz.core import acquire
from licwiz.core.errors import CenterError, LicwizError, NotWritable, StorageError
from licwiz.core.storage import is_writable, license_dir
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static
from textual.worker import Worker, WorkerState

from .base import StepScreen
from .dialogs import AllUsersWarning, ErrorDialog

STAGES = acquire.STEPS


def kept_note(exc: acquire.AfterActivationError) -> str:
    """What the step says about a license issued but not installed: where it
    was kept and how to install it (the PIN is spent; the text must not be lost)."""
    where = exc.saved_to
    if where is None:
        return ("The license was issued (its PIN code is used) but could not be saved: its text is "
                "in the error description (V). Copy it before closing the wizard.")
    if exc.verified:
        return (f"The license was issued (its PIN code is used) but not installed. It was kept in "
                f"{where}\nInstall it with: licwiz install --without-request {where}")
    return (f"The license received did not pass verification and was NOT installed. It was kept "
            f"in {where} for support (V: error description).")


class AutomaticStep(StepScreen):
    STEP: ClassVar[StepName] = "automatic"
    NEXT_LABEL = "Acquire (Enter)"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel", "Cancel"),
        Binding("v", "view_error", "View error description"),
        Binding("m", "other_method", "Select another method"),
    ]
    HELP = """\
First the availability of a new license is checked with the Licensing Center.
Then press Acquire (Enter): licwiz sends the request, receives the license,
verifies its signature and that it is for this computer, and saves it.

C cancels a running check or acquisition (a retry never spends a second PIN).
If it fails: V shows the error description for support, M selects another
license acquisition method."""

    def __init__(self) -> None:
        super().__init__()
        self._running = False
        self._checked = False
        self._done_stages: list[str] = []
        # Issued by the center (PIN spent) but not installed: the license in hand.
        self._after: acquire.AfterActivationError | None = None

    def compose_body(self) -> ComposeResult:
        s = self.state
        where = {"all-users": "for all users of this computer", "user": "for the current user",
                 "server": f"on the license server {s.server_address}"}[s.install_scope]
        yield Static(f"The license will be saved {where}.", id="where", markup=False)
        yield Static("", id="availability", markup=False)
        yield Static("", id="progress", markup=False)
        with Vertical(id="failure"):
            yield Static("", id="error-brief", markup=False)
            yield Static("", id="kept", markup=False)
            yield Button("View error description (V)", id="view-error", compact=True)
            yield Button("Select another license acquisition method (M)", id="other-method",
                         compact=True)
        with Horizontal(classes="row-buttons", id="cancel-row"):
            yield Button("Cancel (C)", id="cancel", compact=True)

    def after_mount(self) -> None:
        self._show_error(None)  # a new visit is a new attempt
        self.run_check()

    # -- state of the screen ---------------------------------------------------

    def can_go_next(self) -> bool:
        return not self._running

    def refresh_valid(self) -> None:
        super().refresh_valid()
        self.query_one("#cancel-row").display = self._running

    def next_label(self, enabled: bool) -> str:
        if self._running:
            return "Working... (C cancels)"
        if self.state.error is not None:
            return "Next > (Enter)"
        return self.NEXT_LABEL if self._checked else "Check again (Enter)"

    def _set_running(self, running: bool) -> None:
        self._running = running
        self.refresh_valid()
        if running:
            self.query_one("#cancel", Button).focus()
        else:
            target = "#other-method" if self.state.error is not None else "#next"
            button = self.query_one(target, Button)
            if not button.disabled:
                button.focus()

    def _show_error(self, error: ErrorInfo | None, kept: str = "") -> None:
        self.state.error = error
        box = self.query_one("#failure")
        box.display = error is not None
        if error is not None:
            self.query_one("#error-brief", Static).update(
                f"! License not acquired: {error.brief} [{error.code}]")
        note = self.query_one("#kept", Static)
        note.update(kept)
        note.display = bool(kept)
        self.refresh_valid()

    def _progress(self, stage: str) -> None:
        self._done_stages.append(stage)
        lines = []
        for i, name in enumerate(self._done_stages):
            done = i < len(self._done_stages) - 1 or not self._running
            lines.append(f"{'[done]' if done else '[....]'} {name}")
        self.query_one("#progress", Static).update("\n".join(lines))

    def _failed(self, exc: BaseException, kept: str = "") -> None:
        """A worker's end in failure: shown, and the step usable again."""
        self._running = False
        self._fail(exc, kept)
        self._set_running(False)

    async def _all_users_not_writable(self, exc: acquire.AfterActivationError) -> bool:
        """Did the install fail because the all-users folder cannot be written?
        Said by the error (not_writable) or, for causes such as a read-only file
        system, by trying the folder again (file I/O: in a thread)."""
        s = self.state
        if not exc.verified or s.install_on_server or s.scope != "all-users":
            return False
        if not isinstance(exc.cause, StorageError):
            return False
        if exc.cause.code == NotWritable.code:
            return True
        return not await asyncio.to_thread(is_writable, "all-users")

    def _fail(self, exc: BaseException, kept: str = "") -> None:
        s = self.state
        if isinstance(exc, CenterError):
            if exc.code == "unreachable":
                s.center_unreachable = True
            elif exc.code == "method_locked":
                # The center refused the online method for this kit: only the phone is left.
                s.method_lock = "phone"
        info = ErrorInfo.from_exception(exc, step="automatic")
        info.center = self.wizard.config.center_url
        if kept and not isinstance(exc, acquire.AfterActivationError):  # that one says it already
            info.detail += "\n\n" + kept
        self._show_error(info, kept)

    # -- workers -------------------------------------------------------------------

    def run_check(self) -> None:
        self._set_running(True)
        self.query_one("#availability", Static).update("Checking availability with the Licensing Center...")
        self._check_worker()

    @work(exclusive=True, group="center")
    async def _check_worker(self) -> None:
        s = self.state
        try:
            req = await self.wizard.build_request()
            async with self.wizard.center_client() as client:
                avail = await acquire.check_available(client, req)
        except LicwizError as exc:
            self.query_one("#availability", Static).update("Availability check failed.")
            s.center_unreachable = isinstance(exc, CenterError) and exc.code == "unreachable"
            self._failed(exc)
            return
        s.center_unreachable = False
        s.availability_checked = True
        s.available_users = avail.users
        lock = flow.lock_from_family(avail.method_family)
        if s.operation == "recover" and lock is not None:
            s.method_lock = lock
        self._running = False
        if "automatic" not in flow.allowed_methods(s):
            self.query_one("#availability", Static).update(
                "This license was acquired by phone: it can only be re-acquired by phone. "
                "Press M to select the method.")
            self._show_error(ErrorInfo("method_locked", "This license can only be re-acquired by phone",
                                       f"/check answered method_family={avail.method_family!r}",
                                       step="automatic"))
        else:
            self._checked = True
            self._show_error(None)
            self.query_one("#availability", Static).update(
                f"A license can be acquired: {avail.product}, {avail.users} user(s), "
                f"PIN set: {avail.pin_set}.\nPress Acquire (Enter) to acquire and save it.")
        self._set_running(False)

    @work(exclusive=True, group="center")
    async def _acquire_worker(self) -> None:
        s = self.state
        self._done_stages = []
        try:
            req = await self.wizard.build_request()
            async with self.wizard.center_client() as client:
                outcome = await acquire.acquire_online(
                    client, req, keyring=await self.wizard.keyring(), scope=s.scope,
                    idempotency_key=s.key_for_attempt(), progress=self._progress,
                    server=self.wizard.server_target(),
                )
        except acquire.AfterActivationError as exc:
            # The PIN is spent and the license issued, but it could not be installed.
            self._running = False
            self._progress_done()
            self._after = exc
            if await self._all_users_not_writable(exc):
                # The all-users folder could be written at the start and no longer at the
                # end: the license in hand goes to the current user if the person wants,
                # with no second activation and no second PIN.
                self._fail(exc)
                note = (
                    "The Licensing Center has already issued the license (its PIN code is used). "
                    "\"Acquire for the current user\" installs that license for the current "
                    "operating system user; no other PIN code is used."
                )
                if exc.saved_to is not None:
                    note += f" Meanwhile it is kept in {exc.saved_to}"
                self.app.push_screen(
                    AllUsersWarning(str(license_dir("all-users")), issued_note=note), self._issued_answer)
            else:
                self._fail(exc, kept=kept_note(exc))
            self._set_running(False)
            return
        except NotWritable as exc:
            self._running = False
            self._progress_done()
            if s.scope == "all-users" and not s.install_on_server:
                self._fail(exc)
                self.app.push_screen(AllUsersWarning(str(exc.brief)), self._all_users_answer)
            else:
                self._fail(exc)
            self._set_running(False)
            return
        except LicwizError as exc:
            self._running = False  # first: the last stage then shows as ended
            self._progress_done()
            self._failed(exc)
            return
        self._running = False
        self._progress_done()
        self._finish(outcome)

    def _finish(self, outcome: acquire.Outcome) -> None:
        s = self.state
        lic = outcome.license
        s.result = Result(
            license_id=lic.license_id, users=lic.users,
            scope="server" if outcome.server else (outcome.scope or s.scope),
            path=str(outcome.path or ""), server=outcome.server or "", product=lic.product,
            method=lic.method, supersedes=lic.supersedes,
        )
        s.error = None
        self.wizard.go_next("final")

    def _progress_done(self) -> None:
        if self._done_stages:
            last = self._done_stages.pop()
            self._progress(last)

    def _issued_answer(self, answer: object) -> None:
        after = self._after
        if after is None:
            return
        if answer is True:
            self.state.scope = "user"
            self.query_one("#where", Static).update("The license will be saved for the current user.")
            self._show_error(None)
            self._set_running(True)
            self._install_issued(after)
        else:
            # Cancelled, but the PIN is spent: say on the way out where the license is.
            self.wizard.cancel_acquisition(message=Text(f"licwiz: {kept_note(after)}"))

    @work(exclusive=True, group="center")
    async def _install_issued(self, after: acquire.AfterActivationError) -> None:
        """Install the license the center already issued, for the current user:
        verified again (it must be the license this request asked for), no
        activation, no PIN."""
        try:
            req = await self.wizard.build_request()
            keyring = await self.wizard.keyring()
            outcome = await asyncio.to_thread(  # file I/O and fsync: off the event loop
                acquire.install_license_text, after.license_text, keyring=keyring,
                product=req.product, params=req.params, scope="user", expect=req,
                source="issued license",
            )
        except LicwizError as exc:
            self._failed(exc, kept=kept_note(after))
            return
        self._running = False
        self._after = None
        self._finish(outcome)

    def _all_users_answer(self, answer: object) -> None:
        if answer is True:
            self.state.scope = "user"
            self.query_one("#where", Static).update("The license will be saved for the current user.")
            self._show_error(None)
            self.action_next()
        else:
            self.wizard.cancel_acquisition()

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.CANCELLED and self._running:
            self._running = False
            self.query_one("#progress", Static).update("Cancelled. Press Acquire (Enter) to try again.")
            self._set_running(False)
        elif event.state == WorkerState.ERROR and self._running:
            # Not a LicwizError: still no traceback for the user.
            self._failed(event.worker.error or RuntimeError("worker failed"))

    # -- actions ---------------------------------------------------------------------

    def action_next(self) -> None:
        if self._running:
            return
        if self.state.error is not None:
            # After a failure Next is "Select another license acquisition method";
            # choosing "Automatically" there tries again.
            self.action_other_method()
            return
        if not self._checked:
            self.run_check()
            return
        self._show_error(None)
        self._set_running(True)
        self.query_one("#progress", Static).update("")
        self._acquire_worker()

    def action_cancel(self) -> None:
        if self._running:
            self.workers.cancel_group(self, "center")

    def action_view_error(self) -> None:
        if self.state.error is not None:
            self.app.push_screen(ErrorDialog(self.state.error))

    def action_other_method(self) -> None:
        if self._running:
            return
        self.wizard.go_next("method")

    def action_back(self) -> None:
        self.action_cancel()
        super().action_back()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Button.Pressed, "#view-error")
    def _view_pressed(self) -> None:
        self.action_view_error()

    @on(Button.Pressed, "#other-method")
    def _other_pressed(self) -> None:
        self.action_other_method()
