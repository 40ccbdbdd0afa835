"""Issue 11 point 9: nothing secret is readable at rest.

- The center's home is 0700; keys, PIN key, admin token, SQLite database (with
  its -wal and -shm), write lock and request log are 0600, created so and
  tightened when an older install left them open (init, serve).
- PINs are stored as keyed hashes: a copy of the SQLite file, or every column
  of every PostgreSQL table, holds no PIN's digits; ``kit show`` names PINs by
  set and position only; ``kit create`` is the one place they are printed.
- Revision 0003 turns the plain PINs of an older database into hashes (SQLite
  and PostgreSQL), and those PINs still activate.
- A password in the database URL never reaches stdout, stderr or the logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import licwiz.center
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from licwiz.center import db
from licwiz.center.keystore import load_keys
from licwiz.core.identifiers import format_pin, new_pin, new_regnum
from licwiz.core.request import ActivationRequest
from support import owners
from support.fixtures_center import CenterProcess, fresh_pg_database

PARAMS = {"machine_id": "a1" * 32, "cpu": "b2" * 32, "mac": "c3" * 32, "root_fs": "d4" * 32, "os": "e5" * 32}
OWNER = owners.ORGANISATION
PASSWORD = "Sup3r-S3cret-Pw"


def body(regnum: str, pin: str, operation: str = "first") -> dict[str, Any]:
    return ActivationRequest("licwiz-demo", regnum, pin, operation, OWNER, dict(PARAMS)).to_dict()


def activate(c: Any, regnum: str, pin: str) -> httpx.Response:
    return httpx.post(f"{c.url}/api/v1/activate", json=body(regnum, pin), timeout=30)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def private_files(c: Any) -> list[Path]:
    dbfile = c.home / "center.db"
    files = [c.home / "admin-token", *sorted((c.home / "keys").iterdir()), dbfile, c.log_path,
             Path(f"{dbfile}.writelock")]
    return files + [p for p in (Path(f"{dbfile}-wal"), Path(f"{dbfile}-shm")) if p.exists()]


def test_the_home_and_its_files_are_private(center_factory: Any) -> None:
    os.umask(0o022)  # the usual umask: what is private must be made so, not inherited
    c = center_factory()
    kit = c.create_kit()
    assert activate(c, kit.regnum, kit.single_pins[0]).status_code == 200
    assert Path(f"{c.home / 'center.db'}-wal").exists()
    assert mode(c.home) == 0o700 and mode(c.home / "keys") == 0o700
    assert (c.home / "keys" / "pin.key").exists()
    for f in private_files(c):
        assert mode(f) == 0o600, f
    # What an older version (or a loose umask) left open is tightened by init and by serve.
    c.stop()
    for step in ("init", "serve"):
        os.chmod(c.home, 0o755)
        for f in private_files(c):
            os.chmod(f, 0o644)
        if step == "init":
            c.cli("init")
        else:
            c.start()
            c.stop()
        assert mode(c.home) == 0o700, step
        for f in private_files(c):
            if step == "serve" or f != c.log_path:  # the log is serve's (--log-file)
                assert mode(f) == 0o600, (step, f)


def pins_in(text: str, pins: list[str]) -> list[str]:
    return [p for p in pins if p in text or format_pin(p) in text]


def test_a_sqlite_copy_holds_no_pin(center_factory: Any, tmp_path: Path) -> None:
    c = center_factory()
    kit = c.create_kit(users=5, pins=4)
    pins = kit.single_pins + kit.multi_pins
    assert activate(c, kit.regnum, kit.single_pins[0]).status_code == 200
    c.stop()  # whatever the WAL held is in the file now; copy the whole set as a thief would
    dbfile = c.home / "center.db"
    raw = b"".join(Path(f"{dbfile}{s}").read_bytes() for s in ("", "-wal") if Path(f"{dbfile}{s}").exists())
    assert not pins_in(raw.decode("latin-1"), pins)
    copy = tmp_path / "copy.db"
    shutil.copy(dbfile, copy)
    with contextlib.closing(sqlite3.connect(copy)) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        dump = "\n".join(repr(row) for t in tables for row in con.execute(f'SELECT * FROM "{t}"'))
        assert "kits" in tables and "pins" in tables
        assert con.execute("SELECT count(*) FROM pins").fetchone()[0] == len(pins)
    assert kit.regnum in dump and not pins_in(dump, pins)


async def _pg_dump(url: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1), timeout=10)
    try:
        tables = [r[0] for r in await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")]
        out = []
        for t in tables:
            cols = [r[0] for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1", t)]
            select = ", ".join(f'"{col}"::text' for col in cols)
            out += [repr(tuple(r)) for r in await conn.fetch(f'SELECT {select} FROM "{t}"')]
        return "\n".join(out)
    finally:
        await conn.close()


def test_a_postgresql_dump_holds_no_pin(center_factory: Any, pg_url: str) -> None:
    c = center_factory(db_url=pg_url)
    kit = c.create_kit(users=5, pins=4)
    pins = kit.single_pins + kit.multi_pins
    assert activate(c, kit.regnum, kit.single_pins[0]).status_code == 200
    dump = asyncio.run(_pg_dump(pg_url))
    assert kit.regnum in dump and not pins_in(dump, pins)


def test_pins_are_shown_when_a_kit_is_made_and_never_again(center_factory: Any) -> None:
    c = center_factory(start=False)
    made = c.cli("kit", "create", "--product", "licwiz-demo", "--users", "5", "--pins", "2").stdout
    regnum = made.split()[2]
    listed = [line.split()[-1].replace("-", "") for line in made.splitlines() if line.strip()[:1].isdigit()]
    assert len(listed) == 4 and all(len(p) == 15 for p in listed), made
    kit = json.loads(c.cli("kit", "create", "--product", "licwiz-demo", "--users", "5", "--pins", "2",
                           "--json").stdout)[0]
    assert len(kit["single_pins"]) == 2 and len(kit["multi_pins"]) == 2
    c.start()
    assert activate(c, kit["regnum"], kit["multi_pins"][1]).status_code == 200
    for number, pins in ((regnum, listed), (kit["regnum"], kit["single_pins"] + kit["multi_pins"])):
        text = c.cli("kit", "show", number).stdout
        shown = json.loads(c.cli("kit", "show", number, "--json").stdout)
        admin = c.admin("GET", f"/kits/{number}").text
        for out in (text, json.dumps(shown), admin):
            assert not pins_in(out, pins), out
    assert shown["pins"] == [{"set": "single", "position": 1, "state": "unused"},
                             {"set": "single", "position": 2, "state": "unused"},
                             {"set": "multi", "position": 1, "state": "unused"},
                             {"set": "multi", "position": 2, "state": "used"}]
    assert "multi  PIN   2  used" in text and text.count("unused") == 3


def _alembic(url: str, revision: str, rows: list[tuple[str, dict[str, Any]]]) -> None:
    """The schema at ``revision`` (an older center's), then ``rows`` inserted as it would have."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(licwiz.center.__file__).parent / "migrations"))

    def upgrade(conn: Any) -> None:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        for sql, params in rows:
            conn.execute(sa.text(sql), params)

    async def run() -> None:
        engine = db.make_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(upgrade)
        finally:
            await engine.dispose()

    asyncio.run(run())


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_plain_pins_of_an_older_database_become_hashes(tmp_path: Path, dialect: str,
                                                       request: pytest.FixtureRequest) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'home' / 'center.db'}" if dialect == "sqlite" else str(
        request.getfixturevalue("pg_url"))
    regnum = new_regnum()
    pins = sorted(new_pin() for _ in range(3))
    now = dt.datetime.now(dt.UTC)
    rows = [("INSERT INTO kits (regnum, product, users, created, issued, pin_set) "
             "VALUES (:r, 'licwiz-demo', 1, :now, 1, 'single')", {"r": regnum, "now": now})]
    rows += [("INSERT INTO pins (pin, regnum, pin_set, used_at) VALUES (:p, :r, 'single', :u)",
              {"p": p, "r": regnum, "u": now if p == pins[1] else None}) for p in pins]
    rows.append(("INSERT INTO licenses (license_id, regnum, serial, pin, product, users, pin_set, method, "
                 "owner_json, owner_digest, params_json, text, issued_at, status, request_id) VALUES "
                 "(:l, :r, 1, :p, 'licwiz-demo', 1, 'single', 'online', '{}', 'd', '{}', 't', :now, "
                 "'active', 'rid')", {"l": f"{regnum}-001", "r": regnum, "p": pins[1], "now": now}))
    (tmp_path / "home").mkdir()
    _alembic(url, "0002", rows)
    c = CenterProcess(tmp_path / "home", url)  # licwiz center init: the PIN key, then revision 0003
    pin_hash = load_keys(c.home).pin_hash
    dump = asyncio.run(_pg_dump(url)) if dialect == "postgresql" else "\n".join(
        repr(r) for t in ("pins", "licenses") for r in sqlite3.connect(tmp_path / "home" / "center.db")
        .execute(f"SELECT * FROM {t}"))
    assert not pins_in(dump, pins)
    for p in pins:
        assert pin_hash(p) in dump
    shown = json.loads(c.cli("kit", "show", regnum, "--json").stdout)
    assert shown["pins"] == [{"set": "single", "position": i, "state": "used" if i == 2 else "unused"}
                             for i in (1, 2, 3)]
    c.start()
    try:
        used = httpx.post(f"{c.url}/api/v1/activate", json=body(regnum, pins[1]), timeout=30)
        assert used.json()["error"]["code"] == "pin_used"
        fresh = httpx.post(f"{c.url}/api/v1/activate", json=body(regnum, pins[2]), timeout=30)
        assert fresh.status_code == 200 and fresh.json()["license_id"] == f"{regnum}-002", fresh.text
    finally:
        c.stop()


