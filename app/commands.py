"""``licwiz [wizard]``, ``licwiz acquire`` and ``licwiz status``.

``licwiz acquire`` runs the automatic method without a screen, for scripts and
configuration management::

    licwiz acquire --kit REGNUM --pin PIN --owner-file FILE \\
        --operation first|recover|update --scope all-users|user \\
        [--last-pin PIN] [--extra-pin PIN] [--center URL] [--server HOST:PORT] [--json] [--verbose]

PINs: for ``first``, ``--pin`` is the unused PIN to spend. For ``recover`` and
``update`` the request needs the last used PIN (the PIN currently in use):
give it as ``--last-pin`` (``--pin`` is accepted as the same thing); an update
also spends ``--extra-pin``, an unused PIN of the same kit.

Exit codes of ``licwiz acquire``:

====  =====================================================================
0     license installed (``--json``: the result object on stdout)
1     unexpected internal error (a bug: please report it)
2     usage or bad input (wrong option, mistyped number, owner-data file)
3     refused by the Licensing Center (PIN used, owner mismatch, ...)
4     the Licensing Center cannot be reached or answered nonsense
5     the license cannot be stored (location not writable, disk full);
      if the license was already issued its text is kept and the error
      says where
6     the license received is invalid (signature, product, not the one
      requested); it is not installed
130   interrupted
====  =====================================================================

Errors are one line on stderr, ``licwiz: <brief> [code]``, plus the detail
for support with ``--verbose``. ``--json`` also prints
``{"ok": false, "exit_code": N, "error": {...}}`` on stdout on failure.

``licwiz status [--json]`` lists the installed licenses of both scopes and
whether each is valid here (signature, product, dates, key computer
parameters); exit code 0 when at least one is valid, 1 when none is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from importlib import import_module
from pathlib import Path
from typing import Any, NoReturn

from licwiz.core import acquire
from licwiz.core.client import CenterClient, new_idempotency_key
from licwiz.core.errors import (
    CenterError,
    FileFormatError,
    InputError,
    LicenseInvalid,
    LicwizError,
    SignatureError,
    StorageError,
)
from licwiz.core.fingerprint import collect
from licwiz.core.identifiers import parse_pin, parse_regnum
from licwiz.core.keys import load_keyring
from licwiz.core.owner import load_file
from licwiz.core.product import current_product
from licwiz.core.request import ActivationRequest

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_UNREACHABLE = 4
EXIT_STORAGE = 5
EXIT_INVALID = 6
EXIT_INTERRUPTED = 130

class UsageError(InputError):
    code = "usage"


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so every
    error leaves as one line with an exit code."""

    def error(self, message: str) -> NoReturn:
        raise UsageError("arguments", f"{message} (see 'licwiz {self.prog.split()[-1]} --help')")


def default_center_url() -> str:
    """$LICWIZ_CENTER_URL, else center.json, else the built-in default (app/config.py)."""
    return str(import_module("licwiz.app.config").default_center_url())


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, acquire.AfterActivationError):
        return EXIT_STORAGE if exc.verified else EXIT_INVALID
    if isinstance(exc, CenterError):
        return EXIT_UNREACHABLE if exc.code in ("unreachable", "bad_response") else EXIT_REFUSED
    if isinstance(exc, InputError | FileFormatError):
        return EXIT_USAGE
    if isinstance(exc, StorageError):
        return EXIT_STORAGE
    if isinstance(exc, SignatureError | LicenseInvalid):
        return EXIT_INVALID
    if isinstance(exc, LicwizError):
        # the license server's errors (core.server_client.ServerError) and "no server client"
        if exc.code in ("unreachable", "bad_response"):
            return EXIT_UNREACHABLE
        return EXIT_REFUSED if exc.code != "internal" else EXIT_INTERNAL
    return EXIT_INTERNAL


def _one_line(text: str) -> str:
    return " ".join(text.split())


def report_error(exc: LicwizError, *, verbose: bool, as_json: bool, code: int) -> None:
    print(f"licwiz: {_one_line(exc.brief)} [{exc.code}]", file=sys.stderr)
    if verbose and exc.detail and exc.detail != exc.brief:
        print(exc.detail, file=sys.stderr)
    if as_json:
        print(json.dumps({"ok": False, "exit_code": code, "error": exc.as_dict()}, indent=2))


# --- licwiz [wizard] ---------------------------------------------------------


