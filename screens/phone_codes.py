"""Phone method, step 1: the request code as a numbered table of digit groups
(each row ends in its check digit), the Licensing Center's phone number and
how to read the codes. A pending request is recorded, so reopening the wizard
with the same data shows the same codes."""

from __future__ import annotations

from licwiz.app.controller import WizardController
from licwiz.app.state import StepName
from licwiz.core import phonecodes
from licwiz.core.i18n import N_, _, ngettext
from textual import work
from textual.app import ComposeResult
from textual.widgets import Static

from .file_request import OfflineFailure, OfflineStep


def code_table(rows: list[str]) -> str:
    """``Row  Digits`` lines, digits in groups of three (the last group ends
    in the check digit)."""
    row = _("Row")
    width = max(len(row), len(str(len(rows))))  # the numbers under the word, in any language
    lines = [f"{row:<{width}}  " + _("Digits (the last digit of a row is its check digit)")]
    lines += [f"{i:>{width}}  {phonecodes.format_row(r)}" for i, r in enumerate(rows, 1)]
    return "\n".join(lines)


class PhoneCodesStep(OfflineStep):
    HELP = N_("Call the Licensing Center's activation desk and read the request code to the "
              "operator: say the row number, then the digits in groups of three. The last "
              "digit of each row is a check digit over the row and its number, so the "
              "operator's console notices a misheard digit, two swapped digits or a row read "
              "in the wrong place at once and asks for that row again.\n\n"
              "The operator will ask for your owner data too (first-time registration: as "
              "you typed it; recovery: exactly as it was registered) and then reads a "
              "response code back. Press Next to type it in; every row is checked as you "
              "type it.")

    def __init__(self, controller: WizardController, step: StepName, *, depth: int | None = None) -> None:
        super().__init__(controller, step, depth=depth)
        self._rows: list[str] = []

    def compose_body(self) -> ComposeResult:
        number = self.config.phone_number or _("the activation desk number on your license certificate")
        yield Static(_("Call the Licensing Center: {number}").format(number=number), id="phone-number",
                     classes="intro", markup=False)
        yield Static(_("Preparing the request code..."), id="codes", markup=False)
        yield Static(
            _("Read the row number, then each group of three digits. When the operator has every "
              "row, press Next and type the operator's response code."),
            id="how", classes="hint", markup=False,
        )
        yield OfflineFailure()

    def after_mount(self) -> None:
        self._prepare()

    @work(exclusive=True, group="offline")
    async def _prepare(self) -> None:
        try:
            rows = await self.controller.phone_request_rows()
        except Exception as exc:  # LicwizError or not: words for the person, never a traceback
            self.query_one("#codes", Static).update(_("No request code."))
            self.fail(exc, N_("No request code"))
            self.refresh_valid()
            return
        self._rows = rows
        digits = sum(len(r) for r in rows)
        size = _("Request code: {rows}, {digits}").format(
            rows=ngettext("{n} row", "{n} rows", len(rows)).format(n=len(rows)),
            digits=ngettext("{n} digit", "{n} digits", digits).format(n=digits))
        self.query_one("#codes", Static).update(size + "\n\n" + code_table(rows))
        self.refresh_valid()
        self.focus_button("next")

    def errors(self) -> dict[str, str]:
        return {} if self._rows else {"codes": _("The request code is not ready")}

    def action_next(self) -> None:
        if self._rows:
            self.go_next()
