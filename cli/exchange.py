"""``licwiz request`` and ``licwiz install``: the file and phone methods from
a shell, on core/exchange.py (the functions the wizard's steps use too).

``licwiz request`` writes a sealed request file (or, with ``--phone``, prints
the request code rows) and records a pending request; ``licwiz install``
installs the answer (a license data file, or with ``--phone`` the operator's
response rows read from stdin) after checking it answers a pending request of
this computer. With ``--server HOST:PORT`` the request binds the license
server's parameters and the answer is uploaded there.

``-`` is a standard stream (cli/stdio.py): ``licwiz request --out -`` prints
the armoured request on stdout (what it says besides goes to stderr), and
``licwiz install -`` reads the license data file from stdin, so both work in
a pipe (``licwiz request ... --out - | ssh vendor-gateway submit``).

Exit codes: ``AcquireExit`` in cli/errors.py (0 done, 2 usage or bad input,
also phone rows with a wrong check digit and a file that is not a license,
3/4 license server refused/unreachable, 5 storage, 6 the license is invalid or
not the one requested, or no trusted center sealing key).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from pathlib import Path

from licwiz.core import exchange, phonecodes
from licwiz.core.acquire import Outcome, Target, server_parameters
from licwiz.core.i18n import N_, _, ngettext
from licwiz.core.keys import load_keyring
from licwiz.core.message import Msg
from licwiz.core.product import current_product
from licwiz.core.request import ActivationRequest, seal
from licwiz.core.storage import Scope, is_writable

from .acquire import add_output_options, add_request_options, build_request, parse_server, print_installed
from .errors import AcquireExit, Parser, UsageError, guarded
from .stdio import STDIO, is_stdio, read_license

_MAX_STDIN = 64 * 1024


def build_request_parser() -> Parser:
    p = Parser(
        prog="licwiz request",
        description=_("Write a sealed license request file for the Licensing Center's web page "
        "(or, with --phone, print the request code to read to the operator)."),
        epilog=_("Then: licwiz install LICENSE-FILE (or licwiz install --phone). "
        "Exit codes: 0 written, 2 usage/bad input, 5 storage, 6 no trusted center sealing key, "
        "3 license server refused, 4 license server unreachable (--server), 1 internal error."),
    )
    p.add_argument("--out", type=Path, metavar="FILE",
                   help=_("where to write the request file (default ./licwiz-request-<kit>.req; "
                   "'-': standard output)"))
    p.add_argument("--phone", action="store_true", help=_("print the phone request code instead of a file"))
    add_request_options(p)
    p.add_argument("--server", metavar="HOST:PORT",
                   help=_("request the license for this license server's computer (its parameters; "
                   "token: $LICWIZ_SERVER_TOKEN)"))
    add_output_options(p)
    return p


def build_install_parser() -> Parser:
    p = Parser(
        prog="licwiz install",
        description=_("Install a license data file from the Licensing Center (or, with --phone, the "
        "operator's response rows, one per line on stdin)."),
        epilog=_("Exit codes: 0 installed, 2 usage/bad input/wrong phone rows, 5 storage, "
        "6 license invalid or not the one requested, 3 license server refused, "
        "4 license server unreachable (--server), 1 internal error."),
    )
    p.add_argument("file", nargs="?", type=Path, metavar="FILE",
                   help=_("the license data file (.lic); '-' reads it from standard input"))
    p.add_argument("--phone", action="store_true", help=_("read the phone response rows from stdin"))
    p.add_argument("--scope", choices=("all-users", "user"),
                   help=_("where to install (default: all users when writable, else the current user)"))
    p.add_argument("--without-request", action="store_true",
                   help=_("install even if no request was made here (still checked against this computer)"))
    p.add_argument("--server", metavar="HOST:PORT",
                   help=_("install on this license server instead (admin token: $LICWIZ_SERVER_TOKEN); "
                   "the request must have been made with the same --server"))
    add_output_options(p)
    return p


# --- licwiz request -----------------------------------------------------------------


def cmd_request(argv: list[str]) -> int:
    def body() -> int:
        args = build_request_parser().parse_args(argv)
        if args.phone and args.out:
            raise UsageError("--out", Msg(N_("--out: not with --phone (the phone code is printed)")))
        product = current_product()
        req = build_request(args, product)
        if args.server:
            # A license installed on a license server binds the server's computer, not this one.
            target = parse_server(args.server)
            req = dataclasses.replace(req, params=asyncio.run(server_parameters(target, product)))
        if args.phone:
            _print_phone_request(*exchange.start_phone(req), as_json=args.json)
            return AcquireExit.OK
        if is_stdio(args.out):
            _print_request(req, as_json=args.json)
            return AcquireExit.OK
        out = args.out if args.out is not None else exchange.default_request_path(req)
        pending = exchange.write_request_file(req, out)
        if args.json:
            print(json.dumps({"ok": True, "pending": pending.id, "request_file": pending.request_file},
                             indent=2))
        else:
            print(_("Request file written: {path}").format(path=pending.request_file))
            print(_where_to_send())
        return AcquireExit.OK

    return guarded(argv, body)


def _print_request(req: ActivationRequest, *, as_json: bool) -> None:
    """``--out -``: the armoured request on stdout, the rest on stderr. The
    pending request is recorded first: the answer must find it, while a pending
    request whose text never got anywhere only waits, like one whose file was lost."""
    _kid, key = load_keyring().sealing_key()
    pending = exchange.new_pending(req, "file", request_file=STDIO)
    text = seal(pending.request, key)
    exchange.save_pending(pending)
    if as_json:
        print(json.dumps({"ok": True, "pending": pending.id, "request_file": STDIO, "request": text},
                         indent=2))
        return
    sys.stdout.write(text)
    sys.stdout.flush()
    print("licwiz: " + _("request written to standard output. {where}").format(where=_where_to_send()),
          file=sys.stderr)


def _where_to_send() -> str:
    """Where the request goes: the center's mailbox and web page from center.json
    (or the environment), as the wizard's request-file step says it."""
    from licwiz.app.config import center_settings

    s = center_settings()
    email, page = s.get("email"), s.get("web_page") or s.get("url")
    if email and page:
        send = _("Send it as an attachment to {email}, or upload it on the Licensing Center's web page "
                 "({page})").format(email=email, page=page)
    elif email:
        send = _("Send it as an attachment to {email}, or upload it on the Licensing Center's web "
                 "page").format(email=email)
    elif page:
        send = _("Upload it on the Licensing Center's web page ({page})").format(page=page)
    else:
        send = _("Upload it on the Licensing Center's web page")
    return _("{send}; then install the license data file you get back with: licwiz install FILE").format(
        send=send)


