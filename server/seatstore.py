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

The seat log: every grant, release, denial (with the holders) and lease
expiry is a row of ``licwiz_seat_log`` written in the same transaction as the
seat change (PostgreSQL: inside the claim function, or the release's one
statement), and a JSON line on the ``licwiz.server.seatlog`` logger. A claim
first sweeps the product's expired seats: that is when an expiry is found
(logged at the moment the lease ran out). Renewals and heartbeats are not
logged (they change no seat).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from licwiz.service.ids import new_id
from sqlalchemy.engine import make_url

from .db import Claim, SeatRow
from .logthread import LineThread

T = TypeVar("T")

_COLS = "seat_id, product, slot, session, host, user_name, granted_at, expires_at"
_LOG_COLS = ("at, event, product, seat_id, slot, session, host, user_name, granted_at, capacity, holders, "
             "actor")

LOG = logging.getLogger("licwiz.server.seatlog")


_writer: LineThread[tuple[Any, ...]] | None = None


def log_to_stderr() -> None:
    """Start the seat log's writer. Its records go to the handlers the process
    set up (a service's JSON formatter on the root logger), else to stderr as
    they are (JSON text)."""
    global _writer
    if _writer is not None:
        return
    LOG.setLevel(logging.INFO)
    if not LOG.handlers and not logging.getLogger().handlers:
        plain = logging.StreamHandler(sys.stderr)
        plain.setFormatter(logging.Formatter("%(message)s"))
        LOG.addHandler(plain)
        LOG.propagate = False
    # Off the event loop (server/logthread.py): a line made and written there cost
    # ~75 us of its time, as much as the claim itself (bench/seats.py).
    _writer = LineThread.started("licwiz-seatlog", lambda event: _write(*event))


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds")


def emit(event: str, seat: SeatRow | None, at: float, *, product: str = "", session: str = "",
         host: str = "", user: str = "", capacity: int | None = None,
         holders: list[dict[str, Any]] | None = None, actor: str | None = None) -> None:
    """Queue one JSON line for one seat log row (the row itself is already written)."""
    if _writer is not None:
        _writer.put((event, seat, at, product, session, host, user, capacity, holders, actor))


def _write(event: str, seat: SeatRow | None, at: float, product: str, session: str, host: str, user: str,
           capacity: int | None, holders: list[dict[str, Any]] | None, actor: str | None) -> None:
    doc: dict[str, Any] = {"at": _iso(at), "event": f"seat.{event}"}
    if seat is not None:
        doc.update(product=seat.product, seat_id=seat.seat_id, slot=seat.slot, user=seat.user,
                   host=seat.host, session=seat.session)
    else:
        doc.update(product=product, user=user, host=host, session=session)
    if capacity is not None:
        doc["capacity"] = capacity
    if holders is not None:
        doc["holders"] = holders
    if actor is not None:
        doc["actor"] = actor
    LOG.info(json.dumps(doc, ensure_ascii=False), extra={"licwiz_event": doc})


def _ended(seat: SeatRow, now: float, actor: str | None) -> tuple[str, float, str | None]:
    """How a seat's release is logged: (event, at, actor). A seat whose lease ran
    out before the release (and no claim swept it yet) ended then, as an expiry:
    the seat log, the report and the expiry count say so, whoever asks later."""
    if seat.expires_at < now:
        return "expire", seat.expires_at, None
    return ("release" if actor is None else "admin_release"), now, actor


