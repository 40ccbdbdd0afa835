"""The center's unit of work: one transaction per rule, run where the database
wants it.

The rules are plain synchronous functions on one SQLAlchemy ``Connection``
(``fn(conn, *args)``), so a whole activation is one transaction:

- SQLite: on a stdlib-driver twin of the async engine, in ONE writer thread
  per process (one thread hop per activation instead of one per statement),
  writers opening with ``BEGIN IMMEDIATE``; the writers of ALL processes on
  the file queue on a kernel lock of ``<db>.writelock``, which hands over at
  once, where SQLite's own busy handler sleeps in growing steps (p99 spikes).
  Reads run in the loop's default thread pool, without the lock.
- PostgreSQL: through ``AsyncConnection.run_sync`` on asyncpg.

The async engine (``engine``) and its writer twin (``writer``) serve the
admin side (kits, operators, settings), which awaits statement by statement.

The hot path (the activation and its check) runs as a rule on the bare
drivers (``run_rule``, center/bare.py): sqlite3 in the same writer thread
under the same locks, the rules queued there committed together
(center/groupcommit.py), or an asyncpg pool whose connections are not reset on
release (every rule leaves its transaction closed: a reset would be one more
round trip per call, 16% of the seat server's time in issue 13).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from . import db
from .bare import Rule, drive_pg, drive_sqlite, sqlite_row
from .groupcommit import GroupCommit

T = TypeVar("T")
RuleFn = Callable[..., Rule[T]]


async def _no_reset(conn: Any) -> None:
    """asyncpg's pool release without RESET ALL and friends; only an open
    transaction (a rule cut short) is rolled back."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def _connection_lost(conn: Any) -> bool:
    """Whether asyncpg's connection (a pool proxy) is gone: closed, or detached
    from its proxy, whose methods then raise InterfaceError instead of answering."""
    try:
        return bool(conn.is_closed())
    except Exception:
        return True


class UnitOfWork:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.writer = db.writer(engine)
        self._sync: Engine | None = None
        self._sync_w: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._lock_fd: int | None = None
        self._dbfile: str | None = None
        self._bare = threading.local()  # a sqlite3 connection per thread (writer, readers)
        self._bare_all: list[sqlite3.Connection] = []
        self._pool: Any = None
        self._pool_lock = asyncio.Lock()
        self._stale: tuple[type[Exception], ...] = ()
        if engine.dialect.name == "sqlite":
            self._sync = db.make_sync_sqlite_engine(str(engine.url.render_as_string(hide_password=False)))
            self._sync_w = db.writer_sync(self._sync)
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="center-sqlite-writer")
            dbfile = self._sync.url.database
            self._dbfile = dbfile or ":memory:"
            if dbfile and dbfile != ":memory:":
                self._lock_fd = os.open(f"{dbfile}.writelock", os.O_RDWR | os.O_CREAT, 0o600)
            self.group = GroupCommit(self._thread, self._sqlite, self._lock_fd)

    async def run(self, fn: Callable[..., T], *args: Any, write: bool = True) -> T:
        """``fn(conn, *args)`` in one transaction; ``write=False`` for read-only rules."""
        if self._sync is not None:
            sync = (self._sync_w if write else self._sync) or self._sync
            lock_fd = self._lock_fd if write else None

            def work() -> T:
                if lock_fd is None:
                    with sync.begin() as conn:
                        return fn(conn, *args)
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
                try:
                    with sync.begin() as conn:
                        return fn(conn, *args)
                finally:
                    fcntl.flock(lock_fd, fcntl.LOCK_UN)

            executor = self._thread if write else None
            return await asyncio.get_running_loop().run_in_executor(executor, work)
        engine = self.writer if write else self.engine
        async with engine.begin() as aconn:
            result: T = await aconn.run_sync(fn, *args)
            return result

    # ---- the bare path

    def _sqlite(self) -> sqlite3.Connection:
        """This thread's sqlite3 connection, with the pragmas of db.py's engines."""
        conn: sqlite3.Connection | None = getattr(self._bare, "conn", None)
        if conn is None:
            assert self._dbfile is not None
            conn = sqlite3.connect(self._dbfile, timeout=30, isolation_level=None, check_same_thread=False)
            for pragma in ("journal_mode=WAL", "busy_timeout=30000", "synchronous=NORMAL", "foreign_keys=ON"):
                conn.execute(f"PRAGMA {pragma}")
            conn.row_factory = sqlite_row
            self._bare.conn = conn
            self._bare_all.append(conn)
        return conn

    @contextlib.contextmanager
    def _sqlite_txn(self) -> Iterator[sqlite3.Connection]:
        """A read transaction on this thread's connection."""
        conn = self._sqlite()
        conn.execute("BEGIN")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    async def _pg_pool(self) -> Any:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    import asyncpg  # type: ignore[import-untyped]

                    dsn = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
                    # min_size=0: no floor of connections for asyncpg to restore in the
                    # background while PostgreSQL is down (a traceback per attempt).
                    self._pool = await asyncpg.create_pool(dsn, min_size=0, max_size=10, reset=_no_reset)
                    self._stale = (asyncpg.exceptions.InternalClientError,)
        return self._pool

    async def run_rule(self, fn: RuleFn[T], *args: Any, write: bool = True) -> T:
        """The rule ``fn(dialect, *args)`` (center/bare.py) in one transaction on
        the bare driver; ``write=False`` for a rule that only reads."""
        if self._dbfile is not None:
            if write:  # committed with the writes queued beside it (center/groupcommit.py)
                return await self.group.run(fn, args)

            def read() -> T:
                with self._sqlite_txn() as conn:
                    return drive_sqlite(conn, fn("sqlite", *args))

            return await asyncio.get_running_loop().run_in_executor(None, read)
        pool = await self._pg_pool()
        for attempt in (1, 2):
            conn = await pool.acquire()
            try:
                async with conn.transaction():
                    return await drive_pg(conn, fn("postgresql", *args))
            except self._stale:
                # A connection idle in the pool across a PostgreSQL restart fails
                # BEFORE its first statement is sent (server/seatstore.py): nothing
                # ran; its siblings are replaced and the rule runs once more.
                if attempt == 2:
                    raise
                conn.terminate()
                await pool.expire_connections()
            except Exception as exc:
                # PostgreSQL went away under the rule: asyncpg then raises an
                # InterfaceError ("the underlying connection is closed"), not one of
                # its connection errors. The connection's state says it is an outage
                # (503, the client retries with its key), not a bug (500).
                if _connection_lost(conn):
                    raise ConnectionError("the PostgreSQL connection closed during the transaction") from exc
                raise
            finally:
                with contextlib.suppress(Exception):
                    await pool.release(conn)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        await self.engine.dispose()
        if self._thread is not None:
            self._thread.shutdown(wait=True)
        for conn in self._bare_all:
            conn.close()
        self._bare_all.clear()
        if self._sync is not None:
            self._sync.dispose()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

