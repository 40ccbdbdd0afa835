"""The center's database: tables, engine set-up, migrations.

SQLite (aiosqlite, WAL) is the embedded default; PostgreSQL (asyncpg) the
scale-out path. The schema is defined once here as SQLAlchemy Core tables;
Alembic migrations in ``center/migrations`` create it (``run_migrations``).

Secrets at rest: a SQLite file is created 0600 (its -wal and -shm take the
file's mode) and ``secure_files`` tightens existing ones; ``shown_url`` is
the form of a URL that may be printed or logged (no password).

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
from licwiz.core.errors import LicwizError
from licwiz.core.i18n import N_
from licwiz.core.message import Msg
from licwiz.service.schema import Schema
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
    # HMAC-SHA256 of the PIN under the home's PIN key (center/keystore.py): never the PIN.
    sa.Column("pin_hash", sa.String(64), primary_key=True),
    sa.Column("regnum", sa.String(10), sa.ForeignKey("kits.regnum"), nullable=False, index=True),
    sa.Column("pin_set", sa.String(10), nullable=False),
    # 1, 2, ... within the kit's set, as ``kit create`` listed them: how ``kit show`` names a PIN.
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
)

licenses = sa.Table(
    "licenses", metadata,
    sa.Column("license_id", sa.String(32), primary_key=True),
    sa.Column("regnum", sa.String(10), sa.ForeignKey("kits.regnum"), nullable=False, index=True),
    sa.Column("serial", sa.Integer, nullable=False),
    # The PIN that paid for this license (its hash): each PIN pays for at most one.
    sa.Column("pin_hash", sa.String(64), sa.ForeignKey("pins.pin_hash"), nullable=False, unique=True),
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


def shown_url(url: str) -> str:
    """``url`` as it may be printed or logged: the password, if any, as ``***``."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        # Not parseable as a URL: hide whatever sits between "//user:" and "@".
        head, sep, rest = url.partition("://")
        if sep and "@" in rest and ":" in rest.split("@", 1)[0]:
            creds, host = rest.rsplit("@", 1)
            return f"{head}://{creds.split(':', 1)[0]}:***@{host}"
        return url


def url_password(url: str) -> str | None:
    """The password in ``url`` (so error text can be scrubbed of it), else None."""
    try:
        password = sa.engine.make_url(url).password
    except sa.exc.ArgumentError:
        return None
    return str(password) if password else None


SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal", ".writelock")


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None: PostgreSQL or in-memory)."""
    url = normalise_url(url)
    if not url.startswith("sqlite"):
        return None
    dbfile = sa.engine.make_url(url).database
    return Path(dbfile) if dbfile and dbfile != ":memory:" else None


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (an empty file is an
    empty SQLite database; SQLite gives its -wal and -shm the same mode)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def secure_files(url: str) -> None:
    """Tighten an existing SQLite database and its companions to 0600 (init, serve)."""
    dbfile = sqlite_file(url)
    if dbfile is None:
        return
    create_private_file(dbfile)
    for suffix in SQLITE_COMPANIONS:
        f = Path(f"{dbfile}{suffix}")
        try:
            if f.stat().st_mode & 0o077:
                os.chmod(f, 0o600)
        except FileNotFoundError:
            continue


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
        dbfile = sqlite_file(url)
        if dbfile is not None:
            create_private_file(dbfile)
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


def _schema_error(line: Msg) -> LicwizError:
    return LicwizError(line, code="schema")


UPGRADE_COMMAND = "licwiz center db upgrade"

# The center's migrations (service/schema.py holds the logic both services share).
SCHEMA = Schema(
    folder=Path(__file__).parent / "migrations",
    upgrade_command=UPGRADE_COMMAND,
    error=_schema_error,
    missing=N_("the database has no schema yet: 'licwiz center init' makes it"),
    # 0003 hashes the stored PINs with the home's key: it needs the live database.
    unprintable=N_("the upgrade {at} changes data and cannot be printed as SQL: run "
                   "`{command}` (back the database up first)"),
)


# The schema's state for serve, `center db` and /ready, under their old names.
_alembic_config = SCHEMA.config
head_revision = SCHEMA.head  # the newest revision this code knows
known_revisions = SCHEMA.known
newer = SCHEMA.newer  # the error for a revision this code does not know
schema_problem = SCHEMA.problem  # why serve must not start on a revision (None: it may)
schema_revision = SCHEMA.revision  # None when the database is not set up
upgrade_sql = SCHEMA.upgrade_sql  # what run_migrations would run, as SQL for a DBA; "" at head


async def run_migrations(engine: AsyncEngine, pin_key: bytes | None = None) -> None:
    """Bring the schema to the newest revision (idempotent). ``pin_key``: the
    home's PIN key, for the revision that turns stored PINs into their hashes.
    A revision this licwiz does not know (a newer one wrote the database) is
    one line (``newer``), not Alembic's traceback."""
    await SCHEMA.upgrade(engine, pin_key=pin_key)


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
