"""A title that opens and closes the part of a step below it ("Advanced
settings"): ``> title`` closed, ``v title`` open (``▶``/``▼`` where the font
has them). One widget where Textual's Collapsible is three (itself, its title
and its contents, built on every visit although most people never open it);
what it opens is the step's to build, the first time it is opened."""

from __future__ import annotations

from typing import ClassVar

from licwiz.core.i18n import N_
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.events import Click
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget


class Disclosure(Widget, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_close", N_("Open or close"), show=False),
        Binding("space", "open_close", N_("Open or close"), show=False),
    ]
    DEFAULT_CSS = """
    Disclosure {
        height: 1;
        width: 1fr;
        padding: 0 1;
        background: $surface;
        &:focus { text-style: bold reverse; }
    }
    """

    collapsed: reactive[bool] = reactive(True)

    class Toggled(Message):
        """Opened (``collapsed`` False) or closed by a key, a click or a step."""

        def __init__(self, disclosure: Disclosure, collapsed: bool) -> None:
            super().__init__()
            self.disclosure = disclosure
            self.collapsed = collapsed

        @property
        def control(self) -> Disclosure:
            return self.disclosure

    def __init__(self, title: str, *, collapsed: bool = True, symbols: tuple[str, str] = ("▶", "▼"),
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title
        self.symbols = symbols
        self.set_reactive(Disclosure.collapsed, collapsed)  # no Toggled for how it starts

    def render(self) -> Content:
        closed, opened = self.symbols
        return Content(f"{closed if self.collapsed else opened} {self.title}")

    def watch_collapsed(self, collapsed: bool) -> None:
        self.post_message(self.Toggled(self, collapsed))

    def action_open_close(self) -> None:
        self.collapsed = not self.collapsed

    def on_click(self, event: Click) -> None:
        event.stop()
        self.action_open_close()
