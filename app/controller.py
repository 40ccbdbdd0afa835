"""Every decision of the wizard and every call it makes into core, without Textual.

The screens show what the state holds and call this controller; the App
(app/wizard.py) builds one per run, feeds it what start-up collected (in a
thread) and moves between steps. The rules live here once:

- the method lock: learnt from the center's availability answer
  (``Availability.method_family``) or from a ``method_locked`` refusal, kept in
  ``state.method_lock`` (``check_availability``, ``failure``);
- the activation request for what was typed (``build_request``), for a
  license server with the server's parameters (``offline_request``);
- a ``Result`` from an ``Outcome`` (``result_of``), an ``ErrorInfo`` from an
  exception (``failure``);
- the all-users fallback: at start-up (``needs_all_users_warning``) and after
  an activation whose install failed because the all-users folder cannot be
  written (``offer_current_user``, then ``install_issued``);
- the offline exchange: request file, phone codes, installing a license data
  file or the operator's rows (``core.exchange``).

Heavy imports (httpx, cryptography) are plain imports inside the methods that
need them: the first step needs none of them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeGuard

from licwiz.core.errors import CenterError, LicwizError, NotWritable, StorageError
from licwiz.core.i18n import N_, _
from licwiz.core.message import Msg
from licwiz.core.owner import OwnerData

from . import flow
from .config import WizardConfig
from .state import ErrorInfo, InstallScope, MethodLock, Result, WizardState

if TYPE_CHECKING:
    from licwiz.core.acquire import AfterActivationError, Outcome, Progress, ServerTarget
    from licwiz.core.client import Availability, CenterClient
    from licwiz.core.exchange import OfflineMethod, PendingRequest
    from licwiz.core.keys import Keyring
    from licwiz.core.request import ActivationRequest


@dataclass(frozen=True, slots=True)
class Startup:
    """What the App collects in a thread once the first step is up."""

    params: dict[str, str] | None
    keyring: Keyring | None
    error: LicwizError | None
    all_users_writable: bool


def collect_startup(product: str) -> Startup:
    """The fingerprint, the trusted keys and whether all users' folder can be
    written. Blocking (file reads, cryptography): run it in a thread."""
    from licwiz.core.fingerprint import collect
    from licwiz.core.keys import load_keyring
    from licwiz.core.storage import is_writable

    params: dict[str, str] | None = None
    keyring: Keyring | None = None
    error: LicwizError | None = None
    try:
        params = collect(product)
        keyring = load_keyring()
    except LicwizError as exc:
        error = exc
    except Exception as exc:  # a broken /proc or key file must not kill the UI
        error = LicwizError(Msg(N_("Cannot read this computer's key parameters")),
                            f"{type(exc).__name__}: {exc}", code="fingerprint")
    return Startup(params, keyring, error, is_writable("all-users"))


# Shown as _(OUTAGE_BRIEF).
OUTAGE_BRIEF = N_("The Licensing Center is busy (or cannot be reached), try again in a moment")
# What the center's statuses of a passing outage are: 503 is its own answer
# while its database cannot be reached, 502/504 a proxy's in front of it.
_OUTAGE_STATUSES = frozenset({502, 503, 504})
# Failures that mean "the center cannot be used from here now": the wizard offers the
# file and phone methods, which need no connection.
_AWAY_CODES = frozenset({"unreachable", "untrusted_certificate"})


def is_outage(exc: BaseException) -> TypeGuard[CenterError]:
    """Will the same call likely succeed in a moment? The center answered
    ``unavailable`` (or a proxy 502/504), or could not be reached. An
    untrusted certificate (``untrusted_certificate``) is not: no retry fixes it."""
    if not isinstance(exc, CenterError):
        return False
    return exc.code in ("unreachable", "unavailable") or exc.status in _OUTAGE_STATUSES


def outage_detail(exc: CenterError) -> str:
    """The error description of an outage: what happened, what to do, and
    what the client saw (for support if it lasts)."""
    what = (_("The Licensing Center answered HTTP {status} ({code}): it is busy or its "
              "database cannot be reached for a moment.").format(status=exc.status, code=exc.code)
            if exc.status else
            _("The Licensing Center could not be reached (no connection, or no answer in time)."))
    # What the client saw (the center's words, the network's error), for support if it lasts.
    if exc.code == "unavailable":
        seen = exc.localized_brief()
    else:
        seen = exc.localized_detail() or exc.localized_brief()
    return "\n".join([
        what,
        _("Trying again never uses a second PIN code: if the Licensing Center had already issued "
          "the license, it answers with that same license."),
        _("Try again in a moment (Enter), or select another license acquisition method (M): "
          "the file and phone methods need no connection from this computer."),
        "",
        _("Seen: {seen}").format(seen=seen),
    ])


def kept_note(exc: AfterActivationError) -> str:
    """What the wizard says about a license issued but not installed: where it
    was kept and how to install it (the PIN is spent; the text must not be lost)."""
    where = exc.saved_to
    if where is None:
        return _("The license was issued (its PIN code is used) but could not be saved: its text is "
                 "in the error description (V). Copy it before closing the wizard.")
    if exc.verified:
        return "\n".join([
            _("The license was issued (its PIN code is used) but not installed. It was kept in "
              "{path}").format(path=where),
            _("Install it with: {command}").format(command=f"licwiz install --without-request {where}"),
        ])
    return _("The license received did not pass verification and was NOT installed. It was kept "
             "in {path} for support (V: error description).").format(path=where)


def issued_note(exc: AfterActivationError) -> str:
    """The all-users warning's words when the license is already issued."""
    note = _("The Licensing Center has already issued the license (its PIN code is used). "
             "\"Acquire for the current user\" installs that license for the current "
             "operating system user; no other PIN code is used.")
    if exc.saved_to is not None:
        note += " " + _("Meanwhile it is kept in {path}").format(path=exc.saved_to)
    return note


