"""The license server's schema on Alembic: ``server init`` and ``serve`` bring it to the
newest revision, a database made before Alembic (by ``create_all``) is adopted with
its data, and a schema this licwiz does not know is refused in words."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from licwiz.server import db
from support.fixtures_server import LicenseServer, licwiz_cmd


async def _revision_and_tables(url: str) -> tuple[str | None, set[str], bool]:
    engine = db.make_engine(url)
    try:
        revision = await db.schema_revision(engine)
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
            function = False
            if conn.dialect.name == "postgresql":
                function = bool((await conn.execute(sa.text(
                    "SELECT count(*) FROM pg_proc WHERE proname = 'licwiz_claim_seat'"))).scalar())
    finally:
        await engine.dispose()
    return revision, tables, function


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_init_builds_the_schema_at_the_newest_revision(tmp_path: Path, backend: str,
                                                        request: pytest.FixtureRequest) -> None:
    url = (f"sqlite+aiosqlite:///{tmp_path / 'srv.db'}" if backend == "sqlite"
           else request.getfixturevalue("server_pg_url"))
    LicenseServer(tmp_path, url).init()
    revision, tables, function = asyncio.run(_revision_and_tables(url))
    assert revision == db.head_revision() == "0003"
    assert {"licwiz_config", "licwiz_licenses", "licwiz_seats", "licwiz_seat_log", db.VERSION_TABLE} <= tables
    assert "alembic_version" not in tables  # the site's database may hold another application's
    assert function == (backend == "postgres")


async def _legacy_schema(url: str, admin: str, client: str) -> None:
    """What ``licwiz server init`` made before the server used Alembic."""
    engine = db.make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(db.metadata.create_all)
        await db.set_config(engine, {"admin_token_hash": db.token_hash(admin),
                                     "client_token_hash": db.token_hash(client)})
        await db.store_license(engine, "1234567890-001", "licwiz-demo", 3, "2020-01-01", None, None, "text")
    finally:
        await engine.dispose()


def test_a_database_made_before_alembic_is_adopted_with_its_data(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    asyncio.run(_legacy_schema(url, "admin-token-old", "client-token-old"))
    assert asyncio.run(_revision_and_tables(url))[0] is None
    # serve never upgrades by itself: it names the command that does.
    r = subprocess.run(licwiz_cmd("server", "serve", "--port", "1", "--db", url), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and "licwiz server db upgrade" in r.stderr, r.stderr
    r = subprocess.run(licwiz_cmd("server", "db", "upgrade", "--db", url), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    srv = LicenseServer(tmp_path, url, admin_token="admin-token-old", client_token="client-token-old")
    sp = srv.start()
    try:
        r = httpx.get(f"{sp.url}/api/v1/licenses", headers={"Authorization": "Bearer admin-token-old"})
        assert r.status_code == 200, r.text
        assert [x["license_id"] for x in r.json()["licenses"]] == ["1234567890-001"]
    finally:
        srv.stop()
    assert asyncio.run(_revision_and_tables(url))[0] == db.head_revision()


async def _set_revision(url: str, revision: str) -> None:
    engine = db.make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(f"UPDATE {db.VERSION_TABLE} SET version_num = :v"), {"v": revision})
    finally:
        await engine.dispose()


def test_serve_refuses_a_schema_it_does_not_know(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'newer.db'}"
    LicenseServer(tmp_path, url).init()
    asyncio.run(_set_revision(url, "9999"))
    r = subprocess.run(licwiz_cmd("server", "serve", "--port", "1", "--db", url), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    assert "revision 9999" in r.stderr and "newer licwiz" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(("lang", "words"), [
    ("C.UTF-8", "the database schema is at revision 0002, this licwiz needs"),
    ("ru_RU.UTF-8", "схема базы данных на ревизии 0002, этой версии licwiz нужна ревизия"),
])
def test_a_schema_behind_is_named_in_the_users_language(tmp_path: Path, lang: str, words: str) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'behind.db'}"
    LicenseServer(tmp_path, url).init()
    asyncio.run(_set_revision(url, "0002"))
    r = subprocess.run(licwiz_cmd("server", "serve", "--port", "1", "--db", url), capture_output=True,
                       text=True, timeout=60, env={**os.environ, "LANG": lang, "LC_ALL": "", "LANGUAGE": ""})
    assert r.returncode == 1, r.stderr
    assert words in r.stderr and "licwiz server db upgrade" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
