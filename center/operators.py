"""Who may act on the center besides the public API: the admin token (admin
API) and the phone operators (center/operator.py's console).

Tokens are random, shown once, and stored only as hashes (the admin token's
as the ``admin_token_hash`` setting, operators' in table ``operators``).

Console sessions live in the database (table ``operator_sessions``,
migration 0002), not in the cookie: a login makes a random 256-bit session id,
the browser keeps the id and the table only its hash, so neither a cookie nor
a copy of the database holds anything that opens the console elsewhere or
reveals the operator token. Every console request looks the session up, so
logout, ``operator disable`` and expiry end it in every serve process at once.

Expiry is ABSOLUTE (``operator_session_seconds`` after login, 8 h by default,
one shift), not sliding: a captured cookie is worth at most that long however
busy the thief keeps it, and a page view costs one read, not a write through
the SQLite writer lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

import sqlalchemy as sa
from licwiz.core.errors import InputError
from licwiz.core.i18n import N_
from licwiz.core.message import Msg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from . import audit, db
from .settings import Settings
from .uow import UnitOfWork

# The table of migration 0002; defined here (its one user) on the schema's MetaData.
operator_sessions = sa.Table(
    "operator_sessions", db.metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),  # hash_session_id(id); never the id
    sa.Column("operator", sa.String(100), sa.ForeignKey("operators.name"), nullable=False, index=True),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("ended", sa.DateTime(timezone=True), nullable=True),  # logout or disable
)

SESSION_SETTING = "operator_session_seconds"
SESSION_SECONDS = 8 * 3600  # the default: one shift
MIN_SESSION_SECONDS = 60
MAX_SESSION_SECONDS = 7 * 24 * 3600
SESSION_ID_MAX = 100  # token_urlsafe(32) is 43 characters; longer cookies are not ours


def hash_token(token: str) -> str:
    return hashlib.sha256(f"licwiz-token-v1:{token}".encode()).hexdigest()


def hash_session_id(session_id: str) -> str:
    # A plain hash is enough: the id is 256 random bits, so there is nothing to guess or
    # look up; the prefix keeps it apart from token hashes and the page's CSRF token.
    return hashlib.sha256(f"licwiz-operator-session-v1:{session_id}".encode()).hexdigest()


def session_seconds(stored: dict[str, str]) -> int:
    """The session lifetime from the settings table (``operator_session_seconds``), else
    8 h; held between a minute (shorter locks operators out mid-call) and a week."""
    raw = stored.get(SESSION_SETTING, "").strip()
    if not raw.isdigit():
        return SESSION_SECONDS
    return min(max(int(raw), MIN_SESSION_SECONDS), MAX_SESSION_SECONDS)


async def _end_sessions(conn: AsyncConnection, *conds: sa.ColumnElement[bool]) -> int:
    res = await conn.execute(operator_sessions.update()
                             .where(operator_sessions.c.ended.is_(None), *conds).values(ended=db.utcnow()))
    return int(res.rowcount or 0)


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
            raise InputError("name", Msg(N_("Operator name: 1 to 100 letters, digits, spaces or . _ - @")))
        token = secrets.token_urlsafe(32)
        try:
            async with self.uow.writer.begin() as conn:
                await conn.execute(db.operators.insert().values(
                    name=name, token_hash=hash_token(token), created=db.utcnow(), disabled=False))
                await audit.awrite(conn, "operator_add", request_id="cli", actor=name)
        except IntegrityError:
            raise InputError("name", Msg(N_("Operator {name} already exists"), name=repr(name))) from None
        return token

    async def disable(self, name: str) -> bool:
        """Disable ``name`` and end its live sessions, in one transaction (the session
        lookup checks ``disabled`` too, so a session is never open for a disabled operator)."""
        async with self.uow.writer.begin() as conn:
            res = await conn.execute(db.operators.update().where(db.operators.c.name == name)
                                     .values(disabled=True))
            if res.rowcount != 1:
                return False
            await _end_sessions(conn, operator_sessions.c.operator == name)
            await audit.awrite(conn, "operator_disable", request_id="cli", actor=name)
        return True

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

    # ---- console sessions

    async def start_session(self, name: str, *, request_id: str, client_addr: str = "",
                            replaces: str = "") -> tuple[str, int]:
        """A new session for the operator ``name``: (session id for the cookie, lifetime in
        seconds). ``replaces``: the id of the browser's previous session, ended here (a login
        never keeps an id the browser had before it, so a planted id opens nothing)."""
        seconds = session_seconds(await self.settings.stored())  # each login: config set applies now
        session_id = secrets.token_urlsafe(32)
        now = db.utcnow()
        async with self.uow.writer.begin() as conn:
            # Rows past their expiry open nothing: clear them out as logins come.
            await conn.execute(operator_sessions.delete().where(operator_sessions.c.expires < now))
            if replaces and len(replaces) <= SESSION_ID_MAX:
                await _end_sessions(conn, operator_sessions.c.id_hash == hash_session_id(replaces))
            await conn.execute(operator_sessions.insert().values(
                id_hash=hash_session_id(session_id), operator=name, created=now,
                expires=now + dt.timedelta(seconds=seconds), ended=None))
            await audit.awrite(conn, "operator_login", request_id=request_id, actor=name,
                               client_addr=client_addr[:64] or None)
        return session_id, seconds

    async def for_session(self, session_id: str) -> str | None:
        """The name of the enabled operator whose session ``session_id`` is live: not
        ended, not expired. Read from the database on every request (any process may have
        ended it)."""
        if not session_id or len(session_id) > SESSION_ID_MAX:
            return None
        s, o = operator_sessions, db.operators
        async with self.uow.engine.connect() as conn:
            row = (await conn.execute(
                sa.select(s.c.operator, s.c.expires, s.c.ended, o.c.disabled)
                .join(o, o.c.name == s.c.operator)
                .where(s.c.id_hash == hash_session_id(session_id)))).first()
        if row is None or row.ended is not None or row.disabled:
            return None
        # Compared here, not in SQL: SQLite keeps naive text timestamps (db.aware).
        return str(row.operator) if db.aware(row.expires) > db.utcnow() else None

    async def end_session(self, session_id: str, *, name: str, request_id: str,
                          client_addr: str = "") -> bool:
        """Logout: the session ends for every process (the cookie alone opens nothing after)."""
        if not session_id or len(session_id) > SESSION_ID_MAX:
            return False
        async with self.uow.writer.begin() as conn:
            ended = await _end_sessions(conn, operator_sessions.c.id_hash == hash_session_id(session_id))
            if ended:
                await audit.awrite(conn, "operator_logout", request_id=request_id, actor=name,
                                   client_addr=client_addr[:64] or None)
        return ended == 1
