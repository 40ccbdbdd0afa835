"""Fixtures that run a REAL Licensing Center: ``licwiz center init`` then
``licwiz center serve`` in a subprocess on a free loopback port.

- ``center`` (module scope): SQLite in a temporary folder, 1 worker.
  ``center.url``, ``.db_url``, ``.home``, ``.trusted_keys`` (folder of the
  public PEMs: point LICWIZ_TRUSTED_KEYS at it), ``.admin_token``,
  ``.log_path`` (JSON request log), ``.create_kit(users=1, pins=3,
  product="licwiz-demo") -> Kit(regnum, product, users, single_pins, multi_pins)``,
  ``.cli(*args)`` (runs ``licwiz center ARGS --db --home``), ``.config_set(k, v)``
  (then ``.restart()``), ``.stop()``, ``.kill()`` (SIGKILL to every process), ``.start()``.
- ``center_factory(db_url=None, workers=1, settings=None)``: a fresh center per
  call (its own home; SQLite unless ``db_url``), stopped after the test.
- ``pg_url``: a fresh PostgreSQL database (dropped afterwards) as an asyncpg
  URL; skips when PostgreSQL is not reachable, fails instead when CI=true.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

PG_ADMIN_DSN = os.environ.get("LICWIZ_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass(frozen=True)
class Kit:
    regnum: str
    product: str
    users: int
    single_pins: list[str] = field(default_factory=list)
    multi_pins: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LICWIZ_CENTER_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class CenterProcess:
    """A ``licwiz center serve`` process (and its workers) with its own home and database."""

    def __init__(self, home: Path, db_url: str | None = None, workers: int = 1,
                 settings: dict[str, str] | None = None) -> None:
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.db_url = db_url or f"sqlite+aiosqlite:///{self.home / 'center.db'}"
        self.workers = workers
        self.trusted_keys = self.home / "public"
        self.log_path = self.home / "requests.log"
        self.out_path = self.home / "serve.out"
        self.port = 0
        self.url = ""
        self.proc: subprocess.Popen[bytes] | None = None
        info = json.loads(self.cli("init", "--json").stdout)
        self.admin_token: str = info["admin_token"]
        for key, value in (settings or {}).items():
            self.config_set(key, value)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "licwiz.cli", "center", *args, "--db", self.db_url,
               "--home", str(self.home)]
        res = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=60)
        if check and res.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({res.returncode}): {res.stderr}")
        return res

    def config_set(self, key: str, value: str) -> None:
        self.cli("config", "set", key, value)

    def start(self, timeout: float = 30.0, tls: tuple[Path, Path] | None = None) -> CenterProcess:
        """``tls``: (certificate, key) files: serve HTTPS (checked against that certificate)."""
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        extra = ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])] if tls else []
        self.verify: bool | ssl.SSLContext = ssl.create_default_context(cafile=tls[0]) if tls else True
        verify = self.verify
        out = self.out_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "licwiz.cli", "center", "serve", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(self.workers), "--db", self.db_url,
             "--home", str(self.home), "--log-file", str(self.log_path), *extra],
            stdout=out, stderr=subprocess.STDOUT, env=_env(), start_new_session=True,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"center serve exited {self.proc.returncode}: "
                                     f"{self.out_path.read_text(errors='replace')[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/api/v1/health", timeout=1.0, verify=verify).status_code == 200:
                    return self
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"center serve did not answer in {timeout}s: "
                             f"{self.out_path.read_text(errors='replace')[-2000:]}")

    def _signal_group(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def stop(self) -> None:
        """SIGTERM (graceful), SIGKILL after 10 s; every worker goes with the group."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.proc.wait(5)
        with contextlib.suppress(ProcessLookupError):  # stray workers of a dead supervisor
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None

    def kill(self) -> None:
        """kill -9 the server and its workers, as a crash would."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)
        self.proc = None

    def restart(self) -> CenterProcess:
        self.stop()
        return self.start()

    def admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        return httpx.request(method, f"{self.url}/api/v1/admin{path}", headers=headers, timeout=30,
                             verify=getattr(self, "verify", True), **kw)

    def create_kit(self, users: int = 1, pins: int = 3, product: str = "licwiz-demo") -> Kit:
        if self.proc is not None:
            resp = self.admin("POST", "/kits", json={"product": product, "users": users, "pins": pins})
            assert resp.status_code == 201, resp.text
            k = resp.json()["kits"][0]
        else:
            k = json.loads(self.cli("kit", "create", "--product", product, "--users", str(users),
                                    "--pins", str(pins), "--json").stdout)[0]
        return Kit(k["regnum"], k["product"], k["users"], list(k["single_pins"]), list(k["multi_pins"]))


async def _pg_exec(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database (asyncpg URL); dropped on exit."""
    name = f"licwiz_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_pg_exec(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any failure to reach it: refused, auth, timeout
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is required in CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with contextlib.suppress(Exception):
            asyncio.run(_pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CenterProcess]:
    proc = CenterProcess(tmp_path_factory.mktemp("center"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def center_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., CenterProcess]]:
    made: list[CenterProcess] = []

    def make(db_url: str | None = None, workers: int = 1, settings: dict[str, str] | None = None,
             start: bool = True) -> CenterProcess:
        proc = CenterProcess(tmp_path_factory.mktemp("center"), db_url, workers, settings)
        made.append(proc)
        return proc.start() if start else proc

    try:
        yield make
    finally:
        for proc in made:
            proc.stop()


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_pg_database() as url:
        yield url
