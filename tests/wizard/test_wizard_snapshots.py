"""Snapshots of key screens at 80x24 (pytest-textual-snapshot). Update with
``pytest tests/wizard/test_wizard_snapshots.py --snapshot-update`` after a
deliberate change, and look at the report before committing."""

from __future__ import annotations

from typing import Any

from licwiz.app.config import WizardConfig
from licwiz.app.state import ErrorInfo, Result, WizardState
from licwiz.app.wizard import LicwizApp
from support.fixtures_wizard import WIZ_OWNER
from textual.widgets import Input

SIZE = (80, 24)
REGNUM = "0466396876"
PIN = "305316720747231"
CENTER = "http://127.0.0.1:9"


def app_at(*steps: str, ascii: bool = False, **state: Any) -> LicwizApp:
    s = WizardState(**state)
    s.history = ["action", *steps]  # type: ignore[list-item]
    return LicwizApp(WizardConfig(center_url=CENTER, product="licwiz-demo", ascii=ascii), s)


async def settle(pilot: Any) -> None:
    await pilot.app.controller.wait_started()
    await pilot.pause()
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False
    await pilot.pause()


def test_snapshot_action(snap_compare: Any) -> None:
    assert snap_compare(app_at(), terminal_size=SIZE, run_before=settle)


def test_snapshot_kit_with_a_check_digit_error_ascii(snap_compare: Any) -> None:
    app = app_at("kit", ascii=True, regnum=REGNUM[:-1] + "1", pin=PIN)

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("f4")
        await pilot.pause()
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_owner_first(snap_compare: Any) -> None:
    app = app_at("kit", "operation", "owner_first", regnum=REGNUM, pin=PIN, operation="first",
                 owner=WIZ_OWNER)
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


def test_snapshot_method_locked_to_phone(snap_compare: Any) -> None:
    app = app_at("kit", "operation", "recovery", "owner_verify", "automatic", "method",
                 regnum=REGNUM, pin=PIN, operation="recover", recover_choice="same",
                 same_params_ack=True, verify_owner=WIZ_OWNER, method_lock="phone")
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


def test_snapshot_error_description(snap_compare: Any) -> None:
    error = ErrorInfo("owner_mismatch", "The owner data does not match the data of the license",
                      "Compare the owner data with the file saved at first registration.",
                      request_id="req-0123456789abcdef", status=409, time="2026-11-28T10:00:00+00:00",
                      step="automatic", version="0.1.0", runtime="Python 3.11, Linux",
                      center="https://center.licwiz.example")

    async def run_before(pilot: Any) -> None:
        from licwiz.screens.dialogs import ErrorDialog

        await settle(pilot)
        pilot.app.push_screen(ErrorDialog(error))
        await pilot.pause()
    assert snap_compare(app_at(), terminal_size=SIZE, run_before=run_before)


def test_snapshot_final(snap_compare: Any) -> None:
    result = Result("0466396876-001", 5, "server", server="lic.example:1540", product="licwiz-demo")
    app = app_at("kit", "operation", "owner_first", "automatic", "final", result=result)
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)
