"""``licwiz center ...``: set up, run and administer the Licensing Center.

Every subcommand takes ``--home DIR`` (keys; default: LICWIZ_CENTER_HOME, else
licwiz/center under the user's state dir) and ``--db URL`` (default:
LICWIZ_CENTER_DB, else center.db in the home), so init, kit commands and serve
all work on the same database.

A database URL is printed only without its password (``db.shown_url``), and
every error text is scrubbed of it. PIN codes are printed by ``kit create``
only: the center keeps their hashes, and ``kit show`` names each PIN by its
set and position.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from licwiz.center import db, keystore, setup
from licwiz.center.keystore import default_home
from licwiz.center.kits import KitInfo
from licwiz.center.service import CenterService
from licwiz.center.settings import DEFAULTS as DEFAULT_SETTINGS
from licwiz.cli import mail as mail_cli
from licwiz.cli.errors import Parser, ServiceExit, UsageError, wants
from licwiz.cli.listen import listen_problem
from licwiz.core.errors import InputError, LicwizError
from licwiz.core.i18n import N_, _
from licwiz.core.identifiers import format_pin
from licwiz.core.message import Msg, localized
from sqlalchemy.exc import DBAPIError

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]
T = TypeVar("T")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL", default=None,
                   help=_("database URL (sqlite+aiosqlite:///file.db or postgresql+asyncpg://...); "
                        "default LICWIZ_CENTER_DB or center.db in the home folder"))
    p.add_argument("--home", metavar="DIR", default=None,
                   help=_("folder of the center's keys (default LICWIZ_CENTER_HOME or the state dir)"))


def _home(args: argparse.Namespace) -> Path:
    return Path(args.home) if args.home else default_home()


def _db(args: argparse.Namespace) -> str:
    return db.normalise_url(args.db) if args.db else db.default_db_url(_home(args))


async def _service(args: argparse.Namespace) -> CenterService:
    return await setup.open_service(_db(args), _home(args), pool_size=2, max_overflow=2)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


async def cmd_init(args: argparse.Namespace) -> int:
    home = _home(args)
    done = await setup.initialise(home, _db(args), new_admin_token=args.new_admin_token, phone=args.phone)
    keys, token = done.keys, done.admin_token
    info = {"home": str(home), "db": db.shown_url(_db(args)), "keys_created": done.keys_created,
            "signing_key": keys.signing_id, "sealing_key": keys.sealing_id,
            "trusted_keys_dir": str(home / "public"), "admin_token": token}
    if args.json:
        _print_json(info)
    else:
        print(_("Licensing Center ready: database {db}").format(db=info['db']))
        print(_("keys in {home} (signing {signing_id}, sealing {sealing_id}); clients trust {value}").format(
            home=home, signing_id=keys.signing_id, sealing_id=keys.sealing_id, value=home / 'public'))
        if token:
            print(_("admin token (shown once, also in {value}): {token}").format(value=home / 'admin-token',
                                                                                 token=token))
    return 0


async def cmd_db(args: argparse.Namespace) -> int:
    url = _db(args)
    engine = db.make_engine(url, pool_size=1, max_overflow=0)
    try:
        before = await db.schema_revision(engine)
        doc: dict[str, Any] = {"db": db.shown_url(url), "revision": before, "head": db.head_revision()}
        if args.dbcmd == "current":
            problem = db.schema_problem(before)
            doc["state"] = ("none" if before is None else "head" if problem is None
                            else "newer" if before not in db.known_revisions() else "behind")
        elif args.sql:
            doc["sql"] = await db.upgrade_sql(engine)
        elif before is None:
            raise setup.not_initialised(url)
    finally:
        await engine.dispose()
    if args.dbcmd == "upgrade" and not args.sql:
        home = _home(args)
        # revision 0003 hashes stored PINs with the home's PIN key: the keys must be there
        await setup.migrate(url, keystore.load_keys(home).pin_key)
        doc["upgraded_from"] = before
        doc["revision"] = db.head_revision()
    if args.json:
        _print_json(doc)
    elif args.dbcmd == "current":
        words = {"head": _("up to date"), "none": _("no schema: run 'licwiz center init'"),
                 "behind": _("behind: run `{command}`").format(command=db.UPGRADE_COMMAND),
                 "newer": _("written by a newer licwiz")}
        print(_("schema revision {value} (this licwiz: {head}): {value2}").format(
            value=before or _('none'), head=doc['head'], value2=words[doc['state']]))
    elif "sql" in doc:
        print(doc["sql"] or f"-- the schema is at {doc['head']} already: nothing to run",
              end="" if doc["sql"] else "\n")
    elif before == doc["revision"]:
        print(_("the schema is at revision {before} already").format(before=before))
    else:
        print(_("schema upgraded from revision {before} to {revision}").format(before=before,
                                                                               revision=doc['revision']))
    return 0


async def cmd_backup(args: argparse.Namespace) -> int:
    from licwiz.center import backup

    done = backup.backup(_home(args), _db(args), Path(args.file), keys_only=args.keys_only)
    if args.json:
        _print_json({"file": str(done.path), "members": done.members, **done.manifest})
    else:
        if args.keys_only:
            said = _("backed up the center's keys to {path} (mode 0600: it holds the private keys)")
        else:
            said = _("backed up the center's database (schema {revision}) and keys to {path} (mode 0600: it "
                     "holds the private keys)")
        print(said.format(path=done.path, revision=done.manifest.get("schema_revision")))
    return 0


async def cmd_restore(args: argparse.Namespace) -> int:
    from licwiz.center import backup

    done = backup.restore(Path(args.file), _home(args), _db(args), force=args.force)
    if args.json:
        _print_json({"home": str(done.path), "restored": done.members, **done.manifest})
    else:
        print(_("restored {members} into {path} (backup of {created})").format(
            members=', '.join(done.members), path=done.path, created=done.manifest['created']))
        revision = done.manifest.get("schema_revision")
        if revision and revision != db.head_revision():
            print(_("the database is at schema revision {revision}: run `{command}` before serve").format(
                revision=revision, command=db.UPGRADE_COMMAND))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    home = _home(args)
    url = _db(args)
    setup.check_tls(args.tls_cert, args.tls_key)
    problem = listen_problem(args.host, args.port)
    if problem is not None:  # before the database is touched: one line, a documented code
        line = _("cannot listen: {problem}").format(problem=localized(problem))
        print(f"licwiz center: {line} [address_in_use]", file=sys.stderr)
        return ServiceExit.ADDRESS
    setup.check_keys(home)
    asyncio.run(setup.require_schema(url))
    scheme = "https" if args.tls_cert else "http"
    allowed = args.forwarded_allow_ips
    proxies = f"; X-Forwarded-For believed from {allowed}" if allowed else ""
    banner = (f"licwiz center: serving {scheme}://{args.host}:{args.port} ({args.workers} worker(s), "
              f"db {db.shown_url(url)}{proxies})")
    setup.serve(home=home, db_url=url, host=args.host, port=args.port, workers=args.workers,
                log_file=args.log_file, tls_cert=args.tls_cert, tls_key=args.tls_key,
                forwarded_allow_ips=args.forwarded_allow_ips, metrics_token_file=args.metrics_token_file,
                metrics_address=args.metrics_address, banner=banner)
    return 0


async def _ask(args: argparse.Namespace, call: Callable[[CenterService], Awaitable[T]]) -> T:
    """One call on the center's service, opened for it and closed whatever the call does."""
    svc = await _service(args)
    try:
        return await call(svc)
    finally:
        await svc.close()


