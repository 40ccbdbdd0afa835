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
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from . import db

T = TypeVar("T")


class UnitOfWork:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.writer = db.writer(engine)
        self._sync: Engine | None = None
        self._sync_w: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._lock_fd: int | None = None
        if engine.dialect.name == "sqlite":
            self._sync = db.make_sync_sqlite_engine(str(engine.url.render_as_string(hide_password=False)))
            self._sync_w = db.writer_sync(self._sync)
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="center-sqlite-writer")
            dbfile = self._sync.url.database
            if dbfile and dbfile != ":memory:":
                self._lock_fd = os.open(f"{dbfile}.writelock", os.O_RDWR | os.O_CREAT, 0o600)

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

    async def close(self) -> None:
        await self.engine.dispose()
        if self._thread is not None:
            self._thread.shutdown(wait=True)
        if self._sync is not None:
            self._sync.dispose()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

