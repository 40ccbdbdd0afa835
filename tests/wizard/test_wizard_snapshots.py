"""Snapshots of key screens at 80x24 (pytest-textual-snapshot). Update with
``pytest tests/wizard/test_wizard_snapshots.py --snapshot-update`` after a
deliberate change, and look at the report before committing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from licwiz.app.config import WizardConfig
from licwiz.app.state import ErrorInfo, Result, WizardState
from licwiz.app.wizard import LicwizApp
from licwiz.core import i18n
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


# --- every step at 80x24 (issue 14.8), the key ones in Russian too (issue 16) ------------

@pytest.fixture
def russian(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LANGUAGE", "en")  # set_language writes it; restored after
    i18n.set_language("ru")
    try:
        yield
    finally:
        i18n.set_language("en")


def kit_step() -> LicwizApp:
    return app_at("kit", regnum=REGNUM, pin=PIN)


def operation_step() -> LicwizApp:
    return app_at("kit", "operation", regnum=REGNUM, pin=PIN)


def owner_step() -> LicwizApp:
    return app_at("kit", "operation", "owner_first", regnum=REGNUM, pin=PIN, operation="first",
                  owner=WIZ_OWNER, accuracy_ack=True)


def recovery_update_step() -> LicwizApp:
    return app_at("kit", "operation", "recovery", regnum=REGNUM, pin=PIN, operation="recover",
                  recover_choice="update", extra_pin="123456789012345")


def owner_verify_step() -> LicwizApp:
    return app_at("kit", "operation", "recovery", "owner_verify", regnum=REGNUM, pin=PIN,
                  operation="recover", recover_choice="same", same_params_ack=True, verify_owner=WIZ_OWNER)


def method_step() -> LicwizApp:
    return app_at("kit", "operation", "owner_first", "automatic", "method", regnum=REGNUM, pin=PIN,
                  operation="first", owner=WIZ_OWNER, accuracy_ack=True, center_unreachable=True)


def request_file_step() -> LicwizApp:
    # A fixed path (the default is the current folder, which differs between checkouts).
    return app_at("kit", "operation", "owner_first", "automatic", "method", "file_request", regnum=REGNUM,
                  pin=PIN, operation="first", owner=WIZ_OWNER, accuracy_ack=True, method="file",
                  request_file="/srv/licwiz/requests/licwiz-request-0466396876.req")


def license_file_step() -> LicwizApp:
    return app_at("file_install", action="license_file",
                  license_file="/srv/licwiz/licenses/not-a-license-data-file/0466396876-001.lic")


def phone_answer_step() -> LicwizApp:
    from licwiz.core import phonecodes

    # Row 1 whole and right (the first row of a real code), row 2 begun, row 3 with a wrong check digit.
    good = phonecodes.format_row(phonecodes.encode(bytes(range(60)))[0])
    rows = [good, "123 456", "999 999 999 999 999 999 999"]
    return app_at("kit", "operation", "owner_first", "automatic", "method", "phone_codes", "phone_response",
                  regnum=REGNUM, pin=PIN, operation="first", owner=WIZ_OWNER, accuracy_ack=True,
                  method="phone", phone_response=rows)


def final_for_all_users() -> LicwizApp:
    result = Result("0466396876-001", 1, "all-users", product="licwiz-demo",
                    path="/var/lib/licwiz/licenses/0466396876-001.lic")
    return app_at("kit", "operation", "owner_first", "automatic", "final", result=result)


async def unreachable(pilot: Any) -> None:
    """The automatic step against a center that refuses connections: its failure shown."""
    await settle(pilot)
    deadline = asyncio.get_running_loop().time() + 60
    while pilot.app.state.error is None or pilot.app.screen.query_one("#cancel-row").display:
        assert asyncio.get_running_loop().time() < deadline, "the availability check did not end"
        await pilot.pause(0.05)
    await settle(pilot)


def automatic_unreachable() -> LicwizApp:
    return app_at("kit", "operation", "owner_first", "automatic", regnum=REGNUM, pin=PIN, operation="first",
                  owner=WIZ_OWNER, accuracy_ack=True)


async def file_refused(pilot: Any) -> None:
    await settle(pilot)
    await pilot.press("enter")  # Install: the file does not exist
    await settle(pilot)


STEPS: dict[str, tuple[Callable[[], LicwizApp], Callable[[Any], Awaitable[None]]]] = {
    "kit": (kit_step, settle),
    "operation": (operation_step, settle),
    "owner_first_ticked": (owner_step, settle),
    "recovery_update": (recovery_update_step, settle),
    "owner_verify": (owner_verify_step, settle),
    "automatic_unreachable": (automatic_unreachable, unreachable),
    "method_unreachable": (method_step, settle),
    "request_file": (request_file_step, settle),
    "license_file_refused": (license_file_step, file_refused),
    "phone_answer": (phone_answer_step, settle),
    "final_all_users": (final_for_all_users, settle),
}
RUSSIAN = ("action", "kit", "owner_first_ticked", "recovery_update", "automatic_unreachable", "request_file",
           "license_file_refused", "phone_answer", "final_all_users")


@pytest.mark.parametrize("step", list(STEPS))
def test_snapshot_step(snap_compare: Any, step: str) -> None:
    make, run_before = STEPS[step]
    assert snap_compare(make(), terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize("step", RUSSIAN)
def test_snapshot_step_in_russian(snap_compare: Any, russian: None, step: str) -> None:
    make, run_before = STEPS.get(step, (app_at, settle))
    assert snap_compare(make(), terminal_size=SIZE, run_before=run_before)
