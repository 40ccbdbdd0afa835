"""install_license_text (what the file and phone methods end in) and the
status of installed licenses, with licenses signed by the fake center's key."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest
from licwiz.core import acquire
from licwiz.core.errors import LicenseInvalid, SignatureError
from licwiz.core.fingerprint import collect
from licwiz.core.identifiers import new_pin, new_regnum
from licwiz.core.keys import Keyring, load_keyring
from licwiz.core.owner import OwnerData
from licwiz.core.request import ActivationRequest
from licwiz.core.storage import installed_files, license_dir

PRODUCT = "licwiz-demo"


def _req(owner: OwnerData, **kw: Any) -> ActivationRequest:
    base: dict[str, Any] = dict(product=PRODUCT, regnum=new_regnum(), pin=new_pin(), operation="first",
                                owner=owner, params=collect(PRODUCT), method="file")
    base.update(kw)
    return ActivationRequest(**base)


def test_installs_what_was_requested(acq_fake_center: Any, acq_owner: OwnerData) -> None:
    req = _req(acq_owner)
    text = acq_fake_center.license_for(req.to_dict())["license"]
    out = acquire.install_license_text(text, keyring=load_keyring(), product=PRODUCT, params=req.params,
                                       scope="user", expect=req)
    assert out.path == license_dir("user") / f"{req.regnum}-001.lic"
    assert out.issued.license_id == out.license.license_id and out.issued.request_id == ""


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"pin": "pin"}, "another PIN code"),
        ({"owner": "owner"}, "owner data differs"),
        ({"method": "phone"}, "acquisition method"),
        ({"product": "other-product"}, "product"),
    ],
)
def test_expect_refuses_a_license_for_another_request(
    acq_fake_center: Any, acq_owner: OwnerData, change: dict[str, str], why: str
) -> None:
    req = _req(acq_owner)
    text = acq_fake_center.license_for(req.to_dict())["license"]
    values: dict[str, Any] = {
        "pin": new_pin(), "owner": replace(acq_owner, city="Amsterdam"), "method": "phone",
        "product": "other-product",
    }
    other = replace(req, **{k: values[k] for k in change})
    with pytest.raises(LicenseInvalid) as info:
        acquire.install_license_text(text, keyring=load_keyring(), product=PRODUCT, params=req.params,
                                     scope="user", expect=other)
    assert info.value.code == "license_mismatch"
    assert why in info.value.detail
    assert installed_files() == []


def test_untrusted_key_is_refused(acq_fake_center: Any, acq_owner: OwnerData) -> None:
    req = _req(acq_owner)
    text = acq_fake_center.license_for(req.to_dict())["license"]
    with pytest.raises(SignatureError) as info:
        acquire.install_license_text(text, keyring=Keyring(), product=PRODUCT, params=req.params,
                                     scope="user")
    assert info.value.code == "unknown_key"
    assert installed_files() == []


def test_status_dates_and_damage(acq_fake_center: Any, acq_owner: OwnerData) -> None:
    req = _req(acq_owner)
    text = acq_fake_center.license_for(req.to_dict())["license"]
    out = acquire.install_license_text(text, keyring=load_keyring(), product=PRODUCT, params=req.params,
                                       scope="all-users")
    ring = load_keyring()
    today = dt.date.fromisoformat(out.license.issued)
    [ok] = acquire.installed_licenses(ring, PRODUCT, req.params, today=today)
    assert ok.valid and ok.scope == "all-users"
    [early] = acquire.installed_licenses(ring, PRODUCT, req.params, today=today - dt.timedelta(days=1))
    assert not early.valid and early.code == "not_yet_valid" and early.license is not None
    [other] = acquire.installed_licenses(ring, "other-product", req.params, today=today)
    assert not other.valid and other.code == "wrong_product"
    assert out.path is not None
    out.path.write_text(text[:-40])  # truncated on disk
    [broken] = acquire.installed_licenses(ring, PRODUCT, req.params, today=today)
    assert not broken.valid and broken.code == "bad_file" and broken.license is None
    assert broken.to_dict()["license_id"] is None
