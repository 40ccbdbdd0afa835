"""/api/v1/ready of real serve processes: 200 while the database answers at
the schema this code needs; 503 ``unavailable`` with Retry-After once the
schema is not (an older or a newer revision), while /api/v1/health stays 200."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from observability.procs import ObservedCenter, pg_execute, scrape, token_file, value
from support.fixtures_server import LicenseServer


def _set_revision(path: Path, table: str, revision: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(f"UPDATE {table} SET version_num = ?", (revision,))


def _not_ready(url: str) -> None:
    r = httpx.get(f"{url}/api/v1/ready")
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "unavailable"
    assert int(r.headers["retry-after"]) > 0
    assert httpx.get(f"{url}/api/v1/health").status_code == 200


def test_center_ready(tmp_path: Path) -> None:
    c = ObservedCenter(tmp_path / "c")
    try:
        c.start()
        r = httpx.get(f"{c.url}/api/v1/ready")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "ready"
        db_file = c.home / "center.db"
        head = r.json()["schema"]
        _set_revision(db_file, "alembic_version", "0002")
        _not_ready(c.url)
        assert "0002" in httpx.get(f"{c.url}/api/v1/ready").json()["error"]["detail"]
        _set_revision(db_file, "alembic_version", head)
        assert httpx.get(f"{c.url}/api/v1/ready").status_code == 200
        with sqlite3.connect(db_file) as conn:  # no schema table at all
            conn.execute("ALTER TABLE alembic_version RENAME TO gone")
        _not_ready(c.url)
    finally:
        c.stop()


def test_server_ready(license_server_factory: Callable[[str | None], LicenseServer], tmp_path: Path) -> None:
    srv = license_server_factory(None)
    sp = srv.start()
    r = httpx.get(f"{sp.url}/api/v1/ready")
    assert r.status_code == 200, r.text
    db_file = Path(srv.db.split("///", 1)[1])
    _set_revision(db_file, "licwiz_schema_version", "0001")
    _not_ready(sp.url)
    _set_revision(db_file, "licwiz_schema_version", "9999")  # written by a newer licwiz
    _not_ready(sp.url)


@pytest.mark.postgres
def test_center_ready_and_gauges_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    token, path = token_file(tmp_path)
    c = ObservedCenter(tmp_path / "c", db_url=pg_url)
    c.extra_env["LICWIZ_CENTER_METRICS_TOKEN_FILE"] = str(path)
    try:
        c.start()
        assert httpx.get(f"{c.url}/api/v1/ready").status_code == 200
        c.create_kit()
        pg_execute(pg_url, "UPDATE kits SET locked_until = now() + interval '1 hour'")
        samples = scrape(f"{c.url}/metrics", token)
        assert value(samples, "licwiz_center_kits_locked") == 1
        assert value(samples, "licwiz_center_database_up") == 1
        pg_execute(pg_url, "UPDATE alembic_version SET version_num = '0001'")
        _not_ready(c.url)
    finally:
        c.stop()


@pytest.mark.postgres
def test_server_ready_on_postgresql(license_server_factory: Callable[[str | None], LicenseServer],
                                    server_pg_url: str) -> None:
    srv = license_server_factory(server_pg_url)
    sp = srv.start()
    assert httpx.get(f"{sp.url}/api/v1/ready").status_code == 200
    pg_execute(server_pg_url, "UPDATE licwiz_schema_version SET version_num = '9999'")
    _not_ready(sp.url)
