"""Registration numbers and PIN codes: exhaustive typo detection, clear errors."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from licwiz.core import damm
from licwiz.core.errors import CheckDigitError, InputError
from licwiz.core.identifiers import format_pin, new_pin, new_regnum, parse_pin, parse_regnum

Parser = Callable[[str], str]
KINDS: list[tuple[str, Parser, Callable[[], str], int]] = [
    ("Registration number", parse_regnum, new_regnum, 10),
    ("PIN code", parse_pin, new_pin, 15),
]


def test_damm_known_vector() -> None:
    # Wikipedia's worked example: 572 -> check digit 4.
    assert damm.check_digit("572") == "4"
    assert damm.is_valid("5724") and not damm.is_valid("5723") and not damm.is_valid("")


@pytest.mark.parametrize(("field", "parse", "new", "length"), KINDS)
def test_generated_numbers_parse(field: str, parse: Parser, new: Callable[[], str], length: int) -> None:
    for _ in range(200):
        value = new()
        assert len(value) == length and value.isdigit()
        assert parse(value) == value


@pytest.mark.parametrize(("field", "parse", "new", "length"), KINDS)
def test_every_single_substitution_is_rejected_naming_the_field(
    field: str, parse: Parser, new: Callable[[], str], length: int
) -> None:
    rng = random.Random(20261128)
    checked = 0
    for _ in range(150):
        value = "".join(rng.choice("0123456789") for _ in range(length - 1))
        value += damm.check_digit(value)
        parse(value)
        for i in range(length):
            for d in "0123456789":
                if d == value[i]:
                    continue
                typo = value[:i] + d + value[i + 1:]
                with pytest.raises(CheckDigitError) as exc:
                    parse(typo)
                assert exc.value.field == field and field in str(exc.value)
                checked += 1
    assert checked == 150 * length * 9


@pytest.mark.parametrize(("field", "parse", "new", "length"), KINDS)
def test_every_adjacent_transposition_is_rejected(
    field: str, parse: Parser, new: Callable[[], str], length: int
) -> None:
    rng = random.Random(7)
    for _ in range(300):
        value = "".join(rng.choice("0123456789") for _ in range(length - 1))
        value += damm.check_digit(value)
        for i in range(length - 1):
            if value[i] == value[i + 1]:
                continue
            swapped = value[:i] + value[i + 1] + value[i] + value[i + 2:]
            with pytest.raises(CheckDigitError) as exc:
                parse(swapped)
            assert exc.value.field == field


@pytest.mark.parametrize(("field", "parse", "new", "length"), KINDS)
def test_wrong_length_and_non_digits(field: str, parse: Parser, new: Callable[[], str], length: int) -> None:
    value = new()
    for bad in (value[:-1], value + "0", value[:3]):
        with pytest.raises(InputError) as exc:
            parse(bad)
        assert exc.value.code == "bad_length" and f"expected {length} digits" in str(exc.value)
        assert exc.value.field == field and not isinstance(exc.value, CheckDigitError)
    for bad in (value[:-1] + "x", "O" + value[1:], value[:4] + "٣" + value[5:], value + "."):
        with pytest.raises(InputError) as exc:
            parse(bad)
        assert "only digits" in str(exc.value) and exc.value.field == field
    for blank in ("", "   ", "- -"):
        with pytest.raises(InputError) as exc:
            parse(blank)
        assert exc.value.code == "missing"
    with pytest.raises(InputError, match="too long"):
        parse("1" * 1000)


@pytest.mark.parametrize(("field", "parse", "new", "length"), KINDS)
def test_spaces_and_dashes_are_accepted(
    field: str, parse: Parser, new: Callable[[], str], length: int
) -> None:
    value = new()
    grouped = format_pin(value)
    assert parse(grouped) == value
    assert parse(" " + " ".join(value) + "\t") == value
    assert parse(value[:3] + " - " + value[3:]) == value


def test_format_pin_groups_of_three() -> None:
    assert format_pin("123456789012345") == "123-456-789-012-345"


def test_pin_field_name_is_the_callers() -> None:
    pin = new_pin()
    bad = pin[:-1] + str((int(pin[-1]) + 1) % 10)
    with pytest.raises(CheckDigitError) as exc:
        parse_pin(bad, "Extra PIN code")
    assert exc.value.field == "Extra PIN code" and str(exc.value).startswith("Extra PIN code:")
