"""``licwiz server init|serve``: the site's license server.

- ``licwiz server init [--db URL] [--admin-token T] [--client-token T] [--force]``
  creates the schema and the two tokens (random unless given), prints them
  once and stores only their hashes in the database (so every server process
  on a shared PostgreSQL database accepts the same tokens).
- ``licwiz server serve [--host 127.0.0.1] [--port 8475] [--db URL] [--lease SECONDS]
  [--tls-cert F --tls-key F]``
- admin side, from any computer (core/server_client.py settings: ``--server`` or
  ``LICWIZ_SERVER``; admin token ``LICWIZ_SERVER_TOKEN`` or ~/.config/licwiz/server-token):
  ``licwiz server params [--product P] [--json]`` (what to bind a license to),
  ``licwiz server install FILE`` (upload a license), ``licwiz server status``
  (licenses, capacity, seats in use).

The default database is SQLite at ``$LICWIZ_SERVER_DIR/server.db`` (default
``/var/lib/licwiz-server``); ``LICWIZ_SERVER_DB`` overrides the URL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from licwiz.server.config import default_db_url

DEFAULT_PORT = 8475
DEFAULT_LEASE = 120.0


def cmd_init(args: argparse.Namespace) -> int:
    admin = args.admin_token or secrets.token_urlsafe(24)
    client = args.client_token or secrets.token_urlsafe(24)
    if admin == client:
        print("licwiz server: the admin and client tokens must differ", file=sys.stderr)
        return 2
    from licwiz.server import setup

    setup.prepare_sqlite_dir(args.db)
    if not asyncio.run(setup.initialise(args.db, admin, client, args.force)):
        print("licwiz server: already initialised (tokens exist); use --force to replace them",
              file=sys.stderr)
        return 1
    print("License server initialised. Keep these tokens: they are shown only once.")
    print(f"admin token: {admin}")
    print(f"client token: {client}")
    print("Admins: export LICWIZ_SERVER_TOKEN=<admin token> (or ~/.config/licwiz/server-token).")
    print("Clients: LICWIZ_SERVER_CLIENT_TOKEN=<client token>")
    print("  (or 'client_token' in /etc/licwiz/server.json or ~/.config/licwiz/server.json).")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    if bool(args.tls_cert) != bool(args.tls_key):
        print("licwiz server: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    if args.lease <= 0:
        print("licwiz server: --lease must be positive", file=sys.stderr)
        return 2
    for f in (args.tls_cert, args.tls_key):
        if f and not os.access(f, os.R_OK):
            print(f"licwiz server: cannot read {f}", file=sys.stderr)
            return 2
    from licwiz.server import setup

    setup.prepare_sqlite_dir(args.db)
    ready = asyncio.run(setup.prepare(args.db))
    if ready.revision is None or not ready.has_tokens:
        print("licwiz server: this database has no tokens yet: run 'licwiz server init' first",
              file=sys.stderr)
        return 1
    if ready.revision != ready.head:
        print(f"licwiz server: the database schema is at revision {ready.revision}; this licwiz needs "
              f"{ready.head} (a newer licwiz made it?)", file=sys.stderr)
        return 1
    scheme = "https" if args.tls_cert else "http"
    started = setup.serve(url=args.db, host=args.host, port=args.port, lease=args.lease,
                          tls_cert=args.tls_cert, tls_key=args.tls_key,
                          banner=f"licwiz license server on {scheme}://{args.host}:{args.port} "
                                 f"(lease {args.lease:g} s)")
    return 0 if started else 1


async def _remote(args: argparse.Namespace) -> int:
    import json

    from licwiz.core import license as lic_mod
    from licwiz.core.server_client import admin_token, client_from_config
    from licwiz.core.text import printable

    if args.cmd == "params":
        # parameters accept the client token too; prefer the admin one when set
        async with client_from_config(args.server, admin=admin_token() is not None) as c:
            params = await c.parameters(args.product or None)
        if args.json:
            print(json.dumps(params, indent=2, sort_keys=True))
        else:
            for name, digest in params.items():
                print(printable(f"{name:<12} {digest}"))
        return 0
    async with client_from_config(args.server, admin=True) as c:
        if args.cmd == "install":
            text = lic_mod.read_file(Path(args.file))
            got = await c.install(text)
            again = "" if got.get("new") else " (it was already there)"
            print(printable(f"installed {got['license_id']} on the server: {got['product']}, "
                            f"{got['users']} user(s){again}"))
            return 0
        listing = await c.licenses()
        rows = await c.seats()
    print("Licenses:" if listing["licenses"] else "No licenses on the server.")
    for lic in listing["licenses"]:
        until = lic["not_after"] or "-"
        print(printable(f"  {lic['license_id']}  {lic['product']}  {lic['users']} user(s)  until {until}"))
    for product, cap in listing.get("capacity", {}).items():
        used = sum(1 for r in rows if r.get("product") == product)
        print(printable(f"Seats of {product}: {used} of {cap} in use"))
    for r in rows:
        # user, host and session are what some client told the server: never raw to the terminal
        print(printable(f"  slot {r['slot']}: {r['user']} on {r['host']}, session {r['session']}, "
                        f"since {r['since']}"))
    return 0


def cmd_remote(args: argparse.Namespace) -> int:
    from licwiz.core.errors import LicwizError
    from licwiz.core.text import printable, printable_lines

    try:
        return asyncio.run(_remote(args))
    except LicwizError as exc:
        print(printable(f"licwiz server: {exc.brief}"), file=sys.stderr)
        if exc.detail != exc.brief:
            print(printable_lines(f"  {exc.detail}"), file=sys.stderr)
        return 69 if exc.code in ("unreachable", "bad_response") else 1


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="licwiz server", description="the site's license server")
    sub = p.add_subparsers(dest="cmd", required=True)
    pi = sub.add_parser("init", help="create the database and the admin and client tokens")
    pi.add_argument("--db", default=default_db_url(), help="database URL (default: %(default)s)")
    pi.add_argument("--admin-token", default="", help="use this admin token instead of a random one")
    pi.add_argument("--client-token", default="", help="use this client token instead of a random one")
    pi.add_argument("--force", action="store_true", help="replace existing tokens")
    ps = sub.add_parser("serve", help="serve the API")
    ps.add_argument("--host", default="127.0.0.1")
    ps.add_argument("--port", type=int, default=DEFAULT_PORT)
    ps.add_argument("--db", default=default_db_url(), help="database URL (default: %(default)s)")
    ps.add_argument("--lease", type=float, default=DEFAULT_LEASE,
                    help="seconds a seat lives without a heartbeat")
    ps.add_argument("--tls-cert", default="")
    ps.add_argument("--tls-key", default="")
    for name, help_ in (("params", "show the server computer's parameters (to bind a license to)"),
                        ("install", "upload a license file to the server (admin token)"),
                        ("status", "list the server's licenses and seats in use (admin token)")):
        pr = sub.add_parser(name, help=help_)
        pr.add_argument("--server", default=None, help="HOST:PORT (default: LICWIZ_SERVER or server.json)")
        if name == "params":
            pr.add_argument("--product", default="")
            pr.add_argument("--json", action="store_true")
        if name == "install":
            pr.add_argument("file")
    args = p.parse_args(list(argv or []))
    try:
        if args.cmd in ("params", "install", "status"):
            return cmd_remote(args)
        return cmd_init(args) if args.cmd == "init" else cmd_serve(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise  # licwiz's main stops quietly (licwiz server params | head)
    except (OSError, ValueError) as exc:
        print(f"licwiz server: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # database errors: one line, no traceback for an operator
        from sqlalchemy.exc import SQLAlchemyError

        if isinstance(exc, SQLAlchemyError):
            print(f"licwiz server: database error: {exc.__class__.__name__}: {str(exc).splitlines()[0]}",
                  file=sys.stderr)
            return 1
        raise