def _reply(args: argparse.Namespace, data: Any, say: Callable[[], object]) -> int:
    """A command's answer: ``data`` as JSON with --json, else what ``say`` prints for a person."""
    if args.json:
        _print_json(data)
    else:
        say()
    return 0


async def _admin(args: argparse.Namespace, call: Callable[[CenterService], Awaitable[T]],
                 say: Callable[[T], object], as_json: Callable[[T], Any] = lambda result: result) -> int:
    """The shape of an administration command: one call on the service, then its
    result as JSON (``as_json`` of it) or as ``say`` prints it."""
    result = await _ask(args, call)
    return _reply(args, as_json(result), lambda: say(result))


def _kit_dicts(kits: list[KitInfo]) -> list[dict[str, Any]]:
    return [k.to_dict() for k in kits]


def _say_created(kits: list[KitInfo]) -> None:
    for k in kits:
        print(_("Registration number {regnum}  product {product}  users {users}").format(
            regnum=k.regnum, product=k.product, users=k.users))
        print("  single-user PIN codes:" if k.multi_pins else "  PIN codes:")
        for i, p in enumerate(k.single_pins or [], 1):
            print(f"    {i:>3}. {format_pin(p)}")
        if k.multi_pins:
            print(_("  multi-user PIN codes (one {users}-user license each):").format(users=k.users))
            for i, p in enumerate(k.multi_pins, 1):
                print(f"    {i:>3}. {format_pin(p)}")
    print(_("The PIN codes are shown only now: the center keeps no readable copy of them."), file=sys.stderr)


