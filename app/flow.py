r"""The wizard's flow: pure functions from ``WizardState`` to the next step.

No Textual here: tests/wizard/test_wizard_flow.py walks every branch of the
seed with bare states. The App (app/wizard.py) asks ``go_next`` where to go on
Next and pushes that step's screen; Back (``go_back``) pops screens down to
the step kept, so ``state.history`` is always the screen stack.

Branches (shared/seed-license-acquisition.txt)::

    action --acquire--> kit -> operation --first--> owner_first --------+
       |                          \--recover--> recovery -> owner_verify -+
       |    automatic on and allowed, center not known to be down:      |
       |        -> automatic --ok--> final                              |
       |                     --failed / locked / another method--> method
       |    otherwise -> method
       |    method: automatically -> automatic
       |            file -> file_request -> file_install -> final
       |            phone -> phone_codes -> phone_response -> final
       \--license_file--> file_install -> final

The method lock: a license first acquired by phone is re-acquired only by
phone; one acquired online or by file only online or by file; a first-time
registration may use any. The wizard learns the lock from the center's
/check answer (``Availability.method_family``), or from a ``method_locked``
refusal of the online method (then only the phone is left), and keeps it in
``state.method_lock``.
"""

from __future__ import annotations

import ipaddress

from licwiz.core.errors import InputError
from licwiz.core.i18n import N_, _
from licwiz.core.identifiers import parse_pin, parse_regnum
from licwiz.core.message import Msg

from . import steps
from .state import Method, MethodLock, StepName, WizardState

STEPS: tuple[StepName, ...] = steps.NAMES
TITLES = steps.TITLES
METHODS: tuple[Method, ...] = ("automatic", "file", "phone")
# Read in the process language (steps.Translated).
METHOD_LABELS: steps.Translated[Method] = steps.Translated({
    "automatic": N_("Automatically"),
    "file": N_("Manually (using a file)"),
    "phone": N_("By phone"),
})
_METHOD_STEP: dict[Method, StepName] = {
    "automatic": "automatic", "file": "file_request", "phone": "phone_codes",
}


def allowed_methods(state: WizardState) -> tuple[Method, ...]:
    if state.method_lock == "phone":
        return ("phone",)
    if state.method_lock == "online-or-file":
        return ("automatic", "file")
    return METHODS


def lock_from_family(family: str) -> MethodLock | None:
    """Map the center's ``method_family`` (or a license's method) to a lock;
    an empty or unknown family (a first-time registration) locks nothing."""
    if family == "phone":
        return "phone"
    if family in ("online-or-file", "online", "file"):
        return "online-or-file"
    return None


def after_data(state: WizardState) -> StepName:
    """Where the owner-data steps lead: straight to the automatic acquisition
    when it is on and allowed, otherwise to the method choice."""
    if state.automatic and not state.center_unreachable and "automatic" in allowed_methods(state):
        return "automatic"
    return "method"


def next_step(state: WizardState) -> StepName | None:
    """The step after ``state.current``; None after the final step."""
    step = state.current
    if step == "action":
        return "file_install" if state.action == "license_file" else "kit"
    if step == "kit":
        return "operation"
    if step == "operation":
        return "recovery" if state.operation == "recover" else "owner_first"
    if step == "recovery":
        return "owner_verify"
    if step in ("owner_first", "owner_verify"):
        return after_data(state)
    if step == "automatic":
        return "final" if state.result is not None else "method"
    if step == "method":
        method = state.method if state.method in allowed_methods(state) else allowed_methods(state)[0]
        return _METHOD_STEP[method]
    if step == "file_request":
        return "file_install"
    if step == "phone_codes":
        return "phone_response"
    if step in ("file_install", "phone_response"):
        return "final"
    return None


def steps_taken(state: WizardState) -> list[StepName]:
    """What the step rail shows: every step taken, the current one last."""
    return list(state.history)


