"""Text that came from outside: what a field may contain, and how to print it.

Two rules, one per direction:

- ``text_problem(value)``: why a text field is refused as input (None when it
  is fine). Owner data, request fields and anything else a person or a peer
  sends must be valid, encodable Unicode with nothing invisible in it.
- ``printable(value)``: the text with every character a terminal could act on
  replaced, for printing what a server, a seat record or a file said.
"""

from __future__ import annotations

import unicodedata

from .i18n import N_
from .message import Msg

# Unicode general categories refused in text fields, and why each:
REFUSED_CATEGORIES: dict[str, str] = {
    # Control (C0/C1: NUL, ESC, BEL, DEL, CSI ...): a terminal acts on them, so a
    # name or address could clear a screen or retitle a window where it is shown.
    "Cc": N_("control characters"),
    # Format (bidi overrides such as U+202E, zero-width spaces and joiners, soft
    # hyphen): invisible, they make two different strings look the same or show
    # text in another order than it is stored, so what a person checks is not
    # what a license binds.
    "Cf": N_("invisible formatting characters"),
    # Surrogate (a lone U+D800..U+DFFF from a JSON "\\ud800" escape): not a
    # character at all; it cannot be encoded as UTF-8, so it could not be hashed,
    # stored or printed.
    "Cs": N_("an invalid character (a lone UTF-16 surrogate)"),
    # Private use: no agreed meaning; each font shows something else, so the
    # same data reads differently on the customer's and the vendor's screens.
    "Co": N_("private-use characters"),
    # Unassigned: no meaning yet; a later Unicode version may assign (and
    # normalise) it differently, so the canonical form would not be stable.
    "Cn": N_("unassigned code points"),
}


def text_problem(value: str) -> str | None:
    """What is wrong with ``value`` as a text field ("contains ..."), or None
    (English; ``core.message.localized`` says it in the user's language).

    Whitespace that a canonical form folds (tab, newline) is a control
    character too: callers that fold whitespace check the folded value."""
    if value.isascii() and value.isprintable():  # no refused category in printable ASCII (hot path)
        return None
    for ch in value:
        why = REFUSED_CATEGORIES.get(unicodedata.category(ch))
        if why is not None:
            return Msg(N_("contains {what} (U+{code})"), what=Msg(why), code=f"{ord(ch):04X}")
    return None


def printable(value: object) -> str:
    """``value`` as text safe for a terminal: every character of a refused
    category (ESC, BEL, CSI, bidi overrides, lone surrogates, ...) becomes
    "?", so what came from outside can never drive the terminal. Newlines and
    tabs go too: one record prints on one line."""
    text = value if isinstance(value, str) else str(value)
    return "".join("?" if unicodedata.category(ch) in _UNPRINTABLE else ch for ch in text)


# Line and paragraph separators (U+2028, U+2029) break a line in some terminals.
_UNPRINTABLE = frozenset(REFUSED_CATEGORIES) | {"Zl", "Zp"}


def printable_lines(value: object) -> str:
    """``printable`` for a block of text: its line breaks stay, nothing else does."""
    text = value if isinstance(value, str) else str(value)
    return "\n".join(printable(line) for line in text.split("\n"))
