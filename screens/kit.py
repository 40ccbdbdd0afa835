"""Kit number and PIN code, the "Attention!..." notes, and Advanced settings."""

from __future__ import annotations

from typing import ClassVar

from licwiz.core.i18n import N_, _
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Static

from .base import StepScreen
from .buttonline import ButtonLine
from .dialogs import PinSetDialog
from .disclosure import Disclosure
from .widgets import TickBox

LABEL_WIDTH = 16  # the label column's least width (wizard.tcss .field-label)


def label_width(*labels: str) -> int:
    """The label column for ``labels`` as shown: the longest and a blank, at least
    LABEL_WIDTH (Russian labels are longer: «Регистрационный номер»)."""
    return max(LABEL_WIDTH, *(len(label) + 1 for label in labels))


def field_cells(label: str, widget_id: str, value: str, placeholder: str = "", *,
                disabled: bool = False, max_length: int = 0, width: int | None = None) -> list[Widget]:
    """A field's label and its text field, for a ``.field-grid`` (label | field
    columns, an error line spanning both) or a row. ``width``: the label
    column's least width (``label_width``); None: as the stylesheet says."""
    label_widget = Label(label, classes="field-label")
    if width is not None:
        label_widget.styles.min_width = width  # a grid column is as wide as its widest content: at least this
    return [label_widget, Input(value, id=widget_id, placeholder=placeholder,
                                disabled=disabled, max_length=max_length)]


def field_row(label: str, widget_id: str, value: str, placeholder: str = "", *,
              disabled: bool = False, max_length: int = 0, width: int | None = None) -> ComposeResult:
    """A labelled field on a row of its own (built whole: usable in compose and
    in mount); its error line ``#err-<widget_id>`` is added under it by
    ``StepScreen.show_field_errors`` when it first has an error."""
    yield Horizontal(*field_cells(label, widget_id, value, placeholder, disabled=disabled,
                                  max_length=max_length, width=width), classes="row")


class KitStep(StepScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f3", "attention", N_("Attention!..."), priority=True),
        Binding("f4", "advanced", N_("Advanced settings"), priority=True),
    ]
    HELP = N_("Enter the kit's registration number (10 digits) and a PIN code (15 digits; dashes "
              "and spaces are ignored). For license restoration enter the last used PIN code. "
              "Both end in a check digit: a mistyped digit is reported as you type.\n\n"
              "Attention!... (F3): read this before using a PIN code of a 5-, 10- or 20-user kit.\n\n"
              "Advanced settings (F4):\n"
              "- Install the license on the server: store the license on the license server "
              "named by Server and Port.\n"
              "- Automatic acquisition: acquire the license over the Internet (on by default). "
              "Off: you choose the method (file, phone) at a later step.")

    def compose_body(self) -> ComposeResult:
        s = self.state
        if s.operation == "recover":
            pin_label, hint = _("Last used PIN"), _("(the PIN code used for the license in place)")
        else:
            pin_label, hint = _("PIN code"), _("(for license restoration: the last used PIN code)")
        width = self._label_width()
        # What the PIN is for restoration says the intro's second line, as the
        # seed's sentence does ("... and the PIN code (and for license restoration
        # ... the last used PIN code)"): one widget, not a hint line of its own.
        yield Static(_("Enter the kit number and the PIN code.") + "\n" + hint, classes="intro", markup=False)
        # Both fields on one grid, not a row container each (a widget less).
        yield Grid(*field_cells(_("Kit number"), "regnum", s.regnum, _("10 digits"), max_length=64,
                                width=width),
                   *field_cells(pin_label, "pin", s.pin, _("15 digits: 123-456-789-012-345"), max_length=64,
                                width=width),
                   classes="field-grid")
        # The button keeps to its name and key; what it is about wraps beside it.
        yield ButtonLine(_("Attention!... (F3)"), _("PIN sets of 5-, 10- and 20-user kits"), id="attention")
        symbols = (">", "v") if self.config.ascii else ("▶", "▼")
        collapsed = not (s.install_on_server or not s.automatic)
        yield Disclosure(_("Advanced settings (F4)"), collapsed=collapsed, symbols=symbols, id="advanced")
        # Its fields are built when it is first opened (most people never open it):
        # a third of the step's widgets.
        if not collapsed:
            with Vertical(id="advanced-fields"):
                yield from self._advanced_fields()

    def _label_width(self) -> int:
        # One column for the step's fields and those of Advanced settings.
        pin = _("Last used PIN") if self.state.operation == "recover" else _("PIN code")
        return label_width(_("Kit number"), pin, _("Server"), _("Port"))

    def _advanced_fields(self) -> ComposeResult:
        s = self.state
        width = self._label_width()
        yield TickBox(_("Install the license on the server"), s.install_on_server, id="on_server")
        yield from field_row(_("Server"), "server", s.server, _("host name"),
                             disabled=not s.install_on_server, max_length=253, width=width)
        yield from field_row(_("Port"), "port", s.port, _("8475 unless told otherwise"),
                             disabled=not s.install_on_server, max_length=5, width=width)
        yield TickBox(_("Automatic acquisition"), s.automatic, id="automatic")

    async def _show_advanced(self, shown: bool) -> None:
        found = self.query("#advanced-fields")
        if found:
            found.first().display = shown
        elif shown:
            await self.query_one("#body").mount(Vertical(*self._advanced_fields(), id="advanced-fields"),
                                                after="#advanced")

    @on(Disclosure.Toggled, "#advanced")
    async def _toggled(self, event: Disclosure.Toggled) -> None:
        await self._show_advanced(not event.collapsed)

    def save(self) -> None:
        s = self.state
        s.regnum = self.query_one("#regnum", Input).value
        s.pin = self.query_one("#pin", Input).value
        if not self.query("#on_server"):
            return  # Advanced settings never opened: the state keeps its values
        s.install_on_server = self.query_one("#on_server", Checkbox).value
        s.server = self.query_one("#server", Input).value
        s.port = self.query_one("#port", Input).value
        s.automatic = self.query_one("#automatic", Checkbox).value

    @on(Checkbox.Changed)
    def _ticked(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "on_server":
            self.query_one("#server", Input).disabled = not event.value
            self.query_one("#port", Input).disabled = not event.value
        self.refresh_valid()

    @on(ButtonLine.Pressed, "#attention")
    def _attention_pressed(self) -> None:
        self.action_attention()

    def action_attention(self) -> None:
        self.app.push_screen(PinSetDialog(ascii=self.config.ascii))

    async def action_advanced(self) -> None:
        box = self.query_one("#advanced", Disclosure)
        box.collapsed = not box.collapsed
        if not box.collapsed:
            await self._show_advanced(True)
            self.query_one("#on_server", Checkbox).focus()
