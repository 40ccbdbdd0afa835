"""Upgrades: ``center serve`` and ``server serve`` start only on a schema at this
licwiz's revision; behind, or written by a newer licwiz, they say so in one line
and exit 1 (``init`` too on an unknown revision, not Alembic's traceback).
``db current | upgrade [--sql]`` on both: the SQL is printed without being run,
the upgrade brings the schema to head and serve then starts."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from licwiz.center import db as center_db
from licwiz.server import db as server_db
from support.fixtures_center import CenterProcess
from support.fixtures_server import LicenseServer, licwiz_cmd


async def _set(url: str, table: str, revision: str) -> None:
    engine = server_db.make_engine(url) if "licwiz_" in table else center_db.make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(f"UPDATE {table} SET version_num = :v"), {"v": revision})
    finally:
        await engine.dispose()


async def _schema_at(url: str, revision: str) -> None:
    """A center database (SQLite) as an older licwiz made it: a new file with
    Alembic's revisions up to ``revision`` only."""
    from alembic import command

    path = center_db.sqlite_file(url)
    assert path is not None
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = center_db.make_engine(url)
    cfg = center_db._alembic_config()

    def build(conn: sa.Connection) -> None:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    try:
        async with engine.begin() as conn:
            await conn.run_sync(build)
    finally:
        await engine.dispose()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(licwiz_cmd(*args), capture_output=True, text=True, timeout=60)


def _one_line(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_server_serve_refuses_a_schema_not_at_head_and_db_upgrade_brings_it(
        tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    url = (f"sqlite+aiosqlite:///{tmp_path / 'srv.db'}" if backend == "sqlite"
           else request.getfixturevalue("server_pg_url"))
    srv = LicenseServer(tmp_path, url)
    srv.init()
    head = server_db.head_revision()
    asyncio.run(_set(url, server_db.VERSION_TABLE, "0001"))
    line = _one_line(_run("server", "serve", "--port", "1", "--db", url))
    assert line == (f"licwiz server: the database schema is at revision 0001, this licwiz needs {head}: "
                    "run `licwiz server db upgrade`")
    current = _run("server", "db", "current", "--db", url)
    assert current.returncode == 0 and "0001" in current.stdout and "behind" in current.stdout
    sql = _run("server", "db", "upgrade", "--sql", "--db", url)
    assert sql.returncode == 0, sql.stderr
    assert "licwiz_seat_log" in sql.stdout and f"version_num='{head}'" in sql.stdout
    if backend == "postgres":
        assert "CREATE OR REPLACE FUNCTION licwiz_claim_seat" in sql.stdout
    assert "at revision 0001" in _one_line(_run("server", "serve", "--port", "1", "--db", url))  # unchanged
    up = _run("server", "db", "upgrade", "--db", url)
    assert up.returncode == 0 and f"from revision 0001 to {head}" in up.stdout, up.stderr
    srv.start()  # at head: it serves
    srv.stop()

    asyncio.run(_set(url, server_db.VERSION_TABLE, "9999"))
    newer = "this database was written by a newer licwiz (revision 9999)"
    assert _one_line(_run("server", "serve", "--port", "1", "--db", url)) == f"licwiz server: {newer}"
    for args in (("init", "--force"), ("db", "upgrade"), ("db", "upgrade", "--sql")):
        line = _one_line(_run("server", *args, "--db", url))
        assert newer in line and "Traceback" not in line


def test_center_serve_refuses_a_schema_not_at_head_and_db_upgrade_brings_it(
        tmp_path: Path, center_factory: Callable[..., CenterProcess]) -> None:
    center = center_factory(start=False)
    url = center.db_url
    head = center_db.head_revision()
    previous = str(int(head) - 1).zfill(4)
    asyncio.run(_schema_at(url, previous))

    def serve() -> subprocess.CompletedProcess[str]:
        return _run("center", "serve", "--port", "1", "--db", url, "--home", str(center.home))

    assert _one_line(serve()) == (f"licwiz center: the database schema is at revision {previous}, this "
                                  f"licwiz needs {head}: run `licwiz center db upgrade`")
    current = center.cli("db", "current")
    assert previous in current.stdout and "behind" in current.stdout
    up = center.cli("db", "upgrade")
    assert f"from revision {previous} to {head}" in up.stdout
    assert "up to date" in center.cli("db", "current").stdout
    nothing = center.cli("db", "upgrade", "--sql")
    assert "nothing to run" in nothing.stdout
    center.start()  # at head: it serves
    center.stop()

    asyncio.run(_set(url, "alembic_version", "0099"))
    newer = "licwiz center: this database was written by a newer licwiz (revision 0099)"
    assert _one_line(serve()) == newer
    for args in (("init",), ("db", "upgrade")):
        assert _one_line(center.cli(*args, check=False)) == newer
