"""The frame every wizard step shares: title, step rail, body, status line
and the Back / Next / Help / Quit buttons with their keys.

A step subclasses ``StepScreen``, sets STEP and HELP, yields its widgets from
``compose_body``, writes what was typed into ``self.state`` in ``save`` (also
called on every change, so nothing is lost on Back), and lets
``app.flow.step_errors`` decide whether Next is enabled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from licwiz.app import flow
from licwiz.app.state import StepName, WizardState
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    from licwiz.app.wizard import LicwizApp

NOTES_MIN_WIDTH = 100  # the demo notes panel sits beside the wizard from this width on


class StepScreen(Screen[None]):
    STEP: ClassVar[StepName]
    HELP: ClassVar[str] = ""
    # Steps that run something (automatic) replace Next's label.
    NEXT_LABEL: ClassVar[str] = "Next > (Enter)"
    ALLOW_BACK: ClassVar[bool] = True
    # Focus is set once, by on_mount (_focus_first): Textual's auto focus would
    # first focus the rail and then move, a restyle and relayout for nothing.
    AUTO_FOCUS = ""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "next", "Next", priority=True),
        Binding("ctrl+b", "back", "Back", priority=True),
        Binding("escape", "back", "Back"),
        Binding("f1", "help", "Help", priority=True),
        Binding("f2", "notes", "Demo notes", priority=True),
        Binding("ctrl+q", "app.request_quit", "Quit", priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._checked_values: dict[str, str] = {}  # field id -> value at the last check

    @property
    def wizard(self) -> LicwizApp:
        return cast("LicwizApp", self.app)

    @property
    def state(self) -> WizardState:
        return self.wizard.state

    # -- layout --------------------------------------------------------------

    def compose(self) -> ComposeResult:
        if self.wizard.config.ascii:
            # Here, before the widgets exist: added on mount it restyles every one.
            self.add_class("-ascii")
        history = flow.steps_taken(self.state)
        n = len(history)
        yield Static(f" License acquisition - step {n}: {flow.TITLES[self.STEP]}", id="title")
        with Horizontal(id="main"):
            # Filled as it is built: options added after mounting lay it out again.
            rail = OptionList(*[
                Option(f"{'>' if i == n - 1 else '+'} {i + 1} {flow.TITLES[step]}", id=f"rail-{i}")
                for i, step in enumerate(history)
            ], id="rail")
            rail.border_title = "Steps"
            yield rail
            with VerticalScroll(id="body"):
                yield from self.compose_body()
            notes = self.wizard.config.demo_notes
            if notes:
                panel = Static(notes, id="notes")
                panel.border_title = "Demo kits (F2: all)"
                yield panel
        yield Static("", id="status")
        with Horizontal(id="buttons"):
            back = Button("< Back (Esc)", id="back", compact=True)
            back.display = n > 1 and self.ALLOW_BACK
            yield back
            yield Button(self.NEXT_LABEL, id="next", compact=True, variant="primary")
            yield Button("Help (F1)", id="help", compact=True)
            yield Button("Quit (^Q)", id="quit", compact=True)

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        rail = self.query_one("#rail", OptionList)
        rail.highlighted = rail.option_count - 1
        self.load()
        self.refresh_valid()
        self._focus_first()
        self.after_mount()

    _resumed_once = False

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # Each step is built fresh and styled as it mounts; the resume right after
        # would style every widget again (Textual 8.2.8, pinned: this is its private
        # resume handler), ~6 ms of a ~50 ms transition (bench/wizard.py).
        # No super() call: Textual dispatches the handler of every class in the
        # MRO, so Screen's own runs next, with this event; calling it here too
        # laid out and rendered every new step twice.
        if not self._resumed_once:
            self._resumed_once = True
            event.refresh_styles = False

    def _screen_resized(self, size: Size) -> None:
        # A fresh step's first layout (on resume) sends the screen a Resize of the
        # size it was just laid out at, and Textual lays the whole screen out and
        # renders it again (Textual 8.2.8, pinned: a private hook). Only a real
        # change of size needs that; a widget that changed since asked for a
        # layout, which the screen's update timer does.
        if size == self._compositor.size:
            return
        super()._screen_resized(size)

    def after_mount(self) -> None:
        """A step's own mount work. Textual calls every ``on_mount`` along the
        MRO, so steps override this instead of ``on_mount``."""

    def on_resize(self) -> None:
        notes = self.query("#notes")
        if notes:
            wide = self.size.width >= NOTES_MIN_WIDTH
            notes.first().display = wide
            title = f" License acquisition - step {len(self.state.history)}: {flow.TITLES[self.STEP]}"
            self.query_one("#title", Static).update(title if wide else f"{title}   [F2: demo kits]")

    def _focus_first(self) -> None:
        # Set now, not through Widget.focus (which waits for the next turn of the
        # loop): the step appears with its focus in place, styled once.
        body = self.query_one("#body")
        for widget in body.query("*"):
            if widget.focusable:
                self.set_focus(widget)
                return
        nxt = self.query_one("#next", Button)
        self.set_focus(nxt if nxt.focusable else self.query_one("#rail"))

    # -- what subclasses fill in --------------------------------------------

    def load(self) -> None:
        """Set widgets from the state (most steps pass values to compose instead)."""

    def save(self) -> None:
        """Write the widgets' values into ``self.state``."""

    def errors(self) -> dict[str, str]:
        return flow.step_errors(self.state, self.STEP)

    def can_go_next(self) -> bool:
        return not self.errors()

    def show_field_errors(self, errors: dict[str, str]) -> None:
        """Write each field's error into ``#err-<field>`` (blank when fine).

        A step may compose that line itself; otherwise it is made the first time
        the field has an error, under the field's row (``field_row`` fields: an
        error line per field, hidden on almost every visit, costs as much as a
        visible widget to build)."""
        for name, message in errors.items():
            if message and not self.query(f"#err-{name}"):
                found = self.query(f"#{name}")
                if not found:
                    continue
                field = found.first()
                row = field.parent if isinstance(field.parent, Horizontal) else field
                line = Static(f"! {message}", id=f"err-{name}", classes="field-error")
                line.display = True
                row.parent.mount(line, after=row)  # type: ignore[union-attr]
        for widget in self.query(".field-error"):
            name = (widget.id or "")[4:]
            message = errors.get(name, "")
            text = f"! {message}" if message else ""
            static = cast(Static, widget)
            # Only what changes: an update or display set to its own value still
            # costs a layout pass, on every keystroke and at every step's mount.
            if str(static.content) != text:
                static.update(text)
            if widget.display != bool(message):
                widget.display = bool(message)

    def refresh_valid(self) -> None:
        self._checked_values = {w.id or "": w.value for w in self.query(Input)}
        self.save()
        errors = self.errors()
        self.show_field_errors(self._visible_errors(errors))
        ok = self.can_go_next()
        nxt = self.query_one("#next", Button)
        nxt.disabled = not ok
        # Said in words too: a dimmed button alone is invisible with NO_COLOR.
        label = self.next_label(ok)
        if str(nxt.label) != label:
            nxt.label = label

    def next_label(self, enabled: bool) -> str:
        return self.NEXT_LABEL if enabled else "Next (incomplete)"

    def _visible_errors(self, errors: dict[str, str]) -> dict[str, str]:
        """Errors to show now: only for fields that have something typed, so
        an empty form is not a wall of red (Next stays disabled anyway)."""
        out: dict[str, str] = {}
        for name, message in errors.items():
            found = self.query(f"#{name}")
            widget = found.first() if found else None
            # Boxes and choices are told only when Next is pressed (action_next).
            if isinstance(widget, Input) and widget.value.strip():
                out[name] = message
        return out

    def set_status(self, text: str) -> None:
        self.query_one("#status", Static).update(text)

    # -- events ----------------------------------------------------------------

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        # Every field posts Changed for the value it starts with as the step mounts,
        # after on_mount checked the step with those values: one check per field for
        # nothing (ten on the owner data step).
        if self._checked_values.get(event.input.id or "") == event.value:
            return
        self.refresh_valid()

    @on(Input.Submitted)
    def _input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.can_go_next():
            self.action_next()
        else:
            self.focus_next()

    @on(Button.Pressed, "#back")
    def _back_pressed(self) -> None:
        self.action_back()

    @on(Button.Pressed, "#next")
    def _next_pressed(self) -> None:
        self.action_next()

    @on(Button.Pressed, "#help")
    def _help_pressed(self) -> None:
        self.action_help()

    @on(Button.Pressed, "#quit")
    def _quit_pressed(self) -> None:
        self.wizard.action_request_quit()

    @on(OptionList.OptionSelected, "#rail")
    def _rail_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_index < len(self.state.history) - 1 and self.ALLOW_BACK:
            self.save()
            self.wizard.back_to(event.option_index)

    # -- actions ----------------------------------------------------------------

    def action_next(self) -> None:
        self.save()
        errors = self.errors()
        if errors:
            self.show_field_errors(errors)
            self.set_status("! " + next(iter(errors.values())))
            return
        if not self.can_go_next():
            return
        self.wizard.go_next()

    def action_back(self) -> None:
        if len(self.state.history) > 1 and self.ALLOW_BACK:
            self.save()
            self.wizard.back_to(len(self.state.history) - 2)

    def action_help(self) -> None:
        from .dialogs import TextDialog

        self.app.push_screen(TextDialog(f"Help: {flow.TITLES[self.STEP]}", self.HELP or "No help here."))

    def action_notes(self) -> None:
        from .dialogs import TextDialog

        if self.wizard.config.demo_notes:
            self.app.push_screen(TextDialog("Demo kits", self.wizard.config.demo_notes))
