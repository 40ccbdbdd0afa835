"""Small widgets that say their state in text, not in colour alone
(TERM=linux, NO_COLOR=1 and screen readers see the same thing)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from licwiz.core.i18n import N_
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.content import Content
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scrollbar import ScrollBarRender
from textual.widget import Widget
from textual.widgets import Checkbox, Static

T = TypeVar("T", bound=str)


class TickBox(Checkbox, inherit_bindings=False):
    """A checkbox drawn as ``[X] label`` / ``[ ] label`` (drawn here from its
    public value and label: Checkbox's own button is a coloured block, the
    same character ticked or not). Space ticks; Enter is the step's Next, as
    everywhere in the wizard (a Checkbox's Enter toggles: Space then Enter left
    it unticked)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_button", N_("Toggle"), show=False),
        Binding("enter", "screen.next", N_("Next"), show=False),
    ]

    def render(self) -> Content:
        button = Content.assemble(
            ("[", ""), ("X" if self.value else " ", self.get_visual_style("toggle--button")), ("]", "")
        )
        label = self.label.pad(1, 1).stylize_before(self.get_visual_style("toggle--label"))
        return Content.assemble(button, label)

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return 3 + (2 + self.label.cell_length if self.label else 0)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        # Long labels (the absolute-accuracy sentence) wrap instead of being cut.
        return max(1, len(self.render().wrap(max(1, width))))


class FieldError(Static):
    """A field's error line. In a label | field grid it spans both columns, but
    Textual's grid (8.2) sizes an auto row with the first column's width only
    (a sentence would take four lines there): the height is worked out at the
    grid's width instead."""

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        parent = self.parent
        if isinstance(parent, Grid) and parent.content_size.width:
            width = parent.content_size.width
        return super().get_content_height(container, viewport, width)


class ChoiceList(Widget, Generic[T], can_focus=True):
    """A list of choices; the highlighted one is the choice and is marked
    ``(*)``. Arrows choose (``Changed``), Enter or a click chooses and goes on
    (``Chosen``). Looks and keys as the OptionList it replaced, drawn in one
    ``render()``: an OptionList renders and styles each option on its own,
    ~5 ms of a step's Next."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", N_("Up"), show=False),
        Binding("down", "move(1)", N_("Down"), show=False),
        Binding("home", "move(-1000)", N_("First"), show=False),
        Binding("end", "move(1000)", N_("Last"), show=False),
        Binding("enter", "select", N_("Choose"), show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"choice-list--highlight"}

    highlighted: reactive[int | None] = reactive[int | None](None)

    class Changed(Message):
        def __init__(self, choice_list: ChoiceList[Any], value: str) -> None:
            super().__init__()
            self.choice_list = choice_list
            self.value = value

        @property
        def control(self) -> ChoiceList[Any]:
            return self.choice_list

    class Chosen(Changed):
        pass

    def __init__(
        self, choices: Sequence[tuple[T, str, str]], value: T | None, *, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self._choices = list(choices)
        self._value: T | None = value
        values = [c[0] for c in self._choices]
        self.set_reactive(ChoiceList.highlighted, values.index(value) if value in values else None)

    @property
    def value(self) -> T | None:
        return self._value

    def _option_lines(self, index: int) -> list[str]:
        val, label, desc = self._choices[index]
        mark = "(*)" if val == self._value else "( )"
        return [f"{mark} {label}", f"    {desc}"] if desc else [f"{mark} {label}"]

    def render(self) -> Content:
        style = self.get_visual_style("choice-list--highlight")
        width = self.content_size.width
        lines: list[Content] = []
        for i in range(len(self._choices)):
            for n, line in enumerate(self._option_lines(i)):
                text = Content.styled(line, "bold") if n == 0 else Content(line)
                lines.append(text.pad_right(width - text.cell_length).stylize(style)
                             if i == self.highlighted else text)
        return Content("\n").join(lines)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return sum(len(self._option_lines(i)) for i in range(len(self._choices)))

    def watch_highlighted(self, index: int | None) -> None:
        if index is None:
            return
        value = self._choices[index][0]
        if value != self._value:
            self._value = value
            self.post_message(self.Changed(self, value))

    def on_focus(self) -> None:
        # As an OptionList: focused with nothing chosen, the first choice is highlighted.
        if self.highlighted is None and self._choices:
            self.highlighted = 0

    def action_move(self, delta: int) -> None:
        if not self._choices:
            return
        if self.highlighted is None:
            self.highlighted = 0
            return
        self.highlighted = min(max(self.highlighted + delta, 0), len(self._choices) - 1)

    def action_select(self) -> None:
        if self.highlighted is None:
            return
        self._value = self._choices[self.highlighted][0]
        self.refresh()
        self.post_message(self.Chosen(self, self._value))

    def on_click(self, event: Click) -> None:
        y = 0
        for i in range(len(self._choices)):
            y += len(self._option_lines(i))
            if event.y < y:
                self.highlighted = i
                self.action_select()
                return


class StepRail(Widget, can_focus=True):
    """The steps taken, one a line, the current one last and marked ``>``.
    Up/Down move the highlight, Enter (or a click) picks a step: ``Picked``.

    Drawn by ``render`` as one piece of text: an OptionList here cost a fifth
    of every Next (each option rendered and styled on its own)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", N_("Up"), show=False),
        Binding("down", "move(1)", N_("Down"), show=False),
        Binding("home", "move(-1000)", N_("First"), show=False),
        Binding("end", "move(1000)", N_("Last"), show=False),
        Binding("enter", "pick", N_("Go back to this step"), show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"step-rail--highlight"}

    highlighted: reactive[int] = reactive(0)

    class Picked(Message):
        def __init__(self, rail: StepRail, index: int) -> None:
            super().__init__()
            self.rail = rail
            self.index = index

        @property
        def control(self) -> StepRail:
            return self.rail

    def __init__(self, lines: Sequence[str], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines = list(lines)
        self.set_reactive(StepRail.highlighted, max(0, len(self.lines) - 1))

    def render(self) -> Content:
        # The highlight spans the width, as an OptionList's (its look: wizard.tcss).
        style = self.get_visual_style("step-rail--highlight")
        width = self.content_size.width
        return Content("\n").join(
            Content(line.ljust(width)).stylize(style) if i == self.highlighted else Content(line)
            for i, line in enumerate(self.lines)
        )

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.lines)

    def action_move(self, delta: int) -> None:
        self.highlighted = min(max(self.highlighted + delta, 0), len(self.lines) - 1)

    def action_pick(self) -> None:
        self.post_message(self.Picked(self, self.highlighted))

    def on_click(self, event: Click) -> None:
        if 0 <= event.y < len(self.lines):
            self.highlighted = event.y
            self.action_pick()



class AsciiScrollBarRender(ScrollBarRender):
    """Scrollbars without block characters (TERM=linux, LICWIZ_ASCII=1): the
    thumb's ends are drawn whole cells, never the partial blocks (▁ ▂ ... ▏)
    that a Linux console font draws as garbage. The thumb is still a reversed
    run of blanks, visible without colour."""

    VERTICAL_BARS: ClassVar[list[str]] = [" "] * 8
    HORIZONTAL_BARS: ClassVar[list[str]] = [" "] * 8