def go_next(state: WizardState, step: StepName | None = None) -> StepName | None:
    """Move forward (to ``step`` if given, e.g. "method" after a failure)."""
    nxt = step if step is not None else next_step(state)
    if nxt is not None:
        if nxt in state.history:  # re-entering a loop (method -> automatic again): cut the loop
            del state.history[state.history.index(nxt):]
        state.history.append(nxt)
    return nxt


def go_back(state: WizardState, index: int | None = None) -> StepName:
    """Back one step, or to ``state.history[index]``; what was typed stays in the state."""
    if index is None:
        index = len(state.history) - 2
    index = max(0, min(index, len(state.history) - 1))
    del state.history[index + 1:]
    if state.current in ("automatic", "owner_first", "owner_verify", "method"):
        # Going back before an acquisition lets a fresh attempt run again.
        state.result = None
    state.error = None
    return state.current


def pin_label(state: WizardState) -> Msg:
    """The PIN field's name in errors: English as a str (an error's machine side), in the
    user's language where the error is shown (core/message.py)."""
    return Msg(N_("Last used PIN code")) if state.operation == "recover" else Msg(N_("PIN code"))


# The extra PIN field's name in errors (as pin_label).
EXTRA_PIN = N_("Extra PIN code")


def step_errors(state: WizardState, step: StepName | None = None) -> dict[str, str]:
    """Field -> what is wrong, for the step's fields; empty means Next may go on.
    Field names match the screens' widget ids."""
    step = step or state.current
    out: dict[str, str] = {}
    if step == "kit":
        _check(out, "regnum", lambda: parse_regnum(state.regnum))
        _check(out, "pin", lambda: parse_pin(state.pin, pin_label(state)))
        if state.install_on_server:
            if not state.server.strip():
                out["server"] = _("Server: enter the license server's name")
            elif not _server_host_ok(state.server):
                out["server"] = _("Server: a host name or address without spaces (the port goes in Port)")
            port = state.port.strip()
            if not port.isdigit() or not 1 <= int(port) <= 65535:
                out["port"] = _("Port: a number from 1 to 65535")
    elif step == "operation":
        if state.operation is None:
            out["operation"] = _("Choose the operation type")
    elif step == "owner_first":
        out.update({f"owner-{k}": v for k, v in state.owner.errors().items()})
        if not state.accuracy_ack:
            out["accuracy"] = _("Tick the box to confirm you are aware of the accuracy requirement")
    elif step == "recovery":
        if state.recover_choice is None:
            out["recover_choice"] = _("Choose: the same license, or an update")
        elif state.recover_choice == "same" and not state.same_params_ack:
            out["same_params"] = _("Tick the box to confirm the key computer parameters have not changed")
        elif state.recover_choice == "update":
            _check(out, "extra_pin", lambda: parse_pin(state.extra_pin, Msg(EXTRA_PIN)))
            if "extra_pin" not in out and state.extra_pin.replace("-", "").replace(" ", "") == \
                    state.pin.replace("-", "").replace(" ", ""):
                out["extra_pin"] = _("Extra PIN code: must differ from the PIN code currently in use")
    elif step == "owner_verify":
        out.update({f"verify-{k}": v for k, v in state.verify_owner.errors().items()})
    elif step == "method" and state.method not in allowed_methods(state):
        out["method"] = _("Choose a license acquisition method")
    return out


def _check(out: dict[str, str], name: str, fn: object) -> None:
    try:
        fn()  # type: ignore[operator]
    except InputError as exc:
        out[name] = exc.localized_brief()


def server_host(text: str) -> str:
    """The host typed in Server, without the brackets an IPv6 address may come in."""
    t = text.strip()
    return t[1:-1] if t.startswith("[") and t.endswith("]") else t


def _server_host_ok(text: str) -> bool:
    host = server_host(text)
    if not host or any(ch.isspace() for ch in host):
        return False
    if ":" not in host:
        return True
    try:  # a colon belongs only in an IPv6 address; "host:port" goes in two fields
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False
