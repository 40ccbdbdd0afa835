"""A button with a line beside it saying what it is about ("Attention!... (F3)"
and "PIN sets of 5-, 10- and 20-user kits"), drawn as one widget.

The row it replaces was three widgets (a Horizontal, a Button, a Static). The
button keeps to its name and key; the words about it wrap beside it, under
their own first word, and go under the button when the line is too narrow for
both. Enter, Space or a click press it (``Pressed``); focused, the button is
drawn reversed, visible without colour.
"""

from __future__ import annotations

from typing import ClassVar

from licwiz.app import textual_fixes
from licwiz.core.i18n import N_
from rich.cells import cell_len
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.widget import Widget

NARROWEST_ABOUT = 12  # columns the words need beside the button, else they go under it


class ButtonLine(Widget, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "press", N_("Press"), show=False),
        Binding("space", "press", N_("Press"), show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "button-line--button", "button-line--focused", "button-line--about",
    }
    DEFAULT_CSS = """
    ButtonLine {
        height: auto;
        width: 1fr;
        & > .button-line--button { background: $surface; color: $button-foreground; text-style: bold; }
        & > .button-line--focused { text-style: bold reverse; }
        & > .button-line--about { color: $text-muted; }
    }
    """

    class Pressed(Message):
        def __init__(self, line: ButtonLine) -> None:
            super().__init__()
            self.line = line

        @property
        def control(self) -> ButtonLine:
            return self.line

    def __init__(self, label: str, about: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.label = label
        self.about = about

    def _lines(self, width: int) -> list[Content]:
        style = textual_fixes.visual_style(
            self, "button-line--button", *(["button-line--focused"] if self.has_focus else []))
        button = Content(f" {self.label} ").stylize(style)
        about = Content(self.about).stylize(self.get_visual_style("button-line--about"))
        width = max(1, width)
        beside = width - button.cell_length - 1
        if beside < NARROWEST_ABOUT:
            # Too narrow for both on a line: the button, then the words under it.
            return [*button.wrap(width), *about.wrap(width)]
        wrapped = about.wrap(beside)
        indent = Content(" " * (button.cell_length + 1))
        return [Content.assemble(button, " ", wrapped[0]), *(Content.assemble(indent, line)
                                                             for line in wrapped[1:])]

    def render(self) -> Content:
        return Content("\n").join(self._lines(self.content_size.width))

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return cell_len(self.label) + 3 + cell_len(self.about)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines(width))

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def action_press(self) -> None:
        self.post_message(self.Pressed(self))

    def on_click(self, event: Click) -> None:
        event.stop()
        self.action_press()
