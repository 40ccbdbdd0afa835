"""Every branch of the wizard, driven by keys under Pilot, against a REAL
Licensing Center process (the ``center`` fixture)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from licwiz.core.client import CenterClient
from licwiz.core.errors import CenterError
from licwiz.core.fingerprint import collect
from licwiz.core.identifiers import new_pin
from licwiz.core.keys import load_keyring
from licwiz.core.license import parse, verify_file
from licwiz.core.product import current_product
from licwiz.core.request import ActivationRequest
from licwiz.core.storage import is_writable, license_dir, state_dir
from support.fixtures_center import free_port
from support.fixtures_wizard import WIZ_OWNER, GatedRelay, WizardDriver, first_time, recovery, unwritable


async def acquire_now(d: WizardDriver) -> None:
    await d.at("automatic")
    await d.wait(lambda: d.screen._checked or d.state.error is not None, what="availability check")
    assert d.state.error is None, d.state.error
    await d.next()
    await d.at("final", timeout=20)


async def expect_refusal(d: WizardDriver, code: str) -> None:
    await d.at("automatic")
    await d.wait(lambda: d.state.error is not None, what=f"refusal {code}")
    assert d.state.error.code == code, d.state.error
    brief = d.text("#error-brief")
    assert code in brief and d.state.error.brief in brief
    # View error description: code, request id, time, version, the center's detail.
    await d.press("v")
    await d.dialog("ErrorDialog")
    shown = d.text(".dialog-text Static")
    assert f"Error code: {code}" in shown and "Request id:" in shown and "licwiz version:" in shown
    assert d.state.error.detail in shown
    await d.press("escape")
    await d.at("automatic")
    # Select another license acquisition method.
    await d.press("m")
    await d.at("method")


async def spend(center_url: str, regnum: str, pin: str, *, operation: str = "first", owner: Any = WIZ_OWNER,
          params: dict[str, str] | None = None, extra_pin: str | None = None) -> str:
    """Activate directly over HTTP (a license acquired earlier); returns the license text."""
    req = ActivationRequest(
        product=current_product(), regnum=regnum, pin=pin, operation=operation, owner=owner,
        params=params if params is not None else collect(current_product()), extra_pin=extra_pin,
    )
    async with CenterClient(center_url) as client:
        return (await client.activate(req, "spend-" + pin)).license_text


def installed(scope: str = "all-users") -> list[Path]:
    d = license_dir(scope)  # type: ignore[arg-type]
    return sorted(d.glob("*.lic")) if d.exists() else []


# --- the main branches --------------------------------------------------------------


async def test_first_time_registration_installs_for_all_users(wizard_center: Any, wizard_run: Any) -> None:
    kit = wizard_center.create_kit(users=1)
    async with wizard_run(wizard_center.url) as d:
        await first_time(d, kit.regnum, kit.single_pins[0])
        await acquire_now(d)
        summary = d.text("#summary")
        files = installed()
        assert len(files) == 1
        lic = parse(files[0].read_text()).license
        assert lic.regnum == kit.regnum and lic.license_id in summary
        assert "for all users" in summary and str(files[0]) in summary and "Users: 1" in summary
        await d.press("enter")  # Finish
        await d.wait(lambda: d.app.return_code is not None, what="exit")
    assert d.app.return_code == 0


async def test_quit_after_the_license_is_installed_exits_0(wizard_center: Any, wizard_run: Any) -> None:
    """Issue 14.7: on the Done step Quit exited 130 (make demo ended in 'Error 130')."""
    kit = wizard_center.create_kit(users=1)
    async with wizard_run(wizard_center.url) as d:
        await first_time(d, kit.regnum, kit.single_pins[0])
        await acquire_now(d)
        assert len(installed()) == 1
        await d.press("ctrl+q")
        await d.wait(lambda: d.app.return_code is not None, what="exit")
    assert d.app.return_code == 0


async def test_recovery_of_the_same_license(wizard_center: Any, wizard_run: Any) -> None:
    kit = wizard_center.create_kit(users=1)
    pin = kit.single_pins[0]
    first_text = await spend(wizard_center.url, kit.regnum, pin)
    async with wizard_run(wizard_center.url) as d:
        await recovery(d, kit.regnum, pin)
        assert d.state.request_operation == "recover"
        await acquire_now(d)
        lic = parse(installed()[0].read_text()).license
        assert lic.license_id == parse(first_text).license.license_id


async def test_update_with_an_extra_pin(wizard_center: Any, wizard_run: Any) -> None:
    kit = wizard_center.create_kit(users=1)
    old = await spend(wizard_center.url, kit.regnum, kit.single_pins[0])
    async with wizard_run(wizard_center.url) as d:
        await recovery(d, kit.regnum, kit.single_pins[0], update_pin=kit.single_pins[1])
        await acquire_now(d)
        lic = parse(installed()[0].read_text()).license
        assert lic.supersedes == parse(old).license.license_id
        assert "Replaces license" in d.text("#summary")


async def test_install_for_the_current_user_when_all_users_is_not_writable(
        wizard_center: Any, wizard_run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-regular-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LICWIZ_ALL_USERS_DIR", str(blocker / "below"))
    kit = wizard_center.create_kit(users=1)
    async with wizard_run(wizard_center.url) as d:
        await d.dialog("AllUsersWarning", focus="yes")
        assert "Acquire for the current user" in str(d.screen.query_one("#yes").label)
        assert "Cancel license acquisition" in str(d.screen.query_one("#no").label)
        await d.press("enter")  # the default button: Acquire for the current user
        await d.at("action")
        assert d.state.scope == "user"
        await first_time(d, kit.regnum, kit.single_pins[0])
        await acquire_now(d)
        assert "for the current user" in d.text("#summary")
        assert len(installed("user")) == 1


def pins_spent(center: Any, regnum: str) -> dict[str, Any]:
    shown: dict[str, Any] = json.loads(center.cli("kit", "show", regnum, "--json").stdout)
    return shown


def used_pins(shown: dict[str, Any]) -> list[tuple[str, int]]:
    """(set, position) of the kit's used PINs (the center shows PINs by position, never digits)."""
    return [(p["set"], p["position"]) for p in shown["pins"] if p["state"] == "used"]


