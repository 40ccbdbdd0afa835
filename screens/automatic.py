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
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static
from textual.worker import Worker, WorkerState

from .base import StepScreen
from .dialogs import AllUsersWarning, ErrorDialog

STAGES = acquire.STEPS


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
        self._issued_text: str | None = None  # issued, not yet installed (PIN spent)

    def compose_body(self) -> ComposeResult:
        s = self.state
        where = {"all-users": "for all users of this computer", "user": "for the current user",
                 "server": f"on the license server {s.server_address}"}[s.install_scope]
        yield Static(f"The license will be saved {where}.", id="where", markup=False)
        yield Static("", id="availability", markup=False)
        yield Static("", id="progress", markup=False)
        with Vertical(id="failure"):
            yield Static("", id="error-brief", markup=False)
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

    def _show_error(self, error: ErrorInfo | None) -> None:
        self.state.error = error
        box = self.query_one("#failure")
        box.display = error is not None
        if error is not None:
            self.query_one("#error-brief", Static).update(
                f"! License not acquired: {error.brief} [{error.code}]")
        self.refresh_valid()

    def _progress(self, stage: str) -> None:
        self._done_stages.append(stage)
        lines = []
        for i, name in enumerate(self._done_stages):
            done = i < len(self._done_stages) - 1 or not self._running
            lines.append(f"{'[done]' if done else '[....]'} {name}")
        self.query_one("#progress", Static).update("\n".join(lines))

    def _failed(self, exc: BaseException) -> None:
        """A worker's end in failure: shown, and the step usable again."""
        self._running = False
        self._fail(exc)
        self._set_running(False)

    def _fail(self, exc: BaseException) -> None:
        s = self.state
        if isinstance(exc, CenterError):
            if exc.code == "unreachable":
                s.center_unreachable = True
            elif exc.code == "method_locked":
                # The center refused the online method for this kit: only the phone is left.
                s.method_lock = "phone"
        info = ErrorInfo.from_exception(exc, step="automatic")
        info.center = self.wizard.config.center_url
        self._show_error(info)

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
            # The PIN is spent and the license issued, but it could not be saved.
            self._running = False
            self._progress_done()
            self._fail(exc)
            if (exc.verified and isinstance(exc.cause, StorageError) and s.scope == "all-users"
                    and not s.install_on_server):
                # The all-users folder failed after the check (made read-only, full, something
                # in the way): the license in hand goes to the current user, with no second
                # activation and no second PIN.
                self._issued_text = exc.license_text
                self.app.push_screen(AllUsersWarning(str(exc.brief)), self._issued_answer)
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
        if answer is True and self._issued_text is not None:
            self.state.scope = "user"
            self.query_one("#where", Static).update("The license will be saved for the current user.")
            self._show_error(None)
            self._set_running(True)
            self._install_issued(self._issued_text)
        else:
            self.wizard.cancel_acquisition()

    @work(exclusive=True, group="center")
    async def _install_issued(self, text: str) -> None:
        """Install the license the center already issued, for the current user."""
        try:
            req = await self.wizard.build_request()
            keyring = await self.wizard.keyring()
            outcome = await asyncio.to_thread(  # file I/O and fsync: off the event loop
                acquire.install_license_text, text, keyring=keyring, product=req.product,
                params=req.params, scope="user", expect=req, source="issued license",
            )
        except LicwizError as exc:
            self._failed(exc)
            return
        self._running = False
        self._issued_text = None
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
