"""Phone method, step 2: the operator's response code, typed row by row.

Each row is checked as it is typed (its check digit covers the row number):
a wrong row is marked at once, in words ("wrong: ask for row 3 again"), not
by colour alone. When every row is valid, Next rebuilds the license the
center signed, verifies it with the center's public key and installs it."""

from __future__ import annotations

from licwiz.app.controller import WizardController
from licwiz.app.state import StepName
from licwiz.core import phonecodes, phonemsg
from licwiz.core.errors import PhoneCodeError
from licwiz.core.i18n import N_, _, ngettext
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label, Static

from .file_request import OfflineFailure, OfflineStep

ROWS = phonecodes.row_count(phonemsg.SIGNATURE_BYTES + 9)
ROW_DIGITS = phonecodes.DEFAULT_WIDTH + 1


def row_mark(row_no: int, text: str) -> str:
    """What is shown beside row ``row_no``: how many digits so far, ``ok``, or
    what is wrong (the status line names the wrong rows by number). Nine columns
    at most in every language: beside the demo panel that is what is left."""
    digits = phonecodes.normalise(text)
    if not digits:
        return ""
    if not digits.isdigit():
        return _("! not 0-9")
    if len(digits) < ROW_DIGITS:
        return f"{len(digits)}/{ROW_DIGITS}"
    if len(digits) > ROW_DIGITS:
        return f"! {len(digits)}/{ROW_DIGITS}"
    if not phonecodes.check_row(row_no, digits):
        return _("! wrong")
    return _("ok")


class PhoneResponseStep(OfflineStep):
    NEXT_LABEL = N_("Install (Enter)")
    HELP = N_("Type the response code the operator reads to you, row by row. "
              "Spaces and dashes are ignored. Each row is checked as you type it; a row "
              "marked \"wrong\" was misheard: ask the operator to read that row again. "
              "Enter moves to the next row. When every row is ok, press Install: the "
              "license is rebuilt, its signature verified with the Licensing Center's key, "
              "and it is installed.\n\n"
              "If it fails: V shows the error description for support; M selects another "
              "license acquisition method.")

    def __init__(self, controller: WizardController, step: StepName, *, depth: int | None = None) -> None:
        super().__init__(controller, step, depth=depth)
        self._installing = False

    def compose_body(self) -> ComposeResult:
        intro = ngettext("Type the operator's response code, row by row ({n} row):",
                         "Type the operator's response code, row by row ({n} rows):", ROWS)
        yield Static(intro.format(n=ROWS), classes="intro", markup=False)
        typed = list(self.state.phone_response) + [""] * ROWS
        for i in range(1, ROWS + 1):
            with Horizontal(classes="row"):
                # The row's number only (the intro says they are rows): the row's
                # 21 digits and its mark still fit beside the demo panel.
                label = Label(f"{i}:", classes="resp-label")
                label.styles.width = len(str(ROWS)) + 2
                yield label
                hint = ngettext("{n} digit", "{n} digits", ROW_DIGITS).format(n=ROW_DIGITS)
                field = Input(typed[i - 1], id=f"resp-{i}", placeholder=hint, max_length=40)
                field.styles.width = ROW_DIGITS + (ROW_DIGITS - 1) // 3 + 1  # groups of three, and a cursor
                yield field
                mark = Static(row_mark(i, typed[i - 1]), id=f"mark-{i}", classes="row-mark", markup=False)
                mark.styles.width = "1fr"
                mark.styles.padding = (0, 0, 0, 1)
                yield mark
        yield Static("", id="progress", markup=False)
        yield OfflineFailure()

    def _rows(self) -> list[str]:
        return [self.query_one(f"#resp-{i}", Input).value for i in range(1, ROWS + 1)]

    def save(self) -> None:
        rows = self._rows()
        self.state.phone_response = rows
        for i, text in enumerate(rows, 1):
            self.query_one(f"#mark-{i}", Static).update(row_mark(i, text))

    def errors(self) -> dict[str, str]:
        if self._installing:
            return {"resp-1": _("Installing...")}
        out: dict[str, str] = {}
        for i, text in enumerate(self.state.phone_response[:ROWS], 1):
            if not phonecodes.check_row(i, text) or len(phonecodes.normalise(text)) != ROW_DIGITS:
                out[f"resp-{i}"] = _("Row {n}: not complete or not correct").format(n=i)
        if len(self.state.phone_response) < ROWS:
            out["resp-1"] = _("Type every row")
        return out

    def _visible_errors(self, errors: dict[str, str]) -> dict[str, str]:
        return {}  # each row's mark says it, beside the row

    def refresh_valid(self) -> None:
        super().refresh_valid()
        wrong = [i for i, t in enumerate(self.state.phone_response, 1) if row_mark(i, t).startswith("!")]
        if self.state.error is not None:
            return  # the failure's words stay on the status line
        if wrong:
            said = ngettext("! Check digit wrong in row {rows}: ask the operator to read it again",
                            "! Check digit wrong in rows {rows}: ask the operator to read them again",
                            len(wrong))
            self.set_status(said.format(rows=", ".join(str(i) for i in wrong)))
        elif not self.errors():
            self.set_status(_("Every row is ok: press Install (Enter)."))
        else:
            self.set_status("")

    @on(Input.Submitted)
    def _row_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        event.prevent_default()
        if self.can_go_next():
            self.action_next()
        else:
            self.focus_next()

    def action_next(self) -> None:
        if self._installing:
            return
        self.save()
        errors = self.errors()
        if errors:
            self.refresh_valid()
            return
        self._installing = True
        self.clear_failure()
        self.query_one("#progress", Static).update(_("Rebuilding, verifying and installing the license..."))
        self.refresh_valid()
        self._install_worker(list(self.state.phone_response[:ROWS]))

    @work(exclusive=True, group="offline")
    async def _install_worker(self, rows: list[str]) -> None:
        try:
            await self.controller.install_phone_answer(rows)
        except Exception as exc:  # LicwizError or not: words for the person, never a traceback
            self._installing = False
            self.query_one("#progress", Static).update(_("Nothing was installed."))
            if isinstance(exc, PhoneCodeError) and exc.rows:
                self.set_status(f"! {exc.localized_brief()}")
            self.fail(exc)
            self.refresh_valid()
            return
        self._installing = False
        self.go_next("final")
