"""The license server's database: SQLite embedded by default, PostgreSQL for
sites that run several servers on one database.

Never more seats than users, by construction at the database level:

- every seat takes a slot number in ``seats`` with UNIQUE (product, slot) and
  slot < the product's capacity (sum of users of its valid licenses);
- claims of one product are serialised: PostgreSQL by a transaction-scoped
  advisory lock keyed by the product (held until COMMIT, across every server
  process on the database), SQLite by ``BEGIN IMMEDIATE`` (one writer at a
  time across processes). The unique constraint stays as the last guard.

Times are UNIX seconds (float) so both databases compare them the same way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

metadata = MetaData()

config = Table(
    "licwiz_config", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

licenses = Table(
    "licwiz_licenses", metadata,
    Column("license_id", String(64), primary_key=True),
    Column("product", String(100), nullable=False, index=True),
    Column("users", Integer, nullable=False),
    Column("issued", String(10), nullable=False),
    Column("not_after", String(10), nullable=True),
    Column("supersedes", String(64), nullable=True),
    Column("text", Text, nullable=False),
    Column("installed_at", Float, nullable=False),
)

seats = Table(
    "licwiz_seats", metadata,
    Column("seat_id", String(32), primary_key=True),
    Column("product", String(100), nullable=False),
    Column("slot", Integer, nullable=False),
    Column("session", String(200), nullable=False),
    Column("host", String(200), nullable=False),
    Column("user_name", String(200), nullable=False),
    Column("granted_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    UniqueConstraint("product", "slot", name="uq_licwiz_seat_slot"),
    Index("ix_licwiz_seat_session", "product", "session", "host"),
)


def default_sqlite_url(path: str) -> str:
    return f"sqlite+aiosqlite:///{path}"


def make_engine(url: str) -> AsyncEngine:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _connect(dbapi_conn: Any, _rec: Any) -> None:
            # Let SQLAlchemy's "begin" below issue BEGIN IMMEDIATE itself
            # instead of the driver's deferred BEGIN.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
            cur.execute("PRAGMA synchronous=NORMAL")  # WAL keeps it crash-safe
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if u.get_backend_name() == "postgresql":
        return create_async_engine(url, pool_size=20, max_overflow=10)
    raise ValueError(f"unsupported database {u.get_backend_name()!r} "
                     "(use sqlite+aiosqlite or postgresql+asyncpg)")


async def create_schema(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)


def token_hash(token: str) -> str:
    return hashlib.sha256(f"licwiz-server-token-v1:{token}".encode()).hexdigest()


async def set_config(engine: AsyncEngine, values: dict[str, str]) -> None:
    async with engine.begin() as conn:
        for k, v in values.items():
            await conn.execute(config.delete().where(config.c.key == k))
            await conn.execute(config.insert().values(key=k, value=v))


async def get_config(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = (await conn.execute(config.select())).all()
    return {r.key: r.value for r in rows}


def _product_lock_key(product: str) -> int:
    return int.from_bytes(hashlib.sha256(f"licwiz-seats:{product}".encode()).digest()[:8], "big", signed=True)


async def lock_product(conn: AsyncConnection, product: str) -> None:
    """Serialise seat claims of ``product`` until the transaction ends."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _product_lock_key(product)})
    # SQLite: the transaction began with BEGIN IMMEDIATE, which already excludes other writers.


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class SeatRow:
    seat_id: str
    product: str
    slot: int
    session: str
    host: str
    user: str
    granted_at: float
    expires_at: float

    def holder(self) -> dict[str, Any]:
        return {"user": self.user, "host": self.host, "session": self.session,
                "since": iso(self.granted_at), "slot": self.slot}


def _seat(r: Any) -> SeatRow:
    return SeatRow(r.seat_id, r.product, r.slot, r.session, r.host, r.user_name, r.granted_at, r.expires_at)