async def cmd_kit_create(args: argparse.Namespace) -> int:
    return await _admin(args, lambda svc: svc.kits.create(args.product, args.users, args.pins, args.count),
                        _say_created, _kit_dicts)


def _say_kit(found: tuple[KitInfo, list[dict[str, Any]]]) -> None:
    kit, lics = found
    print(_("Registration number {regnum}  product {product}  users {users}  set in use: {value}  licenses "
            "issued: {issued}").format(
        regnum=kit.regnum, product=kit.product, users=kit.users, value=kit.pin_set or _('none yet'),
        issued=kit.issued))
    if kit.locked_until:
        print(_("  locked until {locked_until} (wrong PIN codes)").format(locked_until=kit.locked_until))
    for pin in kit.pins:
        print(_("  {pin_set:<6} PIN {position:>3}  {value}").format(
            pin_set=pin.pin_set, position=pin.position, value=_('used') if pin.used else _('unused')))
    for lic in lics:
        print(_("  license {license_id}  {status}  users {users}  {method}").format(
            license_id=lic['license_id'], status=lic['status'], users=lic['users'], method=lic['method']))


async def cmd_kit_show(args: argparse.Namespace) -> int:
    async def find(svc: CenterService) -> tuple[KitInfo, list[dict[str, Any]]]:
        return await svc.kits.info(args.regnum), await svc.kits.list_licenses(args.regnum)

    return await _admin(args, find, _say_kit, lambda found: {**found[0].to_dict(), "licenses": found[1]})


def _say_kits(kits: list[KitInfo]) -> None:
    for k in kits:
        print(_("{regnum}  {product:<20} users {users:<5} set {value:<6} issued {issued}").format(
            regnum=k.regnum, product=k.product, users=k.users, value=k.pin_set or '-', issued=k.issued))


async def cmd_kit_list(args: argparse.Namespace) -> int:
    return await _admin(args, lambda svc: svc.kits.list_kits(), _say_kits, _kit_dicts)


def _say_licenses(lics: list[dict[str, Any]]) -> None:
    for lic in lics:
        print(f"{lic['license_id']}  {lic['status']:<10} users {lic['users']:<5} {lic['method']:<6} "
              f"{lic['issued_at'][:10]}" + (f"  supersedes {lic['supersedes']}" if lic["supersedes"] else ""))


async def cmd_license_list(args: argparse.Namespace) -> int:
    return await _admin(args, lambda svc: svc.kits.list_licenses(args.regnum), _say_licenses)


def _say_license(lic: dict[str, Any]) -> None:
    for k, v in lic.items():
        if k != "license":
            print(f"{k}: {v}")
    print(lic["license"], end="")


async def cmd_license_show(args: argparse.Namespace) -> int:
    return await _admin(args, lambda svc: svc.kits.license_info(args.license_id), _say_license)


async def cmd_license_revoke(args: argparse.Namespace) -> int:
    return await _admin(args, lambda svc: svc.kits.revoke(args.license_id, actor="cli"), lambda lic: print(
        _("license {license_id} revoked").format(license_id=lic['license_id'])))


async def cmd_keys_rotate(args: argparse.Namespace) -> int:
    home = _home(args)
    e = keystore.rotate(home, args.kind)

    def say() -> None:
        if e.status == "current":  # a home without a key of that kind
            print(_("{kind} key {key_id} created and current").format(kind=e.kind, key_id=e.key_id))
            return
        print(_("next {kind} key {key_id} published (GET /api/v1/keys, {value}); it is not used yet.").format(
            kind=e.kind, key_id=e.key_id, value=home / 'public'))
        print(_("  1. distribute it: clients add {value} to their trusted keys (/etc/licwiz/trusted-keys or "
                "LICWIZ_TRUSTED_KEYS);").format(
            value=home / 'public' / f'{e.kind}-{e.key_id}.pem'))
        print(_("  2. then 'licwiz center keys activate {key_id}' (running servers follow within "
                "seconds);").format(
            key_id=e.key_id))
        print(_("  3. once no client needs the old key: 'licwiz center keys retire OLD_KEY_ID'."))

    return _reply(args, e.to_dict(), say)


