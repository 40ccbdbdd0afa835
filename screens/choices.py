"""Steps that are one choice: action, operation, method. Arrows choose,
Enter (or ctrl+n) goes on with the highlighted choice."""

from __future__ import annotations

from typing import ClassVar

from licwiz.app import flow
from licwiz.core.i18n import N_, _
from textual import on, work
from textual.app import ComposeResult
from textual.widgets import Static

from .base import Replace, StepScreen
from .widgets import ChoiceList


class ChoiceStep(StepScreen):
    FIELD: ClassVar[str]
    INTRO: ClassVar[str] = ""

    def choices(self) -> list[tuple[str, str, str]]:
        raise NotImplementedError

    def current_value(self) -> str | None:
        return getattr(self.state, self.FIELD)  # type: ignore[no-any-return]

    def compose_body(self) -> ComposeResult:
        if self.INTRO:
            yield Static(_(self.INTRO), classes="intro")
        yield from self.compose_notes()
        # Its error line is mounted under it when Next is refused for it
        # (StepScreen.show_field_errors), not built hidden on every visit.
        yield ChoiceList(self.choices(), self.current_value(), id=self.FIELD)

    def compose_notes(self) -> ComposeResult:
        yield from ()

    def save(self) -> None:
        found = self.query(f"#{self.FIELD}")
        if found:
            value = found.first(ChoiceList).value
            if value is not None:
                setattr(self.state, self.FIELD, value)

    @on(ChoiceList.Changed)
    def _changed(self) -> None:
        self.refresh_valid()

    @on(ChoiceList.Chosen)
    def _chosen(self) -> None:
        self.refresh_valid()
        self.action_next()


class ActionStep(ChoiceStep):
    FIELD = "action"
    INTRO = N_("A software license is required to use the product without a dongle. "
               "Select the action type:")
    HELP = N_("Acquire a license: license acquisition at the first start, or license restoration "
              "(either a license update or the acquisition of the same license as you acquired "
              "earlier).\n\n"
              "Specify license details file: license acquisition by e-mail or using an external "
              "medium. This continues a license acquisition that could not be done automatically.\n\n"
              "Keys: arrows choose, Enter goes on, Esc goes back, Ctrl+Q quits.")

    def choices(self) -> list[tuple[str, str, str]]:
        # Descriptions are one line of at most ~36 columns in every language: the
        # step body is 44 columns wide beside the demo panel.
        return [
            ("acquire", _("Acquire a license"), _("first start, recovery or update")),
            ("license_file", _("Specify license details file"), _("continue with a file from the Center")),
        ]


class OperationStep(ChoiceStep):
    FIELD = "operation"
    INTRO = N_("Select the operation type:")
    HELP = N_("First-time registration: the license was never acquired before.\n\n"
              "License recovery: the license was acquired earlier but then the computer "
              "configuration or a part of it was modified, or the operating system was changed, "
              "or the product cannot be started (for example, because the previously acquired "
              "license file is missing).")

    def choices(self) -> list[tuple[str, str, str]]:
        return [
            ("first", _("First-time registration"), _("no license was acquired before")),
            ("recover", _("License recovery"), _("acquired earlier: get it again or update")),
        ]


class MethodStep(ChoiceStep):
    FIELD = "method"
    INTRO = N_("Select the license acquisition method:")
    HELP = N_("Automatically: use this method if the Internet connection is restored.\n\n"
              "Manually (using a file): use this method if you can send the license owner and "
              "computer data over the Internet by e-mail or upload it on the Licensing Center "
              "web page.\n\n"
              "By phone: this method involves a Licensing Center operator.\n\n"
              "A license first acquired online or using a file can only be re-acquired or "
              "updated using those methods; one first acquired by phone only by phone.")

    _DESC: ClassVar[dict[str, str]] = {
        "automatic": N_("over the Internet, once it is back"),
        "file": N_("a request file by e-mail or web page"),
        "phone": N_("read codes to an operator"),
    }

    def choices(self) -> list[tuple[str, str, str]]:
        return [(m, flow.METHOD_LABELS[m], _(self._DESC[m])) for m in flow.allowed_methods(self.state)]

    def current_value(self) -> str | None:
        allowed = flow.allowed_methods(self.state)
        return self.state.method if self.state.method in allowed else allowed[0]

    def after_mount(self) -> None:
        if self.controller.should_ask_method_lock():
            # A recovery may re-acquire only by the method family of the first
            # license: ask the center which, so only allowed methods are offered.
            self.set_status(_("Asking the Licensing Center which methods this license allows..."))
            self._lock_worker()

    @work(exclusive=True, group="center")
    async def _lock_worker(self) -> None:
        lock = await self.controller.learn_method_lock()
        if lock is not None:
            self.save()
            self.post_message(Replace())  # built again with only the allowed methods
        elif self.state.center_unreachable:
            self.set_status(_("The Licensing Center cannot be reached; every method is offered."))
        else:
            self.set_status("")

    def compose_notes(self) -> ComposeResult:
        if self.state.center_unreachable:
            yield Static(_("The Licensing Center could not be reached over the network."), classes="note")
        if self.state.method_lock == "phone":
            yield Static(_("This license was acquired by phone: it can only be re-acquired or "
                           "updated by phone."), classes="note", id="lock-note")
        elif self.state.method_lock == "online-or-file":
            yield Static(_("This license was acquired online or using a file: it can only be "
                           "re-acquired or updated using those methods."), classes="note", id="lock-note")
