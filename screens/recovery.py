"""License recovery: the same license again, or an update with an extra PIN."""

from __future__ import annotations

from licwiz.core.errors import InputError
from licwiz.core.i18n import N_, _
from licwiz.core.identifiers import format_pin, parse_pin
from textual import on
from textual.app import ComposeResult
from textual.widgets import Checkbox, Input, Static

from .base import StepScreen
from .kit import field_row, label_width
from .widgets import ChoiceList, TickBox


class RecoveryStep(StepScreen):
    HELP = N_("Acquire the same license: re-acquire the license you had (for example the license "
              "file was lost). Tick \"I am sure the key computer parameters have not been changed\".\n\n"
              "Update the license: the computer's key parameters changed (hardware, operating "
              "system). The PIN code currently in use is shown; enter in \"Extra PIN code\" any "
              "PIN code of the kit that has not been used yet.\n\n"
              "At the next step the owner data entered for the previous license is verified.")

    def compose_body(self) -> ComposeResult:
        s = self.state
        try:
            in_use = format_pin(parse_pin(s.pin))
        except InputError:
            in_use = s.pin
        yield Static(_("License recovery: acquire the same license again, or update it."), classes="intro")
        yield ChoiceList([
            ("same", _("Acquire the same license"), _("key computer parameters unchanged")),
            ("update", _("Update the license"), _("parameters changed: extra PIN code")),
        ], s.recover_choice, id="recover_choice")
        # The choice's and the box's error lines are mounted under them when Next
        # is refused for them (StepScreen.show_field_errors).
        # Only what the chosen way needs is on the step: the box for the same
        # license, the PIN in use and the extra PIN for an update.
        choice = s.recover_choice
        same = TickBox(_("I am sure the key computer parameters have not been changed"),
                       s.same_params_ack, id="same_params")
        same.display = choice == "same"
        yield same
        in_use_line = Static(_("PIN code currently in use: {pin}").format(pin=in_use), id="pin-in-use",
                             markup=False)
        in_use_line.display = choice == "update"
        yield in_use_line
        extra = _("Extra PIN code")
        for row in field_row(extra, "extra_pin", s.extra_pin, _("an unused PIN of the kit"),
                             max_length=64, width=label_width(extra)):
            row.id = "extra-pin-row"
            row.display = choice == "update"
            yield row

    def after_mount(self) -> None:
        self._apply_choice(self.state.recover_choice)

    def _apply_choice(self, choice: str | None) -> None:
        # Hidden widgets leave the focus chain too: Tab goes from the choice to
        # the one thing left to fill. (Their error lines follow the errors.)
        self.query_one("#same_params", Checkbox).display = choice == "same"
        self.query_one("#pin-in-use").display = choice == "update"
        self.query_one("#extra-pin-row").display = choice == "update"

    def save(self) -> None:
        s = self.state
        value = self.query_one("#recover_choice", ChoiceList).value
        if value == "same" or value == "update":
            s.recover_choice = value
        s.same_params_ack = self.query_one("#same_params", Checkbox).value
        s.extra_pin = self.query_one("#extra_pin", Input).value

    @on(ChoiceList.Changed)
    def _changed(self, event: ChoiceList.Changed) -> None:
        self._apply_choice(event.value)
        self.refresh_valid()

    @on(ChoiceList.Chosen)
    def _chosen(self, event: ChoiceList.Chosen) -> None:
        self._apply_choice(event.value)
        self.refresh_valid()
        self.focus_next()

    @on(Checkbox.Changed)
    def _ticked(self) -> None:
        self.refresh_valid()
