"""Phone codes: exhaustive error detection and exact byte round trips."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from licwiz.core import damm, phonecodes
from licwiz.core.errors import LicwizError, PhoneCodeError


def _bytes(n: int, seed: str) -> bytes:
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest()
        i += 1
    return out[:n]


# Several messages: empty, tiny, leading zero bytes, the request and response
# sizes of core/phonemsg.py, and one longer than the swap guarantee.
MESSAGES = [
    b"",
    b"\x00",
    b"\x00\x00\x00\x07",
    _bytes(30, "request"),
    b"\x00" * 5 + _bytes(31, "request-update"),
    _bytes(72, "response"),
    _bytes(73, "response-max"),
    b"\xff" * 64,
]
LONG = _bytes(120, "long")  # 13 rows: beyond the 10-row swap guarantee


def _ids(m: bytes) -> str:
    return f"{len(m)}B-{m[:2].hex()}"


@pytest.mark.parametrize("data", [*MESSAGES, LONG], ids=_ids)
def test_offline_phonecodes_round_trip_and_shape(data: bytes) -> None:
    rows = phonecodes.encode(data)
    assert phonecodes.decode(rows) == data
    assert len({len(r) for r in rows}) == 1
    assert all(r.isdigit() and len(r) == phonecodes.DEFAULT_WIDTH + 1 for r in rows)
    assert all(phonecodes.check_row(i + 1, r) for i, r in enumerate(rows))
    assert len(rows) == phonecodes.row_count(len(data))
    # What people type: groups, dashes, stray spaces.
    typed = [f" {phonecodes.format_row(r)} ".replace(" ", "-", 2) for r in rows]
    assert phonecodes.decode(typed) == data


def test_offline_phonecodes_leading_zero_bytes_exact() -> None:
    for n in range(0, 80):
        for data in (b"\x00" * n, b"\x00" * n + b"\x01", b"\x01" + b"\x00" * n, b"\xff" * n):
            assert phonecodes.decode(phonecodes.encode(data)) == data


@pytest.mark.parametrize("width", [4, 7, 12, 20, 29, 60])
def test_offline_phonecodes_other_widths(width: int) -> None:
    for data in (b"", b"\x00\x00", _bytes(40, "w")):
        rows = phonecodes.encode(data, width=width)
        assert all(len(r) == width + 1 for r in rows)
        assert phonecodes.decode(rows) == data


def _expect_rows(rows: list[str], named: list[int]) -> None:
    with pytest.raises(PhoneCodeError) as info:
        phonecodes.decode(rows)
    assert info.value.rows == named
    assert info.value.brief
    for n in named:
        assert str(n) in info.value.brief


@pytest.mark.parametrize("data", [*MESSAGES, LONG], ids=_ids)
def test_offline_phonecodes_every_substitution_named(data: bytes) -> None:
    rows = phonecodes.encode(data)
    for r, row in enumerate(rows):
        for pos in range(len(row)):
            for d in "0123456789":
                if d == row[pos]:
                    continue
                bad = row[:pos] + d + row[pos + 1 :]
                assert not phonecodes.check_row(r + 1, bad)
                _expect_rows([*rows[:r], bad, *rows[r + 1:]], [r + 1])


@pytest.mark.parametrize("data", [*MESSAGES, LONG], ids=_ids)
def test_offline_phonecodes_every_adjacent_transposition_named(data: bytes) -> None:
    rows = phonecodes.encode(data)
    tried = 0
    for r, row in enumerate(rows):
        for pos in range(len(row) - 1):
            if row[pos] == row[pos + 1]:
                continue  # swapping equal digits changes nothing
            bad = row[:pos] + row[pos + 1] + row[pos] + row[pos + 2 :]
            assert not phonecodes.check_row(r + 1, bad)
            _expect_rows([*rows[:r], bad, *rows[r + 1:]], [r + 1])
            tried += 1
    assert tried > 0


@pytest.mark.parametrize("data", MESSAGES, ids=_ids)
def test_offline_phonecodes_every_row_swap_named(data: bytes) -> None:
    rows = phonecodes.encode(data)
    assert len(rows) <= phonecodes.SWAP_GUARANTEE_ROWS
    for i, j in itertools.combinations(range(len(rows)), 2):
        if rows[i] == rows[j]:
            continue
        swapped = list(rows)
        swapped[i], swapped[j] = swapped[j], swapped[i]
        _expect_rows(swapped, [i + 1, j + 1])


def test_offline_phonecodes_swaps_in_long_message_detected() -> None:
    rows = phonecodes.encode(LONG)
    assert len(rows) > phonecodes.SWAP_GUARANTEE_ROWS
    for i, j in itertools.combinations(range(len(rows)), 2):
        swapped = list(rows)
        swapped[i], swapped[j] = swapped[j], swapped[i]
        with pytest.raises(PhoneCodeError) as info:
            phonecodes.decode(swapped)
        if (j - i) % 10:
            assert info.value.rows == [i + 1, j + 1]  # caught by the rows' own check digits
        else:
            assert info.value.rows  # caught by the message check: every row to re-read


@pytest.mark.parametrize("data", [*MESSAGES, LONG], ids=_ids)
def test_offline_phonecodes_missing_row_detected(data: bytes) -> None:
    rows = phonecodes.encode(data)
    for r in range(len(rows)):
        with pytest.raises(PhoneCodeError) as info:
            phonecodes.decode(rows[:r] + rows[r + 1 :])
        if len(rows) == 1:
            assert info.value.brief == "No rows were entered"
        elif r == len(rows) - 1:
            assert f"{len(rows)} rows expected" in info.value.brief
            assert f"row {len(rows)} missing" in info.value.brief
        else:
            # Every row after the gap now sits one place too early.
            assert info.value.rows[0] == r + 1


@pytest.mark.parametrize("data", [*MESSAGES, LONG], ids=_ids)
def test_offline_phonecodes_extra_row_detected(data: bytes) -> None:
    rows = phonecodes.encode(data)
    # A genuine row of another message, appended with a correct check digit for its place.
    stranger = phonecodes.encode(_bytes(10, "x"))[0][:-1]
    appended = stranger + phonecodes._row_check(len(rows) + 1, stranger)
    _expect_rows([*rows, appended], [len(rows) + 1])
    for r in range(len(rows)):  # a row read twice
        with pytest.raises(PhoneCodeError) as info:
            phonecodes.decode([*rows[:r + 1], rows[r], *rows[r + 1:]])
        assert info.value.rows and info.value.rows[0] == r + 2


def test_offline_phonecodes_wrong_length_row_named() -> None:
    rows = phonecodes.encode(_bytes(72, "len"))
    _expect_rows([*rows[:3], rows[3][:-2], *rows[4:]], [4])
    _expect_rows([*rows[:3], rows[3] + "5", *rows[4:]], [4])
    _expect_rows([*rows[:3], rows[3][:5] + "x" + rows[3][6:], *rows[4:]], [4])


def test_offline_phonecodes_header_garbage() -> None:
    # A well-checked first row that claims an absurd length.
    body = "9999999999" + "0" * 10
    row = body + phonecodes._row_check(1, body)
    with pytest.raises(PhoneCodeError) as info:
        phonecodes.decode([row])
    assert info.value.rows == [1]
    with pytest.raises(PhoneCodeError):
        phonecodes.decode([])


def test_offline_phonecodes_check_row_matches_damm() -> None:
    row = phonecodes.encode(b"abc")[0]
    assert damm.is_valid("1" + row)
    assert phonecodes.check_row(1, row) and phonecodes.check_row(11, row)
    assert not phonecodes.check_row(2, row)
    assert phonecodes.check_row(1, phonecodes.format_row(row))
    assert not phonecodes.check_row(1, "")
    assert not phonecodes.check_row(1, "１２３")  # full-width digits are not ASCII digits


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_offline_phonecodes_fuzz_round_trip(data: bytes) -> None:
    assert phonecodes.decode(phonecodes.encode(data)) == data


@given(st.lists(st.text(max_size=40), max_size=15))
@settings(max_examples=300, deadline=None)
def test_offline_phonecodes_fuzz_decode_random(rows: list[str]) -> None:
    try:
        out = phonecodes.decode(rows)
    except LicwizError:
        return
    assert isinstance(out, bytes)


@given(st.binary(max_size=80), st.data())
@settings(max_examples=300, deadline=None)
def test_offline_phonecodes_fuzz_decode_mutated(data: bytes, draw: st.DataObject) -> None:
    rows = phonecodes.encode(data)
    i = draw.draw(st.integers(0, len(rows) - 1))
    pos = draw.draw(st.integers(0, len(rows[i])))
    junk = draw.draw(st.text(alphabet="0123456789 -x", max_size=3))
    cut = draw.draw(st.integers(0, 2))
    rows[i] = rows[i][:pos] + junk + rows[i][pos + cut :]
    try:
        out = phonecodes.decode(rows)
    except LicwizError:
        return
    assert isinstance(out, bytes)


@given(st.integers(-5, 30), st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_offline_phonecodes_fuzz_check_row(row_no: int, text: str) -> None:
    assert phonecodes.check_row(row_no, text) in (True, False)


def test_offline_phonecodes_huge_input_is_refused_quickly() -> None:
    with pytest.raises(PhoneCodeError):
        phonecodes.decode(["1" * 100_000])
    with pytest.raises(PhoneCodeError):
        phonecodes.decode(["12345"] * 5000)
