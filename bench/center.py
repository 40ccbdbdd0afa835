"""Licensing Center throughput: first-time activations per second and p50/p99
latency with 50 concurrent clients (bench/loadgen.py; each request on a new
connection, as each wizard run is its own client), on SQLite and PostgreSQL, with 1 and
2 server processes; each next to the same run's GET /api/v1/health rate (the
ceiling of the HTTP stack alone) as a ratio.

    .venv/bin/python bench/center.py [--seconds 6] [--clients 50] [--no-pg]

Starts real ``licwiz center serve`` processes on free loopback ports; SQLite in
a temporary folder, PostgreSQL (127.0.0.1:5432, user postgres) in a fresh
database that is dropped afterwards. Targets (issue 3, 2-core machine):
>= 300 activations/s on SQLite and >= 500/s on PostgreSQL with 2 workers, p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import loadgen
from licwiz.core.owner import OwnerData
from licwiz.core.request import ActivationRequest

PG = os.environ.get("LICWIZ_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
OWNER = OwnerData(kind="person", contact="Bench Person", email="bench@example.com", country="NL",
                  city="Delft", address="Mekelweg 4")
PARAMS = {"machine_id": "a1" * 32, "cpu": "b2" * 32, "root_fs": "d4" * 32, "os": "e5" * 32}


def _cli(home: Path, db_url: str, *args: str) -> str:
    cmd = [sys.executable, "-m", "licwiz.cli", "center", *args, "--db", db_url, "--home", str(home)]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(home: Path, db_url: str, workers: int) -> Iterator[str]:
    port = _port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "licwiz.cli", "center", "serve", "--port", str(port), "--workers",
         str(workers), "--db", db_url, "--home", str(home), "--log-file", str(home / "requests.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/api/v1/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise SystemExit("center did not start")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _load(url: str, clients: int, seconds: float, bodies: list[bytes] | None,
          keepalive: bool = False) -> loadgen.Result:
    it = iter(bodies or [])

    async def op(conn: loadgen.RawHttp, n: int, i: int) -> bool:
        if bodies is None:
            status, _ = await conn.call("GET", "/api/v1/health")
        else:
            body = next(it, None)
            if body is None:
                return False
            status, _ = await conn.call("POST", "/api/v1/activate", body,
                                             {"Idempotency-Key": uuid.uuid4().hex})
        if status != 200:
            raise RuntimeError(f"HTTP {status}")
        return True

    return loadgen.arun(loadgen.run([url], clients, seconds, op, reconnect=not keepalive))


def run_case(name: str, db_url: str, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="licwiz-bench-") as tmp:
        home = Path(tmp)
        _cli(home, db_url, "init")
        _cli(home, db_url, "config", "set", "addr_max_failures", "100000000")
        kits = json.loads(_cli(home, db_url, "kit", "create", "--product", "licwiz-demo", "--users", "1",
                               "--pins", "20", "--count", str(args.kits), "--json"))
        reqs = [ActivationRequest("licwiz-demo", k["regnum"], p, "first", OWNER, PARAMS)
                for i in range(20) for k in kits for p in k["single_pins"][i:i + 1]]
        bodies = [json.dumps(r.to_dict(), separators=(",", ":")).encode() for r in reqs]
        with serve(home, db_url, workers) as url:
            # Steady state: every worker's connections opened and statements
            # prepared before anything is measured.
            ka = args.keepalive
            _load(url, args.clients, 1.0, None, ka)
            health = _load(url, args.clients, args.seconds, None, ka)
            warm = bodies[: len(bodies) // 10]
            _load(url, args.clients, 1.0, warm, ka)
            act = _load(url, args.clients, args.seconds, bodies[len(warm):], ka)
    return {"name": name, "workers": workers, "health": health, "act": act}


async def _pg(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=6.0, help="load time per measurement")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--kits", type=int, default=400, help="kits of 20 PINs each (activations available)")
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--keepalive", action="store_true",
                    help="each client keeps one connection (default: a new connection per request, as "
                    "each wizard or licwiz acquire run is its own client; kept connections stick to one "
                    "worker process and skew the p99)")
    args = ap.parse_args()
    results = []
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as dbdir:
            results.append(run_case("SQLite", f"sqlite+aiosqlite:///{dbdir}/center.db", workers, args))
    if not args.no_pg:
        for workers in (1, 2):
            name = f"licwiz_bench_{uuid.uuid4().hex[:8]}"
            try:
                asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
            except Exception as exc:
                print(f"PostgreSQL skipped: {exc}")
                break
            try:
                url = PG.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
                results.append(run_case("PostgreSQL", url, workers, args))
            finally:
                asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    conn = "kept connections" if args.keepalive else "a connection per request"
    print(f"\nLicensing Center, {args.clients} concurrent clients ({conn}, bench/loadgen.py), "
          f"{args.seconds:.0f} s per figure, "
          f"{os.cpu_count()} CPUs (load generator on the same machine)\n")
    print(f"{'database':<11} {'workers':>7} {'health/s':>9} {'activations/s':>14} {'ratio':>6} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'errors':>6}")
    for r in results:
        h, a = r["health"], r["act"]
        print(f"{r['name']:<11} {r['workers']:>7} {h.rate:>9.0f} {a.rate:>14.0f} "
              f"{a.rate / h.rate:>6.2f} {a.p50:>7.1f} {a.pct(0.99):>7.1f} {a.errors:>6}")
    print("\nratio = activations/s divided by the same run's GET /api/v1/health rate (HTTP stack ceiling).")
    print("targets: SQLite >= 300/s and PostgreSQL >= 500/s with 2 workers; p99 < 100 ms.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
