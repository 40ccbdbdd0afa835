"""The offline methods on the client: request files, license data files,
phone codes, and the pending requests that join the two halves.

``licwiz request`` writes a sealed request file (or, with ``--phone``, prints
the request code rows) and records a *pending request*; ``licwiz install``
installs the answer (a license data file, or with ``--phone`` the operator's
response rows read from stdin) after checking it answers a pending request of
this computer. The wizard's file and phone steps use the same functions.

Pending requests live in ``core.storage.state_dir()/pending/<id>.json``, mode
0600: they hold the owner data and the PINs (needed to check and rebuild the
license), which are personal. A pending request is removed once its license
is installed.

Exit codes are those of ``licwiz acquire`` (app/commands.py): 0 done, 2 usage
or bad input (also: phone rows with a wrong check digit, a file that is not
a license), 5 storage, 6 the license is invalid or not the one requested.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from licwiz.core import acquire, phonecodes, phonemsg
from licwiz.core.errors import (
    FileFormatError,
    LicenseInvalid,
    LicwizError,
    PhoneCodeError,
    SignatureError,
    StorageError,
)
from licwiz.core.fingerprint import collect, matches
from licwiz.core.keys import Keyring, load_keyring
from licwiz.core.license import License, parse, read_file
from licwiz.core.product import current_product
from licwiz.core.request import ActivationRequest, seal
from licwiz.core.storage import Scope, atomic_write, is_writable, state_dir

from .commands import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    _Parser,
    build_request,
    exit_code_for,
    parse_server,
    print_installed,
    report_error,
)

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
            raise FileFormatError(source, "not a pending request")
        method = doc.get("method")
        if method not in ("file", "phone"):
            raise FileFormatError(source, "pending request: unknown method")
        for name in ("id", "created", "request_file", "scope"):
            if not isinstance(doc.get(name), str):
                raise FileFormatError(source, f"pending request: {name!r} missing")
        return cls(
            id=doc["id"], method=method, request=ActivationRequest.from_dict(doc.get("request"), source),
            created=doc["created"], request_file=doc["request_file"], scope=doc["scope"],
        )

    def describe(self) -> str:
        r = self.request
        what = {"first": "first-time registration", "recover": "license recovery", "update": "update"}
        how = f"request file {self.request_file}" if self.method == "file" else "phone codes"
        when = self.created[:16].replace("T", " ")
        return f"kit {r.regnum}, {what.get(r.operation, r.operation)} by {how} ({when} UTC)"


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
        raise StorageError(f"cannot remove the pending request {pending.id}", str(exc)) from None


def new_pending(
    req: ActivationRequest, method: OfflineMethod, *, request_file: str = "", scope: str = "all-users"
) -> PendingRequest:
    created = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    stamp = created.replace(":", "").replace("-", "")[:15]
    req = dataclasses.replace(req, method=method)
    return PendingRequest(f"{stamp}-{secrets.token_hex(4)}", method, req, created, request_file, scope)


# --- file method ----------------------------------------------------------------


def default_request_path(req: ActivationRequest, directory: Path | None = None) -> Path:
    """``./licwiz-request-<regnum>.req`` in the current directory."""
    return (directory or Path.cwd()) / f"licwiz-request-{req.regnum}.req"


def write_request_file(
    req: ActivationRequest, out: Path, *, keyring: Keyring | None = None, scope: str = "all-users"
) -> PendingRequest:
    """Seal ``req`` (method ``file``) to the center's key, write it to ``out``
    atomically and record the pending request. Returns the pending request
    (its ``request_file`` is the absolute path written)."""
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


def _for_this_request(lic: License, pending: PendingRequest) -> bool:
    r = pending.request
    return lic.product == r.product and lic.regnum == r.regnum


def find_pending(lic: License, product: str) -> PendingRequest | None:
    """The newest pending request this license answers (same product and kit,
    same owner digest and PIN); None when there is none."""
    candidates = [p for p in load_pending(product) if _for_this_request(lic, p)]
    for p in candidates:
        if lic.owner_digest == p.request.owner.digest() and lic.pin_digest == acquire.expected_pin_digest(
            p.request
        ):
            return p
    return candidates[0] if candidates else None


def check_this_computer(lic: License, params: Mapping[str, str], source: str) -> None:
    m = matches(lic.params, params)
    if not m.ok:
        raise LicenseInvalid(
            f"{source}: the license is for another computer (key parameters differ)",
            f"{source}: {m.reason}; changed: {', '.join(m.changed) or '-'}; "
            f"missing: {', '.join(m.missing) or '-'}",
            code="parameters_changed",
        )


def install_license_data(
    text: str,
    *,
    product: str,
    scope: Scope,
    keyring: Keyring | None = None,
    params: Mapping[str, str] | None = None,
    source: str = "license data file",
    require_pending: bool = True,
) -> tuple[acquire.Outcome, PendingRequest | None]:
    """Install a license data file's text: it must verify, be for this product
    and computer, and answer a pending request (same kit, PIN, owner digest,
    parameters). Nothing is written unless every check passes."""
    ring = keyring or load_keyring()
    here = dict(params) if params is not None else collect(product)
    lic = parse(text, source).license
    if lic.product != product:
        raise LicenseInvalid(
            f"{source}: the license is for product {lic.product!r}, not {product!r}", code="wrong_product"
        )
    pending = find_pending(lic, product)
    if pending is None and require_pending:
        raise NoPendingRequest(
            f"{source}: no license request for kit {lic.regnum} was made on this computer",
            "a license data file is installed as the answer to a request made here (licwiz request or "
            "the wizard's file method); use 'licwiz install --without-request' to install a license "
            "file checked only against this computer",
        )
    check_this_computer(lic, here, source)
    outcome = acquire.install_license_text(
        text, keyring=ring, product=product, params=here, scope=scope,
        expect=pending.request if pending is not None else None, source=source,
    )
    if pending is not None:
        remove_pending(pending)
    return outcome, pending


async def install_file_answer(
    path: Path,
    *,
    keyring: Keyring,
    product: str,
    scope: Scope,
    params: Mapping[str, str],
    server: acquire.ServerTarget | None = None,
) -> tuple[acquire.Outcome, PendingRequest]:
    """The wizard's "Specify license details file": the file must answer a
    pending request of this computer; then it is verified and installed."""
    source = str(path)
    text = read_file(Path(path))
    lic = parse(text, source).license
    if lic.product != product:
        raise LicenseInvalid(
            f"{source}: the license is for product {lic.product!r}, not {product!r}", code="wrong_product"
        )
    pending = find_pending(lic, product)
    if pending is None:
        raise NoPendingRequest(
            f"{source}: no license request for kit {lic.regnum} was made on this computer",
            "the wizard installs a license data file as the answer to a request file saved here; "
            "'licwiz install --without-request FILE' installs a license checked only against this computer",
        )
    outcome = await install_answer(text, pending, keyring=keyring, product=product, scope=scope,
                                   params=params, server=server, source=source)
    return outcome, pending


def install_license_data_file(path: Path, **kw: Any) -> tuple[acquire.Outcome, PendingRequest | None]:
    return install_license_data(read_file(Path(path)), source=str(path), **kw)


# --- phone method -----------------------------------------------------------------


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


def start_phone(req: ActivationRequest, *, scope: str = "all-users") -> tuple[PendingRequest, list[str]]:
    """Record a pending phone request (or reuse the one already pending for the
    same request: reopening the wizard shows the same codes) and return it
    with its request code rows."""
    pending = pending_for(req, "phone")
    if pending is None:
        pending = new_pending(req, "phone", scope=scope)
        save_pending(pending)
    return pending, phonemsg.request_rows(pending.request)


async def install_answer(
    text: str,
    pending: PendingRequest | None,
    *,
    keyring: Keyring,
    product: str,
    scope: Scope,
    params: Mapping[str, str],
    server: acquire.ServerTarget | None = None,
    source: str = "license data file",
) -> acquire.Outcome:
    """Install an answer (license text) locally or on a license server; the
    pending request, when given, must be what it answers. Removes it after."""
    if server is not None:
        outcome = await acquire.install_on_server(
            text, server, keyring=keyring, product=product,
            expect=pending.request if pending is not None else None, source=source,
        )
        if pending is not None:
            remove_pending(pending)
        return outcome
    if pending is None:
        out, _ = install_license_data(text, product=product, scope=scope, keyring=keyring, params=params,
                                      source=source, require_pending=False)
        return out
    lic = parse(text, source).license
    check_this_computer(lic, params, source)
    outcome = acquire.install_license_text(
        text, keyring=keyring, product=product, params=params, scope=scope, expect=pending.request,
        source=source,
    )
    remove_pending(pending)
    return outcome


def answered_request(
    rows: list[str], pending: list[PendingRequest], keyring: Keyring
) -> tuple[str, PendingRequest]:
    """The license text the operator's rows carry, rebuilt for the pending phone
    request they answer (several may be pending: the signature tells which)."""
    resp = phonemsg.decode_response(rows)  # wrong rows are named before anything else
    last: LicwizError = NoPendingRequest("no phone request is pending on this computer")
    for p in pending:
        try:
            return phonemsg.rebuild_license(resp, p.request, keyring)[1], p
        except SignatureError as exc:  # the rows answer another pending request
            last = exc
    raise last


def install_phone_response(
    rows: list[str],
    pending: PendingRequest,
    *,
    scope: Scope,
    keyring: Keyring | None = None,
    params: Mapping[str, str] | None = None,
) -> acquire.Outcome:
    """Decode the operator's rows, rebuild the signed license, verify and install it."""
    return install_phone_response_any(rows, [pending], scope=scope, keyring=keyring, params=params)


