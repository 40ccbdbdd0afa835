"""A private PostgreSQL cluster that a test may stop and start at will.

The machine's PostgreSQL at 127.0.0.1:5432 is shared by every test run on it,
so a fault test never stops that one: it makes its own cluster (``initdb``
into a temporary folder, trust authentication, loopback only, its own port
and socket folder) and stops and starts THAT.

initdb and postgres refuse to run as root: as root, they run as the
``postgres`` system user (``runuser``), which owns the cluster's folder; as
anyone else, as that user. The folder is made under the system's temporary
folder (not pytest's, which is private to the user running the tests and so
out of reach of ``postgres``).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PG_USER = "postgres"


def pg_bin(name: str) -> str | None:
    """The newest installed PostgreSQL's ``name`` (initdb, pg_ctl), else one on PATH."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return found[-1] if found else shutil.which(name)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateCluster:
    """``initdb`` + ``pg_ctl`` on a temporary folder; ``url(db)`` for the services."""

    def __init__(self) -> None:
        initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise FileNotFoundError("initdb/pg_ctl not found (install postgresql)")
        self.initdb, self.pg_ctl = initdb, pg_ctl
        self.as_root = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="licwiz-pgfault-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.sockets.mkdir()
        self.log = self.root / "postgres.log"
        if self.as_root:
            pw = pwd.getpwnam(PG_USER)
            for p in (self.root, self.sockets):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        self.port = free_port()
        self._run(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
                  "-E", "UTF8", "--locale", "C")

    def _run(self, *cmd: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = ["runuser", "-u", PG_USER, "--", *cmd] if self.as_root else list(cmd)
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if check and res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stdout}{res.stderr}")
        return res

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        """An asyncpg SQLAlchemy URL of ``database`` on this cluster."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 30) -> None:
        # fsync off: the tests stop the cluster cleanly (a fast shutdown writes
        # everything), and the machine's disk is shared by every helper.
        opts = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c max_connections=100")
        self._run(self.pg_ctl, "start", "-D", str(self.data), "-l", str(self.log), "-w",
                  "-t", str(int(timeout)), "-o", opts, timeout=timeout + 10)

    def stop(self, mode: str = "fast", timeout: float = 30) -> None:
        """Returns once the server has stopped (``pg_ctl -w``). ``fast``: sessions
        are ended (the services see their connections go); ``immediate``: as a
        crash (no shutdown checkpoint)."""
        self._run(self.pg_ctl, "stop", "-D", str(self.data), "-m", mode, "-w", "-t", str(int(timeout)),
                  timeout=timeout + 10)

    def running(self) -> bool:
        return self._run(self.pg_ctl, "status", "-D", str(self.data), check=False).returncode == 0

    async def execute(self, sql: str, database: str = "postgres") -> None:
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user="postgres", database=database,
                                     timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def fetch(self, sql: str, database: str) -> list[dict[str, object]]:
        import asyncpg

        conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user="postgres", database=database,
                                     timeout=5)
        try:
            return [dict(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    def create_database(self, name: str) -> str:
        asyncio.run(self.execute(f'CREATE DATABASE "{name}"'))
        return self.url(name)

    def destroy(self) -> None:
        """Stop the cluster (immediately) and remove its folder."""
        with contextlib.suppress(Exception):
            if self.running():
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