async def acquire_until_activation_held(d: WizardDriver, relay: GatedRelay, regnum: str, pin: str) -> None:
    """First-time registration up to the moment the center has the activation
    request in hand: the availability check (the step's and acquire_online's own
    all-users write test) is over, the PIN not yet spent."""
    await first_time(d, regnum, pin)
    await d.at("automatic")
    await d.wait(lambda: d.screen._checked, what="availability check")
    assert d.state.error is None, d.state.error
    await d.next()  # Acquire
    await asyncio.wait_for(relay.held.wait(), 15)


async def test_all_users_folder_unwritable_after_activation_installs_the_issued_license_for_the_user(
        wizard_center: Any, wizard_run: Any) -> None:
    """The all-users folder passes every check and becomes unwritable while the
    center activates (the relay holds the activation until the folder is made
    unwritable): the PIN is spent, installing fails, the wizard shows the
    all-users warning and "Acquire for the current user" installs the license
    in hand, with no second activation or PIN."""
    kit = wizard_center.create_kit(users=1, pins=2)
    folder = license_dir("all-users")
    folder.mkdir(parents=True)
    async with GatedRelay(wizard_center.url, b"POST /api/v1/activate ") as relay, \
            wizard_run(relay.url) as d:
        await acquire_until_activation_held(d, relay, kit.regnum, kit.single_pins[0])
        with unwritable(folder) as how:
            assert not is_writable("all-users"), how
            relay.release.set()
            await d.dialog("AllUsersWarning", focus="yes", timeout=20)
            assert d.state.error.code == ("storage" if how == "file-in-place" else "not_writable")
            dialog = d.screen
            assert str(dialog.query_one("#yes").label) == "Acquire for the current user"
            assert str(dialog.query_one("#no").label) == "Cancel license acquisition"
            told = d.text(".dialog-text")
            assert "already issued" in told and "no other PIN code" in told
            assert str(folder) in told
            await d.press("enter")  # Acquire for the current user (the default button)
            await d.at("final", timeout=20)
            summary = d.text("#summary")
        assert "for the current user" in summary
        assert installed() == []
        [path] = installed("user")
        assert str(path) in summary and f"{kit.regnum}-001" in summary
    lic = verify_file(path, load_keyring([wizard_center.trusted_keys]), product=current_product())
    assert lic.license_id == f"{kit.regnum}-001" and lic.regnum == kit.regnum
    assert lic.params == collect(current_product()) and lic.method == "online"
    shown = pins_spent(wizard_center, kit.regnum)
    assert shown["issued"] == 1 and used_pins(shown) == [("single", 1)], shown
    assert relay.seen == 1  # one activation request: the user's license is the one in hand


