"""Issue 11 point 2: every text field is valid, encodable Unicode without
control or format characters, or it is refused as bad input naming the field:
400 ``bad_request`` from a real center on /check, /activate, /requests and the
web upload (never 500), exit 2 from ``licwiz acquire`` and ``licwiz request``,
a field error from ``OwnerData.errors()`` (what the wizard shows)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from licwiz.core.identifiers import new_pin, new_regnum
from licwiz.core.keys import load_public
from licwiz.core.owner import LABELS, OwnerData
from licwiz.core.request import ActivationRequest, seal
from support import owners

OWNER = owners.ORGANISATION
PARAMS = {"machine_id": "a1" * 32, "cpu": "b2" * 32, "mac": "c3" * 32, "root_fs": "d4" * 32, "os": "e5" * 32}

# A lone surrogate (from a JSON "\ud800" escape), terminal control, a bidi override.
BAD = {"surrogate": "\ud800", "escape": "\x1b[2J", "bidi": "\u202e"}
FIELDS = [n for n in OwnerData.field_names() if n != "kind"]


def spoiled(field: str, bad: str) -> OwnerData:
    value: str = getattr(OWNER, field)
    return replace(OWNER, **{field: value[:2] + bad + value[2:]})


def names_field(text: str, field: str) -> bool:
    return f"owner.{field}" in text or LABELS[field] in text


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("field", OwnerData.field_names())
def test_owner_errors_name_the_field(field: str, bad: str) -> None:
    errs = spoiled(field, BAD[bad]).errors() if field != "kind" else replace(
        OWNER, kind="organisation" + BAD[bad]).errors()
    assert field in errs and LABELS[field] in errs[field]


def test_whitespace_the_canonical_form_folds_is_still_forgiven() -> None:
    assert replace(OWNER, address="1 Park Row\n\tLeeds").errors() == {}


def _raw(doc: dict[str, Any]) -> bytes:
    # ensure_ascii: a surrogate travels as the JSON escape "\ud800", as an attacker sends it
    return json.dumps(doc).encode("ascii")


def test_center_refuses_bad_text_in_every_owner_field_with_400(center: Any) -> None:
    kit = center.create_kit(users=1, pins=2)
    sealing = load_public(httpx.get(f"{center.url}/api/v1/keys", timeout=30).json()["sealing"][0]["pem"])
    seen = 0
    with httpx.Client(base_url=center.url, timeout=30) as http:
        for field in FIELDS:
            for bad in BAD.values():
                req = ActivationRequest(kit.product, kit.regnum, kit.single_pins[0], "first",
                                        spoiled(field, bad), dict(PARAMS))
                for path in ("/api/v1/check", "/api/v1/activate"):
                    r = http.post(path, content=_raw(req.to_dict()),
                                  headers={"content-type": "application/json"})
                    assert r.status_code == 400, (path, field, repr(bad), r.text)
                    err = r.json()["error"]
                    assert err["code"] == "bad_request", err
                    assert names_field(err["detail"] + err["brief"], field), err
                    seen += 1
                text = seal(replace(req, method="file"), sealing)  # type: ignore[arg-type]
                r = http.post("/api/v1/requests", json={"request": text})
                assert r.status_code == 400, (field, repr(bad), r.text)
                err = r.json()["error"]
                assert names_field(err["detail"] + err["brief"], field), err
                page = http.post("/", files={"request_file": ("req.txt", text.encode())})
                assert page.status_code == 400, (field, repr(bad), page.status_code)
                assert names_field(page.text, field), page.text[-2000:]
                seen += 2
    assert seen == len(FIELDS) * len(BAD) * 4
    # nothing was spent: the PIN still activates
    good = ActivationRequest(kit.product, kit.regnum, kit.single_pins[0], "first", OWNER, dict(PARAMS))
    r = httpx.post(f"{center.url}/api/v1/activate", content=_raw(good.to_dict()),
                   headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 200, r.text


def test_center_refuses_bad_text_in_other_request_fields(center: Any) -> None:
    kit = center.create_kit(users=1, pins=1)
    base = ActivationRequest(kit.product, kit.regnum, kit.single_pins[0], "first", OWNER,
                             dict(PARAMS)).to_dict()
    cases = [("nonce", {"nonce": "ab\ud800"}), ("client_version", {"client_version": "1\x1b]0;x\x07"}),
             ("created", {"created": "2024\u202e"}), ("params.cpu", {"params": {**PARAMS, "cpu": "\ud800"}}),
             ("params", {"params": {**PARAMS, "c\u202epu": "ab"}})]
    for name, change in cases:
        r = httpx.post(f"{center.url}/api/v1/activate", content=_raw({**base, **change}),
                       headers={"content-type": "application/json"}, timeout=30)
        assert r.status_code == 400, (name, r.text)
        assert r.json()["error"]["code"] == "bad_request"
        assert f"'{name}'" in r.json()["error"]["detail"] or name in r.json()["error"]["detail"]
        assert "\x1b" not in r.text


def _owner_file(tmp_path: Path, field: str, bad: str) -> Path:
    doc = {"format": "licwiz-owner-data", "version": 1, "owner": spoiled(field, bad).to_dict()}
    path = tmp_path / f"owner-{field}.json"
    path.write_bytes(_raw(doc))
    return path


@pytest.mark.parametrize("bad", BAD)
def test_cli_exits_2_naming_the_field(bad: str, tmp_path: Path) -> None:
    for field in ("contact", "address", "email"):
        owner_file = _owner_file(tmp_path, field, BAD[bad])
        common = ["--kit", new_regnum(), "--pin", new_pin(), "--owner-file", str(owner_file),
                  "--operation", "first"]
        for args in (["acquire", *common, "--scope", "user", "--center", "http://127.0.0.1:9"],
                     ["request", *common, "--out", str(tmp_path / "req.txt")]):
            r = subprocess.run([sys.executable, "-m", "licwiz.cli", *args], capture_output=True,
                               text=True, timeout=60)
            assert r.returncode == 2, (args[0], field, r.stderr)
            assert LABELS[field] in r.stderr, r.stderr
            assert "Traceback" not in r.stderr and "\x1b" not in r.stderr
