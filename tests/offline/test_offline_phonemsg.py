"""Phone request and response codes: lengths, round trips, rebuilding the signed license."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from licwiz.core import license as lic_mod
from licwiz.core import phonecodes, phonemsg
from licwiz.core.acquire import expected_pin_digest
from licwiz.core.damm import check_digit
from licwiz.core.errors import LicwizError, PhoneCodeError, SignatureError
from licwiz.core.fingerprint import PARAMETERS, digest
from licwiz.core.identifiers import new_pin, new_regnum
from licwiz.core.keys import Keyring, key_id
from licwiz.core.request import ActivationRequest
from support import owners

PRODUCT = "licwiz-demo"
OWNER = owners.UNICODE_ORGANISATION
FULL_PARAMS = {n: digest(PRODUCT, n, f"value-{n}") for n in PARAMETERS}


def _req(operation: str = "first", params: dict[str, str] | None = None, **kw: object) -> ActivationRequest:
    fields: dict[str, object] = {
        "product": PRODUCT, "regnum": "001234567" + check_digit("001234567"),  # leading zeros survive
        "pin": new_pin(), "operation": operation,
        "owner": OWNER, "params": FULL_PARAMS if params is None else params, "method": "phone",
        "extra_pin": new_pin() if operation == "update" else None,
    }
    fields.update(kw)
    return ActivationRequest(**fields)  # type: ignore[arg-type]


def _center_license(
    req: ActivationRequest, key: Ed25519PrivateKey, **changes: object
) -> lic_mod.SignedLicense:
    """What the center makes for a phone request (as it would store params: as given)."""
    fields: dict[str, object] = {
        "license_id": f"{req.regnum}-004", "product": req.product, "regnum": req.regnum, "users": 20,
        "owner_digest": req.owner.digest(), "params": phonemsg.short_params(req.params),
        "method": "phone", "pin_digest": expected_pin_digest(req),
        "issued": dt.date.today().isoformat(), "key_id": key_id(key.public_key()),
    }
    fields.update(changes)
    return lic_mod.sign(lic_mod.License(**fields), key)  # type: ignore[arg-type]


def _ring(*keys: Ed25519PrivateKey) -> Keyring:
    ring = Keyring()
    for k in keys:
        ring.add(k.public_key())
    return ring


def test_offline_phonemsg_lengths_within_targets() -> None:
    got = phonemsg.lengths()
    assert got["request_first"] <= 120 and got["request_update"] <= 120
    assert got["response"] <= 200
    assert sum(map(len, phonemsg.request_rows(_req("first")))) == got["request_first"]
    assert sum(map(len, phonemsg.request_rows(_req("update")))) == got["request_update"]
    key = Ed25519PrivateKey.generate()
    signed = _center_license(_req(), key)
    rows = phonemsg.response_rows(signed.license, signed.signature)
    assert sum(map(len, rows)) == got["response"]


@pytest.mark.parametrize("operation", ["first", "recover", "update"])
@pytest.mark.parametrize("nparams", [0, 1, 3, 7])
def test_offline_phonemsg_request_round_trip(operation: str, nparams: int) -> None:
    params = dict(list(FULL_PARAMS.items())[:nparams])
    req = _req(operation, params)
    got = phonemsg.decode_request(phonemsg.request_rows(req))
    assert got.operation == operation
    assert got.regnum == req.regnum and got.pin == req.pin and got.extra_pin == req.extra_pin
    assert got.params == {n: v[:4] for n, v in params.items()}
    assert got.owner_matches(OWNER)
    assert not got.owner_matches(dataclasses.replace(OWNER, city="Bérlin"))
    assert got.owner_matches(dataclasses.replace(OWNER, city="  Berlin "))  # canonical form
    assert got.pick_product(["other", PRODUCT]) == PRODUCT
    with pytest.raises(LicwizError) as info:
        got.pick_product(["other"])
    assert info.value.code == "wrong_product"
    act = got.activation_request(PRODUCT, OWNER)
    assert act.method == "phone" and act.params == got.params
    act.check()


def test_offline_phonemsg_typo_in_request_named() -> None:
    rows = phonemsg.request_rows(_req("update"))
    bad = list(rows)
    bad[2] = bad[2][:5] + str((int(bad[2][5]) + 1) % 10) + bad[2][6:]
    with pytest.raises(PhoneCodeError) as info:
        phonemsg.decode_request(bad)
    assert info.value.rows == [3] and "row 3" in info.value.brief


def test_offline_phonemsg_request_of_response_refused() -> None:
    key = Ed25519PrivateKey.generate()
    signed = _center_license(_req(), key)
    with pytest.raises(PhoneCodeError):
        phonemsg.decode_request(phonemsg.response_rows(signed.license, signed.signature))
    with pytest.raises(PhoneCodeError):
        phonemsg.decode_response(phonemsg.request_rows(_req()))


@pytest.mark.parametrize("operation", ["first", "recover", "update"])
def test_offline_phonemsg_response_rebuilds_exact_license(operation: str) -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    req = _req(operation)
    changes: dict[str, object] = {}
    if operation == "update":
        changes["supersedes"] = f"{req.regnum}-003"
    if operation == "recover":
        changes["issued"] = "2024-02-29"
        changes["not_after"] = "2030-12-31"
        changes["users"] = 10000
    signed = _center_license(req, key, **changes)
    rows = phonemsg.response_rows(signed.license, signed.signature)
    resp = phonemsg.decode_response([phonecodes.format_row(r) for r in rows])
    lic, text = phonemsg.rebuild_license(resp, req, _ring(other, key))
    assert text == signed.text
    assert lic == signed.license
    lic_mod.verify(text, _ring(key), product=PRODUCT, today=dt.date.fromisoformat(lic.issued))


def test_offline_phonemsg_response_for_other_owner_or_computer_refused() -> None:
    key = Ed25519PrivateKey.generate()
    req = _req()
    signed = _center_license(req, key)
    resp = phonemsg.decode_response(phonemsg.response_rows(signed.license, signed.signature))
    for wrong in (
        dataclasses.replace(req, owner=dataclasses.replace(OWNER, contact="Zoe Muller")),
        dataclasses.replace(req, params={**FULL_PARAMS, "cpu": "ffff" + "0" * 60}),
        dataclasses.replace(req, pin=new_pin()),
        dataclasses.replace(req, regnum=new_regnum()),
    ):
        with pytest.raises(SignatureError) as info:
            phonemsg.rebuild_license(resp, wrong, _ring(key))
        assert info.value.code == "response_mismatch"
    with pytest.raises(SignatureError) as info:
        phonemsg.rebuild_license(resp, req, _ring(Ed25519PrivateKey.generate()))
    assert info.value.code in ("unknown_key", "response_mismatch")


def test_offline_phonemsg_response_refuses_unphoneable_license() -> None:
    key = Ed25519PrivateKey.generate()
    req = _req()
    for changes in (
        {"method": "online"},
        {"params": FULL_PARAMS},
        {"license_id": f"{req.regnum}-1024"},
        {"users": 20000},
        {"not_after": "2099-01-01"},
        {"extra": {"feature": "x"}},
    ):
        signed = _center_license(req, key, **changes)
        with pytest.raises(ValueError):
            phonemsg.encode_response(signed.license, signed.signature)


@given(st.binary(max_size=120))
@settings(max_examples=300, deadline=None)
def test_offline_phonemsg_fuzz_decoders(data: bytes) -> None:
    for fn in (phonemsg.decode_request_bytes, phonemsg.decode_response_bytes):
        with contextlib.suppress(LicwizError):
            fn(data)
