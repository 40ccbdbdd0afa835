"""Phone codes: a short binary message as numbered rows of decimal digits
that two people can read to each other over a telephone.

Format (``encode``):

* The message becomes one digit stream: a length header, then the bytes as
  one big-endian number written with exactly ``D(L)`` digits, where ``L`` is
  the byte count and ``D(L)`` the digit count of ``256**L - 1``. Leading zero
  bytes survive because the header fixes ``L``. The header is one digit ``k``
  (how many digits ``L`` has) followed by ``L`` in ``k`` digits, so a
  72-byte message needs 3 header digits.
* Messages longer than ``SWAP_GUARANTEE_ROWS`` rows, and every message
  encoded with ``whole_check=True`` (the request code: core/phonemsg.py), get
  3 more digits at the end of the stream: a SHA-256 based check of the whole
  message (see below). Both sides must agree on ``whole_check``.
* The stream is cut into rows of ``width`` digits (default 20); the last row
  is padded with zeros. Every row gets one more digit: the Damm check digit
  over ``str(row_no % 10)`` followed by the row's digits. So a row is
  ``width + 1`` digits, shown as groups of three (``format_row``).

Guarantees (proven by tests/offline/test_offline_phonecodes.py):

* Every single-digit substitution and every adjacent transposition inside a
  row fails that row's check (Damm's property), and ``decode`` names the row.
* A row read in the wrong place (two rows swapped, a row left out or read
  twice) fails its check whenever the two row numbers differ modulo 10: the
  Damm state after the row-number digit differs, and every later digit maps
  different states to different states. Messages of up to 10 rows (both
  licwiz phone messages are) therefore detect every swap of two different
  rows; longer ones rely on the 3-digit message check as well (a miss
  chance of 1 in 1000 for swaps of rows 10 apart).
* A missing or extra row changes the row count, which the header fixes.
* Two wrong digits in one row pass its Damm check about 1 time in 10 (in two
  different rows, each row's check catches its own). With ``whole_check``
  such a pair then still has to hit the same 3-digit message check: 1 in
  1000. Over a whole 5-row request code at least 99.9% of random two-digit
  errors are caught (measured: tests/security/test_phone_double_errors.py).
  A two-digit error that passes every check cannot be named by row: the
  message says to read all rows again.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import Counter

from . import damm
from .errors import PhoneCodeError
from .i18n import N_
from .message import Msg, Plural

DEFAULT_WIDTH = 20
MIN_WIDTH = 4
MAX_WIDTH = 60
MAX_BYTES = 1024  # far above any licwiz message; keeps decode linear and int<->str fast
SWAP_GUARANTEE_ROWS = 10
_MSG_CHECK_DIGITS = 3
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212]+")


@functools.lru_cache(maxsize=256)
def digits_for(nbytes: int) -> int:
    """How many digits ``nbytes`` bytes take in the stream (without header)."""
    return len(str(256**nbytes - 1)) if nbytes else 0


def normalise(text: str) -> str:
    """A row as typed, without the spaces and dashes people put in."""
    return _SEPARATORS.sub("", text)


def _row_check(row_no: int, digits: str) -> str:
    return damm.check_digit(str(row_no % 10) + digits)


def check_row(row_no: int, text: str) -> bool:
    """True when ``text`` (spaces and dashes allowed) is a well-formed row
    ``row_no`` (1-based) with a correct check digit."""
    row = normalise(text)
    if not (2 <= len(row) <= MAX_WIDTH + 1) or not row.isascii() or not row.isdigit():
        return False
    return damm.is_valid(str(row_no % 10) + row)


def _header(nbytes: int) -> str:
    n = str(nbytes)
    return f"{len(n)}{n}"


def _message_check(data: bytes) -> str:
    value = int.from_bytes(hashlib.sha256(b"licwiz-phone-v1\n" + data).digest()[:4], "big")
    return f"{value % 10**_MSG_CHECK_DIGITS:0{_MSG_CHECK_DIGITS}d}"


def _row_count(nbytes: int, width: int, whole_check: bool = False) -> tuple[int, bool]:
    """(rows, has message check) for a message of ``nbytes`` bytes."""
    base = len(_header(nbytes)) + digits_for(nbytes)
    rows = -(-base // width)
    if whole_check or rows > SWAP_GUARANTEE_ROWS:
        return -(-(base + _MSG_CHECK_DIGITS) // width), True
    return rows, False


def row_count(nbytes: int, width: int = DEFAULT_WIDTH, *, whole_check: bool = False) -> int:
    """How many rows ``encode`` makes for ``nbytes`` bytes."""
    return _row_count(nbytes, width, whole_check)[0]


def encode(data: bytes, *, width: int = DEFAULT_WIDTH, whole_check: bool = False) -> list[str]:
    """The rows (digits only; each ends in its check digit) for ``data``."""
    if not MIN_WIDTH <= width <= MAX_WIDTH:
        raise ValueError(f"row width must be {MIN_WIDTH}..{MAX_WIDTH}")
    if len(data) > MAX_BYTES:
        raise ValueError(f"a phone message holds at most {MAX_BYTES} bytes")
    nd = digits_for(len(data))
    body = f"{int.from_bytes(data, 'big'):0{nd}d}" if nd else ""
    rows, with_check = _row_count(len(data), width, whole_check)
    stream = _header(len(data)) + body + (_message_check(data) if with_check else "")
    stream = stream.ljust(rows * width, "0")
    out = []
    for i in range(rows):
        chunk = stream[i * width : (i + 1) * width]
        out.append(chunk + _row_check(i + 1, chunk))
    return out


def format_row(row: str, group: int = 3) -> str:
    """``row`` in groups of ``group`` digits, for reading aloud."""
    row = normalise(row)
    return " ".join(row[i : i + group] for i in range(0, len(row), group))


def _count(n: int) -> Msg:
    return Plural(N_("{n} row"), N_("{n} rows"), n)


def _rows_list(rows: list[int]) -> str:
    if len(rows) == 1:
        return str(rows[0])
    return Msg(N_("{rows} and {last}"), rows=", ".join(str(r) for r in rows[:-1]), last=rows[-1])


def decode(rows: list[str], *, whole_check: bool = False) -> bytes:
    """The message in ``rows`` (as typed: spaces and dashes allowed);
    ``whole_check`` as the rows were encoded with.

    Raises PhoneCodeError whose ``rows`` lists the 1-based numbers of the
    rows to read again (empty when rows are missing at the end)."""
    if not rows:
        raise PhoneCodeError(Msg(N_("No rows were entered")), rows=[])
    if len(rows) > MAX_BYTES:
        raise PhoneCodeError(Msg(N_("Too many rows ({count})"), count=len(rows)), rows=[])
    clean = [normalise(r) for r in rows]
    counts = Counter(len(r) for r in clean)
    # The width is the length most rows have: one mistyped row does not move it.
    row_len = max(counts, key=lambda n: (counts[n], n == len(clean[0])))
    bad = [i + 1 for i, r in enumerate(clean) if len(r) != row_len or not check_row(i + 1, r)]
    if bad:
        raise PhoneCodeError(
            Plural(N_("Check digit wrong in row {rows}: read it again"),
                   N_("Check digit wrong in rows {rows}: read them again"), len(bad), rows=_rows_list(bad)),
            rows=bad,
            detail=Msg(N_("{bad} of {count} rows fail their check digit or have the wrong length"),
                       bad=len(bad), count=len(rows)),
        )
    width = row_len - 1
    if width < MIN_WIDTH:
        raise PhoneCodeError(Msg(N_("Rows are too short to be phone code rows")),
                             rows=list(range(1, len(rows) + 1)))
    stream = "".join(r[:-1] for r in clean)
    k = int(stream[0])
    if k == 0 or len(stream) < 1 + k or int(stream[1 : 1 + k]) > MAX_BYTES:
        raise PhoneCodeError(Msg(N_("Row 1 does not start a phone code message: read it again")), rows=[1])
    nbytes = int(stream[1 : 1 + k])
    expected, with_check = _row_count(nbytes, width, whole_check)
    if len(rows) < expected:
        missing = list(range(len(rows) + 1, expected + 1))
        raise PhoneCodeError(
            Plural(N_("{expected} expected, {entered} entered: row {rows} missing"),
                   N_("{expected} expected, {entered} entered: rows {rows} missing"), len(missing),
                   expected=_count(expected), entered=len(rows), rows=_rows_list(missing)),
            rows=[],
            detail=Msg(N_("the header in row 1 says {size} bytes, which take {expected} rows"),
                       size=nbytes, expected=expected),
        )
    if len(rows) > expected:
        extra = list(range(expected + 1, len(rows) + 1))
        raise PhoneCodeError(
            Plural(N_("Only {expected} expected, {entered} entered: row {rows} not part of it"),
                   N_("Only {expected} expected, {entered} entered: rows {rows} not part of it"), len(extra),
                   expected=_count(expected), entered=len(rows), rows=_rows_list(extra)),
            rows=extra,
            detail=Msg(N_("the header in row 1 says {size} bytes, which take {expected} rows"),
                       size=nbytes, expected=expected),
        )
    nd = digits_for(nbytes)
    start = 1 + k
    value = int(stream[start : start + nd]) if nd else 0
    end = start + nd
    if value >= 256**nbytes:
        raise PhoneCodeError(Msg(N_("The rows do not form a valid message: read them all again")),
                             rows=list(range(1, len(rows) + 1)))
    data = value.to_bytes(nbytes, "big")
    if with_check:
        if stream[end : end + _MSG_CHECK_DIGITS] != _message_check(data):
            raise PhoneCodeError(
                Msg(N_("The rows pass their check digits but not the check of the whole code: "
                       "read them all again (two digits of one row may be wrong, or rows out of order)")),
                rows=list(range(1, len(rows) + 1)),
            )
        end += _MSG_CHECK_DIGITS
    if stream[end:].strip("0"):
        last = len(rows)
        raise PhoneCodeError(Msg(N_("Row {row} has digits after the end of the message"), row=last),
                             rows=[last])
    return data
