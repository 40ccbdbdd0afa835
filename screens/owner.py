"""Owner data: entered at first-time registration (with the absolute-accuracy
checkbox, Save data and Load data), re-entered for verification on recovery."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from licwiz.core.errors import LicwizError
from licwiz.core.i18n import N_, _
from licwiz.core.owner import LABELS, REQUIRED, OwnerData
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal
from textual.widgets import Button, Checkbox, Input, Label, Static

from .base import StepScreen
from .dialogs import PathDialog
from .kit import field_cells
from .widgets import ChoiceList, TickBox

ACCURACY_LABEL = N_("I am aware that license recovery procedure will require re-entering "
                    "this data with absolute accuracy")
_PLACEHOLDERS = {"email": N_("required: name@example.com"), "phone": N_("optional: +31 15 123 4567")}


class OwnerStepBase(StepScreen):
    PREFIX: ClassVar[str]
    ATTR: ClassVar[str]
    INTRO: ClassVar[str]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f6", "load_data", N_("Load data"), priority=True),
    ]

    @property
    def owner(self) -> OwnerData:
        return getattr(self.state, self.ATTR)  # type: ignore[no-any-return]

    def compose_body(self) -> ComposeResult:
        o = self.owner
        yield Static(_(self.INTRO), classes="intro")
        # One grid of label | field pairs, not a Horizontal row per field: ten
        # containers fewer to build, style and lay out (~10% of this step's Next).
        # An error line is mounted after its field and spans both columns.
        with Grid(classes="field-grid"):
            yield Label(_(LABELS["kind"]), classes="field-label")
            yield ChoiceList([("organisation", _("Organisation"), ""), ("person", _("Person"), "")],
                             o.kind, id=f"{self.PREFIX}-kind")
            for name in OwnerData.field_names():
                if name != "kind":
                    required = name in REQUIRED or (name == "organisation" and o.kind == "organisation")
                    hint = _(_PLACEHOLDERS.get(name, "") or (N_("required") if required else N_("optional")))
                    yield from field_cells(_(LABELS[name]), f"{self.PREFIX}-{name}", getattr(o, name), hint,
                                           max_length=200)
        yield from self.compose_extra()

    def compose_extra(self) -> ComposeResult:
        with Horizontal(classes="row-buttons"):
            yield Button(_("Load data (F6)"), id="load")

    def read_owner(self) -> OwnerData:
        kind = self.query_one(f"#{self.PREFIX}-kind", ChoiceList).value or "organisation"
        values = {n: self.query_one(f"#{self.PREFIX}-{n}", Input).value
                  for n in OwnerData.field_names() if n != "kind"}
        return OwnerData(kind=kind, **values)

    def save(self) -> None:
        setattr(self.state, self.ATTR, self.read_owner())

    def _mark_required(self) -> None:
        """Organisation is required of an organisation only: its hint follows the owner type."""
        kind = self.query_one(f"#{self.PREFIX}-kind", ChoiceList).value or "organisation"
        org = self.query_one(f"#{self.PREFIX}-organisation", Input)
        hint = _("required") if kind == "organisation" else _("optional")
        if org.placeholder != hint:
            org.placeholder = hint

    @on(ChoiceList.Changed)
    def _kind_changed(self) -> None:
        self._mark_required()
        self.refresh_valid()

    @on(ChoiceList.Chosen)
    def _kind_chosen(self) -> None:
        self._mark_required()
        self.refresh_valid()
        self.focus_next()

    @on(Button.Pressed, "#load")
    def _load_pressed(self) -> None:
        self.action_load_data()

    def action_load_data(self) -> None:
        self.app.push_screen(PathDialog(_("Load data: read owner data from a file"),
                                        self.state.owner_file, _("Load"), ascii=self.config.ascii),
                             self._load_path)

    def _load_path(self, path: str | None) -> None:
        if path is not None:
            self.state.owner_file = path
            self._load_worker(Path(path).expanduser())

    @work(thread=True, exclusive=True, group="owner-file")
    def _load_worker(self, path: Path) -> None:
        try:
            owner = self.controller.load_owner_file(path)
        except LicwizError as exc:
            shown = _("! Load data: {error}").format(error=exc.localized_brief())
            self.app.call_from_thread(self.set_status, shown)
            return
        self.app.call_from_thread(self._loaded, owner, str(path))

    def _loaded(self, owner: OwnerData, path: str) -> None:
        for name in OwnerData.field_names():
            if name != "kind":
                self.query_one(f"#{self.PREFIX}-{name}", Input).value = getattr(owner, name)
        kind = self.query_one(f"#{self.PREFIX}-kind", ChoiceList)
        if owner.kind in ("organisation", "person"):
            kind.highlighted = 0 if owner.kind == "organisation" else 1
        setattr(self.state, self.ATTR, replace(owner))
        self._mark_required()
        self.refresh_valid()
        self.set_status(_("Owner data loaded from {path}").format(path=path))
        # What is left to do after a load is the accuracy box (first registration).
        box = self.query("#accuracy")
        if box:
            box.first().focus()


class OwnerFirstStep(OwnerStepBase):
    PREFIX = "owner"
    ATTR = "owner"
    INTRO = N_("Enter the license owner data.")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f5", "save_data", N_("Save data"), priority=True),
    ]
    HELP = N_("Enter the license owner data: an organisation (with a contact person) or a person. "
              "Fields marked by an error message below them must be corrected.\n\n"
              "Then tick \"I am aware that license recovery procedure will require re-entering "
              "this data with absolute accuracy\": Next becomes available. A later recovery "
              "compares the data exactly (only blanks at the ends and repeated spaces are "
              "forgiven), so save it with Save data (F5). Load data (F6) reads a saved file.")

    def compose_extra(self) -> ComposeResult:
        # Its error line is mounted under it by show_field_errors when Next is
        # refused for it: hidden on almost every visit, it would cost as much as
        # a shown widget on each.
        yield TickBox(_(ACCURACY_LABEL), self.state.accuracy_ack, id="accuracy")
        with Horizontal(classes="row-buttons pair"):
            yield Button(_("Save data (F5)"), id="save")
            yield Button(_("Load data (F6)"), id="load")

    def save(self) -> None:
        super().save()
        self.state.accuracy_ack = self.query_one("#accuracy", Checkbox).value

    @on(Checkbox.Changed)
    def _ticked(self) -> None:
        self.refresh_valid()

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save_data()

    def action_save_data(self) -> None:
        self.save()
        errors = self.owner.errors()
        if errors:
            self.set_status(_("! Save data: {error}").format(error=next(iter(errors.values()))))
            return
        initial = self.state.owner_file or str(Path.cwd() / "license-owner.json")
        self.app.push_screen(PathDialog(_("Save data: write owner data to a file"), initial, _("Save"),
                                        ascii=self.config.ascii), self._save_path)

    def _save_path(self, path: str | None) -> None:
        if path is not None:
            self.state.owner_file = path
            self._save_worker(Path(path).expanduser(), self.owner)

    @work(thread=True, exclusive=True, group="owner-file")
    def _save_worker(self, path: Path, owner: OwnerData) -> None:
        try:
            self.controller.save_owner_file(path, owner)
        except LicwizError as exc:
            shown = _("! Save data: {error}").format(error=exc.localized_brief())
            self.app.call_from_thread(self.set_status, shown)
            return
        self.app.call_from_thread(self.set_status, _("Owner data saved to {path}").format(path=path))


class OwnerVerifyStep(OwnerStepBase):
    PREFIX = "verify"
    ATTR = "verify_owner"
    INTRO = N_("Re-enter the owner data given for the previous license, exactly.")
    HELP = N_("License recovery verifies the owner data entered when the previous license was "
              "acquired. Enter it with absolute accuracy: case and punctuation count; only blanks "
              "at the ends and repeated spaces are forgiven. If you saved the data with Save data "
              "at the first registration, Load data (F6) reads that file.")
