"""Throttling wrong guesses, in the database so every process sees the same counts.

- A kit: after ``kit_max_failures`` wrong PINs it is locked for
  ``lock_seconds``, each further lock twice as long (up to a day).
- A client address: at most ``addr_max_failures`` wrong PINs or unknown
  registration numbers per ``addr_window_seconds``.

However many guesses arrive at once, no more than those limits are ever
answered. A wrong guess is counted (``count_guess``) in the SAME transaction
that checked the lock and evaluated it, and that transaction is serialised
with every other one that could evaluate a guess of the same kit or address:
on SQLite by the writer lock (center/uow.py), on PostgreSQL by the kit's row
lock (``SELECT ... FOR UPDATE`` in center/activation.py) and, for the
address, by the atomic counter below (an UPSERT that returns the new count:
the guess past the limit is answered ``rate_limited``, never ``pin_unknown``
or ``kit_unknown``).

Other refusals are only audited (``record``), in a transaction of their own
after the rule's transaction rolled back.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from . import audit, db, refusals
from .refusals import Refusal
from .settings import Settings
from .uow import UnitOfWork

MAX_LOCK = 24 * 3600
# The refusals that answer a guess: counted against the kit and the address.
COUNTED = frozenset({"pin_unknown", "kit_unknown"})

# The address's failures in the current window: a subquery the activation's
# one-round-trip lookup (center/activation.py) embeds too.
ADDR_COUNT = (
    sa.select(db.addr_failures.c.count)
    .where(db.addr_failures.c.addr == sa.bindparam("b_addr"),
           db.addr_failures.c.window_start > sa.bindparam("b_cutoff"))
    .scalar_subquery()
)
_ADDR_COUNT_Q = sa.select(ADDR_COUNT)

_A = db.addr_failures


def _bump_addr(insert: Any) -> Any:
    """One more failure for an address, atomically, returning the new count (a new
    window starts when the old one is over): INSERT ... ON CONFLICT DO UPDATE."""
    expired = _A.c.window_start <= sa.bindparam("b_cutoff")
    return insert(_A).values(addr=sa.bindparam("b_addr"), window_start=sa.bindparam("b_now"), count=1) \
        .on_conflict_do_update(
            index_elements=[_A.c.addr],
            set_={"count": sa.case((expired, 1), else_=_A.c.count + 1),
                  "window_start": sa.case((expired, sa.bindparam("b_now")), else_=_A.c.window_start)},
        ).returning(_A.c.count)


_BUMP_ADDR = {"postgresql": _bump_addr(postgresql.insert), "sqlite": _bump_addr(sqlite.insert)}


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
        """Audit a refusal that is not a guess (a guess is counted by ``count_guess``)."""
        await self.uow.run(self._record_txn, ref.code, _audit_regnum(ref.code, regnum), request_id,
                           (client_addr or "")[:64], actor, event)
        ref.audited = True

    @staticmethod
    def _record_txn(conn: Connection, code: str, regnum: str | None, request_id: str, client_addr: str,
                    actor: str | None, event: str) -> None:
        audit.write(conn, event, request_id=request_id, code=code, regnum=regnum, actor=actor,
                    client_addr=client_addr or None)

    def count_guess(self, conn: Connection, ref: Refusal, *, regnum: str | None, request_id: str,
                    client_addr: str, actor: str | None, event: str = "refuse") -> Refusal:
        """Count the wrong guess ``ref`` (a COUNTED code) in the caller's transaction,
        which holds the kit's row lock (or the writer lock) and committed nothing else;
        audit it; return the refusal to answer: ``ref``, or ``rate_limited`` when the
        address went past its limit meanwhile (then the kit is not charged)."""
        addr = (client_addr or "")[:64]
        answer = ref
        if addr:
            count = conn.execute(_BUMP_ADDR[conn.dialect.name], {
                "b_addr": addr, "b_now": db.utcnow(), "b_cutoff": self.addr_cutoff()}).scalar_one()
            if count > self.settings.number("addr_max_failures"):
                answer = refusals.rate_limited(self.settings.number("addr_window_seconds"))
        regnum = _audit_regnum(ref.code, regnum)
        if answer is ref and ref.code == "pin_unknown" and regnum:
            self._count_kit(conn, regnum)
        audit.write(conn, event, request_id=request_id, code=answer.code, regnum=regnum, actor=actor,
                    client_addr=addr or None)
        answer.audited = True
        return answer

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


def _audit_regnum(code: str, regnum: str | None) -> str | None:
    """Only a real kit's number goes to the audit."""
    if not (regnum and len(regnum) == 10 and regnum.isdigit()) or code == "kit_unknown":
        return None
    return regnum