def cmd_wizard(argv: list[str]) -> int:
    p = _Parser(prog="licwiz wizard", description="Run the keyboard-only license acquisition wizard.")
    p.add_argument("--center", metavar="URL", help="Licensing Center URL (default: $LICWIZ_CENTER_URL)")
    p.add_argument("--product", help="product id (default: $LICWIZ_PRODUCT or licwiz-demo)")
    p.add_argument("--phone", metavar="NUMBER",
                   help="the Licensing Center's phone number for the phone method "
                   "(default: $LICWIZ_CENTER_PHONE or center.json)")
    p.add_argument("--web-page", metavar="URL",
                   help="the center's web page for the file method (default: $LICWIZ_CENTER_WEB, "
                   "center.json, or the center URL)")
    try:
        args = p.parse_args(argv)
    except UsageError as exc:
        print(f"licwiz: {exc.brief} [{exc.code}]", file=sys.stderr)
        return EXIT_USAGE
    try:
        config_mod = import_module("licwiz.app.config")
        wizard_mod = import_module("licwiz.app.wizard")
    except ImportError as exc:
        print(f"licwiz: the wizard is not available in this build ({exc}) [unavailable]", file=sys.stderr)
        return EXIT_INTERNAL
    kw: dict[str, Any] = {}  # unset options keep WizardConfig's defaults (env, config files)
    if args.center:
        kw["center_url"] = args.center
    if args.product:
        kw["product"] = args.product
    if args.phone:
        kw["phone_number"] = args.phone
    if args.web_page:
        kw["center_web_page"] = args.web_page
    try:
        config = config_mod.WizardConfig(**kw)
    except LicwizError as exc:  # an unreadable center.json
        report_error(exc, verbose=False, as_json=False, code=EXIT_USAGE)
        return EXIT_USAGE
    return run_app(wizard_mod.LicwizApp(config))


def run_app(app: Any) -> int:
    """Run a Textual app; its return value (an int) becomes the exit code."""
    try:
        result = app.run()
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    rc = getattr(app, "return_code", None)
    if isinstance(rc, int) and rc:
        return rc
    return result if isinstance(result, int) else EXIT_OK


# --- licwiz acquire ------------------------------------------------------------


def _acquire_parser() -> _Parser:
    p = _Parser(
        prog="licwiz acquire",
        description="Acquire a license from the Licensing Center without a screen.",
        epilog="Exit codes: 0 installed, 2 usage/bad input, 3 refused by the center, 4 center "
        "unreachable, 5 storage, 6 license invalid, 1 internal error.",
    )
    p.add_argument("--kit", required=True, metavar="REGNUM", help="registration number (10 digits)")
    p.add_argument("--pin", metavar="PIN", help="first: the PIN to spend; recover/update: the last used PIN")
    p.add_argument("--last-pin", metavar="PIN", help="recover/update: the last used PIN (PIN in use)")
    p.add_argument("--extra-pin", metavar="PIN", help="update: an unused PIN of the kit to spend")
    p.add_argument("--owner-file", required=True, type=Path, metavar="FILE",
                   help="owner-data file (as written by the wizard's Save data)")
    p.add_argument("--operation", required=True, choices=("first", "recover", "update"))
    p.add_argument("--scope", required=True, choices=("all-users", "user"))
    p.add_argument("--center", metavar="URL", help="Licensing Center URL (default: $LICWIZ_CENTER_URL)")
    p.add_argument("--server", metavar="HOST:PORT",
                   help="install on this license server instead (admin token: $LICWIZ_SERVER_TOKEN)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--verbose", "-v", action="store_true", help="print the error detail for support")
    return p


def parse_server(text: str) -> acquire.ServerTarget:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError("--server", f"--server: expected HOST:PORT, got {text!r}")
    # the admin token comes from LICWIZ_SERVER_TOKEN or ~/.config/licwiz/server-token
    return acquire.ServerTarget(host.strip("[]"), int(port))


def build_request(args: argparse.Namespace, product: str) -> ActivationRequest:
    regnum = parse_regnum(args.kit)
    if args.operation == "first":
        if args.last_pin:
            raise UsageError("--last-pin", "--last-pin: only for --operation recover or update")
        if args.extra_pin:
            raise UsageError("--extra-pin", "--extra-pin: only for --operation update")
        if not args.pin:
            raise UsageError("--pin", "--pin: required (the PIN code to spend)")
        pin = parse_pin(args.pin, "--pin")
    else:
        given = [(n, v) for n, v in (("--last-pin", args.last_pin), ("--pin", args.pin)) if v]
        if not given:
            raise UsageError("--last-pin", f"--last-pin: required for {args.operation} (the last used PIN)")
        pins = {parse_pin(v, n) for n, v in given}
        if len(pins) > 1:
            raise UsageError("--last-pin", "--pin and --last-pin differ; give the last used PIN once")
        pin = pins.pop()
    extra = None
    if args.operation == "update":
        if not args.extra_pin:
            raise UsageError("--extra-pin", "--extra-pin: required for an update (an unused PIN)")
        extra = parse_pin(args.extra_pin, "--extra-pin")
    elif args.extra_pin:
        raise UsageError("--extra-pin", "--extra-pin: only for --operation update")
    owner = load_file(args.owner_file)
    req = ActivationRequest(
        product=product, regnum=regnum, pin=pin, operation=args.operation, owner=owner,
        params=collect(product), method="online", extra_pin=extra,
    )
    req.check()
    return req


