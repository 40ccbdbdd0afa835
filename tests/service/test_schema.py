"""service/schema.py: the schema state both services keep with Alembic, on a
migrations folder of its own (two revisions, the second one changing data with
what it reads, as the center's 0003 does), a version table of its own and an
error class of its own: what each service gives it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from licwiz.core.message import Msg
from licwiz.service.schema import Schema
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

ENV = '''
from alembic import context

context.configure(connection=context.config.attributes["connection"], target_metadata=None,
                  version_table="t_schema_version")
with context.begin_transaction():
    context.run_migrations()
'''

FIRST = '''
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table("things", sa.Column("name", sa.String(20), primary_key=True))
'''

SECOND = '''
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table("extras", sa.Column("note", sa.String(20)))
'''

# Reads the rows it changes, and takes a value from the caller: like the center's
# 0003 (the stored PINs, the home's PIN key), it cannot be printed as SQL.
THIRD = '''
import sqlalchemy as sa
from alembic import context, op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    rows = op.get_bind().execute(sa.text("SELECT name FROM things")).all()
    marker = context.config.attributes.get("marker", "none")
    op.execute(sa.text("INSERT INTO things (name) VALUES (:name)").bindparams(name=f"{marker}:{len(rows)}"))
'''


class Refused(Exception):
    """A service's own schema error."""


def _schema(folder: Path, *, unprintable: str | None = None) -> Schema[Refused]:
    return Schema(folder=folder, upgrade_command="licwiz test db upgrade", error=Refused,
                  missing="no schema yet: run the test's init", unprintable=unprintable,
                  version_table="t_schema_version")


def _migrations(at: Path, *revisions: str) -> Path:
    (at / "versions").mkdir(parents=True)
    (at / "env.py").write_text(ENV)
    for n, text in enumerate(revisions, 1):
        (at / "versions" / f"{n:04}.py").write_text(text)
    return at


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return _migrations(tmp_path / "migrations", FIRST, SECOND, THIRD)


@pytest.fixture
def plain_folder(tmp_path: Path) -> Path:
    """Schema changes only: every revision prints as SQL."""
    return _migrations(tmp_path / "plain", FIRST, SECOND)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'schema.db'}")
    yield made
    await made.dispose()


async def _to(engine: AsyncEngine, schema: Schema[Refused], revision: str) -> None:
    """The database as an older build left it: upgraded to ``revision`` only."""
    from alembic import command

    cfg = schema.config()

    def build(conn: sa.Connection) -> None:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(build)


async def _set_revision(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.text("UPDATE t_schema_version SET version_num = :r"), {"r": revision})


async def _things(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return [str(r[0]) for r in await conn.execute(sa.text("SELECT name FROM things ORDER BY name"))]


def test_head_and_known_revisions_come_from_the_folder(folder: Path) -> None:
    schema = _schema(folder)
    assert schema.head() == "0003"
    assert schema.known() == {"0001", "0002", "0003"}


async def test_upgrade_brings_the_schema_to_head_in_its_own_version_table_with_the_attributes(
        folder: Path, engine: AsyncEngine) -> None:
    schema = _schema(folder)
    assert await schema.revision(engine) is None  # nothing set up yet
    await schema.upgrade(engine, marker="key")
    assert await schema.revision(engine) == "0003"
    assert await _things(engine) == ["key:0"]  # the revision got the caller's value
    async with engine.connect() as conn:
        tables = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    assert "t_schema_version" in tables and "alembic_version" not in tables
    await schema.upgrade(engine, marker="again")  # idempotent: nothing runs at head
    assert await _things(engine) == ["key:0"]


def test_problem_says_behind_or_newer_in_the_services_error(folder: Path) -> None:
    schema = _schema(folder)
    assert schema.problem(None) is None and schema.problem("0003") is None
    behind = schema.problem("0001")
    assert isinstance(behind, Refused) and isinstance(behind.args[0], Msg)
    assert str(behind) == ("the database schema is at revision 0001, this licwiz needs 0003: "
                           "run `licwiz test db upgrade`")
    newer = schema.problem("0099")
    assert isinstance(newer, Refused)
    assert str(newer) == "this database was written by a newer licwiz (revision 0099)"


async def test_upgrade_refuses_a_revision_it_does_not_know_and_changes_nothing(
        folder: Path, engine: AsyncEngine) -> None:
    schema = _schema(folder)
    await _to(engine, schema, "0001")
    await _set_revision(engine, "0099")
    with pytest.raises(Refused, match=r"newer licwiz \(revision 0099\)"):
        await schema.upgrade(engine)
    assert await schema.revision(engine) == "0099" and await _things(engine) == []


async def test_upgrade_sql_without_a_schema_says_the_services_words(
        folder: Path, engine: AsyncEngine) -> None:
    with pytest.raises(Refused, match="no schema yet: run the test's init"):
        await _schema(folder).upgrade_sql(engine)


async def test_upgrade_sql_at_head_is_empty_and_newer_is_refused(folder: Path, engine: AsyncEngine) -> None:
    schema = _schema(folder)
    await schema.upgrade(engine)
    assert await schema.upgrade_sql(engine) == ""
    await _set_revision(engine, "0099")
    with pytest.raises(Refused, match="newer licwiz"):
        await schema.upgrade_sql(engine)


async def test_upgrade_sql_prints_the_schema_changes_and_runs_nothing(
        plain_folder: Path, engine: AsyncEngine) -> None:
    schema = _schema(plain_folder)
    await _to(engine, schema, "0001")
    sql = await schema.upgrade_sql(engine)
    assert "CREATE TABLE extras" in sql and "UPDATE t_schema_version SET version_num='0002'" in sql
    assert "CREATE TABLE things" not in sql  # only what comes after the database's revision
    assert await schema.revision(engine) == "0001"
    async with engine.connect() as conn:
        tables = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    assert "extras" not in tables


async def test_upgrade_sql_names_a_revision_that_changes_data(folder: Path, engine: AsyncEngine) -> None:
    unprintable = "the upgrade {at} changes data and cannot be printed as SQL: run `{command}`"
    schema = _schema(folder, unprintable=unprintable)
    await _to(engine, schema, "0001")
    with pytest.raises(Refused) as caught:
        await schema.upgrade_sql(engine)
    # 0001 -> 0002 printed; the revision named is the one that could not be
    assert str(caught.value) == ("the upgrade 0002 -> 0003 changes data and cannot be printed as SQL: "
                                 "run `licwiz test db upgrade`")
    assert caught.value.__cause__ is not None
    assert await schema.revision(engine) == "0001" and await _things(engine) == []  # nothing ran


async def test_upgrade_sql_without_words_for_it_lets_the_migrations_failure_through(
        folder: Path, engine: AsyncEngine) -> None:
    schema = _schema(folder)
    await _to(engine, schema, "0001")
    with pytest.raises(Exception) as caught:
        await schema.upgrade_sql(engine)
    assert not isinstance(caught.value, Refused)