def test_a_database_password_is_never_shown(tmp_path: Path) -> None:
    with fresh_pg_database() as url:
        secret_url = url.replace("postgres@", f"postgres:{PASSWORD}@", 1)  # trust auth: any password works
        assert PASSWORD in secret_url
        with fresh_pg_database() as empty:
            empty_secret = empty.replace("postgres@", f"postgres:{PASSWORD}@", 1)
            c = CenterProcess(tmp_path / "home", secret_url)
            outputs = [c.cli("init").stdout, c.cli("init", "--json").stdout,
                       c.cli("kit", "create", "--product", "licwiz-demo").stdout]
            assert "postgresql+asyncpg://postgres:***@" in outputs[0]
            for db_url, args in ((empty_secret, ["kit", "list"]), (secret_url, ["kit", "show", "0000000000"]),
                                 (secret_url.replace("/licwiz_test_", "/nonexistent_"), ["kit", "list"]),
                                 (empty_secret, ["serve", "--port", "1"])):
                res = subprocess.run([sys.executable, "-m", "licwiz.cli", "center", *args, "--db", db_url,
                                      "--home", str(c.home)], capture_output=True, text=True, timeout=60)
                assert res.returncode == 1, res
                outputs += [res.stdout, res.stderr]
            assert any("not set up" in o for o in outputs)
            c.start()
            kit = c.create_kit()
            assert httpx.post(f"{c.url}/api/v1/activate", json=body(kit.regnum, "0" * 15)).status_code == 403
            c.stop()
            outputs += [c.out_path.read_text(), c.log_path.read_text()]
    for out in outputs:
        assert PASSWORD not in out, out
    assert "postgres:***@" in c.out_path.read_text()