async def _acquire(args: argparse.Namespace, req: ActivationRequest, verbose: bool) -> acquire.Outcome:
    server = parse_server(args.server) if args.server else None
    progress = (lambda step: print(f"licwiz: {step}...", file=sys.stderr)) if verbose else None
    async with CenterClient(args.center or default_center_url()) as client:
        return await acquire.acquire_online(
            client, req, keyring=load_keyring(), scope=args.scope,
            idempotency_key=new_idempotency_key(), progress=progress, server=server,
        )


def cmd_acquire(argv: list[str]) -> int:
    as_json = "--json" in argv
    verbose = "--verbose" in argv or "-v" in argv
    try:
        args = _acquire_parser().parse_args(argv)
        req = build_request(args, current_product())
        outcome = asyncio.run(_acquire(args, req, verbose))
    except KeyboardInterrupt:
        print("licwiz: interrupted [interrupted]", file=sys.stderr)
        return EXIT_INTERRUPTED
    except LicwizError as exc:
        code = exit_code_for(exc)
        report_error(exc, verbose=verbose, as_json=as_json, code=code)
        return code
    except Exception as exc:  # a bug: still one line, the traceback only with --verbose
        err = LicwizError("internal error", f"{type(exc).__name__}: {exc}", code="internal")
        report_error(err, verbose=verbose, as_json=as_json, code=EXIT_INTERNAL)
        if verbose:
            import traceback

            traceback.print_exc()
        return EXIT_INTERNAL
    print_installed(outcome, as_json)
    return EXIT_OK


def print_installed(outcome: acquire.Outcome, as_json: bool) -> None:
    """What acquire and install print on success (stdout)."""
    if as_json:
        print(json.dumps({"ok": True, "exit_code": EXIT_OK, "license": outcome.to_dict()}, indent=2))
    else:
        lic = outcome.license
        print(f"Installed license {lic.license_id} ({lic.users} user{'s' if lic.users != 1 else ''}) "
              f"in {outcome.where()}")


# --- licwiz status -------------------------------------------------------------


def seat_holders(product: str) -> list[dict[str, Any]] | None:
    """Seats in use, when this build has core/seats.py; None otherwise."""
    try:
        seats = import_module("licwiz.core.seats")
    except ImportError:
        return None
    fn = getattr(seats, "seat_holders", None)
    if not callable(fn):
        return None
    try:
        got = fn(product)
    except (LicwizError, OSError):
        return None
    return [_as_dict(h) for h in got]


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return {str(k): v for k, v in obj.items()}
    for name in ("as_dict", "to_dict"):
        conv = getattr(obj, name, None)
        if callable(conv):
            d = conv()
            if isinstance(d, dict):
                return d
    return {"holder": str(obj)}


def cmd_status(argv: list[str]) -> int:
    p = _Parser(prog="licwiz status", description="List installed licenses and whether each is valid here.")
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    try:
        args = p.parse_args(argv)
    except UsageError as exc:
        print(f"licwiz: {exc.brief} [{exc.code}]", file=sys.stderr)
        return EXIT_USAGE
    product = current_product()
    try:
        rows = acquire.installed_licenses(load_keyring(), product, collect(product))
    except LicwizError as exc:
        print(f"licwiz: {_one_line(exc.brief)} [{exc.code}]", file=sys.stderr)
        return exit_code_for(exc)
    holders = seat_holders(product)
    valid = any(r.valid for r in rows)
    # seats of this computer = users of the valid, not superseded licenses (core.seats counts the same)
    users = sum(r.license.users for r in rows if r.valid and r.license)
    if args.json:
        doc: dict[str, Any] = {"product": product, "valid": valid, "users": users,
                               "licenses": [r.to_dict() for r in rows]}
        if holders is not None:
            doc["seats"] = holders
        print(json.dumps(doc, indent=2, default=str))
        return EXIT_OK if valid else 1
    if not rows:
        print(f"No licenses installed for {product}.")
    for r in rows:
        lic = r.license
        what = (f"{lic.license_id}  {lic.users} user{'s' if lic.users != 1 else ''}  {lic.method}  "
                f"issued {lic.issued}" if lic else "(unreadable)")
        state = "valid here" if r.valid else f"NOT valid: {r.reason}"
        print(f"[{r.scope}] {what}\n    {r.path}\n    {state}")
    if holders is not None:
        print(f"Seats in use: {len(holders)} of {users}")
        for h in holders:
            print(f"    {h.get('user', '?')}: session {h.get('session', '?')}, pid {h.get('pid', '?')}, "
                  f"since {h.get('since', '?')}")
    return EXIT_OK if valid else 1
