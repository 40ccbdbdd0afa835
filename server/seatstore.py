"""The seat hot path (claim, heartbeat, release) on the raw database drivers.

Why not SQLAlchemy here: measured with bench/seats.py, SQLAlchemy's async
layer (greenlets, plus aiosqlite's thread hop per statement) cost ~3 ms per
acquire+release, over 90% of the server's time. The schema, tokens and
licenses stay on SQLAlchemy (server/db.py); the seat calls use:

- SQLite: the stdlib ``sqlite3`` driver, synchronously in the event loop.
  A claim is a few statements of tens of microseconds (WAL, synchronous=NORMAL,
  no fsync per commit), cheaper than any hand-off to a thread; one connection
  per process, so the loop itself serialises this process's writers, and
  ``BEGIN IMMEDIATE`` excludes the other processes.
- PostgreSQL: an ``asyncpg`` pool; a claim is one call of the
  ``licwiz_claim_seat`` function (server/migrations), which relies on the unique
  constraints instead of a lock.

The rule, in both: renew a live seat of (session, host); else take a slot
below the capacity without a live seat (replacing an expired one); else
report the live holders. UNIQUE (product, slot) and UNIQUE (product,
session, host) (server/migrations) hold in every case.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy.engine import make_url

from .db import Claim, SeatRow

T = TypeVar("T")

_COLS = "seat_id, product, slot, session, host, user_name, granted_at, expires_at"


def _row(r: Sequence[Any]) -> SeatRow:
    return SeatRow(str(r[0]), str(r[1]), int(r[2]), str(r[3]), str(r[4]), str(r[5]), float(r[6]), float(r[7]))


def capacity_of(rows: Iterable[Sequence[Any]], day: str) -> int:
    """rows: (license_id, users, issued, not_after, supersedes)."""
    rs = list(rows)
    superseded = {r[4] for r in rs if r[4]}
    return sum(int(r[1]) for r in rs
               if r[0] not in superseded and r[2] <= day and (r[3] is None or r[3] >= day))


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


class SeatStore(Protocol):
    async def start(self) -> None: ...
    async def claim(self, product: str, session: str, host: str, user: str, lease: float) -> Claim: ...
    async def heartbeat(self, seat_id: str, lease: float) -> SeatRow | None: ...
    async def release(self, seat_id: str) -> bool: ...
    async def close(self) -> None: ...


class SqliteSeats:
    # Saves a query per claim: a license upload (in any process) or an update
    # that supersedes a license takes effect on new claims within this delay.
    # Seats granted before a capacity drop are kept until released anyway.
    CAPACITY_TTL = 1.0

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None
        self._cap: dict[str, tuple[float, str, int]] = {}
        self._lock_fd: int | None = None

    async def start(self) -> None:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        self.conn = conn
        self._lock_fd = os.open(f"{self.path}.seatlock", os.O_RDWR | os.O_CREAT, 0o600)

    @contextlib.contextmanager
    def _writer(self) -> Iterator[sqlite3.Connection]:
        """The seat writers of every server process on this file queue on a
        kernel lock, which hands over at once; SQLite's own busy handler sleeps
        1, 2, 5, 10... ms (with 2 processes: p99 52 ms in bench/seats.py)."""
        c = self._c()
        if self._lock_fd is None:
            yield c
            return
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield c
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _c(self) -> sqlite3.Connection:
        if self.conn is None:
            raise RuntimeError("seat store not started")
        return self.conn

    def _capacity(self, c: sqlite3.Connection, product: str, now: float) -> int:
        day = _today()
        hit = self._cap.get(product)
        if hit is not None and now - hit[0] < self.CAPACITY_TTL and hit[1] == day:
            return hit[2]
        cap = capacity_of(c.execute("SELECT license_id, users, issued, not_after, supersedes "
                                    "FROM licwiz_licenses WHERE product = ?", (product,)), day)
        self._cap[product] = (now, day, cap)
        return cap

    async def claim(self, product: str, session: str, host: str, user: str, lease: float) -> Claim:
        with self._writer() as c:
            return self._claim(c, product, session, host, user, lease)

    def _claim(self, c: sqlite3.Connection, product: str, session: str, host: str, user: str,
               lease: float) -> Claim:
        now = time.time()
        c.execute("BEGIN IMMEDIATE")
        try:
            mine = c.execute(f"SELECT {_COLS} FROM licwiz_seats WHERE product = ? AND session = ? "
                             "AND host = ?", (product, session, host)).fetchone()
            if mine is not None and mine[7] < now:  # this session's own expired seat
                c.execute("DELETE FROM licwiz_seats WHERE seat_id = ?", (mine[0],))
                mine = None
            if mine is not None:
                row = _row(mine)
                c.execute("UPDATE licwiz_seats SET expires_at = ?, user_name = ? WHERE seat_id = ?",
                          (now + lease, user, row.seat_id))
                c.execute("COMMIT")
                return Claim(row, 0, [])
            cap = self._capacity(c, product, now)
            taken = c.execute("SELECT slot, seat_id, expires_at FROM licwiz_seats WHERE product = ?",
                              (product,)).fetchall()
            live = {slot for slot, _, exp in taken if exp >= now}
            free = next((i for i in range(cap) if i not in live), None)
            if free is None:
                holders = [_row(r).holder() for r in c.execute(
                    f"SELECT {_COLS} FROM licwiz_seats WHERE product = ? AND expires_at >= ? ORDER BY slot",
                    (product, now))]
                c.execute("COMMIT")
                return Claim(None, cap, holders)
            expired = next((sid for slot, sid, exp in taken if slot == free), None)
            if expired is not None:  # a vanished client's slot: its lease ran out
                c.execute("DELETE FROM licwiz_seats WHERE seat_id = ?", (expired,))
            row = SeatRow(uuid.uuid4().hex, product, free, session, host, user, now, now + lease)
            c.execute(f"INSERT INTO licwiz_seats ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      (row.seat_id, product, free, session, host, user, now, now + lease))
            c.execute("COMMIT")
            return Claim(row, cap, [])
        except BaseException:
            c.execute("ROLLBACK")
            raise

    async def heartbeat(self, seat_id: str, lease: float) -> SeatRow | None:
        now = time.time()
        with self._writer() as c:
            cur = c.execute("UPDATE licwiz_seats SET expires_at = ? WHERE seat_id = ? AND expires_at >= ?",
                            (now + lease, seat_id, now))
        if cur.rowcount == 0:
            return None
        r = c.execute(f"SELECT {_COLS} FROM licwiz_seats WHERE seat_id = ?", (seat_id,)).fetchone()
        return _row(r) if r is not None else None

    async def release(self, seat_id: str) -> bool:
        with self._writer() as c:
            cur = c.execute("DELETE FROM licwiz_seats WHERE seat_id = ?", (seat_id,))
        return cur.rowcount > 0

    async def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


class PgSeats:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.pool: Any = None
        self._stale: tuple[type[Exception], ...] = ()  # asyncpg's, once started

    async def start(self) -> None:
        import asyncpg  # type: ignore[import-untyped]

        # A heartbeat or release lost in a database crash costs nothing a client
        # cannot repair (its next heartbeat; the lease), so those skip the
        # commit's fsync; a claim turns it back on (licwiz_claim_seat).
        # min_size=0: no floor of connections for asyncpg to restore in the
        # background, which logs a traceback per attempt while PostgreSQL is
        # down; connections are opened by the calls and kept while in use.
        self.pool = await asyncpg.create_pool(self.dsn, min_size=0, max_size=20,
                                              server_settings={"synchronous_commit": "off"})
        self._stale = (asyncpg.exceptions.InternalClientError,)

    async def _call(self, op: Callable[[Any], Awaitable[T]]) -> T:
        """``op(connection)`` on a connection of the pool.

        When PostgreSQL restarts, a connection idle in the pool may have taken
        the server's farewell (FATAL 57P01) without seeing its socket close:
        asyncpg's protocol then waits for an answer that never comes and
        refuses the next statement with ``InternalClientError`` BEFORE sending
        it. Its idle siblings are likely the same: the pool replaces them all
        (``expire_connections``) and the statement runs once more, on a fresh
        connection; a second failure is answered as it comes (an outage: 503).

        The same farewell can come between the statement and the pool's reset
        of the connection on release: the statement's outcome stands (it is
        the answer), and the pool has already dropped that connection (it
        terminates one whose reset fails), so a failed release is not the
        call's failure."""
        for attempt in (1, 2):
            conn = await self.pool.acquire()
            try:
                return await op(conn)
            except self._stale:
                if attempt == 2:
                    raise
                conn.terminate()
                await self.pool.expire_connections()
            finally:
                with contextlib.suppress(Exception):
                    await self.pool.release(conn)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def claim(self, product: str, session: str, host: str, user: str, lease: float) -> Claim:
        now = time.time()
        seat_id = uuid.uuid4().hex
        rows = await self._call(lambda c: c.fetch(
            "SELECT * FROM licwiz_claim_seat($1, $2, $3, $4, $5, $6, $7, $8)",
            product, session, host, user, now, lease, seat_id, _today()))
        if not rows:
            return Claim(None, 0, [])
        cap = int(rows[0]["r_cap"])
        seats = [SeatRow(r["r_seat_id"], product, r["r_slot"], r["r_session"], r["r_host"], r["r_user"],
                         r["r_granted"], now + lease) for r in rows]
        if rows[0]["r_status"] == "full":
            return Claim(None, cap, [s.holder() for s in seats])
        return Claim(seats[0], cap, [])

    async def heartbeat(self, seat_id: str, lease: float) -> SeatRow | None:
        now = time.time()
        r = await self._call(lambda c: c.fetchrow(
            f"UPDATE licwiz_seats SET expires_at = $1 WHERE seat_id = $2 AND expires_at >= $3 "
            f"RETURNING {_COLS}", now + lease, seat_id, now))
        return _row(r) if r is not None else None

    async def release(self, seat_id: str) -> bool:
        status = await self._call(lambda c: c.execute("DELETE FROM licwiz_seats WHERE seat_id = $1", seat_id))
        return bool(status != "DELETE 0")

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None


def store_for(url: str) -> SqliteSeats | PgSeats:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if not u.database or u.database == ":memory:":
            raise ValueError("the license server needs a SQLite file, not an in-memory database")
        return SqliteSeats(u.database)
    if u.get_backend_name() == "postgresql":
        return PgSeats(u.set(drivername="postgresql").render_as_string(hide_password=False))
    raise ValueError(f"unsupported database {u.get_backend_name()!r}")
