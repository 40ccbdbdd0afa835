"""The license acquisition wizard: ``LicwizApp(config).run()``, the shell above
screens/ (the model below them: app/state.py, flow.py, controller.py, steps.py).

The screen stack is the wizard's path: Next pushes the next step's screen,
Back pops it, the step rail pops down to the step chosen, so a step below
keeps its widgets as they were; ``state.history`` always names the steps on
the stack. A screen that left the stack is never used again. Screens take the
controller as an argument and ask the App to move with messages
(``screens.base.GoNext``, ``GoBack``, ``Replace``, ``Finish``, ``Cancel``).

Fingerprint collection, the trusted keyring and the all-users location check
run once, in a thread worker started just after the first step is up
(``controller.collect_startup``); no step waits on them unless it needs them.

``run()`` returns the exit code: 0 when a license was installed and Finish
pressed, 130 when the person quit or cancelled.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import ClassVar

from licwiz.core.i18n import N_, _
from licwiz.screens.base import Cancel, Finish, GoBack, GoNext, QuitRequested, Replace, StepScreen
from licwiz.screens.buttonbar import ButtonBar
from licwiz.screens.widgets import AsciiScrollBarRender
from rich.text import Text
from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.widgets import Input

from . import flow, textual_fixes
from .config import WizardConfig
from .controller import Startup, WizardController, collect_startup
from .state import StepName, WizardState

EXIT_FINISHED = 0
EXIT_CANCELLED = 130

def _styles_path() -> Path:
    # The styles folder installs as licwiz.styles beside licwiz.app (package-dir);
    # its __path__ is right for an editable install too, where __file__ paths differ.
    import licwiz.styles

    return Path(next(iter(licwiz.styles.__path__))) / "wizard.tcss"


def screen_class(step: StepName) -> type[StepScreen]:
    """The shell's half of the step registry (app/steps.py has names and titles).
    Each module is imported when its step is first shown: start-up pays only
    for the first."""
    if step in ("action", "operation", "method"):
        from licwiz.screens import choices

        return {"action": choices.ActionStep, "operation": choices.OperationStep,
                "method": choices.MethodStep}[step]
    if step == "kit":
        from licwiz.screens.kit import KitStep

        return KitStep
    if step in ("owner_first", "owner_verify"):
        from licwiz.screens import owner

        return owner.OwnerFirstStep if step == "owner_first" else owner.OwnerVerifyStep
    if step == "recovery":
        from licwiz.screens.recovery import RecoveryStep

        return RecoveryStep
    if step == "automatic":
        from licwiz.screens.automatic import AutomaticStep

        return AutomaticStep
    if step == "file_request":
        from licwiz.screens.file_request import FileRequestStep

        return FileRequestStep
    if step == "file_install":
        from licwiz.screens.file_install import FileInstallStep

        return FileInstallStep
    if step == "phone_codes":
        from licwiz.screens.phone_codes import PhoneCodesStep

        return PhoneCodesStep
    if step == "phone_response":
        from licwiz.screens.phone_response import PhoneResponseStep

        return PhoneResponseStep
    if step == "final":
        from licwiz.screens.final import FinalStep

        return FinalStep
    raise KeyError(step)


def _field_keys() -> list[BindingType]:
    """A text field's own keys (Ctrl+U, Backspace, Home, Left, Enter, ...), taken
    first by the App and handed to the focused field in the order they came.

    Textual runs a focused widget's bindings only once the key has bubbled up to
    the App, a turn of the loop per parent, while the characters typed after it
    are inserted by the field at once: Tab, Ctrl+U and digits in one read (a paste,
    a script, a slow link) lost the digits to the Ctrl+U that came before them."""
    return [Binding(b.key, f"field_key({b.action!r})", show=False, priority=True)
            for b in Binding.make_bindings(Input.BINDINGS)]


COLLECTOR_PAUSE_LIMIT = 1.0  # seconds: the collector is on again by then, whatever happened


class LicwizApp(textual_fixes.QuietPop, App[int]):
    TITLE = N_("licwiz: license acquisition")
    CSS_PATH = _styles_path()
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "request_quit", N_("Quit"), priority=True),
        # Typed ahead (a slow SSH link, a busy moment), "digits<Tab>digits" reaches
        # the app in one read. A Tab left to bubble up from the field moves focus
        # only after the following digits were already handed to that field;
        # taken first, here, it moves focus in the order it was typed.
        Binding("tab", "focus_next", N_("Next field"), show=False, priority=True),
        Binding("shift+tab", "focus_previous", N_("Previous field"), show=False, priority=True),
        *_field_keys(),
    ]

    def __init__(self, config: WizardConfig | None = None, state: WizardState | None = None) -> None:
        super().__init__()
        self.config = config or WizardConfig()
        self.state = state or WizardState()
        self.controller = WizardController(self.config, self.state)
        self.title = _(self.TITLE)
        # What is printed at exit (a Cancel's note) is not re-wrapped to the
        # terminal's width: a path in it stays one piece to copy.
        self.error_console.soft_wrap = True
        self._scrollbar_renderer: type[ScrollBarRender] | None = None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A field key with no text field focused is not ours: it goes on as usual
        # (Enter to a choice list, Home to the rail, arrows in a dialog).
        if action == "field_key":
            return isinstance(self.focused, Input)
        return True

    def action_field_key(self, action: str) -> None:
        field = self.focused
        if isinstance(field, Input):
            # Queued behind the keys already handed to the field, ahead of the ones after.
            field.call_later(self.run_action, action, field)

    def action_focus_next(self) -> None:
        # The step's button bar is one widget with a focus stop per button: Tab
        # goes through its buttons before it leaves it, as through a row of Buttons.
        self._move_focus(1)

    def action_focus_previous(self) -> None:
        self._move_focus(-1)

    def _move_focus(self, delta: int) -> None:
        bar = self.focused
        if isinstance(bar, ButtonBar) and bar.step(delta):
            return
        if delta > 0:
            super().action_focus_next()
        else:
            super().action_focus_previous()
        bar = self.focused
        if isinstance(bar, ButtonBar):
            bar.enter_from(delta)

    @property
    def all_users_writable(self) -> bool | None:
        return self.controller.all_users_writable

    # -- start-up --------------------------------------------------------------

    def on_mount(self) -> None:
        # Before the first step is composed: no tooltips or notifications are shown.
        textual_fixes.without_tooltips_and_toasts(self)
        if self.config.ascii:
            self.add_class("-ascii")
            # Textual's documented switch for how scrollbars are drawn; it is
            # process-wide, so it is put back when the wizard ends (on_unmount).
            self._scrollbar_renderer = ScrollBar.renderer
            ScrollBar.renderer = AsciiScrollBarRender
        # The steps already taken (a state handed in: tests, the bench) are on the
        # stack too, so Back works from the first screen shown.
        history = list(self.state.history)
        for depth, step in enumerate(history, 1):
            self.push_screen(self._build(step, depth))
        # The fingerprint and keys are not needed before step 5, seconds away: the
        # thread starts once the first step is up, so its imports (cryptography)
        # do not hold the GIL while that step mounts (~20 ms, bench/wizard.py).
        self.set_timer(0.2, self._startup)

    def _build(self, step: StepName, depth: int | None = None) -> StepScreen:
        return screen_class(step)(self.controller, step, depth=depth)

    @work(thread=True, exclusive=True, group="startup")
    def _startup(self) -> None:
        startup = collect_startup(self.config.product)
        self.call_from_thread(self._started, startup)

    def _started(self, startup: Startup) -> None:
        self.controller.started(startup)
        # Everything loaded so far (Textual, the stylesheet, cryptography, the keys) lives
        # as long as the wizard: out of the collector's sight, a full collection walks
        # only what the steps made (~45 -> ~20 ms; one in seven transitions meets one).
        gc.freeze()
        if self.controller.needs_all_users_warning():
            from licwiz.screens.dialogs import AllUsersWarning

            self.push_screen(AllUsersWarning(self.controller.all_users_dir(), ascii=self.config.ascii),
                             self._all_users_answer)

    def on_unmount(self) -> None:
        gc.unfreeze()  # a process that runs the wizard again (tests) gets it all back
        gc.enable()  # and its collector, should the wizard end in the middle of a step change
        if self._scrollbar_renderer is not None:
            ScrollBar.renderer = self._scrollbar_renderer

    def _all_users_answer(self, answer: bool | None) -> None:
        if answer:
            self.controller.use_current_user()
        else:
            self.cancel_acquisition()

    # -- moving between steps: the stack follows state.history ---------------------

    def _sync_stack(self, rebuild_top: bool = False) -> None:
        """Pop the screens above the steps history still names, then push the
        steps it names beyond them (each a new screen)."""
        history = self.state.history
        stack = self.screen_stack
        steps = [s for s in stack if isinstance(s, StepScreen)]
        keep = 0
        limit = min(len(steps), len(history)) - (1 if rebuild_top and len(steps) == len(history) else 0)
        while keep < limit and steps[keep].step == history[keep]:
            keep += 1
        top = stack.index(steps[keep - 1]) if keep else 0
        popped = len(stack) - 1 - top
        for _popped in range(popped):
            self.pop_screen()
        if popped:
            textual_fixes.release_left_behind()
        pushed = range(keep + 1, len(history) + 1)
        for depth in pushed:
            self.push_screen(self._build(history[depth - 1], depth))
        if pushed:
            self._collect_after_drawn()
        if keep == len(history) and popped:
            steps[keep - 1].revisited()

    def _collect_after_drawn(self) -> None:
        """Put Python's collector off while the step just pushed is built (Textual
        mounts, styles and lays it out after this returns). Building one allocates
        enough for about eleven young collections (~2.5 ms of a Next here) and, in
        one Next of fourteen, a full one (~20 ms); done once the step is on screen,
        the same work no longer delays it. The step turns it on again once drawn
        and settled (nothing left to lay out or paint), or a timer does should
        that never come."""
        if gc.isenabled():
            gc.disable()
            self.set_timer(COLLECTOR_PAUSE_LIMIT, gc.enable)
        self.screen.call_after_refresh(gc.enable)

    def go_next(self, step: StepName | None = None) -> None:
        if flow.go_next(self.state, step) is not None:
            self._sync_stack()

    def back_to(self, index: int) -> None:
        flow.go_back(self.state, index)
        self._sync_stack()

    def on_go_next(self, message: GoNext) -> None:
        self.go_next(message.step)

    def on_go_back(self, message: GoBack) -> None:
        self.back_to(message.index)

    def on_replace(self, message: Replace) -> None:
        self._sync_stack(rebuild_top=True)

    def on_finish(self, message: Finish) -> None:
        self.finish()

    def on_cancel(self, message: Cancel) -> None:
        self.cancel_acquisition(message.note)

    def on_quit_requested(self, message: QuitRequested) -> None:
        self.action_request_quit()

    # -- the end --------------------------------------------------------------------

    def finish(self) -> None:
        self.state.finished = True
        self.exit(EXIT_FINISHED, return_code=EXIT_FINISHED)

    def cancel_acquisition(self, note: str = "") -> None:
        """End the wizard with 130; ``note`` is printed once the screen is restored
        (a license issued but not installed says where it was kept). Once a license
        is installed every way out is a success (0): scripts and `make demo` see it."""
        code = EXIT_FINISHED if self.state.result is not None else EXIT_CANCELLED
        self.exit(code, return_code=code, message=Text(note) if note else None)

    def action_request_quit(self) -> None:
        if not self.state.has_input:
            self.cancel_acquisition()
            return
        from licwiz.screens.dialogs import ConfirmDialog, QuitDialog

        if isinstance(self.screen, ConfirmDialog):
            return
        # On the request-file step the pending request is kept (the seed: the wizard may
        # be closed and opened again there): the dialog says what is kept, not that all is lost.
        self.push_screen(
            QuitDialog(request_saved=bool(self.state.request_file), ascii=self.config.ascii),
            lambda yes: self.cancel_acquisition() if yes else None,
        )