def install_phone_response_any(
    rows: list[str], pending: list[PendingRequest], *, scope: Scope, keyring: Keyring | None = None,
    params: Mapping[str, str] | None = None,
) -> acquire.Outcome:
    """``install_phone_response`` for whichever pending phone request the rows answer."""
    ring = keyring or load_keyring()
    text, p = answered_request(rows, pending, ring)
    req = p.request
    here = dict(params) if params is not None else collect(req.product)
    check_this_computer(parse(text, "phone response").license, here, "phone response")
    outcome = acquire.install_license_text(
        text, keyring=ring, product=req.product, params=here, scope=scope, expect=req,
        source="phone response",
    )
    remove_pending(p)
    return outcome


# --- licwiz request / licwiz install ------------------------------------------------


def _request_parser() -> _Parser:
    p = _Parser(
        prog="licwiz request",
        description="Write a sealed license request file for the Licensing Center's web page "
        "(or, with --phone, print the request code to read to the operator).",
        epilog="Then: licwiz install LICENSE-FILE (or licwiz install --phone). "
        "Exit codes: 0 written, 2 usage/bad input, 5 storage, 6 no trusted center sealing key, "
        "3 license server refused, 4 license server unreachable (--server), 1 internal error.",
    )
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="where to write the request file (default ./licwiz-request-<kit>.req)")
    p.add_argument("--phone", action="store_true", help="print the phone request code instead of a file")
    p.add_argument("--kit", required=True, metavar="REGNUM", help="registration number (10 digits)")
    p.add_argument("--pin", metavar="PIN", help="first: the PIN to spend; recover/update: the last used PIN")
    p.add_argument("--last-pin", metavar="PIN", help="recover/update: the last used PIN (PIN in use)")
    p.add_argument("--extra-pin", metavar="PIN", help="update: an unused PIN of the kit to spend")
    p.add_argument("--owner-file", required=True, type=Path, metavar="FILE", help="owner-data file")
    p.add_argument("--operation", required=True, choices=("first", "recover", "update"))
    p.add_argument("--server", metavar="HOST:PORT",
                   help="request the license for this license server's computer (its parameters; "
                   "token: $LICWIZ_SERVER_TOKEN)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--verbose", "-v", action="store_true", help="print the error detail for support")
    return p