async def cmd_keys_activate(args: argparse.Namespace) -> int:
    new, old = keystore.activate(_home(args), args.key_id)

    def say() -> None:
        if old is None:
            print(_("{kind} key {key_id} is already current").format(kind=new.kind, key_id=new.key_id))
            return
        if new.kind == "signing":
            said = _("{kind} key {key_id} is current: it signs new licenses (running servers follow within "
                     "seconds); {old} is previous: still published and trusted until "
                     "'licwiz center keys retire {old}'")
        else:
            said = _("{kind} key {key_id} is current: it is the key clients seal requests to (running "
                     "servers "
                     "follow within seconds); {old} is previous: still published and trusted until "
                     "'licwiz center keys retire {old}'")
        print(said.format(kind=new.kind, key_id=new.key_id, old=old.key_id))

    return _reply(args, {"current": new.to_dict(), "previous": old.to_dict() if old else None}, say)


async def cmd_keys_retire(args: argparse.Namespace) -> int:
    e = keystore.retire(_home(args), args.key_id)
    return _reply(args, e.to_dict(), lambda: print(
        _("{kind} key {key_id} retired: no longer published nor trusted by the center (running "
          "servers follow within seconds)").format(kind=e.kind, key_id=e.key_id)))


async def cmd_keys_list(args: argparse.Namespace) -> int:
    # As a serving center sees them: a key from the environment replaces the home's of its kind.
    rows = [e.to_dict() for e in keystore.load_keys(_home(args)).entries]

    def say() -> None:
        for r in rows:
            print(_("{key_id}  {kind:<8} {status:<9} created {value}").format(
                key_id=r['key_id'], kind=r['kind'], status=r['status'], value=r['created'] or _('unknown')))

    return _reply(args, rows, say)


async def cmd_operator_add(args: argparse.Namespace) -> int:
    name = args.name.strip()
    return await _admin(args, lambda svc: svc.operators.add(args.name), lambda token: print(
        _("operator {name} added; token (shown once): {token}").format(name=name, token=token)),
        lambda token: {"name": name, "token": token})


def _say_operators(ops: list[dict[str, Any]]) -> None:
    for o in ops:
        print(_("{name}  created {value}  {value2}").format(
            name=o['name'], value=o['created'][:19], value2=_('disabled') if o['disabled'] else _('enabled')))


async def cmd_operator_list(args: argparse.Namespace) -> int:
    return await _admin(args, lambda svc: svc.operators.list_all(), _say_operators)


async def cmd_operator_disable(args: argparse.Namespace) -> int:
    if not await _ask(args, lambda svc: svc.operators.disable(args.name)):
        raise InputError("name", Msg(N_("No operator {name!r}"), name=args.name))
    print(_("operator {name} disabled").format(name=args.name))
    return 0


async def cmd_config_set(args: argparse.Namespace) -> int:
    await _ask(args, lambda svc: svc.settings.set(args.key, args.value))
    return 0


def _say_settings(values: dict[str, str]) -> None:
    for k, v in values.items():
        print(f"{k} = {v}")


async def cmd_config_show(args: argparse.Namespace) -> int:
    return await _admin(args, lambda svc: svc.settings.shown(), _say_settings)


