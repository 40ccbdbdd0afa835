"""Owner data: validation messages, the canonical form, lossless files."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import unicodedata
from pathlib import Path

import pytest
from licwiz.core import owner as own
from licwiz.core.errors import FileFormatError, InputError
from licwiz.core.owner import OwnerData
from support.fixtures_core import core_owner


def test_complete_data_validates_to_its_canonical_form() -> None:
    o = core_owner()
    assert o.errors() == {}
    assert o.validate() == o.canonical()


@pytest.mark.parametrize("name", ["contact", "email", "country", "city", "address", "organisation"])
def test_required_fields(name: str) -> None:
    o = dataclasses.replace(core_owner(), **{name: "   "})
    errs = o.errors()
    assert errs == {name: f"{own.LABELS[name]}: required"}
    with pytest.raises(InputError) as exc:
        o.validate()
    assert exc.value.field == own.LABELS[name]


def test_person_needs_no_organisation() -> None:
    o = dataclasses.replace(core_owner(), kind="person", organisation="")
    assert o.errors() == {}
    assert "kind" in dataclasses.replace(o, kind="company").errors()


@pytest.mark.parametrize(("name", "value", "message"), [
    ("email", "no-at-sign.example.com", "E-mail: expected an address like name@example.com"),
    ("email", "a@b", "E-mail: expected an address like name@example.com"),
    ("phone", "call me", "Phone: digits, spaces, + ( ) - only, 5 to 30 characters"),
    ("postcode", "1", "Postcode: 2 to 12 letters, digits, spaces or dashes"),
    ("city", "x" * 201, "City: at most 200 characters"),
    ("address", "Main St\x07 1", "Address: contains control characters (U+0007)"),
])
def test_validation_messages_name_the_field(name: str, value: str, message: str) -> None:
    errs = dataclasses.replace(core_owner(), **{name: value}).errors()
    assert errs == {name: message}


def test_all_errors_reported_at_once() -> None:
    errs = OwnerData(kind="organisation", email="bad").errors()
    assert set(errs) == {"organisation", "contact", "email", "country", "city", "address"}


def test_canonical_forgives_only_nfc_trim_and_inner_whitespace() -> None:
    o = core_owner()
    decomposed = unicodedata.normalize("NFD", o.contact)
    assert decomposed != o.contact
    sloppy = dataclasses.replace(o, contact=f"  {decomposed} ", address="Invalidenstraße \t  1\n")
    assert sloppy.canonical() == o.canonical()
    assert sloppy.digest() == o.digest()
    # Case, punctuation and letters are not forgiven.
    for changed in ({"contact": o.contact.upper()}, {"contact": "Zoe Müller"},
                    {"address": "Invalidenstrasse 1"}, {"city": "Berlin."}, {"email": "Zoe@example.com"}):
        assert dataclasses.replace(o, **changed).digest() != o.digest(), changed


def test_digest_depends_on_every_field() -> None:
    o = core_owner()
    digests = {o.digest()}
    for name in OwnerData.field_names():
        if name == "kind":
            digests.add(dataclasses.replace(o, kind="person").digest())
        else:
            digests.add(dataclasses.replace(o, **{name: getattr(o, name) + "x"}).digest())
    assert len(digests) == 1 + len(OwnerData.field_names())


def test_file_round_trip_is_lossless(tmp_path: Path) -> None:
    # Exact values are kept, even the ones the canonical form would fold.
    o = dataclasses.replace(core_owner(), contact="  Zoe\u0308  Müller ", region="", address="Ünter 𝔊 1")
    p = tmp_path / "owner.json"
    own.save_file(p, o)
    assert own.load_file(p) == o
    assert own.loads(own.dumps(o)) == o
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600


def test_oversized_file_refused_before_parsing(tmp_path: Path) -> None:
    p = tmp_path / "big.json"
    p.write_text(" " * (own.MAX_FILE_BYTES + 1) + "{}")
    with pytest.raises(FileFormatError, match="too large"):
        own.load_file(p)
    with pytest.raises(FileFormatError, match="too large"):
        own.loads("[" * (own.MAX_FILE_BYTES + 1))


@pytest.mark.parametrize(("text", "message"), [
    ("not json", "not valid JSON"),
    ('{"format": "something-else", "version": 1, "owner": {}}', "format marker missing"),
    ('{"format": "licwiz-owner-data", "version": 2, "owner": {}}', "unsupported owner-data file version"),
    ('{"format": "licwiz-owner-data", "version": 1, "owner": []}', "expected an object"),
    ('{"format": "licwiz-owner-data", "version": 1, "owner": {"city": 5}}', "must be text"),
    ('{"format": "licwiz-owner-data", "version": 1, "owner": {"shoe_size": "9"}}', "unknown field"),
])
def test_malformed_files(text: str, message: str) -> None:
    with pytest.raises(FileFormatError, match=message):
        own.loads(text, "owner.json")


def test_non_utf8_file(tmp_path: Path) -> None:
    p = tmp_path / "latin1.json"
    p.write_bytes(json.dumps({"x": "é"}).encode("utf-16"))
    with pytest.raises(FileFormatError, match="UTF-8"):
        own.load_file(p)
    with pytest.raises(FileFormatError, match="cannot read"):
        own.load_file(tmp_path / "missing.json")
