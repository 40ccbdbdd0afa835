"""Automatic acquisition: check availability, then acquire, verify and save
the license, with visible progress and a cancel key. Network calls run in
exclusive workers, so the screen stays responsive and Cancel really stops."""

from __future__ import annotations

from typing import ClassVar

from licwiz.app.controller import WizardController, issued_note, kept_note
from licwiz.app.state import ErrorInfo, StepName
from licwiz.core.acquire import AfterActivationError
from licwiz.core.errors import LicwizError, NotWritable
from licwiz.core.i18n import N_, _, ngettext
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static
from textual.worker import Worker, WorkerState

from .base import Cancel, StepScreen
from .dialogs import AllUsersWarning, ErrorDialog
from .paths import PathText


def users_text(users: int) -> str:
    """"5 users", agreeing with the count in every language."""
    return ngettext("{n} user", "{n} users", users).format(n=users)


_PIN_SETS = {"single": N_("single-user"), "multi": N_("multi-user")}


def pin_set_text(pin_set: str) -> str:
    """The kit's PIN set in words; a value this version does not know, as the center gave it."""
    return _(_PIN_SETS[pin_set]) if pin_set in _PIN_SETS else pin_set


class AutomaticStep(StepScreen):
    NEXT_LABEL = N_("Acquire (Enter)")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel", N_("Cancel")),
        Binding("v", "view_error", N_("View error description")),
        Binding("m", "other_method", N_("Select another method")),
    ]
    HELP = N_("First the availability of a new license is checked with the Licensing Center. "
              "Then press Acquire (Enter): licwiz sends the request, receives the license, "
              "verifies its signature and that it is for this computer, and saves it.\n\n"
              "C cancels a running check or acquisition (a retry never spends a second PIN code: "
              "the same request is sent again and the Licensing Center answers with the license it "
              "already issued, if it did).\n\n"
              "If the Licensing Center is busy or cannot be reached, Enter tries again. "
              "If it fails: V shows the error description for support, M selects another "
              "license acquisition method.")

    def __init__(self, controller: WizardController, step: StepName, *, depth: int | None = None) -> None:
        super().__init__(controller, step, depth=depth)
        self._running = False
        self._checked = False
        self._done_stages: list[str] = []
        # Issued by the center (PIN spent) but not installed: the license in hand.
        self._after: AfterActivationError | None = None

    def compose_body(self) -> ComposeResult:
        yield PathText(_("The license will be saved {where}.").format(where=self.controller.where()),
                       id="where")
        yield Static("", id="availability", markup=False)
        yield Static("", id="progress", markup=False)
        with Vertical(id="failure"):
            yield PathText("", id="error-brief")
            yield PathText("", id="kept")
            yield Button(_("View error description (V)"), id="view-error")
            yield Button(_("Select another license acquisition method (M)"), id="other-method")
        with Horizontal(classes="row-buttons", id="cancel-row"):
            yield Button(_("Cancel (C)"), id="cancel")

    def after_mount(self) -> None:
        self._show_error(None)  # a new visit is a new attempt
        self.run_check()

    def revisited(self) -> None:
        # Back from the method choice: another attempt, as on a first visit.
        if not self._running:
            self._checked = False
            self.query_one("#progress", Static).update("")
            self.after_mount()

    # -- state of the screen ---------------------------------------------------

    def can_go_next(self) -> bool:
        return not self._running

    def refresh_valid(self) -> None:
        super().refresh_valid()
        self.query_one("#cancel-row").display = self._running

    def next_label(self, enabled: bool) -> str:
        if self._running:
            return _("Working... (C cancels)")
        if self.state.error is not None:
            return _("Try again (Enter)") if self.state.error.retry else _("Next > (Enter)")
        return _(self.NEXT_LABEL) if self._checked else _("Check again (Enter)")

    def _set_running(self, running: bool) -> None:
        self._running = running
        self.refresh_valid()
        if running:
            self.query_one("#cancel", Button).focus()
        else:
            error = self.state.error
            # After a refusal the way on is another method; after an outage, trying again.
            if error is not None and not error.retry:
                button = self.query_one("#other-method", Button)
                if not button.disabled:
                    button.focus()
            else:
                self.focus_button("next")

    def _show_error(self, error: ErrorInfo | None, kept: str = "") -> None:
        self.state.error = error
        box = self.query_one("#failure")
        box.display = error is not None
        if error is not None:
            self.query_one("#error-brief", Static).update(
                _("! License not acquired: {brief} [{code}]").format(brief=error.brief, code=error.code))
        note = self.query_one("#kept", Static)
        note.update(kept)
        note.display = bool(kept)
        self.refresh_valid()

    def _progress(self, stage: str) -> None:
        self._done_stages.append(stage)
        lines = []
        for i, name in enumerate(self._done_stages):
            done = i < len(self._done_stages) - 1 or not self._running
            lines.append(f"{_('[done]') if done else '[....]'} {name}")
        self.query_one("#progress", Static).update("\n".join(lines))

    def _failed(self, exc: BaseException, kept: str = "") -> None:
        """A worker's end in failure: shown, and the step usable again."""
        self._running = False
        self._fail(exc, kept)
        self._set_running(False)

    def _fail(self, exc: BaseException, kept: str = "") -> None:
        info = self.controller.failure(exc, step="automatic")
        if kept and not isinstance(exc, AfterActivationError):  # that one says it already
            info.detail += "\n\n" + kept
        self._show_error(info, kept)

    # -- workers -------------------------------------------------------------------

    def run_check(self) -> None:
        self._set_running(True)
        self.query_one("#availability", Static).update(
            _("Checking availability with the Licensing Center..."))
        self._check_worker()

    @work(exclusive=True, group="center")
    async def _check_worker(self) -> None:
        try:
            avail = await self.controller.check_availability()
        except LicwizError as exc:
            self.query_one("#availability", Static).update(_("Availability check failed."))
            self._failed(exc)
            return
        self._running = False
        if not self.controller.automatic_allowed():
            self.query_one("#availability", Static).update(
                _("This license was acquired by phone: it can only be re-acquired by phone. "
                  "Press M to select the method."))
            self._show_error(ErrorInfo("method_locked", _("This license can only be re-acquired by phone"),
                                       f"/check answered method_family={avail.method_family!r}",
                                       step="automatic"))
        else:
            self._checked = True
            self._show_error(None)
            self.query_one("#availability", Static).update(
                _("A license can be acquired: {product}, {users}, PIN set: {pin_set}.").format(
                    product=avail.product, users=users_text(avail.users), pin_set=pin_set_text(avail.pin_set))
                + "\n" + _("Press Acquire (Enter) to acquire and save it."))
        self._set_running(False)

    @work(exclusive=True, group="center")
    async def _acquire_worker(self) -> None:
        self._done_stages = []
        try:
            await self.controller.acquire(progress=self._progress)
        except AfterActivationError as exc:
            # The PIN is spent and the license issued, but it could not be installed.
            self._running = False
            self._progress_done()
            self._after = exc
            if await self.controller.offer_current_user(exc):
                # The all-users folder could be written at the start and no longer at the
                # end: the license in hand goes to the current user if the person wants,
                # with no second activation and no second PIN.
                self._fail(exc)
                self.app.push_screen(
                    AllUsersWarning(self.controller.all_users_dir(), issued_note=issued_note(exc),
                                    ascii=self.config.ascii),
                    self._issued_answer)
            else:
                self._fail(exc, kept=kept_note(exc))
            self._set_running(False)
            return
        except NotWritable as exc:
            self._running = False
            self._progress_done()
            self._fail(exc)
            if self.controller.offer_current_user_before(exc):
                self.app.push_screen(AllUsersWarning(exc.localized_brief(), ascii=self.config.ascii),
                                     self._all_users_answer)
            self._set_running(False)
            return
        except LicwizError as exc:
            self._running = False  # first: the last stage then shows as ended
            self._progress_done()
            self._failed(exc)
            return
        self._running = False
        self._progress_done()
        self._finish()

    def _finish(self) -> None:
        self.go_next("final")

    def _progress_done(self) -> None:
        if self._done_stages:
            last = self._done_stages.pop()
            self._progress(last)

    def _issued_answer(self, answer: bool | None) -> None:
        after = self._after
        if after is None:
            return
        if answer:
            self.controller.use_current_user()
            self.query_one("#where", Static).update(_("The license will be saved for the current user."))
            self._show_error(None)
            self._set_running(True)
            self._install_issued(after)
        else:
            # Cancelled, but the PIN is spent: say on the way out where the license is.
            self.post_message(Cancel(f"licwiz: {kept_note(after)}"))

    @work(exclusive=True, group="center")
    async def _install_issued(self, after: AfterActivationError) -> None:
        """Install the license the center already issued, for the current user."""
        try:
            await self.controller.install_issued(after)
        except LicwizError as exc:
            self._failed(exc, kept=kept_note(after))
            return
        self._running = False
        self._after = None
        self._finish()

    def _all_users_answer(self, answer: bool | None) -> None:
        if answer:
            self.controller.use_current_user()
            self.query_one("#where", Static).update(_("The license will be saved for the current user."))
            self._show_error(None)
            self.action_next()
        else:
            self.post_message(Cancel())

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.CANCELLED and self._running:
            self._running = False
            self.query_one("#progress", Static).update(_("Cancelled. Press Acquire (Enter) to try again."))
            self._set_running(False)
        elif event.state == WorkerState.ERROR and self._running:
            # Not a LicwizError: still no traceback for the user.
            self._failed(event.worker.error or RuntimeError("worker failed"))

    # -- actions ---------------------------------------------------------------------

    def action_next(self) -> None:
        if self._running:
            return
        if self.state.error is not None and not self.state.error.retry:
            # After a refusal Next is "Select another license acquisition method";
            # choosing "Automatically" there tries again.
            self.action_other_method()
            return
        # An outage (the center busy or out of reach) is tried again here: the
        # check if it was the check that failed, else the acquisition, which
        # resends the request already sent (controller.activation_request).
        if not self._checked:
            self._show_error(None)
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
            self.app.push_screen(ErrorDialog(self.state.error, ascii=self.config.ascii))

    def action_other_method(self) -> None:
        if self._running:
            return
        self.go_next("method")

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
