"""Fixtures of the seats / license server area.

- ``seat_licenses``: signs test licenses with a fresh Ed25519 key trusted via
  LICWIZ_TRUSTED_KEYS (no Licensing Center needed), bound to this computer.
- ``seat_dir``: a private LICWIZ_SEAT_DIR.
- ``license_server``: starts real ``licwiz server serve`` processes on free ports.
- ``server_pg_url``: a fresh PostgreSQL database (dropped afterwards).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
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

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from licwiz.core import fingerprint, storage
from licwiz.core.keys import key_id, public_pem
from licwiz.core.license import License, sign

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable  # the interpreter running the tests (make test-lowest has its own venv)


@dataclass
class SeatLicenses:
    """Makes signed licenses for a product, trusted through LICWIZ_TRUSTED_KEYS."""

    key: Ed25519PrivateKey
    keys_dir: Path
    counter: int = 0

    def make(self, users: int, *, product: str | None = None, params: dict[str, str] | None = None,
             not_after: str | None = None, supersedes: str | None = None) -> tuple[str, str]:
        """(license_id, text) bound to this computer's parameters."""
        prod = product or os.environ.get("LICWIZ_PRODUCT", "licwiz-demo")
        self.counter += 1
        lid = f"{uuid.uuid4().hex[:8].upper()}-{self.counter:03d}"
        lic = License(
            license_id=lid, product=prod, regnum="TEST", users=users, owner_digest="0" * 64,
            params=params if params is not None else fingerprint.collect(prod), method="online",
            pin_digest="0" * 64, issued=(dt.date.today() - dt.timedelta(days=1)).isoformat(),
            key_id=key_id(self.key.public_key()), not_after=not_after, supersedes=supersedes,
        )
        return lid, sign(lic, self.key).text

    def install(self, users: int, scope: storage.Scope = "all-users", **kw: object) -> str:
        lid, text = self.make(users, **kw)  # type: ignore[arg-type]
        storage.install_license(text, lid, scope)
        return lid


@pytest.fixture
def seat_licenses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SeatLicenses:
    key = Ed25519PrivateKey.generate()
    d = tmp_path / "trusted-keys"
    d.mkdir()
    (d / "test-signing.pem").write_text(public_pem(key.public_key()))
    monkeypatch.setenv("LICWIZ_TRUSTED_KEYS", str(d))
    return SeatLicenses(key, d)


@pytest.fixture
def seat_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private seat folder. LICWIZ_SEAT_DIR is honoured for root only (an ordinary
    user could otherwise pick an empty folder and escape the count): run as root."""
    d = tmp_path / "seats"
    monkeypatch.setenv("LICWIZ_SEAT_DIR", str(d))
    return d


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def licwiz_cmd(*args: str) -> list[str]:
    return [PYTHON, "-m", "licwiz.cli", *args]


@dataclass
class ServerProc:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def kill(self, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)
        self.proc.wait(10)


@dataclass
class LicenseServer:
    """Starts ``licwiz server serve`` processes sharing one database."""

    tmp: Path
    db: str
    admin_token: str = ""
    client_token: str = ""
    procs: list[ServerProc] = field(default_factory=list)

    def init(self) -> None:
        out = subprocess.run(licwiz_cmd("server", "init", "--db", self.db), capture_output=True,
                             text=True, timeout=60, check=True).stdout
        for line in out.splitlines():
            if line.startswith("admin token:"):
                self.admin_token = line.split(":", 1)[1].strip()
            if line.startswith("client token:"):
                self.client_token = line.split(":", 1)[1].strip()
        assert self.admin_token and self.client_token, out

    def start(self, *extra: str, port: int | None = None, verify: bool | str = False) -> ServerProc:
        port = port or _free_port()
        log = self.tmp / f"server-{port}-{len(self.procs)}.log"
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                licwiz_cmd("server", "serve", "--host", "127.0.0.1", "--port", str(port), "--db", self.db,
                           *extra),
                stdout=fh, stderr=subprocess.STDOUT,
            )
        sp = ServerProc(port, proc, log, "https" if "--tls-cert" in extra else "http")
        self.procs.append(sp)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text()}")
            try:
                ctx = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
                if httpx.get(f"{sp.url}/api/v1/health", timeout=1, verify=ctx).status_code == 200:
                    return sp
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start: {log.read_text()}")

    def stop(self) -> None:
        for sp in self.procs:
            if sp.proc.poll() is None:
                sp.kill(signal.SIGTERM)


@pytest.fixture
def license_server_factory(tmp_path: Path) -> Iterator[Callable[[str | None], LicenseServer]]:
    made: list[LicenseServer] = []

    def make(db: str | None = None) -> LicenseServer:
        url = db or f"sqlite+aiosqlite:///{tmp_path / f'server-{len(made)}.db'}"
        srv = LicenseServer(tmp_path, url)
        srv.init()
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.stop()


def _pg_available() -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 5432), timeout=1):
        return True
    return False


@pytest.fixture
def server_pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database; skips only outside CI when PostgreSQL is absent."""
    if not _pg_available():
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is required in CI")
        pytest.skip("PostgreSQL not running at 127.0.0.1:5432")
    import asyncpg  # type: ignore[import-untyped]

    name = f"licwiz_srv_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
