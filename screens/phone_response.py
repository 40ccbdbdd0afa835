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
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label, Static

from .file_request import OfflineFailure, OfflineStep

ROWS = phonecodes.row_count(phonemsg.SIGNATURE_BYTES + 9)
ROW_DIGITS = phonecodes.DEFAULT_WIDTH + 1


def row_mark(row_no: int, text: str) -> str:
    """What is shown beside row ``row_no``: how many digits so far, ``ok``, or
    what is wrong (the status line names the wrong rows by number)."""
    digits = phonecodes.normalise(text)
    if not digits:
        return ""
    if not digits.isdigit():
        return "! digits only"
    if len(digits) < ROW_DIGITS:
        return f"{len(digits)}/{ROW_DIGITS}"
    if len(digits) > ROW_DIGITS:
        return f"! too long ({len(digits)})"
    if not phonecodes.check_row(row_no, digits):
        return "! wrong, ask again"
    return "ok"


class PhoneResponseStep(OfflineStep):
    NEXT_LABEL = "Install (Enter)"
    HELP = f"""\
Type the response code the operator reads to you: {ROWS} rows of {ROW_DIGITS} digits.
Spaces and dashes are ignored. Each row is checked as you type it; a row
marked "wrong" was misheard: ask the operator to read that row again.
Enter moves to the next row. When every row is ok, press Install: the
license is rebuilt, its signature verified with the Licensing Center's key,
and it is installed.

If it fails: V shows the error description for support; M selects another
license acquisition method."""

    def __init__(self, controller: WizardController, step: StepName, *, depth: int | None = None) -> None:
        super().__init__(controller, step, depth=depth)
        self._installing = False

    def compose_body(self) -> ComposeResult:
        yield Static(f"Type the operator's response code ({ROWS} rows):", classes="intro", markup=False)
        typed = list(self.state.phone_response) + [""] * ROWS
        for i in range(1, ROWS + 1):
            with Horizontal(classes="row"):
                label = Label(f"Row {i}:", classes="resp-label")
                label.styles.width = 8
                yield label
                field = Input(typed[i - 1], id=f"resp-{i}", placeholder=f"{ROW_DIGITS} digits", max_length=40)
                field.styles.width = 30  # 21 digits in groups of three, and a cursor
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
            return {"resp-1": "Installing..."}
        out: dict[str, str] = {}
        for i, text in enumerate(self.state.phone_response[:ROWS], 1):
            if not phonecodes.check_row(i, text) or len(phonecodes.normalise(text)) != ROW_DIGITS:
                out[f"resp-{i}"] = f"Row {i}: not complete or not correct"
        if len(self.state.phone_response) < ROWS:
            out["resp-1"] = "Type every row"
        return out

    def _visible_errors(self, errors: dict[str, str]) -> dict[str, str]:
        return {}  # each row's mark says it, beside the row

    def refresh_valid(self) -> None:
        super().refresh_valid()
        wrong = [i for i, t in enumerate(self.state.phone_response, 1) if row_mark(i, t).startswith("!")]
        if self.state.error is not None:
            return  # the failure's words stay on the status line
        if wrong:
            self.set_status("! Check digit wrong in " + ", ".join(f"row {i}" for i in wrong)
                            + ": ask the operator to read it again")
        elif not self.errors():
            self.set_status("Every row is ok: press Install (Enter).")
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
        self.query_one("#progress", Static).update("Rebuilding, verifying and installing the license...")
        self.refresh_valid()
        self._install_worker(list(self.state.phone_response[:ROWS]))

    @work(exclusive=True, group="offline")
    async def _install_worker(self, rows: list[str]) -> None:
        try:
            await self.controller.install_phone_answer(rows)
        except Exception as exc:  # LicwizError or not: words for the person, never a traceback
            self._installing = False
            self.query_one("#progress", Static).update("Nothing was installed.")
            if isinstance(exc, PhoneCodeError) and exc.rows:
                self.set_status(f"! {exc.brief}")
            self.fail(exc)
            self.refresh_valid()
            return
        self._installing = False
        self.go_next("final")
