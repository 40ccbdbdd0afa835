"""Real ``licwiz center serve`` processes with extra options and environment
(the metrics token, a metrics address), on top of tests/support's CenterProcess."""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from support.fixtures_center import CenterProcess, _env, free_port


class ObservedCenter(CenterProcess):
    """A center started with ``extra_env`` and ``extra_args`` added to serve's."""

    def __init__(self, home: Path, workers: int = 1, db_url: str | None = None) -> None:
        super().__init__(home, db_url=db_url, workers=workers)
        self.extra_env: dict[str, str] = {}
        self.extra_args: list[str] = []

    def start(self, timeout: float = 30.0, tls: tuple[Path, Path] | None = None) -> ObservedCenter:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.verify = True
        out = self.out_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "licwiz.cli", "center", "serve", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(self.workers), "--db", self.db_url,
             "--home", str(self.home), "--log-file", str(self.log_path), *self.extra_args],
            stdout=out, stderr=subprocess.STDOUT, env={**_env(), **self.extra_env}, start_new_session=True,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"center serve exited {self.proc.returncode}: "
                                     f"{self.out_path.read_text(errors='replace')[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/api/v1/health", timeout=1.0).status_code == 200:
                    return self
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"center serve did not answer in {timeout}s: "
                             f"{self.out_path.read_text(errors='replace')[-2000:]}")


def pg_execute(url: str, sql: str) -> None:
    """One statement on the PostgreSQL database of an asyncpg ``url``."""
    import asyncio

    import asyncpg  # type: ignore[import-untyped]

    async def run() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def token_file(folder: Path) -> tuple[str, Path]:
    token = secrets.token_urlsafe(24)
    path = folder / "metrics-token"
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token, path


def scrape(url: str, token: str | None = None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``url`` (parsed with prometheus-client's parser): (name, labels) -> value."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = httpx.get(url, headers=headers, timeout=10)
    assert resp.status_code == 200, resp.text
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for fam in text_string_to_metric_families(resp.text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
