"""The frame every wizard step shares: title, step rail, body, status line
and the Back / Next / Help / Quit buttons with their keys.

A step subclasses ``StepScreen``, sets HELP, yields its widgets from
``compose_body``, writes what was typed into ``self.state`` in ``save`` (also
called on every change, so nothing is lost on Back), and lets
``app.flow.step_errors`` decide whether Next is enabled.

A step is built with the wizard's controller (its state and config come from
it) and the step name it shows; it never reaches the App. To move it posts a
message the App acts on: ``GoNext`` (push the next step), ``GoBack`` (pop back
to a step), ``Finish``, ``Cancel``, ``QuitRequested``.
"""

from __future__ import annotations

from typing import ClassVar, cast

from licwiz.app import flow
from licwiz.app.controller import WizardController
from licwiz.app.state import StepName
from licwiz.core.i18n import N_, _
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Static

from .buttonbar import BarButton, ButtonBar
from .widgets import FieldError, StepRail

NOTES_MIN_WIDTH = 100  # the demo notes panel sits beside the wizard from this width on


class GoNext(Message):
    """Push the next step (``step`` instead of the flow's, e.g. "method" after a failure)."""

    def __init__(self, step: StepName | None = None) -> None:
        super().__init__()
        self.step = step


class GoBack(Message):
    """Pop back to ``state.history[index]``."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index


class Replace(Message):
    """Build the current step again (what it offers changed, e.g. the method lock)."""


class Finish(Message):
    """The license is installed and the person pressed Finish."""


class Cancel(Message):
    """End the wizard without a license; ``note`` is printed once the terminal is back."""

    def __init__(self, note: str = "") -> None:
        super().__init__()
        self.note = note


class QuitRequested(Message):
    """Quit, asking first if something typed would be lost."""


class StepScreen(Screen[None]):
    HELP: ClassVar[str] = ""
    # HELP and NEXT_LABEL are marked with N_ and translated where shown.
    # Steps that run something (automatic) replace Next's label.
    NEXT_LABEL: ClassVar[str] = N_("Next > (Enter)")
    ALLOW_BACK: ClassVar[bool] = True
    # Focus is set once, by on_mount (_focus_first): Textual's auto focus would
    # first focus the rail and then move, a restyle and relayout for nothing.
    AUTO_FOCUS = ""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "next", N_("Next"), priority=True),
        Binding("ctrl+b", "back", N_("Back"), priority=True),
        Binding("escape", "back", N_("Back")),
        Binding("f1", "help", N_("Help"), priority=True),
        Binding("f2", "notes", N_("Demo notes"), priority=True),
        Binding("ctrl+q", "app.request_quit", N_("Quit"), priority=True),
    ]

    def __init__(self, controller: WizardController, step: StepName, *, depth: int | None = None) -> None:
        """``depth``: how many steps the rail shows, this one last (default:
        the whole history, as when the step is pushed)."""
        super().__init__()
        self.controller = controller
        self.state = controller.state
        self.config = controller.config
        self.step = step
        self.depth = len(self.state.history) if depth is None else depth
        self._rail_steps: list[StepName] = list(self.state.history[: self.depth])
        self._checked_values: dict[str, str] = {}  # field id -> value at the last check
        self._resumed = False
        self._status_shows_errors = False  # set by a refused Next, kept current until it is fine
        self._sized = False

    @property
    def title_text(self) -> str:
        return " " + _("License acquisition - step {number}: {title}").format(
            number=self.depth, title=flow.TITLES[self.step])

    # -- layout --------------------------------------------------------------

    def compose(self) -> ComposeResult:
        if self.config.ascii:
            # Here, before the widgets exist: added on mount it restyles every one.
            self.add_class("-ascii")
        n = self.depth
        # The title, the status line and the buttons are docked (styles/wizard.tcss,
        # StepScreen); the rail, the body and the demo notes sit side by side
        # between them with no container row around them: one widget less to
        # build, style and lay out on every step.
        yield Static(self.title_text, id="title")
        # Filled as it is built: options added after mounting lay it out again.
        rail = StepRail([f"{'>' if i == n - 1 else '+'} {i + 1} {flow.TITLES[step]}"
                         for i, step in enumerate(self._rail_steps)], id="rail")
        rail.border_title = _("Steps")
        yield rail
        with VerticalScroll(id="body"):
            yield from self.compose_body()
        notes = self.config.demo_notes
        if notes:
            panel = Static(notes, id="notes")
            panel.border_title = _("Demo kits (F2: all)")
            yield panel
        # The status line (#status) is mounted when there is first something to say
        # (_write_status): on most visits there is nothing, and an empty line costs
        # as much to build as a full one. Its row is kept free by the buttons' margin.
        yield ButtonBar([
            BarButton("back", _("< Back (Esc)"), shown=n > 1 and self.ALLOW_BACK),
            BarButton("next", _(self.NEXT_LABEL), primary=True),
            BarButton("help", _("Help (F1)")),
            BarButton("quit", _("Quit (^Q)")),
        ], id="buttons")

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.load()
        self.refresh_valid()
        self._focus_first()
        self.after_mount()

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        # A new step is styled as it mounts; the resume that follows its push would
        # style every widget again. This handler runs before Screen's own (Textual
        # calls the handlers along the MRO, subclass first), which honours the
        # event's public refresh_styles flag. Later resumes (a dialog closed, Back
        # to this step) are left as they are.
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False

    def after_mount(self) -> None:
        """A step's own mount work. Textual calls every ``on_mount`` along the
        MRO, so steps override this instead of ``on_mount``."""

    def revisited(self) -> None:
        """Back (or the rail) returned to this step, as it was left: what the
        steps after it changed in the state shows now."""
        self.refresh_valid()

    def on_resize(self, event: events.Resize) -> None:
        if not self._sized:
            self._sized = True
            if event.size == self.app.size:
                # The first layout of a new step (as it is resumed) was done at this
                # size already; Textual then sends the step the Resize of that same
                # size, and Screen's handler would lay it and the step below out and
                # render them again. prevent_default stops the base classes' handlers
                # (Textual calls this one first); a real change of size goes through.
                event.prevent_default()
        notes = self.query("#notes")
        if notes:
            wide = self.size.width >= NOTES_MIN_WIDTH
            notes.first().display = wide
            title = self.title_text
            self.query_one("#title", Static).update(title if wide else f"{title}   {_('[F2: demo kits]')}")

    def _focus_first(self) -> None:
        # Set now, not through Widget.focus (which waits for the next turn of the
        # loop): the step appears with its focus in place, styled once.
        body = self.query_one("#body")
        for widget in body.query("*"):
            if widget.focusable:
                self.set_focus(widget)
                return
        bar = self.buttons
        if bar.button_disabled("next"):
            self.set_focus(self.query_one("#rail"))
        else:
            bar.chosen = "next"
            self.set_focus(bar)

    @property
    def buttons(self) -> ButtonBar:
        """Back, Next, Help and Quit (one widget: screens/buttonbar.py)."""
        return self.query_one("#buttons", ButtonBar)

    def focus_button(self, name: str) -> None:
        """Put the focus on one of the bar's buttons (when it can be pressed)."""
        self.buttons.choose(name)

    # -- what subclasses fill in --------------------------------------------

    def load(self) -> None:
        """Set widgets from the state (most steps pass values to compose instead)."""

    def save(self) -> None:
        """Write the widgets' values into ``self.state``."""

    def errors(self) -> dict[str, str]:
        return flow.step_errors(self.state, self.step)

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
                line = FieldError(f"! {message}", id=f"err-{name}", classes="field-error")
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
        if self._status_shows_errors:
            # The status line said why Next was refused: it follows the corrections
            # (a fixed field's error goes from it too), and clears once all is fine.
            self._show_status_errors(errors)
        # Said in words too: a dimmed button alone is invisible with NO_COLOR.
        self.buttons.update("next", label=self.next_label(ok), disabled=not ok)

    def next_label(self, enabled: bool) -> str:
        return _(self.NEXT_LABEL) if enabled else _("Next (incomplete)")

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
        self._status_shows_errors = False
        self._write_status(text)

    def _write_status(self, text: str) -> None:
        found = self.query("#status")
        if not found:
            if text:
                self.mount(Static(text, id="status"))
            return
        status = cast(Static, found.first())
        if str(status.content) != text:
            status.update(text)

    def _show_status_errors(self, errors: dict[str, str]) -> None:
        self._status_shows_errors = bool(errors)
        self._write_status("! " + next(iter(errors.values())) if errors else "")

    # -- events ----------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        """The one place of the rule: no single-letter key acts as a hotkey while
        a text field has the focus; the character goes into the field.

        A field keeps every character it is sent. One reaches the step itself
        only when it was sent before the field had the focus (typed ahead while
        the step was being built, or just before a focus move): without this,
        its letter would run the step's key (typing "/tmp/m" ran M) and be lost."""
        field = self.focused
        if event.is_printable and isinstance(field, Input):
            event.stop()
            event.prevent_default()
            field.post_message(events.Key(event.key, event.character))

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

    @on(ButtonBar.Pressed, "#buttons")
    def _bar_pressed(self, event: ButtonBar.Pressed) -> None:
        event.stop()
        if event.name == "back":
            self.action_back()
        elif event.name == "next":
            self.action_next()
        elif event.name == "help":
            self.action_help()
        else:
            self.post_message(QuitRequested())

    @on(StepRail.Picked, "#rail")
    def _rail_picked(self, event: StepRail.Picked) -> None:
        event.stop()
        if event.index < len(self.state.history) - 1 and self.ALLOW_BACK:
            self.save()
            self.post_message(GoBack(event.index))

    # -- actions ----------------------------------------------------------------

    def action_next(self) -> None:
        self.save()
        errors = self.errors()
        if errors:
            self.show_field_errors(errors)
            self._show_status_errors(errors)
            return
        if not self.can_go_next():
            return
        self.go_next()

    def go_next(self, step: StepName | None = None) -> None:
        self.post_message(GoNext(step))

    def action_back(self) -> None:
        if len(self.state.history) > 1 and self.ALLOW_BACK:
            self.save()
            self.post_message(GoBack(len(self.state.history) - 2))

    def action_help(self) -> None:
        from .dialogs import TextDialog

        title = _("Help: {step}").format(step=flow.TITLES[self.step])
        self.app.push_screen(TextDialog(title, _(self.HELP) if self.HELP else _("No help here."),
                                        ascii=self.config.ascii))

    def action_notes(self) -> None:
        from .dialogs import TextDialog

        if self.config.demo_notes:
            self.app.push_screen(TextDialog(_("Demo kits"), self.config.demo_notes, ascii=self.config.ascii))
