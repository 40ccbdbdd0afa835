"""The acquisition steps shared by the wizard and ``licwiz acquire``.

Online: check availability, activate (the client retries with the same
idempotency key, so a lost answer never spends a second PIN), verify the
license offline with the trusted keys, check that it is the license that was
asked for, install it atomically, on this computer or on a license server.

The last two steps are shared with the file and phone methods
(core/exchange.py), so they live here once: ``check_answer`` (the one match of
a verified license against the request and/or the computer it will live on)
and ``install_verified`` (write it for a scope, or upload it to a license
server). ``install_license_text`` is verify + check + install for a text in
hand (the wizard's "install the issued license for the current user").

Two promises hold on every path:

- a license that does not verify, or is not the one requested, is never
  installed;
- once the center has issued a license (a PIN may be spent), its text is never
  lost: if installing fails, the text is kept in the exception
  (``AfterActivationError.license_text``) and saved under the user's state
  folder, and the error says where.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

# AfterActivationError is part of this module's API (callers catch it as acquire.AfterActivationError).
from .errors import AfterActivationError as AfterActivationError
from .errors import CenterError, LicenseInvalid, LicwizError, NotWritable, SignatureError
from .fingerprint import Match, matches
from .i18n import N_
from .keys import Keyring
from .license import License, method_family, parse, pin_digest, read_file, verify
from .message import Joined, Msg
from .storage import (
    Scope,
    atomic_write,
    install_license,
    installed_files,
    is_writable,
    license_dir,
    state_dir,
)

if TYPE_CHECKING:
    # Types only: the HTTP client (httpx) and request sealing (HPKE) cost ~100 ms to
    # import, which the wizard should not pay before its first screen.
    from .client import Availability, CenterClient, Issued
    from .request import ActivationRequest
    from .server_client import ServerClient

Progress = Callable[[str], None]

# What a license is called in errors when it has no file name.
_LICENSE = Msg(N_("license"))
# progress steps (English; translate with _() where shown)
STEP_CHECK = N_("Checking availability")
STEP_ACQUIRE = N_("Acquiring the license")
STEP_VERIFY = N_("Verifying the license")
STEP_SAVE = N_("Saving the license")
STEPS: tuple[str, ...] = (STEP_CHECK, STEP_ACQUIRE, STEP_VERIFY, STEP_SAVE)


@dataclass(frozen=True, slots=True)
class ServerTarget:
    """A license server named in the wizard's Advanced settings."""

    host: str
    port: int
    token: str | None = None

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What was installed where: ``path``+``scope`` locally, or ``server`` (host:port)."""

    license: License
    text: str
    path: Path | None
    scope: Scope | None
    server: str | None
    issued: Issued

    def where(self) -> str:
        if self.server is not None:
            return Msg(N_("license server {server}"), server=self.server)
        if self.scope == "all-users":
            return Msg(N_("{path} (for all users)"), path=self.path)
        return Msg(N_("{path} (for the current user)"), path=self.path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "license_id": self.license.license_id,
            "product": self.license.product,
            "regnum": self.license.regnum,
            "users": self.license.users,
            "method": self.license.method,
            "issued": self.license.issued,
            "not_after": self.license.not_after,
            "supersedes": self.license.supersedes,
            "path": str(self.path) if self.path is not None else None,
            "scope": self.scope,
            "server": self.server,
            "request_id": self.issued.request_id,
        }


@dataclass(frozen=True, slots=True)
class InstalledStatus:
    """One installed license file and whether it is valid on this computer now."""

    path: Path
    scope: Scope
    license: License | None
    valid: bool
    reason: str  # "" when valid, else why not (signature, product, dates, parameters)
    code: str = ""

    def to_dict(self) -> dict[str, Any]:
        lic = self.license
        return {
            "path": str(self.path),
            "scope": self.scope,
            "valid": self.valid,
            "reason": self.reason,
            "code": self.code,
            "license_id": lic.license_id if lic else None,
            "product": lic.product if lic else None,
            "regnum": lic.regnum if lic else None,
            "users": lic.users if lic else None,
            "method": lic.method if lic else None,
            "issued": lic.issued if lic else None,
            "not_after": lic.not_after if lic else None,
        }


def _say(progress: Progress | None, step: str) -> None:
    if progress is not None:
        progress(step)


async def check_available(client: CenterClient, req: ActivationRequest) -> Availability:
    """Ask the center whether ``req`` can be served; a refusal raises CenterError."""
    avail = await client.check(req)
    if not avail.available:
        raise CenterError(
            "not_available", Msg(N_("The Licensing Center cannot issue this license now")),
            f"check answered available=false for kit {req.regnum}, operation {req.operation}",
        )
    if avail.product != req.product:
        raise CenterError(
            "wrong_product",
            Msg(N_("Kit {regnum} is for product {product!r}, not {wanted!r}"), regnum=req.regnum,
                product=avail.product, wanted=req.product),
            Msg(N_("the registration number belongs to another product's kit")),
        )
    return avail


class UntrustedSigningKey(SignatureError):
    """The center would sign with a key this computer does not trust: stopped
    before ``/activate``, so no PIN is spent (exit 6, like an untrusted license)."""

    code = "untrusted_signing_key"


def check_signing_key(avail: Availability, keyring: Keyring, center: str) -> None:
    """Refuse before any PIN is spent when the license would be signed by a key
    that ``keyring`` does not trust (it would be rejected on arrival). A center
    that does not say (``signing_key_id`` None: an older center) is trusted as before."""
    kid = avail.signing_key_id
    if kid is None or kid in keyring.signing:
        return
    trusted = ", ".join(sorted(keyring.signing)) or Msg(N_("none"))
    raise UntrustedSigningKey(
        Msg(N_("The Licensing Center signs with key {key}, which this computer does not trust yet; "
               "no PIN code was spent"), key=kid),
        Msg(N_("{center} would sign the license with key {key}; trusted signing keys here: {trusted}. "
               "Add the center's public key signing-{key}.pem (its public folder, or GET /api/v1/keys) to "
               "/etc/licwiz/trusted-keys or LICWIZ_TRUSTED_KEYS, then try again with the same PIN code: "
               "it is still unused."), center=center, key=kid, trusted=trusted),
    )


def expected_pin_digest(req: ActivationRequest) -> str:
    """The PIN a license for ``req`` must record: the extra PIN for an update,
    the PIN given otherwise (for a recovery, the last used PIN)."""
    pin = req.extra_pin if req.operation == "update" and req.extra_pin else req.pin
    return pin_digest(req.regnum, pin)


def _wrong_fields(lic: License, req: ActivationRequest) -> list[str]:
    """What in a genuine license differs from what ``req`` asked for (parameters aside)."""
    wrong: list[str] = []
    if lic.product != req.product:
        wrong.append(Msg(N_("product {got!r} instead of {wanted!r}"), got=lic.product, wanted=req.product))
    if lic.regnum != req.regnum:
        wrong.append(Msg(N_("registration number {got} instead of {wanted}"), got=lic.regnum,
                         wanted=req.regnum))
    if lic.owner_digest != req.owner.digest():
        wrong.append(Msg(N_("owner data differs from the data entered")))
    if lic.pin_digest != expected_pin_digest(req):
        wrong.append(Msg(N_("it records another PIN code than the one used")))
    # A recovery gives back the license in place, which may have been acquired by
    # another method of the same family (file vs online); new licenses carry req.method.
    same_method = (
        method_family(lic.method) == method_family(req.method)
        if req.operation == "recover" else lic.method == req.method
    )
    if not same_method:
        wrong.append(Msg(N_("acquisition method {got!r} instead of {wanted!r}"), got=lic.method,
                         wanted=req.method))
    return wrong


def check_answer(
    lic: License,
    *,
    expect: ActivationRequest | None = None,
    params: Mapping[str, str] | None = None,
    source: str = _LICENSE,
) -> None:
    """Refuse a verified license that is not the one asked for, or not for the
    computer it is about to live on. The key parameters are matched once:

    - against ``params`` when given (this computer now, or the license
      server's): a difference is ``parameters_changed``, "for another computer";
    - else against ``expect.params`` (the computer as it was when asked).

    With ``expect``, product, kit, owner digest, PIN and method must be what it
    asked for (``license_mismatch``, "not the one requested")."""
    if params is not None:
        against = params
    elif expect is not None:
        against = expect.params
    else:
        raise ValueError("check_answer needs the request or the parameters to match against")
    m = matches(lic.params, against)
    if params is not None and not m.ok:
        raise LicenseInvalid(
            Msg(N_("{source}: the license is for another computer (key parameters differ)"), source=source),
            Msg(N_("{source}: {reason}; changed: {changed}; missing: {missing}"), source=source,
                reason=m.reason, changed=", ".join(m.changed) or "-", missing=", ".join(m.missing) or "-"),
            code="parameters_changed",
        )
    if expect is None:
        return
    wrong = _wrong_fields(lic, expect)
    if not m.ok:
        wrong.append(Msg(N_("computer parameters differ ({reason}: {names})"), reason=m.reason,
                         names=", ".join(m.changed or m.missing)))
    if wrong:
        raise LicenseInvalid(
            Msg(N_("{source}: the license received is not the one requested"), source=source),
            Msg("{source}: {wrong}", source=source, wrong=Joined("; ", wrong)),
            code="license_mismatch",
        )


def check_matches(lic: License, req: ActivationRequest, source: str = _LICENSE) -> None:
    """Refuse a genuine license that is not the one ``req`` asked for
    (``check_answer`` against the request alone)."""
    check_answer(lic, expect=req, source=source)


def _issued_locally(text: str, lic: License) -> Issued:
    """The Issued record of a license that came as a file or by phone (no center answer)."""
    from .client import Issued

    return Issued(text, lic.license_id, lic.users, lic.supersedes, "")


def _keep_text(text: str, license_id: str, *, verified: bool) -> Path | None:
    """Save an issued license text where the user can find it again."""
    sub = "issued" if verified else "rejected"
    safe = license_id if license_id.replace("-", "").isalnum() else "unknown"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = state_dir() / sub / f"{safe}-{stamp}.lic"
    try:
        atomic_write(path, text.encode("utf-8"), mode=0o600)
    except LicwizError:
        return None
    return path


def verify_answer(
    text: str, *, keyring: Keyring, product: str, expect: ActivationRequest | None = None,
    params: Mapping[str, str] | None = None, source: str = _LICENSE,
) -> License:
    """Verify ``text`` (signature, trusted key, product, dates), then ``check_answer``."""
    lic = verify(text, keyring, product=product, source=source)
    check_answer(lic, expect=expect, params=params, source=source)
    return lic


Target = Scope | ServerTarget
"""Where a license goes: a scope on this computer, or a license server."""


async def install_verified(
    text: str, lic: License, target: Target, *, issued: Issued | None = None
) -> Outcome:
    """Install a license that passed ``verify_answer``: atomically for a scope
    (the fsync in a thread, so a wizard's screen keeps answering) or uploaded
    to a license server."""
    record = issued if issued is not None else _issued_locally(text, lic)
    if isinstance(target, ServerTarget):
        async with _server_client(target) as sc:
            await sc.install(text)
        return Outcome(lic, text, None, None, str(target), record)
    path = await asyncio.to_thread(install_license, text, lic.license_id, target)
    return Outcome(lic, text, path, target, None, record)


def install_license_text(
    text: str,
    *,
    keyring: Keyring,
    product: str,
    params: Mapping[str, str],
    scope: Scope,
    expect: ActivationRequest | None = None,
    source: str = _LICENSE,
) -> Outcome:
    """Verify ``text``, check it is exactly what ``expect`` asked for (when
    given) and for this computer (``params``), install it atomically in
    ``scope``. Nothing is written unless every check passes. Synchronous: for
    a license text in hand (an issued license kept after a failed install)."""
    lic = verify_answer(text, keyring=keyring, product=product, expect=expect, params=params,
                        source=source)
    path = install_license(text, lic.license_id, scope)
    return Outcome(lic, text, path, scope, None, _issued_locally(text, lic))


# --- license server -------------------------------------------------------

def _server_client(target: ServerTarget) -> ServerClient:
    # Imported here: httpx costs the wizard's start-up ~100 ms before it is needed.
    from . import server_client

    # Installing needs the server's admin token; TLS settings come from the site's config.
    token = target.token or server_client.admin_token()
    tls, verify_tls = server_client.tls_settings()
    return server_client.ServerClient(target.host, target.port, token=token, tls=tls, verify=verify_tls)


async def server_parameters(target: ServerTarget, product: str) -> dict[str, str]:
    """The key parameters of the license server's computer for ``product``
    (a license installed there binds those, not this computer's)."""
    async with _server_client(target) as sc:
        params: object = await sc.parameters(product)
    if not isinstance(params, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in params.items()
    ):
        raise LicwizError(
            Msg(N_("license server {server}: unexpected parameters answer"), server=str(target)),
            repr(params)[:300],
            code="bad_response",
        )
    return dict(params)


async def install_on_server(
    text: str, target: ServerTarget, *, keyring: Keyring, product: str,
    params: Mapping[str, str] | None = None, expect: ActivationRequest | None = None,
    source: str = _LICENSE,
) -> Outcome:
    """Verify like ``install_license_text`` (against the server's parameters,
    fetched when neither they nor the request are given), then upload."""
    if params is None and expect is None:
        params = await server_parameters(target, product)
    lic = verify_answer(text, keyring=keyring, product=product, expect=expect, params=params,
                        source=source)
    return await install_verified(text, lic, target)


# --- online ----------------------------------------------------------------


async def acquire_online(
    client: CenterClient,
    req: ActivationRequest,
    *,
    keyring: Keyring,
    scope: Scope,
    idempotency_key: str,
    progress: Progress | None = None,
    server: ServerTarget | None = None,
    resend_of: Availability | None = None,
    on_checked: Callable[[Availability], None] | None = None,
) -> Outcome:
    """The automatic method from availability check to installed license.

    A resend of ``req`` after its answer was lost gives ``resend_of``: what
    /check answered for it before it went out to /activate. The center's
    /check then says ``pin_used`` (``req`` itself spent the PIN, or another
    request did); that earlier answer stands, its signing key checked, and
    /activate with the same idempotency key tells which: the license already
    issued, or ``pin_used``. ``on_checked`` is told each availability answer,
    for the caller to keep for such a resend.

    With ``server``, the license binds the license server's parameters (they
    replace ``req.params``) and is uploaded there instead of ``scope``.
    Raises CenterError (refusals, unreachable), NotWritable before any PIN is
    spent when ``scope`` cannot be written, UntrustedSigningKey before any PIN
    is spent when the center would sign with a key ``keyring`` does not trust
    (a staged key rotation the client has not followed), and AfterActivationError when the
    license was issued but could not be verified or installed.
    """
    req.check()
    if server is not None:
        req = replace(req, params=await server_parameters(server, req.product))
    elif not await asyncio.to_thread(is_writable, scope):  # file I/O: off the caller's event loop
        # Before the PIN is spent: the wizard then offers "Acquire for the current user".
        raise NotWritable(
            Msg(N_("{path}: cannot write a license for all users") if scope == "all-users" else
                N_("{path}: cannot write a license for the current user"), path=license_dir(scope)),
            Msg(N_("{path} is not writable by this user; no PIN code was spent"), path=license_dir(scope)),
        )
    _say(progress, STEP_CHECK)
    try:
        avail = await check_available(client, req)
    except CenterError as exc:
        if resend_of is None or exc.code != "pin_used":
            raise
        avail = resend_of
    if on_checked is not None:
        on_checked(avail)
    check_signing_key(avail, keyring, client.base_url)
    _say(progress, STEP_ACQUIRE)
    issued = await client.activate(req, idempotency_key)
    source = Msg(N_("license {license_id} from {url}"), license_id=issued.license_id, url=client.base_url)
    _say(progress, STEP_VERIFY)
    try:
        lic = verify_answer(issued.license_text, keyring=keyring, product=req.product, expect=req,
                            source=source)
        if lic.license_id != issued.license_id or lic.users != issued.users:
            raise LicenseInvalid(
                Msg(N_("{source}: the license does not match the center's answer"), source=source),
                f"answer: {issued.license_id}, {issued.users} users; license: "
                f"{lic.license_id}, {lic.users} users",
                code="license_mismatch",
            )
    except LicwizError as exc:
        kept = _keep_text(issued.license_text, issued.license_id, verified=False)
        raise AfterActivationError(exc, issued.license_text, kept, verified=False) from None
    _say(progress, STEP_SAVE)
    try:
        return await install_verified(issued.license_text, lic, server or scope, issued=issued)
    except LicwizError as exc:
        kept = _keep_text(issued.license_text, issued.license_id, verified=True)
        raise AfterActivationError(exc, issued.license_text, kept, verified=True) from None


# --- validity ------------------------------------------------------------
# One rule decides whether a license is valid on this computer, for status,
# verify and fingerprint --what-if alike (they disagreed on superseded licenses).


@dataclass(frozen=True, slots=True)
class Verdict:
    """A license text judged for this computer: ``license`` is what it claims
    (untrusted when ``error`` is a SignatureError; None when it does not parse),
    ``match`` its key parameters against this computer's."""

    license: License | None
    match: Match | None
    error: LicwizError | None

    @property
    def valid(self) -> bool:
        return self.error is None


def _superseded_reason(newer: str) -> str:
    return Msg(N_("superseded by license {license_id}"), license_id=newer)


def _superseded(source: str, newer: str) -> LicenseInvalid:
    return LicenseInvalid(
        Msg("{source}: {reason}", source=source, reason=_superseded_reason(newer)),
        Msg(N_("{source}: license {license_id}, installed on this computer, replaces it (an update); "
               "only the newer license counts"), source=source, license_id=newer),
        code="superseded",
    )


def successors(rows: Sequence[InstalledStatus]) -> dict[str, str]:
    """License id -> id of the installed license that supersedes it. Only a
    license that is itself genuine and for this computer (valid, or superseded
    in turn) can supersede: a forged file must not switch off a good one."""
    return {r.license.supersedes: r.license.license_id for r in rows
            if r.license and r.license.supersedes and (r.valid or r.code == "superseded")}


def judge(
    text: str, source: str, *, keyring: Keyring, product: str, params: Mapping[str, str],
    today: dt.date | None = None, installed: Sequence[InstalledStatus] | None = None,
) -> Verdict:
    """Is ``text`` a valid license here: parses, signature by a trusted key,
    ``product``, dates, key parameters against ``params``, and not superseded
    by an installed license (``installed``; read from the license folders when None)."""
    try:
        lic = parse(text, source).license
    except LicwizError as exc:
        return Verdict(None, None, exc)
    m = matches(lic.params, params)
    try:
        verify(text, keyring, product=product, today=today, source=source)
    except LicwizError as exc:
        return Verdict(lic, m, exc)
    if not m.ok:
        return Verdict(lic, m, LicenseInvalid(
            Msg(N_("{source}: not valid on this computer: {reason}"), source=source, reason=m.reason),
            Msg(N_("key computer parameters changed ({names})"), names=", ".join(m.changed or m.missing)),
            code="parameters_changed"))
    rows = installed if installed is not None else installed_licenses(keyring, product, params, today=today)
    newer = successors(rows).get(lic.license_id)
    if newer is not None and newer != lic.license_id:
        return Verdict(lic, m, _superseded(source, newer))
    return Verdict(lic, m, None)


# --- status ----------------------------------------------------------------


def installed_licenses(
    keyring: Keyring, product: str, params: Mapping[str, str], *, today: dt.date | None = None
) -> list[InstalledStatus]:
    """Every installed license (all users first) and whether it is valid here
    today (``judge``), superseded by an update that is installed too included."""
    out: list[InstalledStatus] = []
    for entry in installed_files():
        src = str(entry.path)
        try:
            text = read_file(entry.path)
        except LicwizError as exc:
            out.append(InstalledStatus(entry.path, entry.scope, None, False, exc.brief, exc.code))
            continue
        v = judge(text, src, keyring=keyring, product=product, params=params, today=today, installed=())
        if v.error is None:
            out.append(InstalledStatus(entry.path, entry.scope, v.license, True, ""))
        elif v.error.code == "parameters_changed":
            out.append(InstalledStatus(entry.path, entry.scope, v.license, False, v.error.detail,
                                       "parameters_changed"))
        else:
            err = v.error
            out.append(InstalledStatus(entry.path, entry.scope, v.license, False, err.brief, err.code))
    newer = successors(out)
    return [
        replace(r, valid=False, reason=_superseded_reason(newer[r.license.license_id]),
                code="superseded")
        if r.valid and r.license and r.license.license_id in newer else r
        for r in out
    ]
