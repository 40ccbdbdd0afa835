"""Kits and the licenses issued from them, on the admin side: create kits with
their PIN codes, show and list kits, list, show and revoke licenses.

The PINs themselves exist only in what ``create`` returns (``kit create``
prints them once, like a password): the database keeps their keyed hashes
(center/keystore.py), so ``info`` (``kit show``) names each PIN by its set and
position with its state, never by its digits.

(Spending a PIN for a license is the activation's: center/activation.py.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from licwiz.core.errors import InputError, LicwizError
from licwiz.core.i18n import N_
from licwiz.core.identifiers import new_pin, new_regnum
from licwiz.core.message import Msg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from . import audit, db, refusals
from .keystore import CenterKeys
from .refusals import MULTI, SINGLE
from .uow import UnitOfWork

MAX_USERS = 10_000
MAX_PINS = 1_000
MAX_KITS = 1_000
KITS_PER_COMMIT = 100


@dataclass(frozen=True, slots=True)
class PinState:
    """A PIN as ``kit show`` sees it: which one it is, and whether it was spent."""

    pin_set: str
    position: int
    used: bool

    def to_dict(self) -> dict[str, Any]:
        return {"set": self.pin_set, "position": self.position, "state": "used" if self.used else "unused"}


@dataclass
class KitInfo:
    regnum: str
    product: str
    users: int
    # The PINs, in position order: known only to ``create`` (None once stored).
    single_pins: list[str] | None = None
    multi_pins: list[str] | None = None
    pin_set: str | None = None
    issued: int = 0
    created: str = ""
    pins: list[PinState] = field(default_factory=list)
    locked_until: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "regnum": self.regnum, "product": self.product, "users": self.users, "pin_set": self.pin_set,
            "issued": self.issued, "created": self.created, "locked_until": self.locked_until,
            "pins": [p.to_dict() for p in self.pins],
        }
        if self.single_pins is not None:
            d["single_pins"] = self.single_pins
            d["multi_pins"] = self.multi_pins or []
        return d

    @classmethod
    def from_row(cls, kit: Any) -> KitInfo:
        locked = db.aware(kit.locked_until)
        return cls(
            kit.regnum, kit.product, kit.users, pin_set=kit.pin_set, issued=kit.issued,
            created=db.aware(kit.created).isoformat(),
            locked_until=locked.isoformat() if locked and locked > db.utcnow() else None,
        )


def license_summary(row: Any, with_owner: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {
        "license_id": row.license_id, "regnum": row.regnum, "serial": row.serial,
        "product": row.product, "users": row.users, "pin_set": row.pin_set, "method": row.method,
        "status": row.status, "issued_at": db.aware(row.issued_at).isoformat(),
        "supersedes": row.supersedes, "superseded_by": row.superseded_by,
        "owner_digest": row.owner_digest,
    }
    if with_owner:
        d["owner"] = json.loads(row.owner_json)
        d["params"] = json.loads(row.params_json)
        d["license"] = row.text
    return d


class Kits:
    def __init__(self, uow: UnitOfWork, keys: CenterKeys) -> None:
        self.uow = uow
        self.keys = keys

    # ---- kits

    async def create(self, product: str, users: int, pins: int, count: int = 1,
                     request_id: str = "cli", actor: str = "admin") -> list[KitInfo]:
        product = product.strip()
        if not product or len(product) > 100:
            raise InputError("product", Msg(N_("Product: 1 to 100 characters")))
        if not 1 <= users <= MAX_USERS:
            raise InputError("users", Msg(N_("Users: a whole number from 1 to {most}"), most=MAX_USERS))
        if not 1 <= pins <= MAX_PINS:
            raise InputError("pins", Msg(N_("PINs: a whole number from 1 to {most}"), most=MAX_PINS))
        if not 1 <= count <= MAX_KITS:
            raise InputError("count", Msg(N_("Count: a whole number from 1 to {most}"), most=MAX_KITS))
        if count * pins * (2 if users > 1 else 1) > 20_000:
            raise InputError("count",
                             Msg(N_("Too many PIN codes in one call: at most 20000 (count x pins x sets)")))
        out: list[KitInfo] = []
        now = db.utcnow()
        # Kits are written KITS_PER_COMMIT to a transaction: one commit (an fsync
        # on SQLite) per kit made a 999-kit call take over 20 s on a busy
        # machine, while one transaction for all would hold the write lock
        # against activations for the whole call.
        remaining = count
        while remaining:
            batch = min(remaining, KITS_PER_COMMIT)
            async with self.uow.writer.begin() as conn:
                for _kit in range(batch):
                    out.append(await self._create_one(conn, product, users, pins, now, request_id, actor))
            remaining -= batch
        return out

    async def _create_one(self, conn: AsyncConnection, product: str, users: int, pins: int,
                          now: datetime, request_id: str, actor: str) -> KitInfo:
        for _attempt in range(5):  # a random regnum/PIN collision is rare; try again then
            kit = KitInfo(new_regnum(), product, users, created=now.isoformat())
            kit.single_pins = [new_pin() for _pin in range(pins)]
            kit.multi_pins = [new_pin() for _pin in range(pins)] if users > 1 else []
            sets = ((SINGLE, kit.single_pins), (MULTI, kit.multi_pins))
            kit.pins = [PinState(s, i, False) for s, ps in sets for i in range(1, len(ps) + 1)]
            try:
                async with conn.begin_nested():  # a collision undoes this kit only
                    await conn.execute(db.kits.insert().values(
                        regnum=kit.regnum, product=product, users=users, created=now))
                    await conn.execute(db.pins.insert(), [
                        {"pin_hash": self.keys.pin_hash(p), "regnum": kit.regnum, "pin_set": s,
                         "position": i}
                        for s, ps in sets for i, p in enumerate(ps, 1)
                    ])
                    await audit.awrite(conn, "kit_create", request_id=request_id, regnum=kit.regnum,
                                       actor=actor)
                return kit
            except IntegrityError:
                continue
        raise LicwizError(Msg(N_("Could not create a kit (identifier collisions)")), code="internal")

    async def info(self, regnum: str) -> KitInfo:
        async with self.uow.engine.connect() as conn:
            kit = (await conn.execute(sa.select(db.kits).where(db.kits.c.regnum == regnum))).first()
            if kit is None:
                raise refusals.no_kit(regnum)
            prow = (await conn.execute(
                sa.select(db.pins.c.pin_set, db.pins.c.position, db.pins.c.used_at)
                .where(db.pins.c.regnum == regnum))).all()
        info = KitInfo.from_row(kit)
        order = {SINGLE: 0, MULTI: 1}
        info.pins = sorted((PinState(p.pin_set, p.position, p.used_at is not None) for p in prow),
                           key=lambda p: (order.get(p.pin_set, 2), p.position))
        return info

    async def list_kits(self, limit: int = 1000) -> list[KitInfo]:
        async with self.uow.engine.connect() as conn:
            rows = (await conn.execute(sa.select(db.kits).order_by(db.kits.c.created, db.kits.c.regnum)
                                       .limit(limit))).all()
        return [KitInfo.from_row(r) for r in rows]

    # ---- licenses

    async def list_licenses(self, regnum: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        q = sa.select(db.licenses).order_by(db.licenses.c.issued_at, db.licenses.c.license_id).limit(limit)
        if regnum:
            q = q.where(db.licenses.c.regnum == regnum)
        async with self.uow.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [license_summary(r) for r in rows]

    async def license_info(self, license_id: str) -> dict[str, Any]:
        async with self.uow.engine.connect() as conn:
            row = (await conn.execute(sa.select(db.licenses)
                                      .where(db.licenses.c.license_id == license_id))).first()
        if row is None:
            raise refusals.no_license(license_id)
        return license_summary(row, with_owner=True)

    async def revoke(self, license_id: str, *, request_id: str = "cli",
                     actor: str = "admin") -> dict[str, Any]:
        async with self.uow.writer.begin() as conn:
            res = await conn.execute(db.licenses.update().where(db.licenses.c.license_id == license_id)
                                     .values(status="revoked"))
            if res.rowcount != 1:
                raise refusals.no_license(license_id)
            await audit.awrite(conn, "revoke", request_id=request_id, license_id=license_id,
                               regnum=license_id.split("-")[0], actor=actor)
        return await self.license_info(license_id)
