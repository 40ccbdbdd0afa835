"""Rules written once, run on the bare drivers: sqlite3 (synchronous, in the
SQLite writer thread) and asyncpg (awaited).

A rule is a generator: it yields a ``Stmt`` (a statement of
center/activation_sql.py, its parameters and what to hand back) and gets the
answer; ``drive_sqlite`` and ``drive_pg`` run it on a connection inside a
transaction the caller opened. One copy of every rule serves both
databases, without SQLAlchemy on the hot path (center/uow.py ``run_rule``).

    def rule(dialect, regnum):
        kit = yield Stmt(q.KIT, {"regnum": regnum}, ONE)   # a Row or None
        n = yield Stmt(q.SUPERSEDE, {...}, COUNT)          # rows changed
        return kit

Rows are ``Row``: a dict whose keys read as attributes too. SQLite holds a
DateTime as text (center/activation_sql.py ``sqlite_ts``): datetimes in the
parameters are written so, and ``locked_until`` read back as a datetime.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from .activation_sql import Sql, from_sqlite_ts, sqlite_ts

T = TypeVar("T")

Kind = Literal["one", "count", "scalar"]
ONE: Kind = "one"  # the first row (a Row) or None
COUNT: Kind = "count"  # the number of rows changed
SCALAR: Kind = "scalar"  # the first column of the first row, or None


@dataclass(frozen=True, slots=True)
class Stmt:
    sql: Sql
    params: dict[str, Any]
    kind: Kind = ONE


Rule = Generator[Stmt, Any, T]


class Row(dict[str, Any]):
    """A result row: ``row.name`` or ``row["name"]``."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _sqlite_params(params: dict[str, Any]) -> dict[str, Any]:
    if any(isinstance(v, dt.datetime) for v in params.values()):
        return {k: sqlite_ts(v) if isinstance(v, dt.datetime) else v for k, v in params.items()}
    return params


def sqlite_row(cur: sqlite3.Cursor, values: tuple[Any, ...]) -> Row:
    """sqlite3's row factory for the bare path."""
    row = Row(zip([d[0] for d in cur.description], values, strict=True))
    if isinstance(row.get("locked_until"), str):
        row["locked_until"] = from_sqlite_ts(row["locked_until"])
    return row


def _sqlite_answer(cur: sqlite3.Cursor, kind: Kind) -> Any:
    if kind == COUNT:
        return cur.rowcount
    row = cur.fetchone()
    cur.close()  # a RETURNING statement is finished only once read (or closed)
    if kind == SCALAR:
        return None if row is None else next(iter(row.values()))
    return row


def drive_sqlite(conn: sqlite3.Connection, rule: Rule[T]) -> T:
    """Run ``rule`` on ``conn`` (its row factory ``sqlite_row``), in the caller's transaction."""
    try:
        stmt = next(rule)
        while True:
            cur = conn.execute(stmt.sql.sqlite, _sqlite_params(stmt.params))
            stmt = rule.send(_sqlite_answer(cur, stmt.kind))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def drive_pg(conn: Any, rule: Rule[T]) -> T:
    """Run ``rule`` on an asyncpg connection, in the caller's transaction."""
    try:
        stmt = next(rule)
        while True:
            args = stmt.sql.pg_args(stmt.params)
            answer: Any
            if stmt.kind == COUNT:
                status = await conn.execute(stmt.sql.pg, *args)
                answer = int(status.rsplit(" ", 1)[-1])
            else:
                rec = await conn.fetchrow(stmt.sql.pg, *args)
                if stmt.kind == SCALAR:
                    answer = None if rec is None else rec[0]
                else:
                    answer = None if rec is None else Row(rec.items())
            stmt = rule.send(answer)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def integrity_errors() -> tuple[type[Exception], ...]:
    """A UNIQUE or foreign key broken, as each driver says it."""
    try:
        from asyncpg import exceptions as pg  # type: ignore[import-untyped]
    except ImportError:  # a center on SQLite only may be installed without it
        return (sqlite3.IntegrityError,)
    return (sqlite3.IntegrityError, pg.IntegrityConstraintViolationError)
