"""The license server's database: SQLite embedded by default, PostgreSQL for
sites that run several servers on one database. Tables, tokens and licenses
via SQLAlchemy; the schema is made by Alembic revisions in server/migrations
(``run_migrations``; the PostgreSQL claim function is part of revision 0001);
the seat hot path is in seatstore.py (raw drivers, for speed).

Never more seats than users, by construction at the database level:

- every seat takes a slot number in ``seats`` with UNIQUE (product, slot) and
  slot < the product's capacity (sum of users of its valid licenses);
- UNIQUE (product, session, host): one seat per session;
- SQLite: claims are also serialised by ``BEGIN IMMEDIATE`` (one writer at a
  time across processes); PostgreSQL: claims run concurrently and the
  constraints decide (see the claim function in migrations/versions/0001).

Times are UNIX seconds (float) so both databases compare them the same way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from licwiz.core.i18n import N_
from licwiz.core.message import Msg
from licwiz.service.schema import Schema
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
    func,
    inspect,
    select,
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

# The seat log (RLM's report log, FlexLM's debug log): one row per grant,
# release, denial and lease expiry, written in the transaction that made it
# (server/seatstore.py; PostgreSQL: the claim function of revision 0002).
# ``event``: grant | release | deny | expire | admin_release; ``at`` is when
# it happened (an expiry: when the lease ran out, found later); ``holders``
# (a denial): the live seats as JSON; ``actor``: who released by hand.
SEAT_EVENTS = ("grant", "release", "deny", "expire", "admin_release")

seat_log = Table(
    "licwiz_seat_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False, index=True),
    Column("event", String(16), nullable=False),
    Column("product", String(100), nullable=False),
    Column("seat_id", String(32), nullable=True),
    Column("slot", Integer, nullable=True),
    Column("session", String(200), nullable=False),
    Column("host", String(200), nullable=False),
    Column("user_name", String(200), nullable=False),
    Column("granted_at", Float, nullable=True),
    Column("capacity", Integer, nullable=True),
    Column("holders", Text, nullable=True),
    Column("actor", String(200), nullable=True),
)
# Expiries by product, counted at every /metrics scrape (revision 0003): only
# the expiry rows are in it, so grants and releases cost no index update.
Index("ix_licwiz_seat_log_expired", seat_log.c.product, sqlite_where=seat_log.c.event == "expire",
      postgresql_where=seat_log.c.event == "expire")


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


VERSION_TABLE = "licwiz_schema_version"


class SchemaError(ValueError):
    """The database's schema is not the one this licwiz runs on (one line, for an operator).
    ``text``: the line, English as ``str(exc)``, in the user's language with
    ``localized`` (a ``Msg``, as far as it was written translatable)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


UPGRADE_COMMAND = "licwiz server db upgrade"

# The server's migrations (service/schema.py holds the logic both services share).
SCHEMA = Schema(
    folder=Path(__file__).parent / "migrations",
    upgrade_command=UPGRADE_COMMAND,
    error=SchemaError,
    missing=N_("this database has no license server schema yet: 'licwiz server init' makes it"),
    version_table=VERSION_TABLE,
)

# The schema's state for serve, `server db` and /ready, under their old names.
head_revision = SCHEMA.head  # the newest revision this code knows
known_revisions = SCHEMA.known
newer = SCHEMA.newer  # the error for a revision this code does not know
schema_revision = SCHEMA.revision  # None when the database is not set up
upgrade_sql = SCHEMA.upgrade_sql  # what run_migrations would run, as SQL for a DBA; "" at head


def schema_problem(revision: str | None, legacy: bool = False) -> SchemaError | None:
    """Why ``serve`` must not start on a schema at ``revision`` (None: at head).
    ``legacy``: the tables exist without a version (made before Alembic)."""
    if revision is None and legacy:
        return SchemaError(Msg(N_("the database schema is at revision none (made before schema versions), "
                                  "this licwiz needs {head}: run `{command}`"),
                               head=head_revision(), command=UPGRADE_COMMAND))
    return SCHEMA.problem(revision)


async def has_tables(engine: AsyncEngine) -> bool:
    """The server's tables are there (with or without a schema version)."""
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    return config.name in names


async def run_migrations(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (idempotent). A database made by
    ``create_all`` before the server used Alembic is adopted: revision 0001
    creates only what is missing. A revision this licwiz does not know (a newer
    one wrote the database) is ``SchemaError``, not Alembic's traceback."""
    await SCHEMA.upgrade(engine)


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


async def leases_expired(engine: AsyncEngine) -> dict[str, int]:
    """Leases that ran out, by product, ever: the seat log's expiry rows and the
    seats past their lease that no claim has swept into the log yet (a sweep
    moves a seat from one count to the other, so the sum never goes down)."""
    now = time.time()
    logged = (select(seat_log.c.product, func.count()).where(seat_log.c.event == "expire")
              .group_by(seat_log.c.product))
    unswept = (select(seats.c.product, func.count()).where(seats.c.expires_at < now)
               .group_by(seats.c.product))
    out: dict[str, int] = {}
    async with engine.connect() as conn:
        for q in (logged, unswept):
            for product, n in (await conn.execute(q)).all():
                out[product] = out.get(product, 0) + int(n)
    return out


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
