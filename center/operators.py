"""Who may act on the center besides the public API: the admin token (admin
API) and the phone operators (center/operator.py's console).

Tokens are random, shown once, and stored only as hashes (the admin token's
as the ``admin_token_hash`` setting, operators' in table ``operators``);
disabling an operator ends its sessions, since the console checks the token
on every request.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import sqlalchemy as sa
from licwiz.core.errors import InputError
from sqlalchemy.exc import IntegrityError

from . import audit, db
from .settings import Settings
from .uow import UnitOfWork


def hash_token(token: str) -> str:
    return hashlib.sha256(f"licwiz-token-v1:{token}".encode()).hexdigest()


class Operators:
    def __init__(self, uow: UnitOfWork, settings: Settings) -> None:
        self.uow = uow
        self.settings = settings

    # ---- the admin token

    async def set_admin_token(self) -> str:
        token = secrets.token_urlsafe(32)
        await self.settings.set("admin_token_hash", hash_token(token))
        return token

    async def has_admin_token(self) -> bool:
        return "admin_token_hash" in await self.settings.stored()

    async def check_admin_token(self, token: str) -> bool:
        stored = (await self.settings.stored()).get("admin_token_hash")  # read each time: tokens get replaced
        return bool(stored) and secrets.compare_digest(stored or "", hash_token(token))

    # ---- phone operators

    async def add(self, name: str) -> str:
        """Add an operator; its token (returned) is shown once, only its hash is stored."""
        name = name.strip()
        if not name or len(name) > 100 or any(not (ch.isalnum() or ch in "._-@ ") for ch in name):
            raise InputError("name", "Operator name: 1 to 100 letters, digits, spaces or . _ - @")
        token = secrets.token_urlsafe(32)
        try:
            async with self.uow.writer.begin() as conn:
                await conn.execute(db.operators.insert().values(
                    name=name, token_hash=hash_token(token), created=db.utcnow(), disabled=False))
                await audit.awrite(conn, "operator_add", request_id="cli", actor=name)
        except IntegrityError:
            raise InputError("name", f"Operator {name!r} already exists") from None
        return token

    async def disable(self, name: str) -> bool:
        async with self.uow.writer.begin() as conn:
            res = await conn.execute(db.operators.update().where(db.operators.c.name == name)
                                     .values(disabled=True))
        return res.rowcount == 1

    async def list_all(self) -> list[dict[str, Any]]:
        async with self.uow.engine.connect() as conn:
            rows = (await conn.execute(sa.select(db.operators).order_by(db.operators.c.name))).all()
        return [{"name": r.name, "created": db.aware(r.created).isoformat(),
                 "disabled": bool(r.disabled)} for r in rows]

    async def for_token(self, token: str) -> str | None:
        """The name of the enabled operator holding ``token``."""
        if not token or len(token) > 200:
            return None
        async with self.uow.engine.connect() as conn:
            row = (await conn.execute(sa.select(db.operators.c.name, db.operators.c.disabled)
                                      .where(db.operators.c.token_hash == hash_token(token)))).first()
        return str(row.name) if row is not None and not row.disabled else None
