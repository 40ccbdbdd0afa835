"""A step's Back / Next / Help / Quit buttons, drawn as one widget.

Four Buttons in a row were five widgets on every step (the row and each
button), about a sixth of a step's Next and a third of its Back on the bench
(bench/wizard.py): each widget is mounted, styled and removed on its own. The
bar looks and works as that row did: each button a focus stop for Tab and
Shift+Tab (the App asks the bar to ``step`` first, then moves on), Enter or
Space presses the chosen one, Left/Right choose, a click presses. A disabled
button is skipped and says so in words (its label), not in colour alone; the
chosen button of a focused bar is drawn reversed and underlined, visible with
NO_COLOR.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from licwiz.app import textual_fixes
from licwiz.core.i18n import N_
from rich.cells import cell_len
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

MIN_WIDTH = 16  # as a Button's least width: the row keeps its old look
GAP = 2  # blanks between two buttons (a Button's margin 0 1 on each side)


@dataclass
class BarButton:
    name: str
    label: str
    shown: bool = True
    disabled: bool = False
    primary: bool = False

    @property
    def usable(self) -> bool:
        return self.shown and not self.disabled

    def width(self, least: int = MIN_WIDTH) -> int:
        return max(least, cell_len(self.label) + 2)


class ButtonBar(Widget, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "move(-1)", N_("Previous button"), show=False),
        Binding("right", "move(1)", N_("Next button"), show=False),
        Binding("enter", "press", N_("Press"), show=False),
        Binding("space", "press", N_("Press"), show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "button-bar--button", "button-bar--primary", "button-bar--disabled", "button-bar--chosen",
    }
    DEFAULT_CSS = """
    ButtonBar {
        height: 1;
        width: 1fr;
        & > .button-bar--button { background: $surface; color: $button-foreground; text-style: bold; }
        & > .button-bar--primary { background: $primary; color: $button-color-foreground; text-style: bold; }
        & > .button-bar--disabled { text-style: bold dim; }
        & > .button-bar--chosen { text-style: bold reverse underline; }
    }
    """

    chosen: reactive[str] = reactive("")

    class Pressed(Message):
        def __init__(self, bar: ButtonBar, name: str) -> None:
            super().__init__()
            self.bar = bar
            self.name = name

        @property
        def control(self) -> ButtonBar:
            return self.bar

    def __init__(self, buttons: Sequence[BarButton], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.buttons = {b.name: b for b in buttons}
        first = next((b.name for b in buttons if b.usable), "")
        self.set_reactive(ButtonBar.chosen, first)

    # -- what a step reads and sets ------------------------------------------

    def label(self, name: str) -> str:
        return self.buttons[name].label

    def button_disabled(self, name: str) -> bool:
        return self.buttons[name].disabled

    def button_shown(self, name: str) -> bool:
        return self.buttons[name].shown

    def update(self, name: str, *, label: str, disabled: bool) -> None:
        """Change one button's label and state; nothing is redrawn when nothing changed."""
        button = self.buttons[name]
        if (label, disabled) == (button.label, button.disabled):
            return
        button.label, button.disabled = label, disabled
        if not button.usable and self.chosen == name:
            self.chosen = self._neighbour(name, 1) or self._neighbour(name, -1) or ""
        self.refresh()  # the bar is as wide as the screen: only its drawing changes

    def choose(self, name: str) -> bool:
        """Focus the bar with ``name`` chosen; False when that button is not usable."""
        if not self.buttons[name].usable:
            return False
        self.chosen = name
        self.focus()
        return True

    def step(self, delta: int) -> bool:
        """Tab (1) or Shift+Tab (-1) inside the bar: choose the next usable button
        that way; False at the bar's end (focus leaves the bar)."""
        target = self._neighbour(self.chosen, delta)
        if target is None:
            return False
        self.chosen = target
        return True

    def enter_from(self, delta: int) -> None:
        """Focus came by Tab (1: the first usable button) or Shift+Tab (-1: the last)."""
        usable = [b.name for b in self.buttons.values() if b.usable]
        if usable:
            self.chosen = usable[0] if delta > 0 else usable[-1]

    def _neighbour(self, name: str, delta: int) -> str | None:
        names = list(self.buttons)
        i = names.index(name) if name in names else (-1 if delta > 0 else len(names))
        i += delta
        while 0 <= i < len(names):
            if self.buttons[names[i]].usable:
                return names[i]
            i += delta
        return None

    # -- drawing ----------------------------------------------------------------

    def _shown(self) -> list[BarButton]:
        return [b for b in self.buttons.values() if b.shown]

    def _least(self) -> int:
        """A button's least width: as a Button's, unless the row would not fit
        (long Russian labels at 80 columns); then each is as wide as its label."""
        available = self.content_size.width
        return MIN_WIDTH if not available or self._row_width(MIN_WIDTH) <= available else 0

    def _row_width(self, least: int = MIN_WIDTH) -> int:
        shown = self._shown()
        return sum(b.width(least) for b in shown) + GAP * max(0, len(shown) - 1)

    def _left(self) -> int:
        return max(0, (self.content_size.width - self._row_width(self._least())) // 2)

    def render(self) -> Content:
        least = self._least()
        parts: list[Content] = [Content(" " * self._left())]
        for i, b in enumerate(self._shown()):
            if i:
                parts.append(Content(" " * GAP))
            chosen = self.has_focus and b.name == self.chosen
            style = textual_fixes.visual_style(
                self,
                "button-bar--primary" if b.primary else "button-bar--button",
                *(["button-bar--disabled"] if b.disabled else []),
                *(["button-bar--chosen"] if chosen else []),
            )
            pad = b.width(least) - cell_len(b.label)
            label = " " * (pad // 2) + b.label + " " * (pad - pad // 2)
            parts.append(Content(label).stylize(style))
        return Content.assemble(*parts)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return 1

    def watch_chosen(self) -> None:
        self.refresh()

    def on_focus(self) -> None:
        if not self.chosen or not self.buttons[self.chosen].usable:
            self.enter_from(1)
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- acting -----------------------------------------------------------------

    def action_move(self, delta: int) -> None:
        self.step(delta)

    def action_press(self) -> None:
        if self.chosen and self.buttons[self.chosen].usable:
            self.post_message(self.Pressed(self, self.chosen))

    def on_click(self, event: Click) -> None:
        least = self._least()
        x = self._left()
        for i, b in enumerate(self._shown()):
            if i:
                x += GAP
            if x <= event.x < x + b.width(least):
                if b.usable:
                    self.chosen = b.name
                    self.post_message(self.Pressed(self, b.name))
                return
            x += b.width(least)
