"""The Licensing Center's service layer: every rule of kits, PINs and licenses.

The HTTP API (center/app.py), the file-exchange web page (center/web.py) and
the phone-operator console (center/operator.py) all call ``CenterService``
directly; nothing here knows about HTTP except the status a refusal maps to.

Usage (the app factory builds one and passes it to ``web_routes(ctx)`` and
``operator_routes(ctx)`` as ``ctx``)::

    svc = CenterService.open(db_url, home)      # engine + keys; no I/O to the DB yet
    await svc.start()                           # reads settings (throttle limits, phone number)
    avail = await svc.check(req, client_addr="1.2.3.4", request_id=rid)         # -> dict
    act = await svc.activate(req, method="phone", idempotency_key=None,
                             request_id=rid, client_addr="1.2.3.4", actor="operator:alice")
    act.license_text, act.license (core.license.License), act.license_id, act.users,
    act.supersedes, act.replayed, act.to_dict()
    req = svc.open_request_file(armoured_text)  # -> ActivationRequest (raises Refusal)
    act = await svc.activate_request_file(armoured_text, idempotency_key=None,
                                          request_id=rid, client_addr=..., actor=None)
    await svc.operator_for_token(token) -> str | None     # name of an enabled operator
    await svc.add_operator(name) -> token                  # shown once; only its hash is stored
    await svc.phone_number() -> str                        # "" when not configured
    svc.phone_number_cached -> str                         # value read at start()
    svc.sealing_public_pem -> str, svc.keys (center.keystore.CenterKeys)
    await svc.close()

``method`` is the acquisition method the license records: the HTTP
``/activate`` passes "online", ``/requests`` "file"; the web page passes
"file" and the operator console "phone". Every refusal is a ``Refusal``
(a ``LicwizError``) with ``code``, ``brief`` (for the person), ``detail``
(for support) and ``status`` (HTTP); ``Refusal.as_dict()`` is the API body.

Rules kept here (see the issue): a PIN is spent by one conditional UPDATE in
the same transaction as the license INSERT, so a PIN is never spent twice and
never spent without its license; wrong PINs lock the kit for a growing time
and count against the client address (both stored in the database, shared by
every process); every issue, refusal, recovery, update and revoke goes to the
``audit`` table with the request id. Owner data is stored for support and is
never logged.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from licwiz.core import fingerprint
from licwiz.core.errors import InputError, LicwizError
from licwiz.core.identifiers import new_pin, new_regnum, parse_pin, parse_regnum
from licwiz.core.keys import public_pem
from licwiz.core.license import License, method_family, pin_digest, sign
from licwiz.core.license import parse as parse_license
from licwiz.core.owner import OwnerData
from licwiz.core.request import OPERATIONS, ActivationRequest, open_sealed
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from . import db
from .keystore import CenterKeys, load_keys

T = TypeVar("T")
SINGLE, MULTI = "single", "multi"
MAX_USERS = 10_000
MAX_PINS = 1_000
MAX_KITS = 1_000
MAX_PARAMS = 32

# Defaults of the tunable settings (table ``settings``; ``licwiz center config set``).
DEFAULT_SETTINGS: dict[str, str] = {
    "phone_number": "",
    "kit_max_failures": "5",  # wrong PINs for one registration number before it locks
    "lock_seconds": "60",  # first lock; each further lock doubles, up to a day
    "addr_max_failures": "50",  # wrong PINs / unknown kits from one address per window
    "addr_window_seconds": "600",
}
_MAX_LOCK = 24 * 3600

# The hot path's statements, built once (building them per call costs more than running them).
_P = sa.bindparam
_ADDR_COUNT = (
    sa.select(db.addr_failures.c.count)
    .where(db.addr_failures.c.addr == _P("b_addr"), db.addr_failures.c.window_start > _P("b_cutoff"))
    .scalar_subquery()
)
_IDEM_HASH = (
    sa.select(db.idempotency.c.body_hash).where(db.idempotency.c.key == _P("b_key")).scalar_subquery()
)
# One round trip: the kit, the PIN, the address's recent failures, a stored idempotent answer.
_LOOKUP = (
    sa.select(db.kits, db.pins.c.pin.label("p_pin"), db.pins.c.pin_set.label("p_set"),
              db.pins.c.used_at.label("p_used"), _ADDR_COUNT.label("addr_count"),
              _IDEM_HASH.label("idem_hash"))
    .select_from(db.kits.outerjoin(db.pins, sa.and_(db.pins.c.regnum == db.kits.c.regnum,
                                                    db.pins.c.pin == _P("b_pin"))))
    .where(db.kits.c.regnum == _P("b_regnum"))
)
_SPEND_PIN = (db.pins.update().where(db.pins.c.pin == _P("b_pin"), db.pins.c.used_at.is_(None))
              .values(used_at=_P("b_now")))
_TAKE_SERIAL = (
    db.kits.update()
    .where(db.kits.c.regnum == _P("b_regnum"),
           sa.or_(db.kits.c.pin_set.is_(None), db.kits.c.pin_set == _P("b_set")))
    .values(issued=db.kits.c.issued + 1, pin_set=_P("b_set"), failed_pins=0, lock_level=0)
    .returning(db.kits.c.issued)
)
_ADDR_COUNT_Q = sa.select(_ADDR_COUNT)
_INSERT_LICENSE = db.licenses.insert()
_INSERT_AUDIT = db.audit.insert()
_INSERT_IDEM = db.idempotency.insert()

# PostgreSQL: the same writes in fewer round trips (data-modifying CTEs). Spend the PIN
# and take the serial in one statement; the kit UPDATE runs only if the PIN UPDATE
# matched, and both re-check their WHERE under the row lock (READ COMMITTED).
_PG_SPEND = sa.text(
    "WITH spent AS (UPDATE pins SET used_at = :b_now WHERE pin = :b_pin AND used_at IS NULL RETURNING pin), "
    "ser AS (UPDATE kits SET issued = issued + 1, pin_set = :b_set, failed_pins = 0, lock_level = 0 "
    "WHERE regnum = :b_regnum AND (pin_set IS NULL OR pin_set = :b_set) AND EXISTS (SELECT 1 FROM spent) "
    "RETURNING issued) "
    "SELECT (SELECT count(*) FROM spent) AS spent, (SELECT issued FROM ser) AS serial"
)
_LIC_COLS = ("license_id", "regnum", "serial", "pin", "product", "users", "pin_set", "method", "owner_json",
             "owner_digest", "params_json", "text", "issued_at", "status", "supersedes", "superseded_by",
             "request_id")
_AUDIT_COLS = ("at", "request_id", "event", "code", "regnum", "license_id", "actor", "client_addr")
_IDEM_COLS = ("key", "body_hash", "status", "response", "created")


def _pg_values(table: str, prefix: str, cols: tuple[str, ...]) -> str:
    return (f"INSERT INTO {table} ({', '.join(cols)}) "
            f"VALUES ({', '.join(':' + prefix + c for c in cols)})")


# The license, its idempotent answer and the audit row in one statement.
_PG_TAIL = {
    (lic, idem): sa.text(
        ("WITH " + ", ".join(
            ([f"lic AS ({_pg_values('licenses', 'l_', _LIC_COLS)})"] if lic else [])
            + ([f"idem AS ({_pg_values('idempotency', 'i_', _IDEM_COLS)})"] if idem else [])
        ) + " " if lic or idem else "") + _pg_values("audit", "a_", _AUDIT_COLS)
    )
    for lic in (False, True) for idem in (False, True)
}


class Refusal(LicwizError):
    """A refusal of the center: stable ``code``, HTTP ``status``, texts for people."""

    def __init__(self, code: str, brief: str, detail: str = "", *, status: int = 400) -> None:
        super().__init__(brief, detail, code=code)
        self.status = status
        self.audited = False  # set once it is in the audit table (the API audits the rest)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes; they were written as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def _hash_token(token: str) -> str:
    return hashlib.sha256(f"licwiz-token-v1:{token}".encode()).hexdigest()


def _bad(detail: str, brief: str = "The request is not valid") -> Refusal:
    return Refusal("bad_request", brief, detail, status=400)


# ---- the refusals people see (the wizard shows brief, "View error description" shows detail)

def kit_unknown(regnum: str) -> Refusal:
    return Refusal(
        "kit_unknown", "This registration number is not known to the Licensing Center",
        f"Registration number {regnum} is not in the Licensing Center's records. Check it against "
        "your license certificate (10 digits). If it is right, contact the vendor's support "
        "and quote the request id.", status=404,
    )


def pin_unknown(field_name: str = "PIN code") -> Refusal:
    return Refusal(
        "pin_unknown", f"This {field_name} does not belong to this registration number",
        f"The {field_name} entered is not one of the PIN codes of this kit. Check both numbers "
        "against your license certificate. After 5 wrong PIN codes the registration number is "
        "locked for a while.", status=403,
    )


def _pin_used() -> Refusal:
    return Refusal(
        "pin_used", "This PIN code has already been used",
        "Each PIN code activates one license, once. To get the same license again on the same "
        "computer, choose License recovery with this PIN code. After a hardware change, choose "
        "License recovery with an update: this PIN code plus an unused extra PIN code.", status=409,
    )


def _set_conflict(kit_set: str, users: int) -> Refusal:
    other = MULTI if kit_set == SINGLE else SINGLE
    chosen = f"the single-user set ({users} licenses for one user each)" if kit_set == SINGLE else (
        f"the multi-user set (one license for {users} users)")
    return Refusal(
        "pin_set_conflict", "This PIN code is from the other PIN set of your kit",
        f"A {users}-user kit is used either as {users} single-user licenses or as one {users}-user "
        f"license, never both. This kit already uses {chosen}; this PIN code is from the "
        f"{other}-user set. Use a PIN code of the same set.", status=409,
    )


def _owner_mismatch() -> Refusal:
    # Never say which field differs or what is stored: that would leak owner data.
    return Refusal(
        "owner_mismatch", "The owner data does not match the data of the license",
        "License recovery needs exactly the owner data given at first-time registration: "
        "every field, with the same spelling, capitals and punctuation (extra spaces are "
        "forgiven). Load the owner-data file saved then (Load data), or contact the vendor's "
        "support with the request id.", status=403,
    )


def _method_locked(stored: str) -> Refusal:
    if method_family(stored) == "phone":
        brief = "This license was acquired by phone and can be re-acquired only by phone"
        how = "Choose the By phone method."
    else:
        brief = "This license can be re-acquired only automatically or with a file"
        how = "Choose the Automatically or Manually (using a file) method."
    return Refusal(
        "method_locked", brief,
        f"The license was first acquired by the {stored} method. A license first acquired "
        "online or by file is re-acquired or updated only online or by file; one acquired by "
        f"phone only by phone. {how}", status=409,
    )


def _parameters_changed(m: fingerprint.Match) -> Refusal:
    return Refusal(
        "parameters_changed", "The key computer parameters have changed since the license was issued",
        f"Recovery gives the same license only on the same computer ({m.reason}). After a hardware "
        "change choose the update instead: the PIN code in use plus an unused extra PIN code.",
        status=409,
    )


def _not_last_pin(detail: str) -> Refusal:
    return Refusal(
        "pin_mismatch", "This PIN code is not the PIN code currently in use", detail, status=409,
    )


def _revoked(license_id: str) -> Refusal:
    return Refusal(
        "license_revoked", "This license has been revoked by the vendor",
        f"License {license_id} was revoked and cannot be recovered or updated. Contact the "
        "vendor's support with the request id.", status=409,
    )


@dataclass(frozen=True, slots=True)
class Activation:
    """What ``activate`` returns (also the stored idempotent answer)."""

    license_text: str
    license: License
    license_id: str
    users: int
    supersedes: str | None
    request_id: str
    operation: str
    replayed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "license": self.license_text, "license_id": self.license_id, "users": self.users,
            "supersedes": self.supersedes, "request_id": self.request_id,
        }


@dataclass
class KitInfo:
    regnum: str
    product: str
    users: int
    single_pins: list[str] = field(default_factory=list)
    multi_pins: list[str] = field(default_factory=list)
    pin_set: str | None = None
    issued: int = 0
    created: str = ""
    used_pins: list[str] = field(default_factory=list)
    locked_until: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "regnum": self.regnum, "product": self.product, "users": self.users,
            "single_pins": self.single_pins, "multi_pins": self.multi_pins, "pin_set": self.pin_set,
            "issued": self.issued, "created": self.created, "used_pins": self.used_pins,
            "locked_until": self.locked_until,
        }


def _license_summary(row: Any, with_owner: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {
        "license_id": row.license_id, "regnum": row.regnum, "serial": row.serial,
        "product": row.product, "users": row.users, "pin_set": row.pin_set, "method": row.method,
        "status": row.status, "issued_at": _aware(row.issued_at).isoformat(),  # type: ignore[union-attr]
        "supersedes": row.supersedes, "superseded_by": row.superseded_by,
        "owner_digest": row.owner_digest,
    }
    if with_owner:
        d["owner"] = json.loads(row.owner_json)
        d["params"] = json.loads(row.params_json)
        d["license"] = row.text
    return d


class CenterService:
    """See the module docstring for the calls and their contracts."""

    def __init__(self, engine: AsyncEngine, keys: CenterKeys, home: Path, db_url: str = "") -> None:
        self.engine = engine
        self.w = db.writer(engine)
        self.keys = keys
        self.home = home
        self.db_url = db_url
        self.settings: dict[str, str] = dict(DEFAULT_SETTINGS)
        # SQLite: the rules run on a stdlib-driver engine in threads (see _run).
        self._sync: Engine | None = None
        self._sync_w: Engine | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._lock_fd: int | None = None
        if engine.dialect.name == "sqlite":
            self._sync = db.make_sync_sqlite_engine(str(engine.url.render_as_string(hide_password=False)))
            self._sync_w = db.writer_sync(self._sync)
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="center-sqlite-writer")
            dbfile = self._sync.url.database
            if dbfile and dbfile != ":memory:":
                self._lock_fd = os.open(f"{dbfile}.writelock", os.O_RDWR | os.O_CREAT, 0o600)

    @classmethod
    def open(cls, db_url: str, home: Path, **engine_kw: Any) -> CenterService:
        return cls(db.make_engine(db_url, hide_parameters=True, **engine_kw), load_keys(home), home, db_url)

    async def start(self) -> None:
        self.settings = {**DEFAULT_SETTINGS, **await self.get_settings()}

    async def close(self) -> None:
        await self.engine.dispose()
        if self._writer is not None:
            self._writer.shutdown(wait=True)
        if self._sync is not None:
            self._sync.dispose()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ---- settings

    async def get_settings(self) -> dict[str, str]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(db.settings))).all()
        return {r.key: r.value for r in rows}

    async def set_setting(self, key: str, value: str) -> None:
        if key not in DEFAULT_SETTINGS and key != "admin_token_hash":
            raise InputError("setting", f"unknown setting {key!r}",
                             f"known settings: {', '.join(sorted(DEFAULT_SETTINGS))}")
        if key in DEFAULT_SETTINGS and DEFAULT_SETTINGS[key].isdigit() and not value.isdigit():
            raise InputError("setting", f"{key}: expected a whole number, got {value!r}")
        async with self.w.begin() as conn:
            done = await conn.execute(
                db.settings.update().where(db.settings.c.key == key).values(value=value))
            if done.rowcount == 0:
                await conn.execute(db.settings.insert().values(key=key, value=value))
        self.settings[key] = value

    def _int(self, key: str) -> int:
        return int(self.settings.get(key) or DEFAULT_SETTINGS[key])

    async def phone_number(self) -> str:
        return (await self.get_settings()).get("phone_number", "")

    @property
    def phone_number_cached(self) -> str:
        return self.settings.get("phone_number", "")

    @property
    def sealing_public_pem(self) -> str:
        return public_pem(self.keys.sealing.public_key())

    def public_keys(self) -> dict[str, Any]:
        return {
            "signing": [
                {"key_id": kid, "pem": public_pem(k), "status": "current" if kid == self.keys.signing_id
                 else "retired"} for kid, k in sorted(self.keys.signing_public.items())
            ],
            "sealing": [
                {"key_id": kid, "pem": public_pem(k)} for kid, k in sorted(self.keys.sealing_public.items())
            ],
        }

    # ---- admin token and operators

    async def set_admin_token(self) -> str:
        token = secrets.token_urlsafe(32)
        await self.set_setting("admin_token_hash", _hash_token(token))
        return token

    async def check_admin_token(self, token: str) -> bool:
        stored = (await self.get_settings()).get("admin_token_hash")  # read each time: tokens get replaced
        return bool(stored) and secrets.compare_digest(stored or "", _hash_token(token))

    async def add_operator(self, name: str) -> str:
        name = name.strip()
        if not name or len(name) > 100 or any(not (ch.isalnum() or ch in "._-@ ") for ch in name):
            raise InputError("name", "Operator name: 1 to 100 letters, digits, spaces or . _ - @")
        token = secrets.token_urlsafe(32)
        try:
            async with self.w.begin() as conn:
                await conn.execute(db.operators.insert().values(
                    name=name, token_hash=_hash_token(token), created=_utcnow(), disabled=False))
                await self._aaudit(conn, "operator_add", request_id="cli", actor=name)
        except IntegrityError:
            raise InputError("name", f"Operator {name!r} already exists") from None
        return token

    async def disable_operator(self, name: str) -> bool:
        async with self.w.begin() as conn:
            res = await conn.execute(db.operators.update().where(db.operators.c.name == name)
                                     .values(disabled=True))
        return res.rowcount == 1

    async def list_operators(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(db.operators).order_by(db.operators.c.name))).all()
        return [{"name": r.name, "created": _aware(r.created).isoformat(),  # type: ignore[union-attr]
                 "disabled": bool(r.disabled)} for r in rows]

    async def operator_for_token(self, token: str) -> str | None:
        if not token or len(token) > 200:
            return None
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(db.operators.c.name, db.operators.c.disabled)
                                      .where(db.operators.c.token_hash == _hash_token(token)))).first()
        return str(row.name) if row is not None and not row.disabled else None

    # ---- kits (admin)

    async def create_kits(self, product: str, users: int, pins: int, count: int = 1,
                          request_id: str = "cli", actor: str = "admin") -> list[KitInfo]:
        product = product.strip()
        if not product or len(product) > 100:
            raise InputError("product", "Product: 1 to 100 characters")
        if not 1 <= users <= MAX_USERS:
            raise InputError("users", f"Users: a whole number from 1 to {MAX_USERS}")
        if not 1 <= pins <= MAX_PINS:
            raise InputError("pins", f"PINs: a whole number from 1 to {MAX_PINS}")
        if not 1 <= count <= MAX_KITS:
            raise InputError("count", f"Count: a whole number from 1 to {MAX_KITS}")
        if count * pins * (2 if users > 1 else 1) > 20_000:
            raise InputError("count", "Too many PIN codes in one call: at most 20000 (count x pins x sets)")
        out: list[KitInfo] = []
        now = _utcnow()
        for _ in range(count):
            for _attempt in range(5):  # a random regnum/PIN collision is rare; try again then
                kit = KitInfo(new_regnum(), product, users, created=now.isoformat())
                kit.single_pins = [new_pin() for _ in range(pins)]
                kit.multi_pins = [new_pin() for _ in range(pins)] if users > 1 else []
                try:
                    async with self.w.begin() as conn:
                        await conn.execute(db.kits.insert().values(
                            regnum=kit.regnum, product=product, users=users, created=now))
                        await conn.execute(db.pins.insert(), [
                            {"pin": p, "regnum": kit.regnum, "pin_set": s}
                            for s, ps in ((SINGLE, kit.single_pins), (MULTI, kit.multi_pins)) for p in ps
                        ])
                        await self._aaudit(conn, "kit_create", request_id=request_id, regnum=kit.regnum,
                                          actor=actor)
                    out.append(kit)
                    break
                except IntegrityError:
                    continue
            else:
                raise LicwizError("Could not create a kit (identifier collisions)", code="internal")
        return out

    async def kit_info(self, regnum: str) -> KitInfo:
        async with self.engine.connect() as conn:
            kit = (await conn.execute(sa.select(db.kits).where(db.kits.c.regnum == regnum))).first()
            if kit is None:
                raise Refusal("not_found", f"No kit with registration number {regnum}", status=404)
            prow = (await conn.execute(sa.select(db.pins).where(db.pins.c.regnum == regnum)
                                       .order_by(db.pins.c.pin))).all()
        info = self._kit_from_row(kit)
        info.single_pins = [p.pin for p in prow if p.pin_set == SINGLE]
        info.multi_pins = [p.pin for p in prow if p.pin_set == MULTI]
        info.used_pins = [p.pin for p in prow if p.used_at is not None]
        return info

    @staticmethod
    def _kit_from_row(kit: Any) -> KitInfo:
        locked = _aware(kit.locked_until)
        return KitInfo(
            kit.regnum, kit.product, kit.users, pin_set=kit.pin_set, issued=kit.issued,
            created=_aware(kit.created).isoformat(),  # type: ignore[union-attr]
            locked_until=locked.isoformat() if locked and locked > _utcnow() else None,
        )

    async def list_kits(self, limit: int = 1000) -> list[KitInfo]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(db.kits).order_by(db.kits.c.created, db.kits.c.regnum)
                                       .limit(limit))).all()
        return [self._kit_from_row(r) for r in rows]

    # ---- licenses (admin)

    async def list_licenses(self, regnum: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        q = sa.select(db.licenses).order_by(db.licenses.c.issued_at, db.licenses.c.license_id).limit(limit)
        if regnum:
            q = q.where(db.licenses.c.regnum == regnum)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [_license_summary(r) for r in rows]

    async def license_info(self, license_id: str) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(db.licenses)
                                      .where(db.licenses.c.license_id == license_id))).first()
        if row is None:
            raise Refusal("not_found", f"No license {license_id}", status=404)
        return _license_summary(row, with_owner=True)

    async def revoke(
        self, license_id: str, *, request_id: str = "cli", actor: str = "admin"
    ) -> dict[str, Any]:
        async with self.w.begin() as conn:
            res = await conn.execute(db.licenses.update().where(db.licenses.c.license_id == license_id)
                                     .values(status="revoked"))
            if res.rowcount != 1:
                raise Refusal("not_found", f"No license {license_id}", status=404)
            await self._aaudit(conn, "revoke", request_id=request_id, license_id=license_id,
                              regnum=license_id.split("-")[0], actor=actor)
        return await self.license_info(license_id)

    async def audit_log(self, limit: int = 1000) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(db.audit).order_by(db.audit.c.id.desc()).limit(limit))).all()
        return [{"at": _aware(r.at).isoformat(), "request_id": r.request_id,  # type: ignore[union-attr]
                 "event": r.event, "code": r.code, "regnum": r.regnum, "license_id": r.license_id,
                 "actor": r.actor} for r in rows]

    @staticmethod
    def _audit_row(event: str, request_id: str, code: str | None, regnum: str | None, license_id: str | None,
                   actor: str | None, client_addr: str | None) -> dict[str, Any]:
        return {"at": _utcnow(), "request_id": request_id[:40], "event": event, "code": code,
                "regnum": regnum, "license_id": license_id, "actor": actor, "client_addr": client_addr}

    def _audit(self, conn: Connection, event: str, *, request_id: str, code: str | None = None,
               regnum: str | None = None, license_id: str | None = None, actor: str | None = None,
               client_addr: str | None = None) -> None:
        conn.execute(_INSERT_AUDIT, self._audit_row(event, request_id, code, regnum, license_id, actor,
                                                    client_addr))

    async def _aaudit(self, conn: AsyncConnection, event: str, *, request_id: str, code: str | None = None,
                      regnum: str | None = None, license_id: str | None = None, actor: str | None = None,
                      client_addr: str | None = None) -> None:
        await conn.execute(_INSERT_AUDIT, self._audit_row(event, request_id, code, regnum, license_id, actor,
                                                          client_addr))

    # ---- request files

    def open_request_file(self, text: str) -> ActivationRequest:
        """The request inside an armoured, sealed request file (Refusal when unreadable)."""
        if not isinstance(text, str) or not text.strip():
            raise _bad("The request file is empty", "The license request file is empty")
        try:
            return open_sealed(text, self.keys.sealing)
        except LicwizError as exc:
            code = exc.code if exc.code in ("wrong_key", "bad_seal") else "bad_request_file"
            raise Refusal(code, "The license request file cannot be read", exc.detail
                          + " Make a new request file with the wizard and send it again.",
                          status=400) from None

    async def activate_request_file(self, text: str, *, idempotency_key: str | None = None,
                                    request_id: str, client_addr: str = "", actor: str | None = None,
                                    ) -> Activation:
        try:
            req = self.open_request_file(text)
        except Refusal as ref:
            await self._record_refusal(ref, regnum=None, request_id=request_id, client_addr=client_addr,
                                       actor=actor)
            raise
        return await self.activate(req, method="file", idempotency_key=idempotency_key,
                                   request_id=request_id, client_addr=client_addr, actor=actor)

    # ---- validation

    @staticmethod
    def _validate(req: ActivationRequest, *, owner_required: bool) -> None:
        if req.operation not in OPERATIONS:
            raise Refusal("operation_invalid", "Unknown license operation",
                          f"operation {req.operation[:40]!r}: expected one of {', '.join(OPERATIONS)}")
        try:
            parse_regnum(req.regnum)
            parse_pin(req.pin, "Last used PIN code" if req.operation != "first" else "PIN code")
            if req.operation == "update":
                if not req.extra_pin:
                    raise InputError("Extra PIN code", "Extra PIN code: required for an update")
                parse_pin(req.extra_pin, "Extra PIN code")
                if req.extra_pin == req.pin:
                    raise InputError("Extra PIN code",
                                     "Extra PIN code: must differ from the PIN currently in use")
            if owner_required:
                req.owner.validate()
        except InputError as exc:
            raise _bad(exc.detail, exc.brief) from None
        if len(req.product) > 100 or not req.product:
            raise _bad("product: 1 to 100 characters")
        if len(req.params) > MAX_PARAMS or any(
            len(k) > 64 or not v or len(v) > 128 for k, v in req.params.items()
        ):
            raise _bad(f"params: at most {MAX_PARAMS} names, each digest 1 to 128 characters")
        if owner_required and not req.params:
            raise _bad("params: the key computer parameters are missing")

    @staticmethod
    def _check_method(method: str) -> None:
        if method not in ("online", "file", "phone"):
            raise _bad(f"method {method!r}: expected online, file or phone")

    # ---- transactions
    #
    # The rules run as plain synchronous functions on one SQLAlchemy Connection
    # (``_*_txn``), so a whole activation is one unit of work. On SQLite it runs
    # in one dedicated thread with the stdlib driver: one thread hop per
    # activation instead of one per statement, and this process's writers queue
    # here instead of spinning on SQLite's busy handler. On PostgreSQL it runs
    # through ``AsyncConnection.run_sync`` on asyncpg.

    async def _run(self, fn: Callable[..., T], *args: Any, write: bool = True) -> T:
        if self._sync is not None:
            sync = (self._sync_w if write else self._sync) or self._sync

            def work() -> T:
                if not write or self._lock_fd is None:
                    with sync.begin() as conn:
                        return fn(conn, *args)
                # Writers of all processes queue on a file lock, which wakes the next one at
                # once; SQLite's own busy handler sleeps in growing steps (p99 spikes).
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
                try:
                    with sync.begin() as conn:
                        return fn(conn, *args)
                finally:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

            executor = self._writer if write else None
            return await asyncio.get_running_loop().run_in_executor(executor, work)
        engine = self.w if write else self.engine
        async with engine.begin() as aconn:
            return await aconn.run_sync(fn, *args)

    # ---- throttling (in the database: every process sees the same counts)

    def _rate_limited(self) -> Refusal:
        minutes = max(1, self._int("addr_window_seconds") // 60)
        return Refusal(
            "rate_limited", "Too many wrong attempts from this network address",
            f"The Licensing Center received too many wrong registration numbers or PIN codes from this "
            f"address. Wait up to {minutes} minute(s) and try again.", status=429,
        )

    def _addr_cutoff(self) -> dt.datetime:
        return _utcnow() - dt.timedelta(seconds=self._int("addr_window_seconds"))

    def _addr_blocked(self, conn: Connection, addr: str) -> None:
        if not addr:
            return
        count = conn.execute(_ADDR_COUNT_Q, {"b_addr": addr, "b_cutoff": self._addr_cutoff()}).scalar()
        if count is not None and count >= self._int("addr_max_failures"):
            raise self._rate_limited()

    @staticmethod
    def _kit_lock(kit: Any) -> None:
        until = _aware(kit.locked_until)
        if until is not None and until > _utcnow():
            secs = int((until - _utcnow()).total_seconds()) + 1
            raise Refusal(
                "kit_locked", "Too many wrong PIN codes: this registration number is locked for now",
                f"After repeated wrong PIN codes the registration number is locked until "
                f"{until.strftime('%Y-%m-%d %H:%M:%S')} UTC (about {secs} s from now); each further "
                "lock lasts longer. Check the PIN codes on your license certificate before trying again.",
                status=423,
            )

    async def _record_refusal(self, ref: Refusal, *, regnum: str | None, request_id: str, client_addr: str,
                              actor: str | None, event: str = "refuse") -> None:
        if not (regnum and len(regnum) == 10 and regnum.isdigit()) or ref.code == "kit_unknown":
            regnum = None  # only a real kit's number goes to the audit
        await self._run(self._refusal_txn, ref.code, regnum, request_id, (client_addr or "")[:64], actor,
                        event)
        ref.audited = True

    async def audit_refusal(self, code: str, *, request_id: str, client_addr: str = "",
                            actor: str | None = None, event: str = "refuse") -> None:
        """Audit a refusal made before any rule ran (unreadable body, missing admin token);
        it counts against no kit and no address (those are the rules' own refusals)."""
        def txn(conn: Connection) -> None:
            self._audit(conn, event, request_id=request_id, code=code, actor=actor,
                        client_addr=(client_addr or "")[:64] or None)

        await self._run(txn)

    def _refusal_txn(self, conn: Connection, code: str, regnum: str | None, request_id: str,
                     client_addr: str, actor: str | None, event: str) -> None:
        """Audit a refusal; count wrong guesses against the kit and the client address."""
        self._audit(conn, event, request_id=request_id, code=code, regnum=regnum, actor=actor,
                    client_addr=client_addr or None)
        if code not in ("pin_unknown", "kit_unknown"):
            return
        if code == "pin_unknown" and regnum:
            kit = conn.execute(sa.select(db.kits.c.failed_pins, db.kits.c.lock_level)
                               .where(db.kits.c.regnum == regnum)).first()
            if kit is not None:
                failed = kit.failed_pins + 1
                values: dict[str, Any] = {"failed_pins": failed}
                if failed >= self._int("kit_max_failures"):
                    secs = min(_MAX_LOCK, self._int("lock_seconds") * 2 ** min(kit.lock_level, 20))
                    values = {"failed_pins": 0, "lock_level": kit.lock_level + 1,
                              "locked_until": _utcnow() + dt.timedelta(seconds=secs)}
                conn.execute(db.kits.update().where(db.kits.c.regnum == regnum).values(**values))
        if client_addr:
            now = _utcnow()
            row = conn.execute(
                sa.select(db.addr_failures).where(db.addr_failures.c.addr == client_addr)).first()
            where = db.addr_failures.update().where(db.addr_failures.c.addr == client_addr)
            if row is None:
                try:
                    with conn.begin_nested():
                        conn.execute(db.addr_failures.insert().values(addr=client_addr, window_start=now,
                                                                      count=1))
                except IntegrityError:  # another process inserted it first
                    conn.execute(where.values(count=db.addr_failures.c.count + 1))
            elif _aware(row.window_start) + dt.timedelta(  # type: ignore[operator,unused-ignore]
                    seconds=self._int("addr_window_seconds")) <= now:  # type: ignore[operator,unused-ignore]
                conn.execute(where.values(window_start=now, count=1))
            else:
                conn.execute(where.values(count=db.addr_failures.c.count + 1))

    # ---- lookups shared by check and activate

    def _kit(self, conn: Connection, req: ActivationRequest) -> Any:
        kit = conn.execute(sa.select(db.kits).where(db.kits.c.regnum == req.regnum)).first()
        return self._kit_checks(kit, req)

    def _kit_checks(self, kit: Any, req: ActivationRequest) -> Any:
        if kit is None:
            raise kit_unknown(req.regnum)
        self._kit_lock(kit)
        if kit.product != req.product:
            raise Refusal(
                "wrong_product", "This registration number is for another product",
                f"Kit {kit.regnum} licenses {kit.product!r}; the request is for {req.product[:100]!r}. "
                "Run the wizard of the product the kit was bought for.", status=409,
            )
        return kit

    @staticmethod
    def _pin(conn: Connection, regnum: str, pin: str, field_name: str = "PIN code") -> Any:
        row = conn.execute(
            sa.select(db.pins).where(db.pins.c.pin == pin, db.pins.c.regnum == regnum)).first()
        if row is None:
            raise pin_unknown(field_name)
        return row

    def _current_license(self, conn: Connection, kit: Any, req: ActivationRequest, method: str) -> Any:
        """The active license paid by ``req.pin`` (recover/update), checked against the request."""
        lic = conn.execute(sa.select(db.licenses).where(db.licenses.c.pin == req.pin,
                                                        db.licenses.c.regnum == kit.regnum)).first()
        if lic is None:
            self._pin(conn, kit.regnum, req.pin, "Last used PIN code")
            raise _not_last_pin(
                "This PIN code has not been used yet, so there is no license to recover or update. "
                "For a new license choose First-time registration with it.")
        if lic.status == "revoked":
            raise _revoked(lic.license_id)
        if lic.status == "superseded":
            raise _not_last_pin(
                f"The license of this PIN code ({lic.license_id}) was replaced by an update "
                f"({lic.superseded_by}). Enter the PIN code used last, for that update.")
        if method_family(lic.method) != method_family(method):
            raise _method_locked(lic.method)
        return lic

    @staticmethod
    def _owner_matches(lic: Any, owner: OwnerData) -> bool:
        return secrets.compare_digest(lic.owner_digest, owner.digest())

    # ---- check

    async def check(self, req: ActivationRequest, *, method: str = "online", client_addr: str = "",
                    request_id: str = "", actor: str | None = None) -> dict[str, Any]:
        """Whether ``req`` would succeed now, spending nothing. The owner may be
        empty (it is then not compared); every other rule is applied."""
        self._check_method(method)
        owner_given = any(v for k, v in req.owner.to_dict().items() if k != "kind")
        try:
            self._validate(req, owner_required=False)
            if owner_given and req.operation != "first":
                try:
                    req.owner.validate()
                except InputError as exc:
                    raise _bad(exc.detail, exc.brief) from None
            return await self._run(self._check_txn, req, method, client_addr, owner_given, write=False)
        except Refusal as ref:
            await self._record_refusal(ref, regnum=req.regnum, request_id=request_id,
                                       client_addr=client_addr, actor=actor, event="check_refuse")
            raise

    def _check_txn(self, conn: Connection, req: ActivationRequest, method: str, client_addr: str,
                   owner_given: bool) -> dict[str, Any]:
        self._addr_blocked(conn, client_addr)
        kit = self._kit(conn, req)
        if req.operation == "first":
            pin = self._pin(conn, kit.regnum, req.pin)
            if pin.used_at is not None:
                raise _pin_used()
            if kit.pin_set and kit.pin_set != pin.pin_set:
                raise _set_conflict(kit.pin_set, kit.users)
            pin_set, family = pin.pin_set, method_family(method)
        else:
            lic = self._current_license(conn, kit, req, method)
            if owner_given and not self._owner_matches(lic, req.owner):
                raise _owner_mismatch()
            if req.operation == "recover" and req.params:
                m = fingerprint.matches(json.loads(lic.params_json), req.params)
                if not m.ok:
                    raise _parameters_changed(m)
            if req.operation == "update":
                extra = self._pin(conn, kit.regnum, req.extra_pin or "", "Extra PIN code")
                if extra.used_at is not None:
                    raise _extra_used()
                if extra.pin_set != lic.pin_set:
                    raise _set_conflict(lic.pin_set, kit.users)
            pin_set, family = lic.pin_set, method_family(lic.method)
        return {"available": True, "product": kit.product, "users": 1 if pin_set == SINGLE else kit.users,
                "pin_set": pin_set, "method_family": family}

    # ---- activate

    async def activate(self, req: ActivationRequest, *, method: str = "online",
                       idempotency_key: str | None = None, request_id: str, client_addr: str = "",
                       actor: str | None = None) -> Activation:
        """First-time registration, recovery or update. Returns the license;
        raises ``Refusal``. With ``idempotency_key`` a retry returns the first answer."""
        self._check_method(method)
        try:
            self._validate(req, owner_required=True)
            key = idempotency_key
            if key is not None and not (0 < len(key) <= 200 and key.isprintable()):
                raise _bad("Idempotency-Key: 1 to 200 printable characters")
        except Refusal as ref:
            await self._record_refusal(ref, regnum=req.regnum, request_id=request_id,
                                       client_addr=client_addr, actor=actor)
            raise
        body_hash = hashlib.sha256(req.to_json() + f"|{method}".encode()).hexdigest()
        try:
            return await self._run(self._activate_txn, req, method, idempotency_key, body_hash, request_id,
                                   client_addr, actor)
        except Refusal as ref:
            if idempotency_key and ref.code in ("pin_used", "pin_mismatch"):
                # A concurrent twin with the same key may have won: answer as it did.
                replay = await self._run(self._replay, idempotency_key, body_hash, write=False)
                if replay is not None:
                    return replay
            await self._record_refusal(ref, regnum=req.regnum, request_id=request_id,
                                       client_addr=client_addr, actor=actor)
            raise
        except IntegrityError:
            # Only a concurrent twin (same Idempotency-Key, same PIN) gets here.
            if idempotency_key:
                replay = await self._run(self._replay, idempotency_key, body_hash, write=False)
                if replay is not None:
                    return replay
            raise _pin_used() from None

    def _activate_txn(self, conn: Connection, req: ActivationRequest, method: str,
                      idempotency_key: str | None, body_hash: str, request_id: str, client_addr: str,
                      actor: str | None) -> Activation:
        kit = conn.execute(_LOOKUP, {
            "b_regnum": req.regnum, "b_pin": req.pin, "b_addr": client_addr, "b_cutoff": self._addr_cutoff(),
            "b_key": idempotency_key or ""}).first()
        if idempotency_key and (kit is None or kit.idem_hash is not None):
            replay = self._replay(conn, idempotency_key, body_hash)
            if replay is not None:
                return replay
        if kit is None or (kit.addr_count or 0) >= self._int("addr_max_failures"):
            self._addr_blocked(conn, client_addr)
        kit = self._kit_checks(kit, req)
        lic_row: dict[str, Any] | None
        if req.operation == "first":
            (act, lic_row), event = self._first(conn, kit, req, method, request_id), "issue"
        elif req.operation == "recover":
            act, lic_row, event = self._recover(conn, kit, req, method, request_id), None, "recover"
        else:
            (act, lic_row), event = self._update(conn, kit, req, method, request_id), "update"
        audit_row = self._audit_row(event, request_id, None, kit.regnum, act.license_id, actor,
                                    client_addr or None)
        idem_row = {"key": idempotency_key, "body_hash": body_hash, "status": 200,
                    "response": json.dumps(act.to_dict()), "created": _utcnow()} if idempotency_key else None
        if conn.dialect.name == "postgresql":
            params = {f"a_{k}": v for k, v in audit_row.items()}
            params.update({f"l_{k}": v for k, v in (lic_row or {}).items()})
            params.update({f"i_{k}": v for k, v in (idem_row or {}).items()})
            conn.execute(_PG_TAIL[lic_row is not None, idem_row is not None], params)
        else:
            if lic_row is not None:
                conn.execute(_INSERT_LICENSE, lic_row)
            conn.execute(_INSERT_AUDIT, audit_row)
            if idem_row is not None:
                conn.execute(_INSERT_IDEM, idem_row)
        return act

    @staticmethod
    def _replay(conn: Connection, key: str, body_hash: str) -> Activation | None:
        row = conn.execute(sa.select(db.idempotency).where(db.idempotency.c.key == key)).first()
        if row is None:
            return None
        if row.body_hash != body_hash:
            raise Refusal(
                "idempotency_conflict", "This request repeats an earlier key with different content",
                "The Idempotency-Key was already used for a different request. Use a new key for "
                "a new request.", status=422)
        d = json.loads(row.response)
        signed = parse_license(d["license"], "stored license")
        return Activation(d["license"], signed.license, d["license_id"], d["users"], d.get("supersedes"),
                          d.get("request_id", ""), "replay", replayed=True)

    def _issue(self, kit: Any, serial: int, req: ActivationRequest, users: int, method: str, pin: str,
               supersedes: str | None) -> tuple[License, str]:
        lic = License(
            license_id=f"{kit.regnum}-{serial:03d}", product=kit.product, regnum=kit.regnum,
            users=users, owner_digest=req.owner.digest(), params=dict(req.params), method=method,
            pin_digest=pin_digest(kit.regnum, pin), issued=_utcnow().date().isoformat(),
            key_id=self.keys.signing_id, supersedes=supersedes,
        )
        return lic, sign(lic, self.keys.signing).text

    @staticmethod
    def _spend(conn: Connection, kit: Any, pin: str, pin_set: str) -> int:
        """Spend ``pin`` and take the kit's next serial; Refusal if another request won.
        The conditional UPDATE is the guard: of two concurrent spends one matches no row."""
        if conn.dialect.name == "postgresql":
            one = conn.execute(_PG_SPEND, {"b_pin": pin, "b_now": _utcnow(), "b_regnum": kit.regnum,
                                           "b_set": pin_set}).one()
            if one.spent != 1:
                raise _pin_used()
            if one.serial is None:
                raise _set_conflict(MULTI if pin_set == SINGLE else SINGLE, kit.users)
            return int(one.serial)
        res = conn.execute(_SPEND_PIN, {"b_pin": pin, "b_now": _utcnow()})
        if res.rowcount != 1:
            raise _pin_used()
        row = conn.execute(_TAKE_SERIAL, {"b_regnum": kit.regnum, "b_set": pin_set}).first()
        if row is None:
            raise _set_conflict(MULTI if pin_set == SINGLE else SINGLE, kit.users)
        return int(row[0])

    @staticmethod
    def _license_row(lic: License, text: str, pin: str, pin_set: str, req: ActivationRequest,
                     request_id: str, serial: int) -> dict[str, Any]:
        """The licenses row; written by _activate_txn in the same transaction as the spend."""
        return {
            "license_id": lic.license_id, "regnum": lic.regnum, "serial": serial, "pin": pin,
            "product": lic.product, "users": lic.users, "pin_set": pin_set, "method": lic.method,
            "owner_json": req.owner.canonical_json().decode("utf-8"), "owner_digest": lic.owner_digest,
            "params_json": json.dumps(dict(lic.params), sort_keys=True), "text": text,
            "issued_at": _utcnow(), "status": "active", "supersedes": lic.supersedes,
            "superseded_by": None, "request_id": request_id[:40],
        }

    def _first(self, conn: Connection, kit: Any, req: ActivationRequest, method: str,
               request_id: str) -> tuple[Activation, dict[str, Any]]:
        # ``kit`` is the _LOOKUP row: it carries the PIN's set and use (p_*).
        if kit.p_pin is None:
            raise pin_unknown()
        if kit.p_used is not None:
            raise _pin_used()
        if kit.pin_set and kit.pin_set != kit.p_set:
            raise _set_conflict(kit.pin_set, kit.users)
        serial = self._spend(conn, kit, req.pin, kit.p_set)
        users = 1 if kit.p_set == SINGLE else kit.users
        lic, text = self._issue(kit, serial, req, users, method, req.pin, None)
        row = self._license_row(lic, text, req.pin, kit.p_set, req, request_id, serial)
        return Activation(text, lic, lic.license_id, users, None, request_id, "first"), row

    def _recover(self, conn: Connection, kit: Any, req: ActivationRequest, method: str,
                 request_id: str) -> Activation:
        row = self._current_license(conn, kit, req, method)
        if not self._owner_matches(row, req.owner):
            raise _owner_mismatch()
        m = fingerprint.matches(json.loads(row.params_json), req.params)
        if not m.ok:
            raise _parameters_changed(m)
        signed = parse_license(row.text, "stored license")
        return Activation(row.text, signed.license, row.license_id, row.users, row.supersedes, request_id,
                          "recover")

    def _update(self, conn: Connection, kit: Any, req: ActivationRequest, method: str,
                request_id: str) -> tuple[Activation, dict[str, Any]]:
        old = self._current_license(conn, kit, req, method)
        if not self._owner_matches(old, req.owner):
            raise _owner_mismatch()
        extra_pin = req.extra_pin or ""
        extra = self._pin(conn, kit.regnum, extra_pin, "Extra PIN code")
        if extra.used_at is not None:
            raise _extra_used()
        if extra.pin_set != old.pin_set:
            raise _set_conflict(old.pin_set, kit.users)
        serial = self._spend(conn, kit, extra_pin, extra.pin_set)
        lic, text = self._issue(kit, serial, req, old.users, method, extra_pin, old.license_id)
        res = conn.execute(
            db.licenses.update().where(db.licenses.c.license_id == old.license_id,
                                       db.licenses.c.status == "active")
            .values(status="superseded", superseded_by=lic.license_id))
        if res.rowcount != 1:
            raise _not_last_pin("The license was updated by another request at the same moment.")
        row = self._license_row(lic, text, extra_pin, extra.pin_set, req, request_id, serial)
        return Activation(text, lic, lic.license_id, lic.users, old.license_id, request_id, "update"), row


def _extra_used() -> Refusal:
    return Refusal(
        "pin_used", "The extra PIN code has already been used",
        "An update spends an unused PIN code of the same kit and set. This one was already used; "
        "enter another unused PIN code from your license certificate.", status=409,
    )


def request_from_json(body: Any) -> ActivationRequest:
    """An ActivationRequest from an API body; Refusal(bad_request) naming what is wrong."""
    if isinstance(body, Mapping):
        body = dict(body)
        body.setdefault("owner", {})
    try:
        return ActivationRequest.from_dict(body, "request body")
    except LicwizError as exc:
        raise _bad(exc.detail) from None
    except TypeError as exc:  # e.g. a wrong owner field type surfaces as TypeError in from_dict
        raise _bad(f"request body: {exc}") from None
