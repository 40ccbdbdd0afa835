"""``licwiz server init|serve``: the site's license server.

- ``licwiz server init [--db URL] [--admin-token T] [--client-token T] [--force] [--json]``
  creates the schema and the two tokens (random unless given), prints them
  once and stores only their hashes in the database (so every server process
  on a shared PostgreSQL database accepts the same tokens).
- ``licwiz server serve [--host 127.0.0.1] [--port 8475] [--db URL] [--lease SECONDS]
  [--tls-cert F --tls-key F]``
- admin side, from any computer (core/server_client.py settings: ``--server`` or
  ``LICWIZ_SERVER``; admin token ``LICWIZ_SERVER_TOKEN`` or ~/.config/licwiz/server-token):
  ``licwiz server params [--product P] [--json]`` (what to bind a license to),
  ``licwiz server install FILE [--json]`` (upload a license; ``-``: from stdin),
  ``licwiz server status [--json]`` (licenses, capacity, seats in use).
- on the server's database (``--db``, as ``serve``; works while it serves):
  ``licwiz server report [--since DATE] [--product P] [--json|--csv]`` (usage
  from the seat log: peak and average seats, denials, per user and per day),
  ``licwiz server seats release SEAT_ID [--json]`` (free a seat by hand, like
  lmremove; logged as ``admin_release`` with the operator's login name).

``--db`` takes what the center's does: a file path (SQLite), or a SQLite or
PostgreSQL URL in any spelling (``sqlite:///f.db``, ``postgresql://...``),
turned into the async drivers' URLs here. The default database is SQLite at
``$LICWIZ_SERVER_DIR/server.db`` (default ``/var/lib/licwiz-server``);
``LICWIZ_SERVER_DB`` overrides the URL.

Exit codes (``ServiceExit`` in cli/errors.py): 0 done, 1 error (one line),
2 usage, 3 ``serve`` cannot listen on its address (port in use, no
permission), 69 the server cannot be reached by ``params``, ``install`` or
``status``. With ``--json`` an error is also ``{"ok": false, "exit_code",
"error"}`` on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from licwiz.core.i18n import N_, _
from licwiz.core.message import Msg, localized
from licwiz.server.config import default_db_url

from .errors import Parser, ServiceExit, UsageError, wants
from .listen import listen_problem

DEFAULT_PORT = 8475
DEFAULT_LEASE = 120.0


def db_url(text: str) -> str:
    """What ``--db`` accepts, as the center's ``--db`` does: a file path, or a
    SQLite or PostgreSQL URL with any driver (or none), as the URL of the async
    driver the server runs on."""
    if "://" not in text:
        return f"sqlite+aiosqlite:///{Path(text).expanduser().resolve()}"
    scheme, rest = text.split("://", 1)
    dialect = scheme.split("+", 1)[0]
    if dialect == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    if dialect in ("postgresql", "postgres"):
        return f"postgresql+asyncpg://{rest}"
    return text  # refused by server/db.py, naming the dialect


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _say_error(brief: str, code: int, err_code: str, *, as_json: bool, detail: str = "") -> int:
    """One line on stderr in the user's language; with --json the error object (English) on stdout."""
    from licwiz.core.text import printable

    print(printable(f"licwiz server: {' '.join(localized(brief).split())} [{err_code}]"), file=sys.stderr)
    if as_json:
        print(json.dumps({"ok": False, "exit_code": code,
                          "error": {"code": err_code, "brief": brief, "detail": detail or brief}}, indent=2))
    return code


def cmd_init(args: argparse.Namespace) -> int:
    admin = args.admin_token or secrets.token_urlsafe(24)
    client = args.client_token or secrets.token_urlsafe(24)
    if admin == client:
        return _say_error(Msg(N_("the admin and client tokens must differ")), ServiceExit.USAGE, "usage",
                          as_json=args.json)
    from licwiz.server import setup

    setup.prepare_sqlite_dir(args.db)
    if not asyncio.run(setup.initialise(args.db, admin, client, args.force)):
        return _say_error(Msg(N_("already initialised (tokens exist); use --force to replace them")),
                          ServiceExit.ERROR, "initialised", as_json=args.json)
    if args.json:
        print(json.dumps({"ok": True, "db": _shown(args.db), "admin_token": admin, "client_token": client},
                         indent=2))
        return ServiceExit.OK
    print(_("License server initialised. Keep these tokens: they are shown only once."))
    print(_("admin token: {admin}").format(admin=admin))
    print(_("client token: {client}").format(client=client))
    print(_("Admins: export LICWIZ_SERVER_TOKEN=<admin token> (or ~/.config/licwiz/server-token)."))
    print(_("Clients: LICWIZ_SERVER_CLIENT_TOKEN=<client token>"))
    print(_("  (or 'client_token' in /etc/licwiz/server.json or ~/.config/licwiz/server.json)."))
    return ServiceExit.OK