async def test_all_users_folder_unwritable_after_activation_cancel_says_where_the_license_is(
        wizard_center: Any, wizard_run: Any, capsys: pytest.CaptureFixture[str]) -> None:
    kit = wizard_center.create_kit(users=1)
    folder = license_dir("all-users")
    folder.mkdir(parents=True)
    async with GatedRelay(wizard_center.url, b"POST /api/v1/activate ") as relay, \
            wizard_run(relay.url) as d:
        await acquire_until_activation_held(d, relay, kit.regnum, kit.single_pins[0])
        with unwritable(folder):
            relay.release.set()
            await d.dialog("AllUsersWarning", focus="yes", timeout=20)
            await d.press("tab")
            await d.focused("no")
            await d.press("enter")  # Cancel license acquisition
            await d.wait(lambda: d.app.return_code is not None, what="exit")
    assert d.app.return_code == 130
    assert installed() == [] and installed("user") == []
    [kept] = sorted((state_dir() / "issued").glob("*.lic"))
    said = capsys.readouterr().err  # printed once the screen is restored
    assert f"licwiz install --without-request {kept}\n" in said, said
    lic = verify_file(kept, load_keyring([wizard_center.trusted_keys]), product=current_product())
    assert lic.license_id == f"{kit.regnum}-001"


async def test_issued_license_that_cannot_be_saved_for_another_reason_says_where_it_was_kept(
        wizard_center: Any, wizard_run: Any) -> None:
    """The save fails after the PIN is spent, but the all-users folder itself can
    be written (here a folder sits where the license file goes): not the
    all-users warning, the failure with where the license was kept and how to
    install it."""
    kit = wizard_center.create_kit(users=1, pins=2)
    in_the_way = license_dir("all-users") / f"{kit.regnum}-001.lic"
    in_the_way.mkdir(parents=True)
    async with wizard_run(wizard_center.url) as d:
        await first_time(d, kit.regnum, kit.single_pins[0])
        await d.at("automatic")
        await d.wait(lambda: d.screen._checked, what="availability check")
        await d.next()
        await d.wait(lambda: d.state.error is not None and not d.screen._running, what="failure",
                     timeout=20)
        assert type(d.screen).__name__ == "AutomaticStep"
        assert d.state.error.code == "storage"
        [kept] = sorted((state_dir() / "issued").glob("*.lic"))
        shown = d.text("#kept")
        assert str(kept) in shown and f"licwiz install --without-request {kept}" in shown
        assert d.screen.query_one("#kept").display
        await d.press("v")
        await d.dialog("ErrorDialog")
        assert str(kept) in d.text(".dialog-text Static")
    assert installed("user") == []
    lic = verify_file(kept, load_keyring([wizard_center.trusted_keys]), product=current_product())
    assert lic.license_id == f"{kit.regnum}-001"
    shown_kit = pins_spent(wizard_center, kit.regnum)
    assert shown_kit["issued"] == 1 and used_pins(shown_kit) == [("single", 1)], shown_kit


