"""The wizard's retry after a lost answer, a Cancel or an outage (issue 17
points 1-2), and the center's e-mail address on the request-file step (issue 15).

Against a REAL Licensing Center process, with a relay between the wizard and
the center (support/fixtures_wizard.py ``AnswerRelay``) that drops or holds
the activation's answer after the center committed it, or answers 503. The
promise: pressing Acquire again returns the license already issued, with one
PIN spent (``kit show --json``), never 422 idempotency_conflict; an outage is
worded "busy (or cannot be reached), try again" and Enter tries again.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from licwiz.app.config import WizardConfig
from licwiz.app.controller import OUTAGE_BRIEF, Startup, WizardController
from licwiz.app.state import WizardState
from licwiz.core.errors import CenterError
from licwiz.core.identifiers import new_pin, new_regnum
from licwiz.core.license import parse
from licwiz.core.storage import license_dir
from support.fixtures_wizard import WIZ_OWNER, AnswerRelay, WizardDriver, first_time, to_method

ACTIVATE = b"POST /api/v1/activate "


def used_pins(center: Any, regnum: str) -> tuple[int, list[tuple[str, int]]]:
    """(licenses issued, (set, position) of every used PIN) as the center shows them."""
    shown = json.loads(center.cli("kit", "show", regnum, "--json").stdout)
    return shown["issued"], [(p["set"], p["position"]) for p in shown["pins"] if p["state"] == "used"]


def installed_ids() -> list[str]:
    folder = license_dir("all-users")
    if not folder.exists():
        return []
    return sorted(parse(p.read_text()).license.license_id for p in folder.glob("*.lic"))


async def at_acquire(d: WizardDriver, regnum: str, pin: str) -> None:
    """First-time registration up to "Acquire": the availability check passed."""
    await first_time(d, regnum, pin)
    await d.at("automatic")
    await d.wait(lambda: d.screen._checked or d.state.error is not None, what="availability check")
    assert d.state.error is None, d.state.error


async def acquired(d: WizardDriver) -> None:
    """The attempt ends on the final step (a failure is shown, not waited out)."""
    def ended() -> bool:
        return d.state.current == "final" or (d.state.error is not None and not d.screen._running)
    await d.wait(ended, timeout=30, what="the attempt's end")
    assert d.state.error is None, d.state.error
    await d.at("final")


async def shows_outage(d: WizardDriver, code: str) -> None:
    """The step words an outage as such, offers to try again (Enter, focused)
    and does not send the person to support."""
    await d.wait(lambda: d.state.error is not None and not d.screen._running, timeout=30, what=code)
    error = d.state.error
    assert error.code == code and error.retry, error
    brief = d.text("#error-brief")
    assert OUTAGE_BRIEF in brief and f"[{code}]" in brief, brief
    assert "quote" not in brief and "support" not in brief
    assert d.screen.buttons.label("next") == "Try again (Enter)"
    await d.focused("next")
    await d.press("v")  # the description still has what support needs
    await d.dialog("ErrorDialog")
    shown = d.text(".dialog-text Static")
    assert f"Error code: {code}" in shown and "Try again in a moment" in shown
    assert "never uses a second PIN code" in shown and "quote the request id" not in shown
    await d.press("escape")
    await d.at("automatic")
    await d.focused("next")


async def test_a_lost_answer_then_acquire_again_gets_the_same_license_with_one_pin(
        wizard_center: Any, wizard_run: Any) -> None:
    """The center issues the license, its answer is lost on the way (every
    transport retry of the client too); Enter ("Try again") resends the same
    request with the same key and gets the license already issued."""
    kit = wizard_center.create_kit(users=1, pins=2)
    async with AnswerRelay(wizard_center.url, ACTIVATE) as relay, wizard_run(relay.url) as d:
        await at_acquire(d, kit.regnum, kit.single_pins[0])
        relay.set_mode("drop")
        await d.next()  # Acquire
        await shows_outage(d, "unreachable")
        assert relay.dropped >= 1 and relay.dropped == relay.seen
        assert used_pins(wizard_center, kit.regnum) == (1, [("single", 1)])  # committed, answer lost
        assert installed_ids() == []
        relay.set_mode("pass")
        await d.press("enter")  # Try again
        await acquired(d)
        assert f"{kit.regnum}-001" in d.text("#summary")
    assert installed_ids() == [f"{kit.regnum}-001"]
    assert used_pins(wizard_center, kit.regnum) == (1, [("single", 1)])
    assert relay.seen == relay.dropped + 1


async def test_cancel_during_the_activation_then_acquire_again_gets_the_same_license(
        wizard_center: Any, wizard_run: Any) -> None:
    """Cancel (C) while the center's answer is on its way: the PIN is spent;
    Acquire again gets that license, no second PIN, no idempotency_conflict."""
    kit = wizard_center.create_kit(users=1, pins=2)
    async with AnswerRelay(wizard_center.url, ACTIVATE, mode="hold") as relay, wizard_run(relay.url) as d:
        await at_acquire(d, kit.regnum, kit.single_pins[0])
        await d.next()  # Acquire
        await asyncio.wait_for(relay.held.wait(), 20)  # the center answered: committed
        await d.press("c")
        await d.wait(lambda: not d.screen._running, what="cancelled")
        assert "Cancelled" in d.text("#progress") and d.state.error is None
        assert used_pins(wizard_center, kit.regnum) == (1, [("single", 1)])
        relay.set_mode("pass")
        await d.press("enter")  # Acquire (Enter) again
        await acquired(d)
    assert installed_ids() == [f"{kit.regnum}-001"]
    assert used_pins(wizard_center, kit.regnum) == (1, [("single", 1)])
    assert relay.seen == 2


async def test_a_busy_center_is_worded_as_busy_and_enter_tries_again(
        wizard_center: Any, wizard_run: Any) -> None:
    """503 unavailable with Retry-After (the answer of a center whose database
    is down), for the availability check and then for the activation."""
    kit = wizard_center.create_kit(users=1, pins=2)
    async with AnswerRelay(wizard_center.url, ACTIVATE, mode="busy") as relay, wizard_run(relay.url) as d:
        await first_time(d, kit.regnum, kit.single_pins[0])
        await d.at("automatic")
        await shows_outage(d, "unavailable")  # the check
        assert relay.busy_answers >= 2  # the client honoured Retry-After before giving up
        assert d.state.error.request_id == "relay-busy" and d.state.error.status == 503
        relay.set_mode("pass")
        await d.press("enter")  # Try again: the check
        await d.wait(lambda: d.screen._checked, what="availability check")
        assert d.state.error is None
        relay.set_mode("busy")
        await d.next()  # Acquire
        await shows_outage(d, "unavailable")
        assert used_pins(wizard_center, kit.regnum) == (0, [])
        relay.set_mode("pass")
        await d.press("enter")  # Try again: the acquisition
        await acquired(d)
    assert installed_ids() == [f"{kit.regnum}-001"]
    assert used_pins(wizard_center, kit.regnum) == (1, [("single", 1)])


async def test_a_center_stopped_and_started_again_is_tried_again(
        center_factory: Any, wizard_run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The center process is really gone (stopped), then back on another
    port behind the same address: Enter tries again and acquires."""
    center = center_factory()
    monkeypatch.setenv("LICWIZ_TRUSTED_KEYS", str(center.trusted_keys))
    kit = center.create_kit(users=1)
    async with AnswerRelay(center.url, ACTIVATE) as relay, wizard_run(relay.url) as d:
        await at_acquire(d, kit.regnum, kit.single_pins[0])
        await asyncio.to_thread(center.stop)
        await d.next()  # Acquire
        await shows_outage(d, "unreachable")
        assert d.state.center_unreachable
        await asyncio.to_thread(center.start)
        relay.retarget(center.port)
        await d.press("enter")  # Try again
        await acquired(d)
    assert installed_ids() == [f"{kit.regnum}-001"]
    assert used_pins(center, kit.regnum) == (1, [("single", 1)])