def _say_audit(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        print(f"{r['at'][:19]}  {r['event']:<13} {r['code'] or '-':<18} {r['regnum'] or '-':<10} "
              f"{r['license_id'] or '-':<14} {r['request_id']}")


async def cmd_audit(args: argparse.Namespace) -> int:
    return await _admin(args, lambda svc: svc.audit.log(args.limit), _say_audit)


def build_parser() -> argparse.ArgumentParser:
    # Parser raises UsageError: a usage error is one line (and a JSON object with --json)
    p = Parser(prog="licwiz center", description=_("The Licensing Center (vendor side)."))
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    def add(parent: Any, name: str, func: Any, help_: str) -> argparse.ArgumentParser:
        sp: argparse.ArgumentParser = parent.add_parser(name, help=help_, description=help_)
        _common(sp)
        sp.set_defaults(func=func)
        return sp

    sp = add(sub, "init", cmd_init, _("create the database schema, the key pairs and an admin token"))
    sp.add_argument("--phone", default=None, help=_("phone number of the activation desk shown to users"))
    sp.add_argument("--new-admin-token", action="store_true", help=_("replace the admin token"))
    sp.add_argument("--json", action="store_true")

    sp = add(sub, "serve", cmd_serve, _("run the HTTP service"))
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int, default=8470)
    sp.add_argument("--workers", type=int, default=1, help=_("server processes (they share the database)"))
    sp.add_argument("--log-file", default=None, help=_("append the JSON request log here (default stderr)"))
    sp.add_argument("--tls-cert", default=None, metavar="PEM",
                    help=_("serve HTTPS with this certificate (chain) file; clients trust it through "
                    "their system store or SSL_CERT_FILE"))
    sp.add_argument("--tls-key", default=None, metavar="PEM", help=_("the certificate's private key file"))
    sp.add_argument("--forwarded-allow-ips", default=None, metavar="ADDRS",
                    help=_("believe X-Forwarded-For/-Proto only from these proxies (comma-separated "
                           "addresses or networks, e.g. the load balancer's); default: no one, the client is "
                           "the peer address"))
    sp.add_argument("--metrics-token-file", default=None, metavar="FILE",
                    help=_("open /metrics to a Bearer token read from FILE (default: /metrics is closed)"))
    sp.add_argument("--metrics-address", default=None, metavar="HOST:PORT",
                    help=_("serve /metrics on this separate address instead (no token there)"))

    dbs = sub.add_parser("db", help=_("the database's schema: current revision, upgrade")).add_subparsers(
        dest="dbcmd", required=True)
    sp = add(dbs, "current", cmd_db, _("the schema's revision and the one this licwiz needs"))
    sp.add_argument("--json", action="store_true")
    sp = add(dbs, "upgrade", cmd_db,
             _("bring the schema to this licwiz's revision (stop serve first; back up)"))
    sp.add_argument("--sql", action="store_true",
                    help=_("print the SQL the upgrade would run (for a DBA), change nothing"))
    sp.add_argument("--json", action="store_true")

    sp = add(sub, "backup", cmd_backup,
             _("write the database (SQLite, online) and the keys to one archive (0600)"))
    sp.add_argument("file", help=_("the archive to write (tar.gz), replaced atomically"))
    sp.add_argument("--keys-only", action="store_true",
                    help=_("the keys, public keys and admin-token file only "
                    "(PostgreSQL: the database is pg_dump's)"))
    sp.add_argument("--json", action="store_true")
    sp = add(sub, "restore", cmd_restore, _("restore a backup into a new home (and its database file)"))
    sp.add_argument("file", help=_("an archive made by 'licwiz center backup'"))
    sp.add_argument("--force", action="store_true", help=_("replace an existing home's keys and database"))
    sp.add_argument("--json", action="store_true")

    kit = sub.add_parser("kit", help=_("kits: create, show, list")).add_subparsers(dest="kcmd", required=True)
    sp = add(kit, "create", cmd_kit_create, _("create kits with their PIN codes"))
    sp.add_argument("--product", required=True)
    sp.add_argument("--users", type=int, default=1)
    sp.add_argument("--pins", type=int, default=3, help=_("PIN codes per set"))
    sp.add_argument("--count", type=int, default=1)
    sp.add_argument("--json", action="store_true")
    sp = add(kit, "show", cmd_kit_show, _("show a kit, the state of its PIN codes and its licenses"))
    sp.add_argument("regnum")
    sp.add_argument("--json", action="store_true")
    sp = add(kit, "list", cmd_kit_list, _("list kits"))
    sp.add_argument("--json", action="store_true")

    lic = sub.add_parser("license", help=_("licenses: list, show, revoke")).add_subparsers(
        dest="lcmd", required=True)
    sp = add(lic, "list", cmd_license_list, _("list licenses"))
    sp.add_argument("--regnum", default=None)
    sp.add_argument("--json", action="store_true")
    sp = add(lic, "show", cmd_license_show, _("show a license (with owner data, for support)"))
    sp.add_argument("license_id")
    sp.add_argument("--json", action="store_true")
    sp = add(lic, "revoke", cmd_license_revoke, _("revoke a license"))
    sp.add_argument("license_id")
    sp.add_argument("--json", action="store_true")

    keys = sub.add_parser("keys", help=_("signing and sealing keys: staged rotation")).add_subparsers(
        dest="kycmd", required=True)
    sp = add(keys, "rotate", cmd_keys_rotate,
             _("publish the next key (served and distributed, not used until 'keys activate')"))
    sp.add_argument("--kind", choices=keystore.KINDS, default="signing",
                    help=_("signing (licenses) or sealing (request files); default signing"))
    sp.add_argument("--json", action="store_true")
    sp = add(keys, "activate", cmd_keys_activate,
             _("make a next (or previous) key current; the current one becomes previous, still trusted"))
    sp.add_argument("key_id")
    sp.add_argument("--json", action="store_true")
    sp = add(keys, "retire", cmd_keys_retire,
             _("stop publishing and trusting a key that is not current"))
    sp.add_argument("key_id")
    sp.add_argument("--json", action="store_true")
    sp = add(keys, "list", cmd_keys_list,
             _("list the keys: id, kind, status (next, current, previous, retired), created"))
    sp.add_argument("--json", action="store_true")

    op = sub.add_parser("operator", help=_("phone operators")).add_subparsers(dest="ocmd", required=True)
    sp = add(op, "add", cmd_operator_add, _("add an operator and print its token once"))
    sp.add_argument("name")
    sp.add_argument("--json", action="store_true")
    sp = add(op, "list", cmd_operator_list, _("list operators"))
    sp.add_argument("--json", action="store_true")
    sp = add(op, "disable", cmd_operator_disable, _("disable an operator's token"))
    sp.add_argument("name")

    cfg = sub.add_parser("config", help=_("settings")).add_subparsers(dest="ccmd", required=True)
    sp = add(cfg, "set", cmd_config_set,
             _("set a setting ({names})").format(names=", ".join(DEFAULT_SETTINGS)))
    sp.add_argument("key")
    sp.add_argument("value")
    sp = add(cfg, "show", cmd_config_show, _("show the settings"))
    sp.add_argument("--json", action="store_true")

    mail_cli.add_parser(sub)  # licwiz center mail: the e-mail desk (cli/mail.py)

    sp = add(sub, "audit", cmd_audit, _("show the audit trail, newest first"))
    sp.add_argument("--limit", type=int, default=50)
    sp.add_argument("--json", action="store_true")
    return p


