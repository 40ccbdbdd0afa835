"""Registration numbers and PIN codes: parse what a person typed, generate new ones.

Both end in a Damm check digit so a typo is caught on the client, with a
message naming the field, before any network call.
"""

from __future__ import annotations

import secrets

from .damm import check_digit, is_valid
from .errors import CheckDigitError, InputError
from .i18n import N_
from .message import Msg

REGNUM_LENGTH = 10
PIN_LENGTH = 15
_SEPARATORS = str.maketrans("", "", " -\t")
# Anything longer than this is not a typo of an identifier; refuse before work.
_MAX_INPUT = 64


def _parse(text: str, field: str, length: int) -> str:
    # field is a label (a Msg, or already in the user's language) or an option name
    if len(text) > _MAX_INPUT:
        raise InputError(field, Msg(N_("{field}: too long, expected {length} digits"),
                                    field=field, length=length))
    raw = text.translate(_SEPARATORS)
    if not raw:
        raise InputError(field, Msg(N_("{field}: enter {length} digits"), field=field, length=length),
                         code="missing")
    bad = sorted({ch for ch in raw if not ("0" <= ch <= "9")})
    if bad:
        shown = " ".join(repr(ch) for ch in bad[:5])
        raise InputError(field, Msg(N_("{field}: only digits are allowed, found {found}"), field=field,
                                    found=shown))
    if len(raw) != length:
        raise InputError(
            field, Msg(N_("{field}: expected {length} digits, got {count}"), field=field, length=length,
                       count=len(raw)), code="bad_length"
        )
    if not is_valid(raw):
        raise CheckDigitError(
            field,
            Msg(N_("{field}: check digit does not match, a digit is probably mistyped"), field=field),
            Msg(N_("{field}: the last digit of {length} is a Damm check digit over the others; "
                   "it does not match, so one digit is wrong or two neighbours are swapped."),
                field=field, length=length),
        )
    return raw


def parse_regnum(text: str) -> str:
    """Normalise a registration number (10 digits, last a check digit)."""
    return _parse(text, Msg(N_("Registration number")), REGNUM_LENGTH)


def parse_pin(text: str, field: str | None = None) -> str:
    """Normalise a PIN code (15 digits, last a check digit); ``field`` names it in errors
    (a label in the user's language, a Msg, or an option name; default "PIN code")."""
    return _parse(text, Msg(N_("PIN code")) if field is None else field, PIN_LENGTH)


def format_pin(pin: str) -> str:
    """Show a PIN as five groups of three: ``123-456-789-012-345``."""
    return "-".join(pin[i : i + 3] for i in range(0, len(pin), 3))


def format_regnum(regnum: str) -> str:
    return regnum


def _generate(length: int) -> str:
    body = "".join(secrets.choice("0123456789") for _ in range(length - 1))
    return body + check_digit(body)


def new_regnum() -> str:
    """A random registration number with a correct check digit (for the center)."""
    return _generate(REGNUM_LENGTH)


def new_pin() -> str:
    """A random PIN code with a correct check digit (for the center)."""
    return _generate(PIN_LENGTH)