class WizardController:
    def __init__(self, config: WizardConfig, state: WizardState) -> None:
        self.config = config
        self.state = state
        self._startup: Startup | None = None
        self._started = asyncio.Event()
        # None until start-up has looked: then whether all users' folder can be written.
        self.all_users_writable: bool | None = None

    # -- start-up ------------------------------------------------------------------

    def started(self, startup: Startup) -> None:
        """Start-up's results, handed over on the event loop."""
        self._startup = startup
        self.all_users_writable = startup.all_users_writable
        self._started.set()

    @property
    def is_started(self) -> bool:
        return self._started.is_set()

    async def wait_started(self) -> None:
        await self._started.wait()

    def needs_all_users_warning(self) -> bool:
        """Show the all-users warning now? Once per run, only while installing
        for all users was still the plan."""
        s = self.state
        if self.all_users_writable is not False or s.all_users_warning_seen or s.scope != "all-users":
            return False
        s.all_users_warning_seen = True
        return True

    def all_users_dir(self) -> str:
        from licwiz.core.storage import license_dir

        return str(license_dir("all-users"))

    def use_current_user(self) -> None:
        """The person chose "Acquire for the current user"."""
        self.state.scope = "user"

    async def params(self) -> Mapping[str, str]:
        await self._started.wait()
        assert self._startup is not None
        if self._startup.params is None:
            raise self._startup.error or LicwizError(Msg(N_("Key computer parameters are not available")))
        return self._startup.params

    async def keyring(self) -> Keyring:
        await self._started.wait()
        assert self._startup is not None
        if self._startup.keyring is None:
            raise self._startup.error or LicwizError(Msg(N_("The trusted keys could not be loaded")))
        return self._startup.keyring

    # -- owner data files (Save data / Load data; blocking: call in a thread) ---------------

    def load_owner_file(self, path: Path) -> OwnerData:
        from licwiz.core.owner import load_file

        return load_file(path)

    def save_owner_file(self, path: Path, owner: OwnerData) -> None:
        from licwiz.core.owner import save_file

        save_file(path, owner)

    # -- what is asked, and of whom -------------------------------------------------------

    async def build_request(self, method: str = "online") -> ActivationRequest:
        """The ActivationRequest for what has been typed (raises InputError naming a field)."""
        from licwiz.core.identifiers import parse_pin, parse_regnum
        from licwiz.core.request import ActivationRequest

        s = self.state
        op = s.request_operation
        extra = parse_pin(s.extra_pin, Msg(flow.EXTRA_PIN)) if op == "update" else None
        return ActivationRequest(
            product=self.config.product,
            regnum=parse_regnum(s.regnum),
            pin=parse_pin(s.pin, flow.pin_label(s)),
            operation=op,
            owner=s.entered_owner,
            params=dict(await self.params()),
            method=method,
            extra_pin=extra,
        )

    async def offline_request(self, method: OfflineMethod) -> ActivationRequest:
        """The request of the file or phone method; a license for a license
        server binds the server's parameters, not this computer's."""
        return await self._targeted_request(method)

    async def _targeted_request(self, method: str) -> ActivationRequest:
        from licwiz.core.acquire import server_parameters

        req = await self.build_request(method=method)
        target = self.server_target()
        if target is not None:
            req = replace(req, params=await server_parameters(target, self.config.product))
        return req

    async def activation_request(self) -> tuple[ActivationRequest, str]:
        """The request the automatic method sends, and its Idempotency-Key.

        The center keeps the answer of a key with a hash of the whole body,
        and refuses the key with any other body (idempotency_conflict). So a
        retry after a lost answer, a timeout or Cancel sends the request kept
        from the last attempt, byte for byte (its nonce and created too): the
        center answers with the license it already issued, no second PIN.
        While the kit, PINs, operation, owner data, key parameters, method and
        license server are what was sent, that request is kept; when any of
        them changed a new request gets a new key (the old key's answer, if
        any, is for what was asked before)."""
        import uuid

        s = self.state
        fresh = await self._targeted_request("online")
        target = s.server_address
        kept = s.activation
        # Equal but for what each build makes anew (nonce, created): the same request.
        same = kept is not None and target == s.activation_target and \
            replace(fresh, nonce=kept.nonce, created=kept.created, client_version=kept.client_version) == kept
        if same and kept is not None:
            return kept, s.activation_key
        s.activation, s.activation_key, s.activation_target = fresh, uuid.uuid4().hex, target
        s.activation_sent, s.activation_checked = False, None
        return fresh, s.activation_key

    def forget_activation(self) -> None:
        """The next attempt builds a new request with a new key."""
        s = self.state
        s.activation, s.activation_key, s.activation_sent, s.activation_checked = None, "", False, None

    def center_client(self) -> CenterClient:
        from licwiz.core.client import CenterClient

        return CenterClient(self.config.center_url, timeout=self.config.center_timeout)

    def server_target(self) -> ServerTarget | None:
        """The license server of Advanced settings, with its admin token
        (LICWIZ_SERVER_TOKEN or ~/.config/licwiz/server-token); None when the
        license stays on this computer."""
        s = self.state
        if not s.install_on_server:
            return None
        from licwiz.core.acquire import ServerTarget
        from licwiz.core.server_client import admin_token

        return ServerTarget(flow.server_host(s.server), int(s.port.strip()), token=admin_token())

    def where(self) -> str:
        """Where the license is going, in words."""
        s = self.state
        if s.install_scope == "server":
            return _("on the license server {server}").format(server=s.server_address)
        if s.install_scope == "user":
            return _("for the current user")
        return _("for all users of this computer")

    # -- outcomes -------------------------------------------------------------------------

    def failure(self, exc: BaseException, step: str) -> ErrorInfo:
        """Record a failure in the state as the wizard shows it; what the
        center said about the method is remembered (the method lock)."""
        s = self.state
        if isinstance(exc, CenterError):
            if exc.code in _AWAY_CODES:
                s.center_unreachable = True
            elif exc.code == "method_locked":
                s.method_lock = "phone"  # the online method was refused: only the phone is left
            elif exc.code == "idempotency_conflict":
                # The kept request no longer matches what the center holds for its
                # key: a new request and key can only spend a PIN not yet spent.
                self.forget_activation()
        info = ErrorInfo.from_exception(exc, step=step)
        if isinstance(exc, CenterError) and not isinstance(exc.detail, Msg):
            # The center answers in English with a stable code; from_exception words the brief
            # from the code in the user's language. Its advice (the detail) is a catalog message
            # too where the center wrote a constant one; anything else shows as it came.
            info.detail = _(exc.detail)
        info.center = self.config.center_url
        if is_outage(exc):
            # Not a refusal and nothing for support: the same call succeeds once
            # the center (or its database, or the route to it) is back.
            info.retry = True
            info.brief = _(OUTAGE_BRIEF)
            info.detail = outage_detail(exc)
        s.error = info
        return info

    def result_of(self, outcome: Outcome) -> Result:
        """The final step's summary of an install; the wizard's outcome."""
        lic = outcome.license
        s = self.state
        scope: InstallScope = "server" if outcome.server else (outcome.scope or s.scope)
        s.result = Result(
            license_id=lic.license_id, users=lic.users, scope=scope, path=str(outcome.path or ""),
            server=outcome.server or "", product=lic.product, method=lic.method,
            supersedes=lic.supersedes,
        )
        s.error = None
        return s.result

    # -- the automatic method ---------------------------------------------------------------

    async def check_availability(self) -> Availability:
        """Ask the center whether a license can be acquired; learns the
        method lock of a recovery. Raises LicwizError (recorded by ``failure``
        when the caller shows it)."""
        from licwiz.core.acquire import check_available

        s = self.state
        req = await self.build_request()
        try:
            async with self.center_client() as client:
                avail = await check_available(client, req)
        except CenterError as exc:
            s.center_unreachable = exc.code in _AWAY_CODES
            if exc.code == "method_locked":
                s.method_lock = "phone"
            raise
        s.center_unreachable = False
        s.availability_checked = True
        s.available_users = avail.users
        lock = flow.lock_from_family(avail.method_family)
        if s.operation == "recover" and lock is not None:
            s.method_lock = lock
        return avail

    def should_ask_method_lock(self) -> bool:
        """The method step of a recovery asks the center first, so only the
        methods the first license allows are offered."""
        s = self.state
        return s.operation == "recover" and s.method_lock is None and not s.center_unreachable

    async def learn_method_lock(self) -> MethodLock | None:
        """``check_availability`` for the method step: errors only change what
        is offered (unreachable: every method)."""
        with contextlib.suppress(LicwizError):
            await self.check_availability()
        return self.state.method_lock

    def automatic_allowed(self) -> bool:
        return "automatic" in flow.allowed_methods(self.state)

    async def acquire(self, progress: Progress | None = None) -> Result:
        """The automatic method: activate, verify, install where chosen."""
        from licwiz.core.acquire import STEP_ACQUIRE, acquire_online

        s = self.state
        req, key = await self.activation_request()
        keyring = await self.keyring()

        def stage(name: str) -> None:
            if name == STEP_ACQUIRE:  # from here the center may have spent the PIN for req
                s.activation_sent = True
            if progress is not None:
                progress(name)

        def checked(avail: Availability) -> None:
            s.activation_checked = avail

        # Once req has gone out to /activate, a lost answer is resent: /check then
        # says pin_used, and the availability req was given before stands.
        resend_of = s.activation_checked if s.activation_sent else None
        async with self.center_client() as client:
            outcome = await acquire_online(
                client, req, keyring=keyring, scope=s.scope, idempotency_key=key,
                progress=stage, server=self.server_target(), resend_of=resend_of, on_checked=checked,
            )
        return self.result_of(outcome)

    async def offer_current_user(self, exc: AfterActivationError) -> bool:
        """After the PIN was spent: did the install fail because all users'
        folder cannot be written (then the license in hand may go to the
        current user)? Said by the error (not_writable) or, for causes such as
        a read-only file system, by trying the folder again."""
        from licwiz.core.storage import is_writable

        s = self.state
        if not exc.verified or s.install_on_server or s.scope != "all-users":
            return False
        if not isinstance(exc.cause, StorageError):
            return False
        if exc.cause.code == NotWritable.code:
            return True
        return not await asyncio.to_thread(is_writable, "all-users")

    def offer_current_user_before(self, exc: NotWritable) -> bool:
        """Before any PIN was spent: all users' folder cannot be written."""
        s = self.state
        return s.scope == "all-users" and not s.install_on_server

    async def install_issued(self, exc: AfterActivationError) -> Result:
        """Install the license the center already issued for the current user:
        verified again (it must be the license this request asked for); no
        activation, no PIN."""
        from licwiz.core.acquire import install_license_text

        self.use_current_user()
        req = await self.build_request()
        keyring = await self.keyring()
        outcome = await asyncio.to_thread(  # file I/O and fsync: off the event loop
            install_license_text, exc.license_text, keyring=keyring, product=req.product,
            params=req.params, scope="user", expect=req, source=_("issued license"),
        )
        return self.result_of(outcome)

    # -- the file and phone methods ---------------------------------------------------------

    def pending_file_requests(self) -> list[PendingRequest]:
        from licwiz.core.exchange import load_pending

        return [p for p in load_pending(self.config.product) if p.method == "file"]

    def saved_request(self) -> PendingRequest | None:
        """The pending request of the request file saved in this run, if any."""
        if not self.state.request_file:
            return None
        for p in self.pending_file_requests():
            if p.request_file == self.state.request_file and Path(p.request_file).exists():
                return p
        return None

    async def save_request_file(self, path: str) -> PendingRequest:
        """Seal the request to the center's key, write it, record it as pending."""
        from licwiz.core.exchange import write_request_file

        req = await self.offline_request("file")
        keyring = await self.keyring()
        pending = await asyncio.to_thread(write_request_file, req, Path(path), keyring=keyring,
                                          scope=self.state.scope)
        self.state.request_file = pending.request_file
        return pending

    async def phone_request_rows(self) -> list[str]:
        """The request code rows (the pending phone request asking the same is
        reused, so reopening the wizard shows the same codes)."""
        from licwiz.core.exchange import start_phone

        req = await self.offline_request("phone")
        _pending, rows = start_phone(req, scope=self.state.scope)
        return rows

    async def install_license_file(self, path: Path) -> Result:
        """"Specify license details file": it must answer a pending request of
        this computer; verified, matched and installed once (core.exchange)."""
        from licwiz.core.exchange import install_answer_file

        target = self.server_target()
        params = None if target is not None else await self.params()
        outcome, _installed = await install_answer_file(
            path, target=target or self.state.scope, keyring=await self.keyring(),
            product=self.config.product, params=params,
        )
        return self.result_of(outcome)

    async def install_phone_answer(self, rows: Sequence[str]) -> Result:
        """The operator's rows for the request of what was typed (recorded
        again if the pending record is gone): rebuilt, verified, installed."""
        from licwiz.core.exchange import install_phone_answer, new_pending, pending_for

        req = await self.offline_request("phone")
        pending = pending_for(req, "phone") or new_pending(req, "phone", scope=self.state.scope)
        target = self.server_target()
        params = None if target is not None else await self.params()
        outcome, _installed = await install_phone_answer(
            list(rows), [pending], target=target or self.state.scope, keyring=await self.keyring(),
            product=self.config.product, params=params,
        )
        return self.result_of(outcome)