def _scrub(text: str, args: argparse.Namespace) -> str:
    """``text`` without the database password (a driver may quote the URL)."""
    password = db.url_password(_db(args))
    return text.replace(password, "***") if password else text


def _fail(exc: LicwizError, code: int, as_json: bool, args: argparse.Namespace | None) -> int:
    """One line on stderr (the user's language); with --json the error object on stdout
    (English and the stable code, as every --json command: cli/errors.py)."""
    def scrub(text: str) -> str:
        return _scrub(text, args) if args is not None else text

    print(scrub(f"licwiz center: {exc.localized_brief()}"), file=sys.stderr)
    if exc.detail and exc.detail != exc.brief:
        print(scrub(f"  {exc.localized_detail()}"), file=sys.stderr)
    if as_json:
        print(scrub(json.dumps({"ok": False, "exit_code": int(code), "error": exc.as_dict()}, indent=2)))
    return code


def main(argv: list[str]) -> int:
    as_json = wants(argv, "--json")
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        return _fail(exc, ServiceExit.USAGE, as_json, None)
    try:
        return _run(args)
    except LicwizError as exc:
        return _fail(exc, ServiceExit.ERROR, as_json, args)
    except BrokenPipeError:
        raise  # licwiz's main stops quietly (licwiz center kit list | head)
    except (DBAPIError, OSError) as exc:
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        err = LicwizError(Msg(N_("the database cannot be used: {reason}"),
                              reason=f"{type(exc).__name__}: {first}"), code="database")
        return _fail(err, ServiceExit.ERROR, as_json, args)


def _run(args: argparse.Namespace) -> int:
    try:
        if args.cmd == "serve":  # the only command that runs its own event loop (uvicorn's)
            return cmd_serve(args)
        handler: Handler = args.func
        return asyncio.run(handler(args))
    except KeyboardInterrupt:
        return 130
