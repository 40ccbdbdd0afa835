"""The demo's kits (issue 14.14): a --folder rerun reuses the folder's kits
instead of making two new ones, their PINs are kept in a 0600 file in the
folder when they are made (the center shows PINs only then), spent PINs are
marked from the center's states, and the notes (panel and F2) list every kit
of the folder. Against the real embedded center the demo runs."""

from __future__ import annotations

import contextlib
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from licwiz.center.embedded import EmbeddedCenter
from licwiz.cli.demo import KITS_FILE, DemoKit, demo_kits, demo_notes
from licwiz.core.errors import LicwizError
from licwiz.core.fingerprint import collect
from licwiz.core.identifiers import format_pin
from licwiz.core.owner import OwnerData
from licwiz.core.request import ActivationRequest

PRODUCT = "licwiz-demo"
OWNER = OwnerData(kind="person", contact="Jane Roe", email="jane.roe@example.com", phone="+31 30 123 4567",
                  country="Netherlands", postcode="3511 AB", region="Utrecht", city="Utrecht",
                  address="Oudegracht 1")


@contextlib.contextmanager
def demo_center(folder: Path) -> Iterator[EmbeddedCenter]:
    """The demo's center in its folder, as a run of ``licwiz demo --folder`` starts it."""
    folder.mkdir(parents=True, exist_ok=True)
    with EmbeddedCenter(folder / "center") as center:
        yield center


def spend(center: EmbeddedCenter, kit: DemoKit, pin: str) -> None:
    """A first-time registration with ``pin``: the center spends it."""
    assert center.service is not None
    req = ActivationRequest(product=PRODUCT, regnum=kit.regnum, pin=pin, operation="first", owner=OWNER,
                            params=collect(PRODUCT))
    center.call(center.service.activate(req, request_id="test"))


def test_a_rerun_reuses_the_folders_kits_and_marks_spent_pins(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    with demo_center(folder) as center:
        first = demo_kits(center, folder, PRODUCT)
        assert [k.users for k in first] == [1, 5]
        pin_file = folder / KITS_FILE
        assert stat.S_IMODE(pin_file.stat().st_mode) == 0o600
        kept = json.loads(pin_file.read_text())["kits"]
        assert {k["regnum"] for k in kept} == {k.regnum for k in first}
        single, multi = first
        spend(center, single, single.single_pins[0])
        spend(center, multi, multi.multi_pins[1])

    with demo_center(folder) as center:  # the rerun: a new process, the same folder
        again = demo_kits(center, folder, PRODUCT)
        notes = demo_notes(center.url, again, folder)
    assert [k.regnum for k in again] == [k.regnum for k in first], "a rerun made new kits"
    assert f" {format_pin(single.single_pins[0])} spent" in notes.splitlines()
    assert f" {format_pin(single.single_pins[1])}" in notes.splitlines()
    assert f" {format_pin(multi.multi_pins[1])} spent" in notes.splitlines()
    # The 5-user kit now uses its multi-user set: the single-user set is closed.
    assert "Uses its multi-user set." in notes and "single-user: closed" in notes
    assert format_pin(multi.single_pins[0]) not in notes
    assert max(len(line) for line in notes.splitlines()[:-8]) <= 30, notes  # the panel's width


def test_a_kit_with_no_pin_left_is_replaced_and_every_kit_is_listed(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    with demo_center(folder) as center:
        single, _multi = demo_kits(center, folder, PRODUCT)
        for pin in single.single_pins:
            spend(center, single, pin)
        kits = demo_kits(center, folder, PRODUCT)
        notes = demo_notes(center.url, kits, folder)
    assert len(kits) == 3 and kits[0].users == 1 and kits[0].regnum != single.regnum
    assert kits[2].regnum == single.regnum  # the spent kit is listed last, as an earlier kit
    assert notes.index("Earlier kits of this folder:") < notes.index(f"Kit {single.regnum}")
    assert all(f" {format_pin(p)} spent" in notes for p in single.single_pins)
    assert len(json.loads((folder / KITS_FILE).read_text())["kits"]) == 3


def test_kits_made_before_the_pin_file_are_listed_without_pins(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    with demo_center(folder) as center:
        older = center.create_kit(users=1, pins=3, product=PRODUCT)  # as an older demo made it
        kits = demo_kits(center, folder, PRODUCT)
        notes = demo_notes(center.url, kits, folder)
    assert older.regnum not in {k.regnum for k in kits[:2]}, "a kit whose PINs are unknown offered to use"
    assert f"Kit {older.regnum} (1 user)\n PINs not kept (older run)" in notes


def test_an_unreadable_pin_file_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / KITS_FILE).write_text("{not json")
    with demo_center(folder) as center:
        with pytest.raises(LicwizError) as err:
            demo_kits(center, folder, PRODUCT)
        assert center.service is not None and center.call(center.service.kits.list_kits()) == []
    assert str(folder / KITS_FILE) in str(err.value)
