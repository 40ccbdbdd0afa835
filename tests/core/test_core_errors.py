"""The error hierarchy: codes are a public contract (scripts and the center's API match them)."""

from __future__ import annotations

import inspect

import pytest
from licwiz.core import errors
from licwiz.core.errors import LicwizError

STABLE_CODES = {
    "LicwizError": "error",
    "InputError": "bad_input",
    "CheckDigitError": "check_digit",
    "FileFormatError": "bad_file",
    "SignatureError": "bad_signature",
    "LicenseInvalid": "license_invalid",
    "SealError": "bad_seal",
    "PhoneCodeError": "phone_code",
    "StorageError": "storage",
    "NotWritable": "not_writable",
    "SeatError": "no_seat",
    "CenterError": "center",
}


def all_error_classes() -> dict[str, type[LicwizError]]:
    return {name: cls for name, cls in vars(errors).items()
            if inspect.isclass(cls) and issubclass(cls, LicwizError)}


def test_codes_are_stable() -> None:
    # A renamed code or class breaks clients; new classes may come, with codes of their own.
    found = {name: cls.code for name, cls in all_error_classes().items()}
    assert {name: found.get(name) for name in STABLE_CODES} == STABLE_CODES
    new = [code for name, code in found.items() if name not in STABLE_CODES]
    assert len(set(found.values())) == len(found), "two error classes share a code"
    assert all(code and code.islower() for code in new)


def test_one_hierarchy() -> None:
    for cls in all_error_classes().values():
        assert issubclass(cls, Exception) and issubclass(cls, LicwizError)
    assert issubclass(errors.CheckDigitError, errors.InputError)
    assert issubclass(errors.NotWritable, errors.StorageError)


def test_brief_detail_and_dict() -> None:
    e = LicwizError("short", "long text for support")
    assert str(e) == "short" and e.detail == "long text for support"
    assert e.as_dict() == {"code": "error", "brief": "short", "detail": "long text for support"}
    assert LicwizError("only brief").detail == "only brief"
    assert LicwizError("x", code="custom").code == "custom" and LicwizError("y").code == "error"


@pytest.mark.parametrize(("err", "extra"), [
    (errors.InputError("PIN code", "PIN code: bad"), {"field": "PIN code"}),
    (errors.PhoneCodeError("rows wrong", [2, 5]), {"rows": [2, 5]}),
    (errors.CenterError("pin_used", "used", status=409, request_id="r1"),
     {"status": 409, "request_id": "r1"}),
])
def test_subclass_fields_in_dict(err: LicwizError, extra: dict[str, object]) -> None:
    d = err.as_dict()
    assert {k: d[k] for k in extra} == extra
    assert d["brief"] == err.brief and d["code"] == err.code


def test_file_format_error_names_the_path() -> None:
    e = errors.FileFormatError("/tmp/x.lic", "truncated")
    assert str(e) == "/tmp/x.lic: truncated" and e.path == "/tmp/x.lic"
    assert errors.CenterError("pin_used", "b").code == "pin_used"
    assert errors.SeatError("busy", holders=[{"user": "a"}]).holders == [{"user": "a"}]