async def test_a_refusal_is_not_worded_as_an_outage(wizard_center: Any, wizard_run: Any) -> None:
    kit = wizard_center.create_kit(users=1)
    async with wizard_run(wizard_center.url) as d:
        await first_time(d, kit.regnum, new_pin())  # a PIN of no kit: refused at the check
        await d.at("automatic")
        await d.wait(lambda: d.state.error is not None and not d.screen._running, what="refusal")
        assert not d.state.error.retry and OUTAGE_BRIEF not in d.text("#error-brief")
        assert d.screen.buttons.label("next") == "Next > (Enter)"
        await d.focused("other-method")


# --- the request kept between attempts (no screen) ------------------------------------------


def controller(**kw: Any) -> WizardController:
    s = WizardState(regnum=new_regnum(), pin=new_pin(), operation="first", owner=WIZ_OWNER, **kw)
    c = WizardController(WizardConfig(center_url="http://127.0.0.1:9", product="licwiz-demo",
                                      phone_number="", center_web_page="", center_email=""), s)
    c.started(Startup({"cpu": "ab" * 32}, None, None, all_users_writable=True))
    return c


async def test_the_same_request_is_sent_again_until_something_in_it_changes() -> None:
    c = controller()
    req, key = await c.activation_request()
    again, key2 = await c.activation_request()
    assert again is req and key2 == key  # same nonce and created: the center's body hash matches
    for change in ({"pin": new_pin()}, {"regnum": new_regnum()}, {"owner": replace(WIZ_OWNER, city="Delft")},
                   {"operation": "recover"}):
        for name, value in change.items():
            setattr(c.state, name, value)
        new, new_key = await c.activation_request()
        assert new_key != key and new.nonce != req.nonce, change
        assert (await c.activation_request())[1] == new_key  # then kept again
        req, key = new, new_key
    c.started(Startup({"cpu": "cd" * 32}, None, None, all_users_writable=True))  # another computer
    assert (await c.activation_request())[1] != key


