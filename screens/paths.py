"""Text with file paths and URLs that wraps between their parts, never inside a name.

Textual wraps at spaces and folds a word longer than the line wherever the
line ends, so a license path in a 44-column step body broke mid-name
(issue 14 item 8). ``PathText`` breaks a long line after a ``/`` (or at a
space) that still fits, continuing with the line's own indent; only a name
longer than a whole line is ever folded.
"""

from __future__ import annotations

import re

from textual.content import Content
from textual.geometry import Size
from textual.visual import VisualType
from textual.widgets import Static

_MARKER = re.compile(r" *(?:(?:\d+\.|-) )?")


def _cells(text: str) -> int:
    return Content(text).cell_length


def wrap_line(line: str, width: int) -> list[str]:
    """``line`` as lines of at most ``width`` cells, broken after a ``/`` or at a space."""
    if width <= 0 or _cells(line) <= width:
        return [line]
    # Continued under the line's own text: past its indent and a list marker ("2. ", "- ").
    marker = _MARKER.match(line)
    indent = " " * _cells(marker.group(0)) if marker else ""
    if _cells(indent) > width // 2:
        indent = ""
    out: list[str] = []
    rest, prefix = line, ""  # the first piece keeps its own indent inside ``rest``
    while rest:
        room = width - _cells(prefix)
        if _cells(rest) <= room:
            out.append(prefix + rest)
            break
        fit = 0
        while fit < len(rest) and _cells(rest[: fit + 1]) <= room:
            fit += 1
        cut = next((i for i in range(fit, 0, -1)
                    if (rest[i - 1] == "/" or rest[i] == " ") and rest[:i].strip()), max(fit, 1))
        out.append(prefix + rest[:cut].rstrip(" "))
        rest, prefix = rest[cut:].lstrip(" "), indent
    return out


def wrap_text(text: str, width: int) -> list[str]:
    return [piece for line in text.split("\n") for piece in wrap_line(line, width)]


class PathText(Static):
    """A Static (no markup) whose long lines wrap after path separators at its width."""

    def __init__(self, text: str = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(text, id=id, classes=classes, markup=False)
        self._text = text

    @property
    def text(self) -> str:
        return self._text

    def update(self, content: VisualType = "", *, layout: bool = True) -> None:
        self._text = str(content)
        super().update(content, layout=layout)

    def render(self) -> Content:
        return Content("\n".join(wrap_text(self._text, self.content_size.width)))

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return max((_cells(line) for line in self._text.split("\n")), default=0)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(wrap_text(self._text, width)) if self._text else 0