def _log_holder(r: SeatRow) -> dict[str, Any]:
    return {"slot": r.slot, "user": r.user, "host": r.host, "session": r.session}


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
    async def release(self, seat_id: str, actor: str | None = None) -> bool: ...
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
        log_to_stderr()
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
            # Leases that ran out are found here, this session's own among them.
            expired = [_row(r) for r in c.execute(
                f"DELETE FROM licwiz_seats WHERE product = ? AND expires_at < ? RETURNING {_COLS}",
                (product, now))]
            if expired:
                c.executemany(f"INSERT INTO licwiz_seat_log ({_LOG_COLS}) "
                              "VALUES (?, 'expire', ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL)",
                              [(r.expires_at, product, r.seat_id, r.slot, r.session, r.host, r.user,
                                r.granted_at) for r in expired])
            mine = c.execute(f"SELECT {_COLS} FROM licwiz_seats WHERE product = ? AND session = ? "
                             "AND host = ?", (product, session, host)).fetchone()
            if mine is not None:
                row = _row(mine)
                c.execute("UPDATE licwiz_seats SET expires_at = ?, user_name = ? WHERE seat_id = ?",
                          (now + lease, user, row.seat_id))
                c.execute("COMMIT")
                self._emit_expired(expired)
                return Claim(row, 0, [])
            cap = self._capacity(c, product, now)
            taken = c.execute("SELECT slot, seat_id, expires_at FROM licwiz_seats WHERE product = ?",
                              (product,)).fetchall()
            live = {slot for slot, _, exp in taken if exp >= now}
            free = next((i for i in range(cap) if i not in live), None)
            if free is None:
                holders = [_row(r) for r in c.execute(
                    f"SELECT {_COLS} FROM licwiz_seats WHERE product = ? AND expires_at >= ? ORDER BY slot",
                    (product, now))]
                logged = [_log_holder(r) for r in holders]
                c.execute(f"INSERT INTO licwiz_seat_log ({_LOG_COLS}) "
                          "VALUES (?, 'deny', ?, NULL, NULL, ?, ?, ?, NULL, ?, ?, NULL)",
                          (now, product, session, host, user, cap, json.dumps(logged)))
                c.execute("COMMIT")
                self._emit_expired(expired)
                emit("deny", None, now, product=product, session=session, host=host, user=user,
                     capacity=cap, holders=logged)
                return Claim(None, cap, [r.holder() for r in holders])
            row = SeatRow(new_id(), product, free, session, host, user, now, now + lease)
            c.execute(f"INSERT INTO licwiz_seats ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      (row.seat_id, product, free, session, host, user, now, now + lease))
            c.execute(f"INSERT INTO licwiz_seat_log ({_LOG_COLS}) "
                      "VALUES (?, 'grant', ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                      (now, product, row.seat_id, free, session, host, user, now, cap))
            c.execute("COMMIT")
            self._emit_expired(expired)
            emit("grant", row, now, capacity=cap)
            return Claim(row, cap, [])
        except BaseException:
            c.execute("ROLLBACK")
            raise

    @staticmethod
    def _emit_expired(expired: list[SeatRow]) -> None:
        for r in expired:
            emit("expire", r, r.expires_at)

    async def heartbeat(self, seat_id: str, lease: float) -> SeatRow | None:
        now = time.time()
        with self._writer() as c:
            cur = c.execute("UPDATE licwiz_seats SET expires_at = ? WHERE seat_id = ? AND expires_at >= ?",
                            (now + lease, seat_id, now))
        if cur.rowcount == 0:
            return None
        r = c.execute(f"SELECT {_COLS} FROM licwiz_seats WHERE seat_id = ?", (seat_id,)).fetchone()
        return _row(r) if r is not None else None

    async def release(self, seat_id: str, actor: str | None = None) -> bool:
        """Free a seat; ``actor``: an administrator releasing it by hand (logged as such).
        False when no seat is held: none by that id, or its lease ran out (then the
        seat goes, logged as the expiry it was: see ``_ended``)."""
        now = time.time()
        with self._writer() as c:
            c.execute("BEGIN IMMEDIATE")
            try:
                got = c.execute(f"DELETE FROM licwiz_seats WHERE seat_id = ? RETURNING {_COLS}",
                                (seat_id,)).fetchone()
                if got is not None:
                    r = _row(got)
                    event, at, who = _ended(r, now, actor)
                    c.execute(f"INSERT INTO licwiz_seat_log ({_LOG_COLS}) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?)",
                              (at, event, r.product, r.seat_id, r.slot, r.session, r.host, r.user,
                               r.granted_at, who))
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        if got is None:
            return False
        emit(event, r, at, actor=who)
        return event != "expire"

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
        log_to_stderr()
        import asyncpg  # type: ignore[import-untyped]

        # A heartbeat or release lost in a database crash costs nothing a client
        # cannot repair (its next heartbeat; the lease), so those skip the
        # commit's fsync; a claim turns it back on (licwiz_claim_seat).
        # min_size=0: no floor of connections for asyncpg to restore in the
        # background, which logs a traceback per attempt while PostgreSQL is
        # down; connections are opened by the calls and kept while in use.
        self.pool = await asyncpg.create_pool(self.dsn, min_size=0, max_size=20, reset=_keep_session,
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
        seat_id = new_id()
        rows = await self._call(lambda c: c.fetch(
            "SELECT * FROM licwiz_claim_seat($1, $2, $3, $4, $5, $6, $7, $8)",
            product, session, host, user, now, lease, seat_id, _today()))
        for r in rows:
            if r["r_status"] == "expired":  # logged by the function; the lines here
                emit("expire", _pg_seat(r, product), r["r_expires"])
        rows = [r for r in rows if r["r_status"] != "expired"]
        if not rows or rows[0]["r_status"] == "full":
            cap = int(rows[0]["r_cap"]) if rows else 0
            live = [_pg_seat(r, product) for r in rows]
            emit("deny", None, now, product=product, session=session, host=host, user=user, capacity=cap,
                 holders=[_log_holder(s) for s in live])
            return Claim(None, cap, [s.holder() for s in live])
        seat = _pg_seat(rows[0], product)
        if rows[0]["r_status"] == "granted":
            emit("grant", seat, now, capacity=int(rows[0]["r_cap"]))
        return Claim(seat, int(rows[0]["r_cap"]), [])

    async def heartbeat(self, seat_id: str, lease: float) -> SeatRow | None:
        now = time.time()
        r = await self._call(lambda c: c.fetchrow(
            f"UPDATE licwiz_seats SET expires_at = $1 WHERE seat_id = $2 AND expires_at >= $3 "
            f"RETURNING {_COLS}", now + lease, seat_id, now))
        return _row(r) if r is not None else None

    async def release(self, seat_id: str, actor: str | None = None) -> bool:
        """Free a seat and log it, in one statement; ``actor``: released by hand.
        As ``SqliteSeats.release`` (a seat whose lease ran out is logged as expired)."""
        now = time.time()
        event = "release" if actor is None else "admin_release"
        got = await self._call(lambda c: c.fetchrow(
            f"WITH gone AS (DELETE FROM licwiz_seats WHERE seat_id = $1 RETURNING {_COLS}), "
            f"logged AS (INSERT INTO licwiz_seat_log ({_LOG_COLS}) "
            "SELECT CASE WHEN expires_at < $2 THEN expires_at ELSE $2 END, "
            "CASE WHEN expires_at < $2 THEN 'expire' ELSE $3 END, product, seat_id, slot, session, host, "
            "user_name, granted_at, NULL, NULL, CASE WHEN expires_at < $2 THEN NULL ELSE $4 END "
            f"FROM gone) SELECT {_COLS} FROM gone", seat_id, now, event, actor))
        if got is None:
            return False
        r = _row(got)
        event, at, who = _ended(r, now, actor)
        emit(event, r, at, actor=who)
        return event != "expire"

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None


async def _keep_session(conn: Any) -> None:
    """The pool's reset of a connection on its release: nothing. asyncpg's
    default runs a reset query (advisory locks, cursors, LISTEN, RESET ALL) on
    every release: a round trip per call, 16% of the PostgreSQL seat server's
    samples. The seat calls leave nothing to reset: each is one statement in its
    own transaction, the claim function's setting is local to its transaction
    (``set_config(..., true)``), and nothing listens, locks or keeps a cursor.
    asyncpg still rolls back a transaction left open before it calls this."""


def _pg_seat(r: Any, product: str) -> SeatRow:
    return SeatRow(r["r_seat_id"], product, r["r_slot"], r["r_session"], r["r_host"], r["r_user"],
                   r["r_granted"], r["r_expires"])


def store_for(url: str) -> SqliteSeats | PgSeats:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if not u.database or u.database == ":memory:":
            raise ValueError("the license server needs a SQLite file, not an in-memory database")
        return SqliteSeats(u.database)
    if u.get_backend_name() == "postgresql":
        return PgSeats(u.set(drivername="postgresql").render_as_string(hide_password=False))
    raise ValueError(f"unsupported database {u.get_backend_name()!r}")
