"""Sealed request files: round trip, wrong key, truncation, bit flips, size limit."""

from __future__ import annotations

import base64
import dataclasses
import random

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from licwiz.core import request as rq
from licwiz.core.errors import FileFormatError, InputError, LicwizError, SealError
from licwiz.core.identifiers import new_pin, new_regnum
from support.fixtures_core import CORE_PRODUCT, core_owner


def make_request(**changes: object) -> rq.ActivationRequest:
    fields: dict[str, object] = {
        "product": CORE_PRODUCT, "regnum": new_regnum(), "pin": new_pin(), "operation": "first",
        "owner": core_owner(), "params": {"machine_id": "ab" * 32, "cpu": "cd" * 32}, "method": "file",
    }
    fields.update(changes)
    return rq.ActivationRequest(**fields)  # type: ignore[arg-type]


def test_seal_and_open(core_sealing_key: X25519PrivateKey) -> None:
    req = make_request()
    text = rq.seal(req, core_sealing_key.public_key())
    assert req.pin not in text and "example.com" not in text  # nothing readable in the armour
    assert all(len(line) <= 64 for line in text.splitlines()[2:-1])
    assert rq.open_sealed(text, core_sealing_key) == req
    # Survives e-mail clients that re-indent or add CRLF and trailing blanks.
    mangled = "\r\n".join("  " + line + " " for line in text.splitlines()) + "\r\n\r\n"
    assert rq.open_sealed(mangled, core_sealing_key) == req
    assert rq.armoured_key_id(text) == text.splitlines()[1].removeprefix("Key-Id: ")


def test_each_seal_is_different(core_sealing_key: X25519PrivateKey) -> None:
    req = make_request()
    assert rq.seal(req, core_sealing_key.public_key()) != rq.seal(req, core_sealing_key.public_key())


def test_wrong_key(core_sealing_key: X25519PrivateKey) -> None:
    text = rq.seal(make_request(), core_sealing_key.public_key())
    with pytest.raises(SealError) as exc:
        rq.open_sealed(text, X25519PrivateKey.generate())
    assert exc.value.code == "wrong_key"
    # Key-Id line rewritten to the other key's id: the HPKE open still fails.
    other = X25519PrivateKey.generate()
    lines = text.splitlines()
    lines[1] = f"Key-Id: {rq.key_id(other.public_key())}"
    with pytest.raises(SealError) as exc:
        rq.open_sealed("\n".join(lines) + "\n", other)
    assert exc.value.code == "bad_seal"


def test_truncated_everywhere(core_sealing_key: X25519PrivateKey) -> None:
    text = rq.seal(make_request(), core_sealing_key.public_key())
    end = len(text.rstrip("\n"))
    for cut in range(0, end, 7):
        with pytest.raises((FileFormatError, SealError)):
            rq.open_sealed(text[:cut], core_sealing_key)
    # Whole body lines dropped (a paste that lost a line) with the end line intact.
    lines = text.splitlines()
    for i in range(2, len(lines) - 1):
        with pytest.raises((FileFormatError, SealError)):
            rq.open_sealed("\n".join(lines[:i] + lines[i + 1:]), core_sealing_key)


def test_bit_flips_in_a_sample(core_sealing_key: X25519PrivateKey) -> None:
    text = rq.seal(make_request(), core_sealing_key.public_key())
    raw = text.encode()
    rng = random.Random(5)
    positions = rng.sample(range(len(raw)), 250)
    for pos in positions:
        for bit in (0, 3, 5):
            damaged = bytearray(raw)
            damaged[pos] ^= 1 << bit
            candidate = damaged.decode("latin-1")
            try:
                got = rq.open_sealed(candidate, core_sealing_key)
            except LicwizError:
                continue
            # Only changes invisible to base64 decoding may pass (e.g. case of a
            # line break, blanks stripped); then the content must be untouched.
            assert got == rq.open_sealed(text, core_sealing_key), (pos, bit)


def test_every_ciphertext_bit_flip(core_sealing_key: X25519PrivateKey) -> None:
    text = rq.seal(make_request(), core_sealing_key.public_key())
    lines = text.splitlines()
    blob = base64.b64decode("".join(lines[2:-1]))
    for i in range(0, len(blob) * 8, 3):
        damaged = bytearray(blob)
        damaged[i // 8] ^= 1 << (i % 8)
        b64 = base64.b64encode(bytes(damaged)).decode()
        with pytest.raises(SealError):
            rq.open_sealed(f"{lines[0]}\n{lines[1]}\n{b64}\n{lines[-1]}\n", core_sealing_key)


def test_oversized_refused(core_sealing_key: X25519PrivateKey) -> None:
    with pytest.raises(FileFormatError, match="too large"):
        rq.open_sealed(rq.BEGIN + "\n" + "A" * rq.MAX_FILE_BYTES, core_sealing_key)


@pytest.mark.parametrize(("text", "message"), [
    ("", "header missing"),
    ("hello", "header missing"),
    (f"{rq.BEGIN}\nKey-Id: 1\nAAAA\n", "end line missing"),
    (f"{rq.BEGIN}\nAAAA\n{rq.END}", "Key-Id line missing"),
    (f"{rq.BEGIN}\nKey-Id: 1\n!!!!\n{rq.END}", "not base64"),
])
def test_malformed_armour(core_sealing_key: X25519PrivateKey, text: str, message: str) -> None:
    with pytest.raises(FileFormatError, match=message):
        rq.open_sealed(text, core_sealing_key)


def test_check_names_the_field() -> None:
    make_request().check()
    pin = new_pin()
    cases = [
        (make_request(regnum="123"), "Registration number"),
        (make_request(operation="recover", pin="1" * 15), "Last used PIN code"),
        (make_request(operation="update", extra_pin=None), "Extra PIN code"),
        (make_request(operation="update", pin=pin, extra_pin=pin), "Extra PIN code"),
        (make_request(operation="steal"), "Operation"),
        (make_request(owner=dataclasses.replace(core_owner(), email="x")), "E-mail"),
    ]
    for req, field in cases:
        with pytest.raises(InputError) as exc:
            req.check()
        assert exc.value.field == field, (req.operation, exc.value)


def test_from_dict_refuses_wrong_shapes() -> None:
    good = make_request().to_dict()
    for key, value in [("pin", 5), ("params", {"a": 1}), ("params", []), ("extra_pin", 3), ("owner", "x")]:
        with pytest.raises(FileFormatError):
            rq.ActivationRequest.from_dict({**good, key: value})
    with pytest.raises(FileFormatError):
        rq.ActivationRequest.from_dict([good])
    assert rq.ActivationRequest.from_dict(good) == rq.ActivationRequest.from_dict(good)


def test_deeply_nested_sealed_content_is_a_format_error(core_sealing_key: X25519PrivateKey) -> None:
    # Anyone holding the center's public key can seal any bytes; nesting deep
    # enough to exhaust the JSON parser's recursion must still be a clean refusal.
    pub = core_sealing_key.public_key()
    blob = rq._SUITE.encrypt(b"[" * 5_000 + b"]" * 5_000, pub, info=rq._INFO)
    b64 = base64.b64encode(blob).decode("ascii")
    body = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    text = f"{rq.BEGIN}\nKey-Id: {rq.key_id(pub)}\n{body}\n{rq.END}\n"
    with pytest.raises(FileFormatError, match="not JSON"):
        rq.open_sealed(text, core_sealing_key)