async def test_an_idempotency_conflict_forgets_the_kept_request() -> None:
    c = controller()
    _, key = await c.activation_request()
    c.failure(CenterError("idempotency_conflict", "key reused", status=422), step="automatic")
    assert (await c.activation_request())[1] != key


@pytest.mark.parametrize("exc, outage", [
    (CenterError("unavailable", "busy", "quote the request id", status=503, request_id="r1"), True),
    (CenterError("bad_response", "not understood", "HTTP 502 ...", status=502), True),
    (CenterError("unreachable", "The Licensing Center cannot be reached", "POST x: ConnectError"), True),
    (CenterError("untrusted_certificate", "The Licensing Center's certificate is not trusted (self-signed)"),
     False),
    (CenterError("pin_used", "used", status=409), False),
    (CenterError("internal", "failed", status=500), False),
])
def test_which_failures_are_an_outage(exc: CenterError, outage: bool) -> None:
    info = controller().failure(exc, step="automatic")
    assert info.retry is outage and (info.brief == OUTAGE_BRIEF) is outage
    assert info.code == exc.code and info.request_id == exc.request_id  # support still sees them
    if outage:
        assert "quote the request id" not in info.detail


# --- issue 15: the center's mailbox on the request-file step -----------------------------------


async def to_request_file(d: WizardDriver) -> str:
    await to_method(d, new_regnum(), new_pin())
    await d.pick("#method", "file", "file_request")
    return " ".join(d.text("#sequence").split())


async def test_the_request_file_step_names_the_centers_address(wizard_run: Any, tmp_path: Path) -> None:
    async with wizard_run("http://127.0.0.1:9", center_email="licenses@vendor.example",
                          center_web_page="https://licenses.vendor.example/upload") as d:
        said = await to_request_file(d)
    assert ("2. Send it as an attachment to licenses@vendor.example, or upload it on the Licensing "
            "Center's web page https://licenses.vendor.example/upload") in said, said


async def test_without_an_address_the_step_names_the_web_page_only(wizard_run: Any) -> None:
    async with wizard_run("http://127.0.0.1:9", center_email="", center_web_page="https://w.example/") as d:
        said = await to_request_file(d)
    assert "2. Upload it on the Licensing Center's web page https://w.example/" in said, said
    assert "attachment" not in said
