"""Dialogs (ModalScreen): help, error description, PIN-set notes, confirm
quit, the all-users warning, and the file path prompt of Save/Load data.

A dialog takes its data as arguments (``ascii``: the plain border style) and
returns its answer through ``dismiss``: the caller passes a callback to
``push_screen``. None of them knows the App or the wizard's state.

Texts are in the process language (core/i18n.py); a text given by the caller
arrives translated. Long texts are written one line per paragraph: they flow
to the dialog's width in any language."""

from __future__ import annotations

import re
from typing import ClassVar, TypeVar

from licwiz.app.state import ErrorInfo
from licwiz.core.i18n import N_, _
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

# "Attention!..." (F3 on the kit step): one message per paragraph, shown by pin_set_notes().
PIN_SET_NOTES: tuple[str, ...] = (
    N_("A 5-, 10- or 20-user kit carries two sets of PIN codes, and you use one of them, never both:"),
    N_("- The single-user set: N licenses for one user each, one per computer. Use it when each of "
       "N computers runs the product for one person."),
    N_("- The multi-user set: one license for N users on one computer: a terminal server (one "
       "terminal session counts as one user computer) or a license server that hands seats to "
       "its clients."),
    N_("The first PIN code you use decides the set. After that, a PIN code of the other set is "
       "refused by the Licensing Center (pin_set_conflict), so choose before you enter a PIN code. "
       "Spare PIN codes of the chosen set serve later license updates after the computer's key "
       "parameters change."),
)


def pin_set_notes() -> str:
    """The PIN-set notes in the process language, a blank line between paragraphs."""
    return "\n\n".join(_(paragraph) for paragraph in PIN_SET_NOTES)


T = TypeVar("T")

# The help texts are written hard-wrapped at ~80 columns, wider than a dialog's
# 70: drawn as written, each line would leave its last word alone on the next
# row. A line this long was wrapped by its author; a shorter one ends where the
# author meant it to (a heading, the last line of an item).
WRAPPED_LINE = 60
_ITEM = re.compile(r"\s*(?:[-*]|\d+\.)\s")


def flow(text: str) -> str:
    """Un-wrap ``text`` so it flows to the dialog's width: a line is joined to the
    one before when that one was wrapped (long). Blank lines, list items
    ("- ", "1. ") and lines after a short one keep their own row."""
    out: list[str] = []
    last = ""  # the previous line as written (out[-1] may already be joined)
    for line in text.splitlines():
        if out and line.strip() and last.strip() and len(last) >= WRAPPED_LINE and not _ITEM.match(line):
            out[-1] = out[-1].rstrip() + " " + line.strip()
        else:
            out.append(line.rstrip())
        last = line
    return "\n".join(out)


