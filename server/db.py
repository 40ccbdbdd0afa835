"""The license server's database: SQLite embedded by default, PostgreSQL for
sites that run several servers on one database. Schema, tokens and licenses
via SQLAlchemy; the seat hot path is in seatstore.py (raw drivers, for speed).

Never more seats than users, by construction at the database level:

- every seat takes a slot number in ``seats`` with UNIQUE (product, slot) and
  slot < the product's capacity (sum of users of its valid licenses);
- UNIQUE (product, session, host): one seat per session;
- SQLite: claims are also serialised by ``BEGIN IMMEDIATE`` (one writer at a
  time across processes); PostgreSQL: claims run concurrently and the
  constraints decide (see PG_CLAIM_FUNCTION).

Times are UNIX seconds (float) so both databases compare them the same way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.engine import make_url
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
    # one seat per session: concurrent claims of one session cannot take two slots
    UniqueConstraint("product", "session", "host", name="uq_licwiz_seat_session"),
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


# PostgreSQL: a claim in one round trip, without a lock. The guarantee is the
# schema's: UNIQUE (product, slot) with slot < capacity means never more live
# seats than users, whatever runs concurrently on however many servers; UNIQUE
# (product, session, host) means one seat per session. Claimers start at a
# random slot so they rarely collide; a collision (INSERT ... ON CONFLICT DO
# NOTHING inserts nothing, after waiting for the other claim's commit) just
# retries with a fresh snapshot (READ COMMITTED: every statement sees the
# latest commits). No lock is held across the commit's fsync, so concurrent
# claims share WAL flushes (group commit). Same rule as SqliteSeats: renew a
# live seat of (session, host); else a slot below the capacity without a live
# seat (replacing an expired one); else report the live holders ('full').
PG_CLAIM_FUNCTION = """
CREATE OR REPLACE FUNCTION licwiz_claim_seat(
    p_product text, p_session text, p_host text, p_user text, p_now double precision,
    p_lease double precision, p_seat_id text, p_day text)
RETURNS TABLE(r_status text, r_seat_id text, r_slot integer, r_session text, r_host text,
              r_user text, r_granted double precision, r_cap integer)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    v_cap integer;
    v_slot integer;
    v_id text;
    v_old_slot integer;
    v_granted double precision;
    v_expires double precision;
    v_off integer;
    v_n integer;
BEGIN
    PERFORM set_config('synchronous_commit', 'on', true);  -- a granted seat survives a database crash
    SELECT COALESCE(SUM(l.users), 0) INTO v_cap FROM licwiz_licenses l
     WHERE l.product = p_product AND l.issued <= p_day AND (l.not_after IS NULL OR l.not_after >= p_day)
       AND NOT EXISTS (SELECT 1 FROM licwiz_licenses n
                        WHERE n.product = p_product AND n.supersedes = l.license_id);
    FOR attempt IN 1..200 LOOP
        v_id := NULL;
        SELECT s.seat_id, s.slot, s.granted_at, s.expires_at INTO v_id, v_old_slot, v_granted, v_expires
          FROM licwiz_seats s WHERE s.product = p_product AND s.session = p_session AND s.host = p_host;
        IF v_id IS NOT NULL THEN
            IF v_expires >= p_now THEN
                UPDATE licwiz_seats SET expires_at = p_now + p_lease, user_name = p_user WHERE seat_id = v_id;
                GET DIAGNOSTICS v_n = ROW_COUNT;
                IF v_n = 1 THEN
                    RETURN QUERY SELECT 'renew'::text, v_id, v_old_slot, p_session, p_host, p_user,
                                        v_granted, v_cap;
                    RETURN;
                END IF;
                CONTINUE;  -- released meanwhile: claim afresh
            END IF;
            DELETE FROM licwiz_seats WHERE seat_id = v_id;  -- this session's own expired seat
        END IF;
        v_slot := NULL;
        IF v_cap > 0 THEN
            v_off := floor(random() * v_cap)::integer;
            SELECT g.i INTO v_slot
              FROM (SELECT generate_series(v_off, v_cap - 1) AS i
                    UNION ALL SELECT generate_series(0, v_off - 1)) AS g
             WHERE NOT EXISTS (SELECT 1 FROM licwiz_seats s
                                WHERE s.product = p_product AND s.slot = g.i AND s.expires_at >= p_now)
             LIMIT 1;
        END IF;
        IF v_slot IS NULL THEN
            RETURN QUERY SELECT 'full'::text, s.seat_id::text, s.slot, s.session::text, s.host::text,
                                s.user_name::text, s.granted_at, v_cap
                           FROM licwiz_seats s WHERE s.product = p_product AND s.expires_at >= p_now
                          ORDER BY s.slot;
            RETURN;
        END IF;
        DELETE FROM licwiz_seats s WHERE s.product = p_product AND s.slot = v_slot AND s.expires_at < p_now;
        INSERT INTO licwiz_seats (seat_id, product, slot, session, host, user_name, granted_at, expires_at)
             VALUES (p_seat_id, p_product, v_slot, p_session, p_host, p_user, p_now, p_now + p_lease)
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        IF v_n = 1 THEN
            RETURN QUERY SELECT 'granted'::text, p_seat_id, v_slot, p_session, p_host, p_user, p_now, v_cap;
            RETURN;
        END IF;
    END LOOP;
    RAISE EXCEPTION 'licwiz: seat claim kept colliding';
END
$fn$
"""


async def create_schema(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        if conn.dialect.name == "postgresql":
            await conn.exec_driver_sql(
                "DROP FUNCTION IF EXISTS licwiz_claim_seat(text, text, text, text, double precision, "
                "double precision, text, text, bigint)")  # the first, locking version
            await conn.exec_driver_sql(PG_CLAIM_FUNCTION)


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
