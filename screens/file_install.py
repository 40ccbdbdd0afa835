"""Manual method, step 2 (and "Specify license details file" of step 1):
open the license data file, check it answers the pending request (same kit,
PIN, owner digest, parameters), verify it and install it; then the final step."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from licwiz.app.controller import WizardController
from licwiz.app.state import StepName
from licwiz.core.i18n import N_, _, ngettext
from licwiz.core.message import localized
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label, Static

from .file_request import OfflineFailure, OfflineStep
from .paths import PathText


class FileInstallStep(OfflineStep):
    NEXT_LABEL = N_("Install (Enter)")
    HELP = N_("Type the path of the license data file the Licensing Center's web page gave "
              "you (\"Save license data file\", a file named <registration number>-NNN.lic).\n\n"
              "The file is checked before anything is installed: its signature, the "
              "product, that it answers a license request made on this computer (same kit, "
              "PIN code, owner data and key computer parameters). A changed, truncated or "
              "foreign file is refused and nothing is installed.\n\n"
              "If it fails: V shows the error description for support; M selects another "
              "license acquisition method.")

    def __init__(self, controller: WizardController, step: StepName, *, depth: int | None = None) -> None:
        super().__init__(controller, step, depth=depth)
        self._installing = False

    def _suggestion(self) -> str:
        if self.state.license_file:
            return self.state.license_file
        # A .lic file next to the request file, or in the current directory.
        dirs = [os.path.dirname(self.state.request_file)] if self.state.request_file else []
        dirs.append(os.getcwd())
        for d in dirs:
            found = sorted(glob.glob(os.path.join(glob.escape(d), "*.lic")), key=os.path.getmtime)
            if found:
                return found[-1]
        return ""

    def compose_body(self) -> ComposeResult:
        files = self.controller.pending_file_requests()
        if files:
            lines = [ngettext("Pending license request of this computer:",
                              "Pending license requests of this computer:", len(files))]
            lines += [f"  - {localized(p.describe())}" for p in files[:4]]
        else:
            # One line: the Static wraps it to the body's width.
            lines = [_("No license request file was saved on this computer yet: a license data file "
                       "is installed as the answer to a request made here.")]
        yield PathText("\n".join(lines), classes="intro", id="pending")
        yield Static(_("Specify license details file:"), markup=False)
        with Horizontal(classes="row"):
            yield Label(_("File:"), classes="field-label")
            yield Input(self._suggestion(), id="license_path", placeholder=_("path of the .lic file"))
        yield PathText("", id="err-license_path", classes="field-error")
        yield Static("", id="progress", markup=False)
        yield OfflineFailure()

    def save(self) -> None:
        self.state.license_file = self.query_one("#license_path", Input).value.strip()

    def errors(self) -> dict[str, str]:
        path = self.state.license_file
        if self._installing:
            return {"license_path": _("Installing...")}
        if not path:
            return {"license_path": _("File: enter the path of the license data file")}
        p = Path(path).expanduser()
        if not p.exists():
            return {"license_path": _("File: {path} does not exist").format(path=p)}
        if p.is_dir():
            return {"license_path": _("File: {path} is a folder, not a file").format(path=p)}
        return {}

    def action_next(self) -> None:
        if self._installing:
            return
        self.save()
        errors = self.errors()
        if errors:
            self.show_field_errors(errors)
            # The line under the field says what is wrong, path and all (wrapped at its
            # separators); the status line, two lines at most, only points there.
            self.set_status(_("! License data file: see the message under the path."))
            return
        self._installing = True
        self.clear_failure()
        self.query_one("#progress", Static).update(_("Checking and installing the license..."))
        self.refresh_valid()
        self._install_worker(str(Path(self.state.license_file).expanduser()))

    @work(exclusive=True, group="offline")
    async def _install_worker(self, path: str) -> None:
        try:
            await self.controller.install_license_file(Path(path))
        except Exception as exc:  # LicwizError or not: words for the person, never a traceback
            self._done_failed(exc)
            return
        self._installing = False
        self.go_next("final")

    def _done_failed(self, exc: BaseException) -> None:
        self._installing = False
        self.query_one("#progress", Static).update(_("Nothing was installed."))
        self.fail(exc)
        self.refresh_valid()
        # Back to the path, all of it selected: the next thing to do is most often
        # to type another path (or fix this one), and Enter, as the button says,
        # installs again. V and M stay on their buttons (Tab reaches them).
        field = self.query_one("#license_path", Input)
        field.focus()
        field.select_all()

    @on(Input.Submitted, "#license_path")
    def _path_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        event.prevent_default()
        self.action_next()
