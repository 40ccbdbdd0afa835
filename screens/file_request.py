"""Manual method, step 1: save the sealed request file.

Shows the sequence (save the request file, send it to the Licensing Center's
web page or by e-mail, open the license data file that comes back), saves the
request file to a path the person picks (default: the current directory; the
full path is shown so it can be copied with scp) and records a pending
request, so the wizard can be closed now and continued later with "Specify
license details file".

Also holds what the four offline steps share (``OfflineFailure``, ``OfflineStep``).
"""

from __future__ import annotations

import os
from typing import ClassVar

from licwiz.app.controller import WizardController
from licwiz.app.state import ErrorInfo, StepName
from licwiz.core.i18n import N_, _
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from .base import GoBack, StepScreen
from .dialogs import ErrorDialog
from .paths import PathText

NOT_INSTALLED = N_("License not installed")


class OfflineFailure(Vertical):
    """"! brief", View error description (V), Select another method (M): the
    buttons one under the other, each whole in a 44-column body (wizard.tcss)."""

    DEFAULT_CSS = "OfflineFailure { height: auto; display: none; margin: 1 0 0 0; }"

    def compose(self) -> ComposeResult:
        yield PathText("", id="error-brief")
        yield Button(_("View error description (V)"), id="view-error")
        yield Button(_("Select another license acquisition method (M)"), id="other-method")

    def show(self, error: ErrorInfo | None, prefix: str = NOT_INSTALLED) -> None:
        """``prefix``: a message marked with N_ (what was not done), said in the user's language."""
        self.display = error is not None
        if error is not None:
            self.query_one("#error-brief", Static).update(
                _("! {what}: {brief} [{code}]").format(what=_(prefix), brief=error.brief, code=error.code))


