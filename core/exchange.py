"""The offline exchange on the client: pending requests, and installing the
answer that comes back as a license data file or as phone response rows.

A request sent by file or phone is recorded as a *pending request* until its
license is installed: it holds the owner data and the PINs (needed to check
and rebuild the license), so it lives in ``core.storage.state_dir()/pending/
<id>.json``, mode 0600. The wizard's file and phone steps and ``licwiz
request``/``licwiz install`` all use this module.

Public API
==========

Pending requests
    ``PendingRequest`` (``id``, ``method``, ``request``, ``created``,
    ``request_file``, ``scope``; ``describe()``), ``OfflineMethod``,
    ``pending_dir()``, ``save_pending(p)``, ``load_pending(product=None)``
    (newest first, damaged entries skipped), ``remove_pending(p)``,
    ``new_pending(req, method, request_file=, scope=)`` (not saved),
    ``pending_for(req, method)`` (the one asking exactly ``req``),
    ``find_pending(lic, product)`` (the one a license answers).

Asking
    ``default_request_path(req, directory=None)``,
    ``write_request_file(req, out, keyring=, scope=) -> PendingRequest``
    (sealed to the center's key, written atomically, then recorded),
    ``start_phone(req, scope=) -> (PendingRequest, rows)`` (reuses the
    pending phone request asking the same, so reopening shows the same codes).

Answering (all async; ``target`` is a ``Scope`` or an ``acquire.ServerTarget``)
    ``install_answer_file(path, ...)`` and ``install_answer_text(text, ...)``:
    a license data file; it must answer a pending request of this computer
    (found by the license's kit, owner and PIN, or given as ``pending=``)
    unless ``require_pending=False`` (then it is checked against the target
    computer only). Returns ``(Outcome, PendingRequest | None)``.
    ``install_phone_answer(rows, pending=None, ...)``: the operator's rows
    for whichever pending phone request they answer (all of the product's
    when ``pending`` is None). Returns ``(Outcome, PendingRequest)``.
    ``answered_request(rows, pending, keyring) -> (License, text, PendingRequest)``:
    the rebuilding step alone (wrong rows raise ``PhoneCodeError`` naming them).
    Errors: ``NoPendingRequest`` (``no_pending_request``), the license's own
    (``FileFormatError``, ``SignatureError``, ``LicenseInvalid`` with
    ``wrong_product``, ``expired``, ``parameters_changed``,
    ``license_mismatch``), ``StorageError``, the license server's.

Promises: an answer is verified once (signature, trusted key, product, dates),
matched once (``acquire.check_answer``: against the pending request, and
against the computer it will live on: this one for a scope, the license
server's for a server), and installed by ``acquire.install_verified``, the
step online acquisition uses too. Nothing unverified or not as requested is
installed, and the pending request is removed only after the install
succeeded (a refused answer leaves it waiting for the right one). The answer
itself is the user's file or rows, so nothing issued is lost by a refusal.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from . import phonemsg
from .acquire import (
    Outcome,
    ServerTarget,
    Target,
    check_answer,
    expected_pin_digest,
    install_verified,
    server_parameters,
)
from .errors import FileFormatError, LicenseInvalid, LicwizError, SignatureError, StorageError
from .fingerprint import collect
from .i18n import N_
from .keys import Keyring, load_keyring
from .license import License, check_valid, read_file, verify
from .message import Msg
from .product import current_product
from .request import ActivationRequest, seal
from .storage import atomic_write, state_dir

OfflineMethod = Literal["file", "phone"]
PENDING_DIR = "pending"
_MAX_PENDING_BYTES = 64 * 1024


class NoPendingRequest(LicenseInvalid):
    code = "no_pending_request"


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """A request sent by file or phone whose license has not come back yet."""

    id: str
    method: OfflineMethod
    request: ActivationRequest
    created: str
    request_file: str = ""  # where the request file was saved (file method)
    scope: str = "all-users"  # where the wizard meant to install it

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "licwiz-pending-request", "version": 1, "id": self.id, "method": self.method,
            "created": self.created, "request_file": self.request_file, "scope": self.scope,
            "request": self.request.to_dict(),
        }

    @classmethod
    def from_dict(cls, doc: Any, source: str) -> PendingRequest:
        if not isinstance(doc, dict) or doc.get("format") != "licwiz-pending-request":
            raise FileFormatError(source, Msg(N_("not a pending request")))
        method = doc.get("method")
        if method not in ("file", "phone"):
            raise FileFormatError(source, Msg(N_("pending request: unknown method")))
        for name in ("id", "created", "request_file", "scope"):
            if not isinstance(doc.get(name), str):
                raise FileFormatError(source, Msg(N_("pending request: {name!r} missing"), name=name))
        return cls(
            id=doc["id"], method=method, request=ActivationRequest.from_dict(doc.get("request"), source),
            created=doc["created"], request_file=doc["request_file"], scope=doc["scope"],
        )

    def describe(self) -> str:
        """One line for a person (English; ``localized()`` to show it)."""
        r = self.request
        what = {"first": N_("first-time registration"), "recover": N_("license recovery"),
                "update": N_("license update")}
        operation = Msg(what[r.operation]) if r.operation in what else r.operation
        when = self.created[:16].replace("T", " ")
        if self.method == "file":
            return Msg(N_("kit {regnum}, {operation} by request file {file} ({when} UTC)"), regnum=r.regnum,
                       operation=operation, file=self.request_file, when=when)
        return Msg(N_("kit {regnum}, {operation} by phone codes ({when} UTC)"), regnum=r.regnum,
                   operation=operation, when=when)


# --- pending requests -------------------------------------------------------------


def pending_dir() -> Path:
    return state_dir() / PENDING_DIR


def save_pending(pending: PendingRequest) -> Path:
    path = pending_dir() / f"{pending.id}.json"
    text = json.dumps(pending.to_dict(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    atomic_write(path, text.encode("utf-8"), mode=0o600)
    return path


def load_pending(product: str | None = None) -> list[PendingRequest]:
    """Every readable pending request (of ``product`` when given), newest first."""
    out: list[PendingRequest] = []
    try:
        files = sorted(pending_dir().glob("*.json"))
    except OSError:
        return []
    for f in files:
        try:
            with f.open("rb") as fh:
                raw = fh.read(_MAX_PENDING_BYTES + 1)
            if len(raw) > _MAX_PENDING_BYTES:
                continue
            p = PendingRequest.from_dict(json.loads(raw.decode("utf-8")), str(f))
        except (OSError, ValueError, LicwizError):
            continue  # a damaged entry must not hide the others
        if product is None or p.request.product == product:
            out.append(p)
    out.sort(key=lambda p: p.created, reverse=True)
    return out


def remove_pending(pending: PendingRequest) -> None:
    try:
        (pending_dir() / f"{pending.id}.json").unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise StorageError(Msg(N_("cannot remove the pending request {id}"), id=pending.id),
                           str(exc)) from None


def new_pending(
    req: ActivationRequest, method: OfflineMethod, *, request_file: str = "", scope: str = "all-users"
) -> PendingRequest:
    """A pending request for ``req`` sent by ``method`` (not saved yet)."""
    created = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    stamp = created.replace(":", "").replace("-", "")[:15]
    req = dataclasses.replace(req, method=method)
    return PendingRequest(f"{stamp}-{secrets.token_hex(4)}", method, req, created, request_file, scope)


def _same_request(a: ActivationRequest, b: ActivationRequest) -> bool:
    return (a.product, a.regnum, a.pin, a.extra_pin, a.operation, a.owner.digest(), dict(a.params)) == (
        b.product, b.regnum, b.pin, b.extra_pin, b.operation, b.owner.digest(), dict(b.params)
    )


def pending_for(req: ActivationRequest, method: OfflineMethod) -> PendingRequest | None:
    """The newest pending request of ``method`` asking exactly what ``req`` asks."""
    for p in load_pending(req.product):
        if p.method == method and _same_request(p.request, req):
            return p
    return None


def find_pending(lic: License, product: str) -> PendingRequest | None:
    """The newest pending request this license answers (same product and kit,
    same owner digest and PIN); else the newest of the same kit, so the
    refusal can say what differs; None when no request of the kit is pending."""
    candidates = [p for p in load_pending(product) if p.request.regnum == lic.regnum]
    for p in candidates:
        if lic.owner_digest == p.request.owner.digest() and lic.pin_digest == expected_pin_digest(p.request):
            return p
    return candidates[0] if candidates else None


# --- asking -----------------------------------------------------------------------


def default_request_path(req: ActivationRequest, directory: Path | None = None) -> Path:
    """``./licwiz-request-<regnum>.req`` in the current directory."""
    return (directory or Path.cwd()) / f"licwiz-request-{req.regnum}.req"


def write_request_file(
    req: ActivationRequest, out: Path, *, keyring: Keyring | None = None, scope: str = "all-users"
) -> PendingRequest:
    """Seal ``req`` (method ``file``) to the center's key, write it to ``out``
    (a folder: the default name in it) atomically, and record the pending
    request. Returns it (its ``request_file`` is the absolute path written)."""
    ring = keyring or load_keyring()
    _, key = ring.sealing_key()
    out = Path(out).expanduser()
    if out.is_dir():
        out = default_request_path(req, out)
    out = Path(os.path.abspath(out))
    pending = new_pending(req, "file", request_file=str(out), scope=scope)
    atomic_write(out, seal(pending.request, key).encode("ascii"), mode=0o644)
    save_pending(pending)
    return pending


def start_phone(req: ActivationRequest, *, scope: str = "all-users") -> tuple[PendingRequest, list[str]]:
    """Record a pending phone request (or reuse the one already pending for the
    same request: reopening the wizard shows the same codes) and return it
    with its request code rows."""
    pending = pending_for(req, "phone")
    if pending is None:
        pending = new_pending(req, "phone", scope=scope)
        save_pending(pending)
    return pending, phonemsg.request_rows(pending.request)


# --- answering --------------------------------------------------------------------


async def install_answer_file(
    path: Path,
    *,
    target: Target = "all-users",
    keyring: Keyring | None = None,
    product: str | None = None,
    params: Mapping[str, str] | None = None,
    require_pending: bool = True,
) -> tuple[Outcome, PendingRequest | None]:
    """``install_answer_text`` for a license data file (size-limited read)."""
    text = await asyncio.to_thread(read_file, Path(path))
    return await install_answer_text(
        text, source=str(path), target=target, keyring=keyring, product=product, params=params,
        require_pending=require_pending,
    )


async def install_answer_text(
    text: str,
    *,
    source: str = Msg(N_("license data file")),
    target: Target = "all-users",
    keyring: Keyring | None = None,
    product: str | None = None,
    params: Mapping[str, str] | None = None,
    pending: PendingRequest | None = None,
    require_pending: bool = True,
) -> tuple[Outcome, PendingRequest | None]:
    """Install a license data file's text on ``target``.

    It must verify, be for ``product`` (default: this one), answer a pending
    request of this computer (``pending`` when the caller knows which, else
    the one ``find_pending`` names; none needed when ``require_pending`` is
    False), and be for the target computer: ``params`` (default: this
    computer's, or for a license server without a pending request, the
    server's). The pending request it answered is removed after the install."""
    product = product or current_product()
    ring = keyring or load_keyring()
    lic = verify(text, ring, product=product, source=source)
    if pending is None:
        pending = find_pending(lic, product)
    if pending is None and require_pending:
        raise NoPendingRequest(
            Msg(N_("{source}: no license request for kit {regnum} was made on this computer"), source=source,
                regnum=lic.regnum),
            Msg(N_("a license data file is installed as the answer to a request made here (licwiz request "
                   "or the wizard's file method); 'licwiz install --without-request FILE' installs a "
                   "license file checked only against this computer")),
        )
    outcome = await _install(lic, text, pending, target, params=params, source=source)
    return outcome, pending


async def install_phone_answer(
    rows: Sequence[str],
    pending: Sequence[PendingRequest] | None = None,
    *,
    target: Target = "all-users",
    keyring: Keyring | None = None,
    product: str | None = None,
    params: Mapping[str, str] | None = None,
) -> tuple[Outcome, PendingRequest]:
    """Rebuild the signed license the operator's ``rows`` carry for the
    pending phone request they answer (``pending``, default: every pending
    phone request of ``product``), check it and install it on ``target``."""
    if pending is None:
        pending = [p for p in load_pending(product or current_product()) if p.method == "phone"]
    ring = keyring or load_keyring()
    lic, text, answered = answered_request(rows, pending, ring)
    source = "phone response"
    # The signature was checked as the license was rebuilt; product and dates here.
    check_valid(lic, product=product or answered.request.product, source=source)
    return await _install(lic, text, answered, target, params=params, source=source), answered


def answered_request(
    rows: Sequence[str], pending: Sequence[PendingRequest], keyring: Keyring
) -> tuple[License, str, PendingRequest]:
    """The license the operator's rows carry, rebuilt for the pending phone
    request they answer (several may be pending: the signature tells which)."""
    resp = phonemsg.decode_response(list(rows))  # wrong rows are named before anything else
    last: LicwizError = NoPendingRequest(Msg(N_(
        "no phone request is pending on this computer (licwiz request --phone or the wizard's phone method)"
    )))
    for p in pending:
        try:
            lic, text = phonemsg.rebuild_license(resp, p.request, keyring)
        except SignatureError as exc:  # the rows answer another pending request
            last = exc
            continue
        return lic, text, p
    raise last


async def _install(
    lic: License, text: str, pending: PendingRequest | None, target: Target, *,
    params: Mapping[str, str] | None, source: str,
) -> Outcome:
    """The one install of an answer: ``lic`` is verified; match it once, install
    it on ``target``, then forget the pending request it answered."""
    if params is None:
        if not isinstance(target, ServerTarget):
            params = await asyncio.to_thread(collect, lic.product)
        elif pending is None:
            params = await server_parameters(target, lic.product)
        # else: the pending request holds the server's parameters from when it was made
    check_answer(lic, expect=pending.request if pending is not None else None, params=params,
                 source=source)
    outcome = await install_verified(text, lic, target)
    if pending is not None:
        remove_pending(pending)
    return outcome
