"""``licwiz acquire`` and ``licwiz status``; the request options shared with
``licwiz request`` (``add_request_options``, ``build_request``) and the
success line shared with ``licwiz install`` (``print_installed``).

``licwiz acquire`` runs the automatic method without a screen, for scripts and
configuration management::

    licwiz acquire --kit REGNUM --pin PIN --owner-file FILE \\
        --operation first|recover|update --scope all-users|user \\
        [--last-pin PIN] [--extra-pin PIN] [--center URL] [--server HOST:PORT] [--json] [--verbose]

PINs: for ``first``, ``--pin`` is the unused PIN to spend. For ``recover`` and
``update`` the request needs the last used PIN (the PIN currently in use):
give it as ``--last-pin`` (``--pin`` is accepted as the same thing); an update
also spends ``--extra-pin``, an unused PIN of the same kit.

Exit codes: ``AcquireExit`` in cli/errors.py.

``licwiz status [--json]`` lists the installed licenses of both scopes and
whether each is valid here (signature, product, dates, key computer
parameters), and the seats in use; exit code 0 when at least one is valid,
1 when none is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from licwiz.app.config import default_center_url
from licwiz.core import acquire, seats
from licwiz.core.client import CenterClient, new_idempotency_key
from licwiz.core.errors import LicwizError
from licwiz.core.fingerprint import collect
from licwiz.core.i18n import N_, _, ngettext
from licwiz.core.identifiers import parse_pin, parse_regnum
from licwiz.core.keys import load_keyring
from licwiz.core.message import Msg, localized
from licwiz.core.owner import load_file
from licwiz.core.product import current_product
from licwiz.core.request import ActivationRequest
from licwiz.core.text import printable

from .errors import AcquireExit, Parser, UsageError, exit_code_for, guarded, report_error, wants


def add_request_options(p: Parser) -> None:
    """The options that say what to ask for (acquire, request)."""
    p.add_argument("--kit", required=True, metavar="REGNUM", help=_("registration number (10 digits)"))
    p.add_argument("--pin", metavar="PIN",
                   help=_("first: the PIN to spend; recover/update: the last used PIN"))
    p.add_argument("--last-pin", metavar="PIN", help=_("recover/update: the last used PIN (PIN in use)"))
    p.add_argument("--extra-pin", metavar="PIN", help=_("update: an unused PIN of the kit to spend"))
    p.add_argument("--owner-file", required=True, type=Path, metavar="FILE",
                   help=_("owner-data file (as written by the wizard's Save data)"))
    p.add_argument("--operation", required=True, choices=("first", "recover", "update"))


def add_output_options(p: Parser) -> None:
    p.add_argument("--json", action="store_true", help=_("print the result as JSON on stdout"))
    p.add_argument("--verbose", "-v", action="store_true", help=_("print the error detail for support"))


def build_acquire_parser() -> Parser:
    p = Parser(
        prog="licwiz acquire",
        description=_("Acquire a license from the Licensing Center without a screen."),
        epilog=_("Exit codes: 0 installed, 2 usage/bad input, 3 refused by the center, 4 center "
        "unreachable, 5 storage, 6 license invalid, 1 internal error."),
    )
    add_request_options(p)
    p.add_argument("--scope", required=True, choices=("all-users", "user"))
    p.add_argument("--center", metavar="URL", help=_("Licensing Center URL (default: $LICWIZ_CENTER_URL)"))
    p.add_argument("--server", metavar="HOST:PORT",
                   help=_("install on this license server instead (admin token: $LICWIZ_SERVER_TOKEN)"))
    add_output_options(p)
    return p


def parse_server(text: str) -> acquire.ServerTarget:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError("--server", Msg(N_("--server: expected HOST:PORT, got {text!r}"), text=text))
    # the admin token comes from LICWIZ_SERVER_TOKEN or ~/.config/licwiz/server-token
    return acquire.ServerTarget(host.strip("[]"), int(port))


def build_request(args: argparse.Namespace, product: str) -> ActivationRequest:
    """The request the options ask for, with this computer's parameters
    (checked before any network call: a typo is a usage error)."""
    regnum = parse_regnum(args.kit)
    if args.operation == "first":
        if args.last_pin:
            raise UsageError("--last-pin", Msg(N_("--last-pin: only for --operation recover or update")))
        if args.extra_pin:
            raise UsageError("--extra-pin", Msg(N_("--extra-pin: only for --operation update")))
        if not args.pin:
            raise UsageError("--pin", Msg(N_("--pin: required (the PIN code to spend)")))
        pin = parse_pin(args.pin, "--pin")
    else:
        given = [(n, v) for n, v in (("--last-pin", args.last_pin), ("--pin", args.pin)) if v]
        if not given:
            raise UsageError("--last-pin",
                             Msg(N_("--last-pin: required for {operation} (the last used PIN code)"),
                                                 operation=args.operation))
        pins = {parse_pin(v, n) for n, v in given}
        if len(pins) > 1:
            raise UsageError("--last-pin",
                             Msg(N_("--pin and --last-pin differ; give the last used PIN code once")))
        pin = pins.pop()
    extra = None
    if args.operation == "update":
        if not args.extra_pin:
            raise UsageError("--extra-pin",
                             Msg(N_("--extra-pin: required for an update (an unused PIN code)")))
        extra = parse_pin(args.extra_pin, "--extra-pin")
    elif args.extra_pin:
        raise UsageError("--extra-pin", Msg(N_("--extra-pin: only for --operation update")))
    owner = load_file(args.owner_file)
    req = ActivationRequest(
        product=product, regnum=regnum, pin=pin, operation=args.operation, owner=owner,
        params=collect(product), method="online", extra_pin=extra,
    )
    req.check()
    return req


def print_installed(outcome: acquire.Outcome, as_json: bool) -> None:
    """What acquire and install print on success (stdout)."""
    if as_json:
        print(json.dumps({"ok": True, "exit_code": AcquireExit.OK, "license": outcome.to_dict()}, indent=2))
    else:
        lic = outcome.license
        print(ngettext("Installed license {license_id} ({n} user) in {where}",
                       "Installed license {license_id} ({n} users) in {where}", lic.users).format(
            license_id=lic.license_id, n=lic.users, where=localized(outcome.where())))


# --- licwiz acquire ------------------------------------------------------------


async def _acquire(args: argparse.Namespace, req: ActivationRequest) -> acquire.Outcome:
    server = parse_server(args.server) if args.server else None
    progress = (lambda step: print(f"licwiz: {_(step)}...", file=sys.stderr)) if args.verbose else None
    async with CenterClient(args.center or default_center_url()) as client:
        return await acquire.acquire_online(
            client, req, keyring=load_keyring(), scope=args.scope,
            idempotency_key=new_idempotency_key(), progress=progress, server=server,
        )


def cmd_acquire(argv: list[str]) -> int:
    def body() -> int:
        args = build_acquire_parser().parse_args(argv)
        req = build_request(args, current_product())
        print_installed(asyncio.run(_acquire(args, req)), args.json)
        return AcquireExit.OK

    return guarded(argv, body)


# --- licwiz status -------------------------------------------------------------


def seat_holders(product: str) -> list[dict[str, Any]] | None:
    """Seats in use on this computer; None when they cannot be read."""
    try:
        return [h.as_dict() for h in seats.seat_holders(product)]
    except (LicwizError, OSError):
        return None


def build_status_parser() -> Parser:
    p = Parser(prog="licwiz status", description=_("List installed licenses and whether each is valid here."))
    p.add_argument("--json", action="store_true", help=_("print JSON on stdout"))
    return p


def cmd_status(argv: list[str]) -> int:
    p = build_status_parser()
    product = current_product()
    try:
        args = p.parse_args(argv)
        rows = acquire.installed_licenses(load_keyring(), product, collect(product))
    except LicwizError as exc:
        code = exit_code_for(exc)
        report_error(exc, code=code, as_json=wants(argv, "--json"))
        return code
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
        return AcquireExit.OK if valid else 1
    if not rows:
        print(_("No licenses installed for {product}.").format(product=product))
    for r in rows:
        lic = r.license
        what = (ngettext("{license_id}  {n} user  {method}  issued {issued}",
                         "{license_id}  {n} users  {method}  issued {issued}", lic.users).format(
            license_id=lic.license_id, n=lic.users, method=lic.method, issued=lic.issued)
            if lic else _("(unreadable)"))
        state = _("valid here") if r.valid else _("NOT valid: {reason}").format(reason=localized(r.reason))
        # an invalid file's content is untrusted; the reason may quote it
        print("\n    ".join(printable(part) for part in (f"[{r.scope}] {what}", str(r.path), state)))
    if holders is not None:
        print(_("Seats in use: {used} of {users}").format(used=len(holders), users=users))
        for h in holders:
            # seat records are written by other users' sessions: printable only
            print(printable(_("    {user}: session {session}, pid {pid}, since {since}").format(
                user=h.get("user", "?"), session=h.get("session", "?"), pid=h.get("pid", "?"),
                since=h.get("since", "?"))))
    return AcquireExit.OK if valid else 1
