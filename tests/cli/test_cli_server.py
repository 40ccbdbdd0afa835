"""``licwiz server`` conventions: ``--db`` takes a path or any SQLite or
PostgreSQL URL as the center's does, a port in use is one line and exit 3
before the database is touched, and ``--json`` on init, status and install
(errors too). Real ``licwiz server`` processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from licwiz.core import fingerprint
from support.fixtures_server import LicenseServer, SeatLicenses, licwiz_cmd

PRODUCT = "licwiz-demo"


def _run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None,
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(licwiz_cmd(*args), capture_output=True, text=True, timeout=90, env=env, input=stdin)


@pytest.mark.parametrize("spelling", ["path", "relative", "sqlite", "sqlite+pysqlite"])
def test_db_takes_a_path_or_any_sqlite_url(tmp_path: Path, spelling: str) -> None:
    db = tmp_path / "state" / "server.db"
    given = {"path": str(db), "relative": "state/server.db", "sqlite": f"sqlite:///{db}",
             "sqlite+pysqlite": f"sqlite+pysqlite:///{db}"}[spelling]
    r = subprocess.run(licwiz_cmd("server", "init", "--db", given, "--json"), capture_output=True, text=True,
                       timeout=90, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] and doc["admin_token"] and doc["client_token"] != doc["admin_token"]
    assert doc["db"] == f"sqlite+aiosqlite:///{db}"
    assert db.is_file()
    # the same database in another spelling: already initialised, said as JSON too
    again = _run("server", "init", "--db", f"sqlite:///{db}", "--json")
    assert again.returncode == 1
    assert json.loads(again.stdout)["error"]["code"] == "initialised"
    assert again.stderr.count("\n") == 1


def test_serve_on_a_plain_sqlite_url(tmp_path: Path) -> None:
    db = tmp_path / "server.db"
    assert _run("server", "init", "--db", str(db)).returncode == 0
    srv = LicenseServer(tmp_path, f"sqlite:///{db}")  # the fixture's serve, given the plain URL
    try:
        srv.start()
    finally:
        srv.stop()


@pytest.mark.postgres
def test_db_takes_a_plain_postgresql_url(server_pg_url: str) -> None:
    plain = server_pg_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    r = _run("server", "init", "--db", plain, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["db"] == server_pg_url


def test_a_port_in_use_is_one_line_and_exit_3(tmp_path: Path) -> None:
    db = tmp_path / "never" / "server.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = _run("server", "serve", "--host", "127.0.0.1", "--port", str(port), "--db", str(db))
    assert r.returncode == 3, r.stderr
    assert r.stdout == "" and r.stderr.count("\n") == 1
    assert f"port {port}" in r.stderr and "already in use" in r.stderr and "Traceback" not in r.stderr
    assert not db.parent.exists()  # said before the database was touched


def test_a_second_server_on_the_same_port(license_server_factory: Callable[..., LicenseServer]) -> None:
    srv = license_server_factory()
    sp = srv.start()
    r = _run("server", "serve", "--host", "127.0.0.1", "--port", str(sp.port), "--db", srv.db)
    assert r.returncode == 3 and "already in use" in r.stderr, r.stderr
    assert r.stdout == "" and r.stderr.count("\n") == 1  # no banner, no uvicorn log line
    assert sp.proc.poll() is None  # the first one still serves


def test_status_and_install_json(
    license_server_factory: Callable[..., LicenseServer], seat_licenses: SeatLicenses
) -> None:
    srv = license_server_factory()
    sp = srv.start()
    env = {**os.environ, "LICWIZ_SERVER": f"127.0.0.1:{sp.port}", "LICWIZ_SERVER_TOKEN": srv.admin_token}
    empty = _run("server", "status", "--json", env=env)
    assert empty.returncode == 0, empty.stderr
    assert json.loads(empty.stdout) == {"ok": True, "licenses": [], "capacity": {}, "in_use": {}, "seats": []}
    lid, text = seat_licenses.make(3, params=fingerprint.collect(PRODUCT))
    got = _run("server", "install", "-", "--json", env=env, stdin=text)  # '-': the license from stdin
    assert got.returncode == 0, got.stderr
    doc = json.loads(got.stdout)
    assert doc["ok"] and doc["license_id"] == lid and doc["users"] == 3
    st = json.loads(_run("server", "status", "--json", env=env).stdout)
    assert [lic["license_id"] for lic in st["licenses"]] == [lid]
    assert st["capacity"] == {PRODUCT: 3} and st["in_use"] == {PRODUCT: 0} and st["seats"] == []
    away = _run("server", "status", "--json", "--server", "127.0.0.1:1", env=env)
    assert away.returncode == 69
    assert json.loads(away.stdout)["error"]["code"] == "unreachable"


def test_an_untrusted_server_certificate_is_named(
    license_server_factory: Callable[..., LicenseServer], tmp_path: Path
) -> None:
    """Found by the exception's type (ssl.SSLCertVerificationError), with OpenSSL's reason."""
    from support.tls import self_signed

    srv = license_server_factory()
    cert, key = self_signed(tmp_path)
    sp = srv.start("--tls-cert", str(cert), "--tls-key", str(key), verify=str(cert))
    env = {**os.environ, "LICWIZ_SERVER": f"127.0.0.1:{sp.port}", "LICWIZ_SERVER_TOKEN": srv.admin_token,
           "LICWIZ_SERVER_TLS": "1"}
    env.pop("LICWIZ_SERVER_CA", None)
    r = _run("server", "status", "--json", env=env)
    assert r.returncode == 69, r.stderr
    err = json.loads(r.stdout)["error"]
    assert "certificate" in err["brief"] and "not trusted" in err["brief"] and "self" in err["brief"]
    assert "LICWIZ_SERVER_CA" in r.stderr
    env["LICWIZ_SERVER_CA"] = str(cert)
    assert _run("server", "status", "--json", env=env).returncode == 0


def test_the_centers_port_in_use_is_one_line_and_exit_3(tmp_path: Path) -> None:
    home = tmp_path / "never"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = _run("center", "serve", "--host", "127.0.0.1", "--port", str(port), "--home", str(home),
                 "--db", f"sqlite+aiosqlite:///{home / 'center.db'}")
    assert r.returncode == 3, r.stderr
    assert r.stdout == "" and r.stderr.count("\n") == 1
    assert f"port {port}" in r.stderr and "already in use" in r.stderr and "Traceback" not in r.stderr
    assert not home.exists()  # said before the keys or the database were touched