def _install_parser() -> _Parser:
    p = _Parser(
        prog="licwiz install",
        description="Install a license data file from the Licensing Center (or, with --phone, the "
        "operator's response rows, one per line on stdin).",
        epilog="Exit codes: 0 installed, 2 usage/bad input/wrong phone rows, 5 storage, "
        "6 license invalid or not the one requested, 3 license server refused, "
        "4 license server unreachable (--server), 1 internal error.",
    )
    p.add_argument("file", nargs="?", type=Path, metavar="FILE", help="the license data file (.lic)")
    p.add_argument("--phone", action="store_true", help="read the phone response rows from stdin")
    p.add_argument("--scope", choices=("all-users", "user"),
                   help="where to install (default: all users when writable, else the current user)")
    p.add_argument("--without-request", action="store_true",
                   help="install even if no request was made here (still checked against this computer)")
    p.add_argument("--server", metavar="HOST:PORT",
                   help="install on this license server instead (admin token: $LICWIZ_SERVER_TOKEN); "
                   "the request must have been made with the same --server")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--verbose", "-v", action="store_true", help="print the error detail for support")
    return p


def _run(argv: list[str], body: Any) -> int:
    as_json = "--json" in argv
    verbose = "--verbose" in argv or "-v" in argv
    try:
        return int(body())
    except KeyboardInterrupt:
        print("licwiz: interrupted [interrupted]", file=sys.stderr)
        return EXIT_INTERRUPTED
    except LicwizError as exc:
        # A misheard phone row is bad input, like a mistyped PIN.
        code = EXIT_USAGE if isinstance(exc, PhoneCodeError) else exit_code_for(exc)
        report_error(exc, verbose=verbose, as_json=as_json, code=code)
        return code
    except Exception as exc:  # a bug: still one line
        err = LicwizError("internal error", f"{type(exc).__name__}: {exc}", code="internal")
        report_error(err, verbose=verbose, as_json=as_json, code=EXIT_INTERNAL)
        return EXIT_INTERNAL


