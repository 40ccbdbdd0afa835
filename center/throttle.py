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
lock (``SELECT ... FOR UPDATE`` in center/activation_sql.py) and, for the
address, by an atomic counter (``BUMP_ADDR``) (an UPSERT that returns the new count:
the guess past the limit is answered ``rate_limited``, never ``pin_unknown``
or ``kit_unknown``).

Other refusals are only audited (``record``), in a transaction of their own
after the rule's transaction rolled back.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.engine import Connection

from . import activation_sql as q
from . import audit, db, refusals
from .bare import COUNT, ONE, SCALAR, Rule, Stmt
from .refusals import Refusal
from .settings import Settings
from .uow import UnitOfWork

MAX_LOCK = 24 * 3600
# The refusals that answer a guess: counted against the kit and the address.
COUNTED = frozenset({"pin_unknown", "kit_unknown"})


class Throttle:
    def __init__(self, uow: UnitOfWork, settings: Settings) -> None:
        self.uow = uow
        self.settings = settings

    def addr_cutoff(self) -> dt.datetime:
        return db.utcnow() - dt.timedelta(seconds=self.settings.number("addr_window_seconds"))

    def addr_over(self, count: int | None) -> bool:
        return (count or 0) >= self.settings.number("addr_max_failures")

    def check_addr(self, addr: str) -> Rule[None]:
        """Refuse a client address over its limit (rate_limited); a rule (center/bare.py)."""
        if not addr:
            return
        count = yield Stmt(q.ADDR_COUNT, {"addr": addr, "cutoff": self.addr_cutoff()}, SCALAR)
        if count is not None and count >= self.settings.number("addr_max_failures"):
            raise refusals.rate_limited(self.settings.number("addr_window_seconds"))

    def count_guess(self, ref: Refusal, *, regnum: str | None, request_id: str, client_addr: str,
                    actor: str | None, event: str = "refuse") -> Rule[Refusal]:
        """Count the wrong guess ``ref`` (a COUNTED code) in the caller's transaction,
        which holds the kit's row lock (or the writer lock) and committed nothing else;
        audit it; return the refusal to answer: ``ref``, or ``rate_limited`` when the
        address went past its limit meanwhile (then the kit is not charged). A rule
        (center/bare.py), run inside the caller's."""
        addr = (client_addr or "")[:64]
        answer = ref
        if addr:
            now = db.utcnow()
            count = yield Stmt(q.BUMP_ADDR, {"addr": addr, "now": now, "cutoff": self.addr_cutoff()}, SCALAR)
            if count > self.settings.number("addr_max_failures"):
                answer = refusals.rate_limited(self.settings.number("addr_window_seconds"))
        regnum = _audit_regnum(ref.code, regnum)
        if answer is ref and ref.code == "pin_unknown" and regnum:
            kit = yield Stmt(q.KIT_FAILURES, {"regnum": regnum}, ONE)
            if kit is not None:
                failed = kit.failed_pins + 1
                if failed >= self.settings.number("kit_max_failures"):
                    secs = min(MAX_LOCK, self.settings.number("lock_seconds") * 2 ** min(kit.lock_level, 20))
                    yield Stmt(q.KIT_LOCK, {"regnum": regnum, "level": kit.lock_level + 1,
                                            "until": db.utcnow() + dt.timedelta(seconds=secs)}, COUNT)
                else:
                    yield Stmt(q.KIT_FAILED, {"regnum": regnum, "failed": failed}, COUNT)
        row = audit.row(event, request_id, answer.code, regnum, None, actor, addr or None)
        yield Stmt(q.INSERT_AUDIT, row, COUNT)
        answer.audited = True
        return answer

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


def _audit_regnum(code: str, regnum: str | None) -> str | None:
    """Only a real kit's number goes to the audit."""
    if not (regnum and len(regnum) == 10 and regnum.isdigit()) or code == "kit_unknown":
        return None
    return regnum
