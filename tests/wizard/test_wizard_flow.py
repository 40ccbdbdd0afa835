"""The wizard's flow without any UI: every branch of the seed."""

from __future__ import annotations

import pytest
from licwiz.app import flow
from licwiz.app.state import Result, WizardState
from licwiz.core.identifiers import new_pin, new_regnum
from licwiz.core.owner import OwnerData
from support import owners

OWNER = owners.ORGANISATION


def walk(state: WizardState, *, until: str | None = None) -> list[str]:
    """Press Next while the step is valid (the UI's rule), return the path."""
    while state.current != until:
        assert flow.step_errors(state) == {}, (state.current, flow.step_errors(state))
        if flow.go_next(state) is None:
            break
        if state.current == "automatic" and until != "automatic":
            break
    return flow.steps_taken(state)


def kit_state(**kw: object) -> WizardState:
    s = WizardState(regnum=new_regnum(), pin=new_pin())
    for k, v in kw.items():
        setattr(s, k, v)
    return s


def test_first_time_automatic() -> None:
    s = kit_state(operation="first", owner=OWNER, accuracy_ack=True)
    assert walk(s) == ["action", "kit", "operation", "owner_first", "automatic"]
    s.result = Result("1234567890-001", 1, "all-users")
    assert flow.next_step(s) == "final"
    flow.go_next(s)
    assert flow.next_step(s) is None


def test_recovery_same_goes_through_verification() -> None:
    s = kit_state(operation="recover", recover_choice="same", same_params_ack=True, verify_owner=OWNER)
    assert walk(s) == ["action", "kit", "operation", "recovery", "owner_verify", "automatic"]
    assert s.request_operation == "recover"
    assert flow.pin_label(s) == "Last used PIN code"


def test_update_needs_an_extra_pin_that_differs() -> None:
    s = kit_state(operation="recover", recover_choice="update", verify_owner=OWNER)
    s.history = ["action", "kit", "operation", "recovery"]
    assert "extra_pin" in flow.step_errors(s)
    s.extra_pin = s.pin
    assert "must differ" in flow.step_errors(s)["extra_pin"]
    s.extra_pin = new_pin()
    assert flow.step_errors(s) == {}
    assert s.request_operation == "update"


def test_automatic_off_goes_to_method_choice_and_each_method_branch() -> None:
    for method, tail in (("automatic", ["automatic"]),
                         ("file", ["file_request", "file_install", "final"]),
                         ("phone", ["phone_codes", "phone_response", "final"])):
        s = kit_state(operation="first", owner=OWNER, accuracy_ack=True, automatic=False)
        assert walk(s, until="method")[-2:] == ["owner_first", "method"]
        assert "method" in flow.step_errors(s)
        s.method = method  # type: ignore[assignment]
        path = walk(s, until=tail[-1])
        assert path[-len(tail):] == tail


def test_failed_automatic_leads_to_method_and_retry_cuts_the_loop() -> None:
    s = kit_state(operation="first", owner=OWNER, accuracy_ack=True)
    walk(s, until="automatic")
    assert flow.next_step(s) == "method"  # no result: "Select another method"
    flow.go_next(s)
    s.method = "automatic"
    flow.go_next(s)
    assert s.history == ["action", "kit", "operation", "owner_first", "automatic"]


def test_unreachable_center_skips_automatic() -> None:
    s = kit_state(operation="first", owner=OWNER, accuracy_ack=True, center_unreachable=True)
    assert walk(s, until="method")[-1] == "method"
    assert "automatic" in flow.allowed_methods(s)  # offered again for when the link is back


def test_license_file_action() -> None:
    s = WizardState(action="license_file")
    assert walk(s, until="final") == ["action", "file_install", "final"]


@pytest.mark.parametrize(("family", "offered"), [
    ("phone", ("phone",)),
    ("online-or-file", ("automatic", "file")),
    ("online", ("automatic", "file")),
    ("file", ("automatic", "file")),
    ("", ("automatic", "file", "phone")),
])
def test_method_lock(family: str, offered: tuple[str, ...]) -> None:
    s = WizardState(method_lock=flow.lock_from_family(family))
    assert flow.allowed_methods(s) == offered


def test_phone_lock_skips_automatic_and_forbids_other_methods() -> None:
    s = kit_state(operation="recover", recover_choice="same", same_params_ack=True,
                  verify_owner=OWNER, method_lock="phone")
    assert walk(s, until="method")[-1] == "method"
    s.method = "file"
    assert "method" in flow.step_errors(s)
    s.method = "phone"
    assert flow.next_step(s) == "phone_codes"


def test_back_to_any_step_keeps_the_data() -> None:
    s = kit_state(operation="first", owner=OWNER, accuracy_ack=True)
    regnum = s.regnum
    walk(s, until="automatic")
    assert flow.go_back(s, 1) == "kit"
    assert s.history == ["action", "kit"]
    assert s.regnum == regnum and s.owner == OWNER and s.accuracy_ack
    assert flow.go_back(s) == "action"
    assert flow.go_back(s) == "action"  # the first step has nothing before it


def test_kit_errors_name_the_field_and_the_check_digit() -> None:
    s = WizardState(regnum="1234567890", pin="12")
    s.history = ["action", "kit"]
    errs = flow.step_errors(s)
    assert "Registration number" in errs["regnum"]
    reg = new_regnum()
    s.regnum = reg[:-1] + str((int(reg[-1]) + 1) % 10)
    assert "check digit" in flow.step_errors(s)["regnum"]
    s.regnum, s.pin = reg, new_pin()
    assert flow.step_errors(s) == {}
    s.install_on_server = True
    errs = flow.step_errors(s)
    assert set(errs) == {"server", "port"}
    s.server, s.port = "lic.example", "70000"
    assert set(flow.step_errors(s)) == {"port"}
    s.port = "1540"
    assert flow.step_errors(s) == {}
    assert s.install_scope == "server" and s.server_address == "lic.example:1540"
    s.server = "lic.example:1540"  # the port belongs in Port
    assert set(flow.step_errors(s)) == {"server"}
    for v6 in ("fd00::15", "[fd00::15]"):  # an IPv6 address has colons of its own
        s.server = v6
        assert flow.step_errors(s) == {}
        assert flow.server_host(s.server) == "fd00::15" and s.server_address == "[fd00::15]:1540"
    s.server = "fd00::zz"
    assert set(flow.step_errors(s)) == {"server"}


def test_owner_step_needs_the_accuracy_box() -> None:
    s = WizardState(owner=OWNER)
    s.history = ["action", "kit", "operation", "owner_first"]
    assert set(flow.step_errors(s)) == {"accuracy"}
    s.owner = OwnerData()
    assert "owner-contact" in flow.step_errors(s)
