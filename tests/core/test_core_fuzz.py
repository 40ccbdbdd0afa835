"""Every parser meets random and mutated input: it returns a result or raises
LicwizError, never anything else; oversized input is refused before parsing."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from licwiz.core import fingerprint as fp
from licwiz.core import keys
from licwiz.core import license as lic_mod
from licwiz.core import owner as own
from licwiz.core import request as rq
from licwiz.core.errors import LicwizError
from licwiz.core.identifiers import new_pin, new_regnum, parse_pin, parse_regnum
from support.fixtures_core import CORE_PRODUCT, core_license, core_owner

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Built once: hypothesis tests cannot take function-scoped fixtures.
SIGNING_KEY = Ed25519PrivateKey.generate()
RING = keys.Keyring()
RING.add(SIGNING_KEY.public_key())
LICENSE_TEXT = lic_mod.sign(core_license(SIGNING_KEY, issued="2026-11-01"), SIGNING_KEY).text
SEAL_KEY = X25519PrivateKey.generate()
REQUEST = rq.ActivationRequest(
    product=CORE_PRODUCT, regnum=new_regnum(), pin=new_pin(), operation="first", owner=core_owner(),
    params={"machine_id": "ab" * 32}, method="file",
)
REQUEST_TEXT = rq.seal(REQUEST, SEAL_KEY.public_key())
OWNER_TEXT = own.dumps(core_owner())

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)


@st.composite
def mutated(draw: st.DrawFn, sample: str) -> str:
    """``sample`` with a few random edits: flips, deletions, insertions, duplicated slices."""
    text = sample
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        i = draw(st.integers(0, len(text) - 1))
        op = draw(st.sampled_from(["flip", "delete", "insert", "duplicate", "truncate"]))
        if op == "flip":
            text = text[:i] + chr(ord(text[i]) ^ draw(st.sampled_from([1, 2, 32, 64, 128]))) + text[i + 1:]
        elif op == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 10)):]
        elif op == "insert":
            text = text[:i] + draw(st.text(min_size=1, max_size=8)) + text[i:]
        elif op == "duplicate":
            text = text[:i] + text[i:i + 40] + text[i:]
        else:
            text = text[:i]
    return text


def either_result_or_licwiz_error(call: Callable[[], object]) -> None:
    with contextlib.suppress(LicwizError):
        call()


@FUZZ
@given(st.text(max_size=80) | mutated("123-456-789-012-345") | mutated("1234567890"))
def test_identifiers(text: str) -> None:
    for parse in (parse_regnum, parse_pin):
        try:
            value = parse(text)
        except LicwizError:
            continue
        assert value.isdigit()


@FUZZ
@given(st.text(max_size=300) | mutated(LICENSE_TEXT))
def test_license_parse_and_verify(text: str) -> None:
    try:
        got = lic_mod.verify(text, RING)
    except LicwizError:
        either_result_or_licwiz_error(lambda: lic_mod.parse(text))
        return
    assert text == LICENSE_TEXT and got.license_id == "1234567890-001"


@FUZZ
@given(json_values)
def test_license_payload_shapes(doc: Any) -> None:
    line = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    text = f"{lic_mod.BEGIN}\n{line}\nKey-Id: 0\nSignature: {'A' * 86}==\n{lic_mod.END}\n"
    either_result_or_licwiz_error(lambda: lic_mod.verify(text, RING))


@FUZZ
@given(st.data())
def test_license_payload_field_mutations(data: st.DataObject) -> None:
    payload = core_license(SIGNING_KEY).payload()
    name = data.draw(st.sampled_from(sorted(payload)), label="field")
    payload[name] = data.draw(json_values, label="value")
    line = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    kid = payload.get("key_id")
    text = f"{lic_mod.BEGIN}\n{line}\nKey-Id: {kid}\nSignature: {'A' * 86}==\n{lic_mod.END}\n"
    either_result_or_licwiz_error(lambda: lic_mod.verify(text, RING))


@FUZZ
@given(st.text(max_size=300) | mutated(REQUEST_TEXT))
def test_request_unarmour_and_open(text: str) -> None:
    either_result_or_licwiz_error(lambda: rq.armoured_key_id(text))
    try:
        got = rq.open_sealed(text, SEAL_KEY)
    except LicwizError:
        return
    assert got == REQUEST  # only invisible changes (blanks around lines) may pass


@FUZZ
@given(json_values | st.dictionaries(st.sampled_from(sorted(REQUEST.to_dict())), json_values))
def test_activation_request_from_dict(doc: Any) -> None:
    either_result_or_licwiz_error(lambda: rq.ActivationRequest.from_dict(doc))


@FUZZ
@given(st.data())
def test_activation_request_from_dict_field_mutations(data: st.DataObject) -> None:
    doc = json.loads(REQUEST.to_json())
    name = data.draw(st.sampled_from(sorted(doc)))
    doc[name] = data.draw(json_values)
    try:
        req = rq.ActivationRequest.from_dict(doc)
    except LicwizError:
        return
    either_result_or_licwiz_error(req.check)


@FUZZ
@given(st.text(max_size=300) | mutated(OWNER_TEXT) | json_values.map(json.dumps))
def test_owner_loads(text: str) -> None:
    try:
        owner = own.loads(text)
    except LicwizError:
        return
    either_result_or_licwiz_error(owner.validate)
    assert own.loads(own.dumps(owner)) == owner


@FUZZ
@given(st.dictionaries(st.text(max_size=12), st.text(max_size=70)),
       st.dictionaries(st.text(max_size=12), st.text(alphabet="0123456789abcdef", max_size=64)))
def test_fingerprint_matches_never_raises(licensed: dict[str, str], current: dict[str, str]) -> None:
    m = fp.matches(licensed, current)
    assert set(m.matched) | set(m.changed) | set(m.missing) == set(licensed)
    assert set(m.added) == set(current) - set(licensed)


BIG = 20 * 1024 * 1024


@pytest.mark.parametrize(("name", "call"), [
    ("regnum", lambda s: parse_regnum(s)),
    ("pin", lambda s: parse_pin(s)),
    ("license", lambda s: lic_mod.verify(s, RING)),
    ("request", lambda s: rq.open_sealed(s, SEAL_KEY)),
    ("owner", lambda s: own.loads(s)),
])
def test_oversized_input_is_refused_quickly(name: str, call: Callable[[str], object]) -> None:
    for text in ("[" * BIG, "1" * BIG, rq.BEGIN + "\n" + "A" * BIG):
        start = time.perf_counter()
        with pytest.raises(LicwizError):
            call(text)
        # Refused on size, before any parsing: far below what parsing 20 MB would take.
        assert time.perf_counter() - start < 0.25, name


def test_parsing_time_grows_linearly() -> None:
    # Within the size limits, twice the input costs about twice the time, not four times.
    def cost(n: int) -> float:
        text = '{"format":"licwiz-owner-data","version":1,"owner":{"city":"' + "x" * n + '"}}'
        start = time.perf_counter()
        for _ in range(20):
            own.loads(text).errors()
        return time.perf_counter() - start

    small, large = cost(4_000), cost(40_000)
    assert large < small * 40
