"""The Damm check digit: catches every single-digit error and every
adjacent transposition, with one digit and no letters (unlike ISO 7064 mod 11)."""

from __future__ import annotations

# The weakly totally anti-symmetric quasigroup of order 10 from Damm (2004).
_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def check_digit(digits: str) -> str:
    """The digit to append to ``digits`` (ASCII 0-9 only) so that it validates."""
    interim = 0
    for ch in digits:
        interim = _TABLE[interim][ord(ch) - 48]
    return chr(48 + interim)


def is_valid(digits: str) -> bool:
    """True when ``digits`` ends in its correct Damm check digit."""
    return len(digits) > 0 and check_digit(digits) == "0"
