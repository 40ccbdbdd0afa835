"""Group commit on SQLite: the write rules queued behind the writer commit together.

Each process has one SQLite writer thread (center/uow.py); while it runs a
rule, the next ones queue. The writer takes the whole queue (up to
``MAX_BATCH``) at once: one kernel lock of ``<db>.writelock``, one
``BEGIN IMMEDIATE``, each rule inside its own SAVEPOINT, one COMMIT. Each
rule is still all-or-nothing: a rule that raises (a refusal, a UNIQUE broken)
is rolled back to its savepoint and the others stand. No answer leaves
before the COMMIT that made it durable: after a kill -9 a client either has
its license and it is stored, or has no answer and nothing of its request
stands (tests/center/test_center_crash.py). If BEGIN or COMMIT fails (the
file busy past the timeout, the disk full) every rule of the batch gets
that failure (an outage: 503, retried with its Idempotency-Key).

Why: the lock, BEGIN and COMMIT (a WAL append) per activation, and with two
worker processes the hand-over of the lock between them per activation,
were the SQLite center's cost around the statements (issue 13).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from .bare import Rule, drive_sqlite

T = TypeVar("T")
MAX_BATCH = 64

_Item = tuple[Callable[..., Rule[Any]], tuple[Any, ...], "asyncio.Future[Any]", asyncio.AbstractEventLoop]


def _settle(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if fut.cancelled():  # the caller went away; what was committed stands (as before)
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


class GroupCommit:
    """``run(fn, args)``: the rule ``fn("sqlite", *args)`` committed with its queue-mates.
    ``executor``: the one writer thread; ``connect()``: that thread's sqlite3
    connection; ``lock_fd``: the file every process's writers lock (None: in memory)."""

    def __init__(self, executor: Executor, connect: Callable[[], sqlite3.Connection],
                 lock_fd: int | None) -> None:
        self.executor = executor
        self.connect = connect
        self.lock_fd = lock_fd
        self._lock = threading.Lock()
        self._queue: list[_Item] = []
        self._draining = False
        self.largest_batch = 0  # for tests and the bench

    @property
    def queued(self) -> int:
        """Rules waiting for the writer now."""
        with self._lock:
            return len(self._queue)

    async def run(self, fn: Callable[..., Rule[T]], args: tuple[Any, ...]) -> T:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        with self._lock:
            self._queue.append((fn, args, fut, loop))
            start = not self._draining
            self._draining = True
        if start:
            loop.run_in_executor(self.executor, self._drain)
        return await fut

    def _drain(self) -> None:
        """In the writer thread: batches until the queue is empty."""
        while True:
            with self._lock:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                if not batch:
                    self._draining = False
                    return
            self.largest_batch = max(self.largest_batch, len(batch))
            outcomes = self._commit(batch)
            for (_, _, fut, loop), (ok, value) in zip(batch, outcomes, strict=True):
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                    loop.call_soon_threadsafe(_settle, fut, ok, value)

    def _commit(self, batch: list[_Item]) -> list[tuple[bool, Any]]:
        """Every rule's outcome: (True, result) or (False, exception); never raises
        (the queue would wait for a writer that is gone)."""
        outcomes: list[tuple[bool, Any]] = []
        locked = False
        try:
            if self.lock_fd is not None:
                fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
                locked = True
            conn = self.connect()
            conn.execute("BEGIN IMMEDIATE")
            for fn, args, _, _ in batch:
                conn.execute("SAVEPOINT rule")
                try:
                    out = drive_sqlite(conn, fn("sqlite", *args))
                except Exception as exc:
                    conn.execute("ROLLBACK TO rule")
                    conn.execute("RELEASE rule")
                    outcomes.append((False, exc))
                else:
                    conn.execute("RELEASE rule")
                    outcomes.append((True, out))
            conn.execute("COMMIT")
        except Exception as exc:  # the transaction itself failed: nothing of the batch stands
            with contextlib.suppress(Exception):
                conn = self.connect()
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            return [(False, exc)] * len(batch)
        finally:
            if locked and self.lock_fd is not None:
                fcntl.flock(self.lock_fd, fcntl.LOCK_UN)
        return outcomes
