"""What the service benches (center.py, seats.py) share: a free port, a service
process started, waited for and stopped, the CPU time it and its workers used,
and one statement on PostgreSQL's admin database."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

UP_WITHIN = 60.0  # seconds for a service to answer /api/v1/health


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running(cmd: list[str], port: int, *, log: Path | None = None,
            env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """``cmd`` listening on ``port``: (its URL, its pid) once GET /api/v1/health
    answers 200; stopped with its process group at the end (SIGTERM, SIGKILL
    after 10 s). Its stderr goes to ``log`` when given (quoted on a failed start)."""
    with contextlib.ExitStack() as stack:
        err = stack.enter_context(log.open("ab")) if log is not None else subprocess.DEVNULL
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + UP_WITHIN
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:] if log is not None else ""
                raise SystemExit(f"{' '.join(cmd[1:5])} did not start (exit {proc.returncode}) {tail}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)  # polling a port that is not up yet: nothing to wait on
        yield url, proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) that ``pid`` and its descendants (a supervisor's
    workers) have used so far: a cost that does not depend on the neighbours'
    load, where rates on a busy machine do."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    mine = {pid}
    for _ in range(4):  # the supervisor, its workers (and theirs)
        mine |= {p for p, (ppid, _) in stats.items() if ppid in mine}
    return sum(stats.get(p, (0, 0.0))[1] for p in mine)


async def pg_admin(dsn: str, sql: str) -> None:
    """Run ``sql`` (CREATE / DROP DATABASE) on the server of ``dsn``."""
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