async def capacity(conn: AsyncConnection, product: str, today: dt.date | None = None) -> int:
    """Users of the product's licenses valid today; a superseded license no longer counts."""
    day = (today or dt.datetime.now(dt.UTC).date()).isoformat()
    rows = (await conn.execute(
        licenses.select().with_only_columns(
            licenses.c.license_id, licenses.c.users, licenses.c.issued, licenses.c.not_after,
            licenses.c.supersedes,
        ).where(licenses.c.product == product)
    )).all()
    superseded = {r.supersedes for r in rows if r.supersedes}
    return sum(r.users for r in rows if r.license_id not in superseded and r.issued <= day
               and (r.not_after is None or r.not_after >= day))


@dataclass(frozen=True, slots=True)
class Claim:
    seat: SeatRow | None
    capacity: int
    holders: list[dict[str, Any]]


async def claim_seat(engine: AsyncEngine, product: str, session: str, host: str, user: str,
                     lease: float) -> Claim:
    """Grant (or renew) the seat of (session, host), or report who holds them all."""
    for _attempt in range(5):
        now = time.time()
        try:
            async with engine.begin() as conn:
                await lock_product(conn, product)
                await conn.execute(seats.delete().where(seats.c.product == product, seats.c.expires_at < now))
                rows = [_seat(r) for r in (await conn.execute(
                    seats.select().where(seats.c.product == product))).all()]
                for s in rows:
                    if s.session == session and s.host == host:
                        await conn.execute(seats.update().where(seats.c.seat_id == s.seat_id)
                                           .values(expires_at=now + lease, user_name=user))
                        return Claim(s, len(rows), [])
                cap = await capacity(conn, product)
                used = {s.slot for s in rows}
                free = next((i for i in range(cap) if i not in used), None)
                if free is None:
                    return Claim(None, cap, [s.holder() for s in sorted(rows, key=lambda s: s.slot)])
                row = SeatRow(uuid.uuid4().hex, product, free, session, host, user, now, now + lease)
                await conn.execute(seats.insert().values(
                    seat_id=row.seat_id, product=product, slot=free, session=session, host=host,
                    user_name=user, granted_at=now, expires_at=now + lease))
                return Claim(row, cap, [])
        except IntegrityError:
            continue  # a claimer outside the lock (should not happen); the constraint held: retry
    raise RuntimeError("seat claim kept colliding")


async def heartbeat(engine: AsyncEngine, seat_id: str, lease: float) -> SeatRow | None:
    now = time.time()
    async with engine.begin() as conn:
        res = await conn.execute(seats.update().where(seats.c.seat_id == seat_id, seats.c.expires_at >= now)
                                 .values(expires_at=now + lease))
        if res.rowcount == 0:
            return None
        r = (await conn.execute(seats.select().where(seats.c.seat_id == seat_id))).first()
    return _seat(r) if r is not None else None


async def release(engine: AsyncEngine, seat_id: str) -> bool:
    async with engine.begin() as conn:
        res = await conn.execute(seats.delete().where(seats.c.seat_id == seat_id))
        return bool(res.rowcount)


async def seats_in_use(engine: AsyncEngine, product: str | None = None) -> list[SeatRow]:
    now = time.time()
    q = seats.select().where(seats.c.expires_at >= now).order_by(seats.c.product, seats.c.slot)
    if product is not None:
        q = q.where(seats.c.product == product)
    async with engine.connect() as conn:
        return [_seat(r) for r in (await conn.execute(q)).all()]


async def store_license(engine: AsyncEngine, lic_id: str, product: str, users: int, issued: str,
                        not_after: str | None, supersedes: str | None, text_: str) -> bool:
    """Store (or replace) a license; True when it was new."""
    async with engine.begin() as conn:
        res = await conn.execute(licenses.delete().where(licenses.c.license_id == lic_id))
        await conn.execute(licenses.insert().values(
            license_id=lic_id, product=product, users=users, issued=issued, not_after=not_after,
            supersedes=supersedes, text=text_, installed_at=time.time()))
        return res.rowcount == 0


async def list_licenses(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(licenses.select().order_by(licenses.c.product,
                                                                   licenses.c.license_id))).all())