def cmd_serve(args: argparse.Namespace) -> int:
    if bool(args.tls_cert) != bool(args.tls_key):
        print("licwiz server: " + _("--tls-cert and --tls-key go together"), file=sys.stderr)
        return ServiceExit.USAGE
    if args.lease <= 0:
        print("licwiz server: " + _("--lease must be positive"), file=sys.stderr)
        return ServiceExit.USAGE
    if not 0 < args.port < 65536:
        print("licwiz server: " + _("--port must be from 1 to 65535, not {port}").format(port=args.port),
              file=sys.stderr)
        return ServiceExit.USAGE
    for f in (args.tls_cert, args.tls_key):
        if f and not os.access(f, os.R_OK):
            print("licwiz server: " + _("cannot read {path}").format(path=f), file=sys.stderr)
            return ServiceExit.USAGE
    # Before the database is touched: a second server started on a taken port
    # says so in one line, not in uvicorn's log after a schema upgrade.
    problem = listen_problem(args.host, args.port)
    if problem is not None:
        line = _("cannot listen: {problem}").format(problem=localized(problem))
        print(f"licwiz server: {line} [address_in_use]", file=sys.stderr)
        return ServiceExit.ADDRESS
    from licwiz.server import setup

    setup.prepare_sqlite_dir(args.db)
    problem = asyncio.run(setup.prepare(args.db))
    if problem is not None:
        print(f"licwiz server: {localized(problem)}", file=sys.stderr)
        return ServiceExit.ERROR
    scheme = "https" if args.tls_cert else "http"
    started = setup.serve(url=args.db, host=args.host, port=args.port, lease=args.lease,
                          tls_cert=args.tls_cert, tls_key=args.tls_key,
                          banner=f"licwiz license server on {scheme}://{args.host}:{args.port} "
                                 f"(lease {args.lease:g} s)")
    return ServiceExit.OK if started else ServiceExit.ERROR


async def _report(args: argparse.Namespace) -> dict[str, Any]:
    from licwiz.server import db, report

    since = report.parse_since(args.since) if args.since else None
    engine = db.make_engine(args.db)
    try:
        await _require_log(engine)
        rows, held = await report.load(engine, since, args.product or None)
    finally:
        await engine.dispose()
    return report.usage(rows, held, since)


async def _require_log(engine: Any) -> None:
    from licwiz.server import db

    revision = await db.schema_revision(engine)
    if revision is None:
        raise ValueError("this database has no license server schema: run 'licwiz server init' first")
    if revision < "0002":  # the seat log came with revision 0002
        raise ValueError(f"the database schema is at revision {revision}, which has no seat log: run "
                         "`licwiz server db upgrade`")