def cmd_request(argv: list[str]) -> int:
    def body() -> int:
        args = _request_parser().parse_args(argv)
        if args.phone and args.out:
            raise UsageError("--out", "--out: not with --phone (the phone code is printed)")
        product = current_product()
        req = build_request(args, product)
        if args.server:
            # A license installed on a license server binds the server's computer, not this one.
            target = parse_server(args.server)
            req = dataclasses.replace(req, params=asyncio.run(acquire.server_parameters(target, product)))
        if args.phone:
            pending, rows = start_phone(req)
            if args.json:
                print(json.dumps({"ok": True, "pending": pending.id, "rows": rows}, indent=2))
            else:
                print(f"Request code for kit {req.regnum} ({len(rows)} rows). Read each row with its "
                      "number to the Licensing Center operator:")
                for i, r in enumerate(rows, 1):
                    print(f"{i:>2}: {phonecodes.format_row(r)}")
                print("Then type the operator's answer, one row per line, into: licwiz install --phone")
            return EXIT_OK
        out = args.out if args.out is not None else default_request_path(req)
        pending = write_request_file(req, out)
        if args.json:
            print(json.dumps({"ok": True, "pending": pending.id, "request_file": pending.request_file},
                             indent=2))
        else:
            print(f"Request file written: {pending.request_file}")
            print("Upload it on the Licensing Center's web page (or send it by e-mail), then install the "
                  "license data file you get back with: licwiz install FILE")
        return EXIT_OK

    return _run(argv, body)


def _default_scope() -> Scope:
    return "all-users" if is_writable("all-users") else "user"


def _phone_rows_and_pending(args: Any, product: str) -> tuple[list[str], list[PendingRequest]]:
    """``licwiz install --phone``: the rows typed on stdin and the pending phone requests."""
    if args.file is not None:
        raise UsageError("FILE", "give either a license data FILE or --phone, not both")
    phone = [p for p in load_pending(product) if p.method == "phone"]
    if not phone:
        raise NoPendingRequest("no phone request is pending on this computer (licwiz request --phone)")
    rows = [ln for ln in sys.stdin.read(64 * 1024).splitlines() if ln.strip()]
    # "3: 123 456 ..." as printed by licwiz request --phone is accepted too.
    return [ln.split(":", 1)[1] if ":" in ln else ln for ln in rows], phone


def cmd_install(argv: list[str]) -> int:
    def body() -> int:
        args = _install_parser().parse_args(argv)
        product = current_product()
        if args.server:
            if args.scope:
                raise UsageError("--scope", "--scope: not with --server (the license goes to the server)")
            outcome = asyncio.run(_install_on_server(args, parse_server(args.server), product))
        elif args.phone:
            rows, phone = _phone_rows_and_pending(args, product)
            outcome = install_phone_response_any(rows, phone, scope=args.scope or _default_scope())
        else:
            if args.file is None:
                raise UsageError("FILE", "FILE: the license data file to install is required")
            outcome, _ = install_license_data_file(
                args.file, product=product, scope=args.scope or _default_scope(),
                require_pending=not args.without_request,
            )
        print_installed(outcome, args.json)
        return EXIT_OK

    return _run(argv, body)


async def _install_on_server(args: Any, target: acquire.ServerTarget, product: str) -> acquire.Outcome:
    """``licwiz install --server``: the answer to a request made with ``licwiz
    request --server`` (or, --without-request, any license for that server's
    computer), verified against the server's parameters, then uploaded."""
    ring = load_keyring()
    if args.phone:
        rows, phone = _phone_rows_and_pending(args, product)
        text, pending = answered_request(rows, phone, ring)
        source = "phone response"
    elif args.file is None:
        raise UsageError("FILE", "FILE: the license data file to install is required")
    elif not args.without_request:
        outcome, _ = await install_file_answer(args.file, keyring=ring, product=product, scope="all-users",
                                               params={}, server=target)
        return outcome
    else:
        text, pending, source = read_file(Path(args.file)), None, str(args.file)
    return await install_answer(text, pending, keyring=ring, product=product, scope="all-users", params={},
                                server=target, source=source)