def _print_phone_request(pending: exchange.PendingRequest, rows: list[str], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"ok": True, "pending": pending.id, "rows": rows}, indent=2))
        return
    print(ngettext("Request code for kit {regnum} ({n} row). Read each row with its number to the "
                   "Licensing Center operator:",
                   "Request code for kit {regnum} ({n} rows). Read each row with its number to the "
                   "Licensing Center operator:", len(rows)).format(regnum=pending.request.regnum,
                                                                   n=len(rows)))
    for i, r in enumerate(rows, 1):
        print(f"{i:>2}: {phonecodes.format_row(r)}")
    print(_("Then type the operator's answer, one row per line, into: licwiz install --phone"))


# --- licwiz install -----------------------------------------------------------------


def _default_scope() -> Scope:
    return "all-users" if is_writable("all-users") else "user"


def _phone_rows() -> list[str]:
    """The operator's rows typed on stdin, one per line; "3: 123 456 ..." as
    printed by ``licwiz request --phone`` is accepted too."""
    rows = [ln for ln in sys.stdin.read(_MAX_STDIN).splitlines() if ln.strip()]
    return [ln.split(":", 1)[1] if ":" in ln else ln for ln in rows]


def _target(args: argparse.Namespace) -> Target:
    if args.server:
        if args.scope:
            raise UsageError("--scope",
                             Msg(N_("--scope: not with --server (the license goes to the server)")))
        return parse_server(args.server)
    scope: Scope = args.scope or _default_scope()
    return scope


async def _install(args: argparse.Namespace) -> Outcome:
    target = _target(args)
    product = current_product()
    if args.phone:
        if args.file is not None:
            raise UsageError("FILE", Msg(N_("give either a license data FILE or --phone, not both")))
        phone = [p for p in exchange.load_pending(product) if p.method == "phone"]
        if not phone:
            raise exchange.NoPendingRequest(
                Msg(N_("no phone request is pending on this computer (licwiz request --phone)")))
        outcome, _answered = await exchange.install_phone_answer(_phone_rows(), phone, target=target,
                                                                 product=product)
        return outcome
    if args.file is None:
        raise UsageError("FILE", Msg(N_("FILE: the license data file to install is required "
                                     "('-': standard input)")))
    text, source = await asyncio.to_thread(read_license, args.file)
    outcome, _pending = await exchange.install_answer_text(
        text, source=source, target=target, product=product, require_pending=not args.without_request,
    )
    return outcome


def cmd_install(argv: list[str]) -> int:
    def body() -> int:
        args = build_install_parser().parse_args(argv)
        print_installed(asyncio.run(_install(args)), args.json)
        return AcquireExit.OK

    return guarded(argv, body)