class OfflineStep(StepScreen):
    """Common keys of the offline steps."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v", "view_error", N_("View error description"), show=False),
        Binding("m", "other_method", N_("Select another method"), show=False),
    ]

    def fail(self, exc: BaseException, prefix: str = NOT_INSTALLED) -> None:
        error = self.controller.failure(exc, step=self.step)
        self.query_one(OfflineFailure).show(error, prefix)
        # The brief (often naming a file, wrapped at its separators) is in the failure
        # box; the status line, two lines at most, says what was not done.
        self.set_status("! " + _(prefix))
        # Out of the text fields, so V and M act at once (Shift+Tab goes back to the field).
        self.query_one("#other-method", Button).focus()

    def clear_failure(self) -> None:
        self.state.error = None
        self.query_one(OfflineFailure).show(None)

    def action_view_error(self) -> None:
        if self.state.error is not None:
            self.app.push_screen(ErrorDialog(self.state.error, ascii=self.config.ascii))

    def action_other_method(self) -> None:
        if self.state.error is None:
            return
        if self.state.action == "license_file" and len(self.state.history) <= 2:
            self.post_message(GoBack(0))  # came from step 1: there is no method to choose
            return
        self.go_next("method")

    @on(Button.Pressed, "#view-error")
    def _view_pressed(self) -> None:
        self.action_view_error()

    @on(Button.Pressed, "#other-method")
    def _other_pressed(self) -> None:
        self.action_other_method()


class FileRequestStep(OfflineStep):
    HELP = N_("Manual license acquisition, using files:\n\n"
              "1. Save the license request file (here). It is sealed: only the Licensing Center "
              "can open it. Copy it to a computer with a web browser, e.g. "
              "scp this-host:<the full path shown> .\n"
              "2. Upload it on the Licensing Center's web page (\"Browse for the license request "
              "file\"), or send it as an e-mail attachment to the Licensing Center's address when "
              "the step shows one (to the vendor otherwise): the license data file comes back as "
              "the reply's attachment.\n"
              "3. Save the license data file the page gives you (\"Save license data file\"), "
              "copy it back here and open it in the next step.\n\n"
              "You may close the wizard after step 1: start it again later and choose "
              "\"Specify license details file\" on the first step.")

    def __init__(self, controller: WizardController, step: StepName, *, depth: int | None = None) -> None:
        super().__init__(controller, step, depth=depth)
        self._saving = False

    def _default_path(self) -> str:
        s = self.state
        if s.request_file:
            return s.request_file
        regnum = "".join(ch for ch in s.regnum if ch.isdigit()) or "kit"
        return os.path.join(os.getcwd(), f"licwiz-request-{regnum}.req")

    def _send_text(self) -> str:
        """Step 2: where the request file goes (the center's mailbox first
        when center.json names one: the reply brings the license)."""
        page = self.config.center_web_page or (self.config.center_url.rstrip("/") + "/")
        email = self.config.center_email
        # One sentence a line, so each wraps at the body's width; the address and the
        # page each on a line of their own, whole.
        if email:
            return "\n".join([
                _("2. Send it as an attachment to"),
                f"   {email},",
                "   " + _("or upload it on the Licensing Center's web page"),
                f"   {page}",
            ])
        return "\n".join([
            _("2. Upload it on the Licensing Center's web page"),
            f"   {page}",
            "   " + _("(or send it by e-mail to the vendor)."),
        ])

    def compose_body(self) -> ComposeResult:
        yield PathText("\n".join([
            _("Manual acquisition takes three steps:"),
            _("1. Save the license request file (below)."),
            self._send_text(),
            _("3. Open the license data file you get back (next step)."),
        ]), classes="intro", id="sequence")
        with Horizontal(classes="row"):
            yield Label(_("Save to:"), classes="field-label")
            yield Input(self._default_path(), id="request_path", placeholder=_("path of the request file"))
        yield PathText("", id="err-request_path", classes="field-error")
        with Horizontal(classes="row-buttons"):
            yield Button(_("Save request file (Enter)"), id="save-request")
        yield PathText("", id="saved")
        yield OfflineFailure()

    def after_mount(self) -> None:
        self._show_saved()

    def _show_saved(self) -> None:
        saved = self.query_one("#saved", Static)
        if self.controller.saved_request() is None:
            saved.update("")
            return
        path = self.state.request_file
        saved.update("\n".join([
            _("[saved] Request file saved:"),
            f"  {path}",
            _("Copy it, e.g.:"),
            f"  scp {os.uname().nodename}:{path} .",
            "",
            _("You may close the wizard now and continue later with \"Specify license details "
              "file\", or press Next when the license data file has come back."),
        ]))
        self.focus_button("next")

    def errors(self) -> dict[str, str]:
        if self._saving:
            return {"request_path": _("Saving...")}
        if self.controller.saved_request() is None:
            return {"request_path": _("Save the request file first")}
        return {}

    def _visible_errors(self, errors: dict[str, str]) -> dict[str, str]:
        return {}  # the hint is the sequence text; a wrong path is reported when saving

    def save(self) -> None:
        pass  # the path counts only once the file is written (state.request_file)

    def action_save_request(self) -> None:
        if self._saving:
            return
        path = self.query_one("#request_path", Input).value.strip()
        if not path:
            self.show_field_errors({"request_path": _("Save to: enter a file name")})
            return
        self._saving = True
        self.clear_failure()
        self.set_status(_("Saving the request file..."))
        self.refresh_valid()
        self._save_worker(path)

    @work(exclusive=True, group="offline")
    async def _save_worker(self, path: str) -> None:
        try:
            pending = await self.controller.save_request_file(path)
        except Exception as exc:  # LicwizError or not: words for the person, the type for support
            self._saving = False
            self.fail(exc, N_("Request file not saved"))
            self.refresh_valid()
            return
        self._saving = False
        self.query_one("#request_path", Input).value = pending.request_file
        self.set_status(_("Request file saved."))
        self.refresh_valid()
        self._show_saved()

    @on(Button.Pressed, "#save-request")
    def _save_pressed(self) -> None:
        self.action_save_request()

    @on(Input.Submitted, "#request_path")
    def _path_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        event.prevent_default()  # not the base step's "Enter = Next"
        self.action_save_request()

    def action_next(self) -> None:
        if self.controller.saved_request() is None:
            self.action_save_request()
            return
        self.go_next()
