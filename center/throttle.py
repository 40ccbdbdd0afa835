"""Throttling wrong guesses, in the database so every process sees the same counts.

- A kit: after ``kit_max_failures`` wrong PINs it is locked for
  ``lock_seconds``, each further lock twice as long (up to a day).
- A client address: at most ``addr_max_failures`` wrong PINs or unknown
  registration numbers per ``addr_window_seconds``.

A refusal is recorded (``record``) in its own transaction after the rule's
transaction rolled back: the audit row and the counters together. A wrong PIN
is counted before the next request of the same kit can check the lock,
because both take the same writer lock (center/uow.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from . import audit, db, refusals
from .refusals import Refusal
from .settings import Settings
from .uow import UnitOfWork

MAX_LOCK = 24 * 3600

# The address's failures in the current window: a subquery the activation's
# one-round-trip lookup (center/activation.py) embeds too.
ADDR_COUNT = (
    sa.select(db.addr_failures.c.count)
    .where(db.addr_failures.c.addr == sa.bindparam("b_addr"),
           db.addr_failures.c.window_start > sa.bindparam("b_cutoff"))
    .scalar_subquery()
)
_ADDR_COUNT_Q = sa.select(ADDR_COUNT)


class Throttle:
    def __init__(self, uow: UnitOfWork, settings: Settings) -> None:
        self.uow = uow
        self.settings = settings

    def addr_cutoff(self) -> dt.datetime:
        return db.utcnow() - dt.timedelta(seconds=self.settings.number("addr_window_seconds"))

    def addr_over(self, count: int | None) -> bool:
        return (count or 0) >= self.settings.number("addr_max_failures")

    def check_addr(self, conn: Connection, addr: str) -> None:
        """Refuse a client address over its limit (rate_limited)."""
        if not addr:
            return
        count = conn.execute(_ADDR_COUNT_Q, {"b_addr": addr, "b_cutoff": self.addr_cutoff()}).scalar()
        if count is not None and count >= self.settings.number("addr_max_failures"):
            raise refusals.rate_limited(self.settings.number("addr_window_seconds"))

    @staticmethod
    def check_kit(kit: Any) -> None:
        """Refuse a locked kit (kit_locked); ``kit`` is a row of ``kits``."""
        until = db.aware(kit.locked_until)
        if until is not None and until > db.utcnow():
            raise refusals.kit_locked(until, int((until - db.utcnow()).total_seconds()) + 1)

    async def record(self, ref: Refusal, *, regnum: str | None, request_id: str, client_addr: str,
                     actor: str | None, event: str = "refuse") -> None:
        """Audit a refusal of the rules and count it when it was a wrong guess."""
        if not (regnum and len(regnum) == 10 and regnum.isdigit()) or ref.code == "kit_unknown":
            regnum = None  # only a real kit's number goes to the audit
        await self.uow.run(self._record_txn, ref.code, regnum, request_id, (client_addr or "")[:64], actor,
                           event)
        ref.audited = True

    def _record_txn(self, conn: Connection, code: str, regnum: str | None, request_id: str,
                    client_addr: str, actor: str | None, event: str) -> None:
        audit.write(conn, event, request_id=request_id, code=code, regnum=regnum, actor=actor,
                    client_addr=client_addr or None)
        if code not in ("pin_unknown", "kit_unknown"):
            return
        if code == "pin_unknown" and regnum:
            self._count_kit(conn, regnum)
        if client_addr:
            self._count_addr(conn, client_addr)

    def _count_kit(self, conn: Connection, regnum: str) -> None:
        kit = conn.execute(sa.select(db.kits.c.failed_pins, db.kits.c.lock_level)
                           .where(db.kits.c.regnum == regnum)).first()
        if kit is None:
            return
        failed = kit.failed_pins + 1
        values: dict[str, Any] = {"failed_pins": failed}
        if failed >= self.settings.number("kit_max_failures"):
            secs = min(MAX_LOCK, self.settings.number("lock_seconds") * 2 ** min(kit.lock_level, 20))
            values = {"failed_pins": 0, "lock_level": kit.lock_level + 1,
                      "locked_until": db.utcnow() + dt.timedelta(seconds=secs)}
        conn.execute(db.kits.update().where(db.kits.c.regnum == regnum).values(**values))

    def _count_addr(self, conn: Connection, client_addr: str) -> None:
        now = db.utcnow()
        row = conn.execute(sa.select(db.addr_failures).where(db.addr_failures.c.addr == client_addr)).first()
        where = db.addr_failures.update().where(db.addr_failures.c.addr == client_addr)
        if row is None:
            try:
                with conn.begin_nested():
                    conn.execute(db.addr_failures.insert().values(addr=client_addr, window_start=now,
                                                                  count=1))
            except IntegrityError:  # another process inserted it first
                conn.execute(where.values(count=db.addr_failures.c.count + 1))
        elif db.aware(row.window_start) + dt.timedelta(
                seconds=self.settings.number("addr_window_seconds")) <= now:
            conn.execute(where.values(window_start=now, count=1))
        else:
            conn.execute(where.values(count=db.addr_failures.c.count + 1))
