"""The center's database: tables, engine set-up, migrations.

SQLite (aiosqlite, WAL) is the embedded default; PostgreSQL (asyncpg) the
scale-out path. The schema is defined once here as SQLAlchemy Core tables;
Alembic migrations in ``center/migrations`` create it (``run_migrations``).

SQLite concurrency: several ``serve`` processes share one file. Write
transactions are opened with ``BEGIN IMMEDIATE`` (execution option
``sqlite_begin``), so the write lock is taken up front and waited for under
the busy timeout; a deferred transaction that reads first and writes later
could fail with SQLITE_BUSY when another process wrote in between.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, overload

import platformdirs
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

metadata = sa.MetaData()

kits = sa.Table(
    "kits", metadata,
    sa.Column("regnum", sa.String(10), primary_key=True),
    sa.Column("product", sa.String(100), nullable=False),
    sa.Column("users", sa.Integer, nullable=False),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    # The PIN set chosen by the first PIN spent: NULL until then, "single" or "multi".
    sa.Column("pin_set", sa.String(10), nullable=True),
    # Licenses issued so far; the next license's serial is issued + 1.
    sa.Column("issued", sa.Integer, nullable=False, server_default="0"),
    # PIN-guessing throttle (kept here, not in process memory: processes share it).
    sa.Column("failed_pins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lock_level", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
)

pins = sa.Table(
    "pins", metadata,
    sa.Column("pin", sa.String(15), primary_key=True),
    sa.Column("regnum", sa.String(10), sa.ForeignKey("kits.regnum"), nullable=False, index=True),
    sa.Column("pin_set", sa.String(10), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
)

licenses = sa.Table(
    "licenses", metadata,
    sa.Column("license_id", sa.String(32), primary_key=True),
    sa.Column("regnum", sa.String(10), sa.ForeignKey("kits.regnum"), nullable=False, index=True),
    sa.Column("serial", sa.Integer, nullable=False),
    # The PIN that paid for this license: each PIN pays for at most one.
    sa.Column("pin", sa.String(15), sa.ForeignKey("pins.pin"), nullable=False, unique=True),
    sa.Column("product", sa.String(100), nullable=False),
    sa.Column("users", sa.Integer, nullable=False),
    sa.Column("pin_set", sa.String(10), nullable=False),
    sa.Column("method", sa.String(10), nullable=False),
    sa.Column("owner_json", sa.Text, nullable=False),  # canonical form, for support; never logged
    sa.Column("owner_digest", sa.String(64), nullable=False),
    sa.Column("params_json", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),  # active | superseded | revoked
    sa.Column("supersedes", sa.String(32), nullable=True),
    sa.Column("superseded_by", sa.String(32), nullable=True),
    sa.Column("request_id", sa.String(40), nullable=False),
    sa.UniqueConstraint("regnum", "serial", name="uq_licenses_regnum_serial"),
)

idempotency = sa.Table(
    "idempotency", metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("body_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("response", sa.Text, nullable=False),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
)

addr_failures = sa.Table(
    "addr_failures", metadata,
    sa.Column("addr", sa.String(64), primary_key=True),
    sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
)

audit = sa.Table(
    "audit", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("request_id", sa.String(40), nullable=False),
    sa.Column("event", sa.String(20), nullable=False),
    sa.Column("code", sa.String(40), nullable=True),
    sa.Column("regnum", sa.String(10), nullable=True),
    sa.Column("license_id", sa.String(32), nullable=True),
    sa.Column("actor", sa.String(100), nullable=True),
    sa.Column("client_addr", sa.String(64), nullable=True),
)

operators = sa.Table(
    "operators", metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
)

settings = sa.Table(
    "settings", metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


def default_db_url(home: Path | None = None) -> str:
    """``LICWIZ_CENTER_DB``, else ``center.db`` beside the keys in ``home`` (default
    licwiz/center under the user's state dir): one home is one whole center."""
    env = os.environ.get("LICWIZ_CENTER_DB")
    if env:
        return env
    folder = home if home is not None else Path(platformdirs.user_state_dir("licwiz")) / "center"
    return f"sqlite+aiosqlite:///{folder / 'center.db'}"


def normalise_url(url: str) -> str:
    """Accept plain ``sqlite:///`` and ``postgresql://`` URLs and a bare file path."""
    if "://" not in url:
        return f"sqlite+aiosqlite:///{Path(url).resolve()}"
    scheme, rest = url.split("://", 1)
    if scheme == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+asyncpg://{rest}"
    return url


def is_sqlite(url: str) -> bool:
    return normalise_url(url).startswith("sqlite")


def _sqlite_events(engine: sa.engine.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE is ours to emit.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_sync_sqlite_engine(url: str) -> sa.engine.Engine:
    """The stdlib-driver twin of an aiosqlite engine (same file, same pragmas)."""
    sync_url = sa.engine.make_url(normalise_url(url)).set(drivername="sqlite")
    engine = sa.create_engine(sync_url, pool_size=8, max_overflow=8, pool_timeout=60, hide_parameters=True,
                              connect_args={"timeout": 30, "check_same_thread": False})
    _sqlite_events(engine)
    return engine


def writer_sync(engine: sa.engine.Engine) -> sa.engine.Engine:
    return engine.execution_options(sqlite_begin="IMMEDIATE")


def make_engine(url: str, **kw: Any) -> AsyncEngine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        dbfile = sa.engine.make_url(url).database
        if dbfile and dbfile != ":memory:":
            Path(dbfile).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url, pool_size=kw.pop("pool_size", 4), max_overflow=kw.pop("max_overflow", 4),
            pool_timeout=60, connect_args={"timeout": 30}, **kw,
        )
        _sqlite_events(engine.sync_engine)
        return engine
    return create_async_engine(
        url, pool_size=kw.pop("pool_size", 10), max_overflow=kw.pop("max_overflow", 10),
        pool_pre_ping=False, **kw,
    )


def writer(engine: AsyncEngine) -> AsyncEngine:
    """The same engine, opening write transactions with BEGIN IMMEDIATE on SQLite."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_begin="IMMEDIATE")
    return engine


def _alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return cfg


async def run_migrations(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    from alembic import command

    cfg = _alembic_config()

    def _upgrade(sync_conn: Any) -> None:
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, "head")

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


async def schema_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        try:
            row = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).first()
        except sa.exc.DBAPIError:
            return None
        return str(row[0]) if row else None


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@overload
def aware(value: dt.datetime) -> dt.datetime: ...
@overload
def aware(value: dt.datetime | None) -> dt.datetime | None: ...
def aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes; they were written as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)
