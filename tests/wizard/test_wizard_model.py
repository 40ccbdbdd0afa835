"""The wizard's model without a screen: the step registry, the controller's
decisions (method lock, results, failures, the all-users fallback), and the
model's promise of no Textual."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import pytest
from licwiz.app import steps
from licwiz.app.config import WizardConfig
from licwiz.app.controller import Startup, WizardController
from licwiz.app.state import StepName, WizardState
from licwiz.core.errors import CenterError, LicwizError


def controller(**state: Any) -> WizardController:
    return WizardController(WizardConfig(center_url="http://127.0.0.1:9", product="licwiz-demo"),
                            WizardState(**state))


def test_every_step_has_a_title_and_a_screen() -> None:
    from licwiz.app.wizard import screen_class
    from licwiz.screens.base import StepScreen

    assert set(steps.NAMES) == set(get_args(StepName))
    for name in steps.NAMES:
        assert steps.title(name)
        assert issubclass(screen_class(name), StepScreen), name


def test_the_model_loads_without_textual() -> None:
    code = ("import sys; import licwiz.app.controller, licwiz.app.flow, licwiz.app.steps, "
            "licwiz.app.config; bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_a_method_locked_refusal_leaves_only_the_phone() -> None:
    c = controller(operation="recover")
    info = c.failure(CenterError("method_locked", "only by phone", "detail", status=409), step="automatic")
    assert c.state.method_lock == "phone" and c.state.error is info
    assert info.center == "http://127.0.0.1:9" and info.code == "method_locked"
    assert not c.automatic_allowed()


def test_an_unreachable_center_is_remembered() -> None:
    c = controller()
    c.failure(CenterError("unreachable", "no route", ""), step="automatic")
    assert c.state.center_unreachable and c.state.method_lock is None


def test_the_method_step_asks_for_the_lock_only_on_a_recovery() -> None:
    assert controller(operation="recover").should_ask_method_lock()
    assert not controller(operation="first").should_ask_method_lock()
    assert not controller(operation="recover", method_lock="phone").should_ask_method_lock()


async def test_start_up_results_and_the_all_users_warning_once() -> None:
    c = controller()
    c.started(Startup({"cpu": "ab" * 32}, None, LicwizError("keys broken"), all_users_writable=False))
    assert dict(await c.params()) == {"cpu": "ab" * 32}
    with pytest.raises(LicwizError, match="keys broken"):
        await c.keyring()
    assert c.needs_all_users_warning()
    assert not c.needs_all_users_warning()  # once per run
    c.use_current_user()
    assert c.state.scope == "user"


async def test_the_request_is_what_was_typed(tmp_path: Path) -> None:
    from licwiz.core.identifiers import new_pin, new_regnum
    from licwiz.core.owner import OwnerData

    owner = OwnerData(organisation="Acme", contact="Ann Lee", email="ann@example.com",
                      country="NL", city="Delft", address="Main 1")
    regnum, pin, extra = new_regnum(), new_pin(), new_pin()
    c = controller(regnum=regnum, pin=pin, operation="recover", recover_choice="update", extra_pin=extra,
                   verify_owner=owner)
    c.started(Startup({"cpu": "cd" * 32}, None, None, all_users_writable=True))
    req = await c.build_request()
    assert (req.regnum, req.pin, req.extra_pin, req.operation) == (regnum, pin, extra, "update")
    assert req.owner == owner and dict(req.params) == {"cpu": "cd" * 32} and req.product == "licwiz-demo"
    assert c.server_target() is None and c.where() == "for all users of this computer"