class Dialog(ModalScreen[T]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    def __init__(self, *, ascii: bool = False) -> None:
        super().__init__()
        if ascii:
            # Before the dialog is built: added on mount, it would style every
            # widget of the dialog a second time.
            self.add_class("-ascii")

    def on_mount(self) -> None:
        self.after_mount()

    def after_mount(self) -> None:
        """Subclasses' mount work (Textual calls every on_mount in the MRO, so they use this)."""

    def action_close(self) -> None:
        self.dismiss(None)


class TextDialog(Dialog[None]):
    """A titled text with Close (Esc or Enter); used for help and notes.

    The text flows to the dialog's width (``flow``) unless ``flowed=False``:
    text whose line breaks carry meaning (an error description)."""

    # Focus lands on the button as the dialog is composed (Textual's auto focus),
    # not a moment later: a key typed at once goes where the dialog says.
    AUTO_FOCUS = "#close"

    def __init__(self, title: str, text: str, *, ascii: bool = False, flowed: bool = True) -> None:
        super().__init__(ascii=ascii)
        self._title = title
        self._text = flow(text) if flowed else text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = self._title
            with VerticalScroll(classes="dialog-text"):
                yield Static(self._text, markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(_("Close (Esc)"), id="close")

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)


class ErrorDialog(TextDialog):
    """View error description: what a support engineer needs."""

    def __init__(self, error: ErrorInfo, *, ascii: bool = False) -> None:
        super().__init__(_("Error description"), error.description(), ascii=ascii, flowed=False)


class PinSetDialog(TextDialog):
    def __init__(self, *, ascii: bool = False) -> None:
        super().__init__(_("Attention! PIN code sets of 5-, 10- and 20-user kits"), pin_set_notes(),
                         ascii=ascii)


class ConfirmDialog(Dialog[bool]):
    """Yes/No; dismisses with True or False (Esc is No)."""

    AUTO_FOCUS = "#no"
    # The two buttons sit side by side: the arrows move between them as well as
    # Tab does (left/up to the first, right/down to the second).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,up", "to_button('yes')", "Previous button", show=False),
        Binding("right,down", "to_button('no')", "Next button", show=False),
    ]

    def __init__(self, title: str, text: str, yes: str, no: str, *, ascii: bool = False) -> None:
        super().__init__(ascii=ascii)
        self._title, self._text, self._yes, self._no = title, text, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = self._title
            yield Static(self._text, markup=False, classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self._yes, id="yes")
                yield Button(self._no, id="no")

    def action_close(self) -> None:
        self.dismiss(False)

    def action_to_button(self, which: str) -> None:
        self.query_one(f"#{which}", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class AllUsersWarning(ConfirmDialog):
    """The all-users location cannot be written: True = acquire for the
    current user, False = cancel license acquisition.

    ``issued_note`` is for the case where the center has already issued the
    license (its PIN is spent): it says that the license in hand is installed
    for the current user, without another PIN, and where it is kept meanwhile."""

    AUTO_FOCUS = "#yes"

    def __init__(self, where: str, *, issued_note: str = "", ascii: bool = False) -> None:
        then = issued_note or _("You can acquire the license for the current operating system user instead.")
        super().__init__(
            _("Warning"),
            "\n".join([
                _("A license for all computer users is not available: the license folder for all "
                  "users cannot be written:"),
                where,
                "",
                then,
            ]),
            _("Acquire for the current user"),
            _("Cancel license acquisition"),
            ascii=ascii,
        )

    def action_close(self) -> None:
        self.dismiss(False)


class QuitDialog(ConfirmDialog):
    """Quit license acquisition? True = quit (Esc and Stay: go on).

    ``request_saved``: a license request file was saved in this run; its request
    is kept (the wizard may be closed and opened again there), so the dialog
    says how to go on instead of saying that everything is lost."""

    def __init__(self, *, request_saved: bool = False, ascii: bool = False) -> None:
        if request_saved:
            text = _("The license request file is saved and its request is kept: start licwiz again and "
                     "choose \"Specify license details file\" to install the license data file. "
                     "Anything typed since is lost.")
        else:
            text = _("What you typed will be lost (use Save data on the owner step to keep it).")
        super().__init__(_("Quit license acquisition?"), text, _("Quit (lose it)"), _("Stay"), ascii=ascii)


class PathDialog(Dialog[str | None]):
    """Ask for a file path (Save data / Load data); dismisses with the path or None."""

    AUTO_FOCUS = "#path"

    def __init__(self, title: str, initial: str, ok_label: str, *, ascii: bool = False) -> None:
        super().__init__(ascii=ascii)
        self._title, self._initial, self._ok = title, initial, ok_label

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = self._title
            yield Label(_("File path:"))
            example = _("e.g. {path}").format(path="~/license-owner.json")
            yield Input(self._initial, id="path", placeholder=example)
            error = Static("", id="path-error", classes="field-error")
            error.display = False
            yield error
            with Horizontal(classes="dialog-buttons"):
                yield Button(self._ok, id="ok")
                yield Button(_("Cancel (Esc)"), id="cancel")

    def _submit(self) -> None:
        value = self.query_one("#path", Input).value.strip()
        if not value:
            err = self.query_one("#path-error", Static)
            err.update(_("! File path: enter a file name"))
            err.display = True
            return
        self.dismiss(value)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    @on(Button.Pressed, "#ok")
    def _ok_pressed(self) -> None:
        self._submit()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
