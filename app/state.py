"""Everything the person has typed or chosen so far, in one typed object.

A step's screen reads its initial values from here and writes every change
back, so a step built again (forward after Back) shows what was typed. Nothing
in this module imports Textual: the flow (app/flow.py), the controller and
their tests use it bare.
"""

from __future__ import annotations

import datetime as dt
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from licwiz.core import __version__
from licwiz.core.errors import CenterError, LicwizError
from licwiz.core.i18n import _
from licwiz.core.owner import OwnerData

from .steps import StepName

if TYPE_CHECKING:  # cryptography and httpx are not loaded for the first step
    from licwiz.core.client import Availability
    from licwiz.core.request import ActivationRequest

__all__ = ["ErrorInfo", "Result", "StepName", "WizardState"]

Action = Literal["acquire", "license_file"]
OperationChoice = Literal["first", "recover"]
RecoverChoice = Literal["same", "update"]
Method = Literal["automatic", "file", "phone"]
# What the center says a kit's license may be re-acquired by (core.license.method_family).
MethodLock = Literal["phone", "online-or-file"]
InstallScope = Literal["all-users", "user", "server"]


@dataclass(slots=True)
class ErrorInfo:
    """A failure as the wizard shows it: brief on the step, the rest in
    "View error description" for a support engineer."""

    code: str
    brief: str
    detail: str = ""
    request_id: str = ""
    status: int = 0
    time: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat())
    version: str = __version__
    step: str = ""
    center: str = ""  # the Licensing Center URL asked
    # A passing outage (the center busy, its database down, no route for now):
    # the same call may succeed in a moment, so the step offers "Try again".
    retry: bool = False
    runtime: str = field(default_factory=lambda: f"Python {platform.python_version()}, {platform.system()}")

    @classmethod
    def from_exception(cls, exc: BaseException, step: str = "") -> ErrorInfo:
        """What a person reads of ``exc``: its brief and detail in the user's language
        (an error keeps them in English for --json and logs; core/message.py)."""
        if isinstance(exc, CenterError):
            return cls(exc.code, exc.localized_brief(), exc.localized_detail(), exc.request_id, exc.status,
                       step=step)
        if isinstance(exc, LicwizError):
            return cls(exc.code, exc.localized_brief(), exc.localized_detail(), step=step)
        # Unexpected: still no traceback for the user, but the type for support.
        return cls("internal", _("An unexpected error stopped license acquisition"),
                   f"{type(exc).__name__}: {exc}", step=step)

    def description(self) -> str:
        """The fields' labels in the user's language; the values (code, request
        id, time, versions, the center's detail) as they are, for support."""
        lines = [
            _("Error code: {code}").format(code=self.code),
            _("Message: {brief}").format(brief=self.brief),
            _("Request id: {request_id}").format(request_id=self.request_id or "-"),
            _("HTTP status: {status}").format(status=self.status or "-"),
            _("Time (UTC): {time}").format(time=self.time),
            _("licwiz version: {version} ({runtime})").format(version=self.version, runtime=self.runtime),
            _("Step: {step}").format(step=self.step or "-"),
            _("Licensing Center: {center}").format(center=self.center or "-"),
            "",
            _("Detail:"),
            self.detail or self.brief,
        ]
        return "\n".join(lines)


@dataclass(slots=True)
class Result:
    """What was installed where (the final step shows it)."""

    license_id: str
    users: int
    scope: InstallScope
    path: str = ""
    server: str = ""  # "host:port" when installed on a license server
    product: str = ""
    method: str = "online"
    supersedes: str | None = None


@dataclass(slots=True)
class WizardState:
    # Step history: the screen stack of the wizard, the rail shows it, Back truncates
    # it; the last is the current step.
    history: list[StepName] = field(default_factory=lambda: ["action"])
    action: Action = "acquire"
    # Kit step. ``pin`` is the PIN to spend (first time) or the last used PIN (recovery).
    regnum: str = ""
    pin: str = ""
    # Advanced settings.
    install_on_server: bool = False
    server: str = ""
    port: str = ""
    automatic: bool = True
    # Operation step.
    operation: OperationChoice | None = None
    # First-time owner data and the absolute-accuracy checkbox.
    owner: OwnerData = field(default_factory=OwnerData)
    accuracy_ack: bool = False
    owner_file: str = ""  # last path used by Save data / Load data
    # Recovery step.
    recover_choice: RecoverChoice | None = None
    same_params_ack: bool = False
    extra_pin: str = ""
    # Owner-data verification (recovery and update).
    verify_owner: OwnerData = field(default_factory=OwnerData)
    # Method choice and what the center allows.
    method: Method | None = None
    method_lock: MethodLock | None = None
    center_unreachable: bool = False
    availability_checked: bool = False
    available_users: int = 0
    # Where to install: all users unless the location is not writable and the
    # person chose "Acquire for the current user".
    scope: Literal["all-users", "user"] = "all-users"
    all_users_warning_seen: bool = False
    # The activation request last sent, its Idempotency-Key and the license
    # server it was for ("" = this computer): a retry after a lost answer, a
    # timeout or Cancel sends exactly this request again (same nonce and
    # created), so the center answers with the license it already issued and
    # never spends a second PIN (app/controller.py ``activation_request``).
    activation: ActivationRequest | None = None
    activation_key: str = ""
    activation_target: str = ""
    # Whether that request went out to /activate, and what /check said of it
    # before: a retry's /check then finds the PIN spent (by this very request,
    # if its answer was lost) and only the activation with the key can tell.
    activation_sent: bool = False
    activation_checked: Availability | None = None
    # Offline steps keep their own data here (the offline helper's screens).
    request_file: str = ""
    license_file: str = ""
    phone_response: list[str] = field(default_factory=list)
    # Outcome.
    result: Result | None = None
    error: ErrorInfo | None = None
    finished: bool = False

    @property
    def current(self) -> StepName:
        return self.history[-1]

    @property
    def request_operation(self) -> str:
        """The core.request operation: first, recover or update."""
        if self.operation == "recover":
            return "update" if self.recover_choice == "update" else "recover"
        return "first"

    @property
    def install_scope(self) -> InstallScope:
        return "server" if self.install_on_server else self.scope

    @property
    def server_address(self) -> str:
        if not self.install_on_server:
            return ""
        host = self.server.strip().strip("[]")
        return f"[{host}]:{self.port.strip()}" if ":" in host else f"{host}:{self.port.strip()}"

    @property
    def entered_owner(self) -> OwnerData:
        """The owner data that goes into the request (first-time or verified)."""
        return self.owner if self.request_operation == "first" else self.verify_owner

    @property
    def has_input(self) -> bool:
        """Would quitting now lose something the person typed?"""
        if self.finished or self.result is not None:
            return False
        return bool(
            self.regnum or self.pin or self.extra_pin or self.server
            or any(getattr(self.owner, n) for n in OwnerData.field_names() if n != "kind")
            or any(getattr(self.verify_owner, n) for n in OwnerData.field_names() if n != "kind")
        )

    def owner_file_path(self) -> Path | None:
        return Path(self.owner_file).expanduser() if self.owner_file.strip() else None
