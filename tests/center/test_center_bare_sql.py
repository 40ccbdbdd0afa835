"""Every statement of the activation's bare path (center/activation_sql.py)
against the schema the migrations make, on SQLite and PostgreSQL: a column
renamed in a migration fails here, not in the first activation after it."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from licwiz.center import activation_sql as q
from licwiz.center import db

STATEMENTS = {name: v for name, v in vars(q).items() if isinstance(v, q.Sql)} | {
    f"TAIL{key}": v for key, v in q.TAIL.items()}


async def _migrate(url: str) -> None:
    engine = db.make_engine(url)
    try:
        await db.run_migrations(engine)
    finally:
        await engine.dispose()


def test_every_statement_compiles_against_the_sqlite_schema(tmp_path: Path) -> None:
    path = tmp_path / "center.db"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
    conn = sqlite3.connect(path)
    checked = 0
    for name, sql in STATEMENTS.items():
        if any(sql is pg for pg in q.PG_ONLY):
            continue
        try:
            conn.execute("EXPLAIN " + sql.sqlite, dict.fromkeys(sql.names))
        except sqlite3.Error as exc:
            pytest.fail(f"{name}: {exc}")
        checked += 1
    conn.close()
    assert checked >= 15


def test_timestamps_are_written_as_sqlalchemy_writes_them(tmp_path: Path) -> None:
    """The throttle compares stored text: the bare path's must equal SQLAlchemy's."""
    path = tmp_path / "center.db"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
    when = dt.datetime(2026, 3, 4, 5, 6, 7, 89, tzinfo=dt.UTC)
    engine = db.make_sync_sqlite_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(db.addr_failures.insert().values(addr="a", window_start=when, count=1))
        stored = conn.execute(sa.text("SELECT window_start FROM addr_failures")).scalar_one()
    engine.dispose()
    assert stored == q.sqlite_ts(when)
    assert q.from_sqlite_ts(stored) == when
    # Another zone's clock is stored as the same UTC instant.
    assert q.sqlite_ts(when.astimezone(dt.timezone(dt.timedelta(hours=3)))) == stored


@pytest.mark.postgres
def test_every_statement_prepares_against_the_postgresql_schema(pg_url: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    asyncio.run(_migrate(pg_url))

    async def prepare_all() -> list[str]:
        conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
        failed = []
        try:
            for name, sql in STATEMENTS.items():
                try:
                    await conn.prepare(sql.pg)
                except asyncpg.PostgresError as exc:
                    failed.append(f"{name}: {exc}")
        finally:
            await conn.close()
        return failed

    assert asyncio.run(prepare_all()) == []