def cmd_report(args: argparse.Namespace) -> int:
    import csv

    from licwiz.core.text import printable
    from licwiz.server import report

    doc = asyncio.run(_report(args))
    if args.json:
        print(json.dumps({"ok": True, **doc}, indent=2))
        return ServiceExit.OK
    if args.csv:
        w = csv.DictWriter(sys.stdout, fieldnames=report.CSV_FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(report.csv_rows(doc))
        return ServiceExit.OK
    print(_("Seat usage from {since} to {until} (UTC)").format(since=doc['since'], until=doc['until']))
    if not doc["products"]:
        print(_("No seats were claimed in this period."))
    for product, p in doc["products"].items():
        at = _(" at {time}").format(time=p["peak_at"]) if p["peak_at"] else ""
        print(printable(_("{product}: peak {peak} seat(s){at}, average {average:.2f}, {seat_hours:.2f} "
                          "seat-hours; {grants} granted, {denials} denied, {releases} released, {expiries} "
                          "expired, {admin_releases} released by hand").format(
            product=product, peak=p['peak'], at=at, average=p['average'], seat_hours=p['seat_hours'],
            grants=p['grants'], denials=p['denials'], releases=p['releases'], expiries=p['expiries'],
            admin_releases=p['admin_releases'])))
    if doc["users"]:
        print(_("Per user:"))
    for u in doc["users"]:
        # user names are what some client told the server: never raw to the terminal
        print(printable(_("  {product}  {user:<20} {grants:>5} granted {denials:>5} denied "
                          "{seat_hours:>9.2f} seat-hours").format(
            product=u['product'], user=u['user'], grants=u['grants'], denials=u['denials'],
            seat_hours=u['seat_hours'])))
    if doc["days"]:
        print(_("Per day:"))
    for d in doc["days"]:
        print(printable(_("  {day}  {product}  peak {peak:>4}  {grants:>5} granted {denials:>5} denied  "
                          "{users} user(s)").format(
            day=d['day'], product=d['product'], peak=d['peak'], grants=d['grants'], denials=d['denials'],
            users=d['users'])))
    return ServiceExit.OK


def admin_actor() -> str:
    """Who releases a seat by hand, as the seat log records it."""
    import getpass

    try:
        return f"admin:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a container)
        return f"admin:uid {os.getuid()}"


async def _release(url: str, seat_id: str, actor: str) -> bool:
    from licwiz.server import db
    from licwiz.server.seatstore import store_for

    engine = db.make_engine(url)
    try:
        await _require_log(engine)
    finally:
        await engine.dispose()
    store = store_for(url)
    await store.start()
    try:
        return await store.release(seat_id, actor=actor)
    finally:
        await store.close()


def cmd_seats_release(args: argparse.Namespace) -> int:
    actor = admin_actor()
    if not asyncio.run(_release(args.db, args.seat_id, actor)):
        return _say_error(Msg(N_("no seat {seat_id} is held (released already, or never granted)"),
                              seat_id=args.seat_id),
                          ServiceExit.ERROR, "no_such_seat", as_json=args.json)
    if args.json:
        print(json.dumps({"ok": True, "seat_id": args.seat_id, "released": True, "actor": actor}))
    else:
        from licwiz.core.text import printable

        print(printable(_("seat {seat_id} released ({actor})").format(seat_id=args.seat_id, actor=actor)))
    return ServiceExit.OK


async def _db_command(args: argparse.Namespace) -> dict[str, Any]:
    from licwiz.server import db

    engine = db.make_engine(args.db)
    try:
        before = await db.schema_revision(engine)
        legacy = before is None and await db.has_tables(engine)
        doc: dict[str, Any] = {"ok": True, "db": _shown(args.db), "revision": before,
                               "head": db.head_revision()}
        if args.dcmd == "current":
            problem = db.schema_problem(before, legacy)
            doc["state"] = ("none" if before is None and not legacy else "head" if problem is None
                            else "newer" if before is not None and before not in db.known_revisions()
                            else "behind")
            return doc
        if args.sql:
            if before is None and legacy:
                raise db.SchemaError("a database from before schema versions: upgrade it with "
                                     f"`{db.UPGRADE_COMMAND}` (its tables are adopted), not by SQL")
            doc["sql"] = await db.upgrade_sql(engine)
            return doc
        if before is None and not legacy:
            raise db.SchemaError("this database has no license server schema yet: 'licwiz server init' "
                                 "makes it")
        await db.run_migrations(engine)
        doc["revision"] = await db.schema_revision(engine)
        doc["upgraded_from"] = before
        return doc
    finally:
        await engine.dispose()


def cmd_db(args: argparse.Namespace) -> int:
    doc = asyncio.run(_db_command(args))
    if args.json:
        print(json.dumps(doc, indent=2))
    elif args.dcmd == "current":
        words = {"head": _("up to date"), "none": _("no schema: run 'licwiz server init'"),
                 "behind": _("behind: run `{command}`").format(command="licwiz server db upgrade"),
                 "newer": _("written by a newer licwiz")}[doc["state"]]
        print(_("schema revision {value} (this licwiz: {head}): {words}").format(
            value=doc['revision'] or _('none'), head=doc['head'], words=words))
    elif "sql" in doc:
        print(doc["sql"] or f"-- the schema is at {doc['head']} already: nothing to run", end="" if doc["sql"]
              else "\n")
    elif doc["upgraded_from"] == doc["revision"]:
        print(_("the schema is at revision {revision} already").format(revision=doc['revision']))
    else:
        print(_("schema upgraded from revision {value} to {revision}").format(
            value=doc['upgraded_from'] or _('none'), revision=doc['revision']))
    return ServiceExit.OK


def _status_doc(listing: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    capacity = listing.get("capacity", {})
    in_use = {product: sum(1 for r in rows if r.get("product") == product) for product in capacity}
    return {"ok": True, "licenses": listing["licenses"], "capacity": capacity, "in_use": in_use,
            "seats": rows}


async def _remote(args: argparse.Namespace) -> int:
    from licwiz.core.server_client import admin_token, client_from_config
    from licwiz.core.text import printable

    from .stdio import read_license

    if args.cmd == "params":
        # parameters accept the client token too; prefer the admin one when set
        async with client_from_config(args.server, admin=admin_token() is not None) as c:
            params = await c.parameters(args.product or None)
        if args.json:
            print(json.dumps(params, indent=2, sort_keys=True))
        else:
            for name, digest in params.items():
                print(printable(f"{name:<12} {digest}"))
        return ServiceExit.OK
    if args.cmd == "install":
        text, _source = read_license(Path(args.file))
    async with client_from_config(args.server, admin=True) as c:
        if args.cmd == "install":
            got = await c.install(text)
            if args.json:
                print(json.dumps({"ok": True, **got}, indent=2))
                return ServiceExit.OK
            again = "" if got.get("new") else _(" (it was already there)")
            print(printable(_("installed {license_id} on the server: {product}, {users} user(s)"
                              "{again}").format(
                license_id=got['license_id'], product=got['product'], users=got['users'], again=again)))
            return ServiceExit.OK
        listing = await c.licenses()
        rows = await c.seats()
    doc = _status_doc(listing, rows)
    if args.json:
        print(json.dumps(doc, indent=2))
        return ServiceExit.OK
    print("Licenses:" if listing["licenses"] else "No licenses on the server.")
    for lic in listing["licenses"]:
        until = lic["not_after"] or "-"
        print(printable(_("  {license_id}  {product}  {users} user(s)  until {until}").format(
            license_id=lic['license_id'], product=lic['product'], users=lic['users'], until=until)))
    for product, cap in doc["capacity"].items():
        print(printable(_("Seats of {product}: {value} of {cap} in use").format(product=product,
                                                                                value=doc['in_use'][product],
                                                                                cap=cap)))
    for r in rows:
        # user, host and session are what some client told the server: never raw to the terminal
        print(printable(_("  slot {slot}: {user} on {host}, session {session}, since {since}").format(
            slot=r['slot'], user=r['user'], host=r['host'], session=r['session'], since=r['since'])))
    return ServiceExit.OK


def cmd_remote(args: argparse.Namespace) -> int:
    from licwiz.core.errors import LicwizError
    from licwiz.core.text import printable_lines

    try:
        return asyncio.run(_remote(args))
    except LicwizError as exc:
        code = ServiceExit.UNREACHABLE if exc.code in ("unreachable", "bad_response") else ServiceExit.ERROR
        _say_error(exc.brief, code, exc.code, as_json=args.json, detail=exc.detail)
        if exc.detail != exc.brief:
            print(printable_lines(f"  {exc.localized_detail()}"), file=sys.stderr)
        return code


def build_parser() -> argparse.ArgumentParser:
    # Parser raises UsageError: a usage error is one line (and a JSON object with --json)
    p = Parser(prog="licwiz server", description=_("the site's license server"))
    sub = p.add_subparsers(dest="cmd", required=True)
    db_help = ("database: a file path (SQLite) or a sqlite:// or postgresql:// URL "
               "(default: %(default)s)")
    pi = sub.add_parser("init", help=_("create the database and the admin and client tokens"))
    pi.add_argument("--db", type=db_url, default=default_db_url(), metavar="URL|PATH", help=db_help)
    pi.add_argument("--admin-token", default="", help=_("use this admin token instead of a random one"))
    pi.add_argument("--client-token", default="", help=_("use this client token instead of a random one"))
    pi.add_argument("--force", action="store_true", help=_("replace existing tokens"))
    pi.add_argument("--json", action="store_true", help=_("print the tokens as JSON on stdout"))
    ps = sub.add_parser("serve", help=_("serve the API"))
    ps.add_argument("--host", default="127.0.0.1")
    ps.add_argument("--port", type=int, default=DEFAULT_PORT)
    ps.add_argument("--db", type=db_url, default=default_db_url(), metavar="URL|PATH", help=db_help)
    ps.add_argument("--lease", type=float, default=DEFAULT_LEASE,
                    help=_("seconds a seat lives without a heartbeat"))
    ps.add_argument("--tls-cert", default="")
    ps.add_argument("--tls-key", default="")
    pr = sub.add_parser("report", help=_("seat usage from the seat log: peak and average seats, denials, "
                        "per user and per day"))
    pr.add_argument("--db", type=db_url, default=default_db_url(), metavar="URL|PATH", help=db_help)
    pr.add_argument("--since", default="", metavar="DATE",
                    help=_("from this day (YYYY-MM-DD, UTC) or ISO time on (default: the whole log)"))
    pr.add_argument("--product", default="", help=_("this product only"))
    fmt = pr.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help=_("print JSON on stdout"))
    fmt.add_argument("--csv", action="store_true",
                     help=_("print CSV on stdout (a row per product, user, day)"))
    seats = sub.add_parser("seats", help=_("seats held on the server's database")).add_subparsers(
        dest="scmd", required=True)
    pr = seats.add_parser("release", help=_("free a seat by hand (like lmremove); logged with who did it"))
    pr.add_argument("seat_id", help=_("the seat's id (licwiz server status)"))
    pr.add_argument("--db", type=db_url, default=default_db_url(), metavar="URL|PATH", help=db_help)
    pr.add_argument("--json", action="store_true", help=_("print JSON on stdout"))
    dbp = sub.add_parser("db", help=_("the database's schema: current revision, upgrade")).add_subparsers(
        dest="dcmd", required=True)
    pr = dbp.add_parser("current", help=_("the schema's revision and the one this licwiz needs"))
    pr.add_argument("--db", type=db_url, default=default_db_url(), metavar="URL|PATH", help=db_help)
    pr.add_argument("--json", action="store_true", help=_("print JSON on stdout"))
    pr = dbp.add_parser("upgrade",
                        help=_("bring the schema to this licwiz's revision (stop old servers first)"))
    pr.add_argument("--db", type=db_url, default=default_db_url(), metavar="URL|PATH", help=db_help)
    pr.add_argument("--sql", action="store_true",
                    help=_("print the SQL the upgrade would run (for a DBA), change nothing"))
    pr.add_argument("--json", action="store_true", help=_("print JSON on stdout"))
    for name, help_ in (("params", "show the server computer's parameters (to bind a license to)"),
                        ("install", "upload a license file to the server (admin token)"),
                        ("status", "list the server's licenses and seats in use (admin token)")):
        pr = sub.add_parser(name, help=help_)
        pr.add_argument("--server", default=None, help=_("HOST:PORT (default: LICWIZ_SERVER or server.json)"))
        pr.add_argument("--json", action="store_true", help=_("print JSON on stdout"))
        if name == "params":
            pr.add_argument("--product", default="")
        if name == "install":
            pr.add_argument("file", help=_("the license file ('-': read it from standard input)"))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(list(argv or []))
    except UsageError as exc:
        return _say_error(exc.brief, ServiceExit.USAGE, exc.code, as_json=wants(list(argv or []), "--json"))
    as_json = bool(getattr(args, "json", False))
    try:
        if args.cmd in ("params", "install", "status"):
            return cmd_remote(args)
        if args.cmd == "report":
            return cmd_report(args)
        if args.cmd == "seats":
            return cmd_seats_release(args)
        if args.cmd == "db":
            return cmd_db(args)
        return cmd_init(args) if args.cmd == "init" else cmd_serve(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise  # licwiz's main stops quietly (licwiz server params | head)
    except (OSError, ValueError) as exc:
        from licwiz.server.db import SchemaError

        code = "schema" if isinstance(exc, SchemaError) else "error"
        return _say_error(str(exc), ServiceExit.ERROR, code, as_json=as_json)
    except Exception as exc:  # database errors: one line, no traceback for an operator
        from sqlalchemy.exc import SQLAlchemyError

        if isinstance(exc, SQLAlchemyError):
            first = str(exc).splitlines()[0] if str(exc) else ""
            return _say_error(Msg(N_("database error: {reason}"),
                                  reason=f"{exc.__class__.__name__}: {first}"),
                              ServiceExit.ERROR,
                              "database", as_json=as_json)
        raise
