"""The audit trail (table ``audit``): every issue, refusal, recovery, update,
revoke and admin change, with the request id. Owner data never goes here.

Rules write their row inside their own transaction (``write`` on a sync
connection, ``awrite`` on an async one); ``refusal`` records a refusal made
before any rule ran; ``log`` reads the trail, newest first.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from . import db
from .uow import UnitOfWork

INSERT = db.audit.insert()


def row(event: str, request_id: str, code: str | None, regnum: str | None, license_id: str | None,
        actor: str | None, client_addr: str | None) -> dict[str, Any]:
    return {"at": db.utcnow(), "request_id": request_id[:40], "event": event, "code": code,
            "regnum": regnum, "license_id": license_id, "actor": actor, "client_addr": client_addr}


def write(conn: Connection, event: str, *, request_id: str, code: str | None = None,
          regnum: str | None = None, license_id: str | None = None, actor: str | None = None,
          client_addr: str | None = None) -> None:
    conn.execute(INSERT, row(event, request_id, code, regnum, license_id, actor, client_addr))


async def awrite(conn: AsyncConnection, event: str, *, request_id: str, code: str | None = None,
                 regnum: str | None = None, license_id: str | None = None, actor: str | None = None,
                 client_addr: str | None = None) -> None:
    await conn.execute(INSERT, row(event, request_id, code, regnum, license_id, actor, client_addr))


class Audit:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    async def refusal(self, code: str, *, request_id: str, client_addr: str = "",
                      actor: str | None = None, event: str = "refuse") -> None:
        """Audit a refusal made before any rule ran (unreadable body, missing admin token);
        it counts against no kit and no address (those are the rules' own refusals)."""
        def txn(conn: Connection) -> None:
            write(conn, event, request_id=request_id, code=code, actor=actor,
                  client_addr=(client_addr or "")[:64] or None)

        await self.uow.run(txn)

    async def log(self, limit: int = 1000) -> list[dict[str, Any]]:
        async with self.uow.engine.connect() as conn:
            rows = (await conn.execute(sa.select(db.audit).order_by(db.audit.c.id.desc()).limit(limit))).all()
        return [{"at": db.aware(r.at).isoformat(), "request_id": r.request_id,
                 "event": r.event, "code": r.code, "regnum": r.regnum, "license_id": r.license_id,
                 "actor": r.actor} for r in rows]