async def test_all_users_warning_cancel_ends_the_wizard(
        wizard_center: Any, wizard_run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("LICWIZ_ALL_USERS_DIR", str(blocker / "below"))
    async with wizard_run(wizard_center.url) as d:
        await d.dialog("AllUsersWarning", focus="yes")
        await d.press("tab")
        await d.focused("no")
        await d.press("enter")  # Cancel license acquisition
        await d.wait(lambda: d.app.return_code is not None, what="exit")
    assert d.app.return_code == 130


# --- refusals -------------------------------------------------------------------------


async def test_refusal_pin_unknown(wizard_center: Any, wizard_run: Any) -> None:
    kit = wizard_center.create_kit(users=1)
    async with wizard_run(wizard_center.url) as d:
        await first_time(d, kit.regnum, new_pin())
        await expect_refusal(d, "pin_unknown")
        assert installed() == []


async def test_refusal_pin_used(wizard_center: Any, wizard_run: Any) -> None:
    kit = wizard_center.create_kit(users=1)
    await spend(wizard_center.url, kit.regnum, kit.single_pins[0])
    async with wizard_run(wizard_center.url) as d:
        await first_time(d, kit.regnum, kit.single_pins[0])
        await expect_refusal(d, "pin_used")


async def test_refusal_owner_mismatch(wizard_center: Any, wizard_run: Any) -> None:
    kit = wizard_center.create_kit(users=1)
    await spend(wizard_center.url, kit.regnum, kit.single_pins[0])
    async with wizard_run(wizard_center.url) as d:
        await recovery(d, kit.regnum, kit.single_pins[0], owner=replace(WIZ_OWNER, contact="Jane  Doe"))
        await expect_refusal(d, "owner_mismatch")


async def test_refusal_parameters_changed(wizard_center: Any, wizard_run: Any) -> None:
    kit = wizard_center.create_kit(users=1)
    other = {name: "ab" * 32 for name in collect(current_product())}
    await spend(wizard_center.url, kit.regnum, kit.single_pins[0], params=other)
    async with wizard_run(wizard_center.url) as d:
        await recovery(d, kit.regnum, kit.single_pins[0])
        await expect_refusal(d, "parameters_changed")


async def test_refusal_pin_set_conflict(wizard_center: Any, wizard_run: Any) -> None:
    kit = wizard_center.create_kit(users=5)
    await spend(wizard_center.url, kit.regnum, kit.single_pins[0])
    async with wizard_run(wizard_center.url) as d:
        await first_time(d, kit.regnum, kit.multi_pins[0])
        await expect_refusal(d, "pin_set_conflict")


async def test_refusal_kit_locked(wizard_center: Any, wizard_run: Any) -> None:
    kit = wizard_center.create_kit(users=1)

    async def guess() -> None:
        async with CenterClient(wizard_center.url) as client:
            for _ in range(5):
                req = ActivationRequest(current_product(), kit.regnum, new_pin(), "first", WIZ_OWNER, {})
                with contextlib.suppress(CenterError):  # each wrong guess is refused: the point
                    await client.check(req)
    await guess()
    async with wizard_run(wizard_center.url) as d:
        await first_time(d, kit.regnum, kit.single_pins[0])
        await expect_refusal(d, "kit_locked")


async def test_refusal_kit_unknown(wizard_center: Any, wizard_run: Any) -> None:
    from licwiz.core.identifiers import new_regnum

    async with wizard_run(wizard_center.url) as d:
        await first_time(d, new_regnum(), new_pin())  # valid check digits, no such kit
        await expect_refusal(d, "kit_unknown")


async def test_refusal_pin_mismatch(wizard_center: Any, wizard_run: Any) -> None:
    kit = wizard_center.create_kit(users=1, pins=2)
    await spend(wizard_center.url, kit.regnum, kit.single_pins[0])
    async with wizard_run(wizard_center.url) as d:  # "last used PIN" that never gave a license
        await recovery(d, kit.regnum, kit.single_pins[1])
        await expect_refusal(d, "pin_mismatch")


async def test_refusal_license_revoked(wizard_center: Any, wizard_run: Any) -> None:
    kit = wizard_center.create_kit(users=1)
    text = await spend(wizard_center.url, kit.regnum, kit.single_pins[0])
    wizard_center.cli("license", "revoke", parse(text).license.license_id)
    async with wizard_run(wizard_center.url) as d:
        await recovery(d, kit.regnum, kit.single_pins[0])
        await expect_refusal(d, "license_revoked")


async def test_refusal_wrong_product(wizard_center: Any, wizard_run: Any) -> None:
    kit = wizard_center.create_kit(users=1, product="another-product")
    async with wizard_run(wizard_center.url) as d:
        await first_time(d, kit.regnum, kit.single_pins[0])
        await expect_refusal(d, "wrong_product")
        assert installed() == []


async def test_refusal_rate_limited(center_factory: Any, wizard_run: Any, monkeypatch: pytest.MonkeyPatch
                                    ) -> None:
    from licwiz.core.identifiers import new_regnum

    center = center_factory(settings={"addr_max_failures": "3"})
    monkeypatch.setenv("LICWIZ_TRUSTED_KEYS", str(center.trusted_keys))
    async with CenterClient(center.url) as client:
        for _ in range(3):  # unknown kits from this address
            req = ActivationRequest(current_product(), new_regnum(), new_pin(), "first", WIZ_OWNER, {})
            with contextlib.suppress(CenterError):
                await client.check(req)
    kit = center.create_kit(users=1)
    async with wizard_run(center.url) as d:
        await first_time(d, kit.regnum, kit.single_pins[0])
        await expect_refusal(d, "rate_limited")


async def test_unreachable_center_leads_to_the_method_choice(wizard_run: Any) -> None:
    async with wizard_run(f"http://127.0.0.1:{free_port()}") as d:
        from licwiz.core.identifiers import new_regnum

        await first_time(d, new_regnum(), new_pin())
        await expect_refusal(d, "unreachable")
        assert d.state.center_unreachable
        assert "could not be reached" in d.text(".note")
        offered = [c[0] for c in d.screen.query_one("#method")._choices]
        assert offered == ["automatic", "file", "phone"]


async def test_method_lock_phone_license_offers_only_the_phone(wizard_center: Any, wizard_run: Any) -> None:
    """A license acquired by phone (written through the center's own service,
    as the operator console does): the online method is refused, only By phone is offered."""
    from licwiz.center.service import CenterService

    kit = wizard_center.create_kit(users=1)
    pin = kit.single_pins[0]

    async def by_phone() -> None:
        svc = CenterService.open(wizard_center.db_url, wizard_center.home)
        await svc.start()
        try:
            req = ActivationRequest(current_product(), kit.regnum, pin, "first", WIZ_OWNER,
                                    collect(current_product()), method="phone")
            await svc.activate(req, method="phone", idempotency_key=None, request_id="test-phone")
        finally:
            await svc.close()
    await by_phone()
    async with wizard_run(wizard_center.url) as d:
        await recovery(d, kit.regnum, pin)
        await expect_refusal(d, "method_locked")
        assert d.state.method_lock == "phone"
        offered = [c[0] for c in d.screen.query_one("#method")._choices]
        assert offered == ["phone"]
        assert "only be re-acquired or updated by phone" in d.text("#lock-note")
        await d.press("enter")
        await d.at("phone_codes")
        await d.press("escape")  # the placeholder is not a dead end
        await d.at("method")


async def test_method_lock_online_license_offers_automatic_and_file(
        wizard_center: Any, wizard_run: Any) -> None:
    kit = wizard_center.create_kit(users=1)
    await spend(wizard_center.url, kit.regnum, kit.single_pins[0])
    async with wizard_run(wizard_center.url) as d:
        await recovery(d, kit.regnum, kit.single_pins[0])
        await d.at("automatic")
        await d.wait(lambda: d.screen._checked, what="check")
        assert d.state.method_lock == "online-or-file"
        await d.press("m")
        await d.at("method")
        offered = [c[0] for c in d.screen.query_one("#method")._choices]
        assert offered == ["automatic", "file"]


async def test_method_choice_with_automatic_off_asks_the_center_for_the_lock(
        wizard_center: Any, wizard_run: Any) -> None:
    kit = wizard_center.create_kit(users=1)
    await spend(wizard_center.url, kit.regnum, kit.single_pins[0])
    async with wizard_run(wizard_center.url) as d:
        await recovery(d, kit.regnum, kit.single_pins[0], automatic=False)
        await d.at("method")
        await d.wait(lambda: d.state.method_lock is not None, what="lock from /check")
        await d.at("method")
        assert [c[0] for c in d.screen.query_one("#method")._choices] == ["automatic", "file"]


async def test_cancel_a_hanging_availability_check(wizard_run: Any) -> None:
    """A center that accepts connections but never answers: progress is shown,
    C cancels, and the check can be started again."""
    import socket

    from licwiz.core.identifiers import new_regnum

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        async with wizard_run(f"http://127.0.0.1:{silent.getsockname()[1]}") as d:
            await first_time(d, new_regnum(), new_pin())
            await d.at("automatic")
            assert "Checking availability" in d.text("#availability")
            assert d.screen.query_one("#cancel-row").display
            assert "Working" in d.screen.buttons.label("next")
            await d.press("c")
            await d.wait(lambda: not d.screen._running, what="cancelled")
            assert "Cancelled" in d.text("#progress")
            assert not d.screen.buttons.button_disabled("next")
            assert "Check again" in d.screen.buttons.label("next")


async def test_install_on_a_license_server(wizard_center: Any, wizard_run: Any,
                                           license_server_factory: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    srv = license_server_factory(None)
    proc = srv.start()
    monkeypatch.setenv("LICWIZ_SERVER_TOKEN", srv.admin_token)
    kit = wizard_center.create_kit(users=5)
    async with wizard_run(wizard_center.url) as d:
        await first_time(d, kit.regnum, kit.multi_pins[0], server=("127.0.0.1", proc.port))
        await d.at("automatic")
        assert f"on the license server 127.0.0.1:{proc.port}" in d.text("#where")
        await acquire_now(d)
        assert f"on the license server 127.0.0.1:{proc.port}" in d.text("#summary")
        assert "Users: 5" in d.text("#summary")
        assert installed() == [] and installed("user") == []
