"""Small widgets that say their state in text, not in colour alone
(TERM=linux, NO_COLOR=1 and screen readers see the same thing)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.content import Content
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Checkbox, OptionList, Static
from textual.widgets.option_list import Option

T = TypeVar("T", bound=str)


class TickBox(Checkbox):
    """A checkbox drawn as ``[X] label`` / ``[ ] label`` (drawn here from its
    public value and label: Checkbox's own button is a coloured block, the
    same character ticked or not)."""

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


class ChoiceList(OptionList, Generic[T]):
    """A list of choices; the highlighted one is the choice and is marked
    ``(*)``. Arrows choose, Enter chooses and goes on (``Chosen``)."""

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
        self._choices = list(choices)
        self._value: T | None = value
        super().__init__(*self._prompts(), id=id)

    @property
    def value(self) -> T | None:
        return self._value

    def _prompts(self) -> list[Option]:
        out = []
        for val, label, desc in self._choices:
            mark = "(*)" if val == self._value else "( )"
            text = Text(f"{mark} {label}", style="bold")
            if desc:
                text.append(f"\n    {desc}", style="")
            out.append(Option(text, id=val))
        return out

    def on_mount(self) -> None:
        values = [c[0] for c in self._choices]
        if self._value in values:
            self.highlighted = values.index(self._value)

    def _refresh_marks(self) -> None:
        for i, prompt in enumerate(self._prompts()):
            self.replace_option_prompt_at_index(i, prompt.prompt)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        value = self._choices[event.option_index][0]
        if value != self._value:
            self._value = value
            self._refresh_marks()
            self.post_message(self.Changed(self, value))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._value = self._choices[event.option_index][0]
        self._refresh_marks()
        self.post_message(self.Chosen(self, self._value))


class StepRail(Widget, can_focus=True):
    """The steps taken, one a line, the current one last and marked ``>``.
    Up/Down move the highlight, Enter (or a click) picks a step: ``Picked``.

    Drawn by ``render`` as one piece of text: an OptionList here cost a fifth
    of every Next (each option rendered and styled on its own)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("home", "move(-1000)", "First", show=False),
        Binding("end", "move(1000)", "Last", show=False),
        Binding("enter", "pick", "Go back to this step", show=False),
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

